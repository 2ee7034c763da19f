"""The behaviour detectors of one brand, each behind one contract.

The contract has the shape of bytewax's `StatefulLogic`:

* **on event** (`on_audience`, `on_post`): one analysed event's named features
  (streams/core/features.py) at its event time;
* **on tick** (`on_tick`, bytewax's notify): event time reached `now`, drop what left the
  window; called before the brand's gauges are read;
* **snapshot / restore**: a detector keeps nothing the features do not rebuild. Its
  snapshot is the features, persisted with each event's SLA record; its restore is their
  replay, in event-time order, through the same `on_audience`/`on_post`. So a restarted
  worker's detectors equal an uninterrupted run's, and a new detector needs no state
  format of its own.

A new detector is a class here and one entry in `BrandBehaviour`'s tuple (streams/core/
behaviour.py); what it shows goes into `BehaviourSnapshot`.
"""

from __future__ import annotations

from typing import Protocol

from streams.core.crisis_content import CrisisContent
from streams.core.crisis_detector import CrisisDetector
from streams.core.features import AudienceFeatures, PostFeatures
from streams.core.similarity import TemplatedReplyDetector
from streams.core.topics import TopicAlignment
from streams.core.volume import RecentAudience

__all__ = [
    "AudienceEngagement",
    "AudienceSentiment",
    "BrandDetector",
    "CrisisWatch",
    "RecentMood",
    "TemplatedReplies",
    "TopicWatch",
]

ENGAGEMENT_WINDOW_SECONDS = 7 * 86400


class BrandDetector(Protocol):
    """One behaviour detector of one brand (see the module's docstring)."""

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None: ...

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        """True when the post is worth an observation (a templated reply)."""
        ...

    def on_tick(self, now: float) -> None: ...


class CrisisWatch:
    """The brand's crisis detector and what its crisis messages are about."""

    __slots__ = ("content", "detector")

    def __init__(self, detector: CrisisDetector, content: CrisisContent) -> None:
        self.detector = detector
        self.content = content

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        self.detector.observe(at, features.crisis_signal, features.sentiment)
        self.content.observe(at, bool(features.crisis_signal), features.terms,
                             features.hashtags or ())

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        return False

    def on_tick(self, now: float) -> None:
        """The detector advances with the messages it sees and when it is read."""


class SentimentMean(Protocol):
    """A rolling mean of sentiment (`streams.core.behaviour.RollingMean`)."""

    def add(self, at: float, value: float) -> None: ...


class AudienceSentiment:
    """The audience's rolling sentiment, kept apart in and out of a crisis; other
    languages are left out (no lexicon reads them)."""

    __slots__ = ("crisis", "normal")

    def __init__(self, crisis: SentimentMean, normal: SentimentMean) -> None:
        self.crisis = crisis
        self.normal = normal

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        if features.lang != "other":
            (self.crisis if features.in_crisis else self.normal).add(at, features.sentiment)

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        return False

    def on_tick(self, now: float) -> None:
        """Each mean drops its old buckets when it is read."""


class TopicWatch:
    """The audience's and the broadcasts' topic profiles (the airhead's alignment)."""

    __slots__ = ("topics",)

    def __init__(self, topics: TopicAlignment) -> None:
        self.topics = topics

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        self.topics.add_audience_terms(at, features.terms)

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        if features.broadcast_terms is not None:
            self.topics.add_broadcast_terms(at, features.broadcast_terms)
        return False

    def on_tick(self, now: float) -> None:
        self.topics.advance(now)


class TemplatedReplies:
    """Replies that nearly repeat another reply of the window (the robot)."""

    __slots__ = ("templated",)

    def __init__(self, templated: TemplatedReplyDetector) -> None:
        self.templated = templated

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        pass

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        fingerprint = features.reply_fingerprint
        return fingerprint is not None and self.templated.add(at, fingerprint=fingerprint)

    def on_tick(self, now: float) -> None:
        self.templated.advance(now)


class AudienceEngagement:
    """The brand's broadcasts of the last 7 days and the audience replies to them."""

    __slots__ = ("broadcasts", "engaged")

    def __init__(self) -> None:
        self.broadcasts: dict[str, float] = {}  # broadcast id -> created_at
        self.engaged: dict[str, float] = {}  # audience reply id -> created_at

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        if features.engaged_broadcast:
            self.engaged[message_id] = at

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        if features.broadcast_terms is not None:
            self.broadcasts[post_id] = at
        return False

    def on_tick(self, now: float) -> None:
        horizon = now - ENGAGEMENT_WINDOW_SECONDS
        for table in (self.broadcasts, self.engaged):
            for key in [k for k, at in table.items() if at < horizon]:
                del table[key]


class RecentMood:
    """The last minutes' mood and terms, behind the mention-spike signal."""

    __slots__ = ("recent",)

    def __init__(self, recent: RecentAudience) -> None:
        self.recent = recent

    def on_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        self.recent.add(at, features.sentiment, features.terms)

    def on_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        return False

    def on_tick(self, now: float) -> None:
        """Read with its own window (`RecentAudience.summary`)."""
