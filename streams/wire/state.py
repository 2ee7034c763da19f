"""Byte formats of the worker's own state: one versioned JSON row per SLA record.

Transaction markers: key 0x1F "begin"|"commit" 0x1F writer, value [3, writer, seq]. Their
keys name no brand, and a commit key per writer keeps only its newest value under log
compaction, which is all the reader needs (streams/worker/state.py, `ChangelogReplay`).

Whatever a worker reads back from a changelog topic is data, never code: every key and
value is parsed with orjson and checked field by field before it reaches the core, and
anything else (an older format, a forged or truncated record) is a `Rejection` that the
caller counts and skips. There is no pickle anywhere in brandpulse.

Key:   brand 0x1F hour 0x1F tag 0x1F record id
       (tag: a audience, p post, o orphan; c the brand's clock, hour 0, id "clock";
        s a scheduled post not yet out, hour 0; t the brand's totals, hour 0, id "totals")
Value: [3, writer, seq, *row] (written in transaction `seq` of `writer`, see
       streams/worker/state.py), or [2, *row] (no transaction: always committed), with the rows
       of `ReplyBook.take_changes` carrying each record's behaviour features (the fields of
       `AudienceFeatures`/`PostFeatures`, streams/core/features.py) at index 6 of an audience
       row and 3 of a post row; the totals row of streams/core/totals.py. Fields added
       since version 2 first shipped are trailing and optional, so older rows still decode:
       audience rows have 7 fields, 10 with (policy name, agent, follow-up) or 11 with
       late-replied too (its late reply was counted); audience features 6, or 8 with the
       crisis expansion's (static signal, hashtags); post rows 4, or 5 with the agent;
       orphan rows 1, or 2 with the agent (tests/unit/test_state_compat.py).
"""

from __future__ import annotations

import math
import re
import sys
from enum import StrEnum
from typing import Any

import orjson

from streams.core.behaviour import MAX_TERM_LENGTH, MAX_TERMS_PER_EVENT
from streams.core.brand import BrandsConfig
from streams.core.conversation import hour_of
from streams.core.crisis_expansion import MAX_TAG_LENGTH, MAX_TAGS_PER_MESSAGE
from streams.core.features import AUDIENCE_FEATURES_AT, POST_FEATURES_AT
from streams.core.lang import LANGS
from streams.core.sla_records import RecordKey, RecordTag
from streams.core.totals import RESPONSE_BUCKETS, count_series, timing_series
from streams.events import (
    MAX_ID_LENGTH,
    MAX_SCHEDULE_AHEAD_SECONDS,
    MAX_SCHEDULED_TEXT_CHARS,
    Rejection,
    RejectReason,
)

STATE_VERSION = 3  # 1: a whole hour per key; 2: a record per key, no transaction
_UNTRANSACTED_VERSION = 2
KEY_SEPARATOR = "\x1f"
#: No state value can be larger (ids ≤ 256 characters, ≤ 32 terms of ≤ 40): far below
#: Kafka's default 1 MB message limit whatever the traffic.
MAX_STATE_VALUE_BYTES = 16 * 1024
#: A brand's totals grow with its platforms, policies and agents only (bounded by the
#: brands file): 64 KB holds ~40 platform-policy pairs and 40 agents.
MAX_TOTALS_VALUE_BYTES = 64 * 1024
MARKER_PREFIX = KEY_SEPARATOR.encode()
_MAX_WRITER = 1 << 62
_TAGS = {tag.value: tag for tag in RecordTag}
_LANGS = LANGS  # the detector's closed label set (und = no letters to judge by)
_FINGERPRINT_LIMIT = 1 << 64
_AGENT = re.compile(r"[A-Z]{1,3}")  # upper-case initials, as streams.core.similarity reads
_MAX_POLICY_NAME = 32


def _agent(value: Any) -> bool:
    return value is None or (type(value) is str and _AGENT.fullmatch(value) is not None)


def encode_state_key(brand: str, key: RecordKey) -> bytes:
    hour, tag, record_id = key
    return f"{brand}{KEY_SEPARATOR}{hour}{KEY_SEPARATOR}{tag.value}{KEY_SEPARATOR}" \
           f"{record_id}".encode()


