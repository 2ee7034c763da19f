"""What the offline report shows: it adds up, counts late replies, uses the live reply-rate
definition, and prints everything the JSON has (table, legend, CSV, period)."""

from __future__ import annotations

import csv
import io
import math
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from streams.commands.report import TABLE_LEGEND, build_report, format_csv, format_table
from streams.config import parse_brands
from streams.core.sla_observations import ExpiredUnanswered, LateReply
from streams.engine import Engine
from streams.events import Side, SocialEvent
from streams.sources.files import open_events

DAY = 86400.0
T0 = 1_800_000_000.0  # a Friday, 02:40 UTC
BRANDS = parse_brands({
    "defaults": {"expire_after_seconds": 2 * DAY},
    "brand": [
        {"name": "acme", "handles": {"twitter": ["Acme"]}, "sla_seconds": 600},
        {"name": "Zeta", "handles": {"twitter": ["Zeta"]}},
        {"name": "beta", "handles": {"twitter": ["Beta"]}, "expire_after_seconds": 7 * DAY,
         "business_hours": {"timezone": "Europe/Paris", "days": ["mon", "tue", "wed", "thu",
                                                                  "fri"],
                            "start": "09:00", "end": "18:00"}},
    ]})


def msg(id: str, at: float, brand: str = "acme") -> SocialEvent:
    handle = {"acme": "Acme", "Zeta": "Zeta", "beta": "Beta"}[brand]
    return SocialEvent(Side.AUDIENCE, id, brand, "twitter", "bob", f"@{handle} help", at)


def reply(id: str, at: float, to: str | None, brand: str = "acme") -> SocialEvent:
    handle = {"acme": "Acme", "Zeta": "Zeta", "beta": "Beta"}[brand]
    return SocialEvent(Side.BRAND, id, brand, "twitter", handle, "on it", at, in_reply_to=to)


def test_requires_reply_adds_up_and_a_reply_after_expiry_is_a_late_reply() -> None:
    events = [msg("m1", T0), reply("r1", T0 + 60, "m1"),       # answered
              msg("m2", T0 + 10),                               # expires at +2 days
              msg("m3", T0 + 20),                               # expires, never answered
              reply("r2", T0 + 2.5 * DAY, "m2"),                # late reply, after expiry
              reply("r2b", T0 + 2.6 * DAY, "m2"),               # a second one: not counted
              msg("m4", T0 + 2.6 * DAY)]                        # still waiting at the end
    acme = build_report(events, BRANDS, wall=T0 + 3 * DAY)["brands"]["acme"]
    assert (acme["requires_reply"], acme["answered"], acme["unanswered"],
            acme["expired_unanswered"], acme["late_replies"]) == (4, 1, 1, 2, 1)
    assert acme["requires_reply"] == (acme["answered"] + acme["unanswered"]
                                      + acme["expired_unanswered"])


def test_a_late_reply_long_after_the_message_left_retention_is_still_counted() -> None:
    # Retention is expiry + 1 h, so at 12.7 days the message itself is forgotten.
    engine = Engine(BRANDS)
    found: list[Any] = []
    for event in [msg("m1", T0), msg("m2", T0 + 12.7 * DAY),
                  reply("r1", T0 + 12.7 * DAY + 1, "m1")]:
        found.extend(engine.ingest_all([event], math.inf))
    assert any(isinstance(o, ExpiredUnanswered) for o in found)
    late = [o for o in found if isinstance(o, LateReply)]
    assert len(late) == 1 and late[0].seconds == 12.7 * DAY + 1


