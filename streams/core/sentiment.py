"""Sentiment for English and French: a trained model over a fast lexicon-and-rule scorer.

`polarity_doc` uses the trained linear model shipped in the package
(`streams/core/sentiment_model.py`, issue 22) and falls back to the lexicon alone when
the model file is missing or corrupt; the lexicon's score and word roles are also among
the model's features. The rest of this module is the lexicon.

The scorer follows the VADER recipe (valence lexicon, intensifiers, negation window,
contrast "but", capitals and exclamation emphasis, emoji, squashing into [-1, 1]) but is
re-implemented around one shared tokenisation and memoised dictionary lookups so that it
runs several times faster than ``SentimentIntensityAnalyzer``. English valences come from
the VADER lexicon (MIT) read from the installed ``vaderSentiment`` package plus
brandpulse's customer-care additions; French valences come from brandpulse's own lexicon,
reached through a small suffix normaliser (gender, number, verb endings) because French
tweets inflect and drop accents freely.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
from itertools import repeat
from pathlib import Path
from typing import Final

from streams.core.lang import detect_lang
from streams.core.sentiment_model import (
    DEFAULT_PATH,
    LexiconView,
    ModelFileError,
    SentimentModels,
)
from streams.core.sentiment_model import load as load_model
from streams.core.text import DATA_DIR, Doc, fold, prepare, tokenize

__all__ = [
    "NEGATIVE_THRESHOLD",
    "POSITIVE_THRESHOLD",
    "active_model",
    "lexicon_polarity_doc",
    "model_inputs",
    "polarity",
    "polarity_doc",
    "sentiment_label",
    "set_model",
]

#: Three-class decision thresholds on the polarity score (same convention as VADER).
POSITIVE_THRESHOLD: Final = 0.05
NEGATIVE_THRESHOLD: Final = -0.05

#: Squashing constant: score = s / sqrt(s^2 + ALPHA); 15 matches VADER so scores compare.
ALPHA: Final = 15.0
#: Valence added (in the word's direction) by a preceding intensifier, decaying with distance.
BOOSTER_STEP: Final = 0.293
_BOOST_DECAY: Final = (1.0, 0.95, 0.9)
#: Multiplier applied to a negated valence: flips and damps ("not great" is not "awful").
NEGATION_SCALAR: Final = -0.74
#: Multiplier of a negated negative word: "no hate", "not terrible" deny a fault rather than
#: praise, so the flip is weaker than for a negated positive ("not great" is a complaint).
NEGATED_NEGATIVE_SCALAR: Final = -0.5
#: Extra valence for a word written in capitals within a mixed-case message.
CAPS_BOOST: Final = 0.733
#: Per "!" (at most 4) emphasis added in the direction of the sum.
EXCLAMATION_STEP: Final = 0.292
#: Contrast rule: clauses before "but"/"mais" weigh less than the clause after.
BEFORE_CONTRAST: Final = 0.5
AFTER_CONTRAST: Final = 1.5
#: Weight of politeness formulae (thanks, merci) in a message that also complains.
POLITENESS_IN_COMPLAINT: Final = 0.25
_POLITENESS: Final = frozenset(
    "thanks thank thx ty tnx thankyou appreciate appreciated merci remercie".split()
)
#: VADER words whose 95 % confidence interval of the mean rating (10 raters) contains zero
#: are dropped: raters disagreed on their sign, so they are ambiguity rather than evidence.
SIGN_CONFIDENCE: Final = 1.96 / math.sqrt(10)
#: English positive evidence margin (valence units) subtracted from a positive sum. English
#: shows a strong positivity bias (Pollyanna effect): mild positive words are everywhere in
#: phatic use ("good morning", "nice", "lol", "hope"), so one of them alone is weak evidence
#: of a positive opinion, while a negative word rarely appears without one. French tweets
#: in DEFT do not show this imbalance, so the margin is English only.
POSITIVE_MARGIN_EN: Final = 1.5
#: Negative evidence margin (valence units) for an impersonal English message: no first or
#: second person, no @addressee, no "!". Such messages are mostly headlines and reports,
#: whose event words (death, protest, crisis) name the topic rather than the author's
#: opinion. Not applied when a brandpulse complaint entry fired ("app keeps timing out" is
#: first-hand). Positives are already held to POSITIVE_MARGIN_EN.
REPORT_MARGIN_EN: Final = 1.0
#: Evidence margin (valence units, both signs) for an English question without "!": a
#: question asks rather than judges ("any good deals this week?", "is the app down?"), so
#: its sentiment words are weaker evidence of the author's opinion.
QUESTION_MARGIN_EN: Final = 0.5
_EN_PERSONAL: Final = frozenset(
    "i me my mine myself we us our ours ourselves you your yours yourself u ur ya yall "
    "y'all im i'm i've i'll i'd ive we're we've we'll you're you've you'll youre".split()
)
#: Window (tokens) searched backwards for intensifiers and negators.
WINDOW: Final = 3
#: Multiplier of a positive word under a past counterfactual ("would have been nice",
#: "should've been easy", "could have been great"): the praise names what did not happen,
#: so it is not praise. Plain modals are left alone: "would love", "would recommend" and
#: "could not agree more" are positive.
IRREALIS_SCALAR: Final = 0.0
_EN_MODALS: Final = frozenset({"would", "could", "should", "might", "must"})
_EN_COUNTERFACTUAL: Final = frozenset(
    "would've could've should've might've must've wouldve couldve shouldve".split()
)

_BOUNDARY_CHARS: Final = frozenset(".,;!?")
_UNSEEN: Final = object()
# Roles of tokens inside a modifier window (see _Language.role).
_STOP: Final = object()
_NEGATE: Final = object()
_PLAIN: Final = object()
_MEMO_LIMIT: Final = 200_000
_SQUASH_RE: Final = re.compile(r"(\w)\1{2,}")
#: First tokens of brandpulse's own negative English entries (customer-care complaints):
#: such a complaint is first-hand even when written impersonally ("app keeps timing out").
#: Filled once by _build() from lexicon_en_extra.txt (not from lexicon_en_general.txt).
_COMPLAINT_STARTS: set[str] = set()

#: Sarcasm markers (English): a tag or formula that declares the message ironic reverses
#: its praise ("great service as usual #not", "love waiting 3 hours #sarcasm").
_SARCASM_MARKERS: Final = frozenset(
    "#not #sarcasm #sarcastic #irony #ironic #notreally #yeahright #sarcasmalert".split()
)

#: Tweet-convention suffixes that judge whatever precedes them (#customerservicefail).
_JUDGING_SUFFIXES: Final = ("fail", "sucks")
#: Negators that lead a judging hashtag (#notgood, #nofun, #neverhappy).
_TAG_NEGATORS: Final = ("not", "no", "never")


def load_valence_file(path: Path) -> dict[str, float]:
    """Read a brandpulse lexicon file (``valence: term, term``); keys are folded."""
    out: dict[str, float] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        head, _, terms = line.partition(": ")
        try:
            valence = float(head)
        except ValueError:
            continue
        for term in terms.split(","):
            key = fold(term.strip())
            if key:
                out[key] = valence
    return out


def _vader_dir() -> Path | None:
    """Locate the installed vaderSentiment package without importing it (it pulls requests)."""
    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _load_vader_lexicon() -> dict[str, float]:
    vader = _vader_dir()
    out: dict[str, float] = {}
    if vader is None:
        return out
    path = vader / "vader_lexicon.txt"
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            try:
                mean, spread = float(parts[1]), float(parts[2])
            except ValueError:
                continue
            if abs(mean) < SIGN_CONFIDENCE * spread:
                continue  # raters disagree on the sign: an ambiguous word, not evidence
            out[parts[0].lower()] = mean
    return out


def _load_emoji(words: dict[str, float]) -> dict[str, float]:
    """Emoji valence: VADER's emoji descriptions scored with the word lexicon, then overrides."""
    out: dict[str, float] = {}
    vader = _vader_dir()
    path = vader / "emoji_utf8_lexicon.txt" if vader is not None else None
    if path is not None and path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            emoji, _, description = line.partition("\t")
            emoji = emoji.replace("\ufe0f", "")
            if len(emoji) != 1:
                continue  # sequences are split on tokenisation; their parts are scored
            total = sum(words.get(w, 0.0) for w in description.lower().split())
            if total:
                out[emoji] = max(-3.0, min(3.0, total))
    out.update(load_valence_file(DATA_DIR / "emoji.txt"))
    return out


