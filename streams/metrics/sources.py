"""The metrics of a `brandpulse ingest` process: its source's events, faults and lag."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from streams import __version__


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
