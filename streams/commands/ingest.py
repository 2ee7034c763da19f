"""Live sources into the topics: the registry of connectors and the sinks they write to.

A connector (Bluesky, Mastodon, webhooks; `streams/sources/`, contract in
`streams.sources.base`) reads a network and hands validated `SocialEvent`s to a
`SourceSink`; the sink writes them where the replay would (KafkaSink: the two input topics
keyed by brand) or appends them to a JSONL file (JsonlSink), and `MeteredSink` counts
everything on the way (`SourceMetrics`). `run_ingest` serves the metrics, turns
SIGINT/SIGTERM into a stop event, waits for the connector to return, flushes and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from streams.config import ConfigError, TopicNames
from streams.events import (
    MAX_FUTURE_SKEW_SECONDS,
    RecordedEvent,
    Side,
    beyond_skew,
)
from streams.metrics import SourceMetrics
from streams.plumbing.ratelog import RateLimitedLog
from streams.sources.base import (
    FUTURE_TIMESTAMP,
    OVERSIZED,
    Connector,
    ConnectorClass,
    SinkUnavailable,
)
from streams.sources.bluesky import BlueskyConnector
from streams.sources.chatwoot import ChatwootConnector
from streams.sources.jsonl import DEFAULT_MAX_LINE_BYTES, event_to_line
from streams.sources.mastodon import MastodonConnector
from streams.sources.webhook import WebhookConnector
from streams.wire import encode_record, record_side

log = logging.getLogger(__name__)

#: Every live source, by class: `brandpulse ingest NAME` for each one's `source`.
CONNECTORS: dict[str, ConnectorClass] = {c.source: c for c in (
    BlueskyConnector,
    MastodonConnector,
    WebhookConnector,
    ChatwootConnector,
)}
#: The size bound of one event as written (its wire JSON): the worker's and the JSONL
#: reader's bound (Settings.max_event_bytes), so nothing written is refused downstream (a
#: broker's MessageSizeTooLarge, a line the reader skips). Over it: rejected `oversized`.
MAX_EVENT_BYTES = DEFAULT_MAX_LINE_BYTES
#: SIGTERM to exit: the connector gets this long to stop by itself, then it is cancelled;
#: the final flush gets FINAL_FLUSH_SECONDS, which keeps the whole stop under 5 s.
STOP_GRACE_SECONDS = 2.5
FINAL_FLUSH_SECONDS = 1.5
EX_TEMPFAIL = 75  # sysexits.h: events not saved; a restart replays them from the cursor
CLOSED_LATE = -1  # a clean stop whose sink did not close in time (a thread to abandon)


class EventWriter(Protocol):
    """The storage half of a sink (KafkaSink, JsonlSink): no counting, see MeteredSink."""

    async def emit(self, event: RecordedEvent) -> None: ...
    async def flush(self) -> None: ...
    async def close(self) -> None: ...


# --- Writers ----------------------------------------------------------------------------

class KafkaSink:
    """The two input topics, keyed by brand, encoded like `streams.commands.replay` (its producer).

    acks=all: `flush()` returns only once the broker has every emitted event, so a cursor
    saved after it never skips an event. A send the producer refuses (buffer full for
    `max_block_ms`) or a delivery that failed raises SinkUnavailable at the next flush.
    """

    def __init__(self, broker: str, source: str, topics: TopicNames | None = None,
                 producer: Any = None, flush_timeout: float = 30.0) -> None:
        from streams.commands.replay import make_producer

        self.topics = topics or TopicNames()
        self.flush_timeout = flush_timeout
        self._failures: list[str] = []
        if producer is None:
            try:
                producer = make_producer(broker, linger_ms=5, acks="all", max_block_ms=5000,
                                         client_id=f"brandpulse-ingest-{source}")
            except Exception as exc:  # kafka-python raises NoBrokersAvailable and friends
                raise ConfigError(f"broker: cannot reach {broker} ({type(exc).__name__}: "
                                  f"{exc}). Fix: start the broker or correct --broker") from None
        self._producer = producer

    def _failed(self, exc: BaseException) -> None:
        if len(self._failures) < 100:
            self._failures.append(f"{type(exc).__name__}: {exc}")

    async def emit(self, event: RecordedEvent) -> None:
        topic = (self.topics.brand_posts if record_side(event) is Side.BRAND
                 else self.topics.audience_messages)
        try:
            future = self._producer.send(topic, value=encode_record(event),
                                         key=event.brand.encode("utf-8"))
        except Exception as exc:
            raise SinkUnavailable(f"broker refused the event: {type(exc).__name__}: {exc}") \
                from None
        future.add_errback(self._failed)

    async def flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(None, lambda: self._producer.flush(self.flush_timeout))
        except Exception as exc:
            raise SinkUnavailable(f"broker did not acknowledge: {type(exc).__name__}: "
                                  f"{exc}") from None
        if self._failures:
            failures, self._failures = self._failures, []
            raise SinkUnavailable(f"{len(failures)} events not delivered: {failures[0]}")

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: self._producer.close(self.flush_timeout))


class JsonlSink:
    """Appends docs/sources.md JSONL lines to a file; `flush()` is an fsync."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._file = self.path.open("ab")
        except OSError as exc:
            raise ConfigError(f"out: cannot open {self.path} for appending "
                              f"({exc.strerror or exc}). Fix: pass --out a writable file") \
                from None

    async def emit(self, event: RecordedEvent) -> None:
        line = event_to_line(event)
        try:
            self._file.write(line)
        except OSError as exc:
            raise SinkUnavailable(f"cannot write {self.path}: {exc.strerror or exc}") from None

    async def flush(self) -> None:
        try:
            self._file.flush()  # on the loop: the file object is not shared with a thread
            fd = self._file.fileno()
            await asyncio.get_running_loop().run_in_executor(None, os.fsync, fd)
        except OSError as exc:
            raise SinkUnavailable(f"cannot write {self.path}: {exc.strerror or exc}") from None

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