def encode_state_value(row: list[Any], txn: tuple[int, int] | None = None) -> bytes:
    """The value of a record written in transaction `txn` = (writer, seq); without one
    (tests, tools) a version-2 value, read as committed. Copied to an exact-size object:
    orjson's result keeps its ~4 KB write buffer (4.1 KB vs 124 B per kept record)."""
    if txn is None:
        return bytes(memoryview(orjson.dumps([_UNTRANSACTED_VERSION, *row])))
    return bytes(memoryview(orjson.dumps([STATE_VERSION, *txn, *row])))


class MarkerKind(StrEnum):
    BEGIN = "begin"
    COMMIT = "commit"


def encode_marker(kind: MarkerKind, writer: int, seq: int) -> tuple[bytes, bytes]:
    """Key and value of a transaction marker (see the module's docstring)."""
    key = f"{KEY_SEPARATOR}{kind.value}{KEY_SEPARATOR}{writer}".encode()
    return key, orjson.dumps([STATE_VERSION, writer, seq])


def decode_marker(raw_key: bytes, raw_value: Any) -> tuple[MarkerKind, int, int] | Rejection:
    """(kind, writer, seq) of a marker record (its key starts with MARKER_PREFIX)."""
    try:
        _, kind_text, writer_text = raw_key.decode("ascii").split(KEY_SEPARATOR)
        kind = MarkerKind(kind_text)
        value = orjson.loads(raw_value) if isinstance(raw_value, bytes | bytearray) else None
    except (UnicodeDecodeError, ValueError, orjson.JSONDecodeError):
        return _bad("transaction marker cannot be parsed")
    if not (type(value) is list and len(value) == 3 and value[0] == STATE_VERSION
            and _txn_part(value[1]) and _txn_part(value[2]) and str(value[1]) == writer_text):
        return _bad("transaction marker is not [3, writer, seq] of its key's writer")
    return kind, value[1], value[2]


_TXN_PREFIX = re.compile(rb"\[3,(\d{1,19}),(\d{1,19})[,\]]")


def read_txn(raw_value: bytes) -> tuple[int, int] | Rejection | None:
    """The (writer, seq) of a state value from its first bytes, without parsing the row
    (recovery folds the log before decoding what survives); None for an untransacted
    version-2 value. The row itself is checked by `decode_state_record`."""
    match = _TXN_PREFIX.match(raw_value)
    if match is not None:
        writer, seq = int(match[1]), int(match[2])
        if writer < _MAX_WRITER and seq < _MAX_WRITER:
            return writer, seq
    elif raw_value.startswith(b"[2,"):
        return None
    return _bad("state value has no readable version and transaction")


def _txn_part(value: Any) -> bool:
    return type(value) is int and 0 <= value < _MAX_WRITER


def state_key_brand(raw: bytes) -> str | None:
    """The brand of a state key, cheaply (to pick a worker's own keys), or None."""
    try:
        return raw.decode("utf-8").partition(KEY_SEPARATOR)[0] or None
    except (UnicodeDecodeError, AttributeError):
        return None


StateRow = tuple[str, int, RecordTag, str, list[Any]]  # brand, hour, tag, id, row


def decode_state(raw_key: Any, raw_value: Any, brands: BrandsConfig, not_after: float
                 ) -> StateRow | Rejection:
    """(brand, hour, tag, id, row) of one changelog record, or why it cannot be used."""
    decoded = decode_state_record(raw_key, raw_value, brands, not_after)
    return decoded if isinstance(decoded, Rejection) else decoded[0]


