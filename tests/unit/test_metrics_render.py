"""streams.metrics.TextRenderer: the text exposition of prometheus_client, byte for byte.

The renderer reads prometheus_client's private fields, so these tests also pin what it
relies on: the installed version is in pyproject.toml's range, the fields have the shape
the renderer expects, and every metric type renders as generate_latest renders it. Run
them on a new release before raising the upper bound of the pin.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    generate_latest,
)
from prometheus_client import metrics as prometheus_metrics
from prometheus_client import values as prometheus_values
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
    StateSetMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.metrics import disable_created_metrics, enable_created_metrics

from streams.core.scheduled import ScheduledAlarm
from streams.metrics import SourceMetrics, TextRenderer
from tests.unit.counting import Counts
from tests.unit.test_metrics import brand, every_observation, new_metrics, snapshot


class Odd:
    """Samples the worker never makes but the format knows: timestamps, OpenMetrics-only
    suffixes, label values to escape, special numbers."""

    def __init__(self) -> None:
        self.value = 1.0

    def collect(self) -> list[Metric]:
        family = Metric("bench_odd", 'help with \\ backslash\nand "quotes"', "gauge")
        family.add_sample("bench_odd", {"b": 'x"y', "a": "back\\slash\nnl", "u": "é 😂"},
                          self.value)
        family.add_sample("bench_odd", {"a": "stamped"}, 2.0, timestamp=1_700_000_000.5)
        for number in (math.inf, -math.inf, math.nan, 1e-7, 123456789.0, -0.0):
            family.add_sample("bench_odd", {"a": repr(number)}, number)
        histogram = GaugeHistogramMetricFamily("bench_gh", "a gauge histogram",
                                               buckets=[("1.0", 3), ("+Inf", 5)], gsum_value=7)
        return [family, histogram]


def test_the_page_is_generate_latest_byte_for_byte_scrape_after_scrape() -> None:
    metrics = new_metrics()
    names = ("b1", "b2", "b3")
    for name in names:
        metrics.own_brand(brand(name))
    metrics.initialise((), {n: brand(n) for n in (*names, "b4", "b5")}.get)
    metrics.brand_counters.fresh_seconds = 0  # a new brand's counts show at once
    counts = Counts(metrics, metrics._resolve)
    crisis = snapshot("b2", crisis=True)
    crisis = replace(crisis, scheduled=ScheduledAlarm(2, 1, 'storm "x"\\', 1_700_000_600.0))
    metrics.attach_brand_snapshots(lambda: [(snapshot("b1"), 1800.0), (crisis, 600.0)])
    odd = Odd()
    metrics.registry.register(odd)  # type: ignore[arg-type]
    counter = Counter("bench_plain", "no labels", registry=metrics.registry)
    render = TextRenderer()
    for step in range(4):
        counts.record([o for name in names if name in metrics.owned_brands() or step == 0
                       for o in every_observation(name)])
        counter.inc(step)
        odd.value = step * 0.1
        if step == 2:
            metrics.forget_brand("b3")  # its series vanish from both
        if step == 3:
            metrics.own_brand(brand("b4"))
        expected = generate_latest(metrics.registry)
        assert render(metrics.registry) == expected, step
        assert b"b3" not in expected if step >= 2 else b"b3" in expected
    restricted = metrics.registry.restricted_registry(["brandpulse_brand_posts_total"])
    assert render(restricted) == generate_latest(restricted)
    # a scrape of two families between whole scrapes keeps what the whole page needs
    misses = render.misses
    assert render(metrics.registry) == generate_latest(metrics.registry)
    assert render.misses == misses
    metrics.own_brand(brand("b5"))
    assert render(restricted) == generate_latest(restricted)
    assert render.misses > misses  # b5's new series
    misses = render.misses
    assert render(metrics.registry) == generate_latest(metrics.registry)
    assert render(restricted) == generate_latest(restricted)
    # the whole page renders each of b5's lines once (a restricted scrape keeps its own)
    assert render.misses - misses == sum(
        1 for line in generate_latest(metrics.registry).decode().splitlines()
        if 'brand="b5"' in line)
    misses = render.misses
    assert render(metrics.registry) == generate_latest(metrics.registry)
    assert render.misses == misses


def test_families_read_from_their_children_match_generate_latest() -> None:
    """Counters, gauges and histograms are read from their children; a gauge function, a
    histogram with a negative bound (no _sum), unlabelled families and series removed and
    re-created are rendered as generate_latest renders them, scrape after scrape."""
    registry = CollectorRegistry()
    plain = Counter("t_plain", "no labels", registry=registry)
    labelled = Counter("t_labelled", "labels", ("a", "b"), registry=registry)
    gauge = Gauge("t_gauge", "a gauge", ("k",), registry=registry)
    function = Gauge("t_function", "a gauge function", registry=registry)
    ticks = [0.0]
    function.set_function(lambda: ticks[0])
    latency = Histogram("t_seconds", "a histogram", ("k",), buckets=(0.5, 1.0, 2.5),
                        registry=registry)
    signed = Histogram("t_signed", "negative bound", buckets=(-1.0, 0.0, 1.0),
                       registry=registry)
    render = TextRenderer()
    for step in range(6):
        plain.inc(step * 0.25)
        labelled.labels("x", 'q"uote').inc()
        labelled.labels(str(step % 3), "é").inc(1e-7)
        gauge.labels("g").set(-step * 1e9 if step % 2 else math.inf)
        ticks[0] = step / 3
        latency.labels(str(step % 2)).observe(step * 0.7)
        signed.observe(step - 3)
        if step == 3:
            labelled.remove("x", 'q"uote')
            latency.clear()
        if step == 4:
            labelled.labels("x", 'q"uote').inc(2)  # re-created: a new child
        assert render(registry) == generate_latest(registry), step
        assert render(registry) == generate_latest(registry), step  # nothing changed
def test_an_empty_registry_renders_empty() -> None:
    registry = CollectorRegistry()
    assert TextRenderer()(registry) == generate_latest(registry) == b""


PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def test_the_installed_prometheus_client_is_in_the_pinned_range() -> None:
    """pyproject.toml bounds prometheus-client on both sides, and this is one of them."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    [pin] = [r for r in map(Requirement, project["dependencies"])
             if r.name == "prometheus-client"]
    assert {s.operator for s in pin.specifier} == {">=", "<"}, pin
    assert pin.specifier.contains(version("prometheus-client")), (
        f"prometheus-client {version('prometheus-client')} is outside {pin}: run this file "
        "on it, then move the pin")