class MeteredSink:
    """A SourceSink over a writer: counts every event, skip and rejection in SourceMetrics,
    tracks connectivity and lag, and refuses events dated in the future."""

    def __init__(self, writer: EventWriter, metrics: SourceMetrics, source: str,
                 clock: Callable[[], float] = time.time,
                 max_future_skew: float = MAX_FUTURE_SKEW_SECONDS,
                 faults: RateLimitedLog | None = None) -> None:
        self.writer = writer
        self.metrics = metrics
        self.source = source
        self.clock = clock
        self.max_future_skew = max_future_skew
        self.faults = faults or RateLimitedLog(log)
        metrics.initialise(source)

    async def emit(self, event: RecordedEvent) -> None:
        if beyond_skew(event.created_at, self.clock(), self.max_future_skew):
            self.rejected(FUTURE_TIMESTAMP, f"{event.id}: created_at {event.created_at:.0f} "
                          f"beyond the wall clock + {self.max_future_skew:.0f} s")
            return
        size = len(encode_record(event))
        if size > MAX_EVENT_BYTES:
            self.rejected(OVERSIZED, f"{event.id[:200]}: event of {size} bytes > "
                          f"{MAX_EVENT_BYTES} (the worker's bound)")
            return
        await self.writer.emit(event)
        self.metrics.event(self.source, record_side(event).value, event.created_at)

    async def flush(self) -> None:
        await self.writer.flush()

    def progress(self, event_time: float) -> None:
        """The source has been read up to `event_time` (even if nothing was emitted): the
        lag gauge follows the read position, not only the rare brand-related events."""
        self.metrics.progress(self.source, event_time)

    def skipped(self, reason: str) -> None:
        self.metrics.skipped(self.source, reason)

    def rejected(self, reason: str, detail: str) -> None:
        """Counted every time; logged the first time per reason, then rate-limited."""
        self.metrics.rejected(self.source, reason)
        self.faults.report(f"rejected:{reason}", "%s: rejected (%s): %s", self.source,
                           reason, detail[:300])

    def connected(self, up: bool) -> None:
        self.metrics.connected(self.source, up)

    def reconnected(self) -> None:
        self.metrics.reconnected(self.source)


