"""The event model shared by every part of brandpulse, and its JSON codec.

Two kinds of event travel on two co-partitioned topics keyed by brand: posts written by
the brand (broadcasts and replies) and messages written by its audience (mentions,
comments, replies, direct messages). Decoding never raises: a bad record becomes a
`Rejection` with a bounded reason, so the worker can dead-letter and count it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from streams.config import BrandsConfig
from streams.core.crisis import DeclaredCrisis
from streams.core.shared_crisis import CrisisShare


class Side(StrEnum):
    """Who wrote the event: the brand itself or its audience."""

    BRAND = "brand"
    AUDIENCE = "audience"


class AudienceKind(StrEnum):
    """How an audience message reached the brand; decides whether it expects an answer."""

    MENTION = "mention"
    COMMENT = "comment"
    REPLY = "reply"
    DIRECT_MESSAGE = "direct_message"


class RejectReason(StrEnum):
    """Bounded set of reasons, used as the `reason` metric label."""

    MALFORMED_JSON = "malformed_json"
    SCHEMA = "schema"
    OVERSIZED = "oversized"
    UNKNOWN_BRAND = "unknown_brand"
    UNKNOWN_PLATFORM = "unknown_platform"
    FUTURE_TIMESTAMP = "future_timestamp"  # event time beyond the wall clock + allowed skew
    KEY_MISMATCH = "key_mismatch"  # the record's key is not the brand of its value


@dataclass(frozen=True, slots=True)
class SocialEvent:
    """A brand post or an audience message. `created_at` is UTC epoch seconds (event time)."""

    side: Side
    id: str
    brand: str
    platform: str
    author: str
    text: str
    created_at: float
    in_reply_to: str | None = None
    kind: AudienceKind | None = None  # audience messages only
    lang: str | None = None
    is_share: bool = False
    automated: bool = False

    @property
    def is_reply(self) -> bool:
        return self.in_reply_to is not None


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a record could not become an event; travels to the dead-letter topic."""

    reason: RejectReason
    detail: str


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


#: Ids, authors, brands and platforms longer than this are refused: they become state keys.
MAX_ID_LENGTH = 256


def _identifier(value: Any) -> str | None:
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


def _missing(name: str) -> Rejection:
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
    event_id = _identifier(get("id"))
    if event_id is None:
        return _missing("id")
    brand_name = _identifier(get("brand"))
    if brand_name is None:
        return _missing("brand")
    platform = _identifier(get("platform"))
    if platform is None:
        return _missing("platform")
    author = _identifier(get("author"))
    if author is None:
        return _missing("author")
    text = get("text", "")
    if type(text) is not str:
        return Rejection(RejectReason.SCHEMA, "field 'text' is not a string")
    created_raw = get("created_at")
    if type(created_raw) is not str:
        return _missing("created_at")
    try:
        created_at = parse_rfc3339(created_raw)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, str(exc))
    in_reply_to = get("in_reply_to")
    if in_reply_to is not None:
        in_reply_to = _identifier(in_reply_to)
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


# --- Scheduled brand posts: a `scheduled` or `withdrawn` kind on the brand-posts topic -----

#: A post scheduled further ahead than this after it was written is refused (a typo'd
#: year, not a campaign): social schedulers plan weeks ahead, not years.
MAX_SCHEDULE_AHEAD_SECONDS = 90 * 86400.0
#: Text kept of a scheduled post (its state record stays far below 16 KB); longer texts are
#: checked on their beginning.
MAX_SCHEDULED_TEXT_CHARS = 2000
POST_KINDS = ("scheduled", "withdrawn")


@dataclass(frozen=True, slots=True)
class ScheduledPost:
    """A brand post that will go out at `scheduled_at`; queued until the post with the
    same id is published or a `withdrawn` record names it."""

    id: str
    brand: str
    platform: str
    author: str
    text: str
    created_at: float  # when it was scheduled (event time, bounded like every event)
    scheduled_at: float


@dataclass(frozen=True, slots=True)
class PostWithdrawal:
    """The scheduled post `id` will not go out: it leaves the queue."""

    id: str
    brand: str
    platform: str
    created_at: float


AnyBrandRecord = SocialEvent | ScheduledPost | PostWithdrawal


def decode_input(raw: bytes | None, side: Side, brands: BrandsConfig | None, max_bytes: int
                 ) -> AnyBrandRecord | Rejection:
    """`decode_event`, plus the scheduled/withdrawn kinds of brand posts. Never raises."""
    record = load_record(raw, max_bytes)
    if isinstance(record, Rejection):
        return record
    if side is Side.BRAND and type(record) is dict and record.get("kind") is not None:
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
        return _missing("scheduled_at")
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


# --- Control records: operator-declared crises on the control topic -----------------------

@dataclass(frozen=True, slots=True)
class CrisisCommand:
    """`declare` (or re-declare) a crisis, or `end` the crisis of that name at `crisis.end`."""

    action: str  # "declare" | "end"
    crisis: DeclaredCrisis


