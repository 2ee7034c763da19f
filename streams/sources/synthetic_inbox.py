"""The demo's helpdesk: a Chatwoot inbox whose conversations are answered, resolved and
sometimes reopened, as `brandpulse ingest chatwoot` records them.

Kept apart from the scenario of `synthetic.py` (whose brands, figures and tests stay as
they are): the demo adds this brand and its records, so the inbox's SLA, resolution and
reopen series (and their dashboard panels) have data in the demo and its live Prometheus
proof. Records look like the connector's: conversations are threads `<inbox>/<n>`, the
brand's answers are signed by the inbox, status ids are `<thread>@<kind>@<ms>`.
"""

from __future__ import annotations

import math
import random

from streams.events import AudienceKind, ConversationStatus, RecordedEvent, Side, SocialEvent
from streams.sources.synthetic import HOUR
from streams.sources.synthetic_texts import (
    ACKNOWLEDGEMENTS,
    ACTIONS,
    CLOSINGS,
    DAYS,
    DIAGNOSES,
    GREETINGS,
    MESSAGES,
    PRODUCTS,
    USERS,
)

INBOX_BRAND = "helpdesk"
INBOX_ID = "7"
PLATFORM = "chatwoot"
#: The brands-file table of the inbox brand (one SLA, no business hours).
INBOX_BRAND_TABLE = {"name": INBOX_BRAND, "handles": {PLATFORM: [INBOX_ID]},
                     "sla_seconds": 3600, "languages": ["en"]}
#: Shares of conversations: a follow-up from the customer, a reopen after the resolution.
FOLLOW_UP_SHARE = 0.3
REOPEN_SHARE = 0.15


def generate_inbox(start: float, duration_seconds: float, seed: int = 7,
                   conversations_per_hour: float = 6.0) -> list[RecordedEvent]:
    """The inbox's messages, answers and status changes in [start, start + duration), in
    time order; what would happen after the end is left out (still open at the end)."""
    rng = random.Random(seed * 4243)
    end = start + duration_seconds
    records: list[RecordedEvent] = []
    at, number = start, 0
    while True:
        at += rng.expovariate(conversations_per_hour / HOUR)
        if at >= end:
            break
        number += 1
        records.extend(_conversation(rng, f"{INBOX_ID}/{number}", at, end))
    records.sort(key=lambda r: (r.created_at, r.id))
    return records


def _answer(rng: random.Random, topic: str, user: str) -> str:
    """An agent's own words, drawn part by part like the scenario's desks (so the
    templated-reply detector sees a person, not a paste)."""
    parts = (rng.choice(GREETINGS["en"]), rng.choice(ACKNOWLEDGEMENTS["en"]),
             rng.choice(DIAGNOSES["en"][topic]), rng.choice(ACTIONS["en"][topic]),
             rng.choice(CLOSINGS["en"]))
    values = {"u": user.title(), "n": rng.randint(10000, 99999), "p": rng.choice(PRODUCTS),
              "d": rng.choice(DAYS["en"])}
    return " ".join(part.format(**values) for part in parts if part)


def _conversation(rng: random.Random, thread: str, opened: float, end: float
                  ) -> list[RecordedEvent]:
    """One conversation: the customer's message, the desk's answer (2-90 min later), maybe
    a follow-up and its answer, the resolution, and maybe a reopen and a second one."""
    user = rng.choice(USERS)
    customer = f"contact:{user}{rng.randint(1, 400)}"
    topic, english, _ = rng.choice(MESSAGES)
    # The scenario's English messages without their leading "@{h}" (a direct message).
    text = english.split(" ", 1)[1].format(n=rng.randint(10000, 99999), p=rng.choice(PRODUCTS))
    out: list[RecordedEvent] = []
    count = 0

    def message(side: Side, body: str, at: float) -> None:
        nonlocal count
        count += 1
        kind = AudienceKind.DIRECT_MESSAGE if side is Side.AUDIENCE else None
        author = customer if side is Side.AUDIENCE else INBOX_ID
        out.append(SocialEvent(side, f"{thread}:{count}", INBOX_BRAND, PLATFORM, author, body,
                               round(at, 3), thread, kind, "en"))

    def status(at: float, reopened: bool) -> None:
        kind = "reopened" if reopened else "resolved"
        out.append(ConversationStatus(f"{thread}@{kind}@{round(at * 1000)}", INBOX_BRAND,
                                      PLATFORM, thread, round(at, 3), round(opened, 3),
                                      reopened))

    at = opened
    message(Side.AUDIENCE, text, at)
    at += 120 + min(rng.lognormvariate(math.log(900.0), 0.8), 88 * 60)
    if at >= end:
        return out
    message(Side.BRAND, _answer(rng, topic, user), at)
    if rng.random() < FOLLOW_UP_SHARE:
        at += rng.uniform(300, 1800)
        if at >= end:
            return out
        message(Side.AUDIENCE, "and what about the invoice?", at)
        at += rng.uniform(300, 2400)
        if at >= end:
            return out
        message(Side.BRAND, _answer(rng, "billing", user), at)
    at += rng.uniform(600, 3 * HOUR)
    if at >= end:
        return out
    status(at, reopened=False)
    if rng.random() < REOPEN_SHARE:
        at += rng.uniform(HOUR, 6 * HOUR)
        if at >= end:
            return out
        status(at, reopened=True)
        message(Side.AUDIENCE, "it happened again", at)
        at += rng.uniform(600, 2 * HOUR)
        if at >= end:
            return out
        message(Side.BRAND, _answer(rng, topic, user), at)
        at += rng.uniform(600, HOUR)
        if at < end:
            status(at, reopened=False)
    return out
