"""Cheap English / French / other decision for short social-media messages.

Function words are the most reliable language signal in a 20-word tweet and cost one set
lookup per token, so the decision counts them: English and French function words vote for
their language, and those of other frequent Latin-script languages (es, de, it, pt, nl)
vote for "other". Accented letters typical of French add a vote. Messages with no vote
fall back on script: Latin-only text is "en" (short brand replies such as "great service"
are overwhelmingly English), text without letters (emoji only) is "en" too so that its
emoji are scored, and text whose letters are mostly non-Latin is "other".
"""

from __future__ import annotations

import re
from typing import Final, Literal

from streams.core.text import Doc, prepare

__all__ = ["LANGS", "Lang", "detect_lang"]

Lang = Literal["en", "fr", "other"]
LANGS: Final = ("en", "fr", "other")

_EN: Final = frozenset(
    "the and is are was were be been to of in it this that with for you your my me we our "
    "they them their have has had not but what when where who why how just can will would "
    "should could from at by an i'm it's don't can't i've i'll you're we're there here "
    "about all get got so if or no yes thanks thank please still been any some than then "
    "because really very out up off now only also too did does do am its him her his she he "
    "hi hey ok lol omg".split()
)
_FR: Final = frozenset(
    "le la les l' de des du d' et est un une je j' tu il elle nous vous ils elles pas "
    "que qu' qui pour dans sur avec ce c' ces cette mais ou au aux ne n' se s' sont mon ma "
    "mes ton ta tes son sa ses notre nos votre vos leur leurs tres trop plus bien merci "
    "quand comme tout tous toute rien jamais deja encore fait faire etre avoir ai suis es "
    "sommes etes ont va vais sera c'est moi toi lui y en par ca cela bonjour salut chez "
    "aussi donc alors mdr ptdr oui non vraiment nul genial chiant bof beaucoup toujours peu "
    "m' t' jusqu' meme apres avant".split()
)
# Function words of other Latin-script languages seen in brand mentions.
_OTHER: Final = (
    frozenset(
        "el los las del y que es por una con para como pero muy esta este gracias der die das "
        "und ist nicht ich mit ein eine den dem zu auf fur sie wir il lo gli della di che non "
        "sono per una questo grazie o os da do em um uma nao voce obrigado het een van ik niet "
        "dat wat voor zijn bedankt".split()
    )
    - _EN
    - _FR
)
_FRENCH_LETTERS: Final = re.compile(r"[éèêàçùâîôûëïœ]")


def detect_lang(text: str | Doc) -> Lang:
    """Return "en", "fr" or "other" for one message."""
    doc = prepare(text)
    tokens = doc.tokens
    # Distinct function words (C-level set intersections): repetition is not more evidence.
    en = len(_EN.intersection(tokens))
    fr = len(_FR.intersection(tokens))
    other = len(_OTHER.intersection(tokens))
    raw = doc.raw
    if not raw.isascii() and _FRENCH_LETTERS.search(raw.lower()) is not None:
        fr += 1
    if en == fr == other == 0:
        if not doc.tokens:
            return "other"
        return "en" if _mostly_latin(doc.norm) else "other"
    if other > en and other > fr:
        return "other"
    return "fr" if fr > en else "en"


def _mostly_latin(norm: str) -> bool:
    """True when Latin letters dominate the letters of the message."""
    if norm.isascii():
        return True
    letters = sum(1 for ch in norm if ch.isalpha())
    if letters == 0:
        return True  # emoji / punctuation only: language-neutral, scored as "en"
    latin = sum(1 for ch in norm if "a" <= ch <= "z")
    return latin * 2 >= letters
