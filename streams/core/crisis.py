"""Crisis vocabulary matching and declared crises.

Plain CrisisLex matching fires on everyday words ("death", "attack", "massive"), so terms are
tiered: a *strong* term (an unambiguous disaster noun or a CrisisLex phrase such as "death
toll") raises the per-message crisis signal alone, *weak* terms need a second distinct crisis
term, and *context* terms only count inside phrases. Phrases are matched on content words
(stopwords removed), which is how the CrisisLex pairs were built ("thoughts prayers").

The per-message signal feeds `streams.core.crisis_detector.CrisisDetector`, which decides
per scope (a brand or global) whether a crisis is active.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from streams.core.text import DATA_DIR, STOPWORDS, Doc, content_tokens, fold, prepare

__all__ = [
    "CrisisMatch",
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
