"""A brand's cumulative counts: every counter and histogram of the brand, kept as state.

Why state and not process memory: a count that lives only in the process restarts at 0
on every restart and rebalance, and a count updated apart from the state that remembers
its event is lost or doubled by a crash between the two. `BrandTotals` is persisted with
the brand's other records, in the same write (streams/worker/state.py), so "applied" and
"counted" are one fact: after a crash, an event is either in the restored state with its
counts, or in neither and applied again (docs/metrics.md, "Exactness").

It implements `streams.engine.ObservationSink` (one method per observation kind), so a new
kind of observation is a type error here too. Labels are bounded exactly as the exported
series are: platform, policy and agent come from the brand's config, the rest from closed
sets.
"""

from __future__ import annotations

import bisect
import math
from enum import StrEnum
from typing import Any

from streams.core.behaviour import (
    TONE_DEAF_REASONS,
    LanguageCounted,
    TemplatedReply,
    ToneDeafPost,
)
from streams.core.brand import BrandConfig
from streams.core.lang import LANGS
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
    PostCounted,
    PostKind,
    SlaBreached,
)
from streams.core.sla_threads import THREADED_PLATFORMS

MINUTE, HOUR, DAY = 60, 3600, 86400
#: Upper bounds of the response-time histograms (seconds); +Inf is implied.
RESPONSE_BUCKETS: tuple[float, ...] = (
    MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR,
    12 * HOUR, DAY, 2 * DAY, 4 * DAY, 7 * DAY,
)
OTHER_AGENT = "other"  # the `agent` label of replies signed by an agent the brand does not list


class Count(StrEnum):
    """The brand's counters (metric `brandpulse_<value>_total`), labels after `brand`."""

    AUDIENCE_MESSAGES = "audience_messages"  # platform, requires_reply
    BRAND_POSTS = "brand_posts"  # platform, kind
    SLA_MET = "sla_met"  # platform, policy
    SLA_BREACHES = "sla_breaches"  # platform, policy
    EXPIRED = "messages_expired_unanswered"  # platform
    LATE_REPLIES = "late_replies"  # platform
    DUPLICATES = "duplicate_events"  # (none)
    LATE_EVENTS = "late_events"  # (none)
    TONE_DEAF = "tone_deaf_posts"  # reason
    LANGUAGE = "messages_by_language"  # lang
    NEGATIVE = "audience_negative_messages"  # (none): analysed messages reading negative
    AGENT_REPLIES = "agent_replies"  # agent
    AGENT_SLA_MET = "agent_sla_met"  # agent
    REOPENED = "conversations_reopened"  # platform (inbox platforms only)


class Timing(StrEnum):
    """The brand's histograms (metric `brandpulse_<value>`), labels after `brand`."""

    FIRST_RESPONSE = "first_response_seconds"  # platform, policy
    FIRST_RESPONSE_BUSINESS = "first_response_business_seconds"  # platform, policy
    NEXT_RESPONSE = "next_response_seconds"  # platform
    AGENT_FIRST_RESPONSE = "agent_first_response_seconds"  # agent
    RESOLUTION = "conversation_resolution_seconds"  # platform (inbox platforms only)


#: The labels after `brand` of each counter and histogram, in key order.
LABELS: dict[str, tuple[str, ...]] = {
    Count.AUDIENCE_MESSAGES: ("platform", "requires_reply"),
    Count.BRAND_POSTS: ("platform", "kind"),
    Count.SLA_MET: ("platform", "policy"),
    Count.SLA_BREACHES: ("platform", "policy"),
    Count.EXPIRED: ("platform",),
    Count.LATE_REPLIES: ("platform",),
    Count.DUPLICATES: (),
    Count.LATE_EVENTS: (),
    Count.TONE_DEAF: ("reason",),
    Count.LANGUAGE: ("lang",),
    Count.NEGATIVE: (),
    Count.AGENT_REPLIES: ("agent",),
    Count.AGENT_SLA_MET: ("agent",),
    Count.REOPENED: ("platform",),
    Timing.FIRST_RESPONSE: ("platform", "policy"),
    Timing.FIRST_RESPONSE_BUSINESS: ("platform", "policy"),
    Timing.NEXT_RESPONSE: ("platform",),
    Timing.AGENT_FIRST_RESPONSE: ("agent",),
    Timing.RESOLUTION: ("platform",),
}
CountKey = tuple[str, ...]  # (Count value, *label values)
TimingKey = tuple[str, ...]  # (Timing value, *label values)
#: A histogram's state: observations per bucket (not cumulative; the last is +Inf), then
#: the sum of the observed values.
TimingValues = list[float]


