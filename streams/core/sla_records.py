"""The records of one brand's SLA book: an audience message as the SLA sees it, the
hour bucket that holds a brand's records (the unit of retention), and the kinds of
persisted record (each one state key: brand, hour, tag, id; streams/wire/state.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from streams.core.agent_stats import AgentHour
from streams.core.conversation import HourCounts
from streams.core.policy import DEFAULT_POLICY, SlaPolicy

__all__ = ["AudienceRecord", "Backlog", "Bucket", "RecordKey", "RecordTag"]


class AudienceRecord:
    """One audience message as the SLA sees it."""

    __slots__ = ("agent", "answered_at", "breached", "created_at", "deadline", "expired",
                 "followup", "id", "late_replied", "platform", "policy", "requires_reply",
                 "risk_at", "thread")

    def __init__(self, id: str, platform: str, created_at: float, requires_reply: bool,
                 deadline: float, answered_at: float | None = None, breached: bool = False,
                 expired: bool = False, policy: SlaPolicy | None = None,
                 agent: str | None = None, followup: bool = False,
                 risk_at: float = math.inf, late_replied: bool = False,
                 thread: str | None = None) -> None:
        self.id = id
        self.platform = platform
        self.created_at = created_at
        self.requires_reply = requires_reply
        self.deadline = deadline
        self.answered_at = answered_at
        self.breached = breached
        self.expired = expired
        self.policy = policy  # the SLA policy judging it (None: needs no reply)
        self.agent = agent  # who signed the first reply
        self.followup = followup  # a follow-up in a thread the brand had answered
        self.risk_at = risk_at  # when it passes at_risk_share of its target
        self.late_replied = late_replied  # expired unanswered, then its late reply was counted
        self.thread = thread  # its conversation, on THREADED_PLATFORMS (core/sla_threads.py)

    def row(self) -> list[Any]:
        """Its row; the engine adds the behaviour features to persist it
        (streams/core/features.py, streams/wire/state.py)."""
        row = [self.platform, self.created_at, self.requires_reply, self.answered_at,
               self.breached, self.expired,
               DEFAULT_POLICY if self.policy is None else self.policy.name, self.agent,
               self.followup, self.late_replied]
        if self.thread is not None:  # one more field only where there is a conversation
            row.append(self.thread)
        return row

    @property
    def pending(self) -> bool:
        return self.requires_reply and self.answered_at is None and not self.expired


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a brand has waiting for a reply (the live backlog's gauges)."""

    unanswered: int
    oldest_age_seconds: float  # 0 when nothing is waiting
    at_risk: int = 0  # open, past at_risk_share of their target, not breached


class Bucket:
    """Everything created during one event-time hour: the unit of retention.

    Persistence is per record (see `ReplyBook.take_changes`), so what a batch writes
    depends on what it changed, never on how much the bucket already holds.
    """

    __slots__ = ("agents", "audience", "counts", "orphans", "posts", "statuses")

    def __init__(self) -> None:
        self.audience: dict[str, AudienceRecord] = {}
        # id -> (platform, created_at, reply-to, agent)
        # Post rows are tuples of atoms: kept for days, untracked by the cyclic collector.
        self.posts: dict[str, tuple[Any, ...]] = {}
        # unseen message id -> (earliest reply time, its agent)
        self.orphans: dict[str, tuple[float, str | None]] = {}
        self.counts = HourCounts()
        # agent -> its replies posted and first responses to messages created this hour
        self.agents: dict[str, AgentHour] = {}
        # conversation status change id -> [platform, created_at, opened_at, reopened]
        self.statuses: dict[str, list[Any]] = {}

    def agent(self, name: str) -> AgentHour:
        found = self.agents.get(name)
        if found is None:
            found = self.agents[name] = AgentHour()
        return found


class RecordTag(StrEnum):
    """The kinds of persisted record, one state key each: (brand, hour, tag, id)."""

    AUDIENCE = "a"
    POST = "p"
    ORPHAN = "o"
    CLOCK = "c"  # the brand's event-time clock (one per brand, kept by the engine)
    SCHEDULED = "s"  # a scheduled post not yet out (hour 0; streams/core/scheduled.py)
    TOTALS = "t"  # the brand's cumulative counts (hour 0; streams/core/totals.py)
    STATUS = "r"  # an inbox conversation resolved or reopened (`ReplyBook.add_status`)


RecordKey = tuple[int, RecordTag, str]  # (hour, tag, id) within one brand
