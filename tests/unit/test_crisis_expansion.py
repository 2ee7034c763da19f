"""Stream-adaptive crisis signal (streams/core/crisis_expansion.py): hand-computed cases of
promotion, precision, expiry, the tag cap, normalisation, out-of-order input, the bound on
an adversary, and restart equivalence through the worker's persisted features."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from streams.commands.scoring import CrisisStream, score_lines
from streams.config import parse_brands
from streams.core.behaviour import BehaviourBook, BrandBehaviour
from streams.core.crisis_expansion import (
    CrisisExpansion,
    ExpansionParams,
    message_hashtags,
    support_key,
)
from streams.core.features import AudienceFeatures
from streams.core.sla_records import RecordTag
from streams.core.text import prepare
from streams.engine import Engine
from streams.events import Rejection, Side, SocialEvent
from streams.wire import decode_state, encode_state_key, encode_state_value
from tests.unit.test_state_restore import persist, restore

H = 3600.0
T0 = 1_780_000_000.0 - 1_780_000_000.0 % H  # an hour boundary
P = ExpansionParams()  # window 24 h, hour buckets, support 3, precision 0.3


def test_hashtags_are_folded_so_spellings_of_one_tag_are_one() -> None:
    doc = prepare("#LacMégantic #lac_megantic #LACMEGANTIC #Prière #2013 #a x#y")
    assert message_hashtags(doc) == ("lacmegantic", "priere")
    assert message_hashtags(prepare("no tag here")) == ()
    many = " ".join(f"#tag{i}" for i in range(20))
    assert len(message_hashtags(prepare(many))) == 8


def test_a_tag_is_promoted_by_three_distinct_static_hits_and_enough_precision() -> None:
    e = CrisisExpansion(P)
    assert e.observe(T0, ("x",), True, key=1)
    assert e.observe(T0 + 1, ("x",), True, key=1)  # the same content again: one support
    assert not e.observe(T0 + 2, ("x",), False)  # support 1 < 3
    assert e.observe(T0 + 3, ("x",), True, key=2)
    assert not e.promoted("x")  # support 2
    assert e.observe(T0 + 4, ("x",), True, key=3)
    assert e.promoted("x")  # support 3, precision 4 / 5
    assert e.observe(T0 + 5, ("x", "other"), False)  # expanded by its promoted tag
    assert not e.promoted("other")  # never promoted by an expanded message


def test_precision_is_the_share_of_the_tags_window_messages_with_the_static_signal() -> None:
    e = CrisisExpansion(P)
    for key in (1, 2, 3):
        e.observe(T0, ("x",), True, key=key)
    decisions = [e.observe(T0 + i, ("x",), False) for i in range(1, 9)]
    # Message n (non-static) is decided with 3 hits among 3 + n messages: 3/10 = 0.3 passes
    # (n = 7), 3/11 fails (n = 8).
    assert decisions == [True] * 7 + [False]
    assert not e.promoted("x")


def test_counts_expire_with_the_window_and_the_tag_is_forgotten() -> None:
    e = CrisisExpansion(P)
    for key in (1, 2, 3):
        e.observe(T0 + key, ("x",), True, key=key)  # hour bucket 0
    assert e.observe(T0 + 24 * H - 1, ("x",), False)  # still inside the 24 h window
    # At T0 + 25 h the window starts at hour 2: hour 0 is gone, the hour-23 message stays.
    assert not e.observe(T0 + 25 * H, ("y",), False)
    assert not e.promoted("x")
    assert e.state()["x"] == (((int(T0 // H) + 23, 1, 0),), ())
    e.observe(T0 + 50 * H, (), False)  # the window starts at hour 27: y (hour 25) goes too
    assert len(e) == 0


def test_the_tag_cap_forgets_the_least_used_half() -> None:
    e = CrisisExpansion(ExpansionParams(max_tags=4))
    for i in range(3):
        e.observe(T0 + i, ("busy",), False)
    for tag in ("b", "c", "d"):
        e.observe(T0 + 10, (tag,), False)
    e.observe(T0 + 20, ("e",), False)  # full: b and c (1 message, oldest name first) go
    assert sorted(e.state()) == ["busy", "d", "e"]
    for i in range(10_000):  # a flood of one-off tags never exceeds the cap
        e.observe(T0 + 30 + i / 100, (f"spam{i}",), False)
        assert len(e) <= 4
    assert "busy" in e.state()  # the tag many messages carry survives the flood


def _stream(seed: int) -> list[tuple[float, tuple[str, ...], bool, int]]:
    rng = random.Random(seed)
    out = []
    for _ in range(400):
        tags = tuple(rng.sample(["a", "b", "c", "d", "e"], rng.randint(0, 2)))
        base = rng.random() < 0.4
        out.append((T0 + rng.uniform(0, 60 * H), tags, base, rng.randint(0, 30)))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_late_events_leave_the_state_of_a_time_ordered_run(seed: int) -> None:
    items = _stream(seed)
    ordered = CrisisExpansion(P)
    for at, tags, base, key in sorted(items):
        ordered.observe(at, tags, base, key)
    # Arrival order: shuffled, late by up to 3 hours (some beyond the window by the end).
    arrived = sorted(items, key=lambda item: item[0] + random.Random(item[3]).uniform(0, 3 * H))
    late = CrisisExpansion(P)
    for at, tags, base, key in arrived:
        late.observe(at, tags, base, key)
    late.observe(ordered.watermark, (), False)
    assert late.state() == ordered.state()
    assert late.observe(float("nan"), ("a",), True) is True  # no time: no state change
    assert late.state() == ordered.state()


@pytest.mark.parametrize("seed", range(20))
def test_a_writer_of_crisis_messages_adds_at_most_7_per_3_of_its_own(seed: int) -> None:
    """k "#BrandX explosion dead" messages turn at most k (1 - P) / P ordinary #brandx
    messages into crisis messages (P = 0.3: 7k/3), whatever the interleaving."""
    rng = random.Random(seed)
    k = rng.randint(3, 40)
    ordinary = rng.randint(0, 300)
    stream = CrisisStream()
    kinds = ["attack"] * k + ["ordinary"] * ordinary
    rng.shuffle(kinds)
    expanded = 0
    for i, kind in enumerate(kinds):
        at = T0 + i * rng.uniform(0, 120)
        if kind == "attack":
            text = f"#BrandX explosion dead {rng.randint(0, 10**6)}"  # all distinct
            assert stream.observe(prepare(text), at)
        else:
            expanded += stream.observe(prepare(f"#brandx my order {i} is late"), at)
    assert expanded <= k * 7 / 3
    if ordinary >= 10 * k:  # a tag with its own ordinary traffic is not taken over
        assert not stream.expansion.promoted("brandx")


def test_score_reads_its_input_as_one_stream() -> None:
    lines = ["#Zorbix explosion dead", "#zorbix fire killed many", "#ZORBIX flood victims",
             "#Zorbix on pense a vous", "on pense a vous"]
    assert [r["crisis"] for r in score_lines(lines)] == [True, True, True, True, False]
    assert [r["crisis"] for r in score_lines(lines[3:])] == [False, False]


# -- the worker: persisted features rebuild the expansion exactly --------------------------

BRANDS = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["acme"]}}]})
TEXTS = ["#Zorbix explosion dead, stay safe", "#zorbix fire: people killed",
         "#ZORBIX flood victims rescued", "#Zorbix on pense a vous", "#acme my order is late",
         "love the new #acme shoes", "#zorbix #acme pray for them", "where is my parcel"]


def _events(seed: int) -> list[SocialEvent]:
    rng = random.Random(seed)
    events = []
    for i in range(300):
        at = T0 + i * 240 + rng.uniform(-1800, 0)  # out of order by up to 30 min
        text = f"{rng.choice(TEXTS)} {rng.randint(0, 50)}"
        events.append(SocialEvent(Side.AUDIENCE, f"m{i}", "acme", "twitter", f"u{i}", text,
                                  at))
    return events


def assert_same_status(got: Any, expected: Any) -> None:
    """Equal, floats to 1e-9: a replay sums the same scores in event-time order rather than
    in arrival order (docs/metrics.md, tolerance)."""
    for name in got.__dataclass_fields__:
        a, b = getattr(got, name), getattr(expected, name)
        if isinstance(a, float) and isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9, abs=1e-12, nan_ok=True), name
        else:
            assert a == b, name


def test_replayed_features_rebuild_the_state_of_the_uninterrupted_run() -> None:
    book = BehaviourBook()
    history = []
    for event in _events(1):
        _, features = book.on_event(event)
        # as the wire stores them: JSON lists
        history.append((event.created_at, Side.AUDIENCE, event.id,
                        AudienceFeatures.pack(orjson.loads(orjson.dumps(features.at_rest())))))
    live = book.brand("acme")
    assert "zorbix" in live.expansion.promoted_tags()
    named = [AudienceFeatures(*f) for _, _, _, f in history]
    assert any(f.crisis_signal and not f.static_signal for f in named)  # some were expanded
    history.sort(key=lambda item: item[0])
    rebuilt = BrandBehaviour("acme")
    rebuilt.restore(history)
    assert rebuilt.expansion.state() == live.expansion.state()
    assert_same_status(rebuilt.crisis.status(), live.crisis.status())
    old = BrandBehaviour("acme")  # rows written before the expansion: 6 fields
    old.restore([(at, side, i, f[:6]) for at, side, i, f in history])
    assert_same_status(old.crisis.status(), live.crisis.status())
    assert len(old.expansion) == 0


def test_a_restarted_worker_decides_like_an_uninterrupted_one() -> None:
    events = _events(2)
    reference = Engine(BRANDS)
    for event in events:
        reference.ingest(event, event.created_at)
    cut = len(events) // 2
    table: dict[bytes, bytes] = {}
    live = Engine(BRANDS)
    for event in events[:cut]:
        live.ingest(event, event.created_at)
    persist(live, table)
    recovered = restore(table, max(e.created_at for e in events[:cut]), BRANDS)
    for event in events[cut:]:
        recovered.ingest(event, event.created_at)
    expected = reference.behaviour.brand("acme")
    got = recovered.behaviour.brand("acme")
    assert expected.expansion.promoted_tags() == ["zorbix"]
    assert got.expansion.state() == expected.expansion.state()
    assert_same_status(got.crisis.status(), expected.crisis.status())


def test_forged_expansion_features_are_rejected() -> None:
    key = encode_state_key("acme", (int(T0 // H), RecordTag.AUDIENCE, "m1"))
    features = ["en", 0.0, True, False, False, ["zorbix"], False, ["zorbix"]]
    good = ["twitter", T0, True, None, False, False, features]
    assert not isinstance(decode_state(key, encode_state_value(good), BRANDS, T0), Rejection)
    for bad in (["x" * 41], [1], ["a"] * 9):
        row = ["twitter", T0, True, None, False, False, [*features[:7], bad]]
        assert isinstance(decode_state(key, encode_state_value(row), BRANDS, T0), Rejection)
    row = ["twitter", T0, True, None, False, False, [*features[:6], "yes", ["zorbix"]]]
    assert isinstance(decode_state(key, encode_state_value(row), BRANDS, T0), Rejection)


def test_support_key_ignores_order_and_repeats() -> None:
    assert support_key(["b", "a", "a"]) == support_key(["a", "b"]) != support_key(["a"])
