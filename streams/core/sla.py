"""Reply-time SLA of one brand: which messages need an answer, when they got one, and when
they breached or expired.

State lives in event-time hour buckets (by each item's `created_at`) so that it can be
persisted one bucket per key, written once per batch, and dropped as a whole when it falls
out of retention. Every method is idempotent under redelivery: an id already recorded in
its bucket is a duplicate and changes nothing. Definitions are in docs/metrics.md.
"""

from __future__ import annotations

import heapq
import math
import re
from dataclasses import dataclass
from typing import Any

from streams.config import BrandConfig
from streams.core.conversation import HOUR, HourCounts, hour_of
from streams.events import AudienceKind, Side, SocialEvent

DEFAULT_BREACH_GRACE_SECONDS = 60.0
# Handles may hold inner dots (Instagram) but never end with one: "@delta." is @delta.
_MENTION = re.compile(r"@([A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?)")


# --- What the book reports back: one small record per thing worth counting -------------

@dataclass(frozen=True, slots=True)
class MessageCounted:
    brand: str
    platform: str
    requires_reply: bool


@dataclass(frozen=True, slots=True)
class PostCounted:
    brand: str
    platform: str
    kind: str  # "broadcast" | "reply"


@dataclass(frozen=True, slots=True)
class FirstResponse:
    brand: str
    platform: str
    seconds: float
    business_seconds: float | None  # None when the brand has no business hours
    within_sla: bool


@dataclass(frozen=True, slots=True)
class SlaBreached:
    brand: str
    platform: str


@dataclass(frozen=True, slots=True)
class ExpiredUnanswered:
    brand: str
    platform: str


@dataclass(frozen=True, slots=True)
class DuplicateEvent:
    brand: str


@dataclass(frozen=True, slots=True)
class LateEvent:
    brand: str


Observation = (
    MessageCounted | PostCounted | FirstResponse | SlaBreached | ExpiredUnanswered
    | DuplicateEvent | LateEvent
)


def requires_reply(event: SocialEvent, brand: BrandConfig) -> bool:
    """Does this audience message expect an answer from the brand?

    Yes when it is addressed to the brand (a direct message, a comment on or reply in the
    brand's conversation, or a post that @-mentions one of the brand's handles on that
    platform), is not a share, is not automated, and was not written by the brand itself.
    """
    if event.side is not Side.AUDIENCE or event.is_share or event.automated:
        return False
    if brand.is_own_handle(event.platform, event.author):
        return False
    if event.kind in (AudienceKind.DIRECT_MESSAGE, AudienceKind.COMMENT, AudienceKind.REPLY):
        return True
    handles = brand.handles.get(event.platform, frozenset())
    return any(m.lower() in handles for m in _MENTION.findall(event.text))


# --- State ---------------------------------------------------------------------------

class AudienceRecord:
    """One audience message as the SLA sees it."""

    __slots__ = ("answered_at", "breached", "created_at", "deadline", "expired", "id",
                 "platform", "requires_reply")

    def __init__(self, id: str, platform: str, created_at: float, requires_reply: bool,
                 deadline: float, answered_at: float | None = None, breached: bool = False,
                 expired: bool = False) -> None:
        self.id = id
        self.platform = platform
        self.created_at = created_at
        self.requires_reply = requires_reply
        self.deadline = deadline
        self.answered_at = answered_at
        self.breached = breached
        self.expired = expired

    @property
    def pending(self) -> bool:
        return self.requires_reply and self.answered_at is None and not self.expired


class Bucket:
    """Everything created during one event-time hour: the unit of persistence.

    Serialised rows are cached and rebuilt only for records changed since the last dump,
    because a bucket is written once per batch and may hold thousands of messages.
    """

    __slots__ = ("audience", "audience_rows", "changed", "counts", "orphans", "posts")

    def __init__(self) -> None:
        self.audience: dict[str, AudienceRecord] = {}
        self.audience_rows: dict[str, list[Any]] = {}
        self.changed: set[str] = set()  # audience ids whose cached row is stale
        self.posts: dict[str, list[Any]] = {}  # id -> [id, platform, created_at, reply-to]
        self.orphans: dict[str, float] = {}  # unseen message id -> earliest reply time
        self.counts = HourCounts()


@dataclass(frozen=True, slots=True)
class Backlog:
    unanswered: int
    oldest_age_seconds: float  # 0 when nothing is waiting


