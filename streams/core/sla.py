"""Reply-time SLA of one brand: when the messages that need an answer (core/reply_rule.py)
got one, and when they breached or expired. Its records are core/sla_records.py, what it
reports core/sla_observations.py, inbox conversations core/sla_threads.py.

State lives in event-time hour buckets (by each item's `created_at`) so that it can be
persisted one bucket per key, written once per batch, and dropped as a whole when it falls
out of retention. Every method is idempotent under redelivery: an id already recorded in
its bucket is a duplicate and changes nothing. Definitions are in docs/metrics.md.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import Any

from streams.core.agent_stats import AgentStats, window_stats
from streams.core.brand import BrandConfig
from streams.core.conversation import DAY, HOUR, HourCounts, hour_of
from streams.core.policy import DEFAULT_POLICY, SlaPolicy, select_policy
from streams.core.similarity import agent_signature
from streams.core.sla_observations import (
    ConversationReopened,
    ConversationResolved,
    DuplicateEvent,
    ExpiredUnanswered,
    FirstResponse,
    LateEvent,
    LateReply,
    MessageCounted,
    NextResponse,
    Observation,
    PostCounted,
    PostKind,
    SlaBreached,
)
from streams.core.sla_records import AudienceRecord, Backlog, Bucket, RecordKey, RecordTag
from streams.core.sla_threads import THREADED_PLATFORMS, ConversationIndex
from streams.core.volume import WINDOW_SECONDS, RecentCounts
from streams.events import ConversationStatus, SocialEvent

__all__ = [
    "AGENT_WINDOW_HOURS",
    "DEFAULT_BREACH_GRACE_SECONDS",
    "LATE_REPLY_HORIZON_SECONDS",
    "MIN_RETENTION_SECONDS",
    "Backlog",
    "ReplyBook",
]

DEFAULT_BREACH_GRACE_SECONDS = 60.0
#: Per-agent statistics of the live view cover this many event-time hours (whole buckets).
AGENT_WINDOW_HOURS = 24
# Records are kept at least this long, so that behaviour windows (7-day topic profiles
# and engagement) can be rebuilt from them after a restart.
MIN_RETENTION_SECONDS = 7 * DAY + HOUR
# A reply to a message that expired unanswered is still matched (a late reply) up to this
# long after the message; the ids of expired messages are kept that long, no longer.
LATE_REPLY_HORIZON_SECONDS = 30 * DAY


class ReplyBook:
    """The SLA state machine of one brand."""

    def __init__(self, brand: BrandConfig,
                 breach_grace_seconds: float = DEFAULT_BREACH_GRACE_SECONDS) -> None:
        self.brand = brand
        self.name = brand.name
        self.breach_grace_seconds = breach_grace_seconds
        # Keep a bucket until every message in it has expired, plus one hour of slack (and
        # never less than the behaviour windows rebuilt from its records).
        self.retention_seconds = max(brand.expire_after_seconds + HOUR, MIN_RETENTION_SECONDS)
        self.buckets: dict[int, Bucket] = {}
        self.dirty: set[RecordKey] = set()  # records to write (or delete) at the next persist
        self._oldest_hour: int | None = None
        self._tracked: dict[str, AudienceRecord] = {}  # messages that require a reply
        self._orphan_index: dict[str, tuple[float, int]] = {}  # id -> reply time, bucket
        self._due: list[tuple[float, str]] = []  # (deadline, id), lazily cleaned
        self._by_age: dict[str, list[tuple[float, str]]] = {}  # platform -> (created, id)
        self._pending_count: dict[str, int] = dict.fromkeys(brand.platforms, 0)
        # expired message id -> created_at, oldest first, for late replies (bounded by
        # LATE_REPLY_HORIZON_SECONDS; rebuilt from the kept records after a restart)
        self._expired: dict[str, float] = {}
        self.latest_loaded = -math.inf  # newest created_at restored by `restore`
        self.default_policy = SlaPolicy(DEFAULT_POLICY, brand.sla_seconds)
        self._policies = {p.name: p for p in (*brand.policies, self.default_policy)}
        self._risk: list[tuple[float, str]] = []  # (risk_at, id), lazily cleaned
        self._at_risk: dict[str, str] = {}  # id -> platform: pending, past risk, not breached
        self._reply_posts: dict[str, int] = {}  # brand reply id -> hour (follow-up detection)
        self.recent = RecentCounts()  # audience messages per minute (streams/core/volume.py)
        self._threads = ConversationIndex()  # THREADED_PLATFORMS (rebuilt on restore)

    # -- helpers -------------------------------------------------------------------------
    def deadline_for(self, created_at: float, sla_seconds: float | None = None) -> float:
        """When `sla_seconds` (default: the brand's) of target time have passed."""
        target = self.brand.sla_seconds if sla_seconds is None else sla_seconds
        hours = self.brand.business_hours
        if hours is None:
            return created_at + target
        return hours.deadline(created_at, target)

    def policy_for(self, event: SocialEvent) -> SlaPolicy:
        """The policy judging a message that needs a reply (docs/metrics.md, precedence)."""
        brand = self.brand
        if not brand.policies:
            return self.default_policy
        return select_policy(brand.policies, self.default_policy, event.kind or "",
                             event.platform, event.author, event.text)

    def policy_named(self, name: str) -> SlaPolicy:
        """A persisted policy name; one no longer configured falls back to the default."""
        return self._policies.get(name, self.default_policy)

    def _answered_thread(self, parent: str | None, now: float) -> bool:
        """Does the message reply to one of the brand's replies still in retention (the same
        horizon as `advance`, so the answer does not depend on when buckets are dropped)?"""
        hour = None if parent is None else self._reply_posts.get(parent)
        return hour is not None and hour >= hour_of(now - self.retention_seconds)

    def _new_record(self, id: str, platform: str, created_at: float, policy: SlaPolicy | None,
                    **state: Any) -> AudienceRecord:
        if policy is None:
            return AudienceRecord(id, platform, created_at, False, math.inf, policy=None, **state)
        return AudienceRecord(
            id, platform, created_at, True, self.deadline_for(created_at, policy.sla_seconds),
            policy=policy,
            risk_at=self.deadline_for(created_at, policy.sla_seconds * self.brand.at_risk_share),
            **state)

    def _bucket(self, hour: int) -> Bucket:
        bucket = self.buckets.get(hour)
        if bucket is None:
            bucket = self.buckets[hour] = Bucket()
            if self._oldest_hour is None or hour < self._oldest_hour:
                self._oldest_hour = hour
        return bucket

    def _changed(self, record: AudienceRecord) -> None:
        self.dirty.add((hour_of(record.created_at), RecordTag.AUDIENCE, record.id))

    def is_late(self, created_at: float, now: float) -> bool:
        """Older than the retention horizon (expiry + 1 h) at time `now`: ignored, counted."""
        return created_at < now - self.retention_seconds

    def _track_pending(self, record: AudienceRecord) -> None:
        heapq.heappush(self._due, (record.deadline, record.id))
        heapq.heappush(self._risk, (record.risk_at, record.id))
        heapq.heappush(self._by_age.setdefault(record.platform, []),
                       (record.created_at, record.id))
        self._pending_count[record.platform] = self._pending_count.get(record.platform, 0) + 1

    def _answer(self, record: AudienceRecord, reply_at: float, agent: str | None,
                was_pending: bool = True) -> list[Observation]:
        record.answered_at = reply_at
        record.agent = agent
        self._at_risk.pop(record.id, None)
        if was_pending:
            self._pending_count[record.platform] -= 1
        bucket = self.buckets[hour_of(record.created_at)]
        counts = bucket.counts
        counts.answered += 1
        self._changed(record)
        observations: list[Observation] = []
        policy = _policy(record)
        if record.breached:
            counts.overdue -= 1
        elif reply_at > record.deadline:
            record.breached = True
            observations.append(SlaBreached(self.name, record.platform, policy))
        seconds = max(0.0, reply_at - record.created_at)
        hours = self.brand.business_hours
        business = None if hours is None else hours.seconds_between(record.created_at, reply_at)
        observations.append(FirstResponse(self.name, record.platform, seconds, business,
                                          not record.breached, policy, agent))
        if record.followup:
            observations.append(NextResponse(self.name, record.platform, seconds))
        if agent is not None:
            self._count_answer(bucket, record, +1)
        return observations

    @staticmethod
    def _count_answer(bucket: Bucket, record: AudienceRecord, sign: int) -> None:
        """Add (+1) or take back (-1) an answered record in its agent's hour statistics."""
        stats = bucket.agent(record.agent or "")
        seconds = max(0.0, (record.answered_at or 0.0) - record.created_at)
        stats.met += sign * (not record.breached)
        if sign > 0:
            stats.samples.append(seconds)
        elif seconds in stats.samples:
            stats.samples.remove(seconds)

    def _drop_orphan(self, target: str) -> tuple[float, str | None] | None:
        """Forget the earliest reply seen for a message that had not arrived: its time and
        agent."""
        known = self._orphan_index.pop(target, None)
        if known is None:
            return None
        _, hour = known
        reply = self.buckets[hour].orphans.pop(target, None)
        self.dirty.add((hour, RecordTag.ORPHAN, target))
        return reply

    # -- ingest --------------------------------------------------------------------------
    def add_message(self, event: SocialEvent, needs_reply: bool, now: float) -> list[Observation]:
        """Record an audience message; `now` is the brand's event-time clock."""
        if self.is_late(event.created_at, now):
            return [LateEvent(self.name)]
        hour = hour_of(event.created_at)
        bucket = self._bucket(hour)
        if event.id in bucket.audience:
            return [DuplicateEvent(self.name)]
        thread = event.in_reply_to if event.platform in THREADED_PLATFORMS else None
        followup = needs_reply and (
            self._answered_thread(event.in_reply_to, now) if thread is None
            else self._threads.replied_before(
                thread, event.created_at, hour_of(now - self.retention_seconds) * HOUR))
        record = self._new_record(
            event.id, event.platform, event.created_at,
            self.policy_for(event) if needs_reply else None, followup=followup, thread=thread)
        bucket.audience[event.id] = record
        self.recent.add(event.created_at)
        self.dirty.add((hour, RecordTag.AUDIENCE, event.id))
        observations: list[Observation] = [MessageCounted(self.name, event.platform, needs_reply)]
        early_reply = self._drop_orphan(event.id)
        if needs_reply:
            bucket.counts.requiring_reply += 1
            self._tracked[event.id] = record
            if thread is not None:
                self._threads.add_message(thread, event.id)
                early_reply = self._threads.reply_after(thread, event.created_at) or early_reply
            if early_reply is not None:
                observations.extend(self._answer(record, *early_reply, was_pending=False))
            else:
                self._track_pending(record)
        return observations

    def add_post(self, event: SocialEvent, now: float) -> list[Observation]:
        """Record a brand post; a reply answers the message it replies to."""
        if self.is_late(event.created_at, now):
            return [LateEvent(self.name)]
        hour = hour_of(event.created_at)
        bucket = self._bucket(hour)
        if event.id in bucket.posts:
            return [DuplicateEvent(self.name)]
        target = event.in_reply_to
        # Auto-responders sign nothing and answer nothing (as Sprinklr, Zendesk).
        agent = None if target is None or event.automated else agent_signature(event.text)
        bucket.posts[event.id] = (event.platform, event.created_at, target, agent)
        self.dirty.add((hour, RecordTag.POST, event.id))
        if target is None:
            bucket.counts.broadcasts += 1
            return [PostCounted(self.name, event.platform, PostKind.BROADCAST)]
        bucket.counts.replies += 1
        self._reply_posts[event.id] = hour
        if agent is not None:
            bucket.agent(agent).replies += 1
        observations: list[Observation] = [PostCounted(self.name, event.platform, PostKind.REPLY,
                                                       agent)]
        if event.automated:
            return observations
        # What is due by now expires first, as the live timer would have done: a reply
        # after the expiry is a late reply even when no event came in between.
        observations.extend(self.advance(now))
        if event.platform in THREADED_PLATFORMS:
            observations.extend(self._answer_thread(target, event.created_at, agent))
            return observations
        expired_created = self._expired.pop(target, None)
        if expired_created is not None:
            expired_record = self._tracked.get(target)
            if expired_record is not None:  # persisted, so a restart does not count it again
                expired_record.late_replied = True
                self._changed(expired_record)
            observations.append(LateReply(self.name, event.platform,
                                          max(0.0, event.created_at - expired_created)))
            return observations
        record = self._tracked.get(target)
        if record is None:
            # The message may still be on its way (the two topics are not ordered together).
            known = self._orphan_index.get(target)
            if known is None or event.created_at < known[0]:
                if known is not None:
                    self._drop_orphan(target)
                self._orphan_index[target] = (event.created_at, hour)
                bucket.orphans[target] = (event.created_at, agent)
                self.dirty.add((hour, RecordTag.ORPHAN, target))
        elif record.pending:
            observations.extend(self._answer(record, event.created_at, agent))
        elif record.answered_at is not None and event.created_at < record.answered_at:
            self._earlier_answer(record, event.created_at, agent)
        return observations

    def _earlier_answer(self, record: AudienceRecord, reply_at: float, agent: str | None
                        ) -> None:
        """An earlier reply delivered after a later one: keep the true first response."""
        message_bucket = self.buckets[hour_of(record.created_at)]
        if record.agent is not None:
            self._count_answer(message_bucket, record, -1)
        record.answered_at = reply_at
        record.agent = agent
        if agent is not None:
            self._count_answer(message_bucket, record, +1)
        self._changed(record)

    # -- inbox conversations (THREADED_PLATFORMS) -----------------------------------------
    def _answer_thread(self, thread: str, reply_at: float, agent: str | None
                       ) -> list[Observation]:
        """A brand reply in a conversation answers each of its messages created at or
        before it: a pending one now, an expired one late, an answered one earlier."""
        self._threads.add_reply(thread, reply_at, agent)
        observations: list[Observation] = []
        members = [self._tracked[i] for i in self._threads.message_ids(thread)
                   if i in self._tracked]
        for record in sorted(members, key=lambda r: (r.created_at, r.id)):
            if record.created_at > reply_at:
                continue
            if record.pending:
                observations.extend(self._answer(record, reply_at, agent))
            elif record.id in self._expired:
                created = self._expired.pop(record.id)
                record.late_replied = True
                self._changed(record)
                observations.append(LateReply(self.name, record.platform,
                                              max(0.0, reply_at - created)))
            elif record.answered_at is not None and reply_at < record.answered_at:
                self._earlier_answer(record, reply_at, agent)
        return observations

    def add_status(self, status: ConversationStatus, now: float) -> list[Observation]:
        """Record a conversation resolved (its resolution time observed) or reopened
        (counted); a status change already recorded is a duplicate."""
        if self.is_late(status.created_at, now):
            return [LateEvent(self.name)]
        hour = hour_of(status.created_at)
        bucket = self._bucket(hour)
        if status.id in bucket.statuses:
            return [DuplicateEvent(self.name)]
        bucket.statuses[status.id] = [status.platform, status.created_at, status.opened_at,
                                      status.reopened]
        self.dirty.add((hour, RecordTag.STATUS, status.id))
        if status.reopened:
            return [ConversationReopened(self.name, status.platform)]
        hours = self.brand.business_hours
        seconds = (max(0.0, status.created_at - status.opened_at) if hours is None
                   else hours.seconds_between(status.opened_at, status.created_at))
        return [ConversationResolved(self.name, status.platform, seconds)]

    # -- clock ---------------------------------------------------------------------------
    def next_due(self) -> float:
        """Event time of the next breach, expiry or bucket drop (a lower bound: entries of
        messages answered meanwhile are cleaned lazily); inf when nothing is scheduled."""
        due = math.inf
        if self._due:
            due = self._due[0][0] + self.breach_grace_seconds
        expire_after = self.brand.expire_after_seconds
        for by_age in self._by_age.values():
            if by_age:
                due = min(due, by_age[0][0] + expire_after)
        if self._oldest_hour is not None:
            due = min(due, (self._oldest_hour + 1) * HOUR + self.retention_seconds)
        return due

    def advance(self, now: float) -> list[Observation]:
        """Breach, expire and forget what the brand's event-time clock `now` has passed."""
        observations: list[Observation] = []
        due = self._due
        horizon = now - self.breach_grace_seconds
        while due and due[0][0] <= horizon:
            _, message_id = heapq.heappop(due)
            record = self._tracked.get(message_id)
            if record is None or not record.pending or record.breached:
                continue
            record.breached = True
            self._at_risk.pop(message_id, None)
            self.buckets[hour_of(record.created_at)].counts.overdue += 1
            self._changed(record)
            observations.append(SlaBreached(self.name, record.platform, _policy(record)))
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
                    observations.append(SlaBreached(self.name, platform, _policy(record)))
                self._at_risk.pop(message_id, None)
                record.expired = True
                self._expired[message_id] = created_at
                self._pending_count[platform] -= 1
                self._changed(record)
                observations.append(ExpiredUnanswered(self.name, platform))
        expired = self._expired
        while expired:
            oldest_id = next(iter(expired))
            if expired[oldest_id] >= now - LATE_REPLY_HORIZON_SECONDS:
                break
            del expired[oldest_id]
        self._update_risk(now)
        oldest_kept = hour_of(now - self.retention_seconds)
        if self._oldest_hour is not None and self._oldest_hour < oldest_kept:
            for hour in [h for h in self.buckets if h < oldest_kept]:
                self._forget(hour)
            self._oldest_hour = min(self.buckets, default=None)
        return observations

    def _forget(self, hour: int) -> None:
        """Drop a bucket out of retention; each of its records is written as a tombstone."""
        bucket = self.buckets.pop(hour)
        dirty = self.dirty
        for message_id in bucket.audience:
            self._tracked.pop(message_id, None)
            dirty.add((hour, RecordTag.AUDIENCE, message_id))
        for post_id in bucket.posts:
            if self._reply_posts.get(post_id) == hour:
                del self._reply_posts[post_id]
            dirty.add((hour, RecordTag.POST, post_id))
        for target in bucket.orphans:
            if self._orphan_index.get(target, (0, None))[1] == hour:
                del self._orphan_index[target]
            dirty.add((hour, RecordTag.ORPHAN, target))
        for status_id in bucket.statuses:
            dirty.add((hour, RecordTag.STATUS, status_id))
        self._threads.forget(((i, r.thread) for i, r in bucket.audience.items()),
                             bucket.posts.values())

    def _update_risk(self, now: float) -> None:
        """Move the pending messages whose risk time `now` has passed into the at-risk set."""
        risk = self._risk
        while risk and risk[0][0] <= now:
            _, message_id = heapq.heappop(risk)
            record = self._tracked.get(message_id)
            if record is not None and record.pending and not record.breached:
                self._at_risk[message_id] = record.platform

    # -- read ----------------------------------------------------------------------------
    def backlog(self, now: float) -> dict[str, Backlog]:
        """Unanswered messages, the age of the oldest and those at risk, per platform."""
        self._update_risk(now)
        at_risk: dict[str, int] = {}
        for platform in self._at_risk.values():
            at_risk[platform] = at_risk.get(platform, 0) + 1
        result: dict[str, Backlog] = {}
        for platform, count in self._pending_count.items():
            by_age = self._by_age.get(platform, [])
            while by_age:
                record = self._tracked.get(by_age[0][1])
                if record is not None and record.pending:
                    break
                heapq.heappop(by_age)
            oldest = max(0.0, now - by_age[0][0]) if by_age else 0.0
            result[platform] = Backlog(count, oldest, at_risk.get(platform, 0))
        return result

    def agent_stats(self, now: float) -> dict[str, AgentStats]:
        """Per agent, over the last AGENT_WINDOW_HOURS event-time hours (whole buckets):
        replies signed, first responses to messages created then (streams/core/
        agent_stats.py)."""
        first_hour = hour_of(now) - (AGENT_WINDOW_HOURS - 1)
        return window_stats(bucket.agents for hour, bucket in self.buckets.items()
                            if hour >= first_hour and bucket.agents)

    @property
    def pending(self) -> int:
        return sum(self._pending_count.values())

    def undecided(self) -> int:
        """Messages still inside their SLA (neither answered, breached nor expired): the
        ones a reply rate leaves out."""
        return sum(1 for r in self._tracked.values() if r.pending and not r.breached)

    @property
    def oldest_hour(self) -> int | None:
        """The oldest hour bucket kept (None: none); older ones are gone with their records."""
        return self._oldest_hour

    def hour_counts(self) -> dict[int, HourCounts]:
        return {hour: bucket.counts for hour, bucket in self.buckets.items()}

    def audience_hours(self) -> tuple[dict[int, int], int | None]:
        """Audience messages per kept hour bucket, and the oldest kept hour: the volume
        baseline's input (streams/core/volume.py)."""
        return ({hour: len(bucket.audience) for hour, bucket in self.buckets.items()},
                self._oldest_hour)

    # -- persistence: one row per record -------------------------------------------------
    def take_changes(self) -> dict[RecordKey, list[Any] | None]:
        """Rows of the records changed since the last call (None: the record is gone)."""
        changes: dict[RecordKey, list[Any] | None] = {}
        buckets = self.buckets
        for key in self.dirty:
            hour, tag, record_id = key
            bucket = buckets.get(hour)
            row: list[Any] | None = None
            if bucket is not None:
                if tag is RecordTag.AUDIENCE:
                    r = bucket.audience.get(record_id)
                    if r is not None:
                        row = r.row()
                elif tag is RecordTag.POST:
                    post = bucket.posts.get(record_id)
                    row = None if post is None else list(post)
                elif tag is RecordTag.STATUS:
                    status = bucket.statuses.get(record_id)
                    row = None if status is None else list(status)
                else:
                    reply = bucket.orphans.get(record_id)
                    row = None if reply is None else list(reply)
            changes[key] = row
        self.dirty.clear()
        return changes

    def restore(self, rows: Iterable[tuple[int, RecordTag, str, list[Any]]]) -> None:
        """Rebuild the book (records, indexes, counts) from persisted rows, in any order.

        Rows are trusted to have the shapes `take_changes` writes (the wire codec checks
        them before they get here; the engine takes the behaviour features out); rows
        written before policies and agents (6-field audience, 3-field post, 1-field orphan
        rows) get the default policy and no agent."""
        orphans: list[tuple[int, str, float]] = []
        for hour, tag, record_id, row in rows:
            bucket = self._bucket(hour)
            counts = bucket.counts
            if tag is RecordTag.AUDIENCE:
                platform, created_at, needs, answered_at, breached, expired = row[:6]
                policy_name, agent, followup = row[6:9] if len(row) > 6 else (
                    DEFAULT_POLICY, None, False)
                late_replied = len(row) > 9 and row[9]
                thread = row[10] if len(row) > 10 else None
                record = self._new_record(
                    record_id, platform, created_at,
                    self.policy_named(policy_name) if needs else None, answered_at=answered_at,
                    breached=breached, expired=expired, agent=agent, followup=followup,
                    late_replied=late_replied, thread=thread)
                self.latest_loaded = max(self.latest_loaded, created_at)
                bucket.audience[record_id] = record
                if not needs:
                    continue
                counts.requiring_reply += 1
                self._tracked[record_id] = record
                if thread is not None:
                    self._threads.add_message(thread, record_id)
                if answered_at is not None:
                    counts.answered += 1
                    if agent is not None:
                        self._count_answer(bucket, record, +1)
                elif breached:
                    counts.overdue += 1
                if record.pending:
                    self._track_pending(record)
                elif expired and answered_at is None and not late_replied:
                    self._expired[record_id] = created_at
            elif tag is RecordTag.POST:
                post = tuple(row) if len(row) > 3 else (*row, None)
                bucket.posts[record_id] = post
                self.latest_loaded = max(self.latest_loaded, row[1])
                if row[2] is None:
                    counts.broadcasts += 1
                else:
                    counts.replies += 1
                    self._reply_posts[record_id] = hour
                    if row[0] in THREADED_PLATFORMS:
                        self._threads.add_reply(row[2], row[1], post[3], sort=False)
                    if post[3] is not None:
                        bucket.agent(post[3]).replies += 1
            elif tag is RecordTag.STATUS:
                bucket.statuses[record_id] = list(row)
                self.latest_loaded = max(self.latest_loaded, row[1])
            else:
                bucket.orphans[record_id] = (row[0], row[1] if len(row) > 1 else None)
                orphans.append((hour, record_id, row[0]))
        self._expired = dict(sorted(self._expired.items(), key=lambda item: item[1]))
        self._threads.sorted_after_restore()
        self.recent = RecentCounts()
        if self.latest_loaded > -math.inf:  # the last window's messages, oldest first
            recent_from = self.latest_loaded - WINDOW_SECONDS
            hours = {hour_of(recent_from), hour_of(self.latest_loaded)}
            for created_at in sorted(r.created_at for hour in hours if hour in self.buckets
                                     for r in self.buckets[hour].audience.values()
                                     if r.created_at > recent_from):
                self.recent.add(created_at)
        for hour, target, reply_at in orphans:
            known = self._orphan_index.get(target)
            if known is None or reply_at < known[0]:
                self._orphan_index[target] = (reply_at, hour)


def _policy(record: AudienceRecord) -> str:
    return DEFAULT_POLICY if record.policy is None else record.policy.name
