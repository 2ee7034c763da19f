"""The `brandpulse` command line: a thin shell over the package.

    brandpulse worker    run a stream worker (Faust) with its /metrics endpoint
    brandpulse topics    create the input and dead-letter topics
    brandpulse replay    produce a JSONL, TWCS CSV or the synthetic scenario into the topics
    brandpulse report    the same analysis offline, no broker
    brandpulse score     per-text language, sentiment, crisis terms, promo/jokey flags
    brandpulse crisis    declare, end or list operator crises (control topic)
    brandpulse demo      embedded broker + worker + synthetic scenario, live
    brandpulse ingest    live sources (bluesky, mastodon, webhook) into the topics or a JSONL file
    brandpulse check     pre-publish check of a draft: ok, hold or block (docs/check.md)

Errors are one line on stderr saying what to fix: exit code 2 for a usage, configuration or
input mistake, 1 for a runtime failure (broker unreachable, deliveries failed); --debug
shows the traceback instead. `check` exits 0 ok, 4 hold, 5 block.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import socket
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from streams.config import BrandsConfig, ConfigError, Settings, load_brands, settings_from

EXIT_RUNTIME = 1
EXIT_USAGE = 2  # usage, configuration or input: the user can fix it
BROKER_CHECK_SECONDS = 3.0


class InputError(Exception):
    """A file the user gave cannot be used; the message says why and how to fix it."""


class RuntimeFailure(Exception):
    """The command ran but failed (broker unreachable, records lost); exit code 1."""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("brandpulse")
    except Exception:  # not installed (run from a source tree)
        from streams import __version__

        return __version__


#: Where `brandpulse crisis list` asks for detected crises when --worker is not given:
#: comma-separated base URLs of workers' metrics ports.
WORKER_URL_ENV = "BRANDPULSE_WORKER_URL"


def check_broker(broker_url: str, timeout: float = BROKER_CHECK_SECONDS) -> None:
    """Fail fast, in one line, when no bootstrap server of `broker_url` accepts a TCP
    connection (the Kafka clients would retry for 30 s and end in a long traceback)."""
    from streams.plumbing.broker import bootstrap_servers

    servers = bootstrap_servers(broker_url)
    for server in servers:
        host, _, port = server.rpartition(":")
        with contextlib.suppress(OSError, ValueError), socket.create_connection(
                (host.strip("[]"), int(port)), timeout):
            return
    raise broker_unreachable(broker_url)


def broker_unreachable(broker_url: str) -> RuntimeFailure:
    """The one line every command gives when the broker cannot be reached."""
    from streams.plumbing.broker import bootstrap_servers

    return RuntimeFailure(
        f"cannot reach the broker at {', '.join(bootstrap_servers(broker_url))}. Fix: start "
        "Kafka (or `brandpulse demo`), or pass the right --broker / BRANDPULSE_BROKER")

TANSU_COMPAT = {
    # tansu holds a waiting fetch long after a record arrives (docs/tansu.md).
    "consumer_fetch_max_wait_ms": 100,
    # Rebalances wait half the session timeout.
    "session_timeout_seconds": 10.0,
    "heartbeat_interval_seconds": 1.0,
}


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "broker": getattr(args, "broker", None),
        "brands_path": getattr(args, "brands", None),
        "metrics_port": getattr(args, "metrics_port", None),
        "metrics_host": getattr(args, "metrics_host", None),
        "partitions": getattr(args, "partitions", None),
        "app_id": getattr(args, "app_id", None),
        "data_dir": getattr(args, "data_dir", None),
    }
    if getattr(args, "tansu_compat", False):
        overrides.update(TANSU_COMPAT)
    return settings_from(**overrides)


def _brands(settings: Settings) -> BrandsConfig:
    if not settings.brands_path:
        raise ConfigError("brands: no brands file given. Fix: pass --brands PATH or set "
                          "BRANDPULSE_BRANDS (see deploy/brands.example.toml)")
    return load_brands(settings.brands_path)


def run_worker(settings: Settings, brands: BrandsConfig, loglevel: str = "info") -> None:
    """Serve /metrics, /healthz, /readyz and /api/ (own thread and event loop), then run the
    Faust worker until it is stopped. Without the internal key (and not in the explicit
    unsigned mode) it stops at once: it would believe forged control and share records."""
    import asyncio

    from streams.metrics import BrandpulseMetrics
    from streams.plumbing.web import WebServer
    from streams.worker.agents import tune_garbage_collector
    from streams.worker.app import create_app
    from streams.worker.health import run_until_exit
    from streams.worker.process import Worker

    try:
        import uvloop  # not on Windows (a platform marker in pyproject.toml)
    except ImportError:
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    if not settings.require_internal_key("the worker"):
        logging.getLogger(__name__).warning(
            "BRANDPULSE_ALLOW_UNSIGNED: control and crisis-share records are neither signed "
            "nor verified; anyone who can write those topics steers every worker")
    check_broker(settings.broker)  # one line, not the client's 36-line bootstrap traceback
    metrics = BrandpulseMetrics()
    app, runtime = create_app(settings, brands, metrics)
    server = WebServer(metrics.registry, host=settings.metrics_host, port=settings.metrics_port,
                       api=runtime.api, health=runtime.health, ready=runtime.ready,
                       startup=runtime.startup, check=runtime.check)
    try:
        port = server.start()
    except OSError as exc:
        raise ConfigError(
            f"metrics_host/metrics_port: cannot listen on {settings.metrics_host}:"
            f"{settings.metrics_port} ({exc.strerror or exc}). Fix: pick a free port with "
            "--metrics-port and an address of this host with --metrics-host "
            "(127.0.0.1, or 0.0.0.0 in a container)") from None
    shown = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::") else settings.metrics_host
    shown = f"[{shown}]" if ":" in shown else shown
    print(f"brandpulse worker: metrics on http://{shown}:{port}/metrics, "
          f"brand API on http://{shown}:{port}/api/brands, "
          f"probes /healthz /readyz /startupz (listening on {settings.metrics_host})", flush=True)
    tune_garbage_collector()  # streams/worker/agents.py: the worker's heap and allocation rate
    try:
        # A crash (e.g. the broker lost the state) ends with one stderr line and exit 75.
        worker = Worker(app, loglevel=loglevel, quiet=True)
        try:
            run_until_exit(worker)
        except SystemExit:
            if worker.start_failure is None:
                raise
            raise broker_unreachable(settings.broker) from worker.start_failure
    finally:
        server.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    run_worker(settings, _brands(settings), args.loglevel)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.plumbing.broker import create_topics

    settings = _settings(args)
    check_broker(settings.broker)
    created = create_topics(settings)
    print(f"created: {', '.join(created) or 'nothing (all topics exist)'}")
    return 0


def _input_file(path: str) -> None:
    """A missing or unreadable input file as one line (exit 2), before any work."""
    from pathlib import Path

    file = Path(path)
    if not file.exists():
        raise InputError(f"{path}: no such file. Fix: check the path")
    if file.is_dir():
        raise InputError(f"{path}: is a directory. Fix: give a file")
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}). Fix: check its "
                         "permissions") from None


def _open_source(path: str, file_format: str, brands: BrandsConfig | None) -> Any:
    """The event file, with the input mistakes a user can fix turned into InputError."""
    from streams.sources.files import open_events

    _input_file(path)
    try:
        with _reading(path, "--format jsonl for JSONL records, else a CSV with the TWCS "
                            "header (docs/sources.md)"):
            return open_events(path, file_format, brands)
    except ConfigError as exc:
        if brands is None and "no brand is configured" in str(exc):
            _show_bad_lines(path)
            raise InputError(f"{path}: no valid event to derive the brands from (bad lines "
                             "above). Fix: correct the records (docs/sources.md) or check "
                             "--format") from None
        raise


def _not_utf8(path: str, exc: UnicodeDecodeError) -> InputError:
    return InputError(f"{path}: not UTF-8 text (a byte 0x{exc.object[exc.start]:02x}). "
                      f"Fix: convert it, e.g. "
                      f"iconv -f latin1 -t utf-8 {path} > fixed.csv")


@contextlib.contextmanager
def _reading(path: str, fix: str = "check the file's format (--format jsonl|twcs)"
             ) -> Iterator[None]:
    """A file's events read inside: its encoding or format errors become one line."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, exc) from None
    except ConfigError:
        raise  # already names its field and fix (a ValueError too)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}. Fix: {fix}") from None