class ReplyBook:
    """The SLA state machine of one brand."""

    def __init__(self, brand: BrandConfig,
                 breach_grace_seconds: float = DEFAULT_BREACH_GRACE_SECONDS) -> None:
        self.brand = brand
        self.name = brand.name
        self.breach_grace_seconds = breach_grace_seconds
        # Keep a bucket until every message in it has expired, plus one hour of slack.
        self.retention_seconds = brand.expire_after_seconds + HOUR
        self.buckets: dict[int, Bucket] = {}
        self.dirty: set[int] = set()
        self._tracked: dict[str, AudienceRecord] = {}  # messages that require a reply
        self._orphan_index: dict[str, tuple[float, int]] = {}  # id -> reply time, bucket
        self._due: list[tuple[float, str]] = []  # (deadline, id), lazily cleaned
        self._by_age: dict[str, list[tuple[float, str]]] = {}  # platform -> (created, id)
        self._pending_count: dict[str, int] = dict.fromkeys(brand.platforms, 0)
        self.latest_loaded = -math.inf  # newest created_at restored by load_bucket

    # -- helpers -------------------------------------------------------------------------
    def deadline_for(self, created_at: float) -> float:
        hours = self.brand.business_hours
        if hours is None:
            return created_at + self.brand.sla_seconds
        return hours.deadline(created_at, self.brand.sla_seconds)

    def _bucket(self, hour: int) -> Bucket:
        bucket = self.buckets.get(hour)
        if bucket is None:
            bucket = self.buckets[hour] = Bucket()
        return bucket

    def _changed(self, record: AudienceRecord) -> None:
        hour = hour_of(record.created_at)
        self.buckets[hour].changed.add(record.id)
        self.dirty.add(hour)

    def _is_late(self, created_at: float, now: float) -> bool:
        return created_at < now - self.retention_seconds

    def _track_pending(self, record: AudienceRecord) -> None:
        heapq.heappush(self._due, (record.deadline, record.id))
        heapq.heappush(self._by_age.setdefault(record.platform, []),
                       (record.created_at, record.id))
        self._pending_count[record.platform] = self._pending_count.get(record.platform, 0) + 1

    def _answer(self, record: AudienceRecord, reply_at: float,
                was_pending: bool = True) -> list[Observation]:
        record.answered_at = reply_at
        if was_pending:
            self._pending_count[record.platform] -= 1
        counts = self.buckets[hour_of(record.created_at)].counts
        counts.answered += 1
        self._changed(record)
        observations: list[Observation] = []
        if record.breached:
            counts.overdue -= 1
        elif reply_at > record.deadline:
            record.breached = True
            observations.append(SlaBreached(self.name, record.platform))
        seconds = max(0.0, reply_at - record.created_at)
        hours = self.brand.business_hours
        business = None if hours is None else hours.seconds_between(record.created_at, reply_at)
        observations.append(FirstResponse(self.name, record.platform, seconds, business,
                                          not record.breached))
        return observations

    # -- ingest --------------------------------------------------------------------------
    def add_message(self, event: SocialEvent, needs_reply: bool, now: float) -> list[Observation]:
        """Record an audience message; `now` is the event-time clock after this event."""
        if self._is_late(event.created_at, now):
            return [LateEvent(self.name)]
        hour = hour_of(event.created_at)
        bucket = self._bucket(hour)
        if event.id in bucket.audience:
            return [DuplicateEvent(self.name)]
        deadline = self.deadline_for(event.created_at) if needs_reply else math.inf
        record = AudienceRecord(event.id, event.platform, event.created_at, needs_reply, deadline)
        bucket.audience[event.id] = record
        bucket.changed.add(event.id)
        self.dirty.add(hour)
        observations: list[Observation] = [MessageCounted(self.name, event.platform, needs_reply)]
        orphan = self._orphan_index.pop(event.id, None)
        if orphan is not None:
            reply_hour = orphan[1]
            self.buckets[reply_hour].orphans.pop(event.id, None)
            self.dirty.add(reply_hour)
        if needs_reply:
            bucket.counts.requiring_reply += 1
            self._tracked[event.id] = record
            if orphan is not None:
                observations.extend(self._answer(record, orphan[0], was_pending=False))
            else:
                self._track_pending(record)
        return observations

    def add_post(self, event: SocialEvent, now: float) -> list[Observation]:
        """Record a brand post; a reply answers the message it replies to."""
        if self._is_late(event.created_at, now):
            return [LateEvent(self.name)]
        hour = hour_of(event.created_at)
        bucket = self._bucket(hour)
        if event.id in bucket.posts:
            return [DuplicateEvent(self.name)]
        bucket.posts[event.id] = [event.id, event.platform, event.created_at, event.in_reply_to]
        self.dirty.add(hour)
        target = event.in_reply_to
        if target is None:
            bucket.counts.broadcasts += 1
            return [PostCounted(self.name, event.platform, "broadcast")]
        bucket.counts.replies += 1
        observations: list[Observation] = [PostCounted(self.name, event.platform, "reply")]
        if event.automated:
            # Auto-responders do not count as a first response (as Sprinklr, Zendesk).
            return observations
        record = self._tracked.get(target)
        if record is None:
            # The message may still be on its way (the two topics are not ordered together).
            known = self._orphan_index.get(target)
            if known is None or event.created_at < known[0]:
                if known is not None:
                    self.buckets[known[1]].orphans.pop(target, None)
                    self.dirty.add(known[1])
                self._orphan_index[target] = (event.created_at, hour)
                bucket.orphans[target] = event.created_at
        elif record.pending:
            observations.extend(self._answer(record, event.created_at))
        elif record.answered_at is not None and event.created_at < record.answered_at:
            # An earlier reply delivered after a later one: keep the true first response.
            record.answered_at = event.created_at
            self._changed(record)
        return observations

    # -- clock ---------------------------------------------------------------------------
    def advance(self, now: float) -> list[Observation]:
        """Breach, expire and forget what the event-time clock `now` has passed."""
        observations: list[Observation] = []
        due = self._due
        horizon = now - self.breach_grace_seconds
        while due and due[0][0] <= horizon:
            _, message_id = heapq.heappop(due)
            record = self._tracked.get(message_id)
            if record is None or not record.pending or record.breached:
                continue
            record.breached = True
            self.buckets[hour_of(record.created_at)].counts.overdue += 1
            self._changed(record)
            observations.append(SlaBreached(self.name, record.platform))
        expire_before = now - self.brand.expire_after_seconds
        for platform, by_age in self._by_age.items():
            while by_age:
                created_at, message_id = by_age[0]
                record = self._tracked.get(message_id)
                if record is not None and record.pending and created_at > expire_before:
                    break
                heapq.heappop(by_age)
                if record is None or not record.pending:
                    continue
                if not record.breached:  # only possible with very long business-hour SLAs
                    record.breached = True
                    self.buckets[hour_of(created_at)].counts.overdue += 1
                    observations.append(SlaBreached(self.name, platform))
                record.expired = True
                self._pending_count[platform] -= 1
                self._changed(record)
                observations.append(ExpiredUnanswered(self.name, platform))
        oldest_kept = hour_of(now - self.retention_seconds)
        for hour in [h for h in self.buckets if h < oldest_kept]:
            self._forget(hour)
        return observations

    def _forget(self, hour: int) -> None:
        bucket = self.buckets.pop(hour)
        for message_id in bucket.audience:
            self._tracked.pop(message_id, None)
        for target in bucket.orphans:
            if self._orphan_index.get(target, (0, None))[1] == hour:
                del self._orphan_index[target]
        self.dirty.add(hour)  # a deleted bucket is written as a tombstone

    # -- read ----------------------------------------------------------------------------
    def backlog(self, now: float) -> dict[str, Backlog]:
        """Unanswered messages and the age of the oldest, per platform."""
        result: dict[str, Backlog] = {}
        for platform, count in self._pending_count.items():
            by_age = self._by_age.get(platform, [])
            while by_age:
                record = self._tracked.get(by_age[0][1])
                if record is not None and record.pending:
                    break
                heapq.heappop(by_age)
            oldest = max(0.0, now - by_age[0][0]) if by_age else 0.0
            result[platform] = Backlog(count, oldest)
        return result

    def hour_counts(self) -> dict[int, HourCounts]:
        return {hour: bucket.counts for hour, bucket in self.buckets.items()}

    # -- persistence ---------------------------------------------------------------------
    def take_dirty(self) -> dict[int, dict[str, Any] | None]:
        """Snapshots of buckets changed since the last call (None: bucket was dropped)."""
        changed = {hour: self.dump_bucket(hour) for hour in self.dirty}
        self.dirty.clear()
        return changed

    def dump_bucket(self, hour: int) -> dict[str, Any] | None:
        bucket = self.buckets.get(hour)
        if bucket is None:
            return None
        rows = bucket.audience_rows
        for message_id in bucket.changed:
            r = bucket.audience[message_id]
            rows[message_id] = [r.id, r.platform, r.created_at, r.requires_reply, r.answered_at,
                                r.breached, r.expired]
        bucket.changed.clear()
        return {"a": list(rows.values()), "p": list(bucket.posts.values()),
                "o": list(bucket.orphans.items())}

    def load_bucket(self, hour: int, data: dict[str, Any]) -> None:
        """Rebuild one bucket (and the indexes and counts) from its snapshot."""
        if hour in self.buckets:
            self._forget(hour)
            self.dirty.discard(hour)
        bucket = self._bucket(hour)
        counts = bucket.counts
        for message_id, platform, created_at, needs, answered_at, breached, expired in data["a"]:
            deadline = self.deadline_for(created_at) if needs else math.inf
            record = AudienceRecord(message_id, platform, created_at, needs, deadline,
                                    answered_at, breached, expired)
            self.latest_loaded = max(self.latest_loaded, created_at)
            bucket.audience[message_id] = record
            bucket.changed.add(message_id)
            if not needs:
                continue
            counts.requiring_reply += 1
            self._tracked[message_id] = record
            if answered_at is not None:
                counts.answered += 1
            elif breached:
                counts.overdue += 1
            if record.pending:
                self._track_pending(record)
        for post_id, platform, created_at, reply_to in data["p"]:
            bucket.posts[post_id] = [post_id, platform, created_at, reply_to]
            self.latest_loaded = max(self.latest_loaded, created_at)
            if reply_to is None:
                counts.broadcasts += 1
            else:
                counts.replies += 1
        for target, reply_at in data["o"]:
            bucket.orphans[target] = reply_at
            known = self._orphan_index.get(target)
            if known is None or reply_at < known[0]:
                self._orphan_index[target] = (reply_at, hour)
