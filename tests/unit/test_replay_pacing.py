"""Replay without a broker: pacing arithmetic, topic/key routing, delivery accounting."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from streams.commands.replay import (
    Pacer,
    bootstrap_servers,
    format_progress,
    make_producer,
    next_target,
    replay,
)
from streams.config import TopicNames
from streams.events import AudienceKind, Side, SocialEvent
from streams.wire import encode_event


def _event(side: Side, n: int, at: float, brand: str = "acme") -> SocialEvent:
    kind = AudienceKind.MENTION if side is Side.AUDIENCE else None
    return SocialEvent(side, f"e{n}", brand, "twitter", "someone", "hi", at, kind=kind)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, fn: Callable[..., Any]) -> FakeFuture:
        if self.error is None:
            fn(object())
        return self

    def add_errback(self, fn: Callable[..., Any]) -> FakeFuture:
        if self.error is not None:
            fn(self.error)
        return self


class FakeProducer:
    def __init__(self, clock: FakeClock | None = None, fail_ids: tuple[str, ...] = ()) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, float | None]] = []
        self.clock = clock
        self.fail_ids = fail_ids
        self.flushed = self.closed = False

    def send(self, topic: str, value: bytes | None = None,
             key: bytes | None = None) -> FakeFuture:
        self.records.append((topic, key, value, self.clock.now if self.clock else None))
        failed = any(f'"id":"{i}"'.encode() in (value or b"") for i in self.fail_ids)
        return FakeFuture(RuntimeError("broker said no") if failed else None)

    def flush(self, timeout: float | None = None) -> None:
        self.flushed = True

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bootstrap_servers_from_broker_urls() -> None:
    assert bootstrap_servers("kafka://127.0.0.1:9092") == ["127.0.0.1:9092"]
    assert bootstrap_servers("kafka://a:1;kafka://b:2") == ["a:1", "b:2"]
    assert bootstrap_servers("kafka://a:1;b:2,c") == ["a:1", "b:2", "c:9092"]
    with pytest.raises(ValueError):
        bootstrap_servers("kafka://")


def test_next_target_scales_caps_and_ignores_backwards_time() -> None:
    assert next_target(10.0, 0.0, 60.0, speed=60.0) == 11.0
    assert next_target(10.0, 0.0, 3600.0, speed=2.0, max_gap_seconds=5.0) == 15.0
    assert next_target(10.0, 50.0, 40.0, speed=1.0) == 10.0


def test_pacer_without_speed_never_waits() -> None:
    pacer = Pacer(None)
    assert [pacer.delay(t, 0.0) for t in (0.0, 1e6, 2e6)] == [0.0, 0.0, 0.0]


def test_pacer_waits_the_scaled_gap_minus_time_already_spent() -> None:
    pacer = Pacer(speed=10.0)
    assert pacer.delay(1000.0, now=50.0) == 0.0      # first event anchors the schedule
    assert pacer.delay(1010.0, now=50.0) == 1.0      # 10 s of event time at x10
    assert pacer.delay(1030.0, now=51.5) == 1.5      # due at 53.0, 0.5 s already spent
    assert pacer.delay(1020.0, now=53.0) == 0.0      # out of order: send now
    assert pacer.delay(1040.0, now=53.0) == 1.0      # measured from 1030, not 1020


def test_pacer_forgets_debt_beyond_max_lag() -> None:
    pacer = Pacer(speed=1.0, max_lag_seconds=1.0)
    pacer.delay(0.0, now=0.0)
    assert pacer.delay(1.0, now=30.0) == 0.0  # stalled 29 s behind schedule
    # Re-anchored at now - 1: the next 2 s gap is honoured as 1 s, not swallowed by the debt.
    assert pacer.delay(3.0, now=30.0) == pytest.approx(1.0)


def test_pacer_rejects_nonpositive_speed() -> None:
    with pytest.raises(ValueError):
        Pacer(0.0)


def test_replay_routes_by_side_keys_by_brand_and_encodes() -> None:
    events = [_event(Side.BRAND, 1, 0.0, "acme"), _event(Side.AUDIENCE, 2, 1.0, "zeta"),
              _event(Side.AUDIENCE, 3, 2.0, "acme")]
    topics = TopicNames("posts", "messages", "dlq")
    producer = FakeProducer()
    stats = replay(events, "kafka://unused:1", topics, producer=producer, progress=False)
    assert [(t, k, v) for t, k, v, _ in producer.records] == [
        ("posts", b"acme", encode_event(events[0])),
        ("messages", b"zeta", encode_event(events[1])),
        ("messages", b"acme", encode_event(events[2])),
    ]
    assert (stats.sent, stats.brand_posts, stats.audience_messages) == (3, 1, 2)
    assert stats.delivered == 3 and stats.failed == 0
    assert producer.flushed and not producer.closed  # a caller's producer stays open


def test_replay_counts_failed_deliveries() -> None:
    events = [_event(Side.AUDIENCE, n, float(n)) for n in range(5)]
    stats = replay(events, "kafka://x:1", producer=FakeProducer(fail_ids=("e1", "e3")),
                   progress=False)
    assert (stats.sent, stats.delivered, stats.failed) == (5, 3, 2)
    assert stats.errors == ["RuntimeError: broker said no"] * 2


def test_replay_paces_on_event_time_with_capped_gaps() -> None:
    clock = FakeClock()
    producer = FakeProducer(clock)
    times = [0.0, 60.0, 120.0, 120.0, 86_400.0, 86_460.0]
    events = [_event(Side.AUDIENCE, n, t) for n, t in enumerate(times)]
    stats = replay(events, "kafka://x:1", speed=60.0, producer=producer, progress=False,
                   max_gap_seconds=5.0, clock=clock, sleep=clock.sleep)
    sent_at = [at - 100.0 for _, _, _, at in producer.records]  # type: ignore[operator]
    # One second per event-time minute; the overnight gap is capped at 5 s.
    assert sent_at == pytest.approx([0.0, 1.0, 2.0, 2.0, 7.0, 8.0])
    assert stats.elapsed_seconds == pytest.approx(8.0)


def test_replay_as_fast_as_possible_never_sleeps() -> None:
    clock = FakeClock()
    events = [_event(Side.BRAND, n, n * 3600.0) for n in range(4)]
    replay(events, "kafka://x:1", producer=FakeProducer(clock), progress=False,
           clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []


def test_progress_bar_only_on_a_tty_and_not_when_quiet() -> None:
    events = [_event(Side.AUDIENCE, n, float(n)) for n in range(3)]
    plain, tty, quiet = io.StringIO(), FakeTty(), FakeTty()
    replay(events, "kafka://x:1", producer=FakeProducer(), stream=plain)
    replay(iter(events), "kafka://x:1", producer=FakeProducer(), stream=tty, total=3)
    replay(events, "kafka://x:1", producer=FakeProducer(), stream=quiet, quiet=True)
    assert plain.getvalue() == "" and quiet.getvalue() == ""
    assert "3/3" in tty.getvalue() and tty.getvalue().endswith("\n")


def test_format_progress_shows_count_rate_and_eta() -> None:
    line = format_progress(50, 200, elapsed=5.0, width=10)
    assert "50/200" in line and "25.0%" in line and "10 ev/s" in line and "ETA 15s" in line
    assert line.count("█") == 2
    assert "ETA ?" in format_progress(0, 10, elapsed=0.0)
    assert format_progress(1_500, None, elapsed=3.0).startswith("1,500 events")


def test_producer_is_plain_not_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    import kafka

    captured: dict[str, Any] = {}
    monkeypatch.setattr(kafka, "KafkaProducer", lambda **config: captured.update(config))
    make_producer("kafka://a:1;kafka://b:2", batch_size=1024)
    assert captured["bootstrap_servers"] == ["a:1", "b:2"]
    assert captured["enable_idempotence"] is False  # kafka-python 3 defaults to True
    assert captured.get("transactional_id") is None
    assert captured["acks"] in (1, "all", -1) and captured["batch_size"] == 1024
