"""Crisis vocabulary matching, event-time crisis detection and declared crises.

Plain CrisisLex matching fires on everyday words ("death", "attack", "massive"), so terms are
tiered: a *strong* term (an unambiguous disaster noun or a CrisisLex phrase such as "death
toll") raises the per-message crisis signal alone, *weak* terms need a second distinct crisis
term, and *context* terms only count inside phrases. Phrases are matched on content words
(stopwords removed), which is how the CrisisLex pairs were built ("thoughts prayers").

:class:`CrisisDetector` turns per-message signals of one scope (a brand or global) into a
``crisis_active`` decision from three signals, with hysteresis so that the state does not
flap; see ``docs/analysis.md`` for the thresholds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final

from streams.core.text import DATA_DIR, STOPWORDS, Doc, content_tokens, fold, prepare

__all__ = [
    "CrisisDetector",
    "CrisisMatch",
    "CrisisStatus",
    "DeclaredCrisis",
    "active_crises",
    "crisis_match",
    "crisis_signal",
    "crisis_terms",
    "matching_crisis",
]

STRONG: Final = 2
WEAK: Final = 1
CONTEXT: Final = 0
_TIERS: Final = {"strong": STRONG, "weak": WEAK, "context": CONTEXT}
_MAX_NGRAM: Final = 3
# Nouns in -ée that are not participles, whose -e-less form is another word.
_EE_NOUNS: Final = frozenset({"pensee", "armee"})


def _stem(token: str) -> str:
    """Ignore plural -s/-x so that "floods"/"flood" and "victimes"/"victime" match, and the
    French feminine -e of past participles ("evacuees"/"evacues", "disparues"/"disparus",
    "tuees"/"tues"). Applied to the vocabulary and to messages alike, so an English word
    losing its -e ("rescue") only meets the same stem. Not -te: "suspecte" would meet
    English "suspect"; feminine -te forms are listed in crisis_terms.txt. Nouns in -ee whose
    stem is another word keep it ("pensees" is not the verb "pense")."""
    if len(token) > 3 and token[-1] in "sx":
        token = token[:-1]
    if len(token) > 5 and token.endswith(("uee", "iee")):
        return token[:-2]  # "evacuee" = "evacue" = "evacu", like the masculine
    if len(token) > 4 and token.endswith(("ee", "ue", "ie")) and token not in _EE_NOUNS:
        token = token[:-1]
    return token


def _term_key(term: str) -> str:
    doc = prepare(term)
    return " ".join(_stem(t) for t in content_tokens(doc))


def _collapsed(term: str, key: str) -> bool:
    """A phrase whose stopwords leave a single word ("want help" -> "help") is dropped:
    it would otherwise stand for that everyday word."""
    return " " not in key and len(term.split()) > 1


def _lexicon_lines(name: str) -> list[str]:
    path = DATA_DIR / name
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")]


def _load_vocabulary() -> tuple[dict[str, tuple[int, str]], dict[str, frozenset[str]],
                                dict[str, frozenset[str]]]:
    """Map a stemmed content n-gram to (tier, display term); plus the word-sense guards and
    the context requirements of single words (see crisis_terms.txt)."""
    vocab: dict[str, tuple[int, str]] = {}
    guards: dict[str, frozenset[str]] = {}
    needs: dict[str, frozenset[str]] = {}
    excluded: set[str] = set()
    tiered_keys: dict[str, int] = {}
    tiered = _lexicon_lines("crisis_terms.txt")
    for line in tiered:
        head, _, terms = line.partition(":")
        if head.strip() == "exclude":
            excluded.update(_term_key(t) for t in terms.split(","))
    # CrisisLex (English) and our French translation of it: weak unless tiered below.
    for term in _lexicon_lines("CrisisLexRec.txt") + _lexicon_lines("crisislex_fr.txt"):
        key = _term_key(term)
        if key and key not in excluded and not _collapsed(term, key) \
                and key.count(" ") < _MAX_NGRAM:
            vocab[key] = (WEAK, fold(term))
    for line in tiered:
        head, sep, terms = line.partition(":")
        head = head.strip()
        if head in ("guard", "needs"):
            word, _, context = terms.partition(":")
            keys = frozenset(_term_key(t) for t in context.split(",")) - {""}
            (guards if head == "guard" else needs)[_term_key(word)] = keys
            continue
        tier = _TIERS.get(head)
        if not sep or tier is None:
            continue
        for term in terms.split(","):
            term = term.strip()
            key = _term_key(term)
            if not key or key.count(" ") + 1 > _MAX_NGRAM or _collapsed(term, key):
                continue
            # Forms that share a stem ("blessé"/"blessés", "flood"/"floods") are one term:
            # the highest tier listed wins, whatever the order of the lines.
            if tiered_keys.get(key, CONTEXT - 1) < tier:
                tiered_keys[key] = tier
                vocab[key] = (tier, fold(term))
    for key in excluded:
        vocab.pop(key, None)
    # A phrase is at least as strong as its strongest word ("forte explosion" is a hit on
    # "explosion": phrases consume their words, so a weak phrase would hide a strong word).
    for key, (tier, term) in list(vocab.items()):
        if " " in key and tier == WEAK and any(
                vocab.get(w, (CONTEXT, ""))[0] == STRONG for w in key.split(" ")):
            vocab[key] = (STRONG, term)
    return vocab, guards, needs


_VOCABULARY, _GUARDS, _NEEDS = _load_vocabulary()
_GUARD_WINDOW: Final = 2
_NEEDS_WINDOW: Final = 3
# Disaster nouns found inside compound hashtags (#qldfloods, #yycflood, #prayforboston).
_HASHTAG_RE: Final = re.compile(
    r"pray(?:ing)?for|flood|tornado|hurricane|earthquake|quake|bushfire|wildfire|tsunami|"
    r"typhoon|cyclone|inondation|seisme|ouragan|attentat|explosion|bombing|prierpour|"
    # French disaster types (#IncendiesX, #TremblementDeTerre, #PrionsPourX), as strong as
    # the English ones.
    r"incendie|tremblementdeterre|tornade|typhon|fusillade|deraillement|prionspour"
)


_HASHTAG_SCAN_RE: Final = re.compile(r"#\w*?(?:" + _HASHTAG_RE.pattern + ")")

# A casualty count ("12 morts", "des dizaines de blessés", "three dead", "dozens of
# victims") is a report of people harmed, so a weak casualty word after a number or a
# count word is strong. Guards and context requirements still apply ("3 missing packages").
# Not "décès"/"deaths", the words of yearly statistics ("250 000 décès de plus par an").
_COUNT_WORDS: Final = frozenset(
    "deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze quinze seize "
    "vingt trente quarante cinquante soixante cent cents mille plusieurs nombreux "
    "nombreuses dizaine dizaines centaine centaines millier milliers beaucoup tellement "
    "two three four five six seven eight nine ten eleven twelve fifteen twenty thirty forty "
    "fifty hundred hundreds thousand thousands dozen dozens several multiple".split()
)
_COUNT_LINKS: Final = frozenset({"de", "d'", "of", ",", "."})
_CASUALTY_KEYS: Final = frozenset(
    _term_key(word) for word in
    "morts mortes tués tuées blessés victimes disparus décédés noyés dead killed "
    "injured wounded missing victims".split()
)


@dataclass(frozen=True, slots=True)
class CrisisMatch:
    """Crisis vocabulary found in one message and the resulting per-message signal."""

    terms: tuple[str, ...]
    strong: int
    weak: int

    @property
    def signal(self) -> bool:
        """A strong term, or two distinct crisis terms of which at least one is weak+."""
        return self.strong > 0 or self.weak >= 2


_FIRST_WORDS: Final = frozenset(k.split(" ", 1)[0] for k in _VOCABULARY if " " in k)
_KEY_MEMO: dict[str, str | None] = {}
_KEY_MEMO_LIMIT: Final = 200_000


def _content_key(token: str) -> str | None:
    """Stemmed content word of a token, or None for stopwords, URLs, mentions, punctuation."""
    key = _KEY_MEMO.get(token, "")
    if key != "":
        return key
    if len(_KEY_MEMO) > _KEY_MEMO_LIMIT:
        _KEY_MEMO.clear()
    word = token[1:] if token[0] == "#" else token
    if (
        len(word) < 2
        or not (word[0].isalnum() or word[0] == "_")
        or word in STOPWORDS
        or word.isdigit()
        or word.startswith(("http", "www."))
    ):
        key = None
    else:
        key = _stem(word)
    _KEY_MEMO[token] = key
    return key


def _surface_forms(vocab: dict[str, tuple[int, str]]) -> frozenset[str]:
    """Token spellings that can take part in a match (plurals and the French feminine
    -e/-es/-ee/-ees that _stem removes included)."""
    forms: set[str] = set()
    for key, (tier, _) in vocab.items():
        if tier == CONTEXT and " " not in key:
            continue
        for word in key.split(" "):
            forms.update((word, word + "s", word + "x", word + "e", word + "es"))
            if word[-1] in "ui":  # "evacu" <- "evacuee(s)"
                forms.update((word + "ee", word + "ees"))
    return frozenset(forms | {"#" + form for form in forms})


_SURFACE_FORMS: Final = _surface_forms(_VOCABULARY)


def crisis_match(text: str | Doc) -> CrisisMatch:
    """Match the tiered crisis vocabulary (English + French) against one message."""
    doc = prepare(text)
    # Fast path: most messages contain no crisis word and no hashtag (one C-level set test).
    if _SURFACE_FORMS.isdisjoint(doc.tokens) and (
        "#" not in doc.norm or _HASHTAG_SCAN_RE.search(doc.norm) is None
    ):
        return _NO_MATCH
    words: list[str] = []
    found: dict[str, int] = {}
    vocab = _VOCABULARY
    for token in doc.tokens:
        key = _KEY_MEMO.get(token, "")
        if key == "":
            key = _content_key(token)
        if key is None:
            continue
        words.append(key)
        if (
            token[0] == "#"
            and len(token) > 4
            and key not in vocab
            and _HASHTAG_RE.search(key) is not None
        ):
            found.setdefault(token, STRONG)
    n = len(words)
    counted = _NOTHING if _CASUALTY_KEYS.isdisjoint(words) else _counted(doc.tokens)
    first_words = _FIRST_WORDS
    i = 0
    while i < n:
        word = words[i]
        matched = 0
        if word in first_words:
            for size in (3, 2):
                if i + size <= n:
                    hit = vocab.get(" ".join(words[i : i + size]))
                    if hit is not None and hit[0] != CONTEXT:
                        found.setdefault(hit[1], STRONG if i in counted else hit[0])
                        matched = size
                        break
        if matched:
            i += matched - 1  # phrases do not overlap: "death toll rises" is one hit
        else:
            hit = vocab.get(word)
            if hit is not None and hit[0] != CONTEXT and _sense_ok(word, words, i):
                found.setdefault(hit[1], STRONG if i in counted else hit[0])
        i += 1
    if not found:
        return _NO_MATCH
    strong = sum(1 for tier in found.values() if tier == STRONG)
    return CrisisMatch(tuple(found), strong, len(found) - strong)


_NO_MATCH: Final = CrisisMatch((), 0, 0)
_NOTHING: Final[frozenset[int]] = frozenset()


def _counted(tokens: list[str]) -> set[int]:
    """Content-word indices of the casualty words that follow a count ("12 morts", "des
    dizaines de blessés"); only called when the message has a casualty word."""
    counted: set[int] = set()
    index = 0
    after_count = False
    for token in tokens:
        key = _content_key(token)
        if token.isdigit() or token in _COUNT_WORDS:
            after_count = True
        elif after_count and token not in _COUNT_LINKS:
            if key in _CASUALTY_KEYS:
                counted.add(index)
            after_count = False
        if key is not None:
            index += 1
    return counted


def _sense_ok(word: str, words: list[str], i: int) -> bool:
    """Word-sense check of a single-word hit against its neighbouring content words: a guard
    word nearby means the everyday sense ("fire tv stick", "app crash"); a word that
    needs context ("missing") counts only next to one ("missing hikers")."""
    guard = _GUARDS.get(word)
    if guard is not None and not guard.isdisjoint(
            words[max(0, i - _GUARD_WINDOW): i + _GUARD_WINDOW + 1]):
        return False
    need = _NEEDS.get(word)
    return need is None or not need.isdisjoint(
        words[max(0, i - _NEEDS_WINDOW): i + _NEEDS_WINDOW + 1])


def crisis_terms(text: str | Doc) -> list[str]:
    """Crisis vocabulary terms present in the message (display form, first-seen order)."""
    return list(crisis_match(text).terms)


def crisis_signal(text: str | Doc) -> bool:
    """Per-message crisis signal: one strong term or two distinct crisis terms."""
    return crisis_match(text).signal


# --------------------------------------------------------------------------- detector


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


# --------------------------------------------------------------------------- declared crises


def _norm_tag(tag: str) -> str:
    return fold(tag.strip().lstrip("#"))


def _words_re(words: Iterable[str]) -> re.Pattern[str] | None:
    keys = [fold(k).strip() for k in words if k and k.strip()]
    if not keys:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(k) for k in keys) + r")(?!\w)")


