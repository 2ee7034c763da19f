"""Sentiment for English and French: a trained model over a fast lexicon-and-rule scorer.

`polarity_doc` uses the trained linear model shipped in the package
(`streams/core/sentiment_model.py`, issue 22) and falls back to the lexicon alone when
the model file is missing or corrupt; the lexicon's score and word roles are also among
the model's features. The rest of this module is the lexicon's scorer; the valences and
word roles it reads are `streams/core/sentiment_lexicon.py`.

The scorer follows the VADER recipe (valence lexicon, intensifiers, negation window,
contrast "but", capitals and exclamation emphasis, emoji, squashing into [-1, 1]) but is
re-implemented around one shared tokenisation and memoised dictionary lookups so that it
runs several times faster than ``SentimentIntensityAnalyzer``.
"""

from __future__ import annotations

import logging
import math
import os
from itertools import repeat
from typing import Final

from streams.core.lang import detect_lang
from streams.core.sentiment_lexicon import (
    BOOSTER_STEP,
    COMPLAINT_STARTS,
    ENGLISH,
    FRENCH,
    LANGUAGES,
    NEGATE,
    NEGATION_SCALAR,
    PLAIN,
    SARCASM_MARKERS,
    STOP,
    UNSEEN,
    Language,
)
from streams.core.sentiment_model import (
    DEFAULT_PATH,
    LexiconView,
    ModelFileError,
    SentimentModels,
)
from streams.core.sentiment_model import load as load_model
from streams.core.text import Doc, prepare

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
_BOOST_DECAY: Final = (1.0, 0.95, 0.9)
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


def _token_values(tokens: list[str], lang: Language
                  ) -> tuple[list[float | None], set[str]]:
    """Each token's valence (None: no sentiment) and the set of tokens worth visiting:
    sentiment words, phrase starts and contrast words."""
    values: list[float | None] = list(
        map(lang.memo.get, tokens, repeat(UNSEEN))  # type: ignore[arg-type]
    )  # C-level lookups; UNSEEN marks a spelling not resolved yet
    if UNSEEN in values:
        resets = lang.resets
        values = [
            lang.valence(token) if value is UNSEEN else value
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
    return values, active


def _window(tokens: list[str], i: int, span: int, value: float, lang: Language
            ) -> tuple[float, bool]:
    """The word's valence after the intensifiers and negators of the WINDOW tokens before
    it and the French post-position ones after it; and whether it is negated."""
    n = len(tokens)
    post_boosters = lang.post_boosters
    negated = False
    # A phrase containing a negator ("pas mal", "toujours pas", "never received") already
    # carries its negation: the "ne" of "ce n'est pas mal" is part of it, not a second one.
    self_negating = span > 1 and not lang.negators.isdisjoint(tokens[i : i + span])
    roles = lang.roles
    for distance in range(min(WINDOW, i)):
        prev = tokens[i - 1 - distance]
        role = roles.get(prev)
        if role is None:
            role = lang.role(prev)
        if role is PLAIN:
            continue
        if role is STOP:
            break
        if role is NEGATE:
            negated = not self_negating
        else:
            boost = role * _BOOST_DECAY[distance]  # type: ignore[operator]
            value += boost if value > 0 else -boost
    end = i + span
    if end < n:
        nxt = tokens[end]
        if nxt in post_boosters:
            value += BOOSTER_STEP if value > 0 else -BOOSTER_STEP
        elif nxt in lang.post_negators and not negated:
            # "pas" negates the preceding word unless a sentiment word follows it
            # ("génial, pas cher": "pas" belongs to "cher").
            after = tokens[end + 1] if end + 1 < n else None
            if after is None or lang.valence(after) is None:
                negated = True
    return value, negated


def _score(doc: Doc, lang: Language) -> float:
    tokens = doc.tokens
    values, active = _token_values(tokens, lang)
    if not active:
        return 0.0
    n = len(tokens)
    valence_of = lang.valence
    phrases = lang.phrases
    boosters = lang.boosters
    contrast = lang.contrast
    post_boosters = lang.post_boosters
    mixed_case: bool | None = None
    contributions: list[float] = []
    polite: list[int] = []
    contrast_at = -1
    complaint = False
    sarcastic = False
    # "have"/"'ve" cover every counterfactual form: one C-level substring test per message.
    counterfactual_possible = lang.english and "ve" in doc.norm
    complaint_starts = COMPLAINT_STARTS
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
            elif token in SARCASM_MARKERS:
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
        value, negated = _window(tokens, i, span, value, lang)
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
        skip_to = i + span
    if not contributions:
        return 0.0
    return _combine(contributions, polite, contrast_at, sarcastic, complaint, doc, lang)


def _combine(contributions: list[float], polite: list[int], contrast_at: int,
             sarcastic: bool, complaint: bool, doc: Doc, lang: Language) -> float:
    """The message's polarity in [-1, 1] from its words' contributions: politeness in a
    complaint, declared irony, contrast weights, the English margins, "!" emphasis."""
    english = lang.english
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
    language = LANGUAGES.get(lang)
    if language is None:
        return 0.0
    return _score(doc, language)


def _view(language: Language) -> LexiconView:
    return LexiconView(language.valence, language.negators, language.boosters)


_VIEWS: Final = {"en": _view(ENGLISH), "fr": _view(FRENCH), "und": _view(ENGLISH)}


def model_inputs(doc: Doc, lang: str) -> tuple[float, LexiconView] | None:
    """What the trained model reads besides the tokens: the lexicon's polarity and its
    view of the language; None for languages without a lexicon. Shared with the training
    script so that both compute the same features."""
    language = LANGUAGES.get(lang)
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
    language = LANGUAGES.get(lang)
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
