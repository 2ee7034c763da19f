"""Decoding never raises: every bad record becomes a bounded rejection reason."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.config import parse_brands
from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
from streams.events import AudienceKind, Rejection, RejectReason, Side, SocialEvent
from streams.wire import (
    dead_letter_record,
    decode_crisis_command,
    decode_event,
    encode_crisis_command,
    encode_event,
)

BRANDS = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["AcmeSupport"]}}]})
GOOD = {"id": "m1", "brand": "acme", "platform": "twitter", "author": "bob",
        "text": "@AcmeSupport hi", "created_at": "2026-11-02T10:00:00+01:00",
        "in_reply_to": None}


def decode(record: object, side: Side = Side.AUDIENCE, max_bytes: int = 65536):
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    return decode_event(raw, side, BRANDS, max_bytes)


def test_a_good_message_decodes_with_event_time_in_utc() -> None:
    event = decode(GOOD)
    assert isinstance(event, SocialEvent)
    assert event.created_at == 1793610000.0  # 09:00 UTC
    assert event.kind is AudienceKind.MENTION
    assert decode({**GOOD, "in_reply_to": 42}).kind is AudienceKind.REPLY  # type: ignore


def test_events_share_one_platform_string() -> None:
    """Every open message keeps its platform: one object per platform, not one per event
    (each decoded JSON value is a new string)."""
    first, second = decode(GOOD), decode({**GOOD, "id": "m2"})
    assert isinstance(first, SocialEvent) and isinstance(second, SocialEvent)
    assert first.platform == "twitter" and first.platform is second.platform


def test_round_trip() -> None:
    event = decode({**GOOD, "lang": "fr", "is_share": True, "kind": "comment"})
    assert isinstance(event, SocialEvent)
    assert decode(encode_event(event)) == event


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (b"{oops", RejectReason.MALFORMED_JSON),
        (b"", RejectReason.MALFORMED_JSON),
        ([1, 2], RejectReason.SCHEMA),
        ({**GOOD, "id": ""}, RejectReason.SCHEMA),
        ({**GOOD, "created_at": "yesterday"}, RejectReason.SCHEMA),
        ({**GOOD, "created_at": "2026-11-02T10:00:00"}, RejectReason.SCHEMA),  # no offset
        ({**GOOD, "is_share": "yes"}, RejectReason.SCHEMA),
        ({**GOOD, "kind": "carrier_pigeon"}, RejectReason.SCHEMA),
        ({**GOOD, "text": 3}, RejectReason.SCHEMA),
        ({**GOOD, "brand": "globex"}, RejectReason.UNKNOWN_BRAND),
        ({**GOOD, "platform": "instagram"}, RejectReason.UNKNOWN_PLATFORM),
    ],
)
def test_bad_records_are_rejected_with_a_reason(record: object, reason: RejectReason) -> None:
    result = decode(record)
    assert isinstance(result, Rejection)
    assert result.reason is reason


def test_oversized_records_are_rejected_before_parsing() -> None:
    result = decode({**GOOD, "text": "x" * 200}, max_bytes=100)
    assert isinstance(result, Rejection) and result.reason is RejectReason.OVERSIZED


def test_dead_letter_record_carries_reason_origin_and_payload() -> None:
    rejection = Rejection(RejectReason.SCHEMA, "field 'id' missing")
    record = orjson.loads(dead_letter_record(b"{}", rejection, "topic-a", 3, 17))
    assert record == {"reason": "schema", "detail": "field 'id' missing",
                      "source_topic": "topic-a", "source_partition": 3, "source_offset": 17,
                      "payload": "{}", "payload_truncated": False}


@given(st.binary(max_size=512))
def test_decoding_arbitrary_bytes_never_raises(raw: bytes) -> None:
    assert isinstance(decode_event(raw, Side.BRAND, BRANDS, 256), SocialEvent | Rejection)


# --------------------------------------------------------------------------- control records

NOW = 1_800_000_000.0  # the wall clock the decoder is given
YEAR = 365.25 * 86400
DECLARE = {"action": "declare", "name": "Storm", "keywords": ["storm", "flood"],
           "hashtags": ["Storm"], "region": "FR", "start": "2027-01-15T08:00:00Z",
           "end": None}


def command(record: object) -> CrisisCommand | Rejection:
    raw = record if isinstance(record, bytes) else orjson.dumps(record)
    return decode_crisis_command(raw, NOW)


def test_declare_and_end_commands_round_trip() -> None:
    declare = CrisisCommand(CommandAction.DECLARE, DeclaredCrisis(
        "Storm", ("storm",), ("Storm",), None, NOW - 3600, NOW + 3600))
    assert decode_crisis_command(encode_crisis_command(declare), NOW) == declare
    end = CrisisCommand(CommandAction.END, DeclaredCrisis("Storm", end=NOW))  # start: the epoch
    assert decode_crisis_command(encode_crisis_command(end), NOW) == end
    historical = command({**DECLARE, "start": "2017-10-01T00:00:00Z"})  # a TWCS replay
    assert isinstance(historical, CrisisCommand)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({**DECLARE, "end": "2027-01-15T07:59:59Z"}, RejectReason.SCHEMA),  # end before start
        ({**DECLARE, "start": None}, RejectReason.SCHEMA),
        ({"action": "end", "name": "Storm"}, RejectReason.SCHEMA),  # an end needs its end
        ({**DECLARE, "action": ["declare"]}, RejectReason.SCHEMA),
        ({**DECLARE, "start": "2038-01-15T08:00:00Z"}, RejectReason.FUTURE_TIMESTAMP),
        ({**DECLARE, "end": "9999-12-31T23:59:59Z"}, RejectReason.FUTURE_TIMESTAMP),
        ({"action": "end", "name": "Storm", "end": "9999-12-31T23:59:59Z"},
         RejectReason.FUTURE_TIMESTAMP),
        ({**DECLARE, "start": "0001-01-01T00:00:00+01:00"}, RejectReason.SCHEMA),
        ({**DECLARE, "start": "2001-01-01T00:00:00Z"}, RejectReason.SCHEMA),  # > 20 years
        ({**DECLARE, "start": 1800000000}, RejectReason.SCHEMA),
        ({**DECLARE, "name": "x" * 201}, RejectReason.SCHEMA),
        ({**DECLARE, "keywords": ["k"] * 101}, RejectReason.SCHEMA),
        ({**DECLARE, "hashtags": ["h" * 101]}, RejectReason.SCHEMA),
        ({**DECLARE, "keywords": "storm"}, RejectReason.SCHEMA),
        ({**DECLARE, "region": 7}, RejectReason.SCHEMA),
        (b"[" * 30_000 + b"]" * 30_000, RejectReason.MALFORMED_JSON),  # orjson depth limit
        (b"{" * 70_000, RejectReason.OVERSIZED),
    ],
)
def test_bad_control_records_are_rejected_with_a_reason(record: object,
                                                        reason: RejectReason) -> None:
    result = command(record)
    assert isinstance(result, Rejection), result
    assert result.reason is reason


def test_the_new_reasons_exist_for_every_merge_to_agree() -> None:
    assert RejectReason("future_timestamp") is RejectReason.FUTURE_TIMESTAMP
    assert RejectReason("key_mismatch") is RejectReason.KEY_MISMATCH
