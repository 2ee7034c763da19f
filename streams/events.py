"""The event model shared by every part of brandpulse: a leaf, it imports nothing of it.

Two kinds of event travel on two co-partitioned topics keyed by brand: posts written by
the brand (broadcasts and replies) and messages written by its audience (mentions,
comments, replies, direct messages). Their byte formats live in `streams.wire`, whose
decoders never raise: a bad record becomes a `Rejection` with a bounded reason, so the
worker can dead-letter and count it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: How far after the wall clock an event may be dated; further is refused as
#: `future_timestamp` by the worker, the sources, the crisis shares and the signed records.
#: Why a bound: one record from a clock running ahead would move its brand's time and breach
#: every open SLA at once. 300 s is the skew NTP-synchronised hosts stay well within.
MAX_FUTURE_SKEW_SECONDS = 300.0


def beyond_skew(created_at: float, wall: float, skew: float = MAX_FUTURE_SKEW_SECONDS) -> bool:
    """The future-skew rule: `created_at` lies further after the wall clock than `skew`."""
    return created_at > wall + skew


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
    # internal records (control, crisis shares): streams/wire/signing.py
    UNSIGNED = "unsigned"  # no signature header
    BAD_SIGNATURE = "bad_signature"  # a malformed signature, or one no internal key made
    REPLAYED = "replayed"  # signed long before a record already accepted: written again


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


#: Ids, authors, brands and platforms longer than this are refused: they become state keys.
MAX_ID_LENGTH = 256


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
    same id is published or a `withdrawn` record names it (codec: streams/wire/events.py)."""

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


# --- Inbox conversations: a `resolved` or `reopened` kind on the brand-posts topic --------

STATUS_KINDS = ("resolved", "reopened")


@dataclass(frozen=True, slots=True)
class ConversationStatus:
    """An inbox conversation (Chatwoot) was resolved, or reopened after a resolution.

    `id` names this one status change (the conversation and when it changed), so a sender's
    retry is a duplicate; `thread` is the conversation, as the `in_reply_to` of its messages
    (codec: streams/wire/events.py; counted: streams/core/sla.py `add_status`)."""

    id: str
    brand: str
    platform: str
    thread: str
    created_at: float  # when the status changed (event time)
    opened_at: float  # when the conversation was created
    reopened: bool = False


AnyBrandRecord = SocialEvent | ScheduledPost | PostWithdrawal | ConversationStatus
#: What a source emits and a recording (JSONL) holds: events, and inbox status changes,
#: which travel with the brand's posts.
RecordedEvent = SocialEvent | ConversationStatus
