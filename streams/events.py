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


#: Ids, authors, brands and platforms longer than this are refused: they become state keys.
MAX_ID_LENGTH = 256