def test_the_private_fields_the_renderer_reads_have_the_shape_it_expects() -> None:
    """Each field of prometheus_client that streams/metrics/render.py reads and that is no
    API, with what the renderer assumes of it: a release that moves one fails here by name,
    before a page comes out wrong."""
    registry = CollectorRegistry()
    counter = Counter("t_requests", "c", ("a",), registry=registry)
    gauge = Gauge("t_level", "g", registry=registry)
    histogram = Histogram("t_seconds", "h", ("k",), buckets=(0.5, 1.0), registry=registry)
    # the registry: its collectors in registration order, under its lock; target_info
    with registry._lock:
        assert list(registry._collector_to_names) == [counter, gauge, histogram]
    assert registry._target_info is None
    # process-wide: no _created samples (streams.metrics turns them off), one process
    assert prometheus_metrics._use_created is False
    assert prometheus_values.ValueClass is prometheus_values.MutexValue
    # a family: its header, label names, and children by label values, under its lock
    family = counter._get_metric()
    assert isinstance(family, Metric)
    assert (family.name, family.type, family.documentation) == ("t_requests", "counter", "c")
    assert (counter._labelnames, counter._labelvalues) == (("a",), ())
    assert (gauge._labelnames, gauge._labelvalues) == ((), ())
    child = counter.labels("x")
    with counter._lock:
        assert counter._metrics == {("x",): child}
    assert type(child) is Counter and child._labelvalues == ("x",)
    # counter and gauge: one value, one sample
    child.inc(2.5)
    gauge.set(-4.0)
    assert (child._value._value, gauge._value._value) == (2.5, -4.0)
    assert [(s.name, s.labels, s.value) for s in child._child_samples()] == [("_total", {}, 2.5)]
    assert [(s.name, s.labels, s.value) for s in gauge._child_samples()] == [("", {}, -4.0)]
    # a gauge function: only the instance's own _child_samples knows the value
    assert "_child_samples" not in gauge.__dict__
    gauge.set_function(lambda: 7.0)
    assert "_child_samples" in gauge.__dict__
    # a histogram: per-bucket counts and the sum, made cumulative by its samples, in order
    for value in (0.25, 0.75, 3.0, 3.0):
        histogram.labels("k").observe(value)
    child = histogram.labels("k")
    assert ([b._value for b in child._buckets], child._sum._value) == ([1.0, 1.0, 2.0], 7.0)
    samples = tuple(child._child_samples())
    assert [(s.name, s.labels, s.value) for s in samples] == [
        ("_bucket", {"le": "0.5"}, 1.0), ("_bucket", {"le": "1.0"}, 2.0),
        ("_bucket", {"le": "+Inf"}, 4.0), ("_count", {}, 4.0), ("_sum", {}, 7.0)]
    signed = Histogram("t_signed", "negative bound", buckets=(-1.0, 1.0), registry=None)
    assert [s.name for s in signed._child_samples()] == ["_bucket"] * 3 + ["_count"]
    # samples: named tuples the renderer copies with _replace
    assert samples[0]._replace(value=0.0, exemplar=None).value == 0.0
    assert {"name", "labels", "value", "timestamp", "exemplar"} <= set(samples[0]._fields)


