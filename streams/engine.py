"""Feeds events to the pure core and collects what it observed.

The Faust agents and the offline `brandpulse report` both drive this one class, so a
number in Prometheus and a number in a report come from the same code path. It knows
nothing of Kafka or Prometheus: persistence goes through `take_changes`/`restore_brand`,
metrics through the returned observations and `snapshot`.

Time: every brand has its own event-time clock (docs/architecture.md, "Time"), so one
brand's records never move another brand's time, and an event dated more than
`max_future_skew_seconds` after the wall clock is refused by `admit` before it reaches any
clock. Deadlines of all brands sit in one heap keyed by the wall time at which they fall
due, so advancing costs in proportion to the brands with something due, not to all brands.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from streams.core.agent_stats import AgentStats
from streams.core.behaviour import (
    GLOBAL,
    BehaviourBook,
    BehaviourObservation,
    BehaviourSnapshot,
    LanguageCounted,
    TemplatedReply,
    ToneDeafPost,
    apply_crisis_command,
)
from streams.core.brand import BrandsConfig
from streams.core.check import BrandState, CrisisContext, brand_state, scope_state
from streams.core.clock import EventClock
from streams.core.conversation import (
    ConversationSnapshot,
    conversation_snapshot,
    hour_of,
    with_evidence,
)
from streams.core.crisis import CrisisCommand, DeclaredCrisis
from streams.core.crisis_detector import CrisisStatus
from streams.core.features import FeatureLog, split_features, with_features
from streams.core.reply_rule import requires_reply
from streams.core.scheduled import NO_ALARM, ScheduledAlarm, ScheduledQueue
from streams.core.shared_crisis import CrisisShare
from streams.core.sla import DEFAULT_BREACH_GRACE_SECONDS, Backlog, ReplyBook
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
    SlaBreached,
)
from streams.core.sla_records import RecordKey, RecordTag
from streams.core.totals import NO_TOTALS, BrandTotals, FrozenTotals
from streams.core.volume import NO_VOLUME, VolumeSnapshot, volume_snapshot
from streams.events import (
    MAX_FUTURE_SKEW_SECONDS,
    AnyBrandRecord,
    ConversationStatus,
    PostWithdrawal,
    RecordedEvent,
    Rejection,
    RejectReason,
    ScheduledPost,
    Side,
    SocialEvent,
    beyond_skew,
)
from streams.wire import decode_crisis_command, decode_crisis_share, format_rfc3339

AnyObservation = Observation | BehaviourObservation


class ObservationSink(Protocol):
    """What consumes the core's observations (the metrics, the offline report): one
    method per kind, so a new kind is a type error in every consumer, not a silent skip.
    `n` identical observations arrive at once (the metrics count a batch together)."""

    def on_message_counted(self, o: MessageCounted, n: int) -> None: ...
    def on_post_counted(self, o: PostCounted, n: int) -> None: ...
    def on_first_response(self, o: FirstResponse, n: int) -> None: ...
    def on_next_response(self, o: NextResponse, n: int) -> None: ...
    def on_sla_breached(self, o: SlaBreached, n: int) -> None: ...
    def on_expired_unanswered(self, o: ExpiredUnanswered, n: int) -> None: ...
    def on_late_reply(self, o: LateReply, n: int) -> None: ...
    def on_duplicate_event(self, o: DuplicateEvent, n: int) -> None: ...
    def on_late_event(self, o: LateEvent, n: int) -> None: ...
    def on_language_counted(self, o: LanguageCounted, n: int) -> None: ...
    def on_templated_reply(self, o: TemplatedReply, n: int) -> None: ...
    def on_tone_deaf_post(self, o: ToneDeafPost, n: int) -> None: ...
    def on_conversation_resolved(self, o: ConversationResolved, n: int) -> None: ...
    def on_conversation_reopened(self, o: ConversationReopened, n: int) -> None: ...


_HANDLERS: dict[type, Callable[[ObservationSink, Any, int], None]] = {
    MessageCounted: ObservationSink.on_message_counted,
    PostCounted: ObservationSink.on_post_counted,
    FirstResponse: ObservationSink.on_first_response,
    NextResponse: ObservationSink.on_next_response,
    SlaBreached: ObservationSink.on_sla_breached,
    ExpiredUnanswered: ObservationSink.on_expired_unanswered,
    LateReply: ObservationSink.on_late_reply,
    DuplicateEvent: ObservationSink.on_duplicate_event,
    LateEvent: ObservationSink.on_late_event,
    LanguageCounted: ObservationSink.on_language_counted,
    TemplatedReply: ObservationSink.on_templated_reply,
    ToneDeafPost: ObservationSink.on_tone_deaf_post,
    ConversationResolved: ObservationSink.on_conversation_resolved,
    ConversationReopened: ObservationSink.on_conversation_reopened,
}
_METHOD_NAMES = {kind: handler.__name__ for kind, handler in _HANDLERS.items()}


def dispatch(observation: AnyObservation, sink: ObservationSink, n: int = 1) -> None:
    """Hand an observation to the sink's method for its kind (the one type switch)."""
    getattr(sink, _METHOD_NAMES[type(observation)])(observation, n)
