"""Scheduled posts: validated like other input, queued per brand, persisted one record each,
and one alarm per brand when a crisis makes queued posts tone-deaf."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from streams.core.scheduled import GRACE_SECONDS, MAX_SCHEDULED_PER_BRAND
from streams.core.sla_records import RecordTag
from streams.engine import Engine
from streams.events import PostWithdrawal, Rejection, RejectReason, ScheduledPost, Side
from streams.metrics import BrandpulseMetrics
from streams.wire import (
    decode_input,
    decode_state,
    encode_state_key,
    encode_state_value,
    format_rfc3339,
    schedule_to_dict,
)
from tests.unit.test_behaviour import BRANDS, HOUR, T0, declared, post

DAY = 86400.0


def record(id: str, text: str, at: float, created: float = T0, kind: str = "scheduled",
           **extra: Any) -> bytes:
    body = {"id": id, "brand": "retail", "platform": "twitter", "author": "retail",
            "text": text, "created_at": format_rfc3339(created), "kind": kind,
            "scheduled_at": format_rfc3339(at), **extra}
    return orjson.dumps(body)


def decode(raw: bytes) -> Any:
    return decode_input(raw, Side.BRAND, BRANDS, 64 * 1024)


def scheduled(id: str, text: str, at: float) -> ScheduledPost:
    decoded = decode(record(id, text, at))
    assert isinstance(decoded, ScheduledPost)
    return decoded


def test_scheduled_and_withdrawn_records_decode_and_roundtrip() -> None:
    post_ = scheduled("s1", "Big sale", T0 + 3 * HOUR)
    assert (post_.brand, post_.created_at, post_.scheduled_at) == ("retail", T0, T0 + 3 * HOUR)
    assert decode(orjson.dumps(schedule_to_dict(post_))) == post_
    gone = decode(orjson.dumps({"id": "s1", "brand": "retail", "platform": "twitter",
                                "kind": "withdrawn", "created_at": format_rfc3339(T0)}))
    assert gone == PostWithdrawal("s1", "retail", "twitter", T0)
    assert decode(orjson.dumps(schedule_to_dict(gone))) == gone


@pytest.mark.parametrize(("raw", "reason", "words"), [
    (record("s", "x", T0 + 400 * DAY), RejectReason.FUTURE_TIMESTAMP, "limit 90 days"),
    (record("s", "x", T0, kind="draft"), RejectReason.SCHEMA, "scheduled, withdrawn"),
    (record("s", "x", T0, in_reply_to="m1"), RejectReason.SCHEMA, "in_reply_to"),
    (record("s", "x", T0, scheduled_at="soon"), RejectReason.SCHEMA, "scheduled_at"),
    (record("s", "x", T0, scheduled_at=None), RejectReason.SCHEMA, "scheduled_at"),
    (record("s", "x", T0, brand="nobody"), RejectReason.UNKNOWN_BRAND, "nobody"),
])
def test_bad_scheduled_records_are_rejected_with_a_reason(raw: bytes, reason: RejectReason,
                                                          words: str) -> None:
    rejection = decode(raw)
    assert isinstance(rejection, Rejection)
    assert rejection.reason is reason and words in rejection.detail


def crisis_engine() -> Engine:
    engine = Engine(BRANDS)
    engine.ingest(post("retail", "old", "Hello", T0), T0)
    return engine


def test_a_crisis_turns_tone_deaf_scheduled_posts_into_one_alarm() -> None:
    engine = crisis_engine()
    for id, text, at in [("a", "Flash sale: 30% off, shop now!", T0 + HOUR),
                         ("b", "Storm sale! Free shipping today", T0 + 2 * HOUR),
                         ("c", "Bored by the storm? lol", T0 + 3 * HOUR),
                         ("d", "Stay safe: our stores close early, thoughts with you", T0 + HOUR),
                         ("e", "Flash sale: 30% off, shop now!", T0 + 3 * DAY)]:
        assert engine.admit(scheduled(id, text, at), T0) is None
        engine.ingest(scheduled(id, text, at), T0)
    calm = engine.snapshot("retail", T0).scheduled
    assert (calm.queued, calm.tone_deaf) == (5, 0)
    declared(engine, "Storm Ciaran", T0 - HOUR, ("storm",), ("StormCiaran",))
    alarm = engine.snapshot("retail", T0).scheduled
    assert (alarm.queued, alarm.tone_deaf, alarm.crisis) == (5, 3, "Storm Ciaran")
    assert alarm.next_at == T0 + HOUR and alarm.post_ids == ("a", "b", "c")
    engine.ingest(post("retail", "a", "Flash sale: 30% off, shop now!", T0 + HOUR), T0 + HOUR)
    engine.ingest(PostWithdrawal("b", "retail", "twitter", T0 + HOUR), T0 + HOUR)
    after = engine.snapshot("retail", T0 + HOUR).scheduled
    assert (after.queued, after.tone_deaf, after.post_ids) == (3, 1, ("c",))


def test_the_alarm_is_exported_with_bounded_labels() -> None:
    engine = crisis_engine()
    engine.ingest(scheduled("a", "Flash sale: 30% off, shop now!", T0 + HOUR), T0)
    declared(engine, "Storm Ciaran", T0 - HOUR, ("storm",))
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.initialise(("posts", "messages"), BRANDS.get)
    config = BRANDS.get("retail")
    assert config is not None
    metrics.own_brand(config)
    snapshot = engine.snapshot("retail", T0)
    metrics.attach_brand_snapshots(lambda: ((snapshot, 3600.0),))
    get = metrics.registry.get_sample_value
    assert get("brandpulse_scheduled_posts", {"brand": "retail"}) == 1
    assert get("brandpulse_scheduled_tone_deaf_posts", {"brand": "retail"}) == 1
    assert get("brandpulse_scheduled_tone_deaf_next_seconds", {"brand": "retail"}) == HOUR
    assert get("brandpulse_scheduled_tone_deaf_info",
               {"brand": "retail", "crisis": "Storm Ciaran"}) == 1


def test_scheduled_posts_survive_a_restart_and_leave_a_tombstone() -> None:
    engine = crisis_engine()
    for id in ("a", "b"):
        engine.ingest(scheduled(id, "Flash sale: 30% off, shop now!", T0 + HOUR), T0)
    rows = []
    for brand, key, row in engine.take_changes():
        assert row is not None
        decoded = decode_state(encode_state_key(brand, key), encode_state_value(row), BRANDS,
                               T0 + 300)
        assert not isinstance(decoded, Rejection), decoded
        rows.append(decoded[1:])
    assert sorted(r[2] for r in rows if r[1] is RecordTag.SCHEDULED) == ["a", "b"]
    restored = Engine(BRANDS)
    restored.restore_brand("retail", rows, T0)
    declared(restored, "Storm", T0 - HOUR, ("storm",))
    assert restored.snapshot("retail", T0).scheduled.tone_deaf == 2
    restored.ingest(PostWithdrawal("a", "retail", "twitter", T0), T0)
    assert [(key, row) for _, key, row in restored.take_changes()] == [
        ((0, RecordTag.SCHEDULED, "a"), None)]


@pytest.mark.parametrize(("hour", "row", "words"), [
    (1, ["twitter", T0, T0 + HOUR, "retail", "x"], "hour 0"),
    (0, ["twitter", T0, T0 + 400 * DAY, "retail", "x"], "bad scheduled row"),
    (0, ["twitter", T0, T0 + HOUR, "retail", "x" * 2001], "bad scheduled row"),
    (0, ["myspace", T0, T0 + HOUR, "retail", "x"], "bad scheduled row"),
    (0, ["twitter", T0, T0 + HOUR, "retail"], "5 fields"),
])
def test_bad_scheduled_state_rows_are_refused(hour: int, row: list[Any], words: str) -> None:
    key = encode_state_key("retail", (hour, RecordTag.SCHEDULED, "a"))
    decoded = decode_state(key, encode_state_value(row), BRANDS, T0 + 300)
    assert isinstance(decoded, Rejection) and words in decoded.detail


def test_a_full_queue_refuses_more_and_old_posts_expire() -> None:
    engine = crisis_engine()
    for i in range(MAX_SCHEDULED_PER_BRAND):
        engine.ingest(scheduled(f"s{i}", "Hello", T0 + HOUR), T0)
    refused = engine.admit(scheduled("one-more", "Hello", T0 + HOUR), T0)
    assert refused is not None and refused.reason is RejectReason.OVERSIZED
    assert "1000 scheduled posts" in refused.detail
    assert engine.admit(scheduled("s1", "Re-scheduled", T0 + 2 * HOUR), T0) is None
    list(engine.take_changes())
    expired = engine.snapshot("retail", T0 + HOUR + GRACE_SECONDS + 1).scheduled
    assert expired.queued == 0
    assert sum(1 for _, _, row in engine.take_changes() if row is None) == \
        MAX_SCHEDULED_PER_BRAND
