"""The only module that touches prometheus-client.

Labels are bounded by construction: brand and platform come from the brands file,
`reason`, `kind`, `window` and `requires_reply` from fixed enumerations, `topic` and
`partition` from the input topics, `policy` from the brand's SLA policies (plus "default"),
`agent` from the brand's listed agents (plus "other"). Ids, authors and hashtags never
become labels.

A worker exports brand series only for the brands it owns (`own_brand`/`forget_brand`,
driven by partition assignment), and computes the brand gauges when /metrics is scraped
(`BrandGauges`), never on a timer: with thousands of configured brands, idle workers
neither hold nor compute series they do not serve.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeGuard

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client import values as prometheus_values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase, disable_created_metrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from streams import __version__
from streams.core.behaviour import (
    TONE_DEAF_REASONS,
    LanguageCounted,
    TemplatedReply,
    ToneDeafPost,
)
from streams.core.brand import GLOBAL_SCOPE, BrandConfig
from streams.core.lang import LANGS
from streams.core.sla import (
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
from streams.engine import AnyObservation, BrandSnapshot, dispatch
from streams.events import RejectReason

log = logging.getLogger(__name__)

# No `_created` samples: in the text format Prometheus stores each as one more series per
# counter and histogram child (a quarter of a brand's series), and no rule or dashboard
# reads them; rate() handles counter resets without them. A process-wide switch of
# prometheus-client, read at each scrape.
disable_created_metrics()

MINUTE, HOUR, DAY = 60, 3600, 86400
OTHER_AGENT = "other"  # the `agent` label of replies signed by an agent the brand does not list
# A new brand's first increments wait at most this long for a scrape to read its zeros.
FRESH_SERIES_SECONDS = 60.0
FIRST_RESPONSE_BUCKETS = (
    MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR,
    12 * HOUR, DAY, 2 * DAY, 4 * DAY, 7 * DAY,
)
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PROCESSING_DELAY_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, MINUTE, 2 * MINUTE, 5 * MINUTE,
    10 * MINUTE, 30 * MINUTE, HOUR,
)
CRISIS_ACTIVE = "brandpulse_crisis_active"
CRISIS_ACTIVE_HELP = "1 while a crisis is active for the scope (a brand, or global), else 0."

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
        return list(_brand_families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        self.scraped_at = time.monotonic()  # brand series created before now were seen at 0
        (unanswered, oldest, sla_target, broadcast_ratio, reply_rate, robot_score, crisis,
         sentiment, templated, alignment, replies_per_broadcast, scheduled, scheduled_bad,
         scheduled_next, scheduled_info, at_risk) = families = _brand_families()
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
        if self.global_crisis is not None:
            crisis.add_metric((GLOBAL_SCOPE,), self.global_crisis)
        return iter(families)


def _brand_families() -> tuple[GaugeMetricFamily, ...]:
    """Empty families of the brand gauges: same names, help texts and labels as always."""
    return (
        GaugeMetricFamily(
            "brandpulse_unanswered_messages", "Messages waiting for a first reply.",
            labels=("brand", "platform")),
        GaugeMetricFamily(
            "brandpulse_oldest_unanswered_age_seconds",
            "Event-time age of the oldest message waiting for a first reply.",
            labels=("brand", "platform")),
        GaugeMetricFamily(
            "brandpulse_sla_target_seconds", "The brand's first-response SLA target.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_broadcast_ratio", "Broadcasts divided by all brand posts in the window.",
            labels=("brand", "window")),
        GaugeMetricFamily(
            "brandpulse_reply_rate",
            "Answered divided by decided (answered or overdue) messages in the window.",
            labels=("brand", "window")),
        GaugeMetricFamily(
            "brandpulse_robot_score", "How much the brand behaves like a robot, 0 to 1.",
            labels=("brand",)),
        GaugeMetricFamily(CRISIS_ACTIVE, CRISIS_ACTIVE_HELP, labels=("scope",)),
        GaugeMetricFamily(
            "brandpulse_audience_sentiment",
            "Mean audience sentiment (-1 to 1) over the last hour, by crisis context.",
            labels=("brand", "context")),
        GaugeMetricFamily(
            "brandpulse_templated_reply_ratio",
            "Share of the brand's replies (24 h) that have a near-duplicate among them.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_topic_alignment",
            "Cosine similarity (0 to 1) of broadcast terms to the audience's, over 7 days.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_audience_replies_per_broadcast",
            "Audience replies to the brand's broadcasts per broadcast, over 7 days.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_scheduled_posts", "Scheduled brand posts queued, not yet out.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_scheduled_tone_deaf_posts",
            "Scheduled posts going out within 24 h that would be tone-deaf in a crisis.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_scheduled_tone_deaf_next_seconds",
            "Seconds until the first of those goes out (absent when there is none).",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_scheduled_tone_deaf_info",
            "1 for the crisis most of those posts offend (one series per brand at most).",
            labels=("brand", "crisis")),
        GaugeMetricFamily(
            "brandpulse_sla_at_risk_messages",
            "Messages waiting for a first reply past the brand's at_risk_share of their "
            "target, not yet breached.",
            labels=("brand", "platform")),
    )


class _Families:
    """A collector of given families, for rendering a piece of the page by itself."""

    def __init__(self, *families: Metric) -> None:
        self.families = families

    def collect(self) -> tuple[Metric, ...]:
        return self.families


_OPENMETRICS_SUFFIXES = ("_created", "_gsum", "_gcount")


class TextRenderer:
    """`prometheus_client.generate_latest` (text format 0.0.4), byte for byte, cheaper.

    Two things generate_latest recomputes on every scrape are the same from one scrape to
    the next: each sample line's text before its value (the escaped, sorted labels), and,
    for most series, the value itself (of ~7,000 samples of a 100-brand page, most do not
    move within a second). So:

    * the counters, gauges and histograms of this module (prometheus_client's own classes)
      are read straight from their children, and each series' lines are kept with the
      values they were rendered from: an unchanged series costs a few attribute reads and
      one comparison (`_KeptSeries`);
    * every other collector's samples (the snapshot gauges, custom collectors) go through
      `collect()`, with each line's text before its value rendered once, by
      generate_latest itself, and kept while the series exists.

    Escaping and sorting are always the library's: a kept text was made by
    generate_latest. A whole-registry scrape replaces what is kept by what it used, so
    series that vanished are dropped; a scrape of some families (`?name[]=`, a restricted
    registry, always through `collect()`) keeps its own texts, those it used since the
    whole scrape before last. Safe for concurrent scrapes in several threads (a lost
    addition is only rendered again). `misses` counts the lines rendered through
    generate_latest (new series), for tests and benchmarks. Measured in
    bench/worker_path.py --compare-render (docs/benchmarks.md)."""

    def __init__(self) -> None:
        self._prefixes: _Prefixes = {}  # of whole scrapes, for collect()'s families
        self._restricted: _Prefixes = {}  # of restricted scrapes since the last whole one
        self._restricted_before: _Prefixes = {}  # ... and before it
        self._headers: dict[tuple[str, str, str, str], str] = {}
        self._series: dict[tuple[str, tuple[str, ...]], _KeptSeries] = {}
        self.misses = 0

    def __call__(self, registry: Any) -> bytes:
        output: list[str] = []
        if isinstance(registry, CollectorRegistry):
            kept = self._series
            used: dict[tuple[str, tuple[str, ...]], _KeptSeries] = {}
            prefixes: _Prefixes = {}
            with registry._lock:
                collectors = list(registry._collector_to_names)
            if registry._target_info is not None:  # not used here; the library's way
                collectors = [_Families(*registry.collect())]
            for collector in collectors:
                if not (_fast(collector) and self._render_fast(collector, kept, used, output)):
                    self._render_metrics(collector.collect(), (self._prefixes,), prefixes,
                                         output)
            self._series, self._prefixes = used, prefixes
            # what restricted scrapes used since the last whole one, kept one more round
            self._restricted_before, self._restricted = self._restricted, {}
        else:
            self._render_metrics(registry.collect(),
                                 (self._restricted, self._restricted_before),
                                 self._restricted, output)
        return "".join(output).encode("utf-8")

    def _render_fast(self, wrapper: MetricWrapperBase, kept: dict[Any, _KeptSeries],
                     used: dict[Any, _KeptSeries], output: list[str]) -> bool:
        """One counter, gauge or histogram family from its children (see `_fast`); False
        (nothing written) when a child must be read through `collect()`."""
        family = wrapper._get_metric()
        name, kind = family.name, family.type
        children: list[tuple[Any, Any]]
        if wrapper._labelnames:
            with wrapper._lock:
                children = list(wrapper._metrics.items())
        else:
            children = [((), wrapper)]
        if any("_child_samples" in child.__dict__ for _, child in children):
            return False  # a gauge function: only its own _child_samples knows the value
        output.append(_header(self._headers, name, kind, family.documentation, ""))
        histogram = kind == "histogram"
        for labels, child in children:
            if histogram:
                values: Any = (*[b._value for b in child._buckets], child._sum._value)
            else:
                values = child._value._value
            key = (name, labels)
            series = kept.get(key)
            if series is None or series.child is not child:
                series = _KeptSeries(child, self._series_prefixes(wrapper, family, labels,
                                                                   child))
            last = series.last
            if last is None or last[0] != values:
                last = series.last = (values, series.render(values, histogram))
            used[key] = series
            output.append(last[1])
        return True

    def _series_prefixes(self, wrapper: MetricWrapperBase, family: Metric,
                         labels: tuple[str, ...], child: Any) -> tuple[str, ...]:
        """Each sample line of one series up to its value, rendered by generate_latest."""
        series_labels = dict(zip(wrapper._labelnames, labels, strict=True))
        prefixes = []
        for sample in child._child_samples():
            self.misses += 1
            line = _one_line(family, sample._replace(
                name=family.name + sample.name, labels={**series_labels, **sample.labels},
                value=0.0, exemplar=None))
            prefixes.append(line[:line.rindex(" ") + 1])
        return tuple(prefixes)

    def _render_metrics(self, metrics: Iterable[Metric], known: tuple[_Prefixes, ...],
                        keep: _Prefixes, output: list[str]) -> None:
        """Families from `collect()`: each line's text before its value is looked up in
        `known`, rendered by generate_latest when absent, and put in `keep`."""
        headers = self._headers
        for metric in metrics:
            name, kind, documentation = metric.name, metric.type, metric.documentation
            extra_names = tuple(name + suffix for suffix in _OPENMETRICS_SUFFIXES)
            extras: dict[str, list[str]] = {}
            output.append(_header(headers, name, kind, documentation, ""))
            for sample in metric.samples:
                if sample.timestamp is not None:
                    line = _one_line(metric, sample)
                else:
                    key = (sample.name, tuple(sample.labels.items()))
                    for cache in known:
                        prefix = cache.get(key)
                        if prefix is not None:
                            break
                    else:
                        self.misses += 1
                        prefix = _one_line(metric, sample._replace(value=0.0))
                        prefix = prefix[:prefix.rindex(" ") + 1]
                    keep[key] = prefix
                    line = f"{prefix}{floatToGoString(sample.value)}\n"
                if sample.name in extra_names:
                    extras.setdefault(sample.name[len(name):], []).append(line)
                else:
                    output.append(line)
            for suffix, lines in sorted(extras.items()):
                output.append(_header(headers, name, "gauge", documentation, suffix))
                output.extend(lines)


_Prefixes = dict[tuple[str, tuple[tuple[str, str], ...]], str]
_FAST_KINDS = (Counter, Gauge, Histogram)


def _fast(collector: Any) -> TypeGuard[MetricWrapperBase]:
    """Whether `collector` is a family `TextRenderer` may read from its children: exactly
    prometheus_client's Counter, Gauge or Histogram, registered as a whole family, with
    single-process values and no `_created` samples (disabled above). A gauge given a
    function (`set_function`) is caught per child in `_render_fast`."""
    return (type(collector) in _FAST_KINDS and not prometheus_metrics._use_created
            and prometheus_values.ValueClass is prometheus_values.MutexValue
            and not (collector._labelnames and collector._labelvalues))


class _KeptSeries:
    """One series of a `_fast` family: its child, its lines up to their values, and the
    values it was last rendered from with that text (one pair, replaced whole, so a
    concurrent scrape never pairs new values with old text)."""

    __slots__ = ("child", "last", "prefixes")

    def __init__(self, child: Any, prefixes: tuple[str, ...]) -> None:
        self.child = child
        self.prefixes = prefixes
        self.last: tuple[Any, str] | None = None

    def render(self, values: Any, histogram: bool) -> str:
        prefixes = self.prefixes
        if not histogram:
            return f"{prefixes[0]}{floatToGoString(values)}\n"
        lines = []
        cumulative = 0.0
        buckets = len(values) - 1
        for i in range(buckets):  # as Histogram._child_samples: cumulative counts
            cumulative += values[i]
            lines.append(f"{prefixes[i]}{floatToGoString(cumulative)}\n")
        lines.append(f"{prefixes[buckets]}{floatToGoString(cumulative)}\n")  # _count
        if len(prefixes) > buckets + 1:  # _sum, absent when a bucket bound is negative
            lines.append(f"{prefixes[buckets + 1]}{floatToGoString(values[buckets])}\n")
        return "".join(lines)


def _one_line(metric: Metric, sample: Any) -> str:
    """The sample's line as generate_latest writes it (its last line: after the headers)."""
    family = Metric(metric.name, metric.documentation, metric.type)
    family.samples = [sample]
    text = generate_latest(_Families(family)).decode("utf-8")
    return text[text.rindex("\n", 0, len(text) - 1) + 1:]


def _header(cache: dict[tuple[str, str, str, str], str], name: str, kind: str,
            documentation: str, suffix: str) -> str:
    """The family's HELP and TYPE lines (a suffix: the OpenMetrics-only gauge of that name),
    as generate_latest writes them."""
    key = (name, kind, documentation, suffix)
    text = cache.get(key)
    if text is None:
        family = Metric(name + suffix, documentation, kind)
        text = cache[key] = generate_latest(_Families(family)).decode(
            "utf-8")
    return text


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
        brand_platform = ("brand", "platform")
        policy = (*brand_platform, "policy")
        self.first_response = Histogram(
            "brandpulse_first_response_seconds",
            "Time from an audience message needing a reply to the brand's first reply.",
            policy, buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        self.first_response_business = Histogram(
            "brandpulse_first_response_business_seconds",
            "First-response time counting only the brand's business hours.",
            policy, buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        self.next_response = Histogram(
            "brandpulse_next_response_seconds",
            "Time from a customer's follow-up, in a thread the brand had answered, to the "
            "brand's next reply.",
            brand_platform, buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        agent = ("brand", "agent")
        self.agent_replies = Counter(
            "brandpulse_agent_replies", "Brand replies signed by each listed agent.",
            agent, registry=r)
        self.agent_first_response = Histogram(
            "brandpulse_agent_first_response_seconds",
            "First-response time of the first replies signed by each listed agent.",
            agent, buckets=FIRST_RESPONSE_BUCKETS, registry=r)
        self.agent_sla_met = Counter(
            "brandpulse_agent_sla_met", "First replies signed by each listed agent within "
            "the message's SLA target.", agent, registry=r)
        self.audience_messages = Counter(
            "brandpulse_audience_messages", "Audience messages, by whether they need a reply.",
            (*brand_platform, "requires_reply"), registry=r)
        self.sla_met = Counter(
            "brandpulse_sla_met", "Messages answered within the SLA target.",
            policy, registry=r)
        self.sla_breaches = Counter(
            "brandpulse_sla_breaches",
            "Messages whose SLA target passed unanswered, counted at that moment.",
            policy, registry=r)
        self.expired = Counter(
            "brandpulse_messages_expired_unanswered",
            "Messages closed unanswered after the expiry period (7 days by default).",
            brand_platform, registry=r)
        self.late_replies = Counter(
            "brandpulse_late_replies",
            "First replies to messages that had already expired unanswered (they stay "
            "counted as expired).", brand_platform, registry=r)
        self.brand_posts = Counter(
            "brandpulse_brand_posts", "Posts written by the brand, broadcast or reply.",
            (*brand_platform, "kind"), registry=r)
        self.duplicates = Counter(
            "brandpulse_duplicate_events", "Events already seen (same id), ignored.",
            ("brand",), registry=r)
        self.late = Counter(
            "brandpulse_late_events", "Events older than the retention horizon, ignored.",
            ("brand",), registry=r)
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
        self.tone_deaf_posts = Counter(
            "brandpulse_tone_deaf_posts",
            "Promotional or jokey brand posts during a crisis, or riding its hashtags.",
            ("brand", "reason"), registry=r)
        self.messages_by_language = Counter(
            "brandpulse_messages_by_language",
            "Audience messages by detected language (other languages score neutral).",
            ("brand", "lang"), registry=r)
        self.build_info = Gauge(
            "brandpulse_build_info", "Always 1; the version label says which build runs.",
            ("version",), registry=r)
        self.build_info.labels(__version__).set(1)
        # Brands this worker owns (its assigned partitions carry them): their series exist,
        # no other brand's do. Read by the HTTP thread (membership only), written on the loop.
        self._owned: dict[str, BrandConfig] = {}
        # Registered now, so its family names are claimed and the contract sees them; the
        # runtime supplies the snapshots later with attach_brand_snapshots.
        self._fresh: dict[str, float] = {}  # brand -> when its series were created
        self._deferred: list[tuple[AnyObservation, int]] = []
        self._deferred_due = math.inf  # when the oldest held increment must be released
        self._scrape_seen = -math.inf  # the scrape the held list was last checked against
        self._resolve: Callable[[str], BrandConfig | None] = lambda _: None
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

    # -- ownership ---------------------------------------------------------------------------
    def own_brand(self, config: BrandConfig) -> None:
        """The brand has state on this worker: create its counter series at 0 and export its
        gauges. Idempotent. Called lazily (first observation, or restored state), so an
        idle configured brand costs no series; `record` holds a new brand's first
        increments until a scrape has seen its series at 0 (see `record`)."""
        name = config.name
        if name in self._owned:
            return
        self._owned[name] = config
        self._fresh[name] = time.monotonic()
        for counter in (self.duplicates, self.late):
            counter.labels(name)
        for reason in TONE_DEAF_REASONS:
            self.tone_deaf_posts.labels(name, reason)
        for lang in LANGS:
            self.messages_by_language.labels(name, lang)
        for platform in config.platforms:
            for needs in ("true", "false"):
                self.audience_messages.labels(name, platform, needs)
            for kind in PostKind:
                self.brand_posts.labels(name, platform, kind)
            for metric in (self.expired, self.late_replies, self.next_response):
                metric.labels(name, platform)
            for policy in config.policy_names:
                for metric in (self.sla_met, self.sla_breaches, self.first_response):
                    metric.labels(name, platform, policy)
                if config.business_hours is not None:
                    self.first_response_business.labels(name, platform, policy)
        for agent in _agent_labels(config):
            for metric in (self.agent_replies, self.agent_first_response, self.agent_sla_met):
                metric.labels(name, agent)

    def forget_brand(self, name: str) -> None:
        """Remove every series of the brand (counters, histograms, gauges): its partition now
        belongs to another worker, which exports them from now on. Platforms come from the
        brand's config: events on any other platform are rejected before they are counted."""
        config = self._owned.pop(name, None)  # the gauges stop at the next scrape
        self._fresh.pop(name, None)
        if config is None:
            return
        for counter in (self.duplicates, self.late):
            _drop(counter, name)
        for reason in TONE_DEAF_REASONS:
            _drop(self.tone_deaf_posts, name, reason)
        for lang in LANGS:
            _drop(self.messages_by_language, name, lang)
        for platform in config.platforms:
            for needs in ("true", "false"):
                _drop(self.audience_messages, name, platform, needs)
            for kind in PostKind:
                _drop(self.brand_posts, name, platform, kind)
            for metric in (self.expired, self.late_replies, self.next_response):
                _drop(metric, name, platform)
            for policy in config.policy_names:
                for metric in (self.sla_met, self.sla_breaches, self.first_response,
                               self.first_response_business):
                    _drop(metric, name, platform, policy)
        for agent in _agent_labels(config):
            for metric in (self.agent_replies, self.agent_first_response, self.agent_sla_met):
                _drop(metric, name, agent)

    def owned_brands(self) -> list[str]:
        return list(self._owned)

    def attach_brand_snapshots(self, snapshots: SnapshotSource) -> None:
        """Where the brand gauges come from at scrape time: a callable returning
        (frozen BrandSnapshot, sla_seconds) pairs, called from the HTTP thread."""
        self.brand_gauges.snapshots = snapshots

    # -- events --------------------------------------------------------------------------
    def record(self, observations: Iterable[AnyObservation]) -> None:
        """Turn the core's observations into counter increments and histogram samples.

        Identical observations are counted together first: a batch of thousands of events
        then costs one label lookup per distinct counter, not one per event. A brand seen
        for the first time gets its series at 0, and its increments wait until a scrape
        has read those zeros (at most FRESH_SERIES_SECONDS): a series born at its first
        value would make rate() and increase() miss that first batch.
        """
        now = time.monotonic()
        self._release_deferred(now)
        fresh = self._fresh
        for o, n in Tally(observations).items():
            brand = o.brand
            if brand not in self._owned:
                config = self._resolve(brand)
                if config is None:
                    continue
                self.own_brand(config)
            if fresh and brand in fresh:
                if fresh[brand] >= self.brand_gauges.scraped_at \
                        and now - fresh[brand] < FRESH_SERIES_SECONDS:
                    self._deferred.append((o, n))
                    self._deferred_due = min(self._deferred_due,
                                             fresh[brand] + FRESH_SERIES_SECONDS)
                    continue
                del fresh[brand]
            self._apply(o, n)

    def _release_deferred(self, now: float) -> None:
        """Apply held increments whose series a scrape has seen (or that waited long
        enough). Scans the held list only when one of the two can have happened: per
        batch it is otherwise a comparison, whatever a rebalance left waiting."""
        if not self._deferred:
            return
        scraped_at = self.brand_gauges.scraped_at
        if scraped_at == self._scrape_seen and now < self._deferred_due:
            return
        self._scrape_seen = scraped_at
        self._deferred_due = math.inf
        waiting: list[tuple[AnyObservation, int]] = []
        for o, n in self._deferred:
            created = self._fresh.get(o.brand)
            if created is None and o.brand not in self._owned:
                continue  # released to another worker meanwhile
            if created is not None and created >= scraped_at \
                    and now - created < FRESH_SERIES_SECONDS:
                waiting.append((o, n))
                self._deferred_due = min(self._deferred_due, created + FRESH_SERIES_SECONDS)
            else:
                self._fresh.pop(o.brand, None)
                self._apply(o, n)
        self._deferred = waiting

    def _apply(self, o: AnyObservation, n: int) -> None:
        dispatch(o, self, n)

    # -- one method per observation kind (streams.engine.ObservationSink) ---------------
    def on_message_counted(self, o: MessageCounted, n: int) -> None:
        self.audience_messages.labels(o.brand, o.platform,
                                      "true" if o.requires_reply else "false").inc(n)

    def on_post_counted(self, o: PostCounted, n: int) -> None:
        self.brand_posts.labels(o.brand, o.platform, o.kind).inc(n)
        agent = self._agent_label(o.brand, o.agent)
        if agent is not None:
            self.agent_replies.labels(o.brand, agent).inc(n)

    def on_first_response(self, o: FirstResponse, n: int) -> None:
        for _ in range(n):
            self._observe_first_response(o)

    def on_next_response(self, o: NextResponse, n: int) -> None:
        for _ in range(n):
            self.next_response.labels(o.brand, o.platform).observe(o.seconds)

    def on_sla_breached(self, o: SlaBreached, n: int) -> None:
        self.sla_breaches.labels(o.brand, o.platform, o.policy).inc(n)

    def on_expired_unanswered(self, o: ExpiredUnanswered, n: int) -> None:
        self.expired.labels(o.brand, o.platform).inc(n)

    def on_late_reply(self, o: LateReply, n: int) -> None:
        self.late_replies.labels(o.brand, o.platform).inc(n)

    def on_duplicate_event(self, o: DuplicateEvent, n: int) -> None:
        self.duplicates.labels(o.brand).inc(n)

    def on_late_event(self, o: LateEvent, n: int) -> None:
        self.late.labels(o.brand).inc(n)

    def on_language_counted(self, o: LanguageCounted, n: int) -> None:
        self.messages_by_language.labels(o.brand, o.lang).inc(n)

    def on_templated_reply(self, o: TemplatedReply, n: int) -> None:
        """Shown as the templated ratio gauge (a snapshot), not counted."""

    def on_tone_deaf_post(self, o: ToneDeafPost, n: int) -> None:
        self.tone_deaf_posts.labels(o.brand, o.reason).inc(n)

    def _observe_first_response(self, o: FirstResponse) -> None:
        self.first_response.labels(o.brand, o.platform, o.policy).observe(o.seconds)
        if o.business_seconds is not None:
            self.first_response_business.labels(o.brand, o.platform, o.policy).observe(
                o.business_seconds)
        if o.within_sla:
            self.sla_met.labels(o.brand, o.platform, o.policy).inc()
        agent = self._agent_label(o.brand, o.agent)
        if agent is not None:
            self.agent_first_response.labels(o.brand, agent).observe(o.seconds)
            if o.within_sla:
                self.agent_sla_met.labels(o.brand, agent).inc()

    def _agent_label(self, brand: str, agent: str | None) -> str | None:
        """The `agent` label of a signed reply: a listed agent, else "other"; None (not
        exported) for unsigned replies and for brands that list no agents."""
        config = self._owned.get(brand)
        if agent is None or config is None or not config.agents:
            return None
        return agent if agent in config.agents else OTHER_AGENT

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


def _agent_labels(config: BrandConfig) -> list[str]:
    """Every `agent` label value of a brand: its listed agents and "other" (none when it
    lists no agents)."""
    return [*sorted(config.agents), OTHER_AGENT] if config.agents else []


def _drop(metric: MetricWrapperBase, *labels: str) -> None:
    """Remove one labelled series if it exists (any metric type)."""
    try:
        metric.remove(*labels)
    except KeyError:
        pass


class _SourceLag(Collector):
    """`brandpulse_source_lag_seconds`: now minus the newest event time a source reached,
    computed at scrape so it keeps growing while a source is silent or disconnected."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.newest: dict[str, float] = {}

    def describe(self) -> list[GaugeMetricFamily]:
        return [self._family()]

    def _family(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "brandpulse_source_lag_seconds",
            "Wall clock minus the newest event time the source has reached (emitted, or read "
            "past on a source with a position such as the Bluesky firehose).", labels=["source"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        now = self.clock()
        for source, newest in tuple(self.newest.items()):
            family.add_metric([source], max(0.0, now - newest))
        yield family


class SourceMetrics:
    """The metrics of a `brandpulse ingest` process (one source per process).

    `source` is bluesky, mastodon or webhook; `side` brand or audience; `reason` comes from
    each connector's fixed set of constants, so every label is bounded.
    """

    def __init__(self, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "brandpulse_source_events", "Events a source connector handed to its sink.",
            ("source", "side"), registry=r)
        self.rejected_events = Counter(
            "brandpulse_source_rejected",
            "Source input that is wrong (bad signature, schema, future time...), by reason.",
            ("source", "reason"), registry=r)
        self.skipped_events = Counter(
            "brandpulse_source_skipped",
            "Source input deliberately ignored (strangers' posts, likes, deletes...), by reason.",
            ("source", "reason"), registry=r)
        self.connected_gauge = Gauge(
            "brandpulse_source_connected", "1 while the connector is connected to its source "
            "(or listening, for webhooks), else 0.", ("source",), registry=r)
        self.reconnects = Counter(
            "brandpulse_source_reconnects", "Connections to the source after the first one.",
            ("source",), registry=r)
        self.lag = _SourceLag(clock)
        r.register(self.lag)
        self.build_info = Gauge(
            "brandpulse_build_info", "Always 1; the version label says which build runs.",
            ("version",), registry=r)
        self.build_info.labels(__version__).set(1)

    def initialise(self, source: str) -> None:
        """Create the source's series at zero, so rate() and alerts see them from the start."""
        self.connected_gauge.labels(source).set(0)
        self.reconnects.labels(source)
        for side in ("brand", "audience"):
            self.events.labels(source, side)

    def event(self, source: str, side: str, event_time: float) -> None:
        self.events.labels(source, side).inc()
        self.progress(source, event_time)

    def progress(self, source: str, event_time: float) -> None:
        if event_time > self.lag.newest.get(source, float("-inf")):
            self.lag.newest[source] = event_time

    def rejected(self, source: str, reason: str) -> None:
        self.rejected_events.labels(source, reason).inc()

    def skipped(self, source: str, reason: str) -> None:
        self.skipped_events.labels(source, reason).inc()

    def connected(self, source: str, up: bool) -> None:
        self.connected_gauge.labels(source).set(1 if up else 0)

    def reconnected(self, source: str) -> None:
        self.reconnects.labels(source).inc()
