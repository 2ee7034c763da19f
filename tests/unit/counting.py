"""Observations to published totals, as a worker turns them (engine totals → metrics).

The worker's counters are each brand's persisted totals (streams/core/totals.py),
published once written; tests that start from observations go through the same classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from streams.core.brand import BrandConfig
from streams.core.totals import BrandTotals
from streams.engine import dispatch
from streams.metrics import BrandpulseMetrics


class Counts:
    """Each brand's totals, fed observations and published to `metrics` after each call."""

    def __init__(self, metrics: BrandpulseMetrics,
                 configs: Callable[[str], BrandConfig | None]) -> None:
        self.metrics = metrics
        self.configs = configs
        self.totals: dict[str, BrandTotals] = {}

    def record(self, observations: Iterable[Any]) -> None:
        touched: set[str] = set()
        for o in observations:
            totals = self.totals.get(o.brand)
            if totals is None:
                config = self.configs(o.brand)
                if config is None:
                    continue  # what the engine never produces: an unconfigured brand
                totals = self.totals[o.brand] = BrandTotals(config)
            dispatch(o, totals)
            touched.add(o.brand)
        self.metrics.publish_totals({b: self.totals[b].frozen() for b in touched})