def _show_bad_lines(path: str, shown: int = 10) -> None:
    from streams.sources.jsonl import BadLine, read_jsonl

    for item in read_jsonl(path):
        if isinstance(item, BadLine):
            print(f"{path}:{item.line}: rejected ({item.rejection.reason}): "
                  f"{item.rejection.detail}", file=sys.stderr)
            shown -= 1
            if not shown:
                return


def _instant(value: str | None, flag: str) -> float | None:
    from streams.wire.events import parse_rfc3339

    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}. Fix: write e.g. 2017-10-31T00:00:00Z") from None


def cmd_report(args: argparse.Namespace) -> int:
    import orjson

    from streams.commands.report import (
        build_report,
        competitors,
        format_competitors,
        format_csv,
        format_table,
        with_progress,
    )

    since, until = _instant(args.since, "--since"), _instant(args.until, "--until")
    if since is not None and until is not None and until <= since:
        raise ConfigError("--until must be after --since. Fix: swap them")
    brands = load_brands(args.brands) if args.brands else None
    if args.group is not None and args.csv:
        raise ConfigError("--group: prints a table or --json. Fix: drop --csv")
    if args.group is not None:
        groups = sorted({b.group for b in brands or () if b.group is not None})
        if args.group not in groups:
            raise ConfigError(
                f"--group: no brand of the brands file has group = {args.group!r}. Fix: "
                + (f"choose among {', '.join(groups)}" if groups else
                   'set group = "NAME" on the competitors in the file given with --brands'))
    source = _open_source(args.file, args.format, brands)
    events: Any = source
    if not args.quiet and sys.stderr.isatty():
        events = with_progress(source, sys.stderr, source.bytes_read, source.size)
    with _reading(args.file):
        report = build_report(events, source.brands, since=since, until=until)
    source.print_rejections()
    if args.group is not None:
        section = competitors(report, source.brands, args.group)
        if args.json:
            sys.stdout.buffer.write(orjson.dumps(section, option=orjson.OPT_INDENT_2) + b"\n")
        else:
            print(format_competitors(section))
    elif args.json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    elif args.csv:
        sys.stdout.write(format_csv(report))
    else:
        print(format_table(report))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.commands.replay import format_summary, replay

    settings = _settings(args)
    if args.synthetic:
        from streams.commands.demo import demo_events

        events = demo_events()
    else:
        if not args.file:
            raise ConfigError("replay: no input. Fix: give FILE or --synthetic")
        brands = load_brands(settings.brands_path) if settings.brands_path else None
        source = _open_source(args.file, args.format, brands)
        with _reading(args.file):
            events = list(source)  # the count first, for the progress bar
        source.print_rejections()
        if not events:
            raise InputError(f"{args.file}: no valid event to replay. Fix: correct the "
                             "records (rejections above) or check --brands")
    check_broker(settings.broker)
    stats = replay(events, settings.broker, settings.topics, speed=args.speed,
                   total=len(events), progress=not args.quiet)
    print(format_summary(stats), file=sys.stderr)
    if stats.failed or stats.delivered < stats.sent:
        raise RuntimeFailure(f"replay: {stats.sent - stats.delivered} of {stats.sent} records "
                             "not delivered. Fix: check the broker and the topics "
                             "(brandpulse topics create), then replay again")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """One JSON object per input text, in input order, with its line number: for
    debugging the classifiers."""
    import csv

    import orjson

    from streams.commands.scoring import NOT_ANALYSED, CrisisStream, score_text

    model = _load_model(args.model) if args.model else None
    if args.file not in (None, "-"):
        _input_file(args.file)
    handle = (sys.stdin if args.file in (None, "-")
              else open(args.file, encoding="utf-8", newline=""))  # noqa: SIM115
    name = "stdin" if handle is sys.stdin else args.file
    try:
        rows: Any
        if args.column:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or args.column not in reader.fieldnames:
                raise InputError(
                    f"{name}: no column {args.column!r} (columns: "
                    f"{', '.join(reader.fieldnames or []) or 'none'}). Fix: --column NAME "
                    "with one of them, or no --column for one text per line")

            def numbered() -> Any:
                start = reader.line_num + 1
                for row in reader:
                    yield start, row.get(args.column) or ""
                    start = reader.line_num + 1
            rows = numbered()
        else:
            rows = ((number, line.rstrip("\r\n")) for number, line in enumerate(handle, 1))
        out = sys.stdout.buffer
        stream = CrisisStream()  # the input is one audience stream, read in order
        for chunk in _chunks(rows, 256 if model else 1):
            results: list[dict[str, Any]] = [{"line": n, **score_text(t, stream)}
                                             for n, t in chunk]
            if model is not None:  # the model's sentiment, batched, replaces the lexicon's
                for result, value in zip(results, model.predict([t for _, t in chunk]),
                                         strict=True):
                    result["sentiment"] = round(value, 4)
            for result, (_, text) in zip(results, chunk, strict=True):
                if result["lang"] == "other" and model is None:
                    result["note"] = NOT_ANALYSED
                if args.with_text:
                    result["text"] = text
                out.write(orjson.dumps(result) + b"\n")
    except UnicodeDecodeError as exc:
        raise _not_utf8(name, exc) from None
    finally:
        if handle is not sys.stdin:
            handle.close()
    return 0


