"""The bundled demo scenario: three brands whose behaviour the metrics must tell apart.

* `healthy` answers ~98 % of its audience within minutes (never beyond 40 min), in the
  customer's language, with varied texts, holds short conversations and broadcasts a little;
* `robot` mostly broadcasts, answers ~6 % of messages within seconds, always with the same
  canned line;
* `slow` answers everything, but 1.5 to 6 business hours later, so every answer blows its
  1 h SLA; it has business hours (Mon-Fri 09:00-18:00 Europe/Paris) and only answers
  while open.

Like real input, the stream also holds shares and automated messages (which expect no
answer), a few duplicate deliveries (same id twice) and a few replies delivered before the
message they answer. Everything is deterministic given the seed, so tests and demos can
assert on it. `SCENARIO_BRANDS` is the single source of the brands, for both
`scenario_brands()` and the TOML file a worker is started with.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.config import BrandsConfig, parse_brands
from streams.events import AudienceKind, Side, SocialEvent

HOUR = 3600.0
EARLY_REPLY_MAX_GAP_SECONDS = 600.0
CANNED_REPLY = "Thanks for reaching out! Please DM us your order number."

SCENARIO_BRANDS: dict[str, Any] = {
    "defaults": {"sla_seconds": 3600, "expire_after_seconds": 7 * 86400},
    "brand": [
        {"name": "healthy", "handles": {"twitter": ["HealthyCo"], "instagram": ["healthyco"]},
         "sla_seconds": 3600, "languages": ["en", "fr"]},
        {"name": "robot", "handles": {"twitter": ["RoboMart"]}, "sla_seconds": 3600,
         "languages": ["en"]},
        {"name": "slow", "handles": {"twitter": ["SlowBank"]}, "sla_seconds": 3600,
         "languages": ["en", "fr"],
         "business_hours": {"timezone": "Europe/Paris",
                            "days": ["mon", "tue", "wed", "thu", "fri"],
                            "start": "09:00", "end": "18:00"}},
    ],
}

_USERS = ("alex", "sam", "lea", "hugo", "maria", "tom", "chloe", "nina", "omar", "yuki",
          "jules", "ines", "lucas", "emma", "noah", "zoe")
_PRODUCTS = ("sneakers", "headphones", "coffee maker", "savings account", "phone plan",
             "backpack", "desk lamp")
# (topic, English, French) audience messages; {h} is the brand handle, {n} a number.
_MESSAGES = (
    ("order", "@{h} my order #{n} still hasn't arrived, any news?",
     "@{h} ma commande n°{n} n'est toujours pas arrivée, des nouvelles ?"),
    ("billing", "@{h} I was charged twice this month, can you check?",
     "@{h} j'ai été débité deux fois ce mois-ci, vous pouvez vérifier ?"),
    ("app", "@{h} the app crashes every time I open my basket",
     "@{h} l'appli plante dès que j'ouvre mon panier"),
    ("address", "@{h} how do I change the delivery address on order {n}?",
     "@{h} comment changer l'adresse de livraison de la commande {n} ?"),
    ("praise", "@{h} love the new {p}, great job!",
     "@{h} j'adore les nouveaux {p}, bravo !"),
    ("stock", "@{h} will the {p} be back in stock soon?",
     "@{h} les {p} seront bientôt de retour en stock ?"),
)
_ANSWERS = {
    "en": {"order": "I've checked order {n}: it ships tomorrow morning.",
           "billing": "I can see the double charge, the refund is on its way.",
           "app": "A fix is rolling out today, updating the app should solve it.",
           "address": "You can change it under Orders > {n} > Delivery until it ships.",
           "praise": "Thank you so much, we'll pass it on to the team!",
           "stock": "The {p} are back next Tuesday, you can set an alert on the page."},
    "fr": {"order": "J'ai vérifié la commande {n} : elle part demain matin.",
           "billing": "Je vois le double débit, le remboursement est en cours.",
           "app": "Un correctif arrive aujourd'hui, mettez l'appli à jour.",
           "address": "Vous pouvez la modifier dans Commandes > {n} > Livraison.",
           "praise": "Merci beaucoup, on transmet à l'équipe !",
           "stock": "Les {p} reviennent mardi prochain, activez l'alerte sur la page."},
}
_GREETINGS = {"en": ("Hi {u}!", "Hello {u},", "Hey {u}, sorry about that.", "Thanks {u}!"),
              "fr": ("Bonjour {u} !", "Salut {u},", "Désolés {u} !", "Merci {u} !")}
_CLOSINGS = {
    "en": ("Anything else I can do for you today?", "Have a lovely evening, {u}.",
           "Ping me here if it doesn't arrive by Friday.", "Sam from the care team.",
           "Fingers crossed the {p} makes it in time!", "Happy to help again anytime.",
           "Let me know how it goes with the {p}.", "I've added a note to your account too.",
           "Sorry again for the hassle, truly.", "Enjoy the rest of your weekend!",
           "If the courier calls, they have your new slot.", "Take care, {u}!"),
    "fr": ("Autre chose que je peux faire pour vous ?", "Bonne soirée {u} !",
           "Revenez vers moi si rien n'arrive d'ici vendredi.", "Léa, service client.",
           "On croise les doigts pour les {p} !", "Au plaisir de vous aider à nouveau.",
           "Dites-moi ce que vous pensez des {p}.", "J'ai aussi ajouté une note au dossier.",
           "Encore désolée pour le désagrément.", "Bon week-end à vous !",
           "Le livreur a bien votre nouveau créneau.", "Prenez soin de vous {u} !"),
}
_FOLLOW_UPS = {"en": ("@{h} thanks! and what about the invoice?", "@{h} still not working :(",
                      "@{h} ok, can I also get a tracking link?"),
               "fr": ("@{h} merci ! et pour la facture ?", "@{h} ça ne marche toujours pas :(",
                      "@{h} ok, vous pouvez m'envoyer le lien de suivi ?")}
_SLOW_OPENERS = {"en": ("Apologies for the wait, {u}.", "Sorry for the delay {u}.",
                        "Thanks for your patience {u}."),
                 "fr": ("Désolés pour l'attente {u}.", "Pardon pour le délai {u}.",
                        "Merci de votre patience {u}.")}
_BROADCASTS = ("Our {p} sale starts now, up to 30% off!",
               "New in: the {p}. Tell us what you think!",
               "Free delivery on all {p} this weekend.", "Meet the team behind our {p} 👋")
_ROBOT_BROADCASTS = ("🔥 DEAL: {p} -20% today only! Shop now.", "🔥 DEAL: {p} -30% today only!",
                     "Don't miss out: {p} at the best price. Shop now.")


@dataclass(frozen=True, slots=True)
class _Behaviour:
    """How one brand acts; delays are in seconds and drawn by `reply_delay`."""

    answer_rate: float
    broadcasts_per_hour: float
    reply_delay: Callable[[random.Random, float], float | None]  # (rng, message time) -> delay
    follow_up_rate: float = 0.0
    canned: str | None = None  # the one text of every reply (robot)
    personal: bool = False  # agents add a closing line of their own (healthy)
    openers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _GREETINGS)


def scenario_brands() -> BrandsConfig:
    """The demo brands, validated exactly as a brands file would be."""
    return parse_brands(SCENARIO_BRANDS, "synthetic scenario brands")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def brands_toml(document: Mapping[str, Any] = SCENARIO_BRANDS) -> str:
    """A brands document (`[defaults]` and `[[brand]]` tables) as TOML text."""
    lines: list[str] = ["# brandpulse demo brands, generated from streams.sources.synthetic", ""]
    for key, value in document.items():
        tables = value if isinstance(value, list) else [value]
        for table in tables:
            lines.append(f"[[{key}]]" if isinstance(value, list) else f"[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items())
            lines.append("")
    return "\n".join(lines)


def write_scenario_brands_toml(path: str | os.PathLike[str]) -> None:
    """Write the demo brands as a brands TOML file, so a worker can be started on them."""
    Path(path).write_text(brands_toml(), encoding="utf-8")


@dataclass(slots=True)
class _BrandWriter:
    """Generates one brand's events; ids are `<brand>-<n>`, unique within the scenario."""

    name: str
    handles: Mapping[str, str]  # platform -> handle as displayed
    languages: tuple[str, ...]
    rng: random.Random
    end: float
    events: list[SocialEvent] = field(default_factory=list)
    broadcasts: dict[str, list[SocialEvent]] = field(default_factory=dict)
    count: int = 0

    def emit(self, side: Side, platform: str, author: str, text: str, at: float,
             in_reply_to: str | None = None, kind: AudienceKind | None = None,
             lang: str | None = None, is_share: bool = False,
             automated: bool = False) -> SocialEvent:
        self.count += 1
        event = SocialEvent(side, f"{self.name}-{self.count}", self.name, platform, author, text,
                            round(at, 3), in_reply_to, kind, lang, is_share, automated)
        self.events.append(event)
        return event

    def fill(self, text: str, user: str = "") -> str:
        return text.format(h=self.handles["twitter"], n=self.rng.randint(10000, 99999),
                           p=self.rng.choice(_PRODUCTS), u=user.rstrip("0123456789").title())


