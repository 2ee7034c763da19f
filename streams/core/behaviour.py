"""Per-brand behaviour state: crisis context, audience sentiment, tone-deaf posts (the
psychopath), templated replies (the robot) and topic alignment (the airhead).

Pure and event-time driven like the SLA book; the engine feeds it each validated event
with the text analysis already done once. Definitions are in docs/analysis.md and
docs/metrics.md.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from streams.core.brand import GLOBAL_SCOPE
from streams.core.crisis import (
    CommandAction,
    CrisisCommand,
    DeclaredCrisis,
    crisis_match,
)
from streams.core.crisis_content import NOTHING_LEARNED, CrisisAbout, CrisisContent
from streams.core.crisis_detector import CrisisDetector
from streams.core.crisis_expansion import CrisisExpansion, expansion_inputs, support_key
from streams.core.detectors import (
    AudienceEngagement,
    AudienceSentiment,
    BrandDetector,
    CrisisWatch,
    RecentMood,
    TemplatedReplies,
    TopicWatch,
)
from streams.core.features import Analysed, AudienceFeatures, PostFeatures, named
from streams.core.lang import detect_lang
from streams.core.promo import ToneDeafReason, tone_verdict
from streams.core.sentiment import polarity_doc
from streams.core.shared_crisis import SharedCrisisScope
from streams.core.similarity import TemplatedReplyDetector
from streams.core.text import Doc, prepare
from streams.core.topics import TopicAlignment, profile_terms
from streams.core.volume import NEGATIVE_BELOW, RecentAudience
from streams.events import Side, SocialEvent

SENTIMENT_BUCKET_SECONDS = 300
SENTIMENT_WINDOW_SECONDS = 3600
GLOBAL = GLOBAL_SCOPE  # the crisis scope of the whole audience stream
TONE_DEAF_REASONS = tuple(reason.value for reason in ToneDeafReason)  # metric labels


def detected_crisis(scope: str, state: str = "detected", about: CrisisAbout = NOTHING_LEARNED,
                    since: float | None = None) -> DeclaredCrisis:
    """A crisis detected on the audience stream of `scope` (a brand or GLOBAL), with what
    its audience says about it (`about`): its hashtags and hazard words are its keywords,
    its repeated places and names its places. The live detector and the check build it
    the same way. The name stays fixed (a metric label, an alert's key); the title is what
    a person reads: "audience crisis on acme since 14:05 UTC: #sandy, hurricane, jersey"."""
    where = "across brands" if scope == GLOBAL else f"on {scope}"
    name = f"audience crisis {where}" if state == "detected" else f"audience crisis {state} {where}"
    title = name
    if since is not None and math.isfinite(since):
        title += " since " + time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(since))
    shown = about.shown()
    if shown:
        title += ": " + ", ".join(shown)
    return DeclaredCrisis(name, about.hazards + about.hashtags, about.hashtags,
                          start=-math.inf, places=about.places, title=title)


class SentimentContext(StrEnum):
    """Audience sentiment is kept apart during a crisis (the `context` metric label)."""

    CRISIS = "crisis"
    NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class LanguageCounted:
    """An analysed audience message: its language and whether it reads negative (the
    negative share of voice, docs/metrics.md)."""

    brand: str
    lang: str  # "en" | "fr" | "other"
    negative: bool = False  # sentiment below NEGATIVE_BELOW
    sentiment: float = 0.0  # its polarity (0.0 for other languages)


@dataclass(frozen=True, slots=True)
class TemplatedReply:
    """A brand reply that, when written, nearly repeated another reply of the window."""

    brand: str


@dataclass(frozen=True, slots=True)
class ToneDeafPost:
    """A brand post flagged as tone-deaf: goes to the alerts topic and a counter."""

    brand: str
    platform: str
    post_id: str
    created_at: float
    reason: ToneDeafReason  # its value is the bounded metric label
    crisis: str
    explanation: str  # human-readable, for the alert
    text: str



BehaviourObservation = LanguageCounted | TemplatedReply | ToneDeafPost


class RollingMean:
    """Mean of values in the last hour of event time, in 5-minute buckets."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[int, list[float]] = {}

    def add(self, at: float, value: float) -> None:
        bucket = self._buckets.setdefault(int(at // SENTIMENT_BUCKET_SECONDS), [0.0, 0.0])
        bucket[0] += value
        bucket[1] += 1

    def mean(self, now: float) -> float:
        """NaN when no value fell in the window."""
        first = int((now - SENTIMENT_WINDOW_SECONDS) // SENTIMENT_BUCKET_SECONDS) + 1
        for key in [k for k in self._buckets if k < first]:
            del self._buckets[key]
        total = count = 0.0
        for key, (value_sum, n) in self._buckets.items():
            if key >= first:
                total += value_sum
                count += n
        return total / count if count else math.nan


@dataclass(frozen=True, slots=True)
class BehaviourSnapshot:
    crisis_active: bool
    sentiment: dict[SentimentContext, float]  # rolling mean by context
    templated_reply_ratio: float
    templated_reply_count: int  # replies in the window behind that ratio
    topic_alignment: float
    audience_replies_per_broadcast: float
    top_audience_terms: list[tuple[str, int]]
    crisis_about: CrisisAbout = NOTHING_LEARNED  # what the audience's crisis is about
    crisis_state: str = ""  # "active", "emerging" or "" (`CrisisStatus.state`)
    crisis_since: float | None = None  # when the active crisis started


MAX_TERMS_PER_EVENT = 32
MAX_TERM_LENGTH = 40


def event_terms(doc: Doc) -> tuple[str, ...]:
    """Profile terms of one text, bounded so a persisted record stays small. A tuple (as
    the features holding it): kept for days, and a tuple of atoms is one object the cyclic
    garbage collector stops visiting, where a list is visited in every collection."""
    return tuple([t for t in profile_terms(doc)
                  if len(t) <= MAX_TERM_LENGTH][:MAX_TERMS_PER_EVENT])


class BrandBehaviour:
    """What the audience of one brand is going through, and how the brand behaves.

    Analysis reads each event once (`on_audience`, `on_post`) into its features; the
    detectors (streams/core/detectors.py) see only the features, live and on `restore`."""

    def __init__(self, brand: str) -> None:
        self.brand = brand
        self.crisis = CrisisDetector()
        self.expansion = CrisisExpansion()  # crisis hashtags of this audience stream
        self.content = CrisisContent()  # what its crisis messages are about
        self.templated = TemplatedReplyDetector()
        self.topics = TopicAlignment()
        self.sentiment = {context: RollingMean() for context in SentimentContext}
        self.engagement = AudienceEngagement()  # broadcasts and replies to them (7 days)
        self.recent = RecentAudience()  # the last minutes' mood and terms (volume spikes)
        self.detectors: tuple[BrandDetector, ...] = (
            CrisisWatch(self.crisis, self.content),
            AudienceSentiment(self.sentiment[SentimentContext.CRISIS],
                              self.sentiment[SentimentContext.NORMAL]),
            TopicWatch(self.topics),
            RecentMood(self.recent),
            self.engagement,
            TemplatedReplies(self.templated),
        )

    def on_audience(self, event: SocialEvent, doc: Doc, lang: str, sentiment: float,
                    static_signal: bool, in_crisis: bool) -> AudienceFeatures:
        """Account for an audience message; returns its features, whose crisis signal is
        `static_signal` (`crisis_match(doc).signal`) or a hashtag this audience stream
        promoted (the expansion decides it, so it sees the message first)."""
        terms = event_terms(doc)
        tags, key = expansion_inputs(doc, static_signal, terms)
        signal = self.expansion.observe(event.created_at, tags, static_signal, key)
        features = AudienceFeatures(lang, sentiment, signal, in_crisis,
                                    event.in_reply_to in self.engagement.broadcasts, terms,
                                    static_signal, tags)
        self._apply_audience(event.created_at, event.id, features)
        return features

    def _apply_audience(self, at: float, message_id: str, features: AudienceFeatures) -> None:
        for detector in self.detectors:
            detector.on_audience(at, message_id, features)

    def on_post(self, event: SocialEvent, doc: Doc, crises: list[DeclaredCrisis]
                ) -> tuple[list[BehaviourObservation], PostFeatures]:
        """Account for a brand post; returns what it showed (templated, tone-deaf) and its
        features."""
        at = event.created_at
        observations: list[BehaviourObservation] = []
        if event.in_reply_to is None:
            features = PostFeatures(event_terms(doc), None)
        else:
            fingerprint = None if event.automated else self.templated.fingerprint(doc)
            features = PostFeatures(None, fingerprint)
        if self._apply_post(at, event.id, features):
            observations.append(TemplatedReply(self.brand))
        if not crises:
            return observations, features
        verdict = tone_verdict(doc, crises, at)
        if verdict.reason is not None and verdict.crisis is not None:
            observations.append(ToneDeafPost(
                self.brand, event.platform, event.id, at, verdict.reason, verdict.crisis.name,
                verdict.explanation or "", event.text))
        return observations, features

    def _apply_post(self, at: float, post_id: str, features: PostFeatures) -> bool:
        noteworthy = False
        for detector in self.detectors:
            noteworthy = detector.on_post(at, post_id, features) or noteworthy
        return noteworthy

    def restore(self, history: Iterable[Analysed]) -> None:
        """Rebuild every detector from persisted features in event-time order (after a
        restart). The expansion sees each message's static signal and hashtags again
        (features persisted before it have none), the detectors the signal decided when
        the message arrived."""
        for at, side, event_id, packed in history:
            features = named(side, packed)
            if isinstance(features, AudienceFeatures):
                if features.static_signal is not None and features.hashtags is not None:
                    static, tags = features.static_signal, features.hashtags
                    self.expansion.observe(at, tags, static,
                                           support_key(features.terms) if static and tags else 0)
                self._apply_audience(at, event_id, features)
            else:
                self._apply_post(at, event_id, features)

    def snapshot(self, now: float) -> BehaviourSnapshot:
        for detector in self.detectors:
            detector.on_tick(now)
        broadcasts = len(self.engagement.broadcasts)
        status = self.crisis.status()
        return BehaviourSnapshot(
            crisis_active=status.active,
            sentiment={context: mean.mean(now) for context, mean in self.sentiment.items()},
            templated_reply_ratio=(self.templated.templated_reply_ratio()
                                   if self.templated.reply_count else math.nan),
            templated_reply_count=self.templated.reply_count,
            topic_alignment=self.topics.alignment() if broadcasts else math.nan,
            audience_replies_per_broadcast=(len(self.engagement.engaged) / broadcasts
                                            if broadcasts else math.nan),
            top_audience_terms=self.topics.top_audience_terms(10),
            crisis_about=self.about(),
            crisis_state=status.state,
            crisis_since=status.since,
        )

    def about(self) -> CrisisAbout:
        """What this audience's crisis messages are about, against its baseline."""
        return self.content.about(self.topics.audience.counts_view())


class BehaviourBook:
    """All brands' behaviour plus the global crisis scope and declared crises.

    ``source`` names this worker in the counts it shares for the global scope (see
    streams/core/shared_crisis.py); an offline run has no peers and keeps the default.
    """

    def __init__(self, source: str = "local") -> None:
        self.brands: dict[str, BrandBehaviour] = {}
        self.global_crisis = SharedCrisisScope(source)
        self.declared: dict[str, DeclaredCrisis] = {}
        self._detected: dict[str, tuple[int, bool]] = {}  # scope -> (minute, active)

    def brand(self, name: str) -> BrandBehaviour:
        behaviour = self.brands.get(name)
        if behaviour is None:
            behaviour = self.brands[name] = BrandBehaviour(name)
        return behaviour

    def inputs_changed(self, scope: str) -> None:
        """The scope's detector got counts from elsewhere (a peer worker's share): its
        cached verdict is stale even within the same event-time minute."""
        self._detected.pop(scope, None)

    def detected(self, scope: str, at: float) -> bool:
        """Is a crisis detected for `scope` (a brand or GLOBAL)? Read at most once per new
        event-time minute, because evaluating a detector costs more than a whole event."""
        minute = int(at // 60)
        cached = self._detected.get(scope)
        # Only a later minute refreshes: partitions interleave, so event time seen by the
        # global scope jumps back and forth, and each jump would re-evaluate the detector.
        if cached is None or cached[0] < minute:
            detector = (self.global_crisis.detector if scope == GLOBAL
                        else self.brand(scope).crisis)
            cached = self._detected[scope] = (minute, detector.crisis_active)
        return cached[1]

    def active_crises(self, brand: str, at: float) -> list[DeclaredCrisis]:
        """Declared crises active at `at`, plus detected ones (brand or global) as crises."""
        crises = [c for c in self.declared.values() if c.is_active(at)]
        if self.detected(brand, at):
            behaviour = self.brand(brand)
            crises.append(detected_crisis(brand, about=behaviour.about(),
                                          since=behaviour.crisis.status().since))
        if self.detected(GLOBAL, at):
            crises.append(detected_crisis(GLOBAL, since=self.global_crisis.detector.status().since))
        return crises

    def in_crisis(self, brand: str, at: float) -> bool:
        """Whether any crisis applies to `brand` at `at`, without building the crisis list:
        asked for every audience message."""
        return (self.detected(brand, at) or self.detected(GLOBAL, at)
                or any(c.is_active(at) for c in self.declared.values()))

    def on_event(self, event: SocialEvent
                 ) -> tuple[list[BehaviourObservation], AudienceFeatures | PostFeatures]:
        """Analyse one new event; returns what to count and the features to persist."""
        doc = prepare(event.text)
        behaviour = self.brand(event.brand)
        if event.side is Side.AUDIENCE:
            lang = event.lang if event.lang in ("en", "fr") else detect_lang(doc)
            # Other languages are neutral: we have no lexicon to read them with.
            sentiment = polarity_doc(doc, lang) if lang != "other" else 0.0
            in_crisis = self.in_crisis(event.brand, event.created_at)
            features = behaviour.on_audience(event, doc, lang, sentiment,
                                             crisis_match(doc).signal, in_crisis)
            # The global scope counts the signal of the brand's stream.
            self.global_crisis.observe(event.created_at, features.crisis_signal, sentiment)
            return [LanguageCounted(event.brand, lang, sentiment < NEGATIVE_BELOW,
                                    sentiment)], features
        return behaviour.on_post(event, doc, self.active_crises(event.brand, event.created_at))

    def declare(self, crisis: DeclaredCrisis) -> None:
        self.declared[crisis.name] = crisis

    def end(self, name: str, at: float) -> None:
        """End a declared crisis at `at`; an end before its start ends it at its start."""
        crisis = self.declared.get(name)
        if crisis is not None:
            self.declared[name] = DeclaredCrisis(crisis.name, crisis.keywords, crisis.hashtags,
                                                 crisis.region, crisis.start,
                                                 max(at, crisis.start))


def apply_crisis_command(book: BehaviourBook, command: CrisisCommand) -> None:
    """Apply an operator's declare/end command from the control topic."""
    crisis = command.crisis
    if command.action is CommandAction.DECLARE:
        book.declare(crisis)
    else:
        book.end(crisis.name, crisis.end if crisis.end is not None else crisis.start)
