"""The metrics of a worker: the pipeline's, and every owned brand's series.

A worker exports brand series only for the brands it owns (`own_brand`/`forget_brand`,
driven by partition assignment), and computes the brand gauges when /metrics is scraped
(`BrandGauges`), never on a timer: with thousands of configured brands, idle workers
neither hold nor compute series they do not serve. The brand families' names, labels and
help are declared in streams/metrics/families.py.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import Collector

from streams import __version__
from streams.core.brand import GLOBAL_SCOPE, BrandConfig
from streams.core.crisis_content import shown_about
from streams.core.totals import (
    NO_TOTALS,
    RESPONSE_BUCKETS,
    CountKey,
    FrozenTotals,
    TimingKey,
    count_series,
    timing_series,
)
from streams.engine import BrandSnapshot
from streams.events import RejectReason
from streams.metrics.families import BUCKET_BOUNDS, brand_counter_families, brand_gauge_families

log = logging.getLogger("streams.metrics")  # the name it had before the package: log lines keep it

MINUTE, HOUR, DAY = 60, 3600, 86400
# A new brand's first counts wait at most this long for a scrape to read its zeros.
FRESH_SERIES_SECONDS = 60.0
FIRST_RESPONSE_BUCKETS = RESPONSE_BUCKETS
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PROCESSING_DELAY_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, MINUTE, 2 * MINUTE, 5 * MINUTE,
    10 * MINUTE, 30 * MINUTE, HOUR,
)
# The spike's terms are exported only from this score on (half the alert's threshold):
# the series exists whenever the alert can fire, and terms churn no series otherwise.
VOLUME_TERMS_SCORE = 2.0

SnapshotSource = Callable[[], Iterable[tuple[BrandSnapshot, float]]]


def _no_snapshots() -> Iterable[tuple[BrandSnapshot, float]]:
    return ()


class BrandGauges(Collector):
    """The per-brand gauges, computed from the runtime's snapshots when /metrics is scraped.

    `collect` runs in the HTTP thread while the event loop mutates the engine, so it only
    reads what `snapshots` returns: (snapshot, sla_seconds) pairs whose snapshots are frozen
    and never mutated once handed over. The callable's result is copied into a tuple first
    (one C-level pass, atomic under the GIL), so a dict view replaced or grown by the event
    loop meanwhile cannot break the scrape. Only brands in `owned` are exported: a brand
    forgotten on revocation vanishes at once, even if the runtime still caches it.

    `brandpulse_crisis_active` is one family for both scopes, so the `global` sample comes
    from here too (set by `BrandpulseMetrics.publish_global_crisis`).
    """

    def __init__(self, owned: Mapping[str, object], snapshots: SnapshotSource = _no_snapshots,
                 ) -> None:
        self.scraped_at = -math.inf  # monotonic start of the last scrape (HTTP thread)
        self.snapshots = snapshots
        self.owned = owned
        self.global_crisis: float | None = None  # None until the runtime publishes it

    def describe(self) -> list[GaugeMetricFamily]:
        """Family names, for the registry's duplicate check (no samples computed)."""
        return list(brand_gauge_families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.scraped_at = time.monotonic()  # brand series created before now were seen at 0
        (unanswered, oldest, sla_target, broadcast_ratio, reply_rate, robot_score, crisis,
         sentiment, templated, alignment, replies_per_broadcast, scheduled, scheduled_bad,
         scheduled_next, scheduled_info, at_risk, volume_rate, volume_baseline, volume_score,
         volume_negative, volume_terms, group_info, crisis_info) = families = brand_gauge_families()
        try:
            pairs = tuple(self.snapshots())
        except Exception:  # a scrape must still serve the pipeline metrics
            log.exception("brand snapshots unavailable for this scrape")
            pairs = ()
        owned = self.owned
        for snapshot, sla_seconds in pairs:
            brand = snapshot.brand
            if brand not in owned:
                continue
            sla_target.add_metric((brand,), sla_seconds)
            for platform, backlog in snapshot.backlog.items():
                unanswered.add_metric((brand, platform), backlog.unanswered)
                oldest.add_metric((brand, platform), backlog.oldest_age_seconds)
                at_risk.add_metric((brand, platform), backlog.at_risk)
            conversation = snapshot.conversation
            for window, value in conversation.broadcast_ratio.items():
                broadcast_ratio.add_metric((brand, window), value)
            for window, value in conversation.reply_rate.items():
                reply_rate.add_metric((brand, window), value)
            robot_score.add_metric((brand,), conversation.robot_score)
            behaviour = snapshot.behaviour
            crisis.add_metric((brand,), 1 if behaviour.crisis_active else 0)
            if behaviour.crisis_state:
                terms = shown_about(behaviour.crisis_about, behaviour.top_audience_terms)
                crisis_info.add_metric((brand, terms.label()),
                                       1 if behaviour.crisis_state == "active" else 0)
            for context, value in behaviour.sentiment.items():
                sentiment.add_metric((brand, context), value)
            templated.add_metric((brand,), behaviour.templated_reply_ratio)
            alignment.add_metric((brand,), behaviour.topic_alignment)
            replies_per_broadcast.add_metric((brand,), behaviour.audience_replies_per_broadcast)
            alarm = snapshot.scheduled  # scheduled posts (streams/core/scheduled.py)
            scheduled.add_metric((brand,), alarm.queued)
            scheduled_bad.add_metric((brand,), alarm.tone_deaf)
            if alarm.crisis is not None and alarm.next_at is not None:
                scheduled_next.add_metric((brand,), max(0.0, alarm.next_at - snapshot.now))
                scheduled_info.add_metric((brand, alarm.crisis[:100]), 1)
            group = getattr(owned.get(brand), "group", None)
            if group:
                group_info.add_metric((brand, group), 1)
            volume = snapshot.volume  # streams/core/volume.py
            volume_rate.add_metric((brand,), volume.rate)
            volume_baseline.add_metric((brand,), volume.baseline.mean)
            volume_score.add_metric((brand,), volume.score)
            volume_negative.add_metric((brand,), volume.negative_share)
            if volume.top_terms and volume.score >= VOLUME_TERMS_SCORE:
                volume_terms.add_metric((brand, ", ".join(volume.top_terms)), 1)
        if self.global_crisis is not None:
            crisis.add_metric((GLOBAL_SCOPE,), self.global_crisis)
        return iter(families)


class BrandCounters(Collector):
    """Every brand counter and histogram, read at scrape time from the brands' persisted
    totals (streams/core/totals.py), so they continue across restarts and rebalances.

    `publish` hands over a frozen copy once its transaction is on the broker; `collect`
    (HTTP thread) reads a tuple of (brand, totals) taken in one C-level pass. Every series
    a brand can have is exported, at 0 until counted, for every owned brand. A brand that
    had no state before (not restored) shows its zeros to one scrape, at most
    FRESH_SERIES_SECONDS, before its first counts: a series born at its first value would
    make rate() and increase() miss that value."""

    def __init__(self, owned: Mapping[str, BrandConfig],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.owned = owned
        self.clock = clock
        self._totals: dict[str, FrozenTotals] = {}
        self._born: dict[str, float] = {}  # new brands whose zeros no scrape has read yet
        # Each owned brand's series keys, built once (not on every scrape).
        self._series: dict[str, tuple[list[CountKey], list[TimingKey]]] = {}
        self.fresh_seconds = FRESH_SERIES_SECONDS
        self.scraped_at = -math.inf  # monotonic start of the last scrape

    def publish(self, brand: str, totals: FrozenTotals) -> None:
        if brand not in self._totals and not totals.restored:
            self._born.setdefault(brand, self.clock())
        self._totals[brand] = totals

    def forget(self, brand: str) -> None:
        self._totals.pop(brand, None)
        self._born.pop(brand, None)
        self._series.pop(brand, None)

    def describe(self) -> list[Metric]:
        return list(brand_counter_families().values())

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        seen, self.scraped_at = self.scraped_at, now
        families = brand_counter_families()
        totals = self._totals
        born = self._born
        for brand, config in tuple(self.owned.items()):
            frozen = totals.get(brand, NO_TOTALS)
            since = born.get(brand)
            if since is not None:
                if since >= seen and now - since < self.fresh_seconds:
                    frozen = NO_TOTALS  # this scrape reads the zeros
                else:
                    born.pop(brand, None)
            series = self._series.get(brand)
            if series is None:  # the same for as long as the brand is owned
                series = self._series[brand] = (count_series(config), timing_series(config))
            counts, timings = series
            for key in counts:
                families[key[0]].add_metric((brand, *key[1:]), frozen.count(*key))
            for key in timings:
                buckets, total = frozen.histogram(*key)
                families[key[0]].add_metric(
                    (brand, *key[1:]),
                    [(bound, value) for bound, (_, value) in zip(BUCKET_BOUNDS, buckets,
                                                                 strict=True)],
                    total)
        return iter(families.values())


class NewestEventAge(Collector):
    """`brandpulse_newest_event_age_seconds{topic, partition}`: wall time now minus the
    created_at of the newest event processed on the partition, computed at scrape time so
    that it keeps growing while processing is stalled (a gauge set per batch would freeze
    at its last, healthy value exactly when it matters)."""

    NAME = "brandpulse_newest_event_age_seconds"
    HELP = ("Wall-clock seconds since the created_at of the newest event processed on each "
            "assigned input partition.")

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.newest: dict[tuple[str, int], float] = {}  # written by the event loop only

    def describe(self) -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily(self.NAME, self.HELP, labels=("topic", "partition"))]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(self.NAME, self.HELP, labels=("topic", "partition"))
        now = self.clock()
        for (topic, partition), created in self.newest.copy().items():  # copy: atomic
            family.add_metric((topic, str(partition)), max(0.0, now - created))
        yield family


class BrandpulseMetrics:
    """Every brandpulse metric, registered on one registry (one per worker).

    `clock` is the wall clock of the scrape-time gauges (injectable for tests).
    """

    def __init__(self, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "brandpulse_events_consumed", "Records read from the input topics.",
            ("topic",), registry=r)
        self.rejected = Counter(
            "brandpulse_events_rejected", "Records sent to the dead-letter topic, by reason.",
            ("reason",), registry=r)
        self.state_rejected_records = Counter(
            "brandpulse_state_records_rejected",
            "Changelog records skipped on restore because they are not valid state (forged, "
            "truncated or of another version); the brand starts without them.",
            ("reason",), registry=r)
        self.consumer_lag = Gauge(
            "brandpulse_consumer_lag_messages",
            "Records on each assigned input partition not yet processed: high watermark "
            "minus (last processed offset + 1).",
            ("topic", "partition"), registry=r)
        self.processing_delay = Histogram(
            "brandpulse_event_processing_delay_seconds",
            "Wall time when a batch was processed minus the created_at of its newest event, "
            "one sample per partition per batch.",
            buckets=PROCESSING_DELAY_BUCKETS, registry=r)
        self.newest_event_age = NewestEventAge(clock)
        r.register(self.newest_event_age)
        self.rebalances = Counter(
            "brandpulse_rebalances", "Partition assignments received.", registry=r)
        self.assigned_partitions = Gauge(
            "brandpulse_assigned_partitions", "Input partitions assigned to this worker.",
            registry=r)
        self.broker_reachable = Gauge(
            "brandpulse_broker_up",
            "1 while the worker's last broker probe (every 2 s) was answered, else 0.",
            registry=r)
        self.batch_seconds = Histogram(
            "brandpulse_batch_processing_seconds", "Time to process one batch of events.",
            buckets=BATCH_BUCKETS, registry=r)
        # -- behaviour analysis ---------------------------------------------------------
        self.crisis_share_sources = Gauge(
            "brandpulse_crisis_share_sources",
            "Worker processes whose audience counts (last 25 h) the global crisis scope "
            "combines, this one included.", registry=r)
        self.build_info = Gauge(
            "brandpulse_build_info", "Always 1; the version label says which build runs.",
            ("version",), registry=r)
        self.build_info.labels(__version__).set(1)
        # Brands this worker owns (its assigned partitions carry them): their series exist,
        # no other brand's do. Read by the HTTP thread (membership only), written on the loop.
        self._owned: dict[str, BrandConfig] = {}
        self._resolve: Callable[[str], BrandConfig | None] = lambda _: None
        # Registered now, so their family names are claimed and the contract sees them; the
        # runtime supplies the snapshots later with attach_brand_snapshots.
        self.brand_counters = BrandCounters(self._owned)
        r.register(self.brand_counters)
        self.brand_gauges = BrandGauges(self._owned)
        r.register(self.brand_gauges)
        # Next offset to process (last processed + 1) per assigned input partition.
        self._position: dict[tuple[str, int], int] = {}

    def initialise(self, topics: Iterable[str],
                   brands: Callable[[str], BrandConfig | None] | None = None) -> None:
        """Create the bounded non-brand counter series at 0, so that the first event of a
        kind is an increase that rate() and increase() can see, not the birth of a series.
        Brand series are created by `own_brand`, lazily; `brands` looks a brand's config up
        for that."""
        if brands is not None:
            self._resolve = brands
        for reason in RejectReason:
            self.rejected.labels(reason.value)
        for reason in (RejectReason.SCHEMA, RejectReason.OVERSIZED):  # what state can fail
            self.state_rejected_records.labels(reason.value)
        for topic in topics:
            self.consumed.labels(topic)

    # -- ownership and the brands' counts ------------------------------------------------
    def own_brand(self, config: BrandConfig) -> None:
        """The brand has state on this worker: export its series (counters from its
        published totals, zeros until there are any, and its gauges). Idempotent."""
        self._owned.setdefault(config.name, config)

    def forget_brand(self, name: str) -> None:
        """Stop exporting every series of the brand: its partition now belongs to another
        worker, which exports them from now on, continuing from the persisted totals."""
        self._owned.pop(name, None)  # the series stop at the next scrape
        self.brand_counters.forget(name)

    def owned_brands(self) -> list[str]:
        return list(self._owned)

    def attach_brand_snapshots(self, snapshots: SnapshotSource) -> None:
        """Where the brand gauges come from at scrape time: a callable returning
        (frozen BrandSnapshot, sla_seconds) pairs, called from the HTTP thread."""
        self.brand_gauges.snapshots = snapshots

    def publish_totals(self, totals: Mapping[str, FrozenTotals]) -> None:
        """Export these brands' persisted totals from now on (called once their
        transaction is on the broker). A brand seen for the first time is owned here."""
        for brand, frozen in totals.items():
            if brand not in self._owned:
                config = self._resolve(brand)
                if config is None:
                    continue
                self.own_brand(config)
            self.brand_counters.publish(brand, frozen)

    def publish_global_crisis(self, active: bool, sources: int) -> None:
        self.brand_gauges.global_crisis = 1.0 if active else 0.0
        self.crisis_share_sources.set(sources)

    def events_consumed(self, counts: Mapping[str, int]) -> None:
        for topic, count in counts.items():
            self.consumed.labels(topic).inc(count)

    def batch_processed(self, seconds: float) -> None:
        self.batch_seconds.observe(seconds)

    def partitions_assigned(self, count: int) -> None:
        self.rebalances.inc()
        self.assigned_partitions.set(count)

    def broker_up(self, up: bool) -> None:
        self.broker_reachable.set(1 if up else 0)

    # -- progress and lag ----------------------------------------------------------------
    def processed(self, topic: str, partition: int, offset: int, event_time: float | None,
                  wall: float) -> None:
        """The agent finished one batch's records on a partition: call once per partition
        per batch, after the batch's effects were handed over (state persisted, metrics
        recorded). `offset` is the highest offset of the batch on that partition (rejected
        records included: they are finished too), `event_time` the newest created_at among
        its decoded events (None when all were rejected), `wall` the time of processing.

        The offset is taken as is, not as a maximum: after a rebalance Faust re-reads from
        the committed offset, and the lag must show that re-reading."""
        key = (topic, partition)
        self._position[key] = offset + 1
        if event_time is not None:
            self.processing_delay.observe(max(0.0, wall - event_time))
            newest = self.newest_event_age.newest
            if event_time > newest.get(key, -math.inf):
                newest[key] = event_time

    def processed_position(self, topic: str, partition: int) -> int | None:
        """Next offset to process on the partition (last processed + 1), None if unknown."""
        return self._position.get((topic, partition))

    def update_consumer_lag(self, topic: str, partition: int, highwater: int,
                            committed: int | None = None) -> int:
        """Set and return the lag of one assigned partition: high watermark − (last processed
        offset + 1). Before this worker processed anything there, the group's committed
        offset (the next offset to process, Kafka's convention) stands in, else 0; a
        committed offset beyond what this worker processed means someone else went further
        (the processed offset is stale), so the larger one counts."""
        position = max(self._position.get((topic, partition), 0), committed or 0)
        lag = max(0, highwater - position)
        self.consumer_lag.labels(topic, str(partition)).set(lag)
        return lag

    def forget_consumer_lag(self, topic: str, partition: int) -> None:
        """The partition was revoked: drop its lag, progress and newest-event-age series."""
        _drop(self.consumer_lag, topic, str(partition))
        self._position.pop((topic, partition), None)
        self.newest_event_age.newest.pop((topic, partition), None)

    def state_rejected(self, reason: str) -> None:
        self.state_rejected_records.labels(reason).inc()

    def rejected_event(self, reason: str) -> None:
        self.rejected.labels(reason).inc()


def _drop(metric: MetricWrapperBase, *labels: str) -> None:
    """Remove one labelled series if it exists (any metric type)."""
    try:
        metric.remove(*labels)
    except KeyError:
        pass