def _load_model(directory: str) -> Any:
    """The user's transformer model (the [ml] extra); its mistakes are one line, exit 2."""
    from streams.commands.ml import ModelError, load_model

    try:
        return load_model(directory)
    except ModelError as exc:
        raise InputError(str(exc)) from None


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items: a model scores a batch, not a stream."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def cmd_crisis(args: argparse.Namespace) -> int:
    """Declare or end a crisis on the control topic, or list the declared ones (and, from
    workers' APIs, the detected ones with what they are about)."""
    import os
    import time

    from streams.commands.control import declared_crises, send_crisis_command
    from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
    from streams.wire import format_rfc3339, parse_rfc3339

    settings = _settings(args)
    settings.require_internal_key("brandpulse crisis")  # before the broker: exit 2
    check_broker(settings.broker)
    if args.action == "list":
        from collections import Counter

        refused: Counter[str] = Counter()
        crises = declared_crises(settings, refused=refused)
        if refused:  # what the workers refuse too: forged, unsigned or malformed
            print(f"crisis list: skipped {refused.total()} control record(s) the workers "
                  f"refuse ({', '.join(f'{r} {n}' for r, n in sorted(refused.items()))})",
                  file=sys.stderr)
        for crisis in crises:
            end = "ongoing" if crisis.end is None else f"ended {format_rfc3339(crisis.end)}"
            print(f"{crisis.name}: since {format_rfc3339(crisis.start)}, {end}; "
                  f"keywords={list(crisis.keywords)} hashtags={list(crisis.hashtags)}"
                  + (f" region={crisis.region}" if crisis.region else ""))
        if not crises:
            print("no declared crisis")
        workers = args.worker or [u for u in os.environ.get(WORKER_URL_ENV, "").split(",")
                                  if u.strip()]
        if not workers:
            print(f"declared crises only: pass --worker URL (or set {WORKER_URL_ENV}) to "
                  "list the detected ones too", file=sys.stderr)
            return 0
        print(_detected_lines(workers))
        return 0
    if not args.name:
        raise ConfigError("crisis: a NAME is required. Fix: brandpulse crisis declare NAME ...")

    def when(value: str | None, default: float | None) -> float | None:
        try:
            return parse_rfc3339(value) if value else default
        except ValueError as exc:
            raise ConfigError(f"crisis: {exc}. Fix: write e.g. 2026-11-25T18:00:00Z") from None

    now = time.time()
    if args.action == "declare":
        command = CrisisCommand(CommandAction.DECLARE, DeclaredCrisis(
            args.name, tuple(k for k in args.keywords.split(",") if k),
            tuple(h.lstrip("#") for h in args.hashtags.split(",") if h), args.region,
            when(args.start, now) or now, when(args.end, None)))
    else:
        # Ending a name never declared would be a no-op every worker ignores: say so instead.
        declared = [c.name for c in declared_crises(settings)]
        if args.name not in declared:
            known = ", ".join(repr(n) for n in declared) or "none"
            raise InputError(f"crisis end: no crisis named {args.name!r} was declared "
                             f"(declared: {known}). Fix: use a name from brandpulse crisis "
                             "list (names are case-sensitive)")
        command = CrisisCommand(CommandAction.END,
                                DeclaredCrisis(args.name, end=when(args.end, now)))
    send_crisis_command(settings, command)
    print(f"{args.action}: {args.name}")
    return 0


