"""Pure per-message scoring shared by the stream processors and ``brandpulse score``.

One message is prepared (normalised + tokenised) once and every analyser reads the same
:class:`~streams.core.text.Doc`, which is what keeps the whole analysis of a message within
its time budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, TypedDict

from streams.core.crisis import crisis_match, crisis_signal
from streams.core.lang import Lang, detect_lang
from streams.core.promo import is_promotional_cues, tone_cues
from streams.core.sentiment import polarity_doc
from streams.core.similarity import reply_tokens, simhash_tokens
from streams.core.text import Doc, prepare

__all__ = ["Analysis", "Score", "analyse", "score_lines", "score_text"]


class Score(TypedDict):
    """What ``brandpulse score`` prints for one message."""

    lang: Lang
    sentiment: float
    crisis_terms: list[str]
    crisis: bool  # the per-message signal the workers' crisis detectors count
    promotional: bool
    jokey: bool


class Analysis(NamedTuple):
    """Everything the stream processors need about one message, computed in one pass."""

    lang: Lang
    sentiment: float
    crisis_terms: tuple[str, ...]
    crisis_signal: bool
    promotional: bool
    jokey: bool
    simhash: int
    reply_tokens: int


def analyse(text: str | Doc) -> Analysis:
    """Language, sentiment, crisis vocabulary, promo/jokey flags and SimHash of a message."""
    doc = prepare(text)
    lang = detect_lang(doc)
    crisis = crisis_match(doc)
    strong, weak, jokey = tone_cues(doc)
    tokens = reply_tokens(doc)
    return Analysis(
        lang,
        polarity_doc(doc, lang),
        crisis.terms,
        crisis.signal,
        is_promotional_cues(strong, weak),
        jokey,
        simhash_tokens(tokens),
        len(tokens),
    )


def score_text(text: str) -> Score:
    """Score one message; sentiment is rounded to 4 decimals for stable, readable output.

    `crisis` is `streams.core.crisis.crisis_signal`, called by name: the signal the worker
    feeds its crisis detectors, whatever its definition becomes."""
    doc = prepare(text)
    lang = detect_lang(doc)
    strong, weak, jokey = tone_cues(doc)
    return {
        "lang": lang,
        "sentiment": round(polarity_doc(doc, lang), 4),
        "crisis_terms": list(crisis_match(doc).terms),
        "crisis": crisis_signal(doc),
        "promotional": is_promotional_cues(strong, weak),
        "jokey": jokey,
    }


def score_lines(lines: Iterable[str]) -> Iterator[Score]:
    """Score one message per line (trailing newline removed); one result per input line."""
    for line in lines:
        yield score_text(line.rstrip("\r\n"))