#: Hazard roots (folded, found inside a crisis' keywords, hashtags or name) and the families
#: of figurative uses they make tone-deaf (streams/core/promo.py): a "storm of savings" in a
#: hurricane, "hot deals" in a wildfire, "shake up your look" after an earthquake.
HAZARD_ROOTS: Final = (
    ("hurricane", ("storm", "flood")), ("storm", ("storm",)), ("typhoon", ("storm", "flood")),
    ("cyclone", ("storm", "flood")), ("tornado", ("storm",)), ("twister", ("storm",)),
    ("blizzard", ("storm",)), ("ouragan", ("storm", "flood")), ("tempete", ("storm",)),
    ("tornade", ("storm",)), ("flood", ("flood",)), ("tsunami", ("flood", "quake")),
    ("inondation", ("flood",)), ("crue", ("flood",)), ("fire", ("fire",)),
    ("blaze", ("fire",)), ("incendie", ("fire",)), ("feu", ("fire",)),
    ("earthquake", ("quake",)), ("quake", ("quake",)), ("seisme", ("quake",)),
    ("tremblement", ("quake",)), ("explosion", ("blast", "shooting")),
    ("bomb", ("blast", "shooting")), ("blast", ("blast", "shooting")),
    ("attack", ("blast", "shooting")), ("attentat", ("blast", "shooting")),
    ("terror", ("blast", "shooting")), ("shooting", ("shooting", "blast")),
    ("shooter", ("shooting", "blast")), ("gunman", ("shooting", "blast")),
    ("fusillade", ("shooting", "blast")),
)


