"""Behaviour state through the engine: crisis context, tone-deaf posts, canned replies,
topic alignment. Known tone-deaf cases are paraphrased re-creations, not real posts."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from streams.config import parse_brands
from streams.core.behaviour import BehaviourBook, ToneDeafPost, apply_crisis_command
from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
from streams.engine import Engine
from streams.events import Side, SocialEvent
from streams.sources.files import load_events
from streams.wire import decode_crisis_command, encode_crisis_command, tone_deaf_alert

T0 = 1_700_000_000.0
HOUR = 3600.0
BRANDS = parse_brands({"brand": [
    {"name": name, "handles": {"twitter": [name]}}
    for name in ("shoes", "apparel", "retail", "boutique", "bakery", "bank")
]})


def post(brand: str, id: str, text: str, at: float, reply_to: str | None = None,
         **kw: object) -> SocialEvent:
    return SocialEvent(Side.BRAND, id, brand, "twitter", brand, text, at, reply_to, **kw)


def message(brand: str, id: str, text: str, at: float, **kw: object) -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, id, brand, "twitter", "someone", text, at, **kw)


def declared(engine: Engine, name: str, start: float, keywords: tuple[str, ...] = (),
             hashtags: tuple[str, ...] = ()) -> None:
    apply_crisis_command(engine.behaviour, CrisisCommand(
        CommandAction.DECLARE, DeclaredCrisis(name, keywords, hashtags, None, start)))


KNOWN_CASES = [
    # (brand, crisis name, keywords, hashtags, the brand's post, expected reason)
    ("shoes", "Cairo protests", ("tahrir",), ("cairo",),
     "Millions are in uproar in #Cairo. Rumour is they heard our new spring collection is "
     "now available online :)", "hashtag_hijack"),
    ("apparel", "Hurricane Sandy", ("hurricane", "sandy"), ("sandy",),
     "Bored by the hurricane? 20% off everything online today only, use code STORMY",
     "hashtag_hijack"),
    ("retail", "Hurricane Sandy", ("hurricane", "sandy"), ("sandy",),
     "Stuck inside? Shop our whole store from your couch, free shipping all weekend!",
     "promotional_in_crisis"),
    ("boutique", "Aurora shooting", ("aurora", "shooting"), ("aurora",),
     "#Aurora is trending, clearly about our new dress collection. Shop now!",
     "hashtag_hijack"),
    ("bakery", "Murder trial verdict", ("verdict",), ("notguilty",),
     "#NotGuilty Looks like someone got away with eating all our cookies! lol",
     "hashtag_hijack"),
]


@pytest.mark.parametrize(("brand", "name", "keywords", "hashtags", "text", "reason"),
                         KNOWN_CASES)
def test_known_tone_deaf_cases_are_flagged(brand: str, name: str, keywords: tuple[str, ...],
                                           hashtags: tuple[str, ...], text: str,
                                           reason: str) -> None:
    engine = Engine(BRANDS)
    declared(engine, name, T0, keywords, hashtags)
    flags = [o for o in engine.ingest(post(brand, "p1", text, T0 + HOUR))
             if isinstance(o, ToneDeafPost)]
    assert len(flags) == 1
    assert (flags[0].reason, flags[0].crisis, flags[0].post_id) == (reason, name, "p1")
    record = orjson.loads(tone_deaf_alert(flags[0]))
    assert record["brand"] == brand and record["explanation"]


def test_the_same_posts_before_the_crisis_or_after_it_ended_are_not_flagged() -> None:
    engine = Engine(BRANDS)
    declared(engine, "Hurricane Sandy", T0, ("hurricane",), ("sandy",))
    apply_crisis_command(engine.behaviour, CrisisCommand(
        CommandAction.END, DeclaredCrisis("Hurricane Sandy", end=T0 + 2 * HOUR)))
    text = "Stuck inside? Shop our whole store from your couch, free shipping all weekend!"
    before = engine.ingest(post("retail", "a", text, T0 - HOUR))
    after = engine.ingest(post("retail", "b", text, T0 + 3 * HOUR))
    during = engine.ingest(post("retail", "c", text, T0 + HOUR))
    assert not [o for o in before + after if isinstance(o, ToneDeafPost)]
    assert [o.post_id for o in during if isinstance(o, ToneDeafPost)] == ["c"]


def test_a_supportive_post_during_a_crisis_is_not_tone_deaf() -> None:
    engine = Engine(BRANDS)
    declared(engine, "Hurricane Sandy", T0, ("hurricane",), ("sandy",))
    out = engine.ingest(post("bank", "p", "Our thoughts are with everyone affected by the "
                             "hurricane. Fees on emergency withdrawals are waived.", T0 + 60))
    assert not [o for o in out if isinstance(o, ToneDeafPost)]


def test_twcs_brand_posts_with_no_crisis_active_raise_no_flag(shared_data: Path) -> None:
    events, brands = load_events(str(shared_data / "twcs/twcs_5k.csv"), "twcs")
    engine = Engine(brands)
    flags = [o for o in engine.ingest_all(events) if isinstance(o, ToneDeafPost)]
    assert flags == []
    assert engine.behaviour.declared == {}


def test_audience_crisis_detected_from_the_stream_sets_the_context() -> None:
    engine = Engine(BRANDS)
    at = T0
    # Six quiet hours of ordinary questions build the baseline…
    for i in range(6 * 30):
        at = T0 + i * 120
        engine.ingest(message("bank", f"q{i}", "@bank how do I reset my card pin?", at))
    snapshot = engine.snapshot("bank", at)
    assert snapshot.behaviour.crisis_active is False
    assert not math.isnan(snapshot.behaviour.sentiment["normal"])
    # …then a burst of earthquake messages.
    for i in range(200):
        at += 10
        engine.ingest(message("bank", f"e{i}", "@bank earthquake! buildings collapsed, "
                              "people injured and dead, are your branches safe?", at))
    snapshot = engine.snapshot("bank", at)
    assert snapshot.behaviour.crisis_active is True
    assert snapshot.behaviour.sentiment["crisis"] < 0
    flags = [o for o in engine.ingest(post("bank", "promo", "Flash sale: 30% off our premium "
                                           "cards, sign up now!", at + 60))
             if isinstance(o, ToneDeafPost)]
    assert [f.reason for f in flags] == ["promotional_in_crisis"]


def test_canned_replies_raise_the_robot_score() -> None:
    canned = "Thanks for reaching out! Please DM us your order number so we can help."
    scores = {}
    for brand, texts in (
        ("shoes", [canned] * 20),
        ("bakery", [f"Hi {n}, the {item} ships on {day}; tracking follows by email."
                    for n, item, day in zip(
                        ["Ann", "Bob", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo",
                         "Kim", "Lou", "Max", "Ned", "Oz", "Pia", "Quin", "Rob", "Sue", "Tim"],
                        ["cake", "bread", "tart", "pie", "scone"] * 4,
                        ["monday", "tuesday", "friday", "sunday"] * 5, strict=True)]),
    ):
        engine = Engine(BRANDS)
        for i, text in enumerate(texts):
            engine.ingest(message(brand, f"m{i}", f"@{brand} where is my order?", T0 + i * 60))
            engine.ingest(post(brand, f"r{i}", text, T0 + i * 60 + 30, reply_to=f"m{i}"))
        snapshot = engine.snapshot(brand, T0 + 30 * 60)
        scores[brand] = (snapshot.behaviour.templated_reply_ratio,
                         snapshot.conversation.robot_score)
    assert scores["shoes"][0] == 1.0
    assert scores["bakery"][0] == 0.0
    # Both answer everyone without broadcasting; only the canned one scores as a robot.
    assert scores["shoes"][1] == pytest.approx(0.2 / 1.0)
    assert scores["bakery"][1] == pytest.approx(0.0)


def test_topic_alignment_and_engagement_of_broadcasts() -> None:
    engine = Engine(BRANDS)
    for i in range(10):
        engine.ingest(message("bakery", f"m{i}", "@bakery your sourdough bread is sold out "
                              "again, when is fresh sourdough back?", T0 + i))
    engine.ingest(post("bakery", "b1", "Fresh sourdough bread is back this morning!", T0 + 60))
    engine.ingest(post("bakery", "b2", "Monday motivation: keep smiling :)", T0 + 61))
    engine.ingest(message("bakery", "c1", "@bakery yay sourdough", T0 + 90, in_reply_to="b1"))
    behaviour = engine.snapshot("bakery", T0 + 100).behaviour
    assert 0 < behaviour.topic_alignment <= 1
    assert behaviour.audience_replies_per_broadcast == 0.5
    assert behaviour.top_audience_terms[0][0] == "sourdough"


def test_crisis_commands_round_trip_and_bad_ones_are_rejected() -> None:
    command = CrisisCommand(CommandAction.DECLARE, DeclaredCrisis(
        "Sandy", ("hurricane",), ("sandy",), "US-East", T0))
    assert decode_crisis_command(encode_crisis_command(command), T0) == command
    assert decode_crisis_command(b'{"action": "explode", "name": "x"}', T0).reason.value == "schema"
    book = BehaviourBook()
    apply_crisis_command(book, command)
    assert [c.name for c in book.active_crises("any", T0 + 1)] == ["Sandy"]
    # An end before the start (a record the decoder cannot check: it needs the declared
    # start) ends the crisis at its start, never leaving end < start.
    apply_crisis_command(book, CrisisCommand(CommandAction.END,
                                             DeclaredCrisis("Sandy", end=T0 - 86400)))
    ended = book.declared["Sandy"]
    assert ended.end == ended.start == T0
    assert book.active_crises("any", T0 + 1) == []