def _arrivals(rng: random.Random, start: float, end: float, per_hour: float) -> list[float]:
    """Poisson process instants in [start, end)."""
    times: list[float] = []
    if per_hour <= 0:
        return times
    at = start
    while True:
        at += rng.expovariate(per_hour / HOUR)
        if at >= end:
            return times
        times.append(at)


def _before(posts: list[SocialEvent], at: float) -> list[SocialEvent]:
    """The posts (sorted by time) published before `at`."""
    return posts[:bisect.bisect_left(posts, at, key=lambda e: e.created_at)]


def _generate_brand(w: _BrandWriter, behaviour: _Behaviour, start: float,
                    rate_per_hour: float) -> None:
    rng = w.rng
    for at in _arrivals(rng, start, w.end, behaviour.broadcasts_per_hour):
        platform = rng.choice(sorted(w.handles))
        templates = _ROBOT_BROADCASTS if behaviour.canned else _BROADCASTS
        post = w.emit(Side.BRAND, platform, w.handles[platform], w.fill(rng.choice(templates)),
                      at, lang="en")
        w.broadcasts.setdefault(platform, []).append(post)
    for at in _arrivals(rng, start, w.end, rate_per_hour):
        draw = rng.random()
        user = f"{rng.choice(_USERS)}{rng.randint(1, 400)}"
        posted = _before(w.broadcasts.get("twitter", []), at)
        if draw < 0.06 and posted:  # a share of a broadcast: expects no answer
            shared = rng.choice(posted[-20:])
            w.emit(Side.AUDIENCE, shared.platform, user,
                   f"RT @{w.handles[shared.platform]}: {shared.text}", at,
                   kind=AudienceKind.MENTION, lang="en", is_share=True)
            continue
        if draw < 0.11:  # an automated account: expects no answer
            w.emit(Side.AUDIENCE, "twitter", f"dealbot{rng.randint(1, 9)}",
                   w.fill("Price alert: {p} spotted at @{h} -15% #ad"), at,
                   kind=AudienceKind.MENTION, lang="en", automated=True)
            continue
        lang = "fr" if "fr" in w.languages and rng.random() < 0.25 else "en"
        topic, english, french = rng.choice(_MESSAGES)
        platform, kind, parent = "twitter", AudienceKind.MENTION, None
        insta = _before(w.broadcasts.get("instagram", []), at)
        if insta and rng.random() < 0.3:
            post = rng.choice(insta[-5:])
            platform, kind, parent = "instagram", AudienceKind.COMMENT, post.id
        elif rng.random() < 0.15:
            kind = AudienceKind.DIRECT_MESSAGE
        text = w.fill(english if lang == "en" else french)
        if kind is AudienceKind.DIRECT_MESSAGE:
            text = text.split(" ", 1)[1]  # no @handle in a direct message
        message = w.emit(Side.AUDIENCE, platform, user, text, at, parent, kind, lang)
        _answer(w, behaviour, message, topic, user, depth=0)


