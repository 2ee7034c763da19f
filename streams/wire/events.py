"""Records on the input topics and the dead-letter topic: JSON, RFC 3339 times.

`decode_input` is the one decoder of an input record: a social event from either topic, or
a scheduled or withdrawn post (a brand-posts record with a `kind`).

Decoding never raises: a bad record becomes a `Rejection` with a bounded reason, so the
worker can dead-letter and count it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from sys import intern
from typing import Any

import orjson

from streams.core.brand import BrandsConfig
from streams.events import (
    MAX_ID_LENGTH,
    MAX_SCHEDULE_AHEAD_SECONDS,
    MAX_SCHEDULED_TEXT_CHARS,
    POST_KINDS,
    STATUS_KINDS,
    AnyBrandRecord,
    AudienceKind,
    ConversationStatus,
    PostWithdrawal,
    RecordedEvent,
    Rejection,
    RejectReason,
    ScheduledPost,
    Side,
    SocialEvent,
)

_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"
)
_KINDS = {kind.value: kind for kind in AudienceKind}


def parse_rfc3339(value: str) -> float:
    """RFC 3339 timestamp (offset mandatory) to epoch seconds; ValueError otherwise."""
    if not _RFC3339.match(value):
        raise ValueError(f"created_at {value!r} is not RFC 3339 with a UTC offset")
    return datetime.fromisoformat(value.replace("z", "Z")).timestamp()


def format_rfc3339(epoch_seconds: float) -> str:
    text = datetime.fromtimestamp(epoch_seconds, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def identifier(value: Any) -> str | None:
    """Ids may come as strings or integers; anything else is a schema error."""
    if type(value) is str:  # the common case first: this runs several times per event
        if len(value) > MAX_ID_LENGTH:
            return None
        if value and not value[0].isspace() and not value[-1].isspace():
            return value
        return value.strip() or None
    if type(value) is int:  # bool is a subclass of int and is rejected here
        return str(value)
    return None


def missing_field(name: str) -> Rejection:
    return Rejection(RejectReason.SCHEMA, f"field {name!r} missing or not a string")


def event_from_dict(
    record: Any, side: Side, brands: BrandsConfig | None
) -> SocialEvent | Rejection:
    """Validate one decoded JSON object; `brands=None` accepts any brand (offline tools).

    Written flat, with one lookup per field, because it runs for every consumed record.
    """
    if type(record) is not dict:
        return Rejection(RejectReason.SCHEMA, "record is not a JSON object")
    get = record.get
    event_id = identifier(get("id"))
    if event_id is None:
        return missing_field("id")
    brand_name = identifier(get("brand"))
    if brand_name is None:
        return missing_field("brand")
    platform = identifier(get("platform"))
    if platform is None:
        return missing_field("platform")
    platform = intern(platform)  # kept by every open message: one object per platform
    author = identifier(get("author"))
    if author is None:
        return missing_field("author")
    text = get("text", "")
    if type(text) is not str:
        return Rejection(RejectReason.SCHEMA, "field 'text' is not a string")
    created_raw = get("created_at")
    if type(created_raw) is not str:
        return missing_field("created_at")
    try:
        created_at = parse_rfc3339(created_raw)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, str(exc))
    in_reply_to = get("in_reply_to")
    if in_reply_to is not None:
        in_reply_to = identifier(in_reply_to)
        if in_reply_to is None:
            return Rejection(RejectReason.SCHEMA, "field 'in_reply_to' is not an id")
    is_share = get("is_share", False)
    automated = get("automated", False)
    if type(is_share) is not bool:
        return Rejection(RejectReason.SCHEMA, "field 'is_share' is not a boolean")
    if type(automated) is not bool:
        return Rejection(RejectReason.SCHEMA, "field 'automated' is not a boolean")
    lang = get("lang")
    if lang is not None and type(lang) is not str:
        return Rejection(RejectReason.SCHEMA, "field 'lang' is not a string")
    kind: AudienceKind | None = None
    if side is Side.AUDIENCE:
        raw_kind = get("kind")
        if raw_kind is None:
            kind = AudienceKind.REPLY if in_reply_to is not None else AudienceKind.MENTION
        else:
            kind = _KINDS.get(raw_kind) if type(raw_kind) is str else None
            if kind is None:
                allowed = ", ".join(k.value for k in AudienceKind)
                return Rejection(RejectReason.SCHEMA, f"field 'kind' must be one of {allowed}")
    if brands is not None:
        brand = brands.get(brand_name)
        if brand is None:
            return Rejection(RejectReason.UNKNOWN_BRAND, f"brand {brand_name!r} "
                             "is not in the brands file")
        if platform not in brand.handles:
            return Rejection(RejectReason.UNKNOWN_PLATFORM, f"platform {platform!r} "
                             f"has no handles for brand {brand.name!r}")
    return SocialEvent(side, event_id, brand_name, platform, author, text, created_at,
                       in_reply_to, kind, lang, is_share, automated)


def decode_event(
    raw: bytes | None, side: Side, brands: BrandsConfig | None, max_bytes: int
) -> SocialEvent | Rejection:
    """Bytes from Kafka to an event, or the reason it is rejected. Never raises."""
    record = load_record(raw, max_bytes)
    if isinstance(record, Rejection):
        return record
    return event_from_dict(record, side, brands)


def decode_input(raw: bytes | None, side: Side, brands: BrandsConfig | None, max_bytes: int
                 ) -> AnyBrandRecord | Rejection:
    """`decode_event`, plus the scheduled/withdrawn kinds of brand posts and the
    resolved/reopened kinds of inbox conversations. Never raises."""
    record = load_record(raw, max_bytes)
    if isinstance(record, Rejection):
        return record
    if side is Side.BRAND and type(record) is dict and record.get("kind") is not None:
        if record["kind"] in STATUS_KINDS:
            return status_from_dict(record, brands)
        return schedule_from_dict(record, brands)
    return event_from_dict(record, side, brands)


def load_record(raw: bytes | None, max_bytes: int) -> Any:
    """Parsed JSON of a record within the size limit, or the Rejection saying why not."""
    if raw is None:
        return Rejection(RejectReason.MALFORMED_JSON, "empty record value")
    if len(raw) > max_bytes:
        return Rejection(RejectReason.OVERSIZED, f"{len(raw)} bytes > limit {max_bytes}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejection(RejectReason.MALFORMED_JSON, str(exc)[:200])


def event_to_dict(event: SocialEvent) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": event.id,
        "brand": event.brand,
        "platform": event.platform,
        "author": event.author,
        "text": event.text,
        "created_at": format_rfc3339(event.created_at),
        "in_reply_to": event.in_reply_to,
    }
    if event.kind is not None:
        record["kind"] = event.kind.value
    if event.lang is not None:
        record["lang"] = event.lang
    if event.is_share:
        record["is_share"] = True
    if event.automated:
        record["automated"] = True
    return record


def encode_event(event: SocialEvent) -> bytes:
    return orjson.dumps(event_to_dict(event))


def encode_record(record: RecordedEvent) -> bytes:
    """The topic value of an event or of an inbox status change."""
    if isinstance(record, ConversationStatus):
        return orjson.dumps(status_to_dict(record))
    return encode_event(record)


def record_side(record: RecordedEvent) -> Side:
    """The input topic's side: status changes travel with the brand's posts."""
    return Side.BRAND if isinstance(record, ConversationStatus) else record.side


def dead_letter_record(
    raw: bytes | None, rejection: Rejection, topic: str, partition: int, offset: int
) -> bytes:
    """What goes to the dead-letter topic: the reason, where it came from, and the payload."""
    payload = (raw or b"")[:4096]
    return orjson.dumps({
        "reason": rejection.reason.value,
        "detail": rejection.detail,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "payload": payload.decode("utf-8", errors="replace"),
        "payload_truncated": raw is not None and len(raw) > len(payload),
    })


def json_number(value: float) -> float | None:
    """A ratio for JSON (API views, reports): JSON has no NaN, an undefined ratio is null;
    six decimals are more than any gauge means."""
    return None if value != value else round(value, 6)


# --- scheduled brand posts: a `scheduled` or `withdrawn` kind on the brand-posts topic ---

def schedule_from_dict(record: dict[str, Any], brands: BrandsConfig | None
                       ) -> ScheduledPost | PostWithdrawal | Rejection:
    """Validate a brand-post record with a `kind`: `scheduled` (needs `scheduled_at`, at
    most MAX_SCHEDULE_AHEAD_SECONDS after `created_at`) or `withdrawn` (needs the id)."""
    kind = record.get("kind")
    if kind not in POST_KINDS:
        return Rejection(RejectReason.SCHEMA, "field 'kind' of a brand post must be one of "
                         + ", ".join(POST_KINDS))
    author = record.get("author") if kind == "scheduled" else record.get("author", "brand")
    base = event_from_dict({**record, "kind": None, "author": author}, Side.BRAND, brands)
    if isinstance(base, Rejection):
        return base
    if kind == "withdrawn":
        return PostWithdrawal(base.id, base.brand, base.platform, base.created_at)
    scheduled_at = _time_field(record, "scheduled_at")
    if isinstance(scheduled_at, Rejection):
        return scheduled_at
    ahead = scheduled_at - base.created_at
    if ahead > MAX_SCHEDULE_AHEAD_SECONDS:
        return Rejection(RejectReason.FUTURE_TIMESTAMP,
                         f"scheduled_at {record['scheduled_at'][:40]} is "
                         f"{ahead / 86400:.0f} days after created_at (limit "
                         f"{MAX_SCHEDULE_AHEAD_SECONDS / 86400:.0f} days)")
    if base.in_reply_to is not None:
        return Rejection(RejectReason.SCHEMA, "a scheduled post is a broadcast: "
                         "'in_reply_to' is not allowed")
    return ScheduledPost(base.id, base.brand, base.platform, base.author,
                         base.text[:MAX_SCHEDULED_TEXT_CHARS], base.created_at, scheduled_at)


def schedule_to_dict(record: ScheduledPost | PostWithdrawal) -> dict[str, Any]:
    """The brand-posts record of a scheduled post or a withdrawal (inverse of the above)."""
    out: dict[str, Any] = {"id": record.id, "brand": record.brand,
                           "platform": record.platform,
                           "created_at": format_rfc3339(record.created_at)}
    if isinstance(record, ScheduledPost):
        out.update(kind="scheduled", author=record.author, text=record.text,
                   scheduled_at=format_rfc3339(record.scheduled_at))
    else:
        out.update(kind="withdrawn", author=record.brand)
    return out


def status_from_dict(record: dict[str, Any], brands: BrandsConfig | None
                     ) -> ConversationStatus | Rejection:
    """Validate a brand-post record of kind `resolved` or `reopened`: the brand-post fields
    (id, brand, platform, created_at), the conversation (`thread`) and when it was created
    (`opened_at`, not after `created_at`)."""
    base = event_from_dict({**record, "kind": None, "author": record.get("author", "brand")},
                           Side.BRAND, brands)
    if isinstance(base, Rejection):
        return base
    thread = identifier(record.get("thread"))
    if thread is None:
        return missing_field("thread")
    opened_at = _time_field(record, "opened_at")
    if isinstance(opened_at, Rejection):
        return opened_at
    if opened_at > base.created_at:
        return Rejection(RejectReason.SCHEMA, "opened_at is after created_at")
    return ConversationStatus(base.id, base.brand, base.platform, thread, base.created_at,
                              opened_at, record["kind"] == "reopened")


def status_to_dict(record: ConversationStatus) -> dict[str, Any]:
    """The brand-posts record of a conversation status change (inverse of the above)."""
    return {"kind": "reopened" if record.reopened else "resolved", "id": record.id,
            "brand": record.brand, "platform": record.platform, "author": record.brand,
            "thread": record.thread, "created_at": format_rfc3339(record.created_at),
            "opened_at": format_rfc3339(record.opened_at)}


def _time_field(record: dict[str, Any], name: str) -> float | Rejection:
    """A required RFC 3339 field of a brand-post record, as epoch seconds."""
    raw = record.get(name)
    if type(raw) is not str:
        return missing_field(name)
    try:
        return parse_rfc3339(raw)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, f"{name}: {exc}"[:200])
