"""JSONL source: round trip, and every bad line reported with its number instead of raising."""

from __future__ import annotations

import io
import json
from pathlib import Path

from streams.config import parse_brands
from streams.events import AudienceKind, RejectReason, Side, SocialEvent
from streams.sources.jsonl import BadLine, parse_line, read_jsonl, write_jsonl

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z

EVENTS = [
    SocialEvent(Side.BRAND, "b1", "acme", "twitter", "AcmeSupport", "Big sale today!", T0),
    SocialEvent(Side.AUDIENCE, "a1", "acme", "twitter", "jane", "@AcmeSupport où est ma commande ?",
                T0 + 60.5, None, AudienceKind.MENTION, lang="fr"),
    SocialEvent(Side.BRAND, "b2", "acme", "twitter", "AcmeSupport", "@jane on regarde !",
                T0 + 120.25, "a1", lang="fr"),
    SocialEvent(Side.AUDIENCE, "a2", "acme", "instagram", "bob", "RT great deal",
                T0 + 130, "b1", AudienceKind.COMMENT, is_share=True),
    SocialEvent(Side.AUDIENCE, "a3", "acme", "twitter", "dealbot", "Deal alert",
                T0 + 140, None, AudienceKind.DIRECT_MESSAGE, automated=True),
]


def _good(**changes: object) -> str:
    record: dict[str, object] = {"side": "audience", "id": "x1", "brand": "acme",
                                 "platform": "twitter", "author": "jane", "text": "hi",
                                 "created_at": "2023-11-14T22:13:20Z", "in_reply_to": None}
    record.update(changes)
    return json.dumps({k: v for k, v in record.items() if v is not ...})


def test_round_trip_through_text_and_binary_files(tmp_path: Path) -> None:
    text, binary = io.StringIO(), io.BytesIO()
    assert write_jsonl(EVENTS, text) == len(EVENTS)
    assert write_jsonl(iter(EVENTS), binary) == len(EVENTS)
    assert text.getvalue().encode("utf-8") == binary.getvalue()
    assert list(read_jsonl(io.StringIO(text.getvalue()))) == EVENTS
    assert list(read_jsonl(io.BytesIO(binary.getvalue()))) == EVENTS
    path = tmp_path / "events.jsonl"
    write_jsonl(EVENTS, path)
    assert list(read_jsonl(path)) == EVENTS
    assert list(read_jsonl(str(path))) == EVENTS
    first = json.loads(path.read_text(encoding="utf-8").splitlines()[0])
    assert first["side"] == "brand" and first["created_at"] == "2023-11-14T22:13:20.000Z"


def test_bad_lines_are_yielded_with_line_numbers_and_do_not_stop_reading() -> None:
    lines = [
        _good(),                                         # 1 ok
        "{not json",                                     # 2 malformed
        "",                                              # 3 blank: skipped, still numbered
        _good(side=...),                                 # 4 no side
        _good(side="customer"),                          # 5 unknown side
        _good(created_at="2023-11-14 22:13:20"),         # 6 no offset
        "[1, 2, 3]",                                     # 7 not an object
        _good(side="brand", kind="mention"),             # 8 kind on a brand post
        _good(id="x2", kind="reply", in_reply_to="b1"),  # 9 ok
        _good(text="x" * 300),                           # 10 oversized for the limit below
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8") + b'{"side": "audience", "text": "\xff"}\n'
    results = list(read_jsonl(io.BytesIO(data), max_bytes=250))
    bad = [r for r in results if isinstance(r, BadLine)]
    good = [r for r in results if isinstance(r, SocialEvent)]
    assert [b.line for b in bad] == [2, 4, 5, 6, 7, 8, 10, 11]
    reasons = {b.line: b.rejection.reason for b in bad}
    assert reasons[2] is RejectReason.MALFORMED_JSON
    assert reasons[10] is RejectReason.OVERSIZED
    assert reasons[11] is RejectReason.MALFORMED_JSON  # invalid UTF-8
    assert {reasons[n] for n in (4, 5, 6, 7, 8)} == {RejectReason.SCHEMA}
    assert [e.id for e in good] == ["x1", "x2"]
    assert good[1].kind is AudienceKind.REPLY and good[1].in_reply_to == "b1"
    assert len(results) + 1 == data.count(b"\n")  # one item per non-blank line
    line, rejection = bad[0]  # unpacks as (line, Rejection)
    assert line == 2 and "side" not in rejection.detail


def test_brands_reject_unknown_brand_and_platform() -> None:
    brands = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["AcmeSupport"]}}]})
    assert isinstance(parse_line(_good(), brands), SocialEvent)
    unknown = parse_line(_good(brand="zeta"), brands)
    platform = parse_line(_good(platform="tiktok"), brands)
    assert not isinstance(unknown, SocialEvent) and unknown.reason is RejectReason.UNKNOWN_BRAND
    assert not isinstance(platform, SocialEvent)
    assert platform.reason is RejectReason.UNKNOWN_PLATFORM
    assert isinstance(parse_line(_good(brand="zeta")), SocialEvent)  # no brands: accept all
