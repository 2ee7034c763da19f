"""The commands over event files and texts: `replay`, `report` and `score`, each with its
arguments beside its handler."""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import streams.cli.common as common
from streams.cli.common import (
    BRANDS_HELP,
    FORMAT_HELP,
    InputError,
    RuntimeFailure,
    add_broker,
    input_file,
    instant,
    not_utf8,
    open_source,
    reading,
    settings_of,
)
from streams.config import ConfigError, load_brands


def add_report_arguments(report: argparse.ArgumentParser) -> None:
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

    since, until = instant(args.since, "--since"), instant(args.until, "--until")
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
    source = open_source(args.file, args.format, brands)
    events: Any = source
    if not args.quiet and sys.stderr.isatty():
        events = with_progress(source, sys.stderr, source.bytes_read, source.size)
    with reading(args.file):
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


def add_replay_arguments(replay: argparse.ArgumentParser) -> None:
    add_broker(replay)
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


def cmd_replay(args: argparse.Namespace) -> int:
    from streams.commands.replay import format_summary, replay

    settings = settings_of(args)
    if args.synthetic:
        from streams.commands.demo import demo_events

        events = demo_events()
    else:
        if not args.file:
            raise ConfigError("replay: no input. Fix: give FILE or --synthetic")
        brands = load_brands(settings.brands_path) if settings.brands_path else None
        source = open_source(args.file, args.format, brands)
        with reading(args.file):
            events = list(source)  # the count first, for the progress bar
        source.print_rejections()
        if not events:
            raise InputError(f"{args.file}: no valid event to replay. Fix: correct the "
                             "records (rejections above) or check --brands")
    common.check_broker(settings.broker)
    stats = replay(events, settings.broker, settings.topics, speed=args.speed,
                   total=len(events), progress=not args.quiet)
    print(format_summary(stats), file=sys.stderr)
    if stats.failed or stats.delivered < stats.sent:
        raise RuntimeFailure(f"replay: {stats.sent - stats.delivered} of {stats.sent} records "
                             "not delivered. Fix: check the broker and the topics "
                             "(brandpulse topics create), then replay again")
    return 0


def add_score_arguments(score: argparse.ArgumentParser) -> None:
    score.add_argument("file", nargs="?",
                       help="one text per line, or a CSV with --column (default or -: stdin)")
    score.add_argument("--column", help="CSV column holding the text")
    score.add_argument("--with-text", action="store_true",
                       help="repeat each text in its output object")
    score.add_argument("--model", metavar="DIR",
                       help="sentiment from this ONNX model directory instead of the lexicon "
                            "(pip install 'brandpulse[ml]'; docs/analysis.md)")


def cmd_score(args: argparse.Namespace) -> int:
    """One JSON object per input text, in input order, with its line number: for
    debugging the classifiers."""
    import csv

    import orjson

    from streams.commands.scoring import NOT_ANALYSED, CrisisStream, score_text

    model = _load_model(args.model) if args.model else None
    if args.file not in (None, "-"):
        input_file(args.file)
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
        raise not_utf8(name, exc) from None
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

