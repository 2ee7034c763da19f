"""What the SLA book reports back: one small frozen record per thing worth counting.

The engine hands them to every `ObservationSink` (the metrics, the brand's persisted
totals, the offline report), one method per kind. Definitions: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from streams.core.policy import DEFAULT_POLICY

__all__ = [
    "ConversationReopened",
    "ConversationResolved",
    "DuplicateEvent",
    "ExpiredUnanswered",
    "FirstResponse",
    "LateEvent",
    "LateReply",
    "MessageCounted",
    "NextResponse",
    "Observation",
    "PostCounted",
    "PostKind",
    "SlaBreached",
]


@dataclass(frozen=True, slots=True)
class MessageCounted:
    brand: str
    platform: str
    requires_reply: bool


class PostKind(StrEnum):
    """A brand post starts a conversation (broadcast) or answers in one (reply)."""

    BROADCAST = "broadcast"
    REPLY = "reply"


@dataclass(frozen=True, slots=True)
class PostCounted:
    brand: str
    platform: str
    kind: PostKind
    agent: str | None = None  # initials the reply is signed with


@dataclass(frozen=True, slots=True)
class FirstResponse:
    brand: str
    platform: str
    seconds: float
    business_seconds: float | None  # None when the brand has no business hours
    within_sla: bool
    policy: str = DEFAULT_POLICY  # the SLA policy the message was judged against
    agent: str | None = None  # who signed the first reply


@dataclass(frozen=True, slots=True)
class NextResponse:
    """The brand answered a customer's follow-up in a thread it had already answered."""

    brand: str
    platform: str
    seconds: float


@dataclass(frozen=True, slots=True)
class SlaBreached:
    brand: str
    platform: str
    policy: str = DEFAULT_POLICY


@dataclass(frozen=True, slots=True)
class ExpiredUnanswered:
    brand: str
    platform: str


@dataclass(frozen=True, slots=True)
class LateReply:
    """The first reply to a message that had already expired unanswered: it stays counted
    as expired (its first response is not observed), the late reply is counted apart."""

    brand: str
    platform: str
    seconds: float  # reply time - message time


@dataclass(frozen=True, slots=True)
class ConversationResolved:
    """An inbox conversation was resolved: from its creation to the resolution, counted in
    business hours when the brand's SLA uses them (docs/metrics.md)."""

    brand: str
    platform: str
    seconds: float


@dataclass(frozen=True, slots=True)
class ConversationReopened:
    """A resolved inbox conversation was opened again."""

    brand: str
    platform: str


@dataclass(frozen=True, slots=True)
class DuplicateEvent:
    brand: str


@dataclass(frozen=True, slots=True)
class LateEvent:
    brand: str


Observation = (
    MessageCounted | PostCounted | FirstResponse | NextResponse | SlaBreached
    | ExpiredUnanswered | LateReply | DuplicateEvent | LateEvent | ConversationResolved
    | ConversationReopened
)
