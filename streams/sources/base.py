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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from streams.config import BrandsConfig, ConfigError

if TYPE_CHECKING:
    from streams.events import ConversationStatus, SocialEvent

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

    async def emit(self, event: SocialEvent | ConversationStatus) -> None: ...
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


def add_cursor_argument(parser: argparse.ArgumentParser, source: str) -> None:
    """--cursor-file, for the sources that resume from a saved position."""
    parser.add_argument("--cursor-file", default=f"brandpulse-{source}.cursor",
                        help=f"resume position, saved after each flush "
                             f"(default ./brandpulse-{source}.cursor)")


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