def _split_phrases(lexicon: dict[str, float]) -> tuple[dict[str, float], dict[str, list]]:
    """Separate single tokens from phrases; phrases are indexed by their first token."""
    from streams.core.text import _TOKEN_RE  # same tokeniser as messages: keys align

    single: dict[str, float] = {}
    phrases: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for key, valence in lexicon.items():
        toks = tuple(_TOKEN_RE.findall(key))
        if "".join(toks) != key.replace(" ", ""):
            continue  # e.g. VADER's "8)" would otherwise become the token "8"
        if len(toks) == 1:
            single[toks[0]] = valence
        elif len(toks) > 1:
            phrases.setdefault(toks[0], []).append((toks[1:], valence))
    for options in phrases.values():
        options.sort(key=lambda item: -len(item[0]))  # longest match first
    return single, phrases


_EN_BOOSTERS: Final = {
    **dict.fromkeys(
        "absolutely amazingly awfully completely considerably decidedly deeply enormously "
        "entirely especially exceptionally extremely fabulously flipping freaking fricking "
        "frigging fucking fully greatly hella highly hugely incredibly intensely majorly most "
        "particularly purely quite really remarkably so substantially thoroughly totally "
        "tremendously uber unbelievably unusually utterly very super soo sooo truly real "
        "damn too".split(),
        BOOSTER_STEP,
    ),
    **dict.fromkeys(
        "almost barely hardly kinda little marginally occasionally partly scarcely "
        "slightly somewhat sorta".split(),
        -BOOSTER_STEP,
    ),
}
_EN_NEGATORS: Final = frozenset(
    "not no never nothing nowhere none neither nor nobody without cannot cant dont doesnt "
    "didnt isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt aint "
    "mightnt mustnt neednt darent rarely seldom".split()
) | frozenset(  # decrease words reverse their object ("less helpful", "reduce crashes")
    "less reduce reduces reduced reducing reduction decrease decreases decreased".split()
)
_FR_BOOSTERS: Final = {
    **dict.fromkeys(
        "tres trop vraiment super hyper ultra tellement si grave carrement vachement mega "
        "extremement totalement completement absolument franchement particulierement archi "
        "vraiiment tjs bien".split(),
        BOOSTER_STEP,
    ),
    **dict.fromkeys("moyennement legerement plutot assez".split(), -BOOSTER_STEP),
}
_FR_NEGATORS: Final = frozenset(
    "ne n' pas jamais rien aucun aucune sans ni guere nullement peu moins".split()
) | frozenset(  # decrease words reverse their object ("réduire la pollution")
    "reduire reduit reduisent reduisant reduction diminuer diminue diminuent diminuant "
    "diminution baisse".split()
)
#: French "pas"/"jamais" placed after the word they negate ("j'aime pas").
_FR_POST_NEGATORS: Final = frozenset("pas jamais rien guere".split())
#: French intensifiers placed after the word they intensify ("nul grave").
_FR_POST_BOOSTERS: Final = frozenset({"grave"})
_EN_CONTRAST: Final = frozenset({"but", "however", "although", "though", "yet"})
_FR_CONTRAST: Final = frozenset({"mais", "cependant", "pourtant", "toutefois", "neanmoins"})

