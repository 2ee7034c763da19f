"""What a detected crisis is about, learned from the audience stream that raised it.

A crisis detected on a brand's audience has no name and no vocabulary of its own, yet the
check and the live detector must know when a post touches it: its hashtag ("#sandy"), its
hazard ("hurricane") and the places and names its messages repeat ("jersey"). This reads
them off the crisis-signal messages of the last hours against the brand's baseline (its
audience profile over seven days, `streams.core.topics`): a term is the crisis' when enough
crisis messages carry it and it is several times more frequent there than in the
brand's ordinary traffic ("order", "account" are not).

Built only from the per-message features the worker persists (profile terms, static
signal, hashtags), so a restart that replays them rebuilds it with no new state. Memory
is bounded: `WINDOW_S / BUCKET_S` hour buckets of at most `MAX_TERMS_PER_BUCKET` terms and
tags, filled only by crisis-signal messages (rare outside a crisis), and one counter per
day of all messages.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from streams.core.crisis import crisis_match
from streams.core.sentiment import lexicon_polarity_doc
from streams.core.text import prepare

__all__ = [
    "LABEL_MAX", "NOTHING_LEARNED", "CrisisAbout", "CrisisContent", "crisis_vocabulary",
    "shown_about",
]

BUCKET_S: Final = 3600
#: What the audience says about a crisis *now*: the crisis messages of the last hours.
WINDOW_S: Final = 6 * 3600
MAX_TERMS_PER_BUCKET: Final = 1024
#: A term is the crisis' when at least this many crisis messages carry it, as a share of
#: them, and this many times more often than in the brand's baseline messages.
MIN_SUPPORT: Final = 3
MIN_SHARE: Final = 0.04
MIN_LIFT: Final = 4.0
TOP: Final = 8  # terms of each kind kept (shown: fewer)
#: Words every crisis audience repeats, which name no place or person.
_GENERIC: Final = frozenset(
    "everyone everybody people guys tonight today tomorrow right safe stay news please god "
    "pray praying prayers thoughts hope affected omg lol rt via ppl thing things gonna wanna "
    "hey".split())
#: Bound of the comma-joined terms a metric label carries (`CrisisAbout.label`).
LABEL_MAX: Final = 80
_DAY_S: Final = 86_400
_BASELINE_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class CrisisAbout:
    """The terms a crisis carries: hashtags (without '#'), hazard words (crisis
    vocabulary) and other repeated terms (places, names), most carried first."""

    hashtags: tuple[str, ...] = ()
    hazards: tuple[str, ...] = ()
    places: tuple[str, ...] = ()

    def shown(self, n: int = 5) -> list[str]:
        """The top terms a person reads, hashtags first: ["#sandy", "hurricane", "jersey"]."""
        out = [f"#{t}" for t in self.hashtags[:2]] + list(self.hazards[:2])
        out += [t for t in self.places if f"#{t}" not in out and t not in out]
        return out[:n]

    def label(self, limit: int = LABEL_MAX) -> str:
        """The shown terms comma-joined, whole terms only, at most `limit` characters: a
        label value (brandpulse_crisis_info) that an alert annotation can print."""
        out = ""
        for term in self.shown():
            joined = f"{out},{term}" if out else term
            if len(joined) > limit:
                break
            out = joined
        return out

    def __bool__(self) -> bool:
        return bool(self.hashtags or self.hazards or self.places)


NOTHING_LEARNED: Final = CrisisAbout()


def crisis_vocabulary(top_terms: Sequence[tuple[str, int]], n: int = 10) -> tuple[str, ...]:
    """The crisis words among a scope's top audience terms: what a crisis is about before
    enough of its messages were seen to learn it."""
    return tuple(t for t, _ in top_terms if crisis_match(t).terms)[:n]


def shown_about(about: CrisisAbout, top_terms: Sequence[tuple[str, int]]) -> CrisisAbout:
    """What is shown of a crisis: the learned terms, else its vocabulary among the top
    terms (the check's `ScopeState.crisis` and the crisis info metric agree)."""
    return about or CrisisAbout(hazards=crisis_vocabulary(top_terms))


class _Bucket:
    __slots__ = ("messages", "tags", "terms")

    def __init__(self) -> None:
        self.messages = 0
        self.terms: Counter[str] = Counter()
        self.tags: Counter[str] = Counter()


class CrisisContent:
    """Counts of the terms and hashtags of one scope's crisis-signal messages."""

    __slots__ = ("_buckets", "_cache", "_days", "watermark")

    def __init__(self) -> None:
        self._buckets: dict[int, _Bucket] = {}
        self._days: dict[int, int] = {}  # day -> audience messages (the baseline's size)
        self._cache: tuple[int, int, CrisisAbout] | None = None
        self.watermark = -math.inf

    def observe(self, at: float, signal: bool, terms: Sequence[str],
                tags: Sequence[str] = ()) -> None:
        """Account for one audience message (its persisted features)."""
        if not math.isfinite(at):
            return
        day = int(at // _DAY_S)
        self._days[day] = self._days.get(day, 0) + 1
        if at > self.watermark:
            self.watermark = at
            if len(self._days) > _BASELINE_DAYS + 1:
                for old in [d for d in self._days if d <= day - _BASELINE_DAYS]:
                    del self._days[old]
            oldest = int((at - WINDOW_S) // BUCKET_S)
            for old in [b for b in self._buckets if b <= oldest]:
                del self._buckets[old]
        if not signal:
            return
        key = int(at // BUCKET_S)
        if key <= int((self.watermark - WINDOW_S) // BUCKET_S):
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket()
        bucket.messages += 1
        self._cache = None
        for counter, values in ((bucket.terms, set(terms)), (bucket.tags, set(tags))):
            for value in values:
                if value in counter or len(counter) < MAX_TERMS_PER_BUCKET:
                    counter[value] += 1

    def about(self, baseline: Mapping[str, int]) -> CrisisAbout:
        """The crisis' terms now, against `baseline` (the scope's audience term counts over
        seven days, crisis messages included). Cached until a crisis message arrives or
        the hour changes: it is read for every brand post during a crisis."""
        hour = int(self.watermark // BUCKET_S) if math.isfinite(self.watermark) else 0
        messages = sum(b.messages for b in self._buckets.values())
        cached = self._cache
        if cached is not None and cached[:2] == (hour, messages):
            return cached[2]
        about = self._learn(baseline, messages) if messages >= MIN_SUPPORT else NOTHING_LEARNED
        self._cache = (hour, messages, about)
        return about

    def _learn(self, baseline: Mapping[str, int], messages: int) -> CrisisAbout:
        terms: Counter[str] = Counter()
        tags: Counter[str] = Counter()
        for bucket in self._buckets.values():
            terms.update(bucket.terms)
            tags.update(bucket.tags)
        ordinary = max(1, sum(self._days.values()) - messages)

        def carried(term: str, count: int) -> bool:
            if count < MIN_SUPPORT or count < MIN_SHARE * messages:
                return False
            before = max(0, baseline.get(term, 0) - count)  # the baseline without the crisis
            return (count / messages) >= MIN_LIFT * (before + 1) / ordinary

        ranked = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))
        learned = [t for t, c in ranked if carried(t, c)]
        hashtags = [t for t, c in sorted(tags.items(), key=lambda kv: (-kv[1], kv[0]))
                    if carried(t, c)][:TOP]
        hazards = [t for t in learned if crisis_match(t).terms][:TOP]
        # Places and names: neutral words (a word with a valence in the lexicon is a feeling,
        # not a place). The lexicon, not the sentiment model: the model gives every word,
        # "jersey" included, some small polarity.
        places = [t for t in learned if t not in hazards and t not in hashtags
                  and t not in _GENERIC and lexicon_polarity_doc(prepare(t), "en") == 0.0][:TOP]
        return CrisisAbout(tuple(hashtags), tuple(hazards), tuple(places))
