"""Shared normalisation and tokenisation for every analyser.

One message is normalised and tokenised exactly once (:func:`prepare`), and the resulting
:class:`Doc` is handed to each analyser, so that the whole per-message analysis stays within
its time budget. Normalisation lowercases, folds accents (French tweets often drop them, so
lexicons are keyed accent-free) and unifies apostrophes; tokenisation keeps URLs, @mentions,
#hashtags, emoticons, emoji and clause punctuation as single tokens because each of them
means something to at least one analyser.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Final

#: The lexicons and vocabularies shipped with the package (see streams/data/NOTICE.md).
DATA_DIR: Final = Path(__file__).resolve().parent.parent / "data"

__all__ = [
    "BOUNDARY_TOKENS",
    "DATA_DIR",
    "STOPWORDS",
    "STOPWORDS_EN",
    "STOPWORDS_FR",
    "Doc",
    "clean",
    "content_tokens",
    "fold",
    "is_emoji",
    "prepare",
    "strip_accents",
    "tokenize",
    "word_tokens",
]


def _build_fold_table() -> dict[int, str | None]:
    """Map accented Latin letters to their base letter and typographic quotes to ASCII.

    Built once from Unicode decomposition so that folding a message is a single C-level
    ``str.translate`` call instead of a per-character NFKD pass.
    """
    table: dict[int, str | None] = {}
    for cp in range(0x00C0, 0x0250):
        ch = chr(cp)
        base = "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))
        if base and base != ch and base.isascii():
            table[cp] = base
    table.update(
        {
            ord("œ"): "oe",
            ord("Œ"): "oe",
            ord("æ"): "ae",
            ord("Æ"): "ae",
            ord("ß"): "ss",
            0x2019: "'",  # right single quotation mark, the usual tweet apostrophe
            0x2018: "'",
            0x02BC: "'",
            0x00B4: "'",
            0x0060: "'",
            0xFE0F: None,  # emoji variation selector: irrelevant for lookups
            0x200D: " ",  # zero-width joiner: split emoji sequences into their parts
        }
    )
    return table


_FOLD_TABLE: Final = _build_fold_table()


def _invisible_class() -> str:
    """A regex class of the characters a reader does not see: Unicode format characters
    (zero-width spaces and joiners, soft hyphen, bidi marks, BOM, tag characters) and
    control characters other than whitespace. Inside a word they hide it from every cue
    ("30%\u200b off", "o\u00adff"), so they are removed before anything reads the text."""
    ranges: list[tuple[int, int]] = []
    for cp in [*range(0x0, 0x20000), *range(0xE0000, 0xE0080)]:
        ch = chr(cp)
        category = unicodedata.category(ch)
        if category == "Cf" or (category == "Cc" and not ch.isspace()):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\U{a:08x}" if a == b else f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges)


_INVISIBLE_RE: Final = re.compile(f"[{_invisible_class()}]")
_ASCII_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")


def clean(text: str) -> str:
    """Unicode NFKC (full-width, mathematical and ligature letters become plain ones) and
    no invisible characters: what a person reads, so that no cue can be dodged by spelling
    it with look-alikes or hiding characters. Plain ASCII without control characters (most
    messages) costs two C-level checks."""
    if text.isascii():
        return _ASCII_CONTROL_RE.sub("", text) if _ASCII_CONTROL_RE.search(text) else text
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE_RE.sub("", text)

# Emoji: pictographs, dingbats, misc symbols, flags' regional indicators.
_EMOJI_CLASS: Final = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff"

_TOKEN_RE: Final = re.compile(
    r"https?://\S+|www\.\S+"  # URL
    r"|[@#]\w+"  # @mention, #hashtag
    r"|(?:qu|jusqu|lorsqu|puisqu|[ljndmtsc])'(?=\w)"  # French elision: l' j' n' qu' ...
    r"|\w+(?:'\w+)*"  # word, keeping English contractions (don't, isn't) whole
    r"|<3|</3|[:;=](?<![\w:/][:;=])[-'^]?[()\[\]dpo/\\|*3@$s]+|[()\]][-^]?[:;=]|\^_*\^|-_-|;_;|\\o/"
    r"|[!?.,;]+"  # clause punctuation (negation scope ends there)
    rf"|[{_EMOJI_CLASS}]"
)

_EMOJI_RE: Final = re.compile(rf"[{_EMOJI_CLASS}]")

#: First characters of punctuation tokens, which end a clause: negation and intensifier
#: windows do not cross them.
BOUNDARY_TOKENS: Final = frozenset({".", ",", ";", "!", "?"})


def fold(text: str) -> str:
    """Lowercase, drop accents and unify apostrophes: the key space of every lexicon."""
    low = text.lower()
    # str.isascii() is O(1) in CPython: skip the translate pass for plain-ASCII messages.
    return low if low.isascii() else low.translate(_FOLD_TABLE)


def strip_accents(text: str) -> str:
    """Drop accents but keep case, for display-preserving matching."""
    return text.translate(_FOLD_TABLE)


def is_emoji(token: str) -> bool:
    """True for a single emoji code point token."""
    return len(token) == 1 and _EMOJI_RE.match(token) is not None


class Doc:
    """A message normalised and tokenised once, shared by all analysers.

    ``raw`` is the original text (needed for case-based emphasis), ``norm`` the folded
    text and ``tokens`` the folded tokens in order.
    """

    __slots__ = ("norm", "raw", "tokens")

    def __init__(self, raw: str, norm: str, tokens: list[str]) -> None:
        self.raw = raw
        self.norm = norm
        self.tokens = tokens

    def __repr__(self) -> str:
        return f"Doc({self.raw[:40]!r}, tokens={len(self.tokens)})"


def prepare(text: str | Doc) -> Doc:
    """Normalise (:func:`clean`, then :func:`fold`) and tokenise ``text`` (idempotent on a
    :class:`Doc`); ``raw`` keeps the cleaned text, case included.

    A punctuation run such as ``"!!!"`` is one token (starting with a boundary character);
    the number of ``!`` is read from ``norm`` when needed.
    """
    if isinstance(text, Doc):
        return text
    if not isinstance(text, str):
        text = str(text)
    text = clean(text)
    norm = fold(text)
    return Doc(text, norm, tokenize(norm))


#: Tokens of the non-alphabetic chunks seen ("@amazonhelp", "it's", "thanks!"), which repeat
#: across messages; links, unique to their message, are not kept. Cleared past this many
#: spellings (bounded memory: a few MB).
_CHUNK_MEMO: dict[str, tuple[str, ...]] = {}
_CHUNK_MEMO_LIMIT: Final = 50_000


def tokenize(norm: str) -> list[str]:
    """Tokens of a folded text; same result as ``_TOKEN_RE.findall(norm)``, ~40 % faster.

    No token spans whitespace, and a purely alphanumeric chunk is always one word token, so
    the regex only runs on the chunks that contain punctuation or symbols, once per
    spelling (memoised: the tokens of a chunk never depend on its neighbours).
    """
    out: list[str] = []
    append = out.append
    extend = out.extend
    memo = _CHUNK_MEMO
    get = memo.get
    for chunk in norm.split():
        # An alphanumeric chunk is one `\w+` token (`\w` is exactly str.isalnum): words and
        # numbers ("12345", whose spellings rarely repeat and would churn the memo).
        if chunk.isalnum():
            append(chunk)
            continue
        tokens = get(chunk)
        if tokens is None:
            found = _TOKEN_RE.findall(chunk)
            if chunk.startswith(("http", "www.")):
                extend(found)
                continue
            if len(memo) >= _CHUNK_MEMO_LIMIT:
                memo.clear()
            tokens = memo[chunk] = tuple(found)
        extend(tokens)
    return out


def word_tokens(doc: Doc) -> list[str]:
    """Tokens that are words or hashtag bodies (no URLs, mentions, emoji or punctuation).

    Hashtags count as their word so that ``#sandy`` and ``sandy`` are the same term.
    """
    out: list[str] = []
    append = out.append
    for tok in doc.tokens:
        first = tok[0]
        if first == "#":
            if len(tok) > 1:
                append(tok[1:])
        elif first.isalnum() or first == "_":
            if tok.startswith(("http", "www.")) and ("/" in tok or "." in tok):
                continue
            append(tok)
    return out


#: English function words (folded), for topic profiles and content-word matching.
STOPWORDS_EN: Final = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further get gets got had hadn't has
    hasn't have haven't having he he'd he'll he's her here here's hers herself him himself his
    how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's me more
    most mustn't my myself no nor not now of off on once only or other ought our ours
    ourselves out over own same shan't she she'd she'll she's should shouldn't so some such
    than that that's the their theirs them themselves then there there's these they they'd
    they'll they're they've this those through to too under until up very was wasn't we we'd
    we'll we're we've were weren't what what's when when's where where's which while who
    who's whom why why's will with won't would wouldn't you you'd you'll you're you've your
    yours yourself yourselves also im its dont cant us via rt amp like one still even really
    would could new know go going see need think make want today day time back u ur""".split()
)
#: French function words (folded, elided forms included), same purpose.
STOPWORDS_FR: Final = frozenset(
    """a ai aie aient aies ait alors as au aucun aucune aupres aussi autre autres aux avaient
    avais avait avant avec avez aviez avions avoir avons ayant c' ca car ce ceci cela celle
    celles celui ces cet cette ceux chaque chez comme comment d' dans de des deja depuis donc
    dont du elle elles en encore entre es est et etaient etais etait etant ete etes etre eu eux
    fait faire fais font il ils j' je jusqu' l' la le les leur leurs lui m' ma mais me meme mes
    moi mon n' ne ni nos notre nous on ont ou par parce pas pendant peu peut plus pour
    pourquoi qu' quand que quel quelle quelles quels qui quoi s' sa sans se ses si sien son
    sont sous suis sur t' ta te tes toi ton tous tout toute toutes tres trop tu un une vers
    vos votre vous y lorsqu' puisqu' ici la-bas cest jai ya va vais faut bien aussi apres
    tjrs toujours fois rien ceux cela quoi oui non""".split()
)
STOPWORDS: Final = STOPWORDS_EN | STOPWORDS_FR


def content_tokens(doc: Doc) -> list[str]:
    """Word tokens minus English and French function words, digits and 1-letter tokens."""
    return [t for t in word_tokens(doc) if len(t) > 1 and t not in STOPWORDS and not t.isdigit()]
