"""Fuzzing the wire: every decoder of what workers read never raises, whatever the bytes.

Covers the two topics every worker reads whole (control, crisis-shares), the input events
and the JSON loader under them. Records are arbitrary bytes, arbitrary JSON (stdlib
`json.dumps` so that huge integers, NaN/Infinity tokens and lone surrogates get through),
and valid-looking records with out-of-range fields; whatever is accepted must satisfy the
documented bounds.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from streams.config import parse_brands
from streams.core.crisis import CrisisCommand
from streams.core.shared_crisis import CrisisShare, SharedCrisisScope
from streams.events import MAX_FUTURE_SKEW_SECONDS, Rejection, RejectReason, Side, SocialEvent
from streams.wire import (
    CRISIS_RETENTION_SECONDS,
    MAX_BUCKET_MESSAGES,
    MAX_CONTROL_FUTURE_SECONDS,
    MAX_CONTROL_PAST_SECONDS,
    MAX_CRISIS_NAME_CHARS,
    MAX_CRISIS_TERM_CHARS,
    MAX_CRISIS_TERMS,
    MAX_SOURCE_CHARS,
    decode_crisis_command,
    decode_crisis_share,
    decode_event,
    format_rfc3339,
    load_record,
)

NOW = 1_800_000_150.0
BUCKET = 300
BRANDS = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["AcmeSupport"]}}]})
FORGED = (b'{"source":"evil","bucket_seconds":300,"first_seen":1e12,"latest":1e15,'
          b'"buckets":[[3333333333333,100000,100000,-100000.0]]}')
DEEP_LISTS = b"[" * 100_000 + b"]" * 100_000  # 200 kB, within the share size limit
DEEP_SHARE = (b'{"source":"a","bucket_seconds":300,"first_seen":0,"latest":1,"buckets":'
              + DEEP_LISTS + b"}")
DEEP_OBJECTS = b'{"a":' * 20_000 + b"1" + b"}" * 20_000
# Deep enough to parse (orjson allows 1024 levels) and to break repr() of the value.
REPR_BOMB = (b'{"action":"declare","name":"x","source":"a","bucket_seconds":'
             + b"[" * 1000 + b"]" * 1000 + b',"start":' + b"[" * 1000 + b"]" * 1000 + b"}")
FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ----------------------------------------------------------------------------- strategies

SPECIAL_NUMBERS = st.sampled_from([
    0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63), 10**30, 10**400,
    1e15, 1e308, -1e308, 5e-324, float("nan"), float("inf"), float("-inf"),
    NOW, NOW + MAX_FUTURE_SKEW_SECONDS, NOW + MAX_FUTURE_SKEW_SECONDS + 1, -NOW,
    MAX_BUCKET_MESSAGES, MAX_BUCKET_MESSAGES + 1,
])
SPECIAL_STRINGS = st.sampled_from([
    "NaN", "Infinity", "-Infinity", "1e400", "", " ", "\x00", "\ud800", "é" * 300,
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2026-02-30T00:00:00Z",
    "2026-11-30T05:00:00Z", "2038-01-19T03:14:08Z", "1970-01-01T00:00:00.000Z",
])
LEAVES = (st.none() | st.booleans() | st.integers() | SPECIAL_NUMBERS
          | st.floats() | st.text(max_size=40) | SPECIAL_STRINGS)
JSON_VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=6),
    max_leaves=40,
)


def dumps(value: Any, ascii_only: bool = True) -> bytes:
    """JSON text as a careless producer writes it: NaN, Infinity, huge integers, surrogates."""
    text = json.dumps(value, allow_nan=True, ensure_ascii=ascii_only)
    return text.encode("utf-8", errors="surrogatepass")


NUMBERS = SPECIAL_NUMBERS | st.integers() | st.floats() | st.integers(-10**6, 10**6)
BAD_VALUES = NUMBERS | LEAVES | JSON_VALUES
NAMES = st.from_regex(r"\A[a-z0-9][a-z0-9 .-]{0,18}[a-z0-9]\Z")


def mutated(draw: st.DrawFn, record: dict[str, Any]) -> dict[str, Any]:
    """The valid record with up to two fields replaced by anything, or removed."""
    for key in draw(st.lists(st.sampled_from(sorted(record)), max_size=2, unique=True)):
        if draw(st.booleans()):
            record[key] = draw(BAD_VALUES)
        else:
            record.pop(key)
    return record


@st.composite
def share_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid share, then out-of-range values in its fields or in one of its rows."""
    latest = draw(st.floats(NOW - 40 * 3600, NOW + MAX_FUTURE_SKEW_SECONDS))
    first_seen = draw(st.floats(0, latest))
    newest = int(latest // BUCKET)
    oldest = int((latest - CRISIS_RETENTION_SECONDS) // BUCKET)
    keys = draw(st.lists(st.integers(oldest, newest), unique=True, max_size=12)
                | st.integers(newest - oldest - 2, newest - oldest + 3).map(
                    lambda n: list(range(newest, newest - n, -1))))  # about a full window
    rows: list[list[Any]] = []
    for key in keys[:12]:
        messages = draw(st.integers(0, 5) | st.integers(0, MAX_BUCKET_MESSAGES))
        crisis = draw(st.integers(0, messages))
        rows.append([key, messages, crisis, draw(st.floats(-messages, messages))])
    rows += [[key, 1, 0, 0.0] for key in keys[12:]]
    if rows and draw(st.booleans()):  # one row just out of range, or anything
        row = draw(st.sampled_from(rows))
        key, messages, crisis, _ = row
        index = draw(st.integers(0, 3))
        just_out = st.sampled_from([
            [oldest - 1, newest + 1, newest + 10**9],
            [-1, crisis - 1, MAX_BUCKET_MESSAGES + 1],
            [-1, messages + 1],
            [messages + 0.001, -messages - 0.001, messages + 1e-3 * messages],
        ][index])
        row[index] = draw(st.one_of(just_out, just_out, BAD_VALUES))
    if rows and draw(st.integers(0, 9)) == 0:
        rows.append(list(draw(st.sampled_from(rows))))  # a duplicate key
    return mutated(draw, {"source": draw(NAMES | st.text(min_size=250, max_size=260)),
                          "bucket_seconds": BUCKET, "first_seen": first_seen,
                          "latest": latest, "buckets": rows})


@st.composite
def control_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid declare or end command, then out-of-range values in its fields."""
    start = draw(st.floats(NOW - 5 * 365 * 86400, NOW + 365 * 86400)
                 | st.floats(NOW - 21 * 365 * 86400, NOW + 11 * 365 * 86400))
    end = draw(st.none() | st.floats(start - 86400, start + 86400))
    terms = st.lists(NAMES, max_size=4) | st.lists(st.just("k"), min_size=99, max_size=102) \
        | st.lists(st.text(min_size=99, max_size=102), max_size=2)
    return mutated(draw, {
        "action": draw(st.sampled_from(["declare", "end"])),
        "name": draw(NAMES | st.text(min_size=199, max_size=202)),
        "keywords": draw(terms), "hashtags": draw(terms),
        "region": draw(st.none() | NAMES | st.text(min_size=99, max_size=102)),
        "start": _rfc3339_or_none(start),
        "end": None if end is None else _rfc3339_or_none(end),
    })


def _rfc3339_or_none(epoch: float) -> str | None:
    try:
        return format_rfc3339(epoch)
    except (ValueError, OverflowError, OSError):
        return None


@st.composite
def event_records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event, then out-of-range values (RFC 3339 look-alikes too) in its fields."""
    record = mutated(draw, {
        "id": draw(NAMES | st.integers(0, 2**63 - 1)), "brand": "acme", "platform": "twitter",
        "author": draw(NAMES), "text": draw(st.text(max_size=60)),
        "created_at": _rfc3339_or_none(draw(st.floats(0, NOW + 86400))),
        "in_reply_to": draw(st.none() | NAMES),
        "kind": draw(st.sampled_from(["mention", "reply", "comment", "direct_message"])),
        "lang": draw(st.none() | st.sampled_from(["en", "fr"])),
        "is_share": draw(st.booleans()), "automated": draw(st.booleans()),
    })
    if draw(st.integers(0, 3)) == 0:
        record["created_at"] = draw(SPECIAL_STRINGS | st.from_regex(
            r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z"))
    return record


# ----------------------------------------------------------------------------- invariants


def assert_share_within_bounds(share: CrisisShare) -> None:
    """What an accepted share guarantees (see decode_crisis_share)."""
    assert 0 < len(share.source) <= MAX_SOURCE_CHARS
    assert math.isfinite(share.first_seen) and math.isfinite(share.latest)
    assert share.first_seen <= share.latest <= NOW + MAX_FUTURE_SKEW_SECONDS
    newest = share.latest // BUCKET
    oldest = (share.latest - CRISIS_RETENTION_SECONDS) // BUCKET
    assert len(share.buckets) <= CRISIS_RETENTION_SECONDS // BUCKET + 1
    for key, (messages, crisis, sentiment_sum) in share.buckets.items():
        assert type(key) is int and oldest <= key <= newest
        assert type(messages) is int and type(crisis) is int
        assert 0 <= crisis <= messages <= MAX_BUCKET_MESSAGES
        assert math.isfinite(sentiment_sum) and abs(sentiment_sum) <= messages + 1e-6


def assert_scope_within_bounds(scope: SharedCrisisScope) -> None:
    watermark = scope.detector.watermark
    assert watermark is None or watermark <= NOW + MAX_FUTURE_SKEW_SECONDS
    status = scope.detector.status()
    assert status.volume >= 0
    assert -1.0 - 1e-9 <= status.sentiment_mean <= 1.0 + 1e-9


def assert_command_within_bounds(command: CrisisCommand) -> None:
    crisis = command.crisis
    assert command.action in ("declare", "end")
    assert 0 < len(crisis.name) <= MAX_CRISIS_NAME_CHARS
    for terms in (crisis.keywords, crisis.hashtags):
        assert len(terms) <= MAX_CRISIS_TERMS
        assert all(type(t) is str and len(t) <= MAX_CRISIS_TERM_CHARS for t in terms)
    assert crisis.region is None or len(crisis.region) <= MAX_CRISIS_TERM_CHARS
    times = [crisis.end] if command.action == "end" else [crisis.start, crisis.end]
    for at in times:
        if at is not None:
            assert NOW - MAX_CONTROL_PAST_SECONDS <= at <= NOW + MAX_CONTROL_FUTURE_SECONDS
    if command.action == "end":
        assert crisis.end is not None
    elif crisis.end is not None:
        assert crisis.start <= crisis.end


def decode_everything(raw: bytes) -> None:
    """Every decoder on the same bytes: none may raise, each returns its type or a Rejection."""
    share = decode_crisis_share(raw, BUCKET, NOW)
    assert isinstance(share, CrisisShare | Rejection)
    if isinstance(share, CrisisShare):
        assert_share_within_bounds(share)
    command = decode_crisis_command(raw, NOW)
    assert isinstance(command, CrisisCommand | Rejection)
    if isinstance(command, CrisisCommand):
        assert_command_within_bounds(command)
    for side in Side:
        assert isinstance(decode_event(raw, side, BRANDS, 1 << 20), SocialEvent | Rejection)
        assert isinstance(decode_event(raw, side, None, 1 << 20), SocialEvent | Rejection)
    loaded = load_record(raw, 1 << 20)
    assert not isinstance(loaded, Rejection) or isinstance(loaded.reason, RejectReason)
    for result in (share, command):
        if isinstance(result, Rejection):
            assert isinstance(result.reason, RejectReason) and len(result.detail) <= 400


# ----------------------------------------------------------------------------- properties


@FUZZ
@given(st.binary(max_size=2048))
@example(FORGED)
@example(DEEP_LISTS)
@example(DEEP_SHARE)
@example(DEEP_OBJECTS)
@example(REPR_BOMB)
@example(b"")
@example(b"\xff\xfe")
@example(b"NaN")
@example(b'{"latest": Infinity}')
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    decode_everything(raw)


@FUZZ
@given(JSON_VALUES, st.booleans())
def test_arbitrary_json_never_raises(value: Any, ascii_only: bool) -> None:
    decode_everything(dumps(value, ascii_only))


@FUZZ
@given(share_records())
def test_accepted_shares_are_within_bounds_and_keep_the_scope_sane(record: dict[str, Any]
                                                                   ) -> None:
    raw = dumps(record)
    share = decode_crisis_share(raw, BUCKET, NOW)
    assert isinstance(share, CrisisShare | Rejection)
    event(share.reason.value if isinstance(share, Rejection) else "accepted")
    if isinstance(share, Rejection):
        return
    assert_share_within_bounds(share)
    scope = SharedCrisisScope("me")
    scope.observe(NOW - 3600, False, 0.2)
    scope.merge(share, not_after=NOW + MAX_FUTURE_SKEW_SECONDS)
    assert_scope_within_bounds(scope)


@FUZZ
@given(st.lists(st.builds(
    CrisisShare,
    st.sampled_from(["a", "b", "me"]),
    st.floats(),
    st.floats(),
    st.dictionaries(st.integers(6_000_000 - 400, 6_000_010),
                    st.tuples(st.integers(-5, 50), st.integers(-5, 50), st.floats()),
                    max_size=6)), max_size=6))
def test_the_core_stays_sane_whatever_shares_reach_it(shares: list[CrisisShare]) -> None:
    """Defence in depth: unvalidated share objects (NaN, inf, negative, future) cannot push
    the watermark past the horizon nor make the volume negative."""
    scope = SharedCrisisScope("me")
    scope.observe(NOW - 3600, True, -0.5)
    for share in shares:
        scope.merge(share, not_after=NOW + MAX_FUTURE_SKEW_SECONDS)
        assert_scope_within_bounds(scope)


@FUZZ
@given(control_records())
def test_accepted_control_records_are_within_bounds(record: dict[str, Any]) -> None:
    command = decode_crisis_command(dumps(record), NOW)
    assert isinstance(command, CrisisCommand | Rejection)
    event(command.reason.value if isinstance(command, Rejection) else "accepted")
    if isinstance(command, CrisisCommand):
        assert_command_within_bounds(command)


@FUZZ
@given(event_records(), st.sampled_from(list(Side)))
def test_valid_looking_events_never_raise(record: dict[str, Any], side: Side) -> None:
    result = decode_event(dumps(record), side, BRANDS, 65536)
    assert isinstance(result, SocialEvent | Rejection)
    event(result.reason.value if isinstance(result, Rejection) else "accepted")
    if isinstance(result, SocialEvent):
        assert math.isfinite(result.created_at)


# ----------------------------------------------------------------------------- explicit


def test_the_forged_share_is_a_future_timestamp_rejection() -> None:
    result = decode_crisis_share(FORGED, BUCKET, NOW)
    assert isinstance(result, Rejection)
    assert result.reason is RejectReason.FUTURE_TIMESTAMP


def test_a_hundred_thousand_nested_lists_are_malformed_json_not_a_crash() -> None:
    """orjson stops at a nesting depth of 1024 with a JSONDecodeError, which load_record
    turns into a Rejection (no RecursionError, no crash of the follower)."""
    for raw in (DEEP_LISTS, DEEP_SHARE, DEEP_OBJECTS):
        for result in (decode_crisis_share(raw, BUCKET, NOW),
                       decode_event(raw, Side.AUDIENCE, BRANDS, 1 << 20),
                       load_record(raw, 1 << 20)):
            assert isinstance(result, Rejection)
            assert result.reason is RejectReason.MALFORMED_JSON
            assert "depth" in result.detail or "recursion" in result.detail.lower()
    control = decode_crisis_command(DEEP_LISTS, NOW)  # 200 kB: over the control limit
    assert isinstance(control, Rejection) and control.reason is RejectReason.OVERSIZED
    shallow_enough = load_record(b"[" * 1024 + b"]" * 1024, 1 << 20)
    depth = 0
    while isinstance(shallow_enough, list) and shallow_enough:
        shallow_enough, depth = shallow_enough[0], depth + 1
    assert (shallow_enough, depth) == ([], 1023)  # the limit is orjson's, at 1024 levels


def test_values_too_deep_for_repr_are_rejections_not_crashes() -> None:
    """A value parsed at depth 1000 raises RecursionError from repr(): no decoder may
    format an arbitrary value into its rejection detail."""
    decode_everything(REPR_BOMB)
    assert isinstance(decode_crisis_share(REPR_BOMB, BUCKET, NOW), Rejection)
    assert isinstance(decode_crisis_command(REPR_BOMB, NOW), Rejection)


def test_huge_and_non_finite_numbers_are_rejections() -> None:
    base = {"source": "a", "bucket_seconds": 300, "first_seen": 0, "latest": 1,
            "buckets": [[0, 1, 0, 0.0]]}
    for field, value in (("latest", "NaN"), ("latest", 10**400), ("first_seen", -(10**400)),
                         ("buckets", [[0, 10**30, 0, 0.0]]), ("buckets", [[2**64, 1, 0, 0]])):
        raw = dumps({**base, field: value})
        result = decode_crisis_share(raw, BUCKET, NOW)
        assert isinstance(result, Rejection), (field, value)
    assert isinstance(decode_crisis_share(orjson.dumps(base), BUCKET, NOW), CrisisShare)
