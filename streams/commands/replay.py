"""Produce events to the two input topics, as fast as possible or paced on event time.

Replay is how the demo, the benchmarks and the TWCS evaluation feed the workers: brand
posts and inbox status changes go to `TopicNames.brand_posts`, audience messages to
`TopicNames.audience_messages`, keyed by brand so both topics stay co-partitioned. Pacing
reproduces the event-time gaps divided by `speed`, with long gaps capped so a night without
tweets does not stall a demo.

The producer is deliberately plain (no idempotence, no transactions): the test broker
(tansu 0.6) supports neither, and ordering per key is good enough because the workers
must already cope with out-of-order input.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from streams.config import TopicNames
from streams.events import ConversationStatus, RecordedEvent, Side
from streams.plumbing.broker import bootstrap_servers
from streams.wire import encode_record

DEFAULT_MAX_GAP_SECONDS = 5.0  # wall-clock cap for any single event-time gap
DEFAULT_MAX_LAG_SECONDS = 1.0  # behind schedule by more than this: forget the debt


class _Future(Protocol):
    def add_callback(self, fn: Callable[..., Any]) -> Any: ...
    def add_errback(self, fn: Callable[..., Any]) -> Any: ...


class Producer(Protocol):
    """The part of kafka-python's `KafkaProducer` that replay uses (a fake in unit tests)."""

    def send(self, topic: str, value: bytes | None = ..., key: bytes | None = ...) -> _Future: ...
    def flush(self, timeout: float | None = ...) -> None: ...
    def close(self, timeout: float | None = ...) -> None: ...


def make_producer(broker: str, linger_ms: int = 5, batch_size: int | None = None,
                  **overrides: Any) -> Any:
    """A KafkaProducer for `broker`; idempotence off (kafka-python 3 enables it by default),
    record checksums in C (streams/plumbing/kafka_crc.py)."""
    from kafka import KafkaProducer

    from streams.plumbing.kafka_crc import use_fast_crc32c

    use_fast_crc32c()

    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(broker),
        "acks": 1,
        "linger_ms": linger_ms,
        "enable_idempotence": False,
        "client_id": "brandpulse-replay",
    }
    if batch_size is not None:
        config["batch_size"] = batch_size
    config.update(overrides)
    return KafkaProducer(**config)


def next_target(previous_target: float, previous_event_time: float, event_time: float,
                speed: float, max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS) -> float:
    """Wall-clock instant to send an event, one event-time gap after the previous send.

    The gap is divided by `speed` and capped at `max_gap_seconds`; an event older than the
    previous one (out-of-order input) goes right away, without moving the clock back.
    """
    gap = max(0.0, event_time - previous_event_time)
    return previous_target + min(gap / speed, max_gap_seconds)


@dataclass(slots=True)
class Pacer:
    """When to send each event; pure given `now`, so it is tested without sleeping."""

    speed: float | None
    max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS
    max_lag_seconds: float = DEFAULT_MAX_LAG_SECONDS
    _event_time: float | None = None
    _target: float = 0.0

    def __post_init__(self) -> None:
        if self.speed is not None and self.speed <= 0:
            raise ValueError(f"speed must be positive (or None for as fast as possible), "
                             f"got {self.speed}")

    def delay(self, event_time: float, now: float) -> float:
        """Seconds to wait before sending an event of `event_time` at wall-clock `now`."""
        if self.speed is None:
            return 0.0
        if self._event_time is None:
            self._event_time, self._target = event_time, now
            return 0.0
        target = next_target(self._target, self._event_time, event_time, self.speed,
                             self.max_gap_seconds)
        self._target = max(target, now - self.max_lag_seconds)
        self._event_time = max(self._event_time, event_time)
        return max(0.0, self._target - now)


def format_progress(sent: int, total: int | None, elapsed: float, width: int = 30) -> str:
    """One progress line: bar, count, percentage, rate and ETA (bar only when total known)."""
    rate = sent / elapsed if elapsed > 0 else 0.0
    if not total:
        return f"{sent:,} events  {rate:,.0f} ev/s  {elapsed:,.1f}s"
    done = min(sent / total, 1.0)
    filled = int(done * width)
    bar = "█" * filled + "·" * (width - filled)
    eta = (total - sent) / rate if rate > 0 else float("inf")
    eta_text = "?" if eta == float("inf") else f"{eta:,.0f}s"
    return (f"[{bar}] {sent:,}/{total:,} {done:6.1%}  {rate:,.0f} ev/s  ETA {eta_text}")


