"""The bundled demo scenario: five brands whose behaviour the metrics must tell apart.

* `healthy` answers everyone who expects an answer within minutes (never beyond 40 min),
  so nobody waits for long (only the last minutes' messages are pending at the end), in
  the customer's language, with texts its agents compose (greeting, acknowledgement, a
  diagnosis and an action chosen per topic, a closing line: as varied as real agents),
  holds short conversations and broadcasts a little, about what its audience asks;
* `robot` mostly broadcasts, answers ~6 % of messages within seconds, always with the same
  canned line;
* `slow` answers everything, but 1.5 to 6 business hours later, so every answer blows its
  1 h SLA; its desk is open every day 09:00-18:00 Europe/Paris and only answers while
  open (every day, so that the demo shows an SLA-blower whatever day it is started);
* `psycho` answers like an average desk, but when its audience is hit by a crisis (a
  storm: an audience spike with crisis vocabulary that opens with a burst of mentions,
  `CRISIS_*`) it keeps posting
  promotions, some of them riding the storm: tone-deaf posts;
* `airhead` answers most messages but broadcasts daily filler (coffee, weekend moods)
  unrelated to what its audience talks about: low topic alignment.

During the crisis (and an hour either side) the other brands pause their scheduled
broadcasts, as careful social teams do, so that the tone-deaf posts are the psycho's.
The crisis takes place in scenarios of at least `CRISIS_MIN_DURATION_SECONDS`, at
`CRISIS_AT` of the window (after the detector's 6 h of history), whatever the start time.

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
CRISIS_BRAND = "psycho"
CRISIS_AT = 0.55  # share of the window elapsed when the storm hits
CRISIS_HOURS = 5.0
CRISIS_MESSAGES_PER_HOUR = 90.0  # on top of the brand's usual audience (~24/h)
# The storm breaks as news: its first minutes bring a burst of mentions, the volume spike
# the demo's BrandMentionVolumeSpike alert fires on (streams/core/volume.py).
CRISIS_BURST_PER_HOUR = 480.0
CRISIS_BURST_SECONDS = 20 * 60.0
CRISIS_MIN_DURATION_SECONDS = 18 * HOUR
CRISIS_PAUSE_MARGIN = 2 * HOUR  # other brands pause broadcasts this long around it
_ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

#: The agents who sign the desks' replies (^AD); brands list the first four, so the
#: fifth shows as agent="other".
DESK_AGENTS = ("AD", "JB", "MR", "SL", "TW")
SCENARIO_BRANDS: dict[str, Any] = {
    "defaults": {"sla_seconds": 3600, "expire_after_seconds": 7 * 86400},
    "brand": [
        {"name": "healthy", "handles": {"twitter": ["HealthyCo"], "instagram": ["healthyco"]},
         "sla_seconds": 3600, "languages": ["en", "fr"],
         "agents": list(DESK_AGENTS[:-1]), "group": "demo"},  # last agent: "other"
        {"name": "robot", "handles": {"twitter": ["RoboMart"]}, "sla_seconds": 3600,
         "languages": ["en"], "group": "demo"},
        {"name": "slow", "handles": {"twitter": ["SlowBank"]}, "sla_seconds": 3600,
         "languages": ["en", "fr"],
         "business_hours": {"timezone": "Europe/Paris", "days": _ALL_DAYS,
                            "start": "09:00", "end": "18:00"}, "group": "demo"},
        {"name": "psycho", "handles": {"twitter": ["PsychoShop"]}, "sla_seconds": 3600,
         "languages": ["en"], "group": "demo"},
        {"name": "airhead", "handles": {"twitter": ["AirheadCafe"]}, "sla_seconds": 3600,
         "languages": ["en"], "group": "demo"},
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
# What an agent writes: one diagnosis and one action per topic, each drawn separately, so
# that (with greetings, acknowledgements and closings) two answers rarely coincide; the
# canned answer (`_ANSWERS`) is what a lazy desk pastes: topic -> one sentence.
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
_DIAGNOSES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "order": ("I've looked up order {n} and it left our warehouse {d}.",
                  "Your parcel {n} is sitting at the courier's depot.",
                  "The tracking for {n} shows a delay on the courier's side.",
                  "Order {n} was held back because one item came in late.",
                  "I can see {n} was scanned in your town {d}."),
        "billing": ("I can see the second payment for {n} on your account.",
                    "Our payment provider ran the charge twice {d}, my apologies.",
                    "The duplicate charge comes from a glitch at checkout.",
                    "Only one of the two payments went through on our side.",
                    "That extra charge was a pre-authorisation, not a real debit."),
        "app": ("The basket crash comes from last night's update.",
                "Our developers found the bug behind that crash.",
                "It only happens on older phones with the latest version.",
                "A corrupted cache makes the basket close like that.",
                "We've had a few reports of this since {d}."),
        "address": ("Order {n} hasn't been packed yet, so there's still time.",
                    "The address on {n} can still be edited for a few hours.",
                    "Your parcel is with the courier, who can reroute it.",
                    "The order is locked once it is packed, which yours isn't.",
                    "I've reopened the delivery step of order {n} for you."),
        "praise": ("That made the whole team smile this morning.",
                   "The designers spent months on those {p}.",
                   "Great to hear the {p} live up to the hype.",
                   "Reviews like yours keep the workshop going.",
                   "We're so glad the {p} arrived in one piece."),
        "stock": ("A new batch of {p} is on its way to our warehouse.",
                  "The {p} sold out faster than we planned.",
                  "Our supplier promised more {p} by {d}.",
                  "The {p} come back in all sizes very soon.",
                  "We're restocking the {p} in two colours this time."),
    },
    "fr": {
        "order": ("J'ai retrouvé la commande {n}, elle est partie {d}.",
                  "Votre colis {n} attend au dépôt du transporteur.",
                  "Le suivi de {n} montre un retard chez le transporteur.",
                  "La commande {n} attendait un article arrivé en retard."),
        "billing": ("Je vois bien le second paiement pour {n}.",
                    "Le prestataire de paiement a débité deux fois {d}, désolée.",
                    "Le double débit vient d'un bug au moment du paiement.",
                    "C'est une pré-autorisation, pas un vrai débit."),
        "app": ("Le plantage du panier vient de la mise à jour d'hier.",
                "Nos développeurs ont trouvé le bug du panier.",
                "Cela n'arrive que sur les anciens téléphones.",
                "Un cache abîmé ferme le panier de cette façon."),
        "address": ("La commande {n} n'est pas encore emballée, il est temps.",
                    "L'adresse de {n} reste modifiable quelques heures.",
                    "Le transporteur peut encore rediriger votre colis.",
                    "J'ai rouvert l'étape livraison de la commande {n}."),
        "praise": ("Ça a fait sourire toute l'équipe ce matin.",
                   "Les designers ont passé des mois sur ces {p}.",
                   "Ravis que les {p} tiennent leurs promesses.",
                   "Des avis comme le vôtre font vivre l'atelier."),
        "stock": ("Un nouveau lot de {p} arrive à l'entrepôt.",
                  "Les {p} sont partis plus vite que prévu.",
                  "Notre fournisseur promet des {p} pour {d}.",
                  "Les {p} reviennent dans toutes les tailles."),
    },
}
_ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "order": ("It should reach you {d}.", "I've asked the courier to prioritise it.",
                  "You'll get a text with a delivery slot.",
                  "If it isn't there by {d} we'll send a new one.",
                  "I've upgraded it to express at no cost."),
        "billing": ("The refund is on its way and shows within 3 days.",
                    "I've cancelled the extra payment, your bank will release it.",
                    "You'll see the money back on your card {d}.",
                    "I've refunded it and added a voucher for the trouble.",
                    "Your bank will drop the pending line {d}."),
        "app": ("Updating the app from the store fixes it.",
                "Clearing the app's cache should stop it for now.",
                "A patch goes out {d}, sorry for the wait.",
                "Logging out and back in clears the basket safely.",
                "Reinstalling keeps your basket, it's saved on your account."),
        "address": ("Go to Orders, then Delivery, and edit the address there.",
                    "Send me the new address in a DM and I'll change it.",
                    "The courier's link in your email lets you pick a new address.",
                    "I've noted the change, you'll get a confirmation email.",
                    "Choose a pickup point instead if that's easier."),
        "praise": ("We'll share your message with the workshop.",
                   "Tag us in a photo, we'd love to see them in action.",
                   "Thanks for taking the time to tell us.",
                   "Enjoy them and see you soon!",
                   "You've made our {d} honestly."),
        "stock": ("Set an alert on the product page to hear first.",
                  "Sign up for the newsletter and you'll get a heads-up.",
                  "I can reserve a pair for you in a DM.",
                  "Keep an eye on the page {d}.",
                  "The shop near you may still have some."),
    },
    "fr": {
        "order": ("Elle devrait arriver {d}.", "J'ai demandé au transporteur d'accélérer.",
                  "Vous recevrez un SMS avec un créneau.",
                  "Si rien n'arrive {d}, on vous en renvoie une."),
        "billing": ("Le remboursement est en cours, comptez trois jours.",
                    "J'ai annulé le paiement en trop.",
                    "Vous serez recrédité {d}.",
                    "Je vous rembourse et j'ajoute un bon d'achat."),
        "app": ("Mettre l'appli à jour règle le problème.",
                "Vider le cache de l'appli devrait suffire.",
                "Un correctif sort {d}, désolée pour l'attente.",
                "Se déconnecter puis se reconnecter vide le panier sans risque."),
        "address": ("Allez dans Commandes puis Livraison pour la changer.",
                    "Envoyez-moi la nouvelle adresse en message privé.",
                    "Le lien du transporteur permet de choisir une autre adresse.",
                    "Choisissez un point relais si c'est plus simple."),
        "praise": ("On transmet votre message à l'atelier.",
                   "Identifiez-nous sur une photo, on adore ça.",
                   "Merci d'avoir pris le temps de nous écrire.",
                   "Profitez-en bien et à bientôt !"),
        "stock": ("Activez l'alerte sur la page du produit.",
                  "Inscrivez-vous à la newsletter pour être prévenu.",
                  "Je peux vous en réserver en message privé.",
                  "Surveillez la page {d}."),
    },
}
_DAYS: dict[str, tuple[str, ...]] = {
    "en": ("today", "tomorrow", "on Monday", "on Thursday", "this weekend", "by Friday",
           "yesterday evening", "early next week"),
    "fr": ("aujourd'hui", "demain", "lundi", "jeudi", "ce week-end", "d'ici vendredi",
           "hier soir", "en début de semaine"),
}
_ACKNOWLEDGEMENTS: dict[str, tuple[str, ...]] = {
    "en": ("Sorry for the trouble.", "Thanks for flagging this.",
           "I understand how annoying that is.", "Good question!", "Thanks for your message.",
           "Let me sort this out.", "That's not the experience we want for you.",
           "Happy to help with that.", "I've had a look for you.", ""),
    "fr": ("Désolée pour le souci.", "Merci de nous le signaler.",
           "Je comprends, c'est agaçant.", "Bonne question !", "Merci pour votre message.",
           "Je m'en occupe.", ""),
}
_GREETINGS: dict[str, tuple[str, ...]] = {
    "en": ("Hi {u}!", "Hello {u},", "Hey {u}, sorry about that.", "Thanks {u}!",
           "Good morning {u}!", "Hi there {u},", "Dear {u},", "Hey {u}!"),
    "fr": ("Bonjour {u} !", "Salut {u},", "Désolés {u} !", "Merci {u} !",
           "Bonsoir {u},", "Coucou {u} !"),
}
_CLOSINGS: dict[str, tuple[str, ...]] = {
    "en": ("Anything else I can do for you today?", "Have a lovely evening, {u}.",
           "Ping me here if it doesn't arrive by Friday.", "Sam from the care team.",
           "Fingers crossed the {p} makes it in time!", "Happy to help again anytime.",
           "Let me know how it goes with the {p}.", "I've added a note to your account too.",
           "Sorry again for the hassle, truly.", "Enjoy the rest of your week!",
           "If the courier calls, they have your new slot.", "Take care, {u}!", "", ""),
    "fr": ("Autre chose que je peux faire pour vous ?", "Bonne soirée {u} !",
           "Revenez vers moi si rien n'arrive d'ici vendredi.", "Léa, service client.",
           "On croise les doigts pour les {p} !", "Au plaisir de vous aider à nouveau.",
           "Dites-moi ce que vous pensez des {p}.", "J'ai aussi ajouté une note au dossier.",
           "Encore désolée pour le désagrément.", "Bonne semaine à vous !",
           "Le livreur a bien votre nouveau créneau.", "Prenez soin de vous {u} !", ""),
}
_FOLLOW_UPS = {"en": ("@{h} thanks! and what about the invoice?", "@{h} still not working :(",
                      "@{h} ok, can I also get a tracking link?"),
               "fr": ("@{h} merci ! et pour la facture ?", "@{h} ça ne marche toujours pas :(",
                      "@{h} ok, vous pouvez m'envoyer le lien de suivi ?")}
_SLOW_OPENERS = {"en": ("Apologies for the wait, {u}.", "Sorry for the delay {u}.",
                        "Thanks for your patience {u}."),
                 "fr": ("Désolés pour l'attente {u}.", "Pardon pour le délai {u}.",
                        "Merci de votre patience {u}.")}
# Healthy brands post about what their audience asks about (orders, the app, the products).
_BROADCASTS = ("Our {p} sale starts now, up to 30% off!",
               "New in: the {p}. Tell us what you think!",
               "Delivery update: orders placed today arrive by Friday, tracking in the app.",
               "App update: the basket crash is fixed, update the app to get it.",
               "Back in stock: the {p}, in every size. Set an alert for the next drop.",
               "Billing tip: a double charge is usually a pre-authorisation, refunds in 3 days.")
_ROBOT_BROADCASTS = ("🔥 DEAL: {p} -20% today only! Shop now.", "🔥 DEAL: {p} -30% today only!",
                     "Don't miss out: {p} at the best price. Shop now.")
# The airhead's filler: nothing its audience (orders, refunds, the app) talks about.
_AIRHEAD_BROADCASTS = ("Happy {w}! ☕ Who else needs a second espresso?",
                       "{w} mood: sunshine, playlists and good vibes ✨",
                       "What's your favourite season? Ours is autumn 🍂",
                       "Dream big, sparkle more. Happy {w}!",
                       "Cats or dogs? Tell us below 🐱🐶",
                       "Weekend plans? We're thinking picnic and sunsets 🌅",
                       "Motivation {w}: you've got this 💪",
                       "Tea or espresso? The eternal question ☕🍵")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The storm the crisis brand's audience lives through (each text carries the worker's crisis
# signal: a strong crisis term or two weaker ones), and the promotions the brand posts on.
_CRISIS_MESSAGES = ("the flood destroyed half the high street, is everyone safe? #StormAlma",
                    "{h} riverside store is under water, the flood is everywhere #StormAlma",
                    "people were evacuated from the riverside last night, stay safe",
                    "so many homes flooded near the {h} mall, emergency services everywhere",
                    "praying for the families, two people dead in the storm #StormAlma",
                    "power cut and flooded streets all over town, this storm is a disaster",
                    "rescue teams still searching for missing people after the floods",
                    "the bridge collapsed in the storm, roads closed #StormAlma")
_PSYCHO_BROADCASTS = ("Mega sale on {p}: 25% off this week only! Shop now.",
                      "New {p} just dropped. Get yours today!",
                      "Flash deal: buy one {p}, get one half price. Shop now!")
_PSYCHO_CRISIS_BROADCASTS = (
    "Storm sale! Raincoats and wellies 40% off today only, shop now ⛈️",
    "Stuck at home? Treat yourself: {p} 30% off with code STORM, today only!",
    "Flash sale while it pours: free delivery on all {p}, shop now!",
    "Rain or shine, our deals never stop: {p} -50% today only! #StormAlma")


@dataclass(frozen=True, slots=True)
class _Behaviour:
    """How one brand acts; delays are in seconds and drawn by `reply_delay`."""

    answer_rate: float
    broadcasts_per_hour: float
    reply_delay: Callable[[random.Random, float], float | None]  # (rng, message time) -> delay
    follow_up_rate: float = 0.0
    canned: str | None = None  # the one text of every reply (robot)
    composed: bool = False  # agents compose each answer (healthy); else one line per topic
    openers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _GREETINGS)
    broadcasts: tuple[str, ...] = _BROADCASTS
    crisis_broadcasts: tuple[str, ...] = ()  # posted during the crisis (the psycho)
    pauses_in_crisis: bool = True  # no scheduled broadcast around the crisis
    shared: bool = True  # the audience shares its broadcasts (nobody shares filler)


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

    def fill(self, text: str, user: str = "", at: float = 0.0, lang: str = "en") -> str:
        return text.format(h=self.handles["twitter"], n=self.rng.randint(10000, 99999),
                           p=self.rng.choice(_PRODUCTS), u=user.rstrip("0123456789").title(),
                           w=_WEEKDAYS[int(at // 86400 + 3) % 7],  # 1970-01-01 was a Thursday
                           d=self.rng.choice(_DAYS[lang]))


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
                    rate_per_hour: float, crisis: tuple[float, float] | None) -> None:
    rng = w.rng
    paused = ((crisis[0] - HOUR, crisis[1] + 3 * HOUR)
              if crisis is not None and behaviour.pauses_in_crisis else None)
    for at in _arrivals(rng, start, w.end, behaviour.broadcasts_per_hour):
        if paused is not None and paused[0] <= at < paused[1]:
            continue
        _broadcast(w, rng.choice(behaviour.broadcasts), at)
    if crisis is not None and behaviour.crisis_broadcasts:
        for at in _arrivals(rng, crisis[0] + 0.5 * HOUR, crisis[1], 2.0):
            _broadcast(w, rng.choice(behaviour.crisis_broadcasts), at)
    for platform in w.broadcasts:
        w.broadcasts[platform].sort(key=lambda e: e.created_at)
    if crisis is not None and w.name == CRISIS_BRAND:  # the storm, as its audience lives it
        burst = _arrivals(rng, crisis[0], crisis[0] + CRISIS_BURST_SECONDS,
                          CRISIS_BURST_PER_HOUR)
        for at in burst + _arrivals(rng, crisis[0] + CRISIS_BURST_SECONDS, crisis[1],
                                    CRISIS_MESSAGES_PER_HOUR):
            w.emit(Side.AUDIENCE, "twitter", f"{rng.choice(_USERS)}{rng.randint(1, 400)}",
                   w.fill(rng.choice(_CRISIS_MESSAGES)), at, kind=AudienceKind.MENTION,
                   lang="en")
    for at in _arrivals(rng, start, w.end, rate_per_hour):
        draw = rng.random()
        user = f"{rng.choice(_USERS)}{rng.randint(1, 400)}"
        posted = _before(w.broadcasts.get("twitter", []), at)
        if draw < 0.06 and posted and behaviour.shared:  # a share of a broadcast: expects no answer
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


def _broadcast(w: _BrandWriter, template: str, at: float) -> None:
    platform = w.rng.choice(sorted(w.handles))
    post = w.emit(Side.BRAND, platform, w.handles[platform], w.fill(template, at=at), at,
                  lang="en")
    w.broadcasts.setdefault(platform, []).append(post)


def _composed(w: _BrandWriter, lang: str, topic: str, user: str) -> str:
    """An answer as an agent writes it: greeting, acknowledgement, diagnosis, action,
    closing, each drawn on its own (so ~10^4 combinations per topic, as varied as people)."""
    rng = w.rng
    parts = (rng.choice(_GREETINGS[lang]), rng.choice(_ACKNOWLEDGEMENTS[lang]),
             rng.choice(_DIAGNOSES[lang][topic]), rng.choice(_ACTIONS[lang][topic]),
             rng.choice(_CLOSINGS[lang]))
    return " ".join(w.fill(part, user, lang=lang) for part in parts if part)


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
        subject = topic if depth == 0 else "order"
        if behaviour.composed:
            text = f"@{user} {_composed(w, lang, subject, user)}"
        else:  # one line per topic, after a greeting
            opener = w.fill(rng.choice(behaviour.openers[lang]), user)
            text = f"@{user} {opener} {w.fill(_ANSWERS[lang][subject])}"
        if rng.random() < 0.5:
            # Signed by one of the desk's agents (no K: "^JK" reads as "just kidding").
            text += f" ^{rng.choice(DESK_AGENTS)}"
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

    def desk_delay(rng: random.Random, _: float) -> float:  # an average desk
        return 60.0 + min(rng.lognormvariate(math.log(1200.0), 0.6), 3 * HOUR)

    return {
        # Every message answered: at 98.5 % the 1.5 % left waited until they expired (7 days),
        # 15 customers and a 47 h backlog after the demo's 2 days, and the check held every
        # healthy broadcast for it.
        "healthy": _Behaviour(1.0, 1.0, healthy_delay, follow_up_rate=0.35, composed=True),
        "robot": _Behaviour(0.06, 8.0, robot_delay, canned=CANNED_REPLY,
                            broadcasts=_ROBOT_BROADCASTS),
        "slow": _Behaviour(1.0, 0.5, slow_delay, openers=_SLOW_OPENERS),
        "psycho": _Behaviour(0.85, 1.0, desk_delay, broadcasts=_PSYCHO_BROADCASTS,
                             crisis_broadcasts=_PSYCHO_CRISIS_BROADCASTS,
                             pauses_in_crisis=False),
        "airhead": _Behaviour(0.8, 1.5, desk_delay, broadcasts=_AIRHEAD_BROADCASTS,
                              shared=False),
    }


def crisis_window(start: float, duration_seconds: float) -> tuple[float, float] | None:
    """(start, end) of the storm in a scenario window; None when the window is too short
    for the detector to have a baseline before it."""
    if duration_seconds < CRISIS_MIN_DURATION_SECONDS:
        return None
    at = start + CRISIS_AT * duration_seconds
    return at, at + CRISIS_HOURS * HOUR


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
    crisis = crisis_window(start, duration_seconds)
    events: list[SocialEvent] = []
    for index, brand in enumerate(brands):
        handles = {p: SCENARIO_BRANDS["brand"][index]["handles"][p][0] for p in brand.platforms}
        writer = _BrandWriter(brand.name, handles, brand.languages,
                              random.Random(seed * 1009 + index), start + duration_seconds)
        _generate_brand(writer, behaviours[brand.name], start, rate_per_hour, crisis)
        events.extend(writer.events)
    events.sort(key=lambda e: (e.created_at, e.id))
    return _disorder(events, random.Random(seed * 7919))
