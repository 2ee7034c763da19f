"""streams.metrics.TextRenderer: the text exposition of prometheus_client, byte for byte."""

from __future__ import annotations

import math
from dataclasses import replace

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, Metric

from streams.core.scheduled import ScheduledAlarm
from streams.metrics import TextRenderer
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