CLOCK_KEY: RecordKey = (0, RecordTag.CLOCK, "clock")
TOTALS_KEY: RecordKey = (0, RecordTag.TOTALS, "totals")


@dataclass(frozen=True, slots=True)
class BrandSnapshot:
    """The gauges of one brand at one instant of its event time."""

    brand: str
    now: float
    backlog: dict[str, Backlog]  # per platform
    conversation: ConversationSnapshot
    behaviour: BehaviourSnapshot
    scheduled: ScheduledAlarm = NO_ALARM  # scheduled posts that would be tone-deaf
    agents: dict[str, AgentStats] = field(default_factory=dict)  # last 24 h, by initials
    volume: VolumeSnapshot = NO_VOLUME  # audience volume against its baseline


@dataclass(frozen=True, slots=True)
class GlobalCrisis:
    """The global crisis scope at one instant: what /api/crisis and the gauge show."""

    active: bool  # detected across brands, or any declared crisis active
    detected: CrisisStatus  # the detector over every worker's shared audience counts
    sources: int  # worker processes whose counts are combined
    declared: tuple[DeclaredCrisis, ...]  # operator-declared crises active now


_ENGINE_TAGS = frozenset((RecordTag.CLOCK, RecordTag.SCHEDULED, RecordTag.TOTALS))


class _Brand:
    """One brand's SLA book, analysed features, clock and place in the deadline heap."""

    __slots__ = ("book", "clock", "clock_moved", "features", "queue", "scheduled", "totals",
                 "version")

    def __init__(self, book: ReplyBook) -> None:
        self.book = book
        self.features = FeatureLog()  # persisted with the book's records, dropped with them
        self.totals = BrandTotals(book.brand)  # its counters, persisted with the book
        self.queue = ScheduledQueue()  # scheduled posts not yet out
        self.clock = EventClock()
        self.clock_moved = False  # its state is to be persisted
        self.scheduled = math.inf  # wall time of this brand's live heap entry
        self.version = 0