#: Adjective/noun inflections tried in order (suffix, replacement), French folded spelling.
_FR_SUFFIXES: Final = (
    ("euses", "eux"),
    ("euse", "eux"),
    ("euses", "eur"),
    ("euse", "eur"),
    ("ives", "if"),
    ("ive", "if"),
    ("trices", "teur"),
    ("trice", "teur"),
    ("eaux", "eau"),
    ("aux", "al"),
    ("elles", "el"),
    ("elle", "el"),
    ("ennes", "en"),
    ("enne", "en"),
    ("onnes", "on"),
    ("onne", "on"),
    ("ettes", "et"),
    ("ette", "et"),
    ("lles", "l"),
    ("lle", "l"),
    ("eres", "er"),
    ("ere", "er"),
    ("ees", ""),
    ("ee", ""),
    ("es", ""),
    ("s", ""),
    ("x", ""),
    ("e", ""),
)
#: Verb endings mapped to an infinitive stem (+"er" / +"ir").
_FR_VERB_ENDINGS: Final = (
    "eraient",
    "eront",
    "erions",
    "eriez",
    "erait",
    "erais",
    "erons",
    "erez",
    "aient",
    "erai",
    "era",
    "ent",
    "ait",
    "ais",
    "ons",
    "ez",
    "es",
    "ees",
    "ee",
    "e",
    "is",
    "it",
)


