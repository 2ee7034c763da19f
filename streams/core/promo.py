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
    "figurative_hit",
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
    # calls to buy and product suggestions: "may we suggest: cranberry scones!"
    "|may we suggest|we suggest|what better way|perfect time to|perfect excuse to"
    "|don't forget to order|don't forget to shop|don't forget to buy|dont forget to order"
    "|order your favourite|order your favorite|stock up now|while supplies last"
    "|while they last|storm our site|shop from home|shop from your couch|shop online today"
    "|n'oubliez pas de commander"
    # a disaster turned into engagement for the brand: "for every retweet, we give $1"
    "|for every retweet|for every rt|for each retweet|every retweet|per retweet"
    "|for every like|for every share|pour chaque retweet|pour chaque partage"
)
_WEAK_PROMO: Final = _phrases(
    "sale|sales|discount|discounts|deal|deals|offer|offers|promo|promos|promotion|coupon"
    "|coupons|free|gratuit|gratuite|offert|offerte|reduction|reductions|remise|remises"
    "|new collection|new arrivals|new arrival|new range|new line|new season|new flavour"
    "|new flavor|now available|available online|available now|nouvelle collection"
    "|nouveaute|disponible en ligne|disponible des maintenant|in store|in stores"
    "|online store|en magasin|shop|boutique|today only|collection|check out our|decouvrez"
    "|link in bio|faites vous plaisir|on us|exclusive|exclusif"
    "|shopping|special|specials|happy hour|stock up|menu|recipe|recipes"
    "|we could all use|try our|bargain|bargains|registration|discounted"
    "|orders over"
)
_DISCOUNT_RE: Final = re.compile(
    r"(?<![\w.])-\s?\d{1,2}\s?%|\b\d{1,2}\s?%\s?(?:off|de\s+(?:remise|reduction)|discount)\b"
    r"|\b(?:save|economisez)\s+(?:\$|€|£)?\s?\d+"
)
_PRICE_RE: Final = re.compile(r"[$£]\s?\d|\d\s?(?:€|eur\b)")
#: Multi-buy and price offers ("buy one get one", "2 for $5", "any size for twin price",
#: "just $9.11"), shop hashtags (#ShopYourWay, #StormSale) and a code to type at checkout:
#: each one is an offer alone.
_OFFER_RE: Final = re.compile(
    r"\b(?:buy|get)\s+(?:one|two|three|\d)\b[^.!?]{0,24}?\bget\s+(?:one|two|a|an|\d)"
    r"|\b(?:two|three|four|[2-9])\s+for\s+(?:one|two|three|[1-9]\b|[$£€]\s?\d)"
    r"|\bbogo\b|\bb[1-3]g[1-3]\b|\bsecond\s+(?:one\s+)?(?:free|half[- ]price)"
    r"|\bhalf[- ]price\b|\bfor\s+(?:the\s+)?(?:price\s+of\s+(?:a|an|one)\b|\w+\s+price\b)"
    r"|\b(?:just|only|from)\s+[$£€]\s?\d|[$£€]\s?\d+(?:[.,]\d\d)?\s+each\b"
    r"|\d\s?\+\s?\d+\s?=\s?\d+\s?%|#shop\w*|#\w+sale\b|#\w+deals?\b"
    r"|\benter\s+\S+\s+at\s+checkout|\bcodes?\s*:?\s+[a-z]*\d*[a-z]+\d*\s+at\s+checkout"
)
#: A code in capitals ("code ALLSOGGY", "SANDYSALE at checkout"), read on the raw text.
_CODE_RE: Final = re.compile(r"\b(?:[Cc]ode|CODE)\s*:?\s+[A-Z][A-Z0-9]{3,}\b"
                             r"|\b[A-Z][A-Z0-9]{3,}\s+at\s+checkout\b")
