"""The demo scenario: deterministic, valid on the wire, and each brand behaves as advertised."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.config import load_brands
from streams.events import AudienceKind, Side, SocialEvent
from streams.sources.synthetic import (
    CANNED_REPLY,
    generate_scenario,
    scenario_brands,
    write_scenario_brands_toml,
)
from streams.wire import decode_event, encode_event

START = datetime(2024, 3, 4, 0, 0, tzinfo=UTC).timestamp()  # a Monday
DAYS = 5
END = START + DAYS * 86400


@pytest.fixture(scope="module")
def delivered() -> list[SocialEvent]:
    return generate_scenario(START, DAYS * 86400, seed=7)


@pytest.fixture(scope="module")
def unique(delivered: list[SocialEvent]) -> dict[str, SocialEvent]:
    return {e.id: e for e in delivered}


def _needs_answer(e: SocialEvent) -> bool:
    return e.side is Side.AUDIENCE and not e.is_share and not e.automated


def _replies(unique: dict[str, SocialEvent]) -> dict[str, SocialEvent]:
    return {e.in_reply_to: e for e in unique.values()
            if e.side is Side.BRAND and e.in_reply_to is not None}


def _brand(unique: dict[str, SocialEvent], name: str) -> list[SocialEvent]:
    return [e for e in unique.values() if e.brand == name]


def test_deterministic_per_seed() -> None:
    a = generate_scenario(START, 6 * 3600, seed=3)
    assert a == generate_scenario(START, 6 * 3600, seed=3)
    assert a != generate_scenario(START, 6 * 3600, seed=4)


def test_brands_and_their_toml_file_agree(tmp_path: Path) -> None:
    brands = scenario_brands()
    assert [b.name for b in brands] == ["healthy", "robot", "slow", "psycho", "airhead"]
    slow = brands.get("slow")
    assert slow is not None and slow.business_hours is not None
    assert str(slow.business_hours.timezone) == "Europe/Paris"
    assert slow.business_hours.open_days == frozenset(range(7))  # open every day: an
    # SLA-blower whatever day the demo starts (tests/unit/test_demo_profiles.py)
    assert all(b.sla_seconds == 3600 for b in brands)
    path = tmp_path / "brands.toml"
    write_scenario_brands_toml(path)
    assert load_brands(path) == brands


def test_every_event_is_valid_on_the_wire_and_inside_the_window(
        delivered: list[SocialEvent]) -> None:
    brands = scenario_brands()
    for event in delivered:
        assert decode_event(encode_event(event), event.side, brands, 64 * 1024) == event
        assert START <= event.created_at < END
        config = brands.get(event.brand)
        assert config is not None
        assert config.is_own_handle(event.platform, event.author) == (event.side is Side.BRAND)


def test_rate_per_hour_sets_the_audience_volume(unique: dict[str, SocialEvent]) -> None:
    for name in ("healthy", "robot", "slow"):
        first_contacts = [e for e in _brand(unique, name)
                          if e.side is Side.AUDIENCE and e.kind is not AudienceKind.REPLY]
        assert 0.8 * 24 * 24 * DAYS < len(first_contacts) < 1.2 * 24 * 24 * DAYS
    double = generate_scenario(START, 86400, rate_per_hour=48.0)
    single = generate_scenario(START, 86400, rate_per_hour=24.0)
    count = lambda events: sum(e.side is Side.AUDIENCE for e in events)  # noqa: E731
    assert 1.6 < count(double) / count(single) < 2.4


def test_healthy_answers_fast_varied_and_in_the_customer_language(
        unique: dict[str, SocialEvent]) -> None:
    replies = _replies(unique)
    messages = [e for e in _brand(unique, "healthy") if _needs_answer(e)]
    answered = [m for m in messages if m.id in replies]
    assert len(answered) / len(messages) > 0.85
    assert all(replies[m.id].created_at - m.created_at < 3600 for m in answered)
    texts = [replies[m.id].text for m in answered]
    assert len(set(texts)) > 0.95 * len(texts)
    assert all(replies[m.id].lang == m.lang for m in answered)
    assert any(m.lang == "fr" for m in answered)
    conversations = [m for m in answered if m.kind is AudienceKind.REPLY
                     and unique[m.in_reply_to].side is Side.BRAND]  # type: ignore[index]
    assert len(conversations) > 20
    comments = [m for m in messages if m.kind is AudienceKind.COMMENT]
    assert comments and all(unique[c.in_reply_to].platform == "instagram"  # type: ignore[index]
                            for c in comments)
    broadcasts = [e for e in _brand(unique, "healthy") if e.side is Side.BRAND and not e.is_reply]
    assert 0 < len(broadcasts) < len(answered) / 4


def test_healthy_leaves_nobody_waiting_for_long(unique: dict[str, SocialEvent]) -> None:
    """Unanswered healthy messages are only those of the window's last 40 minutes (their
    answer falls after its end); before, 1.5 % waited until they expired."""
    replies = _replies(unique)
    waiting = [m for m in _brand(unique, "healthy") if _needs_answer(m) and m.id not in replies]
    assert all(END - m.created_at < 2400 for m in waiting), [
        round((END - m.created_at) / 3600, 1) for m in waiting]


def test_robot_broadcasts_and_repeats_one_canned_line(unique: dict[str, SocialEvent]) -> None:
    posts = [e for e in _brand(unique, "robot") if e.side is Side.BRAND]
    replies = [p for p in posts if p.is_reply]
    broadcasts = [p for p in posts if not p.is_reply]
    messages = [e for e in _brand(unique, "robot") if _needs_answer(e)]
    assert len(broadcasts) > 2 * len(replies) > 0
    assert {r.text for r in replies} == {CANNED_REPLY}
    assert len(replies) / len(messages) < 0.25
    assert {e.lang for e in _brand(unique, "robot")} == {"en"}


def test_slow_answers_everything_late_and_only_during_business_hours(
        unique: dict[str, SocialEvent]) -> None:
    hours = scenario_brands().get("slow").business_hours  # type: ignore[union-attr]
    assert hours is not None
    replies = _replies(unique)
    messages = [e for e in _brand(unique, "slow") if _needs_answer(e)]
    early = [m for m in messages if m.created_at < START + 2 * 86400]  # Mon-Tue: due by Thu
    assert early and all(m.id in replies for m in early)
    answered = [m for m in messages if m.id in replies]
    for m in answered:
        reply = replies[m.id]
        assert hours.seconds_between(m.created_at, reply.created_at) > 3600  # SLA blown
        assert hours.seconds_between(reply.created_at - 1, reply.created_at) == 1  # desk open
    assert any(m.lang == "fr" for m in answered)


def test_shares_and_automated_messages_are_present_and_never_answered(
        unique: dict[str, SocialEvent]) -> None:
    replies = _replies(unique)
    shares = [e for e in unique.values() if e.is_share]
    bots = [e for e in unique.values() if e.automated]
    assert shares and bots
    assert all(e.side is Side.AUDIENCE for e in shares + bots)
    assert not any(e.id in replies for e in shares + bots)


def test_duplicates_and_out_of_order_deliveries(delivered: list[SocialEvent],
                                                unique: dict[str, SocialEvent]) -> None:
    duplicates = len(delivered) - len(unique)
    assert 0 < duplicates < 0.05 * len(delivered)
    assert all(e == unique[e.id] for e in delivered)  # a duplicate is the same event
    assert all(e.in_reply_to is None or e.in_reply_to in unique for e in delivered)
    seen: set[str] = set()
    early = 0
    for event in delivered:
        if event.in_reply_to in unique and event.in_reply_to not in seen:
            early += 1
        seen.add(event.id)
    assert 0 < early < 0.1 * len(unique)
    inversions = sum(b.created_at < a.created_at for a, b in itertools.pairwise(delivered))
    assert inversions < 0.1 * len(delivered)  # mostly in event-time order


def test_short_window_still_has_the_disorder() -> None:
    events = generate_scenario(START + 9 * 3600, 3600, seed=11)
    assert len(events) > len({e.id for e in events})
    with pytest.raises(ValueError):
        generate_scenario(START, 0)
