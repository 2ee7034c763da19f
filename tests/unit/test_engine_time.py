"""Event time per brand, bounded by the wall clock: one record never blinds the monitor."""

from __future__ import annotations

import math
from typing import Any

import pytest

from streams.commands.report import build_report
from streams.config import parse_brands
from streams.core.sla_observations import SlaBreached
from streams.engine import Engine
from streams.events import Rejection, RejectReason, Side, SocialEvent
from streams.wire import parse_rfc3339

BRANDS = parse_brands({"brand": [
    {"name": name, "handles": {"twitter": [name.capitalize()]}, "sla_seconds": 1800}
    for name in ("acme", "globex", "initech")]})
T0 = parse_rfc3339("2026-11-02T09:00:00Z")
WALL = parse_rfc3339("2026-11-03T09:00:00Z")  # when the "file" is read
FUTURE = ("9999-12-31T23:59:59-23:59", "2100-01-01T00:00:00Z")


def audience(id: str, brand: str, at: float, text: str | None = None) -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, id, brand, "twitter", "bob",
                       text or f"@{brand.capitalize()} my order is late", at)


def reply(id: str, brand: str, at: float, to: str) -> SocialEvent:
    return SocialEvent(Side.BRAND, id, brand, "twitter", brand, "Sorry, we are on it", at,
                       in_reply_to=to)


def day_of_traffic() -> list[SocialEvent]:
    """Three brands, some messages answered in time, some late, some never."""
    events: list[SocialEvent] = []
    for b, brand in enumerate(("acme", "globex", "initech")):
        for i in range(12):
            at = T0 + i * 600 + b
            events.append(audience(f"{brand}-m{i}", brand, at))
            if i % 3 == 0:
                events.append(reply(f"{brand}-r{i}", brand, at + 300, f"{brand}-m{i}"))
            elif i % 3 == 1:
                events.append(reply(f"{brand}-r{i}", brand, at + 2 * 3600, f"{brand}-m{i}"))
    events.sort(key=lambda e: e.created_at)
    return events


def forged(created_at: str) -> SocialEvent:
    return audience("evil", "acme", parse_rfc3339(created_at), "@Acme hello from the future")


@pytest.mark.parametrize("created_at", FUTURE)
def test_a_future_record_is_rejected_and_changes_no_brand_in_the_report(created_at: str) -> None:
    clean = build_report(day_of_traffic(), BRANDS, wall=WALL)
    events = day_of_traffic()
    events.insert(5, forged(created_at))
    poisoned = build_report(events, BRANDS, wall=WALL)
    assert poisoned["rejected"] == {"future_timestamp": 1}
    assert poisoned["brands"] == clean["brands"]
    assert clean["brands"]["acme"]["unanswered"] == 4  # the data has a live backlog


def test_admit_refuses_beyond_the_skew_and_accepts_within() -> None:
    engine = Engine(BRANDS, max_future_skew_seconds=300)
    assert engine.admit(audience("a", "acme", WALL + 299), WALL) is None
    rejection = engine.admit(audience("b", "acme", WALL + 301), WALL)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is RejectReason.FUTURE_TIMESTAMP
    rejection = engine.admit(forged(FUTURE[0]), WALL)  # year 10000 UTC: no crash
    assert isinstance(rejection, Rejection)


def test_one_brand_never_moves_another_brands_clock() -> None:
    engine = Engine(BRANDS)
    engine.ingest(audience("a1", "acme", T0), WALL)
    engine.ingest(audience("g1", "globex", T0 + 4 * 3600), WALL)  # globex is 4 h ahead
    # acme's message is due at T0 + 30 min of acme's time: not breached by globex's clock.
    assert engine.brand_now("acme", WALL) == T0
    assert engine.advance(WALL) == []
    assert engine.snapshot("acme", engine.brand_now("acme", WALL)).backlog["twitter"] \
        .unanswered == 1


def test_a_quiet_brand_breaches_on_wall_time_through_the_deadline_heap() -> None:
    engine = Engine(BRANDS, breach_grace_seconds=60)
    engine.ingest(audience("a1", "acme", T0), WALL)
    assert engine.advance(WALL + 1800) == []  # due at 30 min + 60 s grace of idle time
    assert engine.advance(WALL + 1860) == [SlaBreached("acme", "twitter")]
    assert engine.advance(WALL + 7200) == []  # counted once


def test_advance_only_visits_brands_with_something_due() -> None:
    many = parse_brands({"brand": [{"name": f"b{i}", "handles": {"twitter": [f"B{i}"]}}
                                   for i in range(200)]})
    engine = Engine(many)
    for i in range(200):
        engine.ingest(audience(f"m{i}", f"b{i}", T0, f"@B{i} help"), WALL)
    visited: list[Any] = []
    for name in engine.active_brands():
        book = engine.book(name)
        original = book.advance

        def spy(now: float, original: Any = original, name: str = name) -> Any:
            visited.append(name)
            return original(now)
        book.advance = spy  # type: ignore[method-assign]
    engine.advance(WALL + 10)  # nothing due yet
    assert visited == []
    engine.advance(WALL + 3600 + 61)  # default SLA 1 h: every brand is due once
    assert len(visited) == 200


def test_stream_time_of_an_offline_run_ignores_rejected_records() -> None:
    engine = Engine(BRANDS)
    list(engine.ingest_all([audience("a1", "acme", T0), forged(FUTURE[1])], wall=WALL))
    assert engine.stream_time == T0
    assert not math.isinf(engine.brand_now("acme", engine.stream_time))


def test_an_event_older_than_retention_is_late_for_a_brand_with_no_state() -> None:
    """A 1970 event on a brand with no clock yet must not open its backlog (and then breach
    at the next event): late by the wall clock, counted in the brand's totals."""
    engine = Engine(BRANDS)
    observations = engine.ingest(audience("ancient", "acme", 0.0), WALL)
    assert [type(o).__name__ for o in observations] == ["LateEvent"]
    assert engine.backlog("acme", WALL)["twitter"].unanswered == 0
    retention = engine.book("acme").retention_seconds
    just_late = engine.ingest(audience("old", "acme", WALL - retention - 1), WALL)
    assert [type(o).__name__ for o in just_late] == ["LateEvent"]
    kept = engine.ingest(audience("recent", "acme", WALL - retention + 60), WALL)
    assert [type(o).__name__ for o in kept][:1] == ["MessageCounted"]
    assert engine.totals("acme").count("late_events") == 2
    assert engine.backlog("acme", WALL)["twitter"].unanswered == 1
    # and no phantom breach later: only the kept message is ever judged
    found = engine.advance(WALL + 2 * 86400)
    assert sum(isinstance(o, SlaBreached) for o in found) <= 1


def test_a_brand_whose_events_were_all_late_has_a_snapshot() -> None:
    """Ancient events create the brand's state but never start its clock: the gauge tick
    snapshots it at the wall clock ("nothing yet"); at -inf the snapshot crashed the worker
    (the timer's exception stops it)."""
    engine = Engine(BRANDS)
    engine.ingest(audience("ancient", "acme", 0.0), WALL)
    now = engine.brand_now("acme", WALL)
    assert now == WALL
    snapshot = engine.snapshot("acme", now)
    assert snapshot.brand == "acme" and not snapshot.behaviour.crisis_active