def encode_crisis_command(command: CrisisCommand) -> bytes:
    crisis = command.crisis
    return orjson.dumps({
        "action": command.action, "name": crisis.name, "keywords": list(crisis.keywords),
        "hashtags": list(crisis.hashtags), "region": crisis.region,
        "start": format_rfc3339(crisis.start),
        "end": None if crisis.end is None else format_rfc3339(crisis.end),
    })


#: Bounds of a control record: an operator declares a handful of terms, not a dictionary.
MAX_CONTROL_BYTES = 64 * 1024
MAX_CRISIS_NAME_CHARS = 200
MAX_CRISIS_TERMS = 100  # keywords, and hashtags, per crisis
MAX_CRISIS_TERM_CHARS = 100
#: Declared times must be plausible: the past reaches back over historical replays (the
#: 2017 TWCS data set), the future allows a crisis planned ahead, not a typo'd year.
MAX_CONTROL_PAST_SECONDS = 20 * 365.25 * 86400
MAX_CONTROL_FUTURE_SECONDS = 10 * 365.25 * 86400


def _term_list(record: dict[str, Any], key: str) -> tuple[str, ...] | Rejection:
    values = record.get(key)
    if values is None:
        return ()
    if type(values) is not list or not all(type(v) is str for v in values):
        return Rejection(RejectReason.SCHEMA, f"field {key!r} is not a list of strings")
    if len(values) > MAX_CRISIS_TERMS or any(len(v) > MAX_CRISIS_TERM_CHARS for v in values):
        return Rejection(RejectReason.SCHEMA, f"field {key!r}: at most {MAX_CRISIS_TERMS} "
                         f"terms of at most {MAX_CRISIS_TERM_CHARS} characters")
    return tuple(values)


def _control_time(record: dict[str, Any], key: str, now: float) -> float | Rejection | None:
    value = record.get(key)
    if value is None:
        return None
    if type(value) is not str:
        return Rejection(RejectReason.SCHEMA, f"field {key!r} is not an RFC 3339 string")
    try:
        at = parse_rfc3339(value)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, f"{key}: {exc}"[:200])
    if at > now + MAX_CONTROL_FUTURE_SECONDS:
        return Rejection(RejectReason.FUTURE_TIMESTAMP, f"{key} {value[:40]} is more than "
                         "10 years ahead of the wall clock")
    if at < now - MAX_CONTROL_PAST_SECONDS:
        return Rejection(RejectReason.SCHEMA, f"{key} {value[:40]} is more than 20 years "
                         "before the wall clock")
    return at


def decode_crisis_command(raw: bytes | None, now: float) -> CrisisCommand | Rejection:
    """Never raises: a bad control record is a Rejection, dead-lettered by the worker.

    `now` is the wall clock (epoch seconds), passed in so the bounds are testable. A
    `declare` needs a start and an end, if any, not before it; an `end` needs its end
    (its start is ignored: the CLI sends the epoch there).
    """
    record = load_record(raw, MAX_CONTROL_BYTES)
    if isinstance(record, Rejection):
        return record
    if type(record) is not dict:
        return Rejection(RejectReason.SCHEMA, "control record is not a JSON object")
    action = record.get("action")
    if type(action) is not str or action not in ("declare", "end"):
        return Rejection(RejectReason.SCHEMA, "control record needs action declare|end")
    name = _identifier(record.get("name"))
    if name is None:
        return _missing("name")
    if len(name) > MAX_CRISIS_NAME_CHARS:
        return Rejection(RejectReason.SCHEMA, f"field 'name' longer than "
                         f"{MAX_CRISIS_NAME_CHARS} characters")
    keywords = _term_list(record, "keywords")
    if isinstance(keywords, Rejection):
        return keywords
    hashtags = _term_list(record, "hashtags")
    if isinstance(hashtags, Rejection):
        return hashtags
    region = record.get("region")
    if region is not None and (type(region) is not str or len(region) > MAX_CRISIS_TERM_CHARS):
        return Rejection(RejectReason.SCHEMA, f"field 'region' is not a string of at most "
                         f"{MAX_CRISIS_TERM_CHARS} characters")
    end = _control_time(record, "end", now)
    if isinstance(end, Rejection):
        return end
    if action == "end":
        if end is None:
            return Rejection(RejectReason.SCHEMA, "an end command needs field 'end'")
        return CrisisCommand(action, DeclaredCrisis(name, keywords, hashtags, region,
                                                    end=end))
    start = _control_time(record, "start", now)
    if isinstance(start, Rejection):
        return start
    if start is None:
        return Rejection(RejectReason.SCHEMA, "a declare command needs field 'start'")
    if end is not None and end < start:
        return Rejection(RejectReason.SCHEMA, "end is before start")
    return CrisisCommand(action, DeclaredCrisis(name, keywords, hashtags, region, start, end))


# --- Crisis shares: each worker's audience counts for the global crisis scope -------------

