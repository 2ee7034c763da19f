"""Event-time crisis detection for one scope (a brand, or the whole audience stream).

:class:`CrisisDetector` turns the per-message crisis signals of one scope
(`streams.core.crisis.crisis_match`) into a ``crisis_active`` decision from three signals,
with hysteresis so that the state does not flap; see ``docs/analysis.md`` for the
thresholds. Kept apart from the vocabulary it counts: the matching is per text, the
detector per scope and per event-time window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Final

__all__ = ["EMERGING_MIN_VOLUME", "CrisisDetector", "CrisisStatus", "clamp_sentiment"]


#: An emerging crisis needs this many audience messages in the last hour (the detector's
#: own minimum volume), so that one message with a crisis word is not "a crisis emerging".
EMERGING_MIN_VOLUME: Final = 20


@dataclass(frozen=True, slots=True)
class CrisisStatus:
    """Snapshot of a scope's crisis signals at the detector's event-time watermark."""

    active: bool
    vocabulary_rate: float
    volume: int
    baseline_mean: float
    baseline_std: float
    spike: bool
    sentiment_mean: float
    baseline_sentiment: float
    sentiment_dip: bool
    signals: int
    since: float | None

    @property
    def emerging(self) -> bool:
        """Not active yet, but at least one signal, the crisis vocabulary above the off
        threshold and enough volume (so one message with a crisis word is not a crisis
        emerging): what the check holds promotional drafts for."""
        return (not self.active and self.signals >= 1 and self.vocabulary_rate >= 0.05
                and self.volume >= EMERGING_MIN_VOLUME)

    @property
    def state(self) -> str:
        """"active", "emerging" or "" (nothing going on)."""
        return "active" if self.active else "emerging" if self.emerging else ""


@dataclass(slots=True)
class _Bucket:
    count: int = 0
    crisis: int = 0
    sentiment_sum: float = 0.0


def clamp_sentiment(sentiment: float) -> float:
    """A message's contribution to a sentiment sum: [-1, 1], 0 when not a number."""
    return max(-1.0, min(1.0, sentiment)) if math.isfinite(sentiment) else 0.0


