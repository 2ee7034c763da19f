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

Every desk but the robot's composes its answers as healthy's does, so the templated-reply
ratio singles out the robot.

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
from streams.sources.synthetic_texts import (
    ACKNOWLEDGEMENTS,
    ACTIONS,
    AIRHEAD_BROADCASTS,
    BROADCASTS,
    CLOSINGS,
    CRISIS_MESSAGES,
    DAYS,
    DIAGNOSES,
    FOLLOW_UPS,
    GREETINGS,
    MESSAGES,
    PRODUCTS,
    PSYCHO_BROADCASTS,
    PSYCHO_CRISIS_BROADCASTS,
    ROBOT_BROADCASTS,
    SLOW_OPENERS,
    USERS,
    WEEKDAYS,
)

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

@dataclass(frozen=True, slots=True)
class _Behaviour:
    """How one brand acts; delays are in seconds and drawn by `reply_delay`."""

    answer_rate: float
    broadcasts_per_hour: float
    reply_delay: Callable[[random.Random, float], float | None]  # (rng, message time) -> delay
    follow_up_rate: float = 0.0
    canned: str | None = None  # the one text of every reply (robot); else composed
    openers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: GREETINGS)
    broadcasts: tuple[str, ...] = BROADCASTS
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
                           p=self.rng.choice(PRODUCTS), u=user.rstrip("0123456789").title(),
                           w=WEEKDAYS[int(at // 86400 + 3) % 7],  # 1970-01-01 was a Thursday
                           d=self.rng.choice(DAYS[lang]))


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
            w.emit(Side.AUDIENCE, "twitter", f"{rng.choice(USERS)}{rng.randint(1, 400)}",
                   w.fill(rng.choice(CRISIS_MESSAGES)), at, kind=AudienceKind.MENTION,
                   lang="en")
    for at in _arrivals(rng, start, w.end, rate_per_hour):
        draw = rng.random()
        user = f"{rng.choice(USERS)}{rng.randint(1, 400)}"
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
        topic, english, french = rng.choice(MESSAGES)
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


def _composed(w: _BrandWriter, openers: Mapping[str, tuple[str, ...]], lang: str,
              topic: str, user: str) -> str:
    """An answer as an agent writes it: greeting (the desk's `openers`), acknowledgement,
    diagnosis, action, closing, each drawn on its own (so ~10^4 combinations per topic, as
    varied as people)."""
    rng = w.rng
    parts = (rng.choice(openers[lang]), rng.choice(ACKNOWLEDGEMENTS[lang]),
             rng.choice(DIAGNOSES[lang][topic]), rng.choice(ACTIONS[lang][topic]),
             rng.choice(CLOSINGS[lang]))
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
        text = f"@{user} {_composed(w, behaviour.openers, lang, subject, user)}"
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
                            w.fill(rng.choice(FOLLOW_UPS[lang])), at, reply.id,
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
        "healthy": _Behaviour(1.0, 1.0, healthy_delay, follow_up_rate=0.35),
        "robot": _Behaviour(0.06, 8.0, robot_delay, canned=CANNED_REPLY,
                            broadcasts=ROBOT_BROADCASTS),
        "slow": _Behaviour(1.0, 0.5, slow_delay, openers=SLOW_OPENERS),
        "psycho": _Behaviour(0.85, 1.0, desk_delay, broadcasts=PSYCHO_BROADCASTS,
                             crisis_broadcasts=PSYCHO_CRISIS_BROADCASTS,
                             pauses_in_crisis=False),
        "airhead": _Behaviour(0.8, 1.5, desk_delay, broadcasts=AIRHEAD_BROADCASTS,
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
