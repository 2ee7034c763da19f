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
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeGuard

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import metrics as prometheus_metrics
from prometheus_client import values as prometheus_values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.metrics import MetricWrapperBase, disable_created_metrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from streams import __version__
from streams.core.brand import GLOBAL_SCOPE, BrandConfig
from streams.core.crisis_content import shown_about
from streams.core.totals import (
    LABELS,
    NO_TOTALS,
    RESPONSE_BUCKETS,
    Count,
    CountKey,
    FrozenTotals,
    Timing,
    TimingKey,
    count_series,
    timing_series,
)
from streams.engine import BrandSnapshot
from streams.events import RejectReason

log = logging.getLogger(__name__)

# No `_created` samples: in the text format Prometheus stores each as one more series per
# counter and histogram child (a quarter of a brand's series), and no rule or dashboard
# reads them; rate() handles counter resets without them. A process-wide switch of
# prometheus-client, read at each scrape.
disable_created_metrics()

MINUTE, HOUR, DAY = 60, 3600, 86400
# A new brand's first counts wait at most this long for a scrape to read its zeros.
FRESH_SERIES_SECONDS = 60.0
FIRST_RESPONSE_BUCKETS = RESPONSE_BUCKETS
BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
PROCESSING_DELAY_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, MINUTE, 2 * MINUTE, 5 * MINUTE,
    10 * MINUTE, 30 * MINUTE, HOUR,
)
CRISIS_ACTIVE = "brandpulse_crisis_active"
# The spike's terms are exported only from this score on (half the alert's threshold):
# the series exists whenever the alert can fire, and terms churn no series otherwise.
VOLUME_TERMS_SCORE = 2.0
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
         scheduled_next, scheduled_info, at_risk, volume_rate, volume_baseline, volume_score,
         volume_negative, volume_terms, group_info, crisis_info) = families = _brand_families()
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
        GaugeMetricFamily(
            "brandpulse_audience_volume_rate",
            "Audience messages per hour, counted over the last 15 minutes of event time.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_audience_volume_baseline",
            "Mean audience messages per hour over the complete hours of the last 7 days "
            "(NaN with less than a day of history).",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_audience_volume_score",
            "Z-score of the last 15 minutes' audience messages against the 7-day baseline "
            "(deviation and Poisson noise); NaN without baseline.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_audience_volume_negative_share",
            "Share of the last 15 minutes' analysed audience messages that are negative.",
            labels=("brand",)),
        GaugeMetricFamily(
            "brandpulse_audience_volume_terms_info",
            "1 for the top audience terms of the last 15 minutes, only while the volume "
            "score is at least 2 (one series per brand at most).",
            labels=("brand", "terms")),
        GaugeMetricFamily(
            "brandpulse_brand_group_info",
            "1 for the competitor group of each brand that has one (brands file `group`).",
            labels=("brand", "group")),
        GaugeMetricFamily(
            "brandpulse_crisis_info",
            "What the brand's active (1) or emerging (0) audience crisis is about: its top "
            "learned terms, comma-joined (one series per crisis scope at most).",
            labels=("scope", "terms")),
    )


#: HELP text of each brand counter and histogram (streams/core/totals.py keeps the values).
_BRAND_HELP: dict[str, str] = {
    Count.AUDIENCE_MESSAGES: "Audience messages, by whether they need a reply.",
    Count.BRAND_POSTS: "Posts written by the brand, broadcast or reply.",
    Count.SLA_MET: "Messages answered within the SLA target.",
    Count.SLA_BREACHES: "Messages whose SLA target passed unanswered, counted at that moment.",
    Count.EXPIRED: "Messages closed unanswered after the expiry period (7 days by default).",
    Count.LATE_REPLIES: "First replies to messages that had already expired unanswered (they "
                        "stay counted as expired).",
    Count.DUPLICATES: "Events already seen (same id), ignored.",
    Count.LATE_EVENTS: "Events older than the retention horizon, ignored.",
    Count.TONE_DEAF: "Promotional or jokey brand posts during a crisis, or riding its "
                     "hashtags.",
    Count.LANGUAGE: "Audience messages by detected language (other languages score neutral).",
    Count.NEGATIVE: "Analysed audience messages whose sentiment is negative (below -0.05).",
    Count.AGENT_REPLIES: "Brand replies signed by each listed agent.",
    Count.AGENT_SLA_MET: "First replies signed by each listed agent within the message's SLA "
                         "target.",
    Timing.FIRST_RESPONSE: "Time from an audience message needing a reply to the brand's "
                           "first reply.",
    Timing.FIRST_RESPONSE_BUSINESS: "First-response time counting only the brand's business "
                                    "hours.",
    Timing.NEXT_RESPONSE: "Time from a customer's follow-up, in a thread the brand had "
                          "answered, to the brand's next reply.",
    Timing.AGENT_FIRST_RESPONSE: "First-response time of the first replies signed by each "
                                 "listed agent.",
    # --- inbox conversations (brandpulse ingest chatwoot, #24) ---
    Count.REOPENED: "Resolved inbox conversations opened again.",
    Timing.RESOLUTION: "Time from an inbox conversation's creation to its resolution, in "
                       "business hours when the brand's SLA uses them.",
}
_BUCKET_BOUNDS = tuple(floatToGoString(b) for b in (*RESPONSE_BUCKETS, math.inf))


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
        return list(self._families().values())

    def _families(self) -> dict[str, Any]:
        families: dict[str, Any] = {}
        for name, labels in LABELS.items():
            if isinstance(name, Count):
                families[name] = CounterMetricFamily(
                    f"brandpulse_{name}", _BRAND_HELP[name], labels=("brand", *labels))
            else:
                families[name] = HistogramMetricFamily(
                    f"brandpulse_{name}", _BRAND_HELP[name], labels=("brand", *labels))
        return families

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        seen, self.scraped_at = self.scraped_at, now
        families = self._families()
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
                    [(bound, value) for bound, (_, value) in zip(_BUCKET_BOUNDS, buckets,
                                                                 strict=True)],
                    total)
        return iter(families.values())


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
