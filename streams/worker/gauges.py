"""The latest snapshot of every owned brand, renewed on the event loop each tick.

/metrics (`metrics.BrandGauges`) and /api read these frozen snapshots from the HTTP
thread at scrape time and never touch the engine. The tick decides which brands to renew:
those that changed, a round-robin slice so that rolling windows move for quiet brands too,
and, cheaply, the backlog ages of brands with a backlog.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

from streams.core.brand import BrandsConfig
from streams.engine import BrandSnapshot, Engine

GAUGE_SWEEP_SECONDS = 60.0  # every owned brand's gauges are renewed at least this often
SNAPSHOTS_PER_TICK = 500  # full brand snapshots per tick (~50-100 ms of work)


class GaugeFeed:
    """(snapshot, SLA target) per owned brand with state, for the scrape-time collector."""

    def __init__(self, engine: Engine, brands: BrandsConfig, tick_seconds: float) -> None:
        self.engine = engine
        self.brands = brands
        self.tick_seconds = tick_seconds
        self._gauges: dict[str, tuple[BrandSnapshot, float]] = {}
        self._view: tuple[tuple[BrandSnapshot, float], ...] = ()
        self._sweep = 0
        self._waiting: set[str] = set()  # brands whose snapshot is to be renewed

    def snapshots(self) -> tuple[tuple[BrandSnapshot, float], ...]:
        """What the collector iterates (HTTP thread): a tuple replaced whole each tick."""
        return self._view

    def newest_time(self, default: float) -> float:
        """The newest brand clock: the global crisis scope's "now" (each clock is bounded
        by the allowed skew)."""
        return max((s.now for s, _ in self._view), default=default)

    def forget(self, brands: set[str]) -> None:
        for brand in brands:
            self._gauges.pop(brand, None)
        self._waiting -= brands
        self._view = tuple(self._gauges.values())

    def refresh(self, wall: float) -> list[BrandSnapshot]:
        """Renew the brands that changed plus a round-robin slice (every brand at least
        once per GAUGE_SWEEP_SECONDS), at most SNAPSHOTS_PER_TICK (the rest wait for the
        next ticks, so a burst over thousands of brands cannot stall the event loop), and
        only the backlog ages of the other brands with a backlog. Returns the new full
        snapshots."""
        engine = self.engine
        active = engine.active_brands()
        waiting = self._waiting
        waiting.update(engine.take_touched())
        if active:
            per_tick = max(1, math.ceil(len(active) * self.tick_seconds / GAUGE_SWEEP_SECONDS))
            start = self._sweep % len(active)
            waiting.update(active[start:start + per_tick])
            self._sweep = start + per_tick
        if len(waiting) <= SNAPSHOTS_PER_TICK:
            refresh, self._waiting = waiting, set()
        else:
            refresh = set(itertools.islice(waiting, SNAPSHOTS_PER_TICK))
            waiting -= refresh
        gauges = self._gauges
        fresh: list[BrandSnapshot] = []
        for brand in refresh:
            config = self.brands.get(brand)
            if config is None or not engine.has_brand(brand):
                continue
            snapshot = engine.snapshot(brand, engine.brand_now(brand, wall))
            gauges[brand] = (snapshot, config.sla_seconds)
            fresh.append(snapshot)
        for brand, (snapshot, sla_seconds) in list(gauges.items()):
            if brand not in refresh and any(b.unanswered for b in snapshot.backlog.values()):
                now = engine.brand_now(brand, wall)
                gauges[brand] = (replace(snapshot, now=now, backlog=engine.backlog(brand, now)),
                                 sla_seconds)
        self._view = tuple(gauges.values())
        return fresh
