"""Decoding never raises: every bad record becomes a bounded rejection reason."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.config import parse_brands
from streams.events import (
    AudienceKind,
    Rejection,
    RejectReason,
    Side,
    SocialEvent,
    dead_letter_record,
    decode_event,
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