class _Language:
    """Lexicon, modifiers and memoised lookups for one language."""

    __slots__ = (
        "active",
        "boosters",
        "contrast",
        "english",
        "fixed_active",
        "lexicon",
        "memo",
        "negators",
        "phrases",
        "post_boosters",
        "post_negators",
        "resets",
        "resolve",
        "roles",
        "symbols",
    )

    def __init__(
        self,
        lexicon: dict[str, float],
        symbols: dict[str, float],
        boosters: dict[str, float],
        negators: frozenset[str],
        contrast: frozenset[str],
        post_negators: frozenset[str] = frozenset(),
        post_boosters: frozenset[str] = frozenset(),
        french: bool = False,
    ) -> None:
        self.lexicon, self.phrases = _split_phrases(lexicon)
        self.symbols = symbols
        self.boosters = boosters
        self.negators = negators
        self.contrast = contrast
        self.post_negators = post_negators
        self.post_boosters = post_boosters
        self.english = not french
        self.memo: dict[str, float | None] = {}
        self.resets = 0  # memo resets so far (see _score)
        self.roles: dict[str, object] = {}
        # Tokens worth visiting in a message: resolved sentiment words (grows with the
        # memo), phrase starts and contrast words.
        self.fixed_active: frozenset[str] = frozenset(self.phrases) | contrast
        if self.english:
            self.fixed_active |= _SARCASM_MARKERS
        self.active: set[str] = set(self.fixed_active)
        self.resolve = self._resolve_fr if french else self._resolve_en

    def valence(self, token: str) -> float | None:
        """Memoised valence of one token, or None when it carries no sentiment."""
        memo = self.memo
        if token in memo:
            return memo[token]
        if len(memo) > _MEMO_LIMIT:
            memo.clear()  # bounded memory on adversarial vocabularies
            self.active = set(self.fixed_active)
            self.resets += 1
        value = self.resolve(token)
        memo[token] = value
        if value is not None:
            self.active.add(token)
        return value

    def role(self, token: str) -> object:
        """Memoised role of a token inside a modifier window: clause stop, negator,
        intensifier step (float) or plain."""
        roles = self.roles
        if len(roles) > _MEMO_LIMIT:
            roles.clear()
        role: object
        if token[0] in _BOUNDARY_CHARS or token in self.contrast:
            role = _STOP
        elif token in self.boosters:
            role = self.boosters[token]
        elif token in self.negators or (self.english and token.endswith("n't")):
            role = _NEGATE
        else:
            role = _PLAIN
        roles[token] = role
        return role

    def _base(self, token: str) -> float | None:
        value = self.lexicon.get(token)
        if value is None:
            value = self.symbols.get(token)
        return value

    def _hashtag(self, body: str) -> float | None:
        """Whole-tag lookup, plus two English tweet conventions where the author judges:
        a judging suffix (#customerservicefail, #comcastsucks), a negator prefix before
        a whole lexicon word (#notgood, #nofun) and a leading evaluative word
        (#badcustomerservice). Tags are not split further: that mostly hits titles and
        place names (#thewalkingdead, #richmond). French tags: whole-tag lookup only (a
        leading-word rule lowered the French tune half)."""
        value = self.valence(body)
        if value is not None or not self.english:
            return value
        for suffix in _JUDGING_SUFFIXES:
            if body.endswith(suffix) and len(body) > len(suffix) + 2:
                return self.valence(suffix)
        for negator in _TAG_NEGATORS:
            rest = body[len(negator) :]
            if body.startswith(negator) and len(rest) > 2:
                value = self.lexicon.get(rest)
                if value is not None:
                    return value * NEGATION_SCALAR
        # A tag led by an evaluative word (#BadCustomerService, #WorstPresidentEver): the
        # longest lexicon word that starts it, leaving at least 3 letters. Titles and places
        # mostly start with a name or "the" and stay unscored (#TheWalkingDead).
        lexicon = self.lexicon
        for cut in range(len(body) - 3, 2, -1):
            value = lexicon.get(body[:cut])
            if value is not None:
                return value
        return None

    def _resolve_en(self, token: str) -> float | None:
        value = self._base(token)
        if value is not None:
            return value
        if token[0] == "#" and len(token) > 1:
            return self._hashtag(token[1:])
        if token.endswith("'s") and len(token) > 3:
            return self.valence(token[:-2])  # possessive: "nazi's", "everyone's favourite"
        squashed = _SQUASH_RE.sub(r"\1\1", token)
        if squashed != token:
            value = self._base(squashed)
            if value is None:
                value = self._base(_SQUASH_RE.sub(r"\1", token))
            return value
        if len(token) > 4 and token.endswith("s"):
            return self.lexicon.get(token[:-1])
        if len(token) > 5 and token.endswith("ly"):
            return self._adverb(token)
        return None

    def _adverb(self, token: str) -> float | None:
        """English -ly adverb read as its adjective (negatively -> negative, happily ->
        happy, horribly -> horrible) when the lexicon lists the adjective only."""
        lexicon = self.lexicon
        stem = token[:-2]
        if stem.endswith("i"):
            candidates: tuple[str, ...] = (stem[:-1] + "y", stem)
        elif stem.endswith("b"):
            candidates = (stem + "le",)
        else:
            candidates = (stem, stem + "e")
        for candidate in candidates:
            value = lexicon.get(candidate)
            if value is not None:
                return value
        return None

    def _resolve_fr(self, token: str) -> float | None:
        value = self._base(token)
        if value is not None:
            return value
        if token[0] == "#" and len(token) > 1:
            return self._hashtag(token[1:])
        squashed = _SQUASH_RE.sub(r"\1", token)
        if squashed != token:
            value = self._base(squashed)
            if value is not None:
                return value
            token = squashed
        if len(token) < 4 or not token.isalpha():
            return None
        lexicon = self.lexicon
        for suffix, replacement in _FR_SUFFIXES:
            if token.endswith(suffix):
                value = lexicon.get(token[: len(token) - len(suffix)] + replacement)
                if value is not None:
                    return value
        for ending in _FR_VERB_ENDINGS:
            if token.endswith(ending) and len(token) - len(ending) >= 3:
                stem = token[: len(token) - len(ending)]
                value = lexicon.get(stem + "er")
                if value is None:
                    value = lexicon.get(stem + "ir")
                if value is not None:
                    return value
        return None


