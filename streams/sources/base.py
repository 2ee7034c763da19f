"""The connector contract: what a live source implements and the helpers every one shares.

A connector (`bluesky.py`, `mastodon.py`, `webhook.py`) reads a network and hands validated
`SocialEvent`s to a `SourceSink`; `streams.commands.ingest` gives it the sink (Kafka or a JSONL
file, counted) and runs it. A new source is one file here, a class with the `Connector`
shape, and one line in `streams.commands.ingest.CONNECTORS`: the class names its subcommand, adds
its own command-line arguments and builds itself from them.

Why a module of its own: the sources sit below `streams.commands.ingest` (which imports them to
register them), so what they share cannot live there.

At-least-once: a connector saves its resume position (`CursorFile`) only after `flush()`
returned, so a crash or an unreachable broker replays a little (ids make duplicates
harmless) and never skips.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from streams.config import BrandsConfig, ConfigError

if TYPE_CHECKING:
    from streams.events import RecordedEvent

log = logging.getLogger(__name__)
T = TypeVar("T")

FUTURE_TIMESTAMP = "future_timestamp"
#: The size bound of one record as a peer sends it (a Jetstream frame, a Mastodon SSE event
#: or REST status): over it, the record is skipped as `oversized` and reading goes on past
#: it. Real records are a few kB; the bound only stops a hostile or broken peer.
MAX_RECORD_BYTES = 1 << 20
OVERSIZED = "oversized"
#: Texts are cut to this many characters (a post is at most a few thousand).
MAX_TEXT_CHARS = 10_000


class SinkUnavailable(Exception):
    """The broker/file cannot take events now; the caller retries later (webhook: 503)."""


class SourceSink(Protocol):
    """Where a connector hands what it read (see the module docstring)."""

    source: str

    async def emit(self, event: RecordedEvent) -> None: ...
    async def flush(self) -> None: ...
    def skipped(self, reason: str) -> None: ...
    def rejected(self, reason: str, detail: str) -> None: ...
    def connected(self, up: bool) -> None: ...
    def reconnected(self) -> None: ...


class Connector(Protocol):
    """A running source: reads until `stop` is set, then flushes and returns."""

    source: str

    async def run(self, sink: SourceSink, stop: asyncio.Event) -> None: ...


class ConnectorClass(Protocol):
    """A source as `brandpulse ingest` registers it, by class: the subcommand, its help and
    metrics port, its own arguments, and how it builds itself from them."""

    source: str
    help: str
    metrics_port: int

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...
    def from_args(self, args: argparse.Namespace, brands: BrandsConfig) -> Connector: ...


#: The directory of the cursor files, when set (else the XDG state directory).
STATE_DIR_ENV = "BRANDPULSE_STATE_DIR"


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where a connector keeps its resume position: $BRANDPULSE_STATE_DIR, else
    $XDG_STATE_HOME/brandpulse, else ~/.local/state/brandpulse.

    Why not the current directory: a service started from another directory (systemd,
    cron, a shell elsewhere) would silently start a fresh cursor there and replay or miss.
    The XDG base directory specification names $XDG_STATE_HOME for state that should
    persist between restarts but is not worth a backup, which is what a cursor is.
    """
    env = os.environ if environ is None else environ
    if env.get(STATE_DIR_ENV):
        return Path(env[STATE_DIR_ENV]).expanduser()
    xdg = env.get("XDG_STATE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "state"
    return base / "brandpulse"


def add_cursor_argument(parser: argparse.ArgumentParser, source: str) -> None:
    """--cursor-file, for the sources that resume from a saved position."""
    parser.add_argument("--cursor-file", default=None,
                        help=f"resume position, saved after each flush (default "
                             f"{source}.cursor in ${STATE_DIR_ENV}, else "
                             f"$XDG_STATE_HOME/brandpulse, else ~/.local/state/brandpulse)")


def cursor_path(given: str | None, source: str,
                environ: Mapping[str, str] | None = None) -> Path:
    """The --cursor-file given, else `<state_dir>/<source>.cursor`, its directory created.

    A cursor left by an older version in the current directory
    (`brandpulse-<source>.cursor`) is still used, with a warning, until it is moved.
    """
    if given:
        return Path(given)
    path = state_dir(environ) / f"{source}.cursor"
    legacy = Path(f"brandpulse-{source}.cursor")
    if not path.exists() and legacy.is_file():
        log.warning("%s: using the cursor file %s in the current directory; move it to %s "
                    "(the default now) or pass --cursor-file", source, legacy.resolve(), path)
        return legacy
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise ConfigError(f"cursor directory {path.parent}: cannot create it "
                          f"({exc.strerror or exc}). Fix: set {STATE_DIR_ENV} to a writable "
                          "directory, or pass --cursor-file") from None
    return path


# --- Helpers for connectors -------------------------------------------------------------

class Backoff:
    """Exponential reconnect delays with jitter: initial, 2x, 4x ... capped at `maximum`,
    each multiplied by a random factor in [1 - jitter, 1 + jitter] so that many clients
    cut off together do not reconnect together."""

    def __init__(self, initial: float = 1.0, maximum: float = 60.0, jitter: float = 0.2,
                 rng: Callable[[], float] = random.random) -> None:
        if not 0 < initial <= maximum or not 0 <= jitter < 1:
            raise ValueError("need 0 < initial <= maximum and 0 <= jitter < 1")
        self.initial, self.maximum, self.jitter, self.rng = initial, maximum, jitter, rng
        self.attempts = 0

    def next(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        base = min(self.maximum, self.initial * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return base * (1 + self.jitter * (2 * self.rng() - 1))

    def reset(self) -> None:
        """A connection worked: the next failure starts again from `initial`."""
        self.attempts = 0

    async def wait(self, stop: asyncio.Event) -> bool:
        """Sleep the next delay; True if `stop` was set meanwhile (return at once then)."""
        try:
            await asyncio.wait_for(stop.wait(), self.next())
            return True
        except TimeoutError:
            return stop.is_set()


class PeerTimeout(TimeoutError):
    """A network wait passed its deadline; the message names the wait and the deadline."""


class Stopped(Exception):
    """`stop` was set while waiting on a peer: the connector returns."""


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long each network wait of a connector may take before it counts as stuck.

    A stuck peer (accepts the connection, then says nothing) is treated like a lost one: a
    log line, a counted reconnect with backoff, `connected` 0. `idle` is longer than the
    peers' own keep-alives (Mastodon's `:thump` every 15 s; the Jetstream firehose carries
    several posts a second, and websocket pings every 30 s check the socket).
    """

    connect: float = 10.0  # TCP (and TLS) connect
    answer: float = 15.0  # the websocket upgrade, or the HTTP status and headers
    idle: float = 60.0  # no byte (first or next) on an open stream


async def wait_for_peer(awaitable: Awaitable[T], seconds: float, what: str,
                        stop: asyncio.Event | None = None) -> T:
    """`awaitable` within `seconds`, abandoned as soon as `stop` is set.

    The one deadline helper of the sources: raises PeerTimeout naming `what`, or Stopped
    (so SIGTERM never waits on a silent peer).
    """
    task = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        waiting = {task} if stopping is None else {task, stopping}
        done, _ = await asyncio.wait(waiting, timeout=seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if stopping is not None and stopping in done:
            raise Stopped(what)
        raise PeerTimeout(f"{what}: no answer within {seconds:g} s")
    finally:
        for pending in (task, stopping):
            if pending is not None and not pending.done():
                pending.cancel()
        if stopping is not None:
            await asyncio.gather(stopping, return_exceptions=True)
        if not task.done():
            await asyncio.gather(task, return_exceptions=True)


class CursorFile:
    """A resume position in a small text file, replaced atomically (write, fsync, rename),
    so a crash leaves the old or the new value, never half of one."""

    MAX_BYTES = 4096

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> str | None:
        try:
            with self.path.open("rb") as handle:
                raw = handle.read(self.MAX_BYTES + 1)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(f"cursor file {self.path}: cannot read ({exc.strerror or exc}). "
                              "Fix: pass --cursor-file a readable path") from None
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            value = ""
        if not value or len(raw) > self.MAX_BYTES:
            log.warning("cursor file %s is empty or garbled: starting from live", self.path)
            return None
        return value

    def save(self, value: str) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("wb") as handle:
            handle.write(value.encode("utf-8") + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