#: A share holds at most one retention window of 5-minute buckets (25 h = 300 buckets).
MAX_CRISIS_SHARE_BYTES = 256 * 1024
#: How far ahead of this worker's wall clock another worker's event time may be (clock
#: skew between hosts). Events are bounded the same way, so a healthy share never is.
MAX_FUTURE_SKEW_SECONDS = 300.0
#: CrisisDetector's default retention (window 1 h x (24 baseline hours + 1)).
CRISIS_RETENTION_SECONDS = 25 * 3600
#: Messages one worker may count in one 5-minute bucket: 33 000 a second, far above any
#: brand's audience, far below what would swamp the detector's arithmetic.
MAX_BUCKET_MESSAGES = 10_000_000
MAX_SOURCE_CHARS = 256


def encode_crisis_share(share: CrisisShare, bucket_seconds: int) -> bytes:
    return orjson.dumps({
        "source": share.source, "first_seen": share.first_seen, "latest": share.latest,
        "bucket_seconds": bucket_seconds,
        "buckets": [[key, *counts] for key, counts in sorted(share.buckets.items())],
    })


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def decode_crisis_share(
    raw: bytes | None, bucket_seconds: int, now: float,
    max_future_skew: float = MAX_FUTURE_SKEW_SECONDS,
    retention_seconds: float = CRISIS_RETENTION_SECONDS,
) -> CrisisShare | Rejection:
    """Never raises: a bad share is a Rejection, dead-lettered by the worker.

    `now` is the wall clock. Accepted shares satisfy what a worker's own share does:
    ``first_seen <= latest <= now + max_future_skew``; every bucket key lies in the
    retention window ending at ``latest`` (keys from ``(latest - retention) // bucket`` to
    ``latest // bucket``, so at most retention/bucket + 1 of them, no duplicates); per
    bucket ``0 <= crisis <= messages <= MAX_BUCKET_MESSAGES`` and ``|sentiment_sum| <=
    messages``. Old shares are accepted: a replay of past days has old event times, and
    the detector itself forgets buckets older than its own window. Shares made with another
    bucket width would mix incomparable buckets and are rejected too.
    """
    record = load_record(raw, MAX_CRISIS_SHARE_BYTES)
    if isinstance(record, Rejection):
        return record
    if type(record) is not dict:
        return Rejection(RejectReason.SCHEMA, "crisis share is not a JSON object")
    source = _identifier(record.get("source"))
    if source is None:
        return _missing("source")
    if len(source) > MAX_SOURCE_CHARS:
        return Rejection(RejectReason.SCHEMA, f"source longer than {MAX_SOURCE_CHARS} "
                         "characters")
    width = record.get("bucket_seconds")
    if type(width) is not int or width != bucket_seconds:
        shown = repr(width) if type(width) in (int, float) else type(width).__name__
        return Rejection(RejectReason.SCHEMA, f"bucket_seconds {shown[:40]}"
                         f" differs from this worker's {bucket_seconds}")
    first_seen, latest = record.get("first_seen"), record.get("latest")
    if not (_number(first_seen) and _number(latest)):
        return Rejection(RejectReason.SCHEMA, "first_seen/latest must be finite numbers")
    if latest > now + max_future_skew:
        return Rejection(RejectReason.FUTURE_TIMESTAMP, f"latest {latest!r} is beyond the "
                         f"wall clock {now:.0f} + {max_future_skew:.0f} s")
    if first_seen > latest:
        return Rejection(RejectReason.SCHEMA, "first_seen is after latest")
    rows = record.get("buckets")
    if type(rows) is not list:
        return Rejection(RejectReason.SCHEMA, "field 'buckets' is not a list")
    newest = int(latest // bucket_seconds)
    oldest = int((latest - retention_seconds) // bucket_seconds)
    if len(rows) > newest - oldest + 1:
        return Rejection(RejectReason.SCHEMA, f"{len(rows)} buckets: more than one retention "
                         "window")
    buckets: dict[int, tuple[int, int, float]] = {}
    for row in rows:
        if not (type(row) is list and len(row) == 4 and type(row[0]) is int
                and type(row[1]) is int and type(row[2]) is int and _number(row[3])):
            return Rejection(RejectReason.SCHEMA, "bucket rows are [key, messages, crisis, "
                             "sentiment_sum]")
        key, messages, crisis, sentiment_sum = row
        if not oldest <= key <= newest:
            return Rejection(RejectReason.SCHEMA, f"bucket {key} outside the retention "
                             f"window [{oldest}, {newest}] ending at latest")
        if key in buckets:
            return Rejection(RejectReason.SCHEMA, f"bucket {key} appears twice")
        if not (0 <= crisis <= messages <= MAX_BUCKET_MESSAGES
                and abs(sentiment_sum) <= messages * (1 + 1e-9) + 1e-6):
            return Rejection(RejectReason.SCHEMA, f"bucket {key}: counts inconsistent or "
                             f"beyond {MAX_BUCKET_MESSAGES} messages")
        buckets[key] = (messages, crisis, float(sentiment_sum))
    return CrisisShare(source, float(first_seen), float(latest), buckets)
