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
import logging
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from streams.cli import check, crisis, files, worker
from streams.cli.common import (
    EXIT_RUNTIME,
    EXIT_USAGE,
    InputError,
    RuntimeFailure,
    settings_of,
)
from streams.cli.crisis import WORKER_URL_ENV
from streams.cli.worker import run_worker
from streams.config import ConfigError

# What callers outside the package use. The broker check is `common.check_broker`, the one
# name every command calls (so a test replaces it there).
__all__ = ["EXIT_RUNTIME", "EXIT_USAGE", "WORKER_URL_ENV", "InputError", "RuntimeFailure",
           "build_parser", "main", "run_worker", "settings_of"]


class Command(NamedTuple):
    """A subcommand: its name, one line of help, the function adding its arguments and its
    handler (both beside each other in the command's module)."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


#: The subcommands in the order `brandpulse --help` lists them; `ingest` (whose sources add
#: their own arguments) comes after `demo`.
COMMANDS = (
    Command("worker", "run a stream worker (Faust) with its /metrics endpoint",
            worker.add_worker_arguments, worker.cmd_worker),
    Command("topics", "create the input, dead-letter, alert and control topics",
            worker.add_topics_arguments, worker.cmd_topics),
    Command("replay", "produce a JSONL file, a TWCS CSV or the synthetic scenario into the "
            "input topics", files.add_replay_arguments, files.cmd_replay),
    Command("report", "analyse a file offline, no broker: per-brand SLA and behaviour",
            files.add_report_arguments, files.cmd_report),
    Command("score", "score texts: line, lang, sentiment, crisis terms and signal, promo, "
            "jokey (one JSON object per text)", files.add_score_arguments, files.cmd_score),
    Command("crisis", "declare, end or list operator crises (control topic)",
            crisis.add_crisis_arguments, crisis.cmd_crisis),
    Command("demo", "live demo: embedded broker, a worker and the synthetic scenario",
            worker.add_demo_arguments, worker.cmd_demo),
    Command("check", "pre-publish check of a draft: ok, hold, block",
            check.add_check_arguments, check.cmd_check),
)


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


def build_parser(connectors: bool = True) -> argparse.ArgumentParser:
    """The command line; without `connectors`, `ingest` has no sources (see
    `worker.add_ingest_parsers`)."""
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
    for command in COMMANDS:
        if command.name == "check":
            worker.add_ingest_parsers(commands, common, connectors)
        p = commands.add_parser(command.name, help=command.help, description=command.help,
                                parents=[common])
        command.add_arguments(p)
        p.set_defaults(run=command.run)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("brandpulse")
    except Exception:  # not installed (run from a source tree)
        from streams import __version__

        return __version__


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


