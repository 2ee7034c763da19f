"""Cheap English / French / other / undetermined decision for short social-media messages.

Function words are the most reliable language signal in a 20-word tweet and cost one set
lookup per token, so the decision counts them: English and French function words vote for
their language; those of other frequent languages of brand mentions and crisis traffic
(Spanish, Italian, Portuguese, German, Dutch, Tagalog, Indonesian) vote for "other".
Words French shares with its Romance neighbours ("de", "la", "que", "y", "non", "il") only
count for French when no other-language word is present, so "el servicio de la empresa"
is not French. Letters French never uses (á í ó ú ñ ã õ ì ò ä ö ß ¿ ¡) vote for other;
French accented letters vote for French only without them.

No vote: a message without any letter (emoji, URLs, mentions, numbers) is "und"
(undetermined: its emoji are still scored, see sentiment); Latin-only text is "en" (short
brand replies such as "great service" are overwhelmingly English); text whose letters are
mostly non-Latin is "other". Measured against py3langid and lingua in docs/analysis.md
(bench/eval_lang.py): as accurate on English and French tweets, 5-10x cheaper.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from streams.core.text import Doc, prepare

__all__ = ["LANGS", "Lang", "detect_lang"]

Lang = Literal["en", "fr", "other", "und"]
#: The closed label set (metrics labels, persisted features): keep in step with `Lang`.
LANGS: Final = ("en", "fr", "other", "und")

_EN: Final = frozenset(
    "the and is are was were be been to of in it this that with for you your my me we our "
    "they them their have has had not but what when where who why how just can will would "
    "should could from at by an i'm it's don't can't i've i'll you're we're there here "
    "about all get got so if or no yes thanks thank please still been any some than then "
    "because really very out up off now only also too did does do am its him her his she he "
    "hi hey ok lol omg".split()
)
_FR_ALL: Final = frozenset(
    "le la les l' de des du d' et est un une je j' tu il elle nous vous ils elles pas "
    "que qu' qui pour dans sur avec ce c' ces cette mais ou au aux ne n' se s' sont mon ma "
    "mes ton ta tes son sa ses notre nos votre vos leur leurs tres trop plus bien merci "
    "quand comme tout tous toute rien jamais deja encore fait faire etre avoir ai suis es "
    "sommes etes ont va vais sera c'est moi toi lui y en par ca cela bonjour salut chez "
    "aussi donc alors mdr ptdr oui non vraiment nul genial chiant bof beaucoup toujours peu "
    "m' t' jusqu' meme apres avant svp stp".split()
)
# French function words that Spanish, Italian or Portuguese also use (accents folded).
_ROMANCE_SHARED: Final = frozenset(
    "de la le les que tu te se y en es il ma mais nos son sa ta non un une ce ou "
    "par va".split()
) & _FR_ALL
_FR: Final = _FR_ALL - _ROMANCE_SHARED
# Function words of other languages seen in brand mentions and crisis traffic (folded).
# Words that are also English words ("die", "war", "per", "come", "as"), French slang
# ("ya" for "y'a") or single letters ("e", which folds from French "é") are left out.
_OTHER: Final = (
    frozenset(
        # Spanish
        "el los las del por una con para como pero muy esta este estan gracias mi mis su "
        "sus lo al hay fue ser todo todos nada nadie porque donde cuando tambien desde "
        "hasta entre sobre tiene tienen hace les eso esto ella ellos usted estoy soy somos "
        "hoy aqui ahora gente todavia muchas muchos pueden puede esto despues "
        # Italian
        "gli della delle dei degli di che sono questo questa grazie anche ancora tutto "
        "tutti molto dopo nel nella sul sulla alla dal dalla ci ho hanno sei siamo essere "
        "stato stata piu perche cosa oggi qui adesso mio mia nostro nessuno sempre tutta tutte "
        # Portuguese
        "os da do das dos em um uma nao voce obrigado obrigada muito com pelo pela na ao "
        "aos isso isto esse essa ele ela eles tem sao foi ja ainda agora todos tudo onde "
        "meu minha nossa nossas nossos seu sua estao esta "
        # German
        "der das und ist nicht ich mit ein eine einen dem zu auf fur sie wir ihr auch noch "
        "nur schon sehr bitte danke aber oder wenn wird werden sind haben kein keine vom "
        "zum zur mein meine immer jetzt heute "
        # Dutch
        "het een van ik niet voor zijn bedankt maar ook nog heb hebben geen mijn jullie "
        "naar deze dit wordt "
        # Tagalog, Indonesian / Malay
        "ang ng mga sa ay ko mo po naman lang yung nang kay rin din ba ito hindi "
        "walang sila kami tayo yang dan di ini itu dengan untuk tidak ada dari akan".split()
    )
    - _EN
    - _FR_ALL
)
_FRENCH_LETTERS: Final = re.compile(r"[éèêàçùâîôûëïœ]")
# Latin letters and marks that French spelling never uses; not when followed by a
# U+0080-U+00BF character: "Ã©" is "é" decoded as Latin-1 (mojibake), not Portuguese.
# Italian "è" ("is") standing alone is no French word either.
_NON_FRENCH_LETTERS: Final = re.compile(r"[áíóúñãõìòäößåø¿¡](?![\u0080-\u00bf])|(?<!\w)è(?!\w)")


def detect_lang(text: str | Doc) -> Lang:
    """Return "en", "fr", "other" or "und" (no letter to judge by) for one message."""
    doc = prepare(text)
    tokens = doc.tokens
    # Distinct function words (C-level set intersections): repetition is not more evidence.
    en = len(_EN.intersection(tokens))
    fr = len(_FR.intersection(tokens))
    other = len(_OTHER.intersection(tokens))
    raw = doc.raw
    if not raw.isascii() and _NON_FRENCH_LETTERS.search(raw.lower()) is not None:
        other += 1
    if other == 0:
        fr += len(_ROMANCE_SHARED.intersection(tokens))
        if not raw.isascii() and _FRENCH_LETTERS.search(raw.lower()) is not None:
            fr += 1
    if en == fr == other == 0:
        return _by_script(doc)
    if other > en and other > fr:
        return "other"
    return "fr" if fr > en else "en"


def _by_script(doc: Doc) -> Lang:
    """Decision without any vote: no letters -> und, mostly Latin -> en, else other."""
    latin = letters = 0
    for token in doc.tokens:
        if token[0] in "@#" or token.startswith(("http", "www.")):
            if token[0] != "#":
                continue  # addressees and links say nothing of the language
            token = token[1:]
        for ch in token:
            if ch.isalpha():
                letters += 1
                latin += "a" <= ch <= "z"
    if letters == 0:
        return "und"
    return "en" if latin * 2 >= letters else "other"