def _detected_lines(workers: Sequence[str]) -> str:
    """The detected crises of these workers, one line each: what it is called, its state
    and what its audience says about it (the global scope, shared, is listed once)."""
    from streams.commands.check_client import detected_crises

    seen: set[str] = set()
    lines: list[str] = []
    for url in workers:
        for crisis in detected_crises(url.strip()):
            if crisis["scope"] in seen:
                continue
            seen.add(crisis["scope"])
            # the title names it and its terms: "audience crisis on acme since 14:05 UTC:
            # #sandy, hurricane, jersey"
            lines.append(crisis["title"] + ("" if crisis["terms"] else ": no terms learned"))
    return "\n".join(lines) if lines else "no detected crisis"


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.commands.demo import run_demo

    return run_demo(speed=args.speed, metrics_port=args.metrics_port, broker=args.broker,
                    stop_after=args.seconds)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Run one live connector until SIGINT/SIGTERM (commands/ingest.py); 0 after flushing."""
    from streams.commands.ingest import CONNECTORS, make_writer, run_ingest

    brands = load_brands(args.brands)
    registered = CONNECTORS[args.source]
    connector = registered.from_args(args, brands)
    writer = make_writer(args.broker, args.out, args.source)
    port = registered.metrics_port if args.metrics_port is None else args.metrics_port
    return run_ingest(connector, writer, port, args.metrics_host)


CHECK_EXIT = {"ok": 0, "hold": 4, "block": 5}  # 2 stays "usage or configuration error"
#: The check route's field names, as the flags a `brandpulse check` user typed.
_CHECK_FLAGS = {"field 'at'": "--at", "field 'platform'": "--platform",
                "field 'in_reply_to'": "--in-reply-to", "field 'brand'": "--brand",
                "field 'text'": "the draft", "field 'hashtags'": "--hashtags"}


def _as_flags(error: str) -> str:
    """A worker's error in the user's words: `--at`, not "field 'at'" or an HTTP code."""
    for field_name, flag in _CHECK_FLAGS.items():
        error = error.replace(field_name, flag)
    return error


def cmd_check(args: argparse.Namespace) -> int:
    """POST the draft to a worker's /api/check, or check it offline against a file replayed
    through the engine; prints the verdict and its reasons, exits 0 ok, 4 hold, 5 block."""
    import os
    import time

    import orjson

    from streams.commands.check_client import check_offline, post_check
    from streams.core.text import clean
    from streams.plumbing.web import CHECK_TOKEN_ENV
    from streams.wire import format_rfc3339

    if not clean(args.text).strip():
        raise InputError("check: the draft is empty. Fix: pass the text to check, e.g. "
                         "brandpulse check --brand acme \"Our stores open at 9\"")
    # Judged now unless scheduled: a crisis declared a minute ago applies.
    body: dict[str, Any] = {"brand": args.brand, "text": args.text,
                            "at": args.at or format_rfc3339(time.time())}
    for name in ("platform", "in_reply_to"):
        if getattr(args, name):
            body[name] = getattr(args, name)
    if args.offline:
        status, answer = check_offline(args.offline, body, time.time(), args.brands,
                                       args.crisis, args.keywords, args.hashtags)
    else:
        token = os.environ.get(CHECK_TOKEN_ENV)
        if not token:
            raise ConfigError(f"check: no token. Fix: export {CHECK_TOKEN_ENV} (the worker's), "
                              "or check offline with --offline FILE")
        status, answer = post_check(args.url, token, body)
    if status != 200:
        fix = (f". Fix: export {CHECK_TOKEN_ENV} as the worker's (the demo prints it)"
               if status == 401 else "")
        raise InputError("check: " + _as_flags(str(answer.get("error", answer))) + fix)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(answer["summary"])
        for reason in answer["reasons"]:
            print(f"  [{reason['verdict']}] {reason['reason']}: {reason['message']}")
    return CHECK_EXIT[answer["verdict"]]


class CommandParser(argparse.ArgumentParser):
    """A command's parser: an unknown argument is its own usage error.

    Why: argparse hands a subcommand's leftovers up to the top-level parser, so
    `brandpulse report --jsn` printed the top-level usage, which does not list --json.
    """

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _ingest_parsers(commands: Any, debug: argparse.ArgumentParser, connectors: bool) -> None:
    """`ingest SOURCE` for every registered connector, each adding its own arguments.

    Why `connectors` may be False: the connectors' modules (aiohttp, the codecs) take
    0.35 s to import, which every other command would pay for nothing.
    """
    ingest = commands.add_parser("ingest", help="live sources into the topics or a JSONL file",
                                 parents=[debug])
    sources = ingest.add_subparsers(dest="source", required=True)
    if not connectors:
        return
    from streams.commands.ingest import CONNECTORS

    for name, connector in CONNECTORS.items():
        p = sources.add_parser(name, help=connector.help, parents=[debug])
        p.add_argument("--brands", required=True, help="brands TOML file")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--broker", help="produce to the input topics: kafka://HOST:PORT")
        target.add_argument("--out", metavar="FILE.jsonl", help="append JSONL lines instead")
        p.add_argument("--metrics-port", type=int,
                       help=f"port of this source's /metrics (default "
                            f"{connector.metrics_port}; 0 picks a free one)")
        p.add_argument("--metrics-host", default="127.0.0.1",
                       help="address /metrics listens on (default 127.0.0.1)")
        p.set_defaults(run=cmd_ingest)
        connector.add_arguments(p)


FORMAT_HELP = "input format: jsonl (docs/sources.md), twcs (the Kaggle CSV); default: detected"
BRANDS_HELP = ("brands TOML file (deploy/brands.example.toml); without it the brands are "
               "derived from the input")


def build_parser(connectors: bool = True) -> argparse.ArgumentParser:
    """The command line; without `connectors`, `ingest` has no sources (see _ingest_parsers)."""
    parser = argparse.ArgumentParser(prog="brandpulse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"brandpulse {_version()}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error instead of one line")
    common = CommandParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the full traceback of an error instead of one line")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=CommandParser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, description=help, parents=[common])

    def broker(p: argparse.ArgumentParser) -> None:
        p.add_argument("--broker", help="Kafka bootstrap servers, kafka://HOST:PORT[;...] "
                                        "(env BRANDPULSE_BROKER; default kafka://127.0.0.1:9092)")
        p.add_argument("--tansu-compat", action="store_true",
                       help="settings for the embedded tansu broker (tests, demo); never "
                            "with a real Kafka")

    def partitions(p: argparse.ArgumentParser) -> None:
        p.add_argument("--partitions", type=int,
                       help="partitions of each input topic (env BRANDPULSE_PARTITIONS; "
                            "default 6)")

    worker = add("worker", "run a stream worker (Faust) with its /metrics endpoint")
    broker(worker)
    partitions(worker)
    worker.add_argument("--brands", help="brands TOML file (env BRANDPULSE_BRANDS)")
    worker.add_argument("--metrics-port", type=int,
                        help="port of /metrics, /healthz, /readyz and /api (env "
                             "BRANDPULSE_METRICS_PORT; default 9100)")
    worker.add_argument("--metrics-host",
                        help="address /metrics, /healthz, /readyz and /api listen on "
                             "(default 127.0.0.1; 0.0.0.0 in containers; env "
                             "BRANDPULSE_METRICS_HOST)")
    worker.add_argument("--app-id", help="consumer group and table prefix (env "
                                         "BRANDPULSE_APP_ID; default brandpulse)")
    worker.add_argument("--data-dir", help="Faust data directory (env BRANDPULSE_DATA_DIR; "
                                           "default ./brandpulse-data)")
    worker.add_argument("--loglevel", default="warning",
                        choices=["debug", "info", "warning", "error", "critical"],
                        help="Faust worker log level (default warning)")
    worker.set_defaults(run=cmd_worker)

    topics = add("topics", "create the input, dead-letter, alert and control topics")
    topics.add_argument("action", choices=["create"], help="create: create the missing "
                                                           "topics, check the existing ones")
    broker(topics)
    partitions(topics)
    topics.set_defaults(run=cmd_topics)

    replay = add("replay", "produce a JSONL file, a TWCS CSV or the synthetic scenario "
                           "into the input topics")
    broker(replay)
    replay.add_argument("file", nargs="?", help="JSONL or TWCS CSV file to send (or "
                                                "--synthetic)")
    replay.add_argument("--format", choices=["auto", "jsonl", "twcs"], default="auto",
                        help=FORMAT_HELP)
    replay.add_argument("--brands", help=BRANDS_HELP)
    replay.add_argument("--synthetic", action="store_true",
                        help="send the bundled demo scenario (two days ending now)")
    replay.add_argument("--speed", type=float, default=None,
                        help="real-time multiplier (default: as fast as possible)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=cmd_replay)

    report = add("report", "analyse a file offline, no broker: per-brand SLA and behaviour")
    report.add_argument("file", help="JSONL or TWCS CSV file to analyse")
    report.add_argument("--format", choices=["auto", "jsonl", "twcs"], default="auto",
                        help=FORMAT_HELP)
    report.add_argument("--brands", help=BRANDS_HELP)
    output = report.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON instead of a table")
    output.add_argument("--csv", action="store_true", help="CSV (one row per brand) instead "
                                                           "of a table")
    report.add_argument("--since", metavar="RFC3339",
                        help="only events created at or after this instant")
    report.add_argument("--until", metavar="RFC3339",
                        help="only events created before this instant")
    report.add_argument("--group", metavar="NAME",
                        help="only the brands with group = NAME in --brands, side by side "
                             "with their share of voice (competitors)")
    report.add_argument("--quiet", action="store_true",
                        help="no progress line (it is only drawn when stderr is a terminal)")
    report.set_defaults(run=cmd_report)

    score = add("score", "score texts: line, lang, sentiment, crisis terms and signal, "
                         "promo, jokey (one JSON object per text)")
    score.add_argument("file", nargs="?",
                       help="one text per line, or a CSV with --column (default or -: stdin)")
    score.add_argument("--column", help="CSV column holding the text")
    score.add_argument("--with-text", action="store_true",
                       help="repeat each text in its output object")
    score.add_argument("--model", metavar="DIR",
                       help="sentiment from this ONNX model directory instead of the lexicon "
                            "(pip install 'brandpulse[ml]'; docs/analysis.md)")
    score.set_defaults(run=cmd_score)

    crisis = add("crisis", "declare, end or list operator crises (control topic)")
    crisis.add_argument("action", choices=["declare", "end", "list"],
                        help="declare a crisis, end one, or list the declared ones")
    crisis.add_argument("name", nargs="?",
                        help="the crisis name, as shown in alerts (declare and end)")
    crisis.add_argument("--keywords", default="", help="comma-separated keywords")
    crisis.add_argument("--hashtags", default="", help="comma-separated hashtags")
    crisis.add_argument("--region", help="optional region, informative")
    crisis.add_argument("--start", metavar="RFC3339", help="start (declare; default: now)")
    crisis.add_argument("--end", metavar="RFC3339",
                        help="end (declare: optional, open-ended without it; "
                             "end: default now)")
    crisis.add_argument("--worker", action="append", metavar="URL",
                        help="list: also the crises this worker detects (its metrics port, "
                             f"e.g. http://127.0.0.1:9100; repeat for each worker; default "
                             f"${WORKER_URL_ENV}, comma-separated)")
    broker(crisis)
    crisis.set_defaults(run=cmd_crisis)

    demo = add("demo", "live demo: embedded broker, a worker and the synthetic scenario")
    demo.add_argument("--speed", type=float, default=600.0,
                      help="event-time acceleration (default 600: 10 min per second)")
    demo.add_argument("--metrics-port", type=int, default=None,
                      help="port of the worker's /metrics on 127.0.0.1 (default 9100, or a "
                           "free port when 9100 is taken; 0: a free port)")
    demo.add_argument("--broker", help="use this Kafka instead of the embedded broker")
    demo.add_argument("--seconds", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.set_defaults(run=cmd_demo)
    _ingest_parsers(commands, common, connectors)

    check = add("check", "pre-publish check of a draft: ok, hold, block")
    check.add_argument("text", help="the draft's text")
    check.add_argument("--brand", required=True, help="the brand that would publish it")
    check.add_argument("--at", help="RFC 3339 scheduled time (default: now)")
    check.add_argument("--platform", help="platform it goes out on")
    check.add_argument("--in-reply-to", dest="in_reply_to", help="id it answers (a reply)")
    check.add_argument("--url", default="http://127.0.0.1:9100/api/check",
                       help="the worker's check route (token from BRANDPULSE_CHECK_TOKEN)")
    check.add_argument("--offline", metavar="FILE",
                       help="no worker: replay this JSONL/TWCS file and check against it")
    check.add_argument("--brands", help="brands TOML for --offline (else from the file)")
    check.add_argument("--crisis", help="--offline: a crisis declared over the whole file")
    check.add_argument("--keywords", default="", help="its comma-separated keywords")
    check.add_argument("--hashtags", default="", help="its comma-separated hashtags")
    check.add_argument("--json", action="store_true", help="the full JSON answer")
    check.set_defaults(run=cmd_check)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(connectors="ingest" in argv).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    if args.debug:
        logging.getLogger("streams").setLevel(logging.DEBUG)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        return _report_error(exc, args)


def _report_error(exc: Exception, args: argparse.Namespace) -> int:
    """One stderr line per error, and its exit code."""
    from kafka.errors import KafkaError

    if isinstance(exc, ConfigError):
        message, code = f"configuration error: {exc}", EXIT_USAGE
    elif isinstance(exc, InputError):
        message, code = str(exc), EXIT_USAGE
    elif isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
        message, code = (f"{exc.filename}: {exc.strerror}. Fix: check the path",
                         EXIT_USAGE)
    elif isinstance(exc, RuntimeFailure):
        message, code = str(exc), EXIT_RUNTIME
    elif isinstance(exc, KafkaError):
        broker = getattr(args, "broker", None) or "the broker"
        message, code = (f"Kafka error talking to {broker}: {_one_line(exc)}. Fix: check "
                         "that the broker runs and the topics exist (brandpulse topics "
                         "create)", EXIT_RUNTIME)
    else:
        message, code = (f"error: {type(exc).__name__}: {_one_line(exc)} (run with --debug "
                         "for the traceback)", EXIT_RUNTIME)
    print(f"brandpulse: {message}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