def decode_state_record(raw_key: Any, raw_value: Any, brands: BrandsConfig, not_after: float
                        ) -> tuple[StateRow, tuple[int, int] | None] | Rejection:
    """((brand, hour, tag, id, row), transaction or None) of one changelog record, or why
    it cannot be used.

    `not_after` bounds the times it may carry (the wall clock plus the allowed skew), so
    a forged record cannot move a brand's clock into the future."""
    if not isinstance(raw_key, bytes | bytearray) or not isinstance(raw_value, bytes | bytearray):
        return _bad("state key or value is not bytes")
    if len(raw_value) > MAX_TOTALS_VALUE_BYTES or (
            len(raw_value) > MAX_STATE_VALUE_BYTES
            and not raw_key.endswith(b"\x1ft\x1ftotals")):
        return Rejection(RejectReason.OVERSIZED, f"state value of {len(raw_value)} bytes")
    try:
        brand, hour_text, tag_text, record_id = bytes(raw_key).decode("utf-8").split(
            KEY_SEPARATOR, 3)
        hour = int(hour_text)
        value = orjson.loads(raw_value)
    except (UnicodeDecodeError, ValueError, orjson.JSONDecodeError):
        return _bad("state key or value cannot be parsed")
    config = brands.get(brand)
    tag = _TAGS.get(tag_text)
    if config is None or tag is None or not 0 < len(record_id) <= MAX_ID_LENGTH:
        return _bad("state key names an unknown brand or record kind")
    txn: tuple[int, int] | None = None
    if type(value) is list and len(value) >= 3 and value[0] == STATE_VERSION:
        if not (_txn_part(value[1]) and _txn_part(value[2])):
            return _bad("state value's transaction is not two non-negative integers")
        txn = (value[1], value[2])
        row = value[3:]
    elif type(value) is list and value and value[0] == _UNTRANSACTED_VERSION:
        row = value[1:]
    else:
        return _bad(f"state value is not version {STATE_VERSION} or {_UNTRANSACTED_VERSION}")
    problem = (_totals_row(row, config) if tag is RecordTag.TOTALS
               else _check_row(tag, row, config.handles, not_after))
    if problem is not None:
        return _bad(problem)
    timed = (RecordTag.AUDIENCE, RecordTag.POST, RecordTag.STATUS)
    if tag in timed and hour_of(row[1]) != hour:
        return _bad("state row's time is not in its key's hour")
    if tag in (RecordTag.SCHEDULED, RecordTag.TOTALS) and hour != 0:
        return _bad("a scheduled post's or totals key has hour 0")
    if tag is RecordTag.AUDIENCE or tag is RecordTag.POST:
        _share_strings(tag, row)
    return (brand, hour, tag, record_id, row), txn


def _share_strings(tag: RecordTag, row: list[Any]) -> None:
    """Replace the strings a restored record repeats (platform, language, policy, agent,
    profile terms) by one shared object each: parsed, every record would hold its own
    copies, ~50 bytes apiece, and a million restored messages would weigh a hundred MB
    more than the state they were persisted from."""
    intern = sys.intern
    row[0] = intern(row[0])
    features = row[POST_FEATURES_AT] if tag is RecordTag.POST else row[AUDIENCE_FEATURES_AT]
    if tag is RecordTag.AUDIENCE:
        if len(row) > 7:
            row[7] = intern(row[7])
            if row[8] is not None:
                row[8] = intern(row[8])
        if features is not None:
            features[0] = intern(features[0])
            features[5] = [intern(t) for t in features[5]]
            if len(features) == 8:
                features[7] = [intern(t) for t in features[7]]
    elif features is not None and features[0] is not None:
        features[0] = [intern(t) for t in features[0]]


def _totals_row(row: list[Any], config: Any) -> str | None:
    """[counts, timings] of streams/core/totals.py: every series one the brand can have
    (its platforms, policies, agents; closed sets), every count a non-negative integer,
    every histogram its buckets and sum, non-negative and finite."""
    if len(row) != 2 or type(row[0]) is not list or type(row[1]) is not list:
        return "totals row needs [counts, timings]"
    counts, timings = row
    known_counts = set(count_series(config))
    for entry in counts:
        if not (type(entry) is list and len(entry) >= 2
                and tuple(entry[:-1]) in known_counts
                and type(entry[-1]) is int and entry[-1] >= 0):
            return "bad totals count"
    width = len(RESPONSE_BUCKETS) + 2
    known_timings = set(timing_series(config))
    for entry in timings:
        if not (type(entry) is list and len(entry) > width
                and tuple(entry[:-width]) in known_timings
                and all(type(v) in (int, float) and math.isfinite(v) and v >= 0
                        for v in entry[-width:])):
            return "bad totals timing"
    return None


def _bad(detail: str) -> Rejection:
    return Rejection(RejectReason.SCHEMA, detail)


def _time(value: Any, not_after: float) -> bool:
    return type(value) in (int, float) and math.isfinite(value) and value <= not_after