def _answer(w: _BrandWriter, behaviour: _Behaviour, message: SocialEvent, topic: str,
            user: str, depth: int) -> None:
    """Maybe reply to `message` (and maybe let the customer follow up, once)."""
    rng = w.rng
    if rng.random() >= behaviour.answer_rate:
        return
    delay = behaviour.reply_delay(rng, message.created_at)
    if delay is None or message.created_at + delay >= w.end:
        return  # answered after the scenario window: still pending when it ends
    lang = message.lang or "en"
    if behaviour.canned is not None:
        text = behaviour.canned
    else:
        body = _ANSWERS[lang][topic if depth == 0 else "order"]
        opener = w.fill(rng.choice(behaviour.openers[lang]), user)
        text = f"@{user} {opener} {w.fill(body)}"
        if behaviour.personal:  # people write their own closing lines; robots never do
            text += " " + w.fill(rng.choice(_CLOSINGS[lang]), user)
        if rng.random() < 0.5:
            text += f" ^{rng.choice('ABCDEFGHJKLMNPRSTW')}{rng.choice('ABCDEFGHJKLMNPRSTW')}"
    platform = message.platform
    reply = w.emit(Side.BRAND, platform, w.handles[platform], text,
                   message.created_at + delay, message.id, lang=lang)
    if depth == 0 and rng.random() < behaviour.follow_up_rate:
        at = reply.created_at + rng.uniform(120, 900)
        if at < w.end:
            follow = w.emit(Side.AUDIENCE, platform, user,
                            w.fill(rng.choice(_FOLLOW_UPS[lang])), at, reply.id,
                            AudienceKind.REPLY, lang)
            _answer(w, behaviour, follow, topic, user, depth=1)


