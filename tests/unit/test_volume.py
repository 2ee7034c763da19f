"""Audience volume against the brand's own baseline, on hand-computed cases."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from streams.commands.demo import DEMO_DAYS
from streams.commands.spikes import replay_spikes
from streams.config import parse_brands
from streams.core import volume
from streams.core.volume import (
    Baseline,
    RecentAudience,
    RecentCounts,
    baseline,
    spike_score,
)
from streams.engine import Engine
from streams.events import Side, SocialEvent
from streams.sources.synthetic import (
    CRISIS_BRAND,
    crisis_window,
    generate_scenario,
    scenario_brands,
)

BRANDS = parse_brands({"brand": [{"name": "acme", "handles": {"twitter": ["acme"]}}]})
T0 = 1_780_000_000 // 3600 * 3600  # an hour boundary
H = 3600
RULES = Path(__file__).resolve().parents[2] / "deploy/prometheus/rules"


def message(i: int, at: float, text: str = "@acme hello there") -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, f"m{i}", "acme", "twitter", f"u{i}", text, at)


def test_baseline_is_the_mean_and_deviation_of_the_complete_hours() -> None:
    hourly = {h: 2 if h % 2 else 4 for h in range(24)}  # twelve 2s, twelve 4s
    assert baseline(hourly, 24, 0) == Baseline(3.0, 1.0, 24)
    # a kept hour with no message counts as 0: 23 hours of 4 and one empty hour
    gap = {h: 4 for h in range(24) if h != 5}
    base = baseline(gap, 24, 0)
    assert base.mean == pytest.approx(92 / 24)
    assert base.deviation == pytest.approx(math.sqrt((23 * (4 - 92 / 24) ** 2
                                                       + (92 / 24) ** 2) / 24))
    # at most 7 days: hours older than that are left out
    week = baseline({0: 1000} | {h: 1 for h in range(1, 200)}, 200, 0)
    assert (week.mean, week.deviation, week.hours) == (1.0, 0.0, 168)


def test_no_baseline_before_a_day_of_history() -> None:
    base = baseline({h: 3 for h in range(23)}, 23, 0)
    assert math.isnan(base.mean) and base.hours == 23
    assert math.isnan(spike_score(100, base))
    assert baseline({}, 10, None).hours == 0


def test_spike_score_counts_the_window_against_the_baseline_and_its_noise() -> None:
    # mean 40/h, deviation 8/h: expected 10 in 15 min, noise sqrt(2² + 10) = sqrt(14)
    assert spike_score(25, Baseline(40.0, 8.0, 168)) == pytest.approx(15 / math.sqrt(14))
    # a flat quiet baseline: expected 0.75, noise floored at 1
    assert spike_score(20, Baseline(3.0, 0.0, 168)) == pytest.approx(19.25)


def test_recent_counts_keep_whole_minutes_of_the_window_only() -> None:
    recent = RecentCounts()
    for at in (T0 - 15 * 60, T0 - 14 * 60, T0 - 1, T0, T0 + 59):
        recent.add(at)
    # the window ending in minute T0 covers minutes T0-14 .. T0
    assert recent.count(T0 + 30) == 4
    assert recent.count(T0 + 60) == 3  # minute T0-14 has left it
    recent.add(T0 + 60)  # a new minute drops the slots it pushed out of the window
    assert min(recent.slots) == T0 // 60 - 1


def test_recent_audience_gives_negative_share_and_top_terms() -> None:
    recent = RecentAudience()
    recent.add(T0, -0.5, ("refund", "flight"))
    recent.add(T0 + 60, 0.0, ("flight", "delay"))
    recent.add(T0 + 120, -0.04, ("flight", "refund"))  # above -0.05: not negative
    share, terms = recent.summary(T0 + 130)
    assert share == pytest.approx(1 / 3)
    assert terms == ("flight", "refund", "delay")
    assert recent.summary(T0 + 3600) == (math.nan, ()) or math.isnan(
        recent.summary(T0 + 3600)[0])


def _spike_events() -> list[SocialEvent]:
    """24 h of 4 messages an hour, then 12 in 6 minutes (9 negative)."""
    events = [message(hour * 4 + quarter, T0 + hour * H + quarter * 900)
              for hour in range(24) for quarter in range(4)]
    for k in range(12):
        text = "@acme your app is down again, terrible service" if k < 9 else None
        events.append(message(96 + k, T0 + 24 * H + k * 30, text or "@acme hello there"))
    return events


def _spike_engine() -> tuple[Engine, float]:
    engine = Engine(BRANDS)
    for event in _spike_events():
        engine.ingest(event, event.created_at)
    return engine, T0 + 24 * H + 5 * 60 + 30


def test_engine_scores_a_spike_against_the_brands_own_week() -> None:
    engine, now = _spike_engine()
    v = engine.snapshot("acme", now).volume
    # baseline 4/h flat; window: the 12 spike messages -> 48/h, expected 1, noise 1
    assert (v.baseline.mean, v.baseline.deviation, v.baseline.hours) == (4.0, 0.0, 24)
    assert v.rate == 48.0
    assert v.score == pytest.approx(11.0)
    assert v.ratio == pytest.approx(12.0)
    assert v.negative_share == pytest.approx(9 / 12)
    assert v.top_terms == ("app", "service", "terrible")
    assert v.spiking()



def test_no_spike_without_a_day_of_baseline() -> None:
    engine = Engine(BRANDS)
    for i in range(40):  # 40 messages in 20 minutes; its window holds 28
        engine.ingest(message(i, T0 + i * 30), T0 + i * 30)
    first = engine.volume("acme", T0 + 20 * 60)
    assert first.rate == 112.0 and math.isnan(first.score) and not first.spiking()


def test_a_restart_rebuilds_the_same_volume_from_persisted_records() -> None:
    from tests.unit.test_state_restore import persist, restore

    engine, now = _spike_engine()
    table: dict[bytes, bytes] = {}
    persist(engine, table)
    recovered = restore(table, now, BRANDS)
    assert recovered.volume("acme", now) == engine.volume("acme", now)


def test_the_alert_rule_uses_the_documented_thresholds() -> None:
    rules = (RULES / "brandpulse-alerts.yml").read_text(encoding="utf-8")
    block = rules[rules.index("alert: BrandMentionVolumeSpike"):]
    block = block[:block.index("runbook_url")]
    assert f">= {volume.SPIKE_SCORE:g}" in block
    assert f">= {volume.SPIKE_RATIO:g} *" in block
    assert f">= {volume.SPIKE_MIN_RATE:g}" in block
    assert re.search(rf"for: {volume.SPIKE_FOR_SECONDS // 60}m", block)


def test_replayed_alert_fires_one_for_after_the_condition_first_holds() -> None:
    # Evaluated every 15 s before each event: the 10th spike message (24 h + 270 s) is
    # first seen at 285 s (10 in the window: 40/h, 10x, score 9), fires 60 s later.
    alerts = list(replay_spikes(_spike_events(), BRANDS))
    assert [(a.brand, a.pending_at - T0, a.fired_at - T0) for a in alerts] == [
        ("acme", 24 * H + 285, 24 * H + 345)]


def test_the_demo_storm_fires_the_spike_alert_within_five_minutes_and_nothing_else() -> None:
    start, duration = 1_790_000_000.0, DEMO_DAYS * 86400
    events = sorted(generate_scenario(start, duration), key=lambda e: e.created_at)
    storm = crisis_window(start, duration)
    assert storm is not None
    alerts = list(replay_spikes(events, scenario_brands()))
    assert [a.brand for a in alerts] == [CRISIS_BRAND]
    assert 0 < alerts[0].fired_at - storm[0] <= 5 * 60
    assert "storm" in alerts[0].volume.top_terms
