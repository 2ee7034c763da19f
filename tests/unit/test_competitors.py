"""Competitor groups: config, the negative counter and `report --group`, hand-computed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streams.commands.report import build_report, competitors, format_competitors
from streams.config import ConfigError, parse_brands
from streams.core.sentiment import polarity
from streams.core.totals import Count
from streams.engine import Engine
from streams.events import Side, SocialEvent

BRANDS = parse_brands({"brand": [
    {"name": "skyco", "group": "airlines", "handles": {"twitter": ["skyco"]}},
    {"name": "jetco", "group": "airlines", "handles": {"twitter": ["jetco"]}},
    {"name": "telco", "group": "telecoms", "handles": {"twitter": ["telco"]}},
    {"name": "loner", "handles": {"twitter": ["loner"]}},
]})
T0 = 1_780_000_000.0
BAD = "your app is down again, terrible service"


def audience(i: int, brand: str, text: str, at: float) -> SocialEvent:
    return SocialEvent(Side.AUDIENCE, f"m{i}", brand, "twitter", f"u{i}", f"@{brand} {text}", at)


EVENTS = [
    audience(1, "skyco", "hello there", T0),
    audience(2, "skyco", BAD, T0 + 10),
    audience(3, "skyco", "hello again", T0 + 20),
    audience(4, "jetco", BAD, T0 + 30),
    SocialEvent(Side.BRAND, "r1", "skyco", "twitter", "skyco", "@u1 hi, how can we help?",
                T0 + 120, in_reply_to="m1"),
    audience(5, "loner", BAD, T0 + 40),
]


def test_group_is_validated_with_its_field_and_a_fix() -> None:
    with pytest.raises(ConfigError) as error:
        parse_brands({"brand": [{"name": "acme", "group": "Air Lines",
                                 "handles": {"twitter": ["acme"]}}]})
    message = str(error.value)
    assert "brand[0] (acme).group" in message and 'Fix: write group = "airlines"' in message
    assert BRANDS.get("skyco").group == "airlines"  # type: ignore[union-attr]
    assert BRANDS.get("loner").group is None  # type: ignore[union-attr]


def test_negative_messages_are_counted_in_the_persisted_totals() -> None:
    engine = Engine(BRANDS)
    for event in EVENTS:
        engine.ingest(event, event.created_at)
    assert engine.totals("skyco").count(Count.NEGATIVE) == 1
    assert engine.totals("jetco").count(Count.NEGATIVE) == 1


def test_report_group_puts_competitors_side_by_side_with_their_share_of_voice() -> None:
    section = competitors(build_report(EVENTS, BRANDS), BRANDS, "airlines")
    assert section["group"] == "airlines"
    assert list(section["brands"]) == ["jetco", "skyco"]  # the group only, sorted
    sky, jet = section["brands"]["skyco"], section["brands"]["jetco"]
    assert sky["share_of_voice"] == {"messages": 0.75, "requires_reply": 0.75,
                                     "negative": 0.5}
    assert jet["share_of_voice"] == {"messages": 0.25, "requires_reply": 0.25,
                                     "negative": 0.5}
    assert sky["first_response_seconds"]["p50"] == 120.0
    expected = (polarity("@skyco hello there", "en") + polarity(f"@skyco {BAD}", "en")
                + polarity("@skyco hello again", "en")) / 3
    # The report rounds to six decimals (json_number): up to 5e-7 off the exact mean.
    assert sky["sentiment"] == pytest.approx(expected, abs=1e-6)
    assert jet["sentiment"] == pytest.approx(polarity(f"@jetco {BAD}", "en"), abs=1e-6)
    table = format_competitors(section, legend=False).splitlines()
    assert table[0].split()[:4] == ["airlines", "msgs", "sov", "need"]
    assert table[3].split()[:3] == ["skyco", "3", "0.75"]


def test_a_group_member_without_events_shows_zeros_and_no_share() -> None:
    section = competitors(build_report(EVENTS[:1], BRANDS), BRANDS, "airlines")
    jet = section["brands"]["jetco"]
    assert jet["messages"] == 0 and jet["share_of_voice"]["messages"] == 0.0
    assert section["brands"]["skyco"]["share_of_voice"]["negative"] is None


def test_cli_refuses_an_unknown_group_in_one_line(tmp_path: Path) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text('[[brand]]\nname = "skyco"\ngroup = "airlines"\n'
                      'handles = { twitter = ["skyco"] }\n', encoding="utf-8")
    data = tmp_path / "events.jsonl"
    data.write_text("", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "streams.cli", "report", str(data),
                             "--brands", str(brands), "--group", "cars"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--group: no brand of the brands file has group = 'cars'" in result.stderr
    assert "choose among airlines" in result.stderr