class EveryFamily:
    """A collector of every family type of prometheus_client.core, with `_created`, units,
    timestamps and label values to escape."""

    def __init__(self) -> None:
        self.value = 1.0

    def collect(self) -> list[Metric]:
        v = self.value
        counter = CounterMetricFamily("c_custom", "custom counter", labels=("k",))
        counter.add_metric(("a\\b",), v, created=1_700_000_000.0)
        counter.add_metric(("stamped",), v, timestamp=1_700_000_001.25)
        histogram = HistogramMetricFamily("h_custom", "custom histogram", labels=("k",),
                                          unit="seconds")
        histogram.add_metric(("x",), [("0.5", v), ("+Inf", 2 * v)], 3 * v)
        summary = SummaryMetricFamily("s_custom", "custom summary", labels=("k",))
        summary.add_metric(("x",), 4, 2.5 * v)
        info = InfoMetricFamily("i_custom", "custom info", labels=("k",))
        info.add_metric(("x",), {"version": 'v"1', "path": "a\nb"})
        state = StateSetMetricFamily("st_custom", "custom state set", labels=("k",))
        state.add_metric(("x",), {"on": v > 1, "off": v <= 1})
        unknown = UnknownMetricFamily("u_custom", "custom untyped", labels=("k",))
        unknown.add_metric(("x",), -v)
        gauge_histogram = GaugeHistogramMetricFamily(
            "gh_custom", "custom gauge histogram", buckets=[("1.0", 3), ("+Inf", 5)],
            gsum_value=7 * v)
        return [counter, histogram, summary, info, state, unknown, gauge_histogram]


def test_every_metric_type_renders_as_generate_latest() -> None:
    """Every metric class and family type, exemplars (not in the text format), units,
    namespaces, target_info, `_created` samples turned on for a scrape, and the source
    metrics: the renderer's page is generate_latest's, scrape after scrape."""
    registry = CollectorRegistry()
    custom = EveryFamily()
    registry.register(custom)  # type: ignore[arg-type]
    counter = Counter("calls", "with exemplars", ("k",), namespace="ns", subsystem="sub",
                      registry=registry)
    histogram = Histogram("wait", "with exemplars", unit="seconds", buckets=(0.1, 1.0),
                          registry=registry)
    summary = Summary("size", "a summary", ("k",), unit="bytes", registry=registry)
    info = Info("build", "an info", registry=registry)
    enum = Enum("phase", "an enum", ("k",), states=("starting", "running"),
                registry=registry)
    sources = SourceMetrics(CollectorRegistry(), clock=lambda: 1_790_000_100.0)
    sources.initialise("bluesky")
    render, render_sources = TextRenderer(), TextRenderer()
    for step in range(4):
        custom.value = 1.0 + step
        counter.labels('q"uote').inc(step, exemplar={"trace_id": f"t{step}"})
        histogram.observe(step * 0.4, exemplar={"trace_id": "é"})
        summary.labels("x").observe(step * 1e3)
        info.info({"version": f"0.{step}", "commit": 'a"b\\c'})
        enum.labels("x").state(("starting", "running")[step % 2])
        sources.event("bluesky", "audience", 1_790_000_000.0 + step)
        sources.rejected("bluesky", "schema")
        if step == 2:
            registry.set_target_info({"service": "brandpulse", "zone": 'eu "west"'})
        if step == 3:
            enable_created_metrics()
        try:
            assert render(registry) == generate_latest(registry), step
            assert render(registry) == generate_latest(registry), step
            assert render_sources(sources.registry) == generate_latest(sources.registry), step
        finally:
            disable_created_metrics()
    assert b"_created" in generate_latest(registry)  # the custom counter's own
