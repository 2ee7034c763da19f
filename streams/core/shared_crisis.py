"""The global crisis scope of a deployment with several workers.

Each worker reads only the partitions it owns, so its own audience stream is a slice of the
whole. For the global scope every worker shares the per-bucket counts it has seen
(messages, crisis messages, sentiment sum per 5-minute bucket) and adds the counts the
other workers share: all workers then run the same detector over the same totals, and
agree on ``crisis_active{scope="global"}`` whichever brands they own.

A share carries cumulative totals per bucket, not increments, so a share read twice (a
restart replaying the topic) changes nothing; only its difference to what was merged
before from the same source is added. A source is one worker process: a restarted worker
is a new source, and the counts of its previous life stay valid history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from streams.core.crisis_detector import CrisisDetector, clamp_sentiment

__all__ = ["BucketCounts", "CrisisShare", "SharedCrisisScope"]

#: (messages, crisis messages, sentiment sum) of one bucket.
BucketCounts = tuple[int, int, float]


@dataclass(frozen=True, slots=True)
class CrisisShare:
    """One worker's counts for the global scope: the buckets changed since its last share."""

    source: str
    first_seen: float  # earliest event time the source has counted
    latest: float  # latest event time the source has counted
    buckets: dict[int, BucketCounts]  # bucket key (event time // bucket_s) -> totals


@dataclass(slots=True)
class _Source:
    first_seen: float
    latest: float
    buckets: dict[int, BucketCounts]


def _plausible(counts: BucketCounts) -> bool:
    messages, crisis, sentiment_sum = counts
    return 0 <= crisis <= messages and abs(sentiment_sum) <= messages * (1 + 1e-9) + 1e-6


class SharedCrisisScope:
    """The global detector over this worker's messages plus the counts others share."""

    def __init__(self, source: str, detector: CrisisDetector | None = None) -> None:
        self.source = source
        self.detector = detector if detector is not None else CrisisDetector()
        self._own = _Source(float("inf"), float("-inf"), {})
        self._changed: set[int] = set()
        self._others: dict[str, _Source] = {}

    @property
    def bucket_seconds(self) -> int:
        return self.detector.bucket_s

    @property
    def sources(self) -> int:
        """Workers whose counts are in the window, this one included once it has any."""
        return len(self._others) + (1 if self._own.buckets else 0)

    def observe(self, event_time_s: float, crisis_signal: bool, sentiment: float) -> None:
        """Account for one audience message read by this worker."""
        if not math.isfinite(event_time_s):
            return
        detector = self.detector
        detector.observe(event_time_s, crisis_signal, sentiment)
        key = int(event_time_s // detector.bucket_s)
        if key < detector.oldest_bucket:
            return  # older than the window: the detector did not count it either
        own = self._own
        messages, crisis, sentiment_sum = own.buckets.get(key, (0, 0, 0.0))
        own.buckets[key] = (messages + 1, crisis + (1 if crisis_signal else 0),
                            sentiment_sum + clamp_sentiment(sentiment))
        own.first_seen = min(own.first_seen, event_time_s)
        own.latest = max(own.latest, event_time_s)
        self._changed.add(key)
        if len(own.buckets) > 2 * (detector.retention_s // detector.bucket_s):
            self._prune(own)  # bounded even when nobody takes shares (offline report)

    def take_share(self) -> CrisisShare | None:
        """This worker's buckets changed since the last call (None when nothing changed)."""
        if not self._changed:
            return None
        own = self._own
        self._prune(own)
        buckets = {key: own.buckets[key] for key in sorted(self._changed) if key in own.buckets}
        self._changed.clear()
        if not buckets:
            return None
        return CrisisShare(self.source, own.first_seen, own.latest, buckets)

    def merge(self, share: CrisisShare, not_after: float = math.inf) -> None:
        """Add another worker's share: the difference to what that source shared before.

        Defence in depth behind the decoder: ``not_after`` is the latest plausible event time
        (the caller's wall clock plus the allowed skew; time is never read here). The share's
        ``latest`` is capped at it, and buckets beyond the share's (capped) latest, older
        than the detector's retention, or with impossible counts are ignored, so a bad share
        can neither move the global watermark into the future nor add negative volume.
        """
        if share.source == self.source:
            return
        latest = min(share.latest, not_after)
        if not math.isfinite(latest):
            return
        first_seen = min(share.first_seen, latest) if math.isfinite(share.first_seen) else latest
        detector = self.detector
        newest = latest // detector.bucket_s
        plausible = {key: counts for key, counts in share.buckets.items()
                     if detector.oldest_bucket <= key <= newest and _plausible(counts)}
        if not plausible:
            return
        known = self._others.get(share.source)
        if known is None:
            known = self._others[share.source] = _Source(first_seen, latest, {})
        known.first_seen = min(known.first_seen, first_seen)
        known.latest = max(known.latest, latest)
        for key, (messages, crisis, sentiment_sum) in sorted(plausible.items()):
            old_messages, old_crisis, old_sentiment = known.buckets.get(key, (0, 0, 0.0))
            if (messages, crisis, sentiment_sum) == (old_messages, old_crisis, old_sentiment):
                continue
            known.buckets[key] = (messages, crisis, sentiment_sum)
            detector.add_counts(key, messages - old_messages, crisis - old_crisis,
                                sentiment_sum - old_sentiment, known.first_seen, known.latest)
        self._prune(known)
        if not known.buckets:
            del self._others[share.source]

    # ---------------------------------------------------------------- internals
    def _prune(self, source: _Source) -> None:
        """Forget buckets that left the detector's retention (bounded memory)."""
        oldest = self.detector.oldest_bucket
        for key in [k for k in source.buckets if k < oldest]:
            del source.buckets[key]