def _build() -> tuple[_Language, _Language]:
    vader = _load_vader_lexicon()
    en_words = {k: v for k, v in vader.items() if k[:1].isalnum()}
    symbols = {k: v for k, v in vader.items() if not k[:1].isalnum()}
    symbols.update(_load_emoji(en_words))
    en_lexicon = dict(en_words)
    en_lexicon.update(load_valence_file(DATA_DIR / "lexicon_en_general.txt"))
    extra = load_valence_file(DATA_DIR / "lexicon_en_extra.txt")
    en_lexicon.update(extra)
    _COMPLAINT_STARTS.update(tokenize(k)[0] for k, v in extra.items() if v < 0 and tokenize(k))
    en_lexicon = {k: v for k, v in en_lexicon.items() if v != 0.0}
    fr_lexicon = load_valence_file(DATA_DIR / "lexicon_fr.txt")
    en_lexicon.update({k: v for k, v in symbols.items() if k in ("xd", ":p", ":d")})
    english = _Language(en_lexicon, symbols, _EN_BOOSTERS, _EN_NEGATORS, _EN_CONTRAST)
    french = _Language(
        fr_lexicon,
        symbols,
        _FR_BOOSTERS,
        _FR_NEGATORS,
        _FR_CONTRAST,
        post_negators=_FR_POST_NEGATORS,
        post_boosters=_FR_POST_BOOSTERS,
        french=True,
    )
    return english, french


