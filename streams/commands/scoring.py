"""Pure per-message scoring shared by the stream processors and ``brandpulse score``.

One message is prepared (normalised + tokenised) once and every analyser reads the same
:class:`~streams.core.text.Doc`, which is what keeps the whole analysis of a message within
its time budget.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, TypedDict

from streams.core.behaviour import event_terms
from streams.core.crisis import crisis_match
from streams.core.crisis_expansion import (
    DEFAULT_EXPANSION,
    CrisisExpansion,
    ExpansionParams,
    expansion_inputs,
)
from streams.core.lang import Lang, detect_lang
from streams.core.promo import is_promotional_cues, tone_cues
from streams.core.sentiment import polarity_doc
from streams.core.similarity import reply_tokens, simhash_tokens
from streams.core.text import Doc, prepare

__all__ = ["ANALYSED_LANGS", "NOT_ANALYSED", "Analysis", "CrisisStream", "Score", "analyse",
           "score_lines", "score_text"]

#: The languages whose sentiment is analysed; `und` (no letters: emoji, numbers) is read by
#: the English tables. Any other language gets `lang: other` and sentiment 0.0.
ANALYSED_LANGS = ("en", "fr")
#: What `brandpulse score` adds to a text in another language, so that its 0.0 is not read
#: as a neutral opinion.
NOT_ANALYSED = ("language not analysed: only English and French are, so sentiment is 0 "
                "(--model DIR can score others)")


class Score(TypedDict):
    """What ``brandpulse score`` prints for one message."""

    lang: Lang
    sentiment: float
    crisis_terms: list[str]
    crisis: bool  # the signal the workers' crisis detectors count (stream-adaptive)
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


class CrisisStream:
    """The crisis signal of one stream read in order, as a worker computes it for one
    brand's audience: the static per-message signal, or a hashtag the stream promoted
    from it (streams/core/crisis_expansion.py). Same code path as
    `BrandBehaviour.on_audience`."""

    __slots__ = ("expansion",)

    def __init__(self, params: ExpansionParams = DEFAULT_EXPANSION) -> None:
        self.expansion = CrisisExpansion(params)

    def observe(self, doc: Doc, at: float, base: bool | None = None) -> bool:
        """Expanded signal of the next message (event time `at`); `base` is its static
        signal when already computed."""
        if base is None:
            base = crisis_match(doc).signal
        tags, key = expansion_inputs(doc, base, event_terms(doc) if base else ())
        return self.expansion.observe(at, tags, base, key)


def score_text(text: str, stream: CrisisStream | None = None, at: float = 0.0) -> Score:
    """Score one message; sentiment is rounded to 4 decimals for stable, readable output.

    `crisis` is the signal the worker feeds its crisis detectors: the static per-message
    signal (`crisis_match(doc).signal`) alone, or, given the `stream` the message belongs
    to (read in order), expanded by the hashtags that stream promoted. `brandpulse score`
    has no event time: its input is one stream at one instant (`at`), one window."""
    doc = prepare(text)
    lang = detect_lang(doc)
    strong, weak, jokey = tone_cues(doc)
    match = crisis_match(doc)
    return {
        "lang": lang,
        "sentiment": round(polarity_doc(doc, lang), 4),
        "crisis_terms": list(match.terms),
        "crisis": match.signal if stream is None else stream.observe(doc, at, match.signal),
        "promotional": is_promotional_cues(strong, weak),
        "jokey": jokey,
    }


def score_lines(lines: Iterable[str]) -> Iterator[Score]:
    """Score one message per line (trailing newline removed), in order as one stream; one
    result per input line."""
    stream = CrisisStream()
    for line in lines:
        yield score_text(line.rstrip("\r\n"), stream)
