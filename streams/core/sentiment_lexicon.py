"""The sentiment lexicon: valences, modifiers and memoised lookups for English and French.

English valences come from the VADER lexicon (MIT) read from the installed
``vaderSentiment`` package plus brandpulse's customer-care additions; French valences come
from brandpulse's own lexicon, reached through a small suffix normaliser (gender, number,
verb endings) because French tweets inflect and drop accents freely. The scorer that
applies them is `streams.core.sentiment`; this module only answers "what is this token
worth, and what role does it play" (sentiment word, intensifier, negator, clause stop),
once per spelling.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path
from typing import Final

from streams.core.text import DATA_DIR, fold, tokenize

#: Multiplier applied to a negated valence: flips and damps ("not great" is not "awful").
NEGATION_SCALAR: Final = -0.74

#: Sarcasm markers (English): a tag or formula that declares the message ironic reverses
#: its praise ("great service as usual #not", "love waiting 3 hours #sarcasm").
SARCASM_MARKERS: Final = frozenset(
    "#not #sarcasm #sarcastic #irony #ironic #notreally #yeahright #sarcasmalert".split()
)

#: Valence added (in the word's direction) by a preceding intensifier, decaying with distance.
BOOSTER_STEP: Final = 0.293

#: VADER words whose 95 % confidence interval of the mean rating (10 raters) contains zero
#: are dropped: raters disagreed on their sign, so they are ambiguity rather than evidence.
SIGN_CONFIDENCE: Final = 1.96 / math.sqrt(10)

_BOUNDARY_CHARS: Final = frozenset(".,;!?")
UNSEEN: Final = object()
# Roles of tokens inside a modifier window (see Language.role).
STOP: Final = object()
NEGATE: Final = object()
PLAIN: Final = object()
_MEMO_LIMIT: Final = 200_000
_SQUASH_RE: Final = re.compile(r"(\w)\1{2,}")
#: First tokens of brandpulse's own negative English entries (customer-care complaints):
#: such a complaint is first-hand even when written impersonally ("app keeps timing out").
#: Filled once by _build() from lexicon_en_extra.txt (not from lexicon_en_general.txt).
COMPLAINT_STARTS: set[str] = set()

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


Phrases = dict[str, list[tuple[tuple[str, ...], float]]]  # first token -> (rest, valence)


def _split_phrases(lexicon: dict[str, float]) -> tuple[dict[str, float], Phrases]:
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


class Language:
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
            self.fixed_active |= SARCASM_MARKERS
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
            role = STOP
        elif token in self.boosters:
            role = self.boosters[token]
        elif token in self.negators or (self.english and token.endswith("n't")):
            role = NEGATE
        else:
            role = PLAIN
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


def _build() -> tuple[Language, Language]:
    vader = _load_vader_lexicon()
    en_words = {k: v for k, v in vader.items() if k[:1].isalnum()}
    symbols = {k: v for k, v in vader.items() if not k[:1].isalnum()}
    symbols.update(_load_emoji(en_words))
    en_lexicon = dict(en_words)
    en_lexicon.update(load_valence_file(DATA_DIR / "lexicon_en_general.txt"))
    extra = load_valence_file(DATA_DIR / "lexicon_en_extra.txt")
    en_lexicon.update(extra)
    COMPLAINT_STARTS.update(tokenize(k)[0] for k, v in extra.items() if v < 0 and tokenize(k))
    en_lexicon = {k: v for k, v in en_lexicon.items() if v != 0.0}
    fr_lexicon = load_valence_file(DATA_DIR / "lexicon_fr.txt")
    en_lexicon.update({k: v for k, v in symbols.items() if k in ("xd", ":p", ":d")})
    english = Language(en_lexicon, symbols, _EN_BOOSTERS, _EN_NEGATORS, _EN_CONTRAST)
    french = Language(
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


ENGLISH, FRENCH = _build()
# "und" (no letters: emoji, emoticons) is read with the English tables, whose emoji and
# emoticon valences are language-neutral.
LANGUAGES: Final = {"en": ENGLISH, "fr": FRENCH, "und": ENGLISH}
