"""Scheduled brand posts on the brand-posts topic: a `scheduled` or `withdrawn` kind; and
inbox conversation status changes: a `resolved` or `reopened` kind.

Decoding never raises: a bad record is a `Rejection` with a bounded reason (dead-lettered
and counted by the worker like any bad input).
"""

from __future__ import annotations

from typing import Any

from streams.core.brand import BrandsConfig
from streams.events import (
    MAX_SCHEDULE_AHEAD_SECONDS,
    MAX_SCHEDULED_TEXT_CHARS,
    POST_KINDS,
    STATUS_KINDS,
    AnyBrandRecord,
    ConversationStatus,
    PostWithdrawal,
    Rejection,
    RejectReason,
    ScheduledPost,
    Side,
)
from streams.wire.events import (
    event_from_dict,
    format_rfc3339,
    identifier,
    load_record,
    missing_field,
    parse_rfc3339,
)


def decode_input(raw: bytes | None, side: Side, brands: BrandsConfig | None, max_bytes: int
                 ) -> AnyBrandRecord | Rejection:
    """`decode_event`, plus the scheduled/withdrawn kinds of brand posts. Never raises."""
    record = load_record(raw, max_bytes)
    if isinstance(record, Rejection):
        return record
    if side is Side.BRAND and type(record) is dict and record.get("kind") is not None:
        if record["kind"] in STATUS_KINDS:
            return status_from_dict(record, brands)
        return schedule_from_dict(record, brands)
    return event_from_dict(record, side, brands)


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
    raw_at = record.get("scheduled_at")
    if type(raw_at) is not str:
        return missing_field("scheduled_at")
    try:
        scheduled_at = parse_rfc3339(raw_at)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, f"scheduled_at: {exc}"[:200])
    ahead = scheduled_at - base.created_at
    if ahead > MAX_SCHEDULE_AHEAD_SECONDS:
        return Rejection(RejectReason.FUTURE_TIMESTAMP, f"scheduled_at {raw_at[:40]} is "
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
    raw_at = record.get("opened_at")
    if type(raw_at) is not str:
        return missing_field("opened_at")
    try:
        opened_at = parse_rfc3339(raw_at)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, f"opened_at: {exc}"[:200])
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
