"""A changelog written by an earlier revision restores with this code, identically.

tests/data/changelog_c6c5e86.json.gz was written by revision c6c5e86, the last before the
behaviour features became named records kept beside the SLA book (issue 25), with rows in
the shapes of earlier versions mixed in (tests/data/make_changelog_fixture.py). This code
restores it, runs the rest of the day, and must write back the very changelog and show the
very numbers that the old code did. Both run on the lexicon alone
(`BRANDPULSE_SENTIMENT_MODEL=lexicon` when the fixture is written), so that retraining the
sentiment model does not change what is compared.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from streams.config import parse_brands
from streams.core.features import AudienceFeatures, FeatureLog, PostFeatures
from streams.core.sentiment import set_model
from streams.engine import Engine
from streams.events import AudienceKind, Rejection, Side, SocialEvent
from streams.wire import decode_state, encode_state_key, encode_state_value

FIXTURE = Path(__file__).parent.parent / "data" / "changelog_c6c5e86.json.gz"


@pytest.fixture(autouse=True)
def _lexicon_only() -> Any:
    previous = set_model(None)
    yield
    set_model(previous)


def _load() -> dict[str, Any]:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as handle:
        fixture: dict[str, Any] = json.load(handle)
    return fixture


def _persist(engine: Engine, table: dict[bytes, bytes]) -> None:
    for brand, key, row in engine.take_changes():
        raw = encode_state_key(brand, key)
        if row is None:
            table.pop(raw, None)
        else:
            table[raw] = encode_state_value(row)


def _event(fields: list[Any]) -> SocialEvent:
    side, *rest = fields
    kind = rest[7]
    return SocialEvent(Side(side), *rest[:7], None if kind is None else AudienceKind(kind),
                       *rest[8:])


def test_a_changelog_written_before_the_feature_records_restores_identically() -> None:
    fixture = _load()
    brands = parse_brands(fixture["brands"])
    wall = fixture["restore_wall"]
    table = {k.encode(): v.encode() for k, v in fixture["changelog"]}
    rows: dict[str, list[Any]] = {}
    for key, value in table.items():
        decoded = decode_state(key, value, brands, wall + 300)
        assert not isinstance(decoded, Rejection), decoded
        rows.setdefault(decoded[0], []).append(decoded[1:])
    legacy = [r for brand_rows in rows.values() for _, _, _, r in brand_rows
              if (len(r) == 7 and r[6] is not None and len(r[6]) == 6) or len(r) == 4]
    assert len(legacy) > 20  # old shapes are in it
    engine = Engine(brands)
    for brand, brand_rows in rows.items():
        engine.restore_brand(brand, brand_rows, wall)
    engine.stream_time = wall
    for i, fields in enumerate(fixture["events_after"]):
        event = _event(fields)
        engine.stream_time = max(engine.stream_time, event.created_at)
        engine.ingest(event, engine.stream_time)
        engine.advance(engine.stream_time)
        if i % 50 == 49:
            _persist(engine, table)
    _persist(engine, table)
    digest = hashlib.sha256(b"".join(k + b"\0" + table[k] + b"\0" for k in sorted(table)))
    assert digest.hexdigest() == fixture["changelog_after_sha256"]
    end = fixture["end"]
    for brand, expected in fixture["numbers"].items():
        snapshot = engine.snapshot(brand, engine.brand_now(brand, end))
        b = snapshot.behaviour
        status = engine.behaviour.brand(brand).crisis.status()
        got = repr([
            sorted((p, x.unanswered, x.oldest_age_seconds, x.at_risk)
                   for p, x in snapshot.backlog.items()),
            sorted((k.value, v) for k, v in b.sentiment.items()), b.templated_reply_ratio,
            b.templated_reply_count, b.topic_alignment, b.audience_replies_per_broadcast,
            b.top_audience_terms, status.active, status.vocabulary_rate, status.volume,
            status.signals])
        assert got == expected, brand


def test_features_are_named_in_code_and_plain_tuples_at_rest() -> None:
    """The log keeps exact tuples (the collector untracks them); 6-field features of old
    rows stay 6 fields, so a restored record is written back as it was read."""
    log = FeatureLog()
    new = AudienceFeatures("en", -0.5, True, False, False, ("storm",), True, ("sandy",))
    old = AudienceFeatures.from_rest(["fr", 0.25, False, False, True, ["pluie"]])
    post = PostFeatures.from_rest([["sale"], None])
    log.keep(Side.AUDIENCE, 1, "m1", new)
    log.keep(Side.AUDIENCE, 1, "m2", old)
    log.keep(Side.BRAND, 2, "p1", post)
    assert type(log.get(Side.AUDIENCE, 1, "m1")) is tuple
    assert log.get(Side.AUDIENCE, 1, "m1") == tuple(new)
    assert log.get(Side.AUDIENCE, 1, "m2") == ("fr", 0.25, False, False, True, ("pluie",))
    assert old.static_signal is None and old.hashtags is None
    assert log.get(Side.BRAND, 2, "p1") == (("sale",), None)
    log.forget_before(2)
    assert log.get(Side.AUDIENCE, 1, "m1") is None and len(log) == 1