_ENGLISH, _FRENCH = _build()
# "und" (no letters: emoji, emoticons) is read with the English tables, whose emoji and
# emoticon valences are language-neutral.
_LANGUAGES: Final = {"en": _ENGLISH, "fr": _FRENCH, "und": _ENGLISH}


def _is_capitalised_in(token: str, raw: str) -> bool:
    """True when the word appears in capitals (at least 2 letters) as a whole word."""
    if len(token) < 2:
        return False
    upper = token.upper()
    start = raw.find(upper)
    while start >= 0:
        end = start + len(upper)
        before = raw[start - 1] if start else " "
        after = raw[end] if end < len(raw) else " "
        if not before.isalpha() and not after.isalpha():
            return True
        start = raw.find(upper, start + 1)
    return False


def _impersonal(doc: Doc) -> bool:
    """No first or second person, no @addressee and no "!": a report or headline style."""
    norm = doc.norm
    return "!" not in norm and "@" not in norm and _EN_PERSONAL.isdisjoint(doc.tokens)


def _counterfactual(tokens: list[str], i: int) -> bool:
    """True when a past counterfactual ("would have", "should've") precedes token i closely."""
    prev = ""
    for tok in tokens[max(0, i - 4) : i]:
        if tok in _EN_COUNTERFACTUAL or (tok == "have" and prev in _EN_MODALS):
            return True
        prev = tok
    return False