#: The brand's own shop as a link ("Gap.com shopping"): a weak cue.
_SHOP_LINK_RE: Final = re.compile(r"(?<![@/\w])[a-z0-9-]{2,}\.(?:com|co\.uk|fr|shop|store)\b")

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
    |condoleances|courage\s+a|hommage|recueillement
    |apologi[sz]\w*|sorry|remember\w*|never\s+forget|honou?r\s+(?:the|those)|heroes
    |moment\s+of\s+silence|respect|paus\w+|postpon\w*|cancel\w*|evacuat\w*|reopen\w*
    |open(?:s|ed)?\s+(?:at|until|as|for|today|tomorrow)|hours|charging|drinking\s+water
    |waiv\w*|fees?|refund\w*|rebook\w*|hotline|love\s+you|strong|keep\s+safe
    |excuses|desolee?s?|rouvert\w*|annul\w*)\b
    """,
    re.VERBOSE,
)


#: Figurative uses of a hazard, by family (streams/core/crisis.py HAZARD_ROOTS): in that
#: crisis they pun on it ("this storm blows", "hot deals", "shake up your look").
_FIGURATIVE: Final = {
    family: re.compile(pattern) for family, pattern in {
        "storm": r"\bstorm\s+(?:of|our|the|your|in)\b|\bby\s+storm\b|\bperfect\s+storm\b"
                 r"|\bstorm[ys]?\s+(?:sale|deals?|savings?|prices?|offers?)\b|\bblows\b"
                 r"|\bblown\s+away\b|\bwhirlwind\b|\bweather\s+the\b|\bwindfall\b"
                 r"|\bfrankenstorm\b|\bstormy\b|\bbrainstorm\w*",
        "flood": r"\bflood\s+of\b|\bflooded\s+with\b|\bwaves?\s+of\s+(?:deals|savings|offers)"
                 r"|\bmaking\s+waves\b|\bdrown(?:ing)?\s+in\b|\bmake\s+a\s+splash\b"
                 r"|\ball\s*soggy\b|\bsoak\s+up\b|\bdive\s+in(?:to)?\b|\bmake\s+waves\b",
        "fire": r"\bhot\s+(?:deals?|prices?|offers?|sale|buys?|items?)\b|\bfire\s+sale\b"
                r"|\bon\s+fire\b|\bblazing\b|\bsizzling\b|\bhottest\b|\bred[- ]hot\b"
                r"|\bsmoking\s+hot\b|\bburn(?:ing)?\s+(?:deals?|prices?)\b|\bignite\b",
        "quake": r"\bshak(?:e|ing)\s+(?:up|things\s+up|it\s+up)\b|\bearth[- ]?shattering\b"
                 r"|\bground[- ]?breaking\b|\brock\s+(?:your|the)\b|\bshock(?:ing)?\s+"
                 r"(?:deals?|prices?)\b|\bmove\s+the\s+earth\b|\bshake\s+your\b",
        "blast": r"\bblast\b|\bexplosive\b|\b(?:the|da)\s+bomb\b|\bbombshell\b"
                 r"|\bblow(?:n)?\s+up\b|\bboom\b|\bdynamite\b|\bkiller\s+(?:deals?|prices?"
                 r"|offers?|look)\b",
        "shooting": r"\bshooters?\b|\btake\s+a\s+shot\b|\bbig\s+shots?\b|\bto\s+die\s+for\b"
                    r"|\bbang\s+for\b|\bsharpshoot\w*|\btrigger\s+happy\b",
    }.items()
}


def figurative_hit(doc: Doc, crisis: DeclaredCrisis) -> str | None:
    """The figurative use of `crisis`' hazard in the post, or None."""
    hits = [m for family in crisis.hazard_families
            if (m := _FIGURATIVE[family].search(doc.norm)) is not None]
    return min(hits, key=lambda m: m.start()).group(0) if hits else None


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
    for regex, text, kind in ((_OFFER_RE, norm, "strong"), (_CODE_RE, doc.raw, "strong"),
                              (_SHOP_LINK_RE, norm, "weak")):
        if (m := regex.search(text)) is not None:
            if kind == "strong":
                strong += 1
            else:
                weak += 1
            if words is not None:
                words.append((kind, m.group(0).strip()))
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