class CrisisDetector:
    """Event-time crisis state for one scope (a brand or global).

    Messages are aggregated in 5-minute buckets. At the watermark (latest event time seen)
    three signals are computed over the recent window (last hour):

    * vocabulary: share of messages carrying the crisis signal >= ``vocabulary_rate_on``;
    * spike: recent volume > mean + ``spike_k``·σ of the previous ``baseline_hours`` hourly
      volumes (σ floored at sqrt(mean) and 1, the Poisson noise of a quiet scope), with at
      least ``min_volume`` messages;
    * dip: mean sentiment at least ``sentiment_drop`` below the baseline hours' mean.

    The scope becomes active when two of the three signals hold and the vocabulary rate is
    at least ``vocabulary_rate_off`` (a spike of angry customers without crisis words is an
    outage, not a crisis). Spike and dip need a baseline: ``min_history_s`` of event time
    and ``min_volume`` messages in the baseline hours. It becomes inactive only after
    ``cooldown_s`` seconds during which at most one signal held and the vocabulary rate
    stayed below ``vocabulary_rate_on``.
    """

    def __init__(
        self,
        *,
        bucket_s: int = 300,
        window_s: int = 3600,
        baseline_hours: int = 24,
        vocabulary_rate_on: float = 0.15,
        vocabulary_rate_off: float = 0.05,
        spike_k: float = 3.0,
        min_volume: int = 20,
        sentiment_drop: float = 0.15,
        cooldown_s: int = 3600,
        min_history_s: int = 6 * 3600,
    ) -> None:
        if window_s % bucket_s:
            raise ValueError("window_s must be a multiple of bucket_s")
        self.bucket_s = bucket_s
        self.window_s = window_s
        self.baseline_hours = baseline_hours
        self.vocabulary_rate_on = vocabulary_rate_on
        self.vocabulary_rate_off = vocabulary_rate_off
        self.spike_k = spike_k
        self.min_volume = min_volume
        self.sentiment_drop = sentiment_drop
        self.cooldown_s = cooldown_s
        self.min_history_s = min_history_s
        self._buckets: dict[int, _Bucket] = {}
        self._first_seen: float | None = None
        self._watermark: float | None = None
        self._oldest: float = -math.inf  # `oldest_bucket`, computed when the watermark moves
        self._watermark_key = -(2**62)
        self._dirty = False
        self._status: CrisisStatus | None = None
        self._baseline: tuple[int, float, float, int, float] | None = None
        self._active = False
        self._since: float | None = None
        self._quiet_since: float | None = None

    @property
    def retention_s(self) -> int:
        return self.window_s * (self.baseline_hours + 1)

    def observe(self, event_time_s: float, crisis_term_hits: int | bool, sentiment: float) -> None:
        """Account for one message; ``crisis_term_hits`` is the per-message signal or count.

        Counts > 0 (or True) mark a crisis message. Events older than the retention are
        dropped. Cheap (no evaluation): the decision is re-evaluated when event time enters
        a new bucket (closing the previous one) and whenever it is read.
        """
        if not math.isfinite(event_time_s):
            return
        self.add_counts(int(event_time_s // self.bucket_s), 1, 1 if crisis_term_hits else 0,
                        clamp_sentiment(sentiment), event_time_s, event_time_s)

    def add_counts(self, bucket_key: int, messages: int, crisis_messages: int,
                   sentiment_sum: float, first_seen: float, latest: float) -> None:
        """Account for aggregated counts of one bucket (``bucket_key`` = time // bucket_s).

        Used for single messages and for the counts other workers share for the global
        scope; counts may be negative corrections of what was added before. ``first_seen``
        and ``latest`` are the event times the counts' source has seen, so that history and
        the watermark move as if the messages had been observed here.
        """
        if bucket_key < self.oldest_bucket:
            return
        watermark = self._watermark
        if watermark is not None and bucket_key > self._watermark_key and self._dirty:
            self._update()  # close the previous bucket: the hysteresis clock ticks per bucket
        bucket = self._buckets.get(bucket_key)
        if bucket is None:
            bucket = self._buckets[bucket_key] = _Bucket()
        bucket.count += messages
        bucket.crisis += crisis_messages
        bucket.sentiment_sum += sentiment_sum
        if self._baseline is not None and bucket_key < self._baseline[0]:
            self._baseline = None  # a late event changed a baseline hour
        if self._first_seen is None or first_seen < self._first_seen:
            self._first_seen = first_seen
        if watermark is None or latest > watermark:
            self._move_watermark(latest)
        self._dirty = True

    @property
    def watermark(self) -> float | None:
        """Latest event time accounted for (None before the first message)."""
        return self._watermark

    @property
    def oldest_bucket(self) -> float:
        """Key of the oldest bucket the retention keeps (-inf before the first message)."""
        return self._oldest

    def advance(self, event_time_s: float) -> None:
        """Move the watermark without a message (e.g. on a timer) so that states can end."""
        if self._watermark is None or event_time_s <= self._watermark:
            return
        if self._dirty:
            self._update()
        self._move_watermark(event_time_s)
        self._update()

    @property
    def crisis_active(self) -> bool:
        if self._dirty:
            self._update()
        return self._active

    def status(self) -> CrisisStatus:
        """Current signals and decision at the watermark."""
        if self._dirty:
            self._update()
        if self._status is None:
            # Built on first read: nothing changed since the last update (not dirty), so the
            # signals are those that update saw, and the decision is the one it took.
            self._status = replace(self._evaluate(), active=self._active, since=self._since)
        return self._status

    # ---------------------------------------------------------------- internals
    def _move_watermark(self, event_time_s: float) -> None:
        self._watermark = event_time_s
        oldest = self._oldest = (event_time_s - self.retention_s) // self.bucket_s
        key = int(event_time_s // self.bucket_s)
        if key != self._watermark_key:
            self._watermark_key = key
            for old in [k for k in self._buckets if k < oldest]:
                del self._buckets[old]

    def _baseline_hours(self, start_key: int, per_window: int) -> tuple[float, float, int, float]:
        """Mean and standard deviation of the hourly volumes, message count and sentiment
        sum of the baseline hours (cached: they only change when a late event lands)."""
        cached = self._baseline
        if cached is not None and cached[0] == start_key:
            return cached[1], cached[2], cached[3], cached[4]
        hourly: list[int] = []
        base_count = 0
        base_sentiment = 0.0
        buckets = self._buckets
        for h in range(1, self.baseline_hours + 1):
            lo = start_key - h * per_window
            count = 0
            for k in range(lo, lo + per_window):
                b = buckets.get(k)
                if b is not None:
                    count += b.count
                    base_sentiment += b.sentiment_sum
            hourly.append(count)
            base_count += count
        mean = sum(hourly) / len(hourly) if hourly else 0.0
        var = sum((c - mean) ** 2 for c in hourly) / len(hourly) if hourly else 0.0
        std = math.sqrt(var)
        self._baseline = (start_key, mean, std, base_count, base_sentiment)
        return mean, std, base_count, base_sentiment

    def _window(self) -> tuple[int, int, int, float]:
        """(first bucket key, volume, crisis messages, sentiment sum) of the recent window."""
        assert self._watermark is not None
        per_window = self.window_s // self.bucket_s
        now_key = int(self._watermark // self.bucket_s)
        start_key = now_key - per_window + 1
        volume = crisis = 0
        sentiment_sum = 0.0
        buckets = self._buckets
        for k in range(start_key, now_key + 1):
            b = buckets.get(k)
            if b is not None:
                volume += b.count
                crisis += b.crisis
                sentiment_sum += b.sentiment_sum
        return start_key, volume, crisis, sentiment_sum

    def _history(self) -> float:
        """Event time between the first message seen and the watermark."""
        assert self._watermark is not None
        first_seen = self._first_seen if self._first_seen is not None else self._watermark
        return self._watermark - first_seen

    def _evaluate(self) -> CrisisStatus:
        if self._watermark is None:
            return CrisisStatus(False, 0.0, 0, 0.0, 0.0, False, 0.0, 0.0, False, 0, None)
        start_key, volume, crisis, sentiment_sum = self._window()
        rate = crisis / volume if volume else 0.0
        sentiment_mean = sentiment_sum / volume if volume else 0.0

        per_window = self.window_s // self.bucket_s
        mean, std, base_count, base_sentiment = self._baseline_hours(start_key, per_window)
        sigma = max(std, math.sqrt(mean), 1.0)
        # No baseline, no anomaly: a scope seen for less than min_history_s cannot spike.
        history = self._history()
        has_baseline = history >= self.min_history_s and base_count >= self.min_volume
        spike = has_baseline and volume >= self.min_volume and volume > mean + self.spike_k * sigma
        baseline_sentiment = base_sentiment / base_count if base_count else 0.0
        dip = (
            has_baseline
            and volume >= self.min_volume
            and sentiment_mean <= baseline_sentiment - self.sentiment_drop
        )
        vocab_on = volume > 0 and rate >= self.vocabulary_rate_on
        signals = int(vocab_on) + int(spike) + int(dip)
        return CrisisStatus(
            active=self._active,
            vocabulary_rate=rate,
            volume=volume,
            baseline_mean=mean,
            baseline_std=std,
            spike=spike,
            sentiment_mean=sentiment_mean,
            baseline_sentiment=baseline_sentiment,
            sentiment_dip=dip,
            signals=signals,
            since=self._since,
        )

    def _signals(self) -> tuple[int, float]:
        """(signals, vocabulary rate) at the watermark, as `_evaluate` computes them, but
        without the baseline hours when the decision cannot depend on them.

        The decision runs whenever event time enters a new bucket, i.e. for almost every
        message of a sparse scope (a brand with a few messages an hour), so it must cost
        little. Spike and dip both need ``min_volume`` messages in the window and
        ``min_history_s`` of history; below either, they are false whatever the baseline.
        When inactive with a vocabulary rate below ``vocabulary_rate_off``, or active with
        one at or above ``vocabulary_rate_on``, the outcome is fixed without them too.
        """
        _, volume, crisis, _ = self._window()
        rate = crisis / volume if volume else 0.0
        vocab_on = volume > 0 and rate >= self.vocabulary_rate_on
        decided = (rate < self.vocabulary_rate_off) if not self._active else vocab_on
        if (decided or volume < self.min_volume
                or self._history() < self.min_history_s):
            return int(vocab_on), rate
        status = self._evaluate()
        return status.signals, status.vocabulary_rate

    def _update(self) -> None:
        """Apply the activation rule and the hysteresis at the current watermark."""
        self._dirty = False
        self._status = None  # built by `status()` when read
        now = self._watermark
        if now is None:
            return
        signals, rate = self._signals()
        if not self._active:
            if signals >= 2 and rate >= self.vocabulary_rate_off:
                self._active = True
                self._since = now
                self._quiet_since = None
        else:
            quiet = signals <= 1 and rate < self.vocabulary_rate_on
            if not quiet:
                self._quiet_since = None
            elif self._quiet_since is None:
                self._quiet_since = now
            elif now - self._quiet_since >= self.cooldown_s:
                self._active = False
                self._since = None
                self._quiet_since = None