def _score(doc: Doc, lang: _Language) -> float:
    tokens = doc.tokens
    n = len(tokens)
    valence_of = lang.valence
    phrases = lang.phrases
    boosters = lang.boosters
    contrast = lang.contrast
    post_negators = lang.post_negators
    post_boosters = lang.post_boosters
    roles = lang.roles
    mixed_case: bool | None = None

    contributions: list[float] = []
    polite: list[int] = []
    contrast_at = -1
    complaint = False
    sarcastic = False
    # "have"/"'ve" cover every counterfactual form: one C-level substring test per message.
    english = lang.english
    counterfactual_possible = english and "ve" in doc.norm
    complaint_starts = _COMPLAINT_STARTS
    # Only tokens that can score (sentiment words, phrase starts, contrast words) are
    # visited; boosters and negators are read around them.
    values: list[float | None] = list(
        map(lang.memo.get, tokens, repeat(_UNSEEN))  # type: ignore[arg-type]
    )  # C-level lookups; _UNSEEN marks a spelling not resolved yet
    if _UNSEEN in values:
        resets = lang.resets
        values = [
            valence_of(token) if value is _UNSEEN else value
            for token, value in zip(tokens, values, strict=True)
        ]
        if lang.resets == resets:
            # Every token is now in the memo with these values, so `active` holds exactly
            # the message's sentiment words plus its fixed ones.
            active = lang.active.intersection(tokens)
        else:
            # The memo was reset meanwhile: computed from this message's own values.
            active = {t for t, v in zip(tokens, values, strict=True) if v is not None}
            active.update(lang.fixed_active.intersection(tokens))
    else:
        active = lang.active.intersection(tokens)
    if not active:
        return 0.0
    skip_to = 0
    for i, token in enumerate(tokens):
        if i < skip_to or token not in active:
            continue
        value = values[i]
        options = phrases.get(token)
        span = 1
        if options is not None:
            for rest, phrase_value in options:
                k = len(rest)
                if tuple(tokens[i + 1 : i + 1 + k]) == rest:
                    value, span = phrase_value, k + 1
                    break
        if value is None:
            if token in contrast:
                contrast_at = len(contributions)
            elif token in _SARCASM_MARKERS:
                sarcastic = True
            continue
        if span == 1 and i and tokens[i - 1] == token and not token.isalpha():
            continue  # a repeated emoji/emoticon is one piece of evidence, not several
        if span == 1:
            # An intensifier that is also a sentiment word ("super", "trop", "bien")
            # intensifies when a sentiment word follows instead of scoring itself.
            if token in boosters and i + 1 < n and valence_of(tokens[i + 1]) is not None:
                continue
            if token in post_boosters and i > 0 and valence_of(tokens[i - 1]) is not None:
                continue

        negated = False
        # A phrase containing a negator ("pas mal", "toujours pas", "never received") already
        # carries its negation: the "ne" of "ce n'est pas mal" is part of it, not a second one.
        self_negating = span > 1 and not lang.negators.isdisjoint(tokens[i : i + span])
        for distance in range(min(WINDOW, i)):
            prev = tokens[i - 1 - distance]
            role = roles.get(prev)
            if role is None:
                role = lang.role(prev)
            if role is _PLAIN:
                continue
            if role is _STOP:
                break
            if role is _NEGATE:
                negated = not self_negating
            else:
                boost = role * _BOOST_DECAY[distance]  # type: ignore[operator]
                value += boost if value > 0 else -boost
        end = i + span
        if end < n:
            nxt = tokens[end]
            if nxt in post_boosters:
                value += BOOSTER_STEP if value > 0 else -BOOSTER_STEP
            elif nxt in post_negators and not negated:
                # "pas" negates the preceding word unless a sentiment word follows it
                # ("génial, pas cher": "pas" belongs to "cher").
                after = tokens[end + 1] if end + 1 < n else None
                if after is None or valence_of(after) is None:
                    negated = True
        if negated:
            # Emoji, emoticons and hashtags stand outside the clause ("j'ai pas compris 😂").
            if token[0].isalnum():
                value *= NEGATION_SCALAR if value > 0 else NEGATED_NEGATIVE_SCALAR
        elif value > 0 and counterfactual_possible and _counterfactual(tokens, i):
            value *= IRREALIS_SCALAR
        if mixed_case is None:
            raw = doc.raw
            mixed_case = not raw.isupper() and not raw.islower()
        # Capitals emphasise a word only when the rest of the message is not shouting too.
        if mixed_case and token.isalpha() and _is_capitalised_in(token, doc.raw):
            value += CAPS_BOOST if value > 0 else -CAPS_BOOST
        if span == 1 and token in _POLITENESS:
            polite.append(len(contributions))
        if value < 0 and token in complaint_starts:
            complaint = True
        contributions.append(value)
        skip_to = end

    if not contributions:
        return 0.0
    if polite and any(c < 0 for c in contributions):
        # Politeness formulae in a complaint ("thanks, 3 h on hold") are not praise.
        for k in polite:
            contributions[k] *= POLITENESS_IN_COMPLAINT

    if sarcastic:
        # Declared irony: the praise in the message means its opposite.
        contributions = [c * NEGATION_SCALAR if c > 0 else c for c in contributions]

    if 0 < contrast_at < len(contributions):
        weighted = [c * BEFORE_CONTRAST for c in contributions[:contrast_at]]
        weighted += [c * AFTER_CONTRAST for c in contributions[contrast_at:]]
    else:
        weighted = contributions
    if english:
        positive = [c for c in weighted if c > 0]
        if positive:
            negative = sum([c for c in weighted if c < 0])
            total = max(0.0, sum(positive) - POSITIVE_MARGIN_EN) + negative
        else:
            total = sum(weighted)
        if total < 0 and not complaint and _impersonal(doc):
            total = min(0.0, total + REPORT_MARGIN_EN)
        if total and "?" in doc.norm and "!" not in doc.norm:
            if total > 0:
                total = max(0.0, total - QUESTION_MARGIN_EN)
            else:
                total = min(0.0, total + QUESTION_MARGIN_EN)
    else:
        total = sum(weighted)
    if total:
        bangs = doc.norm.count("!")
        if bangs:
            emphasis = EXCLAMATION_STEP * min(bangs, 4)
            total += emphasis if total > 0 else -emphasis
    score = total / math.sqrt(total * total + ALPHA)
    return max(-1.0, min(1.0, score))