@dataclass(frozen=True, slots=True)
class DeclaredCrisis:
    """A crisis declared by an operator (or promoted from a detector) with its vocabulary.

    ``start``/``end`` are event-time epoch seconds; ``end=None`` means still ongoing.
    """

    name: str
    keywords: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    region: str | None = None
    start: float = 0.0
    end: float | None = None
    #: A detected crisis only: the places and names its audience repeats (a post touches the
    #: crisis through them only with a commercial or humorous cue: a brand's own town is
    #: named in ordinary posts), and how a person reads it ("audience crisis on acme since
    #: 14:05: #sandy, hurricane, jersey"). Neither is part of a declared crisis' record.
    places: tuple[str, ...] = ()
    title: str = ""
    _keyword_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _place_re: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _tags: frozenset[str] = field(init=False, repr=False, compare=False)
    hazard_families: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_keyword_re", _words_re(self.keywords))
        object.__setattr__(self, "_place_re", _words_re(self.places))
        tags = frozenset(_norm_tag(t) for t in self.hashtags if t)
        object.__setattr__(self, "_tags", tags)
        words = [fold(k) for k in self.keywords] + list(tags) + [fold(self.name)]
        object.__setattr__(self, "hazard_families", frozenset(
            family for root, families in HAZARD_ROOTS for family in families
            if any(root in w for w in words)))

    @property
    def shown(self) -> str:
        """How messages name it: the title of a detected crisis, a declared one's name."""
        return self.title or f"crisis '{self.name}'"

    def place_hit(self, doc: Doc) -> str | None:
        """The place or name of this crisis that the post uses, or None."""
        if self._place_re is None:
            return None
        m = self._place_re.search(doc.norm)
        return None if m is None else m.group(0)

    def is_active(self, at: float | None = None) -> bool:
        """Active at event time ``at`` (always, when ``at`` is None and not ended)."""
        if at is None:
            return self.end is None
        return self.start <= at and (self.end is None or at <= self.end)

    def matched_by(self, text: str | Doc, hashtags: Iterable[str] = ()) -> str | None:
        """The hashtag or keyword of this crisis that the post uses, or None."""
        doc = prepare(text)
        tags = {_norm_tag(t) for t in hashtags}
        tags.update(t[1:] for t in doc.tokens if t[0] == "#" and len(t) > 1)
        for tag in sorted(tags & self._tags):
            return "#" + tag
        if self._keyword_re is not None:
            m = self._keyword_re.search(doc.norm)
            if m is not None:
                return m.group(0)
        return None


class CommandAction(StrEnum):
    """What an operator's control record does to a declared crisis."""

    DECLARE = "declare"  # declare, or re-declare with new terms or times
    END = "end"  # end the crisis of that name at `crisis.end`


@dataclass(frozen=True, slots=True)
class CrisisCommand:
    """An operator's command from the control topic (`brandpulse crisis`)."""

    action: CommandAction
    crisis: DeclaredCrisis


def active_crises(
    crises: Iterable[DeclaredCrisis], at: float | None = None
) -> list[DeclaredCrisis]:
    """Crises active at event time ``at``."""
    return [c for c in crises if c.is_active(at)]


def matching_crisis(
    text: str | Doc,
    hashtags: Iterable[str],
    crises: Sequence[DeclaredCrisis],
    at: float | None = None,
) -> tuple[DeclaredCrisis, str] | None:
    """First active declared crisis whose hashtag or keyword the post uses, with the match."""
    doc = prepare(text)
    tags = list(hashtags)
    for crisis in crises:
        if not crisis.is_active(at):
            continue
        hit = crisis.matched_by(doc, tags)
        if hit is not None:
            return crisis, hit
    return None