class Engine:
    """All brands' state on one worker (or in one offline run)."""

    def __init__(self, brands: BrandsConfig,
                 breach_grace_seconds: float = DEFAULT_BREACH_GRACE_SECONDS,
                 analyse_behaviour: bool = True, crisis_source: str = "local",
                 max_future_skew_seconds: float = MAX_FUTURE_SKEW_SECONDS,
                 persisted: bool = True) -> None:
        """`persisted=False` (offline report, check client): nothing is written to or
        restored from a state table, so each event's analysis features are dropped after
        use and no set of changed records is kept; memory then follows the open messages,
        not the events read."""
        self.brands = brands
        self.persisted = persisted
        self.analyse_behaviour = analyse_behaviour
        self.breach_grace_seconds = breach_grace_seconds
        self.max_future_skew_seconds = max_future_skew_seconds
        self._brands: dict[str, _Brand] = {}
        self._heap: list[tuple[float, int, str]] = []  # (wall time due, version, brand)
        self.behaviour = BehaviourBook(crisis_source)
        self.stream_time = -math.inf  # offline: newest admitted event time (`ingest_all`)
        self._touched: set[str] = set()  # brands changed since `take_touched`

    # -- brands --------------------------------------------------------------------------
    def _state(self, brand: str) -> _Brand:
        state = self._brands.get(brand)
        if state is None:
            config = self.brands.get(brand)
            if config is None:
                raise KeyError(f"brand {brand!r} is not configured")
            state = self._brands[brand] = _Brand(ReplyBook(config, self.breach_grace_seconds))
        return state

    def book(self, brand: str) -> ReplyBook:
        return self._state(brand).book

    def active_brands(self) -> list[str]:
        """Brands with state on this engine."""
        return list(self._brands)

    def has_brand(self, brand: str) -> bool:
        return brand in self._brands

    def drop_brand(self, brand: str) -> None:
        """Forget a brand whose partition moved to another worker."""
        self._brands.pop(brand, None)
        self.behaviour.brands.pop(brand, None)
        self._touched.discard(brand)

    def take_touched(self) -> set[str]:
        """Brands whose state changed since the last call (to renew only their gauges)."""
        touched, self._touched = self._touched, set()
        return touched

    def brand_now(self, brand: str, wall: float) -> float:
        """The brand's event time at wall-clock `wall` (its own watermark, idling forward);
        the wall clock itself while the brand's clock has not started (no event yet, or only
        late ones), so that a snapshot of it reads "nothing yet" at a real instant."""
        now = self._state(brand).clock.now(wall)
        return now if math.isfinite(now) else wall

    # -- ingest --------------------------------------------------------------------------
    def admit(self, event: AnyBrandRecord, wall: float) -> Rejection | None:
        """Refuse an event dated in the future of the wall clock (beyond the skew)."""
        if beyond_skew(event.created_at, wall, self.max_future_skew_seconds):
            ahead = event.created_at - wall
            return Rejection(RejectReason.FUTURE_TIMESTAMP,
                             f"created_at is {ahead:.0f} s after the wall clock "
                             f"{format_rfc3339(wall)} (limit {self.max_future_skew_seconds:g} s)")
        if isinstance(event, ScheduledPost) and self.brands.get(event.brand) is not None:
            refused = self._state(event.brand).queue.refuses(event)
            if refused is not None:
                return Rejection(RejectReason.OVERSIZED, refused)
        return None

    def ingest(self, event: AnyBrandRecord, wall: float = 0.0) -> list[AnyObservation]:
        """Apply one validated, admitted event; returns what it changed worth counting."""
        if isinstance(event, ConversationStatus):
            return self._status(event, wall)
        if not isinstance(event, SocialEvent):
            self.schedule(event)
            return []
        state = self._state(event.brand)
        if state.book.is_late(event.created_at, wall):
            # Late by the wall clock whatever the brand's own clock says: a brand with no
            # state yet has no clock, and a 1970 event must not open its backlog.
            late: list[AnyObservation] = [LateEvent(event.brand)]
            if self.persisted:
                dispatch(late[0], state.totals)
            return late
        if event.side is Side.BRAND and state.queue.posts:
            state.queue.remove(event.id)  # published (a redelivered duplicate too)
        if event.created_at > state.clock.watermark:
            state.clock_moved = True
        now = state.clock.observe(event.created_at, wall)
        book = state.book
        # The SLA book's list is extended with behaviour observations (cast: no copy).
        observations = cast(list[AnyObservation], (
            book.add_message(event, requires_reply(event, book.brand), now)
            if event.side is Side.AUDIENCE else book.add_post(event, now)))
        if not isinstance(observations[0], DuplicateEvent | LateEvent):
            if self.analyse_behaviour:
                found, features = self.behaviour.on_event(event)
                if self.persisted:
                    state.features.keep(event.side, hour_of(event.created_at), event.id,
                                        features)
                observations.extend(found)
            self._schedule(event.brand, state)
            self._touched.add(event.brand)
        if self.persisted:
            totals = state.totals
            for observation in observations:
                dispatch(observation, totals)
        else:
            book.dirty.clear()
        return observations

    def _status(self, status: ConversationStatus, wall: float) -> list[AnyObservation]:
        """An inbox conversation resolved or reopened: through the brand's clock and book
        like an event, so it is deduplicated, persisted and counted with its state."""
        state = self._state(status.brand)
        if state.book.is_late(status.created_at, wall):
            found: list[AnyObservation] = [LateEvent(status.brand)]
        else:
            if status.created_at > state.clock.watermark:
                state.clock_moved = True
            now = state.clock.observe(status.created_at, wall)
            found = list(state.book.add_status(status, now))
            self._schedule(status.brand, state)
            self._touched.add(status.brand)
        if self.persisted:
            for observation in found:
                dispatch(observation, state.totals)
        else:
            state.book.dirty.clear()
        return found

    def ingest_all(self, events: Iterable[RecordedEvent], wall: float = math.inf
                   ) -> Iterator[AnyObservation | Rejection]:
        """Offline path: apply events in order; `wall` is when the file is read (inf: no
        bound, for hand-made streams).

        The stream's own newest admitted event time plays the wall clock's part for idle
        brands (so a quiet brand's messages still breach), bounded by the real `wall`."""
        for event in events:
            rejection = self.admit(event, wall)
            if rejection is not None:
                yield rejection
                continue
            if event.created_at > self.stream_time:
                self.stream_time = event.created_at
            yield from self.ingest(event, self.stream_time)
            yield from self.advance(self.stream_time)

    def advance(self, wall: float) -> list[Observation]:
        """Breach, expire and forget what each brand's clock has passed at `wall`."""
        heap = self._heap
        observations: list[Observation] = []
        while heap and heap[0][0] <= wall:
            _, version, brand = heapq.heappop(heap)
            state = self._brands.get(brand)
            if state is None or state.version != version:
                continue
            state.scheduled = math.inf
            found = state.book.advance(state.clock.now(wall))
            if not self.persisted:
                state.book.dirty.clear()
            elif found:
                for observation in found:
                    dispatch(observation, state.totals)
            if found:
                observations.extend(found)
                self._touched.add(brand)
            self._schedule(brand, state)
        return observations

    def _schedule(self, brand: str, state: _Brand) -> None:
        """(Re)place the brand in the heap if its next deadline falls earlier than planned."""
        due = state.book.next_due()
        if math.isinf(due) or not state.clock.started:
            return
        at = state.clock.wall_at(due)
        if at < state.scheduled:
            state.version += 1
            state.scheduled = at
            heapq.heappush(self._heap, (at, state.version, brand))

    def schedule(self, record: ScheduledPost | PostWithdrawal) -> Rejection | None:
        """Queue a scheduled post, or take a withdrawn one out; the reason when refused."""
        queue = self._state(record.brand).queue
        self._touched.add(record.brand)
        if isinstance(record, PostWithdrawal):
            queue.remove(record.id)
            return None
        refused = queue.add(record)  # `admit` refused it already when the queue is full
        return None if refused is None else Rejection(RejectReason.OVERSIZED, refused)

    # -- read ----------------------------------------------------------------------------
    def crises_at(self, brand: str, now: float) -> Callable[[float], list[DeclaredCrisis]]:
        """The crises that apply to `brand` at a future time: declared ones active then,
        plus those detected now (their end is unknown)."""
        detected = [c for c in self.behaviour.active_crises(brand, now)
                    if c.name not in self.behaviour.declared]
        declared = list(self.behaviour.declared.values())
        return lambda at: [c for c in declared if c.is_active(at)] + detected

    def crisis_context(self, now: float) -> CrisisContext:
        """What the check needs of the crises every worker knows (declared, global)."""
        status = self.behaviour.global_crisis.detector.status()
        return CrisisContext(tuple(self.behaviour.declared.values()),
                             scope_state(GLOBAL, status), now)

    def brand_state(self, snapshot: BrandSnapshot, sla_seconds: float) -> BrandState:
        """What the check needs of one brand, frozen from its snapshot."""
        status = self.behaviour.brand(snapshot.brand).crisis.status()
        return brand_state(snapshot.brand, snapshot.now, status, snapshot.behaviour,
                           snapshot.backlog, sla_seconds)

    def snapshot(self, brand: str, now: float) -> BrandSnapshot:
        """The brand's gauges at its event time `now` (see `brand_now`)."""
        state = self._state(brand)
        book = state.book
        behaviour = self.behaviour.brand(brand).snapshot(now)
        alarm = NO_ALARM
        if state.queue.posts:
            state.queue.expire(now)
            alarm = state.queue.alarm(now, self.crises_at(brand, now))
        return BrandSnapshot(
            brand=brand,
            now=now,
            backlog=book.backlog(now),
            conversation=conversation_snapshot(
                book.hour_counts(), now,
                with_evidence(behaviour.templated_reply_ratio, behaviour.templated_reply_count)),
            behaviour=behaviour,
            scheduled=alarm,
            agents=book.agent_stats(now),
            volume=self.volume(brand, now),
        )

    def volume(self, brand: str, now: float) -> VolumeSnapshot:
        """The brand's audience volume against its own 7-day baseline at event time `now`
        (cheap: ~170 hour buckets and 15 minute slots; streams/core/volume.py)."""
        book = self._state(brand).book
        hourly, first_hour = book.audience_hours()
        recent = self.behaviour.brands.get(brand)
        negative, terms = (math.nan, ()) if recent is None else recent.recent.summary(now)
        return volume_snapshot(hourly, first_hour, book.recent.count(now), now, negative,
                               terms)

    def features(self, brand: str) -> FeatureLog | None:
        """The analysed features the brand keeps to persist (None: no state here)."""
        state = self._brands.get(brand)
        return None if state is None else state.features

    def totals(self, brand: str) -> FrozenTotals:
        """The brand's cumulative counts (persisted with its state), frozen for a reader."""
        state = self._brands.get(brand)
        return NO_TOTALS if state is None else state.totals.frozen()

    def backlog(self, brand: str, now: float) -> dict[str, Backlog]:
        """Only the brand's backlog (cheap): its oldest ages grow with time alone."""
        return self.book(brand).backlog(now)

    # -- crises: operator commands and the global scope ----------------------------------
    def apply(self, command: CrisisCommand) -> None:
        """An operator's declare/end command from the control topic."""
        apply_crisis_command(self.behaviour, command)

    def apply_control(self, raw: bytes | None, wall: float) -> Rejection | None:
        """One control-topic record (workers and `brandpulse crisis list` fold the topic
        with this), or why it cannot be applied."""
        command = decode_crisis_command(raw, wall)
        if isinstance(command, Rejection):
            return command
        self.apply(command)
        return None

    def apply_share(self, raw: bytes | None, wall: float) -> Rejection | None:
        """One crisis-shares record from a peer worker, or why it cannot be merged."""
        shared = self.behaviour.global_crisis
        share = decode_crisis_share(raw, shared.bucket_seconds, wall,
                                    max_future_skew=self.max_future_skew_seconds,
                                    retention_seconds=shared.detector.retention_s)
        if isinstance(share, Rejection):
            return share
        shared.merge(share, not_after=wall + self.max_future_skew_seconds)
        self.behaviour.inputs_changed(GLOBAL)
        return None

    def declared_crises(self) -> list[DeclaredCrisis]:
        """Every declared crisis, ended ones included, oldest first."""
        return sorted(self.behaviour.declared.values(), key=lambda c: c.start)

    def take_share(self) -> CrisisShare | None:
        """This worker's audience counts changed since the last call, for its peers."""
        return self.behaviour.global_crisis.take_share()

    @property
    def share_bucket_seconds(self) -> int:
        return self.behaviour.global_crisis.bucket_seconds

    def crisis_status(self, now: float) -> GlobalCrisis:
        """The global scope at event time `now`: detected, declared, and from how many."""
        behaviour = self.behaviour
        declared = tuple(c for c in behaviour.declared.values() if c.is_active(now))
        shared = behaviour.global_crisis
        return GlobalCrisis(bool(declared) or behaviour.detected(GLOBAL, now),
                            shared.detector.status(), shared.sources, declared)

    # -- persistence: one row per record ---------------------------------------------------
    def take_changes(self) -> Iterator[tuple[str, RecordKey, list[Any] | None]]:
        """(brand, record key, row or None for a deletion) changed since the last call.
        A brand's totals come after its other records: the state layer writes them in
        the same transaction (streams/worker/state.py)."""
        for name, state in list(self._brands.items()):
            if state.book.dirty:
                features = state.features
                for key, row in state.book.take_changes().items():
                    hour, tag, record_id = key
                    if row is not None and (tag is RecordTag.AUDIENCE or tag is RecordTag.POST):
                        audience = tag is RecordTag.AUDIENCE
                        row = with_features(audience, row, features.get(
                            Side.AUDIENCE if audience else Side.BRAND, hour, record_id))
                    yield name, key, row
                features.forget_before(state.book.oldest_hour)
            if state.clock_moved:
                state.clock_moved = False
                yield name, CLOCK_KEY, state.clock.state()
            if state.queue.dirty:
                for post_id, row in state.queue.take_changes().items():
                    yield name, (0, RecordTag.SCHEDULED, post_id), row
            if state.totals.dirty:
                yield name, TOTALS_KEY, state.totals.row()

    def restore_brand(self, brand: str, rows: Iterable[tuple[int, RecordTag, str, list[Any]]],
                      wall: float) -> None:
        """Rebuild a brand from its persisted rows: SLA records and their features, then
        behaviour state by replaying the features, then its clock where the rows stop (so
        pending messages breach on time even if no new event arrives)."""
        self.drop_brand(brand)
        rows = list(rows)
        if not rows:
            return  # nothing persisted: the brand starts with its first event
        state = self._state(brand)
        book_rows, history = split_features(
            (row for row in rows if row[1] not in _ENGINE_TAGS), state.features)
        state.book.restore(book_rows)
        state.queue.restore(brand, ((i, row) for _, tag, i, row in rows
                                    if tag is RecordTag.SCHEDULED))
        state.book.dirty.clear()
        if self.analyse_behaviour:
            self.behaviour.brand(brand).restore(history)
        for _, tag, _, row in rows:
            if tag is RecordTag.CLOCK:
                state.clock.resume(row[0], row[1])
            elif tag is RecordTag.TOTALS:
                state.totals.restore(row)
        if state.book.latest_loaded > -math.inf:  # older state had no clock row
            state.clock.resume(state.book.latest_loaded, wall)
        if state.clock.started:
            self._schedule(brand, state)
        self._touched.add(brand)
