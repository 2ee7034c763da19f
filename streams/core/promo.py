"""Promotional and jokey post detection, and the tone-deaf ("psychopath") reason.

A brand that keeps selling or joking while a crisis unfolds, or that rides a crisis hashtag
to push a product, is tone-deaf. Detection is pattern based on folded text (English and
French): *strong* cues (a discount figure, a promo code, "shop now", "livraison offerte")
are enough alone; *weak* cues ("sale", "offer", "nouvelle collection") need a second cue,
so that customer-care replies mentioning an order or an error code are not promotional.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from streams.core.crisis import DeclaredCrisis
from streams.core.text import Doc, prepare

__all__ = [
    "ToneDeafReason",
    "ToneVerdict",
    "is_jokey",
    "is_promotional",
    "is_promotional_cues",
    "promo_score",
    "tone_cues",
    "tone_deaf_reason",
    "tone_verdict",
]


def _phrases(spec: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Index "a b c | d e" phrases by first token (tokenised exactly like messages)."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for phrase in spec.split("|"):
        toks = tuple(prepare(phrase).tokens)
        if toks:
            index.setdefault(toks[0], []).append(toks[1:])
    return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in index.items()}


# Strong cues: one is enough. Phrases are token sequences after folding.
_STRONG_PROMO: Final = _phrases(
    "promo code|promo codes|discount code|coupon code|voucher code|gift code|code promo"
    "|codes promo|code reduc|code de reduction|code avantage|shop now|shop today|shop online"
    "|shop the sale|shop the collection|shop the look|shop our|buy now|buy today|order now"
    "|order today|book now|get yours|grab yours|free shipping|free delivery|flash sale"
    "|clearance sale|summer sale|winter sale|spring sale|holiday sale|storm sale"
    "|black friday|cyber monday|bogo|buy one get one|deal of the day|limited time offer"
    "|limited time only|soldes|vente flash|ventes flash|vente privee|ventes privees"
    "|livraison offerte|livraison gratuite|frais de port offerts|frais de port offert"
    "|bon plan|bons plans|offre speciale|offres speciales|profitez de|profitez des"
    "|profitez du|profitez vite|a saisir|commandez vite|commandez des|commandez maintenant"
    "|commandez sur|achetez|en promo|en promotion|use code|using code|enter code"
    "|utilisez le code|avec le code|perfect time to shop|treat yourself"
)
_WEAK_PROMO: Final = _phrases(
    "sale|sales|discount|discounts|deal|deals|offer|offers|promo|promos|promotion|coupon"
    "|coupons|free|gratuit|gratuite|offert|offerte|reduction|reductions|remise|remises"
    "|new collection|new arrivals|new arrival|new range|new line|new season|new flavour"
    "|new flavor|now available|available online|available now|nouvelle collection"
    "|nouveaute|disponible en ligne|disponible des maintenant|in store|in stores"
    "|online store|en magasin|shop|boutique|today only|collection|check out our|decouvrez"
    "|link in bio|faites vous plaisir|on us|exclusive|exclusif"
)
_DISCOUNT_RE: Final = re.compile(
    r"(?<![\w.])-\s?\d{1,2}\s?%|\b\d{1,2}\s?%\s?(?:off|de\s+(?:remise|reduction)|discount)\b"
    r"|\b(?:save|economisez)\s+(?:\$|€|£)?\s?\d+"
)
_PRICE_RE: Final = re.compile(r"[$£]\s?\d|\d\s?(?:€|eur\b)")

_LAUGHTER: Final = frozenset(
    "lol lols lolz lool loool lmao lmfao rofl roflmao jk mdr ptdr xptdr mdrr mdrrr xd jpp "
    "joke jokes punchline blague blagues funny".split()
)
_LAUGH_PREFIXES: Final = ("haha", "hehe", "hihi", "hahe", "ahah", "mdrr", "ptdrr", "lmao")
_LAUGH_EMOJI: Final = frozenset(
    "\U0001f602\U0001f923\U0001f606\U0001f639\U0001f61c\U0001f61d\U0001f61b\U0001f92a"
    "\U0001f609\U0001f60f\U0001f643"
)
_WINKS: Final = frozenset({";)", ";-)", ";p", ";-p", ":p", ":-p"})
_JOKE_TAG_RE: Final = re.compile(r"#(?:funny|humou?r|joke|lol|blague|mdr|pun)")
_JOKE_PHRASES: Final = _phrases(
    "just kidding|pun intended|no pun|knock knock|je plaisante|on rigole|must be our"
    "|must be the|clearly about|clearly because|rumor is|rumour is|rumor has it"
    "|rumour has it|word is|who knew|on s'ennuie|c'est pour rire"
)
#: Hooks that turn a situation into a sales joke when followed by a question mark.
_HOOKS: Final = frozenset({"bored", "stuck", "marre", "ennuie", "ennuyez", "coince", "coinces"})
_HOOK_WINDOW: Final = 10


#: Vocabulary of posts that address a crisis appropriately (sympathy, safety, help).
_SUPPORTIVE: Final = re.compile(
    r"""
    \b(?:thoughts|prayers|praying|condolences|sympathy|sympathies|stay\s+safe|be\s+safe|safety
    |donat\w*|relief|support\w*|victims|affected|families|hearts?\s+go|with\s+you|solidarity
    |closed|closure|shelter|emergency|red\s*cross|volunteer\w*|rebuild\w*|help\s+those
    |pensees|soutien|solidarite|victimes|prudence|soyez\s+prudents|dons?|secours|fermes?
    |condoleances|courage\s+a|hommage|recueillement)\b
    """,
    re.VERBOSE,
)


# One index for the three phrase families: first token -> ((rest, kind), ...).
_CUE_INDEX: Final = {
    first: tuple(
        (rest, kind)
        for kind, index in (
            ("strong", _STRONG_PROMO),
            ("weak", _WEAK_PROMO),
            ("joke", _JOKE_PHRASES),
        )
        for rest in index.get(first, ())
    )
    for first in set(_STRONG_PROMO) | set(_WEAK_PROMO) | set(_JOKE_PHRASES)
}
_SINGLE_JOKE_TOKENS: Final = _LAUGHTER | _LAUGH_EMOJI | _WINKS
_CUE_TOKENS: Final = frozenset(_CUE_INDEX) | _SINGLE_JOKE_TOKENS | _HOOKS


def tone_cues(text: str | Doc) -> tuple[int, int, bool]:
    """(strong promo cues, weak promo cues, jokey) in one pass over the tokens.

    Most messages contain none of the cue words, which one C-level set test detects.
    """
    return _scan(prepare(text), None)


def _scan(doc: Doc, words: list[tuple[str, str]] | None) -> tuple[int, int, bool]:
    """The cue scan behind `tone_cues`; appends (kind, trigger words) to `words` when given,
    so that the pre-publish check can say what triggered a cue (same code, same counts)."""
    tokens = doc.tokens
    norm = doc.norm
    strong = weak = 0
    jokey = False
    present = _CUE_TOKENS.intersection(tokens)
    if present:
        n = len(tokens)
        for i, tok in enumerate(tokens):
            if tok not in present:
                continue
            if tok in _SINGLE_JOKE_TOKENS or (
                tok in _HOOKS and any(t[0] == "?" for t in tokens[i + 1 : i + 1 + _HOOK_WINDOW])
            ):
                jokey = True
                if words is not None:
                    words.append(("joke", tok if tok not in _HOOKS else f"{tok} …?"))
            options = _CUE_INDEX.get(tok)
            if options is None:
                continue
            seen: set[str] = set()
            for rest, kind in options:
                if kind in seen:
                    continue
                k = len(rest)
                if not k or (i + k < n and tuple(tokens[i + 1 : i + 1 + k]) == rest):
                    seen.add(kind)
                    if kind == "strong":
                        strong += 1
                    elif kind == "weak":
                        weak += 1
                    else:
                        jokey = True
                    if words is not None:
                        words.append((kind, " ".join((tok, *rest))))
    if ("%" in norm or "sav" in norm or "econom" in norm) and (
            m := _DISCOUNT_RE.search(norm)) is not None:
        strong += 1
        if words is not None:
            words.append(("strong", m.group(0).strip()))
    if ("$" in norm or "£" in norm or "€" in norm or "eur" in norm) and (
            m := _PRICE_RE.search(norm)) is not None:
        weak += 1
        if words is not None:
            words.append(("weak", "price " + m.group(0).strip()))
    if not jokey:
        if "#" in norm and (m := _JOKE_TAG_RE.search(norm)) is not None:
            jokey = True
            if words is not None:
                words.append(("joke", m.group(0)))
        elif (
            "haha" in norm
            or "hehe" in norm
            or "hihi" in norm
            or "ahah" in norm
            or "lmao" in norm
            or "mdrr" in norm
            or "ptdrr" in norm
        ):
            laughs = [tok for tok in tokens if tok.startswith(_LAUGH_PREFIXES)]
            jokey = bool(laughs)
            if words is not None and laughs:
                words.append(("joke", laughs[0]))
    return strong, weak, jokey


def is_promotional_cues(strong: int, weak: int) -> bool:
    """THE promotional rule, the only place it is written: one strong cue (a discount, a
    code, a call to buy) or two weak ones (so a care reply mentioning "an order" is not)."""
    return strong > 0 or weak >= 2


def promo_score(text: str | Doc) -> tuple[int, int]:
    """(strong, weak) promotional cue counts; see :func:`is_promotional`."""
    strong, weak, _ = tone_cues(text)
    return strong, weak


def is_promotional(text: str | Doc) -> bool:
    """True for selling posts: one strong cue (discount, code, call to buy), or two weak."""
    strong, weak, _ = tone_cues(text)
    return is_promotional_cues(strong, weak)


def is_jokey(text: str | Doc) -> bool:
    """True for posts that joke: laughter tokens/emoji, puns, winks, "bored? ..." hooks."""
    return tone_cues(text)[2]


class ToneDeafReason(StrEnum):
    """Why a post is tone-deaf; the values are the `reason` label of
    brandpulse_tone_deaf_posts_total (bounded, stable)."""

    PROMOTIONAL_IN_CRISIS = "promotional_in_crisis"
    JOKEY_IN_CRISIS = "jokey_in_crisis"
    HASHTAG_HIJACK = "hashtag_hijack"


@dataclass(frozen=True, slots=True)
class ToneVerdict:
    """The one decision on a post's tone against the crises that apply to it, shared by the
    live detector (streams/core/behaviour.py) and the pre-publish check (core/check.py).

    ``crisis`` is the crisis the post offends (the hijacked one, else the first active one);
    ``hit`` the crisis hashtag or keyword the post uses; ``promo_words``/``joke_words`` the
    words that triggered the cues (filled only when asked for, see `tone_verdict`).
    """

    reason: ToneDeafReason | None
    crisis: DeclaredCrisis | None
    hit: str | None
    promotional: bool
    jokey: bool
    supportive: bool
    explanation: str | None
    promo_words: tuple[str, ...] = ()
    joke_words: tuple[str, ...] = ()

    @property
    def tone_deaf(self) -> bool:
        return self.reason is not None


def tone_verdict(
    text: str | Doc,
    crises: Sequence[DeclaredCrisis],
    at: float | None = None,
    hashtags: Iterable[str] = (),
    *,
    words: bool = False,
) -> ToneVerdict:
    """Decide once whether a brand post is tone-deaf during ``crises``.

    * Hashtag/keyword hijacking: the post uses a hashtag or keyword of an active crisis and
      is promotional, jokey or simply not about the crisis (no supportive vocabulary).
    * Business as usual: the post is promotional or jokey while a crisis is active
      (promotional wins when it is both).

    ``at`` (event time) filters the crises by their start/end when given; ``hashtags`` are
    the post's own hashtag field, if any. ``words=True`` also collects the trigger words
    (the check shows them; the live path skips that work).
    """
    doc = prepare(text)
    found: list[tuple[str, str]] | None = [] if words else None
    strong, weak, jokey = _scan(doc, found)
    promotional = is_promotional_cues(strong, weak)
    supportive = _SUPPORTIVE.search(doc.norm) is not None
    promo_words = tuple(dict.fromkeys(w for k, w in found or () if k != "joke"))
    joke_words = tuple(dict.fromkeys(w for k, w in found or () if k == "joke"))

    def verdict(reason: ToneDeafReason | None, crisis: DeclaredCrisis | None = None,
                hit: str | None = None, explanation: str | None = None) -> ToneVerdict:
        return ToneVerdict(reason, crisis, hit, promotional, jokey, supportive, explanation,
                           promo_words, joke_words)

    active = [c for c in crises if c.is_active(at)]
    if not active:
        return verdict(None)
    kind = ("promotional and jokey" if promotional and jokey else "promotional"
            if promotional else "jokey" if jokey else None)
    tags = list(hashtags)
    for crisis in active:
        hit = crisis.matched_by(doc, tags)
        if hit is None:
            continue
        if kind is not None:
            return verdict(ToneDeafReason.HASHTAG_HIJACK, crisis, hit,
                           f"{kind} post rides {hit} of the active crisis '{crisis.name}'")
        if not supportive:
            return verdict(ToneDeafReason.HASHTAG_HIJACK, crisis, hit,
                           f"post rides {hit} of the active crisis '{crisis.name}' "
                           "without addressing it (hashtag hijacking)")
    if kind is None:
        return verdict(None)
    reason = (ToneDeafReason.PROMOTIONAL_IN_CRISIS if promotional
              else ToneDeafReason.JOKEY_IN_CRISIS)
    return verdict(reason, active[0], None,
                   f"{kind} post published during the active crisis '{active[0].name}'")


def tone_deaf_reason(
    post_text: str | Doc,
    post_hashtags: Iterable[str],
    active_crises: Sequence[DeclaredCrisis],
    at: float | None = None,
) -> str | None:
    """Human-readable reason why a brand post is tone-deaf, or None (see `tone_verdict`)."""
    return tone_verdict(post_text, active_crises, at, post_hashtags).explanation