def _check_row(tag: RecordTag, row: list[Any], platforms: frozenset[str] | Any,
               not_after: float) -> str | None:
    if tag is RecordTag.ORPHAN:
        good = (len(row) in (1, 2) and _time(row[0], not_after)
                and (len(row) == 1 or _agent(row[1])))
        return None if good else "bad orphan row"
    if tag is RecordTag.CLOCK:
        good = len(row) == 2 and all(_time(v, not_after) for v in row)
        return None if good else "bad clock row"
    if tag is RecordTag.SCHEDULED:
        return _scheduled_row(row, platforms, not_after)
    if tag is RecordTag.STATUS:  # [platform, created_at, opened_at, reopened]
        good = (len(row) == 4 and row[0] in platforms and _time(row[1], not_after)
                and _time(row[2], row[1]) and type(row[3]) is bool)
        return None if good else "bad conversation status row"
    if tag is RecordTag.AUDIENCE:
        if len(row) not in (7, 10, 11, 12):
            return "audience row needs 7, 10, 11 or 12 fields"
        if len(row) == 12 and not (type(row[11]) is str and 0 < len(row[11]) <= MAX_ID_LENGTH):
            return "bad audience conversation"
        platform, created_at, needs, answered_at, breached, expired, features = row[:7]
        if len(row) > 7 and not (type(row[7]) is str and 0 < len(row[7]) <= _MAX_POLICY_NAME
                                 and _agent(row[8]) and type(row[9]) is bool
                                 and (len(row) == 10 or type(row[10]) is bool)):
            return "bad audience policy, agent, follow-up or late-replied"
        if not (platform in platforms and _time(created_at, not_after)
                and type(needs) is bool and type(breached) is bool and type(expired) is bool
                and (answered_at is None or _time(answered_at, math.inf))):
            return "bad audience row"
        if features is not None and not _audience_features(features):
            return "bad audience features"
        return None
    if len(row) not in (4, 5):
        return "post row needs 4 or 5 fields"
    platform, created_at, reply_to, features = row[:4]
    if len(row) == 5 and not _agent(row[4]):
        return "bad post agent"
    if not (platform in platforms and _time(created_at, not_after)
            and (reply_to is None or (type(reply_to) is str
                                      and 0 < len(reply_to) <= MAX_ID_LENGTH))):
        return "bad post row"
    if features is not None and not _post_features(features):
        return "bad post features"
    return None


def _scheduled_row(row: list[Any], platforms: frozenset[str] | Any, not_after: float
                   ) -> str | None:
    """[platform, created_at, scheduled_at, author, text] of a queued scheduled post."""
    if len(row) != 5:
        return "scheduled row needs 5 fields"
    platform, created_at, scheduled_at, author, text = row
    good = (platform in platforms and _time(created_at, not_after)
            and _time(scheduled_at, created_at + MAX_SCHEDULE_AHEAD_SECONDS)
            and type(author) is str and 0 < len(author) <= MAX_ID_LENGTH
            and type(text) is str and len(text) <= MAX_SCHEDULED_TEXT_CHARS)
    return None if good else "bad scheduled row"


def _terms(value: Any, limit: int = MAX_TERMS_PER_EVENT, longest: int = MAX_TERM_LENGTH
           ) -> bool:
    """A list of at most `limit` non-empty strings of at most `longest` characters."""
    return (type(value) is list and len(value) <= limit
            and all(type(t) is str and 0 < len(t) <= longest for t in value))


def _audience_features(value: Any) -> bool:
    if type(value) is not list or len(value) not in (6, 8):
        return False
    if len(value) == 8 and not (  # static signal and hashtags of the crisis expansion
            type(value[6]) is bool
            and _terms(value[7], MAX_TAGS_PER_MESSAGE, MAX_TAG_LENGTH)):
        return False
    lang, sentiment, signal, in_crisis, engaged, terms = value[:6]
    return (lang in _LANGS and type(sentiment) in (int, float) and math.isfinite(sentiment)
            and -1.0 <= sentiment <= 1.0 and type(signal) is bool
            and type(in_crisis) is bool and type(engaged) is bool and _terms(terms))


def _post_features(value: Any) -> bool:
    if type(value) is not list or len(value) != 2:
        return False
    terms, fingerprint = value
    if terms is not None:
        return fingerprint is None and _terms(terms)
    return fingerprint is None or (type(fingerprint) is int
                                   and 0 <= fingerprint < _FINGERPRINT_LIMIT)