# --- Running a connector -----------------------------------------------------------------

def make_writer(broker: str | None, out: str | None, source: str) -> EventWriter:
    """KafkaSink for --broker, JsonlSink for --out (exactly one is given)."""
    if out:
        return JsonlSink(out)
    from streams.config import settings_from

    settings = settings_from(broker=broker)  # validates the URL (ConfigError names the fix)
    return KafkaSink(settings.broker, source, settings.topics)


async def run_until_stopped(run: Awaitable[None], stop: asyncio.Event, source: str,
                            grace: float = STOP_GRACE_SECONDS) -> None:
    """Await a connector's `run`; once `stop` is set, give it `grace` seconds, then cancel.

    Why: a connector stops by itself at its next wait, but SIGTERM must end the command
    within 5 s whatever the connector is waiting on (a peer that never answers, a blocked
    flush). Cancelled means its last position is not saved: the next start replays a
    little (at least once), never skips.
    """
    task = asyncio.ensure_future(run)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            done, _ = await asyncio.wait({task}, timeout=grace)
            if not done:
                log.warning("%s: the connector did not stop within %g s of the signal; "
                            "cancelled (its last position is replayed at the next start)",
                            source, grace)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return
        task.result()
    finally:
        stopping.cancel()
        await asyncio.gather(stopping, return_exceptions=True)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def run_ingest(connector: Connector, sink: EventWriter, metrics_port: int,
               metrics_host: str = "127.0.0.1",
               metrics: SourceMetrics | None = None) -> int:
    """Serve /metrics, run `connector` until SIGINT/SIGTERM, flush, close: 0 on a clean stop.

    The connector returns after its own flush when the stop event is set; the sink is then
    flushed once more (events a connector emitted after its last flush) and closed. A
    failing final flush (broker gone) ends with one line on stderr and exit 75.
    """
    from streams.plumbing.web import WebServer

    metrics = metrics or SourceMetrics()
    metered = MeteredSink(sink, metrics, connector.source)
    server = WebServer(metrics.registry, host=metrics_host, port=metrics_port)
    try:
        port = server.start()
    except OSError as exc:
        raise ConfigError(f"metrics_port: cannot listen on {metrics_host}:{metrics_port} "
                          f"({exc.strerror or exc}). Fix: pick a free port with "
                          "--metrics-port") from None
    print(f"brandpulse ingest {connector.source}: metrics on "
          f"http://{metrics_host}:{port}/metrics", flush=True)

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            await run_until_stopped(connector.run(metered, stop), stop, connector.source)
            await asyncio.wait_for(metered.flush(), FINAL_FLUSH_SECONDS)
            try:
                await asyncio.wait_for(sink.close(), FINAL_FLUSH_SECONDS)
            except (SinkUnavailable, TimeoutError):
                return CLOSED_LATE  # every event is saved; only the client's goodbye hangs
        except (SinkUnavailable, TimeoutError) as exc:
            reason = exc if isinstance(exc, SinkUnavailable) else (
                f"the final flush took over {FINAL_FLUSH_SECONDS:g} s")
            print(f"brandpulse ingest {connector.source}: events not saved: {reason}",
                  file=sys.stderr)
            return EX_TEMPFAIL
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        return 0

    loop = asyncio.new_event_loop()
    try:
        code = loop.run_until_complete(main())
    finally:
        server.stop()
    if code != 0:
        code = 0 if code == CLOSED_LATE else code
        # A Kafka client thread may still wait on a broker that is gone (its close has a
        # 30 s timeout) and the interpreter would join it at exit: the stop must take
        # under 5 s, and the cursor was not saved, so the next start replays those events.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    loop.close()
    return code
