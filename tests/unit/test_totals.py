"""BrandTotals: each brand's counters and histograms as state, on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from streams.config import parse_brands
from streams.core.behaviour import LanguageCounted, ToneDeafPost
from streams.core.sla_observations import (
    DuplicateEvent,
    FirstResponse,
    MessageCounted,
    PostCounted,
    PostKind,
    SlaBreached,
)
from streams.core.sla_records import RecordTag
from streams.core.totals import (
    RESPONSE_BUCKETS,
    BrandTotals,
    Count,
    Timing,
    count_series,
    timing_series,
)
from streams.engine import dispatch
from streams.events import Rejection
from streams.wire import decode_state, encode_state_key, encode_state_value

BRANDS = parse_brands({"brand": [{
    "name": "acme", "handles": {"twitter": ["Acme"], "instagram": ["acme"]},
    "agents": ["JB"], "policy": [{"name": "vip", "sla_seconds": 600, "authors": ["Big"]}],
}]})
ACME = BRANDS.get("acme")
KEY = encode_state_key("acme", (0, RecordTag.TOTALS, "totals"))
assert ACME is not None


def fed(*observations: object) -> BrandTotals:
    totals = BrandTotals(ACME)  # type: ignore[arg-type]
    for o in observations:
        dispatch(o, totals)  # type: ignore[arg-type]
    return totals


def test_counts_and_buckets_by_hand() -> None:
    totals = fed(
        MessageCounted("acme", "twitter", True), MessageCounted("acme", "twitter", True),
        MessageCounted("acme", "instagram", False),
        PostCounted("acme", "twitter", PostKind.REPLY, "JB"),
        PostCounted("acme", "twitter", PostKind.REPLY, "ZZ"),  # an unlisted agent: other
        PostCounted("acme", "twitter", PostKind.BROADCAST),
        FirstResponse("acme", "twitter", 60.0, None, True, "vip", "JB"),  # on a bound: le=60
        FirstResponse("acme", "twitter", 61.0, None, False, "default", "ZZ"),
        FirstResponse("acme", "twitter", 10 * 86400, None, False, "default"),  # past 7 days
        SlaBreached("acme", "twitter", "default"), DuplicateEvent("acme"),
        LanguageCounted("acme", "fr"),
        ToneDeafPost("acme", "twitter", "p1", 0.0, "jokey_in_crisis", "storm", "joke", "lol"))
    frozen = totals.frozen()
    assert frozen.count(Count.AUDIENCE_MESSAGES, "twitter", "true") == 2
    assert frozen.count(Count.AUDIENCE_MESSAGES, "instagram", "false") == 1
    assert frozen.count(Count.BRAND_POSTS, "twitter", "reply") == 2
    assert frozen.count(Count.BRAND_POSTS, "twitter", "broadcast") == 1
    assert frozen.count(Count.AGENT_REPLIES, "JB") == 1
    assert frozen.count(Count.AGENT_REPLIES, "other") == 1
    assert frozen.count(Count.SLA_MET, "twitter", "vip") == 1
    assert frozen.count(Count.AGENT_SLA_MET, "JB") == 1
    assert frozen.count(Count.SLA_BREACHES, "twitter", "default") == 1
    assert frozen.count(Count.DUPLICATES) == 1
    assert frozen.count(Count.LANGUAGE, "fr") == 1
    assert frozen.count(Count.TONE_DEAF, "jokey_in_crisis") == 1
    buckets, total = frozen.histogram(Timing.FIRST_RESPONSE, "twitter", "vip")
    assert buckets[0] == (60, 1.0) and buckets[-1] == (math.inf, 1.0) and total == 60.0
    buckets, total = frozen.histogram(Timing.FIRST_RESPONSE, "twitter", "default")
    assert [c for _, c in buckets] == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
    assert total == 61.0 + 10 * 86400
    assert len(buckets) == len(RESPONSE_BUCKETS) + 1
    # a series nothing was observed in reads as zeros
    assert frozen.histogram(Timing.NEXT_RESPONSE, "instagram") == (
        [(b, 0.0) for b in (*RESPONSE_BUCKETS, math.inf)], 0.0)


def test_the_row_round_trips_through_the_wire_and_restores_exactly() -> None:
    totals = fed(MessageCounted("acme", "twitter", True),
                 FirstResponse("acme", "twitter", 90.0, None, True, "default", "JB"))
    assert totals.dirty
    value = encode_state_value(totals.row(), (5, 7))
    assert not totals.dirty
    decoded = decode_state(KEY, value, BRANDS, 0.0)
    assert not isinstance(decoded, Rejection), decoded
    restored = BrandTotals(ACME)  # type: ignore[arg-type]
    restored.restore(decoded[4])
    assert restored.frozen().counts == totals.frozen().counts
    assert restored.frozen().timings == totals.frozen().timings
    assert restored.restored and not totals.restored
    # and counting continues from there
    dispatch(MessageCounted("acme", "twitter", True), restored)
    assert restored.frozen().count(Count.AUDIENCE_MESSAGES, "twitter", "true") == 2


ZEROS = ",".join(["0.0"] * 15)


@pytest.mark.parametrize("row", [
    '[[["audience_messages","facebook","true",1]],[]]',  # a platform the brand lacks
    '[[["audience_messages","twitter","true",-1]],[]]',  # negative
    '[[["audience_messages","twitter","true",1.5]],[]]',  # not an integer
    '[[["agent_replies","XX",1]],[]]',  # an agent label outside listed + other
    '[[["made_up",1]],[]]',  # not a counter
    '[[],[["first_response_seconds","twitter","default",' + ZEROS[4:] + ']]]',  # one short
    '[[],[["first_response_seconds","twitter","default",' + ZEROS[4:] + ',1e999]]]',
    '[[],[["first_response_business_seconds","twitter","default",' + ZEROS + ']]]',
    '[[]]',  # no timings
])
def test_forged_totals_rows_are_refused(row: str) -> None:
    value = f"[3,1,1,{row[1:-1]}]".encode()
    assert isinstance(decode_state(KEY, value, BRANDS, 0.0), Rejection), row


def test_a_good_hand_written_row_is_accepted() -> None:
    row = '[[["audience_messages","twitter","true",3]],[["first_response_seconds",' \
          '"twitter","vip",' + ZEROS + ']]]'
    assert not isinstance(decode_state(KEY, f"[3,1,1,{row[1:-1]}]".encode(), BRANDS, 0.0),
                          Rejection)


def test_every_series_is_known_and_bounded_by_the_config() -> None:
    counts, timings = count_series(ACME), timing_series(ACME)  # type: ignore[arg-type]
    assert len(counts) == len(set(counts)) and len(timings) == len(set(timings))
    assert (Count.AGENT_REPLIES, "JB") in counts and (Count.AGENT_REPLIES, "other") in counts
    assert (Timing.FIRST_RESPONSE, "instagram", "vip") in timings
    assert not any(t[0] == Timing.FIRST_RESPONSE_BUSINESS for t in timings)  # no hours set