def agent_label(config: BrandConfig, agent: str | None) -> str | None:
    """The `agent` label of a signed reply: a listed agent, else "other"; None (not
    counted per agent) for unsigned replies and for brands that list no agents."""
    if agent is None or not config.agents:
        return None
    return agent if agent in config.agents else OTHER_AGENT


def agent_labels(config: BrandConfig) -> list[str]:
    """Every `agent` label value of a brand: its listed agents and "other" (none when it
    lists no agents)."""
    return [*sorted(config.agents), OTHER_AGENT] if config.agents else []


def count_series(config: BrandConfig) -> list[CountKey]:
    """Every counter series the brand can have, in export order: the exporter shows them
    all from the first moment the brand has state (so its first increment is an increase,
    not the birth of a series) and the state decoder accepts no other key."""
    platforms, policies = config.platforms, config.policy_names
    agents = agent_labels(config)
    return [
        *((Count.AUDIENCE_MESSAGES, p, r) for p in platforms for r in ("true", "false")),
        *((Count.BRAND_POSTS, p, k.value) for p in platforms for k in PostKind),
        *((name, p, policy) for name in (Count.SLA_MET, Count.SLA_BREACHES)
          for p in platforms for policy in policies),
        *((name, p) for name in (Count.EXPIRED, Count.LATE_REPLIES) for p in platforms),
        (Count.DUPLICATES,), (Count.LATE_EVENTS,),
        *((Count.TONE_DEAF, reason) for reason in TONE_DEAF_REASONS),
        *((Count.LANGUAGE, lang) for lang in LANGS),
        (Count.NEGATIVE,),
        *((name, a) for name in (Count.AGENT_REPLIES, Count.AGENT_SLA_MET) for a in agents),
        *((Count.REOPENED, p) for p in inbox_platforms(config)),
    ]


def timing_series(config: BrandConfig) -> list[TimingKey]:
    """Every histogram series the brand can have (see `count_series`)."""
    platforms, policies = config.platforms, config.policy_names
    business = (Timing.FIRST_RESPONSE_BUSINESS,) if config.business_hours is not None else ()
    return [
        *((name, p, policy) for name in (Timing.FIRST_RESPONSE, *business)
          for p in platforms for policy in policies),
        *((Timing.NEXT_RESPONSE, p) for p in platforms),
        *((Timing.AGENT_FIRST_RESPONSE, a) for a in agent_labels(config)),
        *((Timing.RESOLUTION, p) for p in inbox_platforms(config)),
    ]


def inbox_platforms(config: BrandConfig) -> list[str]:
    """The brand's platforms whose conversations are resolved and reopened (an inbox)."""
    return [p for p in config.platforms if p in THREADED_PLATFORMS]