def is_promotional_cues(strong: int, weak: int, supportive: bool = False) -> bool:
    """THE promotional rule, the only place it is written: one strong cue (a discount, a
    code, a call to buy) or two weak ones (so a care reply mentioning "an order" is not),
    unless the post is supportive ("free charging and free water at our stores")."""
    return strong > 0 or (weak >= 2 and not supportive)


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
    post: str = "post",
) -> ToneVerdict:
    """Decide once whether a brand post is tone-deaf during ``crises``, reading the
    situation: what the post says, and what each crisis is about.

    * Touching a crisis: its hashtags or keywords (a detected crisis: the hashtags and
      hazard words its audience uses), its places and names, or a figurative use of its
      hazard ("this storm blows" in a hurricane). A post that touches it is tone-deaf
      (`hashtag_hijack`) when it also sells (any cue, even one deal word, unless it is
      supportive), jokes or puns; or when it uses a hashtag or keyword without addressing
      the crisis at all (no supportive vocabulary).
    * Business as usual: promotional or jokey while a crisis is active (promotional wins
      when it is both). Supportive posts (safety, closures, donations, condolences,
      pausing) stay ok when they name the crisis.

    ``at`` (event time) filters the crises by their start/end when given; ``hashtags`` are
    the post's own hashtag field, if any. ``words=True`` also collects the trigger words
    (the check shows them; the live path skips that work). ``post`` names the post in the
    explanation ("draft" for the check).
    """
    doc = prepare(text)
    found: list[tuple[str, str]] | None = [] if words else None
    strong, weak, jokey = _scan(doc, found)
    supportive = _SUPPORTIVE.search(doc.norm) is not None
    promotional = is_promotional_cues(strong, weak, supportive)
    promo_words = tuple(dict.fromkeys(w for k, w in found or () if k != "joke"))
    joke_words = tuple(dict.fromkeys(w for k, w in found or () if k == "joke"))

    def verdict(reason: ToneDeafReason | None, crisis: DeclaredCrisis | None = None,
                hit: str | None = None, explanation: str | None = None,
                pun: str | None = None) -> ToneVerdict:
        jokes = joke_words + ((pun,) if pun is not None and words else ())
        return ToneVerdict(reason, crisis, hit, promotional, jokey or pun is not None,
                           supportive, explanation, promo_words, jokes)

    active = [c for c in crises if c.is_active(at)]
    if not active:
        return verdict(None)
    tags = list(hashtags)
    sells = strong > 0 or (weak > 0 and (not supportive or weak >= 2))
    for crisis in active:
        hit = crisis.matched_by(doc, tags)
        strict = hit is not None
        if hit is None:
            hit = crisis.place_hit(doc)
        pun = None if supportive else figurative_hit(doc, crisis)
        if hit is None and pun is None:
            continue
        kind = _kind(sells, jokey or pun is not None)
        if kind is not None:
            touch = hit if hit is not None else f"'{pun}'"
            return verdict(ToneDeafReason.HASHTAG_HIJACK, crisis, hit or pun,
                           f"{kind} {post} rides {touch} of the active {crisis.shown}", pun)
        if strict and not supportive:
            return verdict(ToneDeafReason.HASHTAG_HIJACK, crisis, hit,
                           f"{post} rides {hit} of the active {crisis.shown} "
                           "without addressing it (hashtag hijacking)")
    kind = _kind(promotional, jokey)
    if kind is None:
        return verdict(None)
    reason = (ToneDeafReason.PROMOTIONAL_IN_CRISIS if promotional
              else ToneDeafReason.JOKEY_IN_CRISIS)
    during = "during" if post == "draft" else "published during"
    return verdict(reason, active[0], None,
                   f"{kind} {post} {during} the active {active[0].shown}")


def _kind(promotional: bool, jokey: bool) -> str | None:
    return ("promotional and jokey" if promotional and jokey else "promotional"
            if promotional else "jokey" if jokey else None)


def tone_deaf_reason(
    post_text: str | Doc,
    post_hashtags: Iterable[str],
    active_crises: Sequence[DeclaredCrisis],
    at: float | None = None,
) -> str | None:
    """Human-readable reason why a brand post is tone-deaf, or None (see `tone_verdict`)."""
    return tone_verdict(post_text, active_crises, at, post_hashtags).explanation
