"""Audience volume against the brand's own baseline: the mention-spike signal.

An outage, a viral complaint or a campaign shows first as more messages than usual, before
any crisis vocabulary. The baseline is derived from what the SLA book already keeps (one
event-time hour bucket per hour, 7 days + 1 h): the mean and standard deviation of the
brand's hourly audience counts over the complete hours of the trailing 7 days. So a restart
rebuilds it from the persisted records with no state of its own.

Why not the same hour of the week: retention holds one sample of each hour of the week,
and a baseline of one sample is noise. The trailing mean and deviation include the daily
cycle in the deviation, which keeps a brand's ordinary evening peak from scoring as a
spike (measured on TWCS: docs/metrics.md, "Volume spikes").

The current rate is counted over the last `WINDOW_SECONDS` (minute slots) so that a spike
shows within minutes, not after an hour. The score is a z-score of that count against
what the baseline expects in the window, with the Poisson noise of a short count in the
denominator so that a flat, quiet baseline does not turn two extra messages into a spike.
Definitions are in docs/metrics.md.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from streams.core.conversation import HOUR

#: The window of the current rate: short enough for a spike to score within minutes.
WINDOW_SECONDS = 15 * 60
MINUTE = 60
WINDOW_MINUTES = WINDOW_SECONDS // MINUTE
#: Complete hours of the baseline (the book keeps 7 days + 1 h of buckets).
BASELINE_HOURS = 7 * 24
#: Below this many hours of history the brand has no baseline (the score is NaN).
MIN_BASELINE_HOURS = 24
#: Terms counted per minute slot at most (a hot brand's spike must not grow memory
#: without bound; terms of an already counted spelling keep being counted).
MAX_TERMS_PER_SLOT = 256
#: Audience terms named in the spike alert.
TOP_TERMS = 3
#: A message below this sentiment is negative (the evaluation's ±0.05 convention).
NEGATIVE_BELOW = -0.05

# The alert's thresholds (deploy/prometheus/rules/brandpulse-alerts.yml,
# BrandMentionVolumeSpike); bench/volume_spikes.py replays TWCS against the same numbers
# and a test checks the rules file says the same.
SPIKE_SCORE = 4.0  # z-score of the window's count
SPIKE_RATIO = 3.0  # rate / baseline mean
SPIKE_MIN_RATE = 40.0  # messages per hour (10 in the 15-minute window)
SPIKE_FOR_SECONDS = 60  # the alert's `for:`
SPIKE_KEEP_FIRING_SECONDS = 600  # its `keep_firing_for:` (one burst, one alert)


@dataclass(frozen=True, slots=True)
class Baseline:
    """Hourly audience counts of the trailing complete hours."""

    mean: float  # messages per hour; NaN without enough history
    deviation: float  # population standard deviation; NaN likewise
    hours: int  # complete hours it rests on


NO_BASELINE = Baseline(math.nan, math.nan, 0)


def baseline(hourly: Mapping[int, int], current_hour: int, first_hour: int | None,
             hours: int = BASELINE_HOURS, min_hours: int = MIN_BASELINE_HOURS) -> Baseline:
    """Mean and deviation of the complete hours before `current_hour` (at most `hours`),
    from the brand's first kept hour on; a kept hour with no message counts as 0."""
    if first_hour is None:
        return NO_BASELINE
    start = max(first_hour, current_hour - hours)
    n = current_hour - start
    if n < min_hours:
        return Baseline(math.nan, math.nan, max(0, n))
    values = [hourly.get(hour, 0) for hour in range(start, current_hour)]
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / n
    return Baseline(mean, math.sqrt(variance), n)


def spike_score(count: int, base: Baseline, window_seconds: int = WINDOW_SECONDS) -> float:
    """(count − expected) / noise, where expected = mean × window share of an hour and the
    noise adds the baseline's hour-to-hour deviation (scaled to the window) and the
    Poisson noise of the expected count; the noise is at least 1. NaN without baseline."""
    if math.isnan(base.mean):
        return math.nan
    share = window_seconds / HOUR
    expected = base.mean * share
    noise = max(1.0, math.sqrt((base.deviation * share) ** 2 + expected))
    return (count - expected) / noise


