"""Stream-adaptive crisis signal: hashtags learned from the per-message signal's hits.

The static vocabulary (:mod:`streams.core.crisis`) misses messages whose only clue is the
crisis's own hashtag ("#LacMegantic on pense à vous"). In a live crisis the audience stream
fills with such a hashtag, used by many messages that *do* carry crisis words. Following
CrisisLex (Olteanu et al., ICWSM 2014: adapt the lexicon to the crisis at hand from terms
co-occurring with its hits), a hashtag is *promoted* while, over a sliding event-time
window, enough distinct messages carrying it have the static signal (support) and a large
enough share of all its messages do (precision). A message is crisis-related by expansion
when it carries a promoted hashtag. Nothing here names an event: the hashtags are learned.

Hashtags only (not words): a hashtag is a deliberate topic marker, a message has few, and
they are cheap to read off the tokens; words would promote everyday vocabulary that
co-occurs with a crisis ("people", "news"). Hashtags are folded like every lexicon key
(case, accents) and lose "_", so #LacMégantic, #lacmegantic and #Lac_Megantic are one tag.

Safety: only the static signal is support (an expanded message never promotes anything),
so the expansion cannot feed itself. A promoted tag keeps the share of its window messages
with the static signal >= ``min_precision`` (P) counting the message being decided, so the
messages it turns into crisis messages are at most (1 - P) / P times the static-signal
messages carrying it: a writer posting k "#BrandX explosion dead" messages adds at most
k (1 - P) / P crisis messages through #BrandX (k with P = 0.5; 7k/3 with P = 0.3), and
only while #BrandX's own ordinary traffic is less than that; then it expires with the window.

State is a function of the *set* of messages in the window (per-tag hour buckets, pruned
as the watermark moves), so feeding the same messages in event-time order after a restart
rebuilds the state an uninterrupted out-of-order run reached (while the tag cap is not
hit); a decision depends on what was seen before it, which is why the worker persists
each message's decision with its inputs. Pure: no I/O, event time passed in.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from streams.core.text import Doc

__all__ = [
    "DEFAULT_EXPANSION",
    "MAX_TAGS_PER_MESSAGE",
    "MAX_TAG_LENGTH",
    "CrisisExpansion",
    "ExpansionParams",
    "expansion_inputs",
    "message_hashtags",
    "support_key",
]

#: Hashtags read from one message (spam stuffed with tags cannot touch more).
MAX_TAGS_PER_MESSAGE: Final = 8
MAX_TAG_LENGTH: Final = 40


@dataclass(frozen=True, slots=True)
class ExpansionParams:
    """Promotion rule. Defaults are argued in docs/analysis.md (stream-adaptive signal)."""

    window_s: int = 24 * 3600  # sliding event-time window of the counts
    bucket_s: int = 3600  # expiry granularity (the window holds window_s / bucket_s + 1)
    min_support: int = 3  # distinct static-signal messages carrying the tag in the window
    min_precision: float = 0.3  # share of the tag's window messages with the static signal
    max_tags: int = 2048  # tags tracked per expander (bounded memory, see CrisisExpansion)

    def __post_init__(self) -> None:
        if self.bucket_s <= 0 or self.window_s < self.bucket_s:
            raise ValueError("ExpansionParams: need 0 < bucket_s <= window_s")
        if self.min_support < 1 or not 0.0 < self.min_precision <= 1.0:
            raise ValueError("ExpansionParams: need min_support >= 1, 0 < min_precision <= 1")
        if self.max_tags < 2:
            raise ValueError("ExpansionParams: need max_tags >= 2")


DEFAULT_EXPANSION: Final = ExpansionParams()


def message_hashtags(doc: Doc) -> tuple[str, ...]:
    """Normalised hashtags of a message (folded, "_" removed, distinct, first-seen order,
    at most MAX_TAGS_PER_MESSAGE of 2..MAX_TAG_LENGTH characters)."""
    if "#" not in doc.norm:
        return ()
    tags: list[str] = []
    for token in doc.tokens:
        if token[0] == "#" and len(token) > 2:
            tag = token[1:].replace("_", "")
            if 2 <= len(tag) <= MAX_TAG_LENGTH and not tag.isdigit() and tag not in tags:
                tags.append(tag)
                if len(tags) == MAX_TAGS_PER_MESSAGE:
                    break
    return tuple(tags)


def support_key(terms: Iterable[str]) -> int:
    """Identity of a message's content for distinct support: its set of terms (a retweet
    or a copy of a message is the same support). Stable across processes (CRC-32)."""
    return zlib.crc32("\x1f".join(sorted(set(terms))).encode("utf-8"))


def expansion_inputs(doc: Doc, base: bool, terms: Iterable[str]) -> tuple[tuple[str, ...], int]:
    """(hashtags, support key) of a message for :meth:`CrisisExpansion.observe`; the key is
    only computed when it can be used (a static-signal message with a hashtag)."""
    tags = message_hashtags(doc)
    return tags, (support_key(terms) if base and tags else 0)


class _Tag:
    """Window counts of one hashtag."""

    __slots__ = ("base", "buckets", "messages", "support")

    def __init__(self) -> None:
        self.messages = 0  # window totals, kept equal to the sums over buckets
        self.base = 0
        self.buckets: dict[int, list[int]] = {}  # hour -> [messages, static-signal messages]
        # The min_support latest distinct support keys: key -> latest bucket. Keeping the
        # top ones by (bucket, key) is exact for "at least min_support in the window": a
        # dropped key is no newer than every kept one, so it expires no later.
        self.support: dict[int, int] = {}


class CrisisExpansion:
    """Hashtags promoted from the static crisis signal in one audience stream (a brand's).

    Memory: at most ``max_tags`` tags, each with at most ``window_s / bucket_s + 1`` buckets
    and ``min_support`` support keys (2,048 x (25 + 3) small entries with the defaults).
    Past the cap the half of the tags with the fewest window messages is forgotten, so a
    flood of one-off tags cannot push out a tag that many messages carry.
    """

    __slots__ = ("_oldest", "_tags", "params", "watermark")

    def __init__(self, params: ExpansionParams = DEFAULT_EXPANSION) -> None:
        self.params = params
        self.watermark = -math.inf  # latest event time seen
        self._oldest = -(2**62)  # oldest bucket inside the window
        self._tags: dict[str, _Tag] = {}

    def observe(self, at: float, tags: Sequence[str], base: bool, key: int = 0) -> bool:
        """Account for one message (event time, normalised hashtags, static signal, support
        key) and return its expanded signal: the static one, or a promoted hashtag."""
        if not math.isfinite(at):
            return base
        params = self.params
        bucket = int(at // params.bucket_s)
        if at > self.watermark:
            self.watermark = at
            oldest = int((at - params.window_s) // params.bucket_s) + 1
            if oldest > self._oldest:
                self._oldest = oldest
                self._expire()
        if not tags or bucket < self._oldest:
            # No tag, or older than the window: counted nowhere (a replay in time order
            # counts it, and it has expired by the time the window reaches here), judged
            # against the current window.
            return base or any(map(self.promoted, tags))
        table = self._tags
        expanded = base
        for tag in tags:
            state = table.get(tag)
            if state is None:
                if len(table) >= params.max_tags:
                    self._evict()
                state = table[tag] = _Tag()
            counts = state.buckets.get(bucket)
            if counts is None:
                counts = state.buckets[bucket] = [0, 0]
            counts[0] += 1
            state.messages += 1
            if base:
                counts[1] += 1
                state.base += 1
                self._add_support(state, key, bucket)
            elif not expanded:
                expanded = self._promoted(state)
        return expanded

    def promoted(self, tag: str) -> bool:
        """Is `tag` promoted over the current window?"""
        state = self._tags.get(tag)
        return state is not None and self._promoted(state)

    def promoted_tags(self) -> list[str]:
        return sorted(tag for tag, state in self._tags.items() if self._promoted(state))

    def __len__(self) -> int:
        """Tags tracked."""
        return len(self._tags)

    def state(self) -> dict[str, tuple[tuple[tuple[int, int, int], ...], tuple[int, ...]]]:
        """Canonical window state (tag -> (bucket counts, support keys)), for tests."""
        return {tag: (tuple(sorted((b, m, s) for b, (m, s) in state.buckets.items())),
                      tuple(sorted(state.support)))
                for tag, state in sorted(self._tags.items())}

    def _promoted(self, state: _Tag) -> bool:
        params = self.params
        # The tolerance keeps exact ratios exact (3 of 10 is 0.3 although 0.3 * 10 > 3).
        return (len(state.support) >= params.min_support
                and state.base >= params.min_precision * state.messages - 1e-9)

    def _add_support(self, state: _Tag, key: int, bucket: int) -> None:
        support = state.support
        known = support.get(key)
        if known is not None:
            if bucket > known:
                support[key] = bucket
            return
        if len(support) < self.params.min_support:
            support[key] = bucket
            return
        low = min(support.items(), key=lambda item: (item[1], item[0]))
        if (bucket, key) > (low[1], low[0]):
            del support[low[0]]
            support[key] = bucket

    def _expire(self) -> None:
        """Drop buckets and support older than the window (once per new bucket)."""
        oldest = self._oldest
        gone: list[str] = []
        for tag, state in self._tags.items():
            old = [b for b in state.buckets if b < oldest]
            for b in old:
                messages, base = state.buckets.pop(b)
                state.messages -= messages
                state.base -= base
            if old:
                for k in [k for k, b in state.support.items() if b < oldest]:
                    del state.support[k]
            if not state.buckets:
                gone.append(tag)
        for tag in gone:
            del self._tags[tag]

    def _evict(self) -> None:
        """Forget the half of the tags with the fewest window messages (ties: the least
        recent, then by name): amortised O(log n) per new tag."""
        ranked = sorted(self._tags.items(),
                        key=lambda item: (item[1].messages, max(item[1].buckets), item[0]))
        for tag, _ in ranked[: len(ranked) // 2]:
            del self._tags[tag]
