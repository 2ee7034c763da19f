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
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from streams.config import BrandsConfig, ConfigError, Settings, load_brands, settings_from

TANSU_COMPAT = {
    # tansu 0.6 reports end offsets as last batch start + 1: a lone end-marker record
    # after each batch of state writes keeps Faust's table recovery exact. Rebalances wait
    # half the session timeout.
    "changelog_end_marker": True,
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
    Faust worker until it is stopped."""
    import asyncio

    import faust
    import uvloop

    from streams.app import create_app
    from streams.health import run_until_exit
    from streams.metrics import BrandpulseMetrics
    from streams.web import WebServer

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    metrics = BrandpulseMetrics()
    app, runtime = create_app(settings, brands, metrics)
    server = WebServer(metrics.registry, host=settings.metrics_host, port=settings.metrics_port,
                       api=runtime.api, health=runtime.health, ready=runtime.ready,
                       check=runtime.check)
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
          f"probes /healthz /readyz (listening on {settings.metrics_host})", flush=True)
    try:
        # A crash (e.g. the broker lost the state) ends with one stderr line and exit 75.
        run_until_exit(faust.Worker(app, loglevel=loglevel, quiet=True))
    finally:
        server.stop()


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    run_worker(settings, _brands(settings), args.loglevel)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    from streams.broker import create_topics

    settings = _settings(args)
    created = create_topics(settings)
    print(f"created: {', '.join(created) or 'nothing (all topics exist)'}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import orjson

    from streams.report import build_report, format_table, with_progress
    from streams.sources.files import open_events

    brands = load_brands(args.brands) if args.brands else None
    source = open_events(args.file, args.format, brands)
    events: Any = source
    if not args.quiet and sys.stderr.isatty():
        events = with_progress(source, sys.stderr, source.bytes_read, source.size)
    report = build_report(events, source.brands)
    source.print_rejections()
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(format_table(report))
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.replay import replay
    from streams.sources.files import load_events

    settings = _settings(args)
    if args.synthetic:
        from streams.demo import demo_events

        events = demo_events()
    else:
        if not args.file:
            raise ConfigError("replay: no input. Fix: give FILE or --synthetic")
        brands = load_brands(settings.brands_path) if settings.brands_path else None
        events, _ = load_events(args.file, args.format, brands)
    stats = replay(events, settings.broker, settings.topics, speed=args.speed,
                   total=len(events), progress=not args.quiet)
    print(stats, file=sys.stderr)
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """One JSON object per input text, in input order: for debugging the classifiers."""
    import csv

    import orjson

    from streams.scoring import score_text

    handle = sys.stdin if args.file in (None, "-") else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        if args.column:
            texts = (row.get(args.column) or "" for row in csv.DictReader(handle))
        else:
            texts = (line.rstrip("\n") for line in handle)
        out = sys.stdout.buffer
        for text in texts:
            out.write(orjson.dumps(score_text(text)) + b"\n")
    finally:
        if handle is not sys.stdin:
            handle.close()
    return 0


def cmd_crisis(args: argparse.Namespace) -> int:
    """Declare or end a crisis on the control topic, or list the declared ones."""
    import time

    from streams.control import declared_crises, send_crisis_command
    from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
    from streams.wire import format_rfc3339, parse_rfc3339

    settings = _settings(args)
    if args.action == "list":
        crises = declared_crises(settings)
        for crisis in crises:
            end = "ongoing" if crisis.end is None else f"ended {format_rfc3339(crisis.end)}"
            print(f"{crisis.name}: since {format_rfc3339(crisis.start)}, {end}; "
                  f"keywords={list(crisis.keywords)} hashtags={list(crisis.hashtags)}"
                  + (f" region={crisis.region}" if crisis.region else ""))
        if not crises:
            print("no declared crisis")
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
        command = CrisisCommand(CommandAction.END,
                                DeclaredCrisis(args.name, end=when(args.end, now)))
    send_crisis_command(settings, command)
    print(f"{args.action}: {args.name}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from streams.demo import run_demo

    return run_demo(speed=args.speed, metrics_port=args.metrics_port, broker=args.broker,
                    stop_after=args.seconds)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Run one live connector until SIGINT/SIGTERM (streams/ingest.py); 0 after flushing."""
    from streams.ingest import CONNECTORS, DEFAULT_METRICS_PORTS, make_writer, run_ingest

    brands = load_brands(args.brands)
    connector = CONNECTORS[args.source](args, brands)
    writer = make_writer(args.broker, args.out, args.source)
    port = DEFAULT_METRICS_PORTS[args.source] if args.metrics_port is None else args.metrics_port
    return run_ingest(connector, writer, port, args.metrics_host)


CHECK_EXIT = {"ok": 0, "hold": 4, "block": 5}  # 2 stays "usage or configuration error"


def cmd_check(args: argparse.Namespace) -> int:
    """POST the draft to a worker's /api/check, or check it offline against a file replayed
    through the engine; prints the verdict and its reasons, exits 0 ok, 4 hold, 5 block."""
    import os
    import time

    import orjson

    from streams.check_client import check_offline, post_check
    from streams.web import CHECK_TOKEN_ENV

    body: dict[str, Any] = {"brand": args.brand, "text": args.text}
    for name in ("platform", "at", "in_reply_to"):
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
        raise ConfigError(f"check: {status} {answer.get('error', answer)}")
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(answer, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(answer["summary"])
        for reason in answer["reasons"]:
            print(f"  [{reason['verdict']}] {reason['reason']}: {reason['message']}")
    return CHECK_EXIT[answer["verdict"]]


def _ingest_parsers(commands: Any) -> None:
    ingest = commands.add_parser("ingest", help="live sources into the topics or a JSONL file")
    sources = ingest.add_subparsers(dest="source", required=True)

    def common(name: str, help: str) -> argparse.ArgumentParser:
        p = sources.add_parser(name, help=help)
        p.add_argument("--brands", required=True, help="brands TOML file")
        target = p.add_mutually_exclusive_group(required=True)
        target.add_argument("--broker", help="produce to the input topics: kafka://HOST:PORT")
        target.add_argument("--out", metavar="FILE.jsonl", help="append JSONL lines instead")
        p.add_argument("--metrics-port", type=int,
                       help="port of this source's /metrics (default 9101 bluesky, 9102 "
                            "mastodon, 9103 webhook; 0 picks a free one)")
        p.add_argument("--metrics-host", default="127.0.0.1",
                       help="address /metrics listens on (default 127.0.0.1)")
        p.set_defaults(run=cmd_ingest)
        return p

    def cursor(p: argparse.ArgumentParser, name: str) -> None:
        p.add_argument("--cursor-file", default=f"brandpulse-{name}.cursor",
                       help=f"resume position, saved after each flush "
                            f"(default ./brandpulse-{name}.cursor)")

    bluesky = common("bluesky", "Bluesky via a Jetstream websocket")
    bluesky.add_argument("--url", help="Jetstream /subscribe URL (default "
                                       "wss://jetstream2.us-east.bsky.network/subscribe)")
    bluesky.add_argument("--resolver", default="https://bsky.social",
                         help="service resolving Bluesky handles of the brands file to DIDs")
    cursor(bluesky, "bluesky")
    mastodon = common("mastodon", "the brands' Mastodon accounts (streaming API + REST)")
    mastodon.add_argument("--instance", required=True, help="https://INSTANCE")
    cursor(mastodon, "mastodon")
    webhook = common("webhook", "Meta webhooks and signed JSONL posts")
    webhook.add_argument("--listen", required=True, metavar="HOST:PORT",
                         help="address the webhook server listens on")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brandpulse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def connection(p: argparse.ArgumentParser) -> None:
        p.add_argument("--broker", help="kafka://HOST:PORT (env BRANDPULSE_BROKER)")
        p.add_argument("--partitions", type=int, help="input topic partitions (default 6)")
        p.add_argument("--tansu-compat", action="store_true",
                       help="settings for the embedded tansu broker (tests, demo)")

    worker = commands.add_parser("worker", help="run a stream worker")
    connection(worker)
    worker.add_argument("--brands", help="brands TOML file (env BRANDPULSE_BRANDS)")
    worker.add_argument("--metrics-port", type=int, help="port of /metrics (default 9100)")
    worker.add_argument("--metrics-host",
                        help="address /metrics, /healthz, /readyz and /api listen on "
                             "(default 127.0.0.1; 0.0.0.0 in containers; env "
                             "BRANDPULSE_METRICS_HOST)")
    worker.add_argument("--app-id", help="consumer group / Faust app id")
    worker.add_argument("--data-dir", help="Faust data directory")
    worker.add_argument("--loglevel", default="warning")
    worker.set_defaults(run=cmd_worker)

    topics = commands.add_parser("topics", help="create the topics")
    topics.add_argument("action", choices=["create"])
    connection(topics)
    topics.set_defaults(run=cmd_topics)

    replay = commands.add_parser("replay", help="produce a file into the topics")
    connection(replay)
    replay.add_argument("file", nargs="?", help="JSONL or TWCS CSV file")
    replay.add_argument("--format", choices=["auto", "jsonl", "twcs"], default="auto")
    replay.add_argument("--brands", help="brands TOML; TWCS input defines its own without it")
    replay.add_argument("--synthetic", action="store_true", help="the bundled demo scenario")
    replay.add_argument("--speed", type=float, default=None,
                        help="real-time multiplier (default: as fast as possible)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(run=cmd_replay)

    report = commands.add_parser("report", help="analyse a file offline")
    report.add_argument("file")
    report.add_argument("--format", choices=["auto", "jsonl", "twcs"], default="auto")
    report.add_argument("--brands", help="brands TOML; TWCS input defines its own without it")
    report.add_argument("--json", action="store_true", help="JSON instead of a table")
    report.add_argument("--quiet", action="store_true",
                        help="no progress line (it is only drawn when stderr is a terminal)")
    report.set_defaults(run=cmd_report)

    score = commands.add_parser("score", help="score texts: lang, sentiment, crisis, promo")
    score.add_argument("file", nargs="?", help="text lines or a CSV (default: stdin)")
    score.add_argument("--column", help="CSV column holding the text")
    score.set_defaults(run=cmd_score)

    crisis = commands.add_parser("crisis", help="declare, end or list operator crises")
    crisis.add_argument("action", choices=["declare", "end", "list"])
    crisis.add_argument("name", nargs="?")
    crisis.add_argument("--keywords", default="", help="comma-separated keywords")
    crisis.add_argument("--hashtags", default="", help="comma-separated hashtags")
    crisis.add_argument("--region", help="optional region, informative")
    crisis.add_argument("--start", help="RFC 3339 start (default: now)")
    crisis.add_argument("--end", help="RFC 3339 end (end: default now)")
    connection(crisis)
    crisis.set_defaults(run=cmd_crisis)

    demo = commands.add_parser("demo", help="live demo on an embedded broker")
    demo.add_argument("--speed", type=float, default=600.0,
                      help="event-time acceleration (default 600: 10 min per second)")
    demo.add_argument("--metrics-port", type=int, default=9100)
    demo.add_argument("--broker", help="use this Kafka instead of the embedded broker")
    demo.add_argument("--seconds", type=float, default=None,
                      help="stop after this many seconds (default: run until Ctrl-C)")
    demo.set_defaults(run=cmd_demo)
    _ingest_parsers(commands)

    check = commands.add_parser("check", help="pre-publish check of a draft: ok, hold, block")
    check.add_argument("text", help="the draft's text")
    check.add_argument("--brand", required=True)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"brandpulse: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