def test_reply_rate_has_one_definition_offline_and_live() -> None:
    """answered / (answered + overdue): a brand that never answers is 0 in both, a brand
    whose messages are all still inside their SLA is undefined in both (None / NaN)."""
    never = [msg(f"m{i}", T0 + 60 * i) for i in range(6)]  # SLA 10 min, end at +6 h
    never.append(msg("late", T0 + 6 * 3600, brand="Zeta"))  # moves the clock only
    undecided = [msg(f"z{i}", T0 + 60 * i, brand="Zeta") for i in range(3)]
    for events, brand, expected in ((never, "acme", 0.0), (undecided, "Zeta", None)):
        report = build_report(events, BRANDS, wall=T0 + DAY)["brands"][brand]
        engine = Engine(BRANDS)
        for _ in engine.ingest_all(events, T0 + DAY):
            pass
        now = engine.brand_now(brand, engine.stream_time)
        live = engine.snapshot(brand, now).conversation.reply_rate["24h"]  # the gauge
        assert report["reply_rate"] == expected
        assert math.isnan(live) if expected is None else live == expected


def test_business_hours_latency_in_the_json_only_for_brands_with_business_hours() -> None:
    paris = ZoneInfo("Europe/Paris")
    friday_1730 = datetime(2027, 1, 15, 17, 30, tzinfo=paris).timestamp()
    monday_0930 = datetime(2027, 1, 18, 9, 30, tzinfo=paris).timestamp()
    events = [msg("b1", friday_1730, "beta"), reply("rb1", monday_0930, "b1", "beta"),
              msg("a1", T0), reply("ra1", T0 + 120, "a1")]
    brands = build_report(events, BRANDS, wall=monday_0930 + DAY)["brands"]
    assert "first_response_business_seconds" not in brands["acme"]
    beta = brands["beta"]["first_response_business_seconds"]
    assert beta["p50"] == beta["p90"] == 3600.0
    assert brands["beta"]["first_response_seconds"]["p50"] == 64 * 3600.0


def _report() -> dict[str, Any]:
    events = [msg("m1", T0), reply("r1", T0 + 60, "m1"),
              msg("z1", T0, "Zeta"), msg("b1", T0, "beta")]
    return build_report(events, BRANDS, wall=T0 + DAY)


def test_table_sorts_brands_case_insensitively_and_has_every_column_and_a_legend() -> None:
    report = _report()
    assert list(report["brands"]) == ["acme", "beta", "Zeta"]
    table = format_table(report)
    lines = table.splitlines()
    for column in ("expd", "late", "bh p50", "tmpl", "align", "tdeaf", "rate", "robot"):
        assert column in lines[0]
    assert [line.split()[0] for line in lines[2:5]] == ["acme", "beta", "Zeta"]
    assert TABLE_LEGEND in table and not re.search(r"\bnan\b", table, re.IGNORECASE)
    for abbreviation in ("need", "expd", "late", "bh p50", "tmpl", "align", "tdeaf"):
        assert abbreviation in TABLE_LEGEND


def test_csv_has_one_row_per_brand_and_the_json_values() -> None:
    report = _report()
    rows = list(csv.DictReader(io.StringIO(format_csv(report))))
    assert [r["brand"] for r in rows] == ["acme", "beta", "Zeta"]
    acme = rows[0]
    assert acme["answered"] == "1" and float(acme["first_response_p50_seconds"]) == 60.0
    assert acme["first_response_business_p50_seconds"] == ""  # no business hours: empty
    assert set(acme) >= {"expired_unanswered", "late_replies", "tone_deaf_posts",
                         "templated_reply_ratio", "topic_alignment"}


def test_since_and_until_keep_the_events_of_the_period() -> None:
    events = [msg("m1", T0), msg("m2", T0 + DAY), msg("m3", T0 + 2 * DAY)]
    report = build_report(events, BRANDS, wall=T0 + 3 * DAY, since=T0 + DAY,
                          until=T0 + 2 * DAY)
    assert report["brands"]["acme"]["messages"] == 1


def test_every_twcs_brand_adds_up(shared_data: Path) -> None:
    source = open_events(str(shared_data / "twcs/twcs_5k.csv"))
    brands = build_report(source, source.brands)["brands"]
    assert len(brands) == 76
    for name, row in brands.items():
        assert row["requires_reply"] == (row["answered"] + row["unanswered"]
                                         + row["expired_unanswered"]), name
    assert sum(row["late_replies"] for row in brands.values()) == 3  # 7.2, 9.3, 12.7 days
