"""What every command of the command line shares: the errors a user can fix (one line,
exit 2) and the runtime failures (exit 1), the broker check, the settings from the flags,
the input-file checks, and the flags several commands take."""

from __future__ import annotations

import argparse
import contextlib
import socket
import sys
from collections.abc import Iterator
from typing import Any

from streams.config import BrandsConfig, ConfigError, Settings, load_brands, settings_from

EXIT_RUNTIME = 1
EXIT_USAGE = 2  # usage, configuration or input: the user can fix it
BROKER_CHECK_SECONDS = 3.0
FORMAT_HELP = "input format: jsonl (docs/sources.md), twcs (the Kaggle CSV); default: detected"
BRANDS_HELP = ("brands TOML file (deploy/brands.example.toml); without it the brands are "
               "derived from the input")


class InputError(Exception):
    """A file the user gave cannot be used; the message says why and how to fix it."""


class RuntimeFailure(Exception):
    """The command ran but failed (broker unreachable, records lost); exit code 1."""


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


def settings_of(args: argparse.Namespace) -> Settings:
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


def brands_of(settings: Settings) -> BrandsConfig:
    if not settings.brands_path:
        raise ConfigError("brands: no brands file given. Fix: pass --brands PATH or set "
                          "BRANDPULSE_BRANDS (see deploy/brands.example.toml)")
    return load_brands(settings.brands_path)



def input_file(path: str) -> None:
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


def open_source(path: str, file_format: str, brands: BrandsConfig | None) -> Any:
    """The event file, with the input mistakes a user can fix turned into InputError."""
    from streams.sources.files import open_events

    input_file(path)
    try:
        with reading(path, "--format jsonl for JSONL records, else a CSV with the TWCS "
                            "header (docs/sources.md)"):
            return open_events(path, file_format, brands)
    except ConfigError as exc:
        if brands is None and "no brand is configured" in str(exc):
            show_bad_lines(path)
            raise InputError(f"{path}: no valid event to derive the brands from (bad lines "
                             "above). Fix: correct the records (docs/sources.md) or check "
                             "--format") from None
        raise


def not_utf8(path: str, exc: UnicodeDecodeError) -> InputError:
    return InputError(f"{path}: not UTF-8 text (a byte 0x{exc.object[exc.start]:02x}). "
                      f"Fix: convert it, e.g. "
                      f"iconv -f latin1 -t utf-8 {path} > fixed.csv")


@contextlib.contextmanager
def reading(path: str, fix: str = "check the file's format (--format jsonl|twcs)"
             ) -> Iterator[None]:
    """A file's events read inside: its encoding or format errors become one line."""
    try:
        yield
    except UnicodeDecodeError as exc:
        raise not_utf8(path, exc) from None
    except ConfigError:
        raise  # already names its field and fix (a ValueError too)
    except ValueError as exc:
        raise InputError(f"{path}: {exc}. Fix: {fix}") from None


def show_bad_lines(path: str, shown: int = 10) -> None:
    from streams.sources.jsonl import BadLine, read_jsonl

    for item in read_jsonl(path):
        if isinstance(item, BadLine):
            print(f"{path}:{item.line}: rejected ({item.rejection.reason}): "
                  f"{item.rejection.detail}", file=sys.stderr)
            shown -= 1
            if not shown:
                return


def instant(value: str | None, flag: str) -> float | None:
    from streams.wire.events import parse_rfc3339

    if value is None:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise ConfigError(f"{flag}: {exc}. Fix: write e.g. 2017-10-31T00:00:00Z") from None



def add_broker(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="Kafka bootstrap servers, kafka://HOST:PORT[;...] "
                                    "(env BRANDPULSE_BROKER; default kafka://127.0.0.1:9092)")
    p.add_argument("--tansu-compat", action="store_true",
                   help="settings for the embedded tansu broker (tests, demo); never "
                        "with a real Kafka")


def add_partitions(p: argparse.ArgumentParser) -> None:
    p.add_argument("--partitions", type=int,
                   help="partitions of each input topic (env BRANDPULSE_PARTITIONS; "
                        "default 6)")