@dataclass(slots=True)
class _ProgressLine:
    """A self-rewriting stderr line, refreshed at most every `interval` seconds."""

    total: int | None
    stream: IO[str]
    started: float
    interval: float = 0.1
    _shown: float = 0.0

    def update(self, sent: int, now: float, force: bool = False) -> None:
        if force or now - self._shown >= self.interval:
            self._shown = now
            self.stream.write("\r" + format_progress(sent, self.total, now - self.started) + " ")
            self.stream.flush()

    def close(self, sent: int, now: float) -> None:
        self.update(sent, now, force=True)
        self.stream.write("\n")
        self.stream.flush()


@dataclass(slots=True)
class ReplayStats:
    """What a replay did; `failed` > 0 means the broker refused or lost some records."""

    sent: int = 0
    brand_posts: int = 0
    audience_messages: int = 0
    status_changes: int = 0  # inbox conversations resolved/reopened (brand-posts topic)
    delivered: int = 0
    failed: int = 0
    elapsed_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0

    def _ok(self, _metadata: Any) -> None:
        self.delivered += 1

    def _error(self, exc: BaseException) -> None:
        self.failed += 1
        if len(self.errors) < 10:
            self.errors.append(f"{type(exc).__name__}: {exc}")


def format_summary(stats: ReplayStats) -> str:
    """What a replay did, for people: counts, time, rate, and the first errors if any."""
    lost = stats.sent - stats.delivered
    statuses = (f", {stats.status_changes:,} inbox status changes" if stats.status_changes
                else "")
    text = (f"replay: sent {stats.sent:,} events ({stats.brand_posts:,} brand posts, "
            f"{stats.audience_messages:,} audience messages{statuses}) in "
            f"{stats.elapsed_seconds:,.1f} s "
            f"({stats.rate:,.0f} ev/s); delivered {stats.delivered:,}, failed {stats.failed:,}")
    if lost > stats.failed:
        text += f", unconfirmed {lost - stats.failed:,}"
    if stats.errors:
        text += "; first errors: " + "; ".join(stats.errors[:3])
    return text


def replay(
    events: Iterable[RecordedEvent],
    broker: str,
    topics: TopicNames | None = None,
    speed: float | None = None,
    total: int | None = None,
    progress: bool = True,
    quiet: bool = False,
    max_gap_seconds: float = DEFAULT_MAX_GAP_SECONDS,
    producer: Producer | None = None,
    flush_timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stream: IO[str] | None = None,
) -> ReplayStats:
    """Send `events` in iteration order to their topics, keyed by brand, then flush.

    `speed=None` sends as fast as possible; `speed=N` replays N times faster than event
    time. The progress bar shows on `stream` (stderr) only if it is a TTY and not `quiet`.
    A given `producer` is flushed but not closed; one made here is closed.
    """
    topics = topics or TopicNames()
    pacer = Pacer(speed, max_gap_seconds)
    if total is None and isinstance(events, Sized):
        total = len(events)
    stream = stream or sys.stderr
    owned = producer is None
    active: Producer = make_producer(broker) if producer is None else producer
    stats = ReplayStats()
    started = clock()
    bar = (_ProgressLine(total, stream, started)
           if progress and not quiet and stream.isatty() else None)
    try:
        for event in events:
            wait = pacer.delay(event.created_at, clock())
            if wait > 0.0005:
                sleep(wait)
            if isinstance(event, ConversationStatus):
                topic = topics.brand_posts
                stats.status_changes += 1
            elif event.side is Side.BRAND:
                topic = topics.brand_posts
                stats.brand_posts += 1
            else:
                topic = topics.audience_messages
                stats.audience_messages += 1
            future = active.send(topic, value=encode_record(event),
                                 key=event.brand.encode("utf-8"))
            future.add_callback(stats._ok)
            future.add_errback(stats._error)
            stats.sent += 1
            if bar is not None:
                bar.update(stats.sent, clock())
        active.flush(timeout=flush_timeout)
    finally:
        if owned:
            active.close(timeout=flush_timeout)
        stats.elapsed_seconds = clock() - started
        if bar is not None:
            bar.close(stats.sent, clock())
    return stats


def produce_raw(broker: str, topic: str, key: bytes | None, value: bytes | None,
                timeout: float = 30.0) -> tuple[int, int]:
    """Send one record as given (malformed ones included) and wait: (partition, offset)."""
    producer = make_producer(broker, linger_ms=0)
    try:
        metadata = producer.send(topic, value=value, key=key).get(timeout=timeout)
        return metadata.partition, metadata.offset
    finally:
        producer.close(timeout=timeout)
