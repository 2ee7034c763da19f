"""Replay a recorded stream in event time and list the BrandMentionVolumeSpike alerts it
would have fired: how the alert's false alarms are measured (bench/volume_spikes.py) and
how the demo's spike is timed.

Prometheus evaluates the alert on scraped gauges; here the gauge is read from the engine
every `step` seconds of event time, the way a scrape would read it, and the alert fires
once the condition held for `SPIKE_FOR_SECONDS` (its `for:`), and resolves once it has
not held for `SPIKE_KEEP_FIRING_SECONDS` (its `keep_firing_for:`). Only instants when the brand
had a message in the window are evaluated: with none, the rate is 0 and cannot spike.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from streams.core.brand import BrandsConfig
from streams.core.volume import (
    SPIKE_FOR_SECONDS,
    SPIKE_KEEP_FIRING_SECONDS,
    WINDOW_SECONDS,
    VolumeSnapshot,
)
from streams.engine import Engine
from streams.events import Side, SocialEvent


@dataclass(frozen=True, slots=True)
class SpikeAlert:
    """One firing of the alert: when its condition started holding and when it fired."""

    brand: str
    pending_at: float
    fired_at: float
    volume: VolumeSnapshot  # at the firing


def replay_spikes(events: Iterable[SocialEvent], brands: BrandsConfig, step: float = 15.0,
                  analyse_behaviour: bool = True) -> Iterator[SpikeAlert]:
    """The alerts a time-ordered stream fires, in firing order (one per burst, as
    Prometheus with the rule's `for:` and `keep_firing_for:`)."""
    engine = Engine(brands, analyse_behaviour=analyse_behaviour, persisted=False)
    ticks: list[tuple[float, str]] = []
    planned: dict[str, float] = {}  # brand -> last evaluation instant scheduled
    pending: dict[str, float] = {}
    firing: set[str] = set()
    held: dict[str, float] = {}  # brand -> last evaluation its condition held

    def evaluate(at: float, brand: str) -> SpikeAlert | None:
        volume = engine.volume(brand, at)
        if brand in firing and at - held[brand] >= SPIKE_KEEP_FIRING_SECONDS:
            firing.discard(brand)  # resolved: `keep_firing_for` passed with no spike
        if not volume.spiking():
            pending.pop(brand, None)
            return None
        held[brand] = at
        if brand in firing:
            return None
        since = pending.setdefault(brand, at)
        if at - since < SPIKE_FOR_SECONDS:
            return None
        firing.add(brand)
        del pending[brand]
        return SpikeAlert(brand, since, at, volume)

    def due(until: float) -> Iterator[SpikeAlert]:
        while ticks and ticks[0][0] <= until:
            at, brand = heapq.heappop(ticks)
            alert = evaluate(at, brand)
            if alert is not None:
                yield alert

    stream_time = -math.inf
    for event in events:
        yield from due(event.created_at)
        stream_time = max(stream_time, event.created_at)
        engine.ingest(event, stream_time)
        engine.advance(stream_time)
        if event.side is not Side.AUDIENCE or brands.get(event.brand) is None:
            continue
        # evaluations until the message has left the window (and one more to see it go)
        first = math.floor(event.created_at / step) * step + step
        last = event.created_at + WINDOW_SECONDS + SPIKE_FOR_SECONDS + step
        at = max(first, planned.get(event.brand, -math.inf) + step)
        while at <= last:
            heapq.heappush(ticks, (at, event.brand))
            at += step
        planned[event.brand] = max(planned.get(event.brand, -math.inf), at - step)
    yield from due(math.inf)