class RecentCounts:
    """Audience messages per event-time minute over the last window (bounded: slots older
    than the window behind the newest one are dropped as they go)."""

    __slots__ = ("newest", "slots")

    def __init__(self) -> None:
        self.slots: dict[int, int] = {}
        self.newest = -1 << 62

    def add(self, at: float) -> None:
        minute = math.floor(at / MINUTE)
        slots = self.slots
        slots[minute] = slots.get(minute, 0) + 1
        if minute > self.newest:
            self.newest = minute
            for key in [k for k in slots if k <= minute - WINDOW_MINUTES]:
                del slots[key]

    def count(self, now: float) -> int:
        """Messages created in the window ending at `now` (whole minutes, `now`'s included)."""
        last = math.floor(now / MINUTE)
        first = last - WINDOW_MINUTES + 1
        return sum(n for minute, n in self.slots.items() if first <= minute <= last)


class RecentAudience:
    """Per minute of the last window: analysed messages, negative ones and their terms
    (what the spike alert describes). Rebuilt from persisted features like the rest of
    behaviour state."""

    __slots__ = ("newest", "slots")

    def __init__(self) -> None:
        self.slots: dict[int, tuple[list[int], Counter[str]]] = {}
        self.newest = -1 << 62

    def add(self, at: float, sentiment: float, terms: Iterable[str]) -> None:
        minute = math.floor(at / MINUTE)
        slot = self.slots.get(minute)
        if slot is None:
            slot = self.slots[minute] = ([0, 0], Counter())
            if minute > self.newest:
                self.newest = minute
                for key in [k for k in self.slots if k <= minute - WINDOW_MINUTES]:
                    del self.slots[key]
        counts, term_counts = slot
        counts[0] += 1
        counts[1] += sentiment < NEGATIVE_BELOW
        for term in terms:
            if term in term_counts or len(term_counts) < MAX_TERMS_PER_SLOT:
                term_counts[term] += 1

    def summary(self, now: float) -> tuple[float, tuple[str, ...]]:
        """(negative share, top terms) of the window ending at `now`; NaN and () when no
        analysed message fell in it. Ties between terms go alphabetically."""
        last = math.floor(now / MINUTE)
        first = last - WINDOW_MINUTES + 1
        messages = negatives = 0
        terms: Counter[str] = Counter()
        for minute, (counts, term_counts) in self.slots.items():
            if first <= minute <= last:
                messages += counts[0]
                negatives += counts[1]
                terms.update(term_counts)
        if not messages:
            return math.nan, ()
        top = sorted(terms.items(), key=lambda item: (-item[1], item[0]))[:TOP_TERMS]
        return negatives / messages, tuple(term for term, _ in top)


@dataclass(frozen=True, slots=True)
class VolumeSnapshot:
    """One brand's audience volume at one instant."""

    rate: float  # audience messages per hour over the last window
    baseline: Baseline
    score: float  # spike_score; NaN without baseline
    negative_share: float  # of the window's analysed messages; NaN when none
    top_terms: tuple[str, ...]  # most frequent audience terms of the window

    @property
    def ratio(self) -> float:
        """Rate ÷ baseline mean (inf over a silent week, NaN without baseline)."""
        mean = self.baseline.mean
        if math.isnan(mean):
            return math.nan
        return self.rate / mean if mean else (math.inf if self.rate else math.nan)

    def spiking(self) -> bool:
        """The alert's condition at this instant (without its `for:`)."""
        return (self.score >= SPIKE_SCORE and self.rate >= SPIKE_MIN_RATE
                and self.ratio >= SPIKE_RATIO)


NO_VOLUME = VolumeSnapshot(0.0, NO_BASELINE, math.nan, math.nan, ())


def volume_snapshot(hourly: Mapping[int, int], first_hour: int | None, recent: int,
                    now: float, negative_share: float = math.nan,
                    top_terms: tuple[str, ...] = ()) -> VolumeSnapshot:
    """The snapshot at `now` from hourly counts, the window's count and what behaviour
    analysis saw of the window."""
    base = baseline(hourly, math.floor(now / HOUR), first_hour)
    return VolumeSnapshot(recent * HOUR / WINDOW_SECONDS, base, spike_score(recent, base),
                          negative_share, top_terms)
