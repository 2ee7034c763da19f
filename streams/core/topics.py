"""Brand vs audience topic alignment ("airhead" brands talk past their audience).

Each side keeps a term profile over the last 7 days of event time in day buckets: terms are
content words and hashtag bodies (folded, English and French stopwords removed), so that
"#Sandy" and "sandy" are one term. Alignment is the cosine between the brand's broadcast
profile and its audience's profile, with sublinear term weights (1 + log count) so that a
single term repeated in every post does not dominate. Old days expire as event time moves.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Final

from streams.core.text import STOPWORDS, Doc, prepare, word_tokens

__all__ = ["DAY_S", "TopicAlignment", "TopicProfile", "cosine", "profile_terms"]

DAY_S: Final = 86_400
#: Terms shorter than this are noise in tweets ("ok", "ya").
MIN_TERM_LENGTH: Final = 3


_UNSEEN: Final = object()
#: Token -> its profile term (None: not a term), memoised per spelling: the term of a token
#: never depends on its neighbours. Cleared past this many spellings (bounded memory: a few
#: MB; links, unique to their message, fill it and are then forgotten with the rest).
_TERMS: dict[str, str | None] = {}
_TERMS_LIMIT: Final = 50_000


def _term(token: str) -> str | None:
    """The profile term of one token: `content_tokens` and the length floor, per token."""
    if len(_TERMS) >= _TERMS_LIMIT:
        _TERMS.clear()
    term: str | None = None
    words = word_tokens(Doc(token, token, [token]))
    if words:
        word = words[0]
        if (len(word) >= MIN_TERM_LENGTH and len(word) > 1 and word not in STOPWORDS
                and not word.isdigit()):
            term = word
    _TERMS[token] = term
    return term


def profile_terms(text: str | Doc) -> list[str]:
    """Terms of one message for a topic profile (content words, hashtags as words).

    Equals ``[t for t in content_tokens(doc) if len(t) >= MIN_TERM_LENGTH]``, read per
    token from a memo with C-level ``map`` (a property test checks the equality)."""
    tokens = prepare(text).tokens
    terms = list(map(_TERMS.get, tokens, repeat(_UNSEEN)))
    if _UNSEEN in terms:
        terms = [_term(tok) if term is _UNSEEN else term
                 for tok, term in zip(tokens, terms, strict=True)]
    return list(filter(None, terms))  # type: ignore[arg-type]


def _weight(count: int) -> float:
    return 1.0 + math.log(count) if count > 0 else 0.0


def cosine(a: dict[str, int], b: dict[str, int]) -> float:
    """Cosine in [0, 1] of two term-count profiles with sublinear weights."""
    if not a or not b:
        return 0.0
    if len(a) > len(b):
        a, b = b, a
    dot = 0.0
    for term, count in a.items():
        other = b.get(term)
        if other:
            dot += _weight(count) * _weight(other)
    if dot == 0.0:
        return 0.0
    norm_a = math.sqrt(sum(_weight(c) ** 2 for c in a.values()))
    norm_b = math.sqrt(sum(_weight(c) ** 2 for c in b.values()))
    return max(0.0, min(1.0, dot / (norm_a * norm_b)))


class TopicProfile:
    """Term counts over the last ``days`` days of event time, in expiring day buckets.

    The profile is relative to its watermark (latest event time seen, or advanced by the
    owner); messages older than the window are ignored.
    """

    def __init__(self, days: int = 7) -> None:
        if days < 1:
            raise ValueError("days must be >= 1")
        self.days = days
        self._buckets: dict[int, Counter[str]] = {}
        self._totals: Counter[str] = Counter()
        self._latest_day: int | None = None

    def add(self, event_time_s: float, text: str | Doc) -> None:
        self.add_terms(event_time_s, profile_terms(text))

    def add_terms(self, event_time_s: float, terms: Iterable[str]) -> None:
        if not math.isfinite(event_time_s):
            return
        day = int(event_time_s // DAY_S)
        if self._latest_day is not None and day <= self._latest_day - self.days:
            return  # older than the window
        self.advance(event_time_s)
        bucket = self._buckets.get(day)
        if bucket is None:
            bucket = self._buckets[day] = Counter()
        if not isinstance(terms, list | tuple):
            terms = list(terms)
        # Counter.update counts in C, in the iteration order (same counts, same key order).
        bucket.update(terms)
        self._totals.update(terms)

    def advance(self, event_time_s: float) -> None:
        """Move the watermark to ``event_time_s`` and expire day buckets out of the window."""
        day = int(event_time_s // DAY_S)
        if self._latest_day is not None and day <= self._latest_day:
            return
        self._latest_day = day
        oldest = day - self.days + 1
        for old in [d for d in self._buckets if d < oldest]:
            expired = self._buckets.pop(old)
            totals = self._totals
            for term, count in expired.items():
                left = totals[term] - count
                if left > 0:
                    totals[term] = left
                else:
                    del totals[term]

    def counts(self) -> dict[str, int]:
        """Term counts in the window (a copy)."""
        return dict(self._totals)

    def counts_view(self) -> Mapping[str, int]:
        """Term counts in the window, read in place (no copy: a caller reads a few terms)."""
        return self._totals

    def top_terms(self, n: int = 10) -> list[tuple[str, int]]:
        """Most frequent terms (ties broken alphabetically, for determinism)."""
        if n <= 0:
            return []
        return heapq.nsmallest(n, self._totals.items(), key=lambda kv: (-kv[1], kv[0]))

    def __len__(self) -> int:
        return len(self._totals)


class TopicAlignment:
    """Per-brand alignment between what the brand broadcasts and what its audience says.

    Both profiles share one event-time clock, so a quiet side still expires its old days.
    """

    def __init__(self, days: int = 7) -> None:
        self.audience = TopicProfile(days)
        self.broadcast = TopicProfile(days)

    def add_audience(self, event_time_s: float, text: str | Doc) -> None:
        self.audience.add(event_time_s, text)
        self.broadcast.advance(event_time_s)

    def add_broadcast(self, event_time_s: float, text: str | Doc) -> None:
        self.broadcast.add(event_time_s, text)
        self.audience.advance(event_time_s)

    def add_audience_terms(self, event_time_s: float, terms: Iterable[str]) -> None:
        self.audience.add_terms(event_time_s, terms)
        self.broadcast.advance(event_time_s)

    def add_broadcast_terms(self, event_time_s: float, terms: Iterable[str]) -> None:
        self.broadcast.add_terms(event_time_s, terms)
        self.audience.advance(event_time_s)

    def advance(self, event_time_s: float) -> None:
        self.audience.advance(event_time_s)
        self.broadcast.advance(event_time_s)

    def alignment(self) -> float:
        """Cosine in [0, 1] of the brand's broadcast terms vs the audience's terms."""
        return cosine(self.broadcast._totals, self.audience._totals)

    def top_audience_terms(self, n: int = 10) -> list[tuple[str, int]]:
        return self.audience.top_terms(n)

    def top_broadcast_terms(self, n: int = 10) -> list[tuple[str, int]]:
        return self.broadcast.top_terms(n)