class BrandTotals:
    """Cumulative counts and histograms of one brand since its first event."""

    __slots__ = ("config", "counts", "dirty", "restored", "timings")

    def __init__(self, config: BrandConfig) -> None:
        self.config = config
        self.counts: dict[CountKey, int] = {}
        self.timings: dict[TimingKey, TimingValues] = {}
        self.dirty = False  # changed since its last persisted row
        self.restored = False  # loaded from persisted state (the brand existed before)

    # -- counting --------------------------------------------------------------------------
    def add(self, key: CountKey, n: int = 1) -> None:
        counts = self.counts
        counts[key] = counts.get(key, 0) + n
        self.dirty = True

    def observe(self, key: TimingKey, seconds: float, n: int = 1) -> None:
        values = self.timings.get(key)
        if values is None:
            values = self.timings[key] = [0.0] * (len(RESPONSE_BUCKETS) + 2)
        values[bisect.bisect_left(RESPONSE_BUCKETS, seconds)] += n
        values[-1] += seconds * n
        self.dirty = True

    # -- one method per observation kind (streams.engine.ObservationSink) ------------------
    def on_message_counted(self, o: MessageCounted, n: int) -> None:
        self.add((Count.AUDIENCE_MESSAGES, o.platform,
                  "true" if o.requires_reply else "false"), n)

    def on_post_counted(self, o: PostCounted, n: int) -> None:
        self.add((Count.BRAND_POSTS, o.platform, o.kind), n)
        agent = agent_label(self.config, o.agent)
        if agent is not None:
            self.add((Count.AGENT_REPLIES, agent), n)

    def on_first_response(self, o: FirstResponse, n: int) -> None:
        self.observe((Timing.FIRST_RESPONSE, o.platform, o.policy), o.seconds, n)
        if o.business_seconds is not None:
            self.observe((Timing.FIRST_RESPONSE_BUSINESS, o.platform, o.policy),
                         o.business_seconds, n)
        if o.within_sla:
            self.add((Count.SLA_MET, o.platform, o.policy), n)
        agent = agent_label(self.config, o.agent)
        if agent is not None:
            self.observe((Timing.AGENT_FIRST_RESPONSE, agent), o.seconds, n)
            if o.within_sla:
                self.add((Count.AGENT_SLA_MET, agent), n)

    def on_next_response(self, o: NextResponse, n: int) -> None:
        self.observe((Timing.NEXT_RESPONSE, o.platform), o.seconds, n)

    def on_sla_breached(self, o: SlaBreached, n: int) -> None:
        self.add((Count.SLA_BREACHES, o.platform, o.policy), n)

    def on_expired_unanswered(self, o: ExpiredUnanswered, n: int) -> None:
        self.add((Count.EXPIRED, o.platform), n)

    def on_late_reply(self, o: LateReply, n: int) -> None:
        self.add((Count.LATE_REPLIES, o.platform), n)

    def on_duplicate_event(self, o: DuplicateEvent, n: int) -> None:
        self.add((Count.DUPLICATES,), n)

    def on_late_event(self, o: LateEvent, n: int) -> None:
        self.add((Count.LATE_EVENTS,), n)

    def on_language_counted(self, o: LanguageCounted, n: int) -> None:
        self.add((Count.LANGUAGE, o.lang), n)
        if o.negative:
            self.add((Count.NEGATIVE,), n)

    def on_templated_reply(self, o: TemplatedReply, n: int) -> None:
        """Shown as the templated ratio gauge (a snapshot), not counted."""

    def on_tone_deaf_post(self, o: ToneDeafPost, n: int) -> None:
        self.add((Count.TONE_DEAF, o.reason), n)

    def on_conversation_resolved(self, o: ConversationResolved, n: int) -> None:
        self.observe((Timing.RESOLUTION, o.platform), o.seconds, n)

    def on_conversation_reopened(self, o: ConversationReopened, n: int) -> None:
        self.add((Count.REOPENED, o.platform), n)

    # -- state -----------------------------------------------------------------------------
    def frozen(self) -> FrozenTotals:
        """An immutable copy, for a reader in another thread (the scrape)."""
        return FrozenTotals(dict(self.counts),
                            {key: tuple(values) for key, values in self.timings.items()},
                            self.restored)

    def row(self) -> list[Any]:
        """The persisted row: [[[name, *labels], count], ...], [[[name, *labels], values],
        ...]] (streams/wire/state.py checks it field by field on restore)."""
        self.dirty = False
        return [[[*key, value] for key, value in self.counts.items()],
                [[*key, *values] for key, values in self.timings.items()]]

    def restore(self, row: list[Any]) -> None:
        """Load a row written by `row` (already validated by the wire decoder)."""
        counts, timings = row
        self.counts = {tuple(entry[:-1]): int(entry[-1]) for entry in counts}
        width = len(RESPONSE_BUCKETS) + 2
        self.timings = {tuple(entry[:-width]): [float(v) for v in entry[-width:]]
                        for entry in timings}
        self.dirty = False
        self.restored = True


class FrozenTotals:
    """A brand's totals at one instant, never mutated: what the scrape reads."""

    __slots__ = ("counts", "restored", "timings")

    def __init__(self, counts: dict[CountKey, int],
                 timings: dict[TimingKey, tuple[float, ...]], restored: bool = False) -> None:
        self.counts = counts
        self.timings = timings
        self.restored = restored

    def count(self, *key: str) -> int:
        return self.counts.get(key, 0)

    def timing(self, *key: str) -> tuple[float, ...] | None:
        return self.timings.get(key)

    def histogram(self, *key: str) -> tuple[list[tuple[float, float]], float]:
        """([(upper bound, cumulative count) per bucket, +Inf last], sum), as Prometheus
        exposes a histogram; zeros for a series nothing was observed in yet."""
        values = self.timings.get(key)
        if values is None:
            return [(bound, 0.0) for bound in (*RESPONSE_BUCKETS, math.inf)], 0.0
        buckets = []
        cumulative = 0.0
        for i, bound in enumerate((*RESPONSE_BUCKETS, math.inf)):
            cumulative += values[i]
            buckets.append((bound, cumulative))
        return buckets, values[-1]


NO_TOTALS = FrozenTotals({}, {})