def _behaviours(brands: BrandsConfig) -> dict[str, _Behaviour]:
    slow = brands.get("slow")
    hours = slow.business_hours if slow is not None else None
    assert hours is not None, "the slow brand must have business hours"

    def healthy_delay(rng: random.Random, _: float) -> float:
        return 20.0 + min(rng.lognormvariate(math.log(220.0), 0.7), 2380.0)

    def robot_delay(rng: random.Random, _: float) -> float:
        return rng.uniform(5.0, 60.0)

    def slow_delay(rng: random.Random, at: float) -> float:
        return hours.deadline(at, rng.uniform(1.5 * HOUR, 6 * HOUR)) - at

    return {
        "healthy": _Behaviour(0.985, 1.0, healthy_delay, follow_up_rate=0.35, personal=True),
        "robot": _Behaviour(0.06, 8.0, robot_delay, canned=CANNED_REPLY),
        "slow": _Behaviour(1.0, 0.5, slow_delay, openers=_SLOW_OPENERS),
    }


def _disorder(events: list[SocialEvent], rng: random.Random) -> list[SocialEvent]:
    """Deliver ~3 % of quick replies before their parent and ~1.5 % of events twice.

    Only replies written within `EARLY_REPLY_MAX_GAP_SECONDS` of their parent are delivered
    early: in a live stream a reply can overtake its parent only by the lag between two
    partitions, never by hours (it cannot be delivered before it is written).
    At least one of each whenever possible, so every scenario exercises both paths.
    """
    created = {e.id: e.created_at for e in events}
    replies = [e for e in events if e.in_reply_to in created
               and e.created_at - created[e.in_reply_to] <= EARLY_REPLY_MAX_GAP_SECONDS]
    early = {e.id for e in replies if rng.random() < 0.03} or {r.id for r in replies[:1]}
    children: dict[str, list[SocialEvent]] = {}
    for reply in replies:
        if reply.id in early:
            children.setdefault(reply.in_reply_to, []).append(reply)  # type: ignore[arg-type]
    order: list[SocialEvent] = []

    def place(event: SocialEvent) -> None:  # early replies first, also down a chain
        for child in children.get(event.id, ()):
            place(child)
        order.append(event)

    for event in events:
        if event.id not in early:
            place(event)
    dupes = {i for i in range(len(order)) if rng.random() < 0.015} or ({0} if order else set())
    again: dict[int, list[SocialEvent]] = {}
    for i in sorted(dupes):
        again.setdefault(min(len(order) - 1, i + 1 + rng.randint(0, 5)), []).append(order[i])
    delivered: list[SocialEvent] = []
    for i, event in enumerate(order):
        delivered.append(event)
        delivered.extend(again.get(i, ()))
    return delivered


def generate_scenario(start: float, duration_seconds: float, seed: int = 7,
                      rate_per_hour: float = 24.0) -> list[SocialEvent]:
    """All events of the demo in delivery order (time-ordered but for deliberate disorder).

    `rate_per_hour` is the audience messages per hour for each brand; answers that would
    fall after `start + duration_seconds` are left out, i.e. still pending at the end.
    """
    if duration_seconds <= 0:
        raise ValueError("duration_seconds must be positive")
    brands = scenario_brands()
    behaviours = _behaviours(brands)
    events: list[SocialEvent] = []
    for index, brand in enumerate(brands):
        handles = {p: SCENARIO_BRANDS["brand"][index]["handles"][p][0] for p in brand.platforms}
        writer = _BrandWriter(brand.name, handles, brand.languages,
                              random.Random(seed * 1009 + index), start + duration_seconds)
        _generate_brand(writer, behaviours[brand.name], start, rate_per_hour)
        events.extend(writer.events)
    events.sort(key=lambda e: (e.created_at, e.id))
    return _disorder(events, random.Random(seed * 7919))