def lexicon_polarity_doc(doc: Doc, lang: str) -> float:
    """The lexicon's own polarity in [-1, 1] (the model's fallback and one of its
    features); 0.0 for other languages."""
    language = _LANGUAGES.get(lang)
    if language is None:
        return 0.0
    return _score(doc, language)


def _view(language: _Language) -> LexiconView:
    return LexiconView(language.valence, language.negators, language.boosters)


_VIEWS: Final = {"en": _view(_ENGLISH), "fr": _view(_FRENCH), "und": _view(_ENGLISH)}


def model_inputs(doc: Doc, lang: str) -> tuple[float, LexiconView] | None:
    """What the trained model reads besides the tokens: the lexicon's polarity and its
    view of the language; None for languages without a lexicon. Shared with the training
    script so that both compute the same features."""
    language = _LANGUAGES.get(lang)
    if language is None:
        return None
    return _score(doc, language), _VIEWS[lang]


def _load_model() -> SentimentModels | None:
    """The shipped models, or the file named by BRANDPULSE_SENTIMENT_MODEL ("lexicon":
    none). A missing or corrupt file falls back to the lexicon with one warning: sentiment
    must never stop the worker."""
    choice = os.environ.get("BRANDPULSE_SENTIMENT_MODEL", "").strip()
    if choice.lower() in ("lexicon", "off", "none"):
        return None
    try:
        return load_model(choice or DEFAULT_PATH)
    except ModelFileError as exc:
        logging.getLogger(__name__).warning(
            "sentiment model not loaded, using the lexicon: %s", exc)
        return None


_MODEL: SentimentModels | None = _load_model()


def active_model() -> SentimentModels | None:
    """The models `polarity_doc` uses, or None when it falls back to the lexicon."""
    return _MODEL


def set_model(model: SentimentModels | None) -> SentimentModels | None:
    """Use `model` (None: the lexicon alone) from now on; returns the previous one. For
    tests and benchmarks."""
    global _MODEL
    previous, _MODEL = _MODEL, model
    return previous


def polarity_doc(doc: Doc, lang: str) -> float:
    """Polarity in [-1, 1] of a prepared message in ``lang`` (0.0 for other languages):
    the trained model's (`streams/core/sentiment_model.py`), or the lexicon's when no
    model is loaded. `sentiment_label` of it is the model's most probable class."""
    language = _LANGUAGES.get(lang)
    if language is None:
        return 0.0
    score = _score(doc, language)
    models = _MODEL
    if models is None:
        return score
    model = models.for_lang(lang)
    if model is None:
        return score
    return model.polarity(doc, score, _VIEWS[lang])


def polarity(text: str | Doc, lang: str | None = None) -> float:
    """Polarity in [-1, 1]; the language is detected when not given (other -> 0.0)."""
    doc = prepare(text)
    if lang is None:
        lang = detect_lang(doc)
    return polarity_doc(doc, lang)


def sentiment_label(score: float) -> str:
    """Three-class label with the ±0.05 convention used for evaluation."""
    if score > POSITIVE_THRESHOLD:
        return "positive"
    if score < NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"
