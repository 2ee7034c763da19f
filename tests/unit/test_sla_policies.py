"""SLA policies, at-risk messages, next-response time and per-agent statistics, pinned on
hand-computed cases, through persistence, metrics, the API view and the report, and on TWCS
(docs/metrics.md)."""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from streams.commands.report import build_report
from streams.config import ConfigError, parse_brands
from streams.core.agent_stats import AgentStats
from streams.core.features import split_features, with_features
from streams.core.sla import ReplyBook
from streams.core.sla_observations import FirstResponse, NextResponse, PostCounted, SlaBreached
from streams.core.sla_records import RecordTag
from streams.engine import Engine
from streams.events import AudienceKind, Rejection, Side, SocialEvent
from streams.metrics import BrandpulseMetrics
from streams.sources.files import load_events
from streams.wire import decode_state, encode_state_key, encode_state_value
from streams.worker.api import brand_view
from tests.unit.counting import Counts

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC).timestamp()  # a Monday, 10:00 UTC
MIN, HOUR, DAY = 60, 3600, 86400
TWCS_SAMPLE = "twcs/twcs_5k.csv"  # in the evaluation data (the `shared_data` fixture)

POLICIES = [
    {"name": "vip", "sla_seconds": 300, "authors": ["@BigSpender"], "keywords": ["urgent"]},
    {"name": "cancel", "sla_seconds": 600, "keywords": ["cancel*"]},
    {"name": "dm_twitter", "sla_seconds": 900, "kinds": ["direct_message"],
     "platforms": ["twitter"]},
    {"name": "dm", "sla_seconds": 1200, "kinds": ["direct_message"]},
]


def brands(**extra: Any):
    brand = {"name": "acme", "handles": {"twitter": ["AcmeSupport"], "instagram": ["acme"]},
             "sla_seconds": HOUR, "policy": POLICIES, "agents": ["JB", "ad"], **extra}
    return parse_brands({"brand": [brand]})


BRANDS = brands()
ACME = BRANDS.get("acme")


def message(id: str, at: float, text: str = "@AcmeSupport help", **kw: Any) -> SocialEvent:
    fields = {"platform": "twitter", "author": "bob", "kind": AudienceKind.MENTION, **kw}
    return SocialEvent(Side.AUDIENCE, id, "acme", text=text, created_at=at, **fields)


def reply(id: str, at: float, to: str | None, text: str = "on it", **kw: Any) -> SocialEvent:
    fields = {"platform": "twitter", "author": "AcmeSupport", **kw}
    return SocialEvent(Side.BRAND, id, "acme", text=text, created_at=at, in_reply_to=to,
                       **fields)


def of(kind: type, observations: list) -> list:
    return [o for o in observations if isinstance(o, kind)]


# -- policies ------------------------------------------------------------------------------

@pytest.mark.parametrize(("event", "policy"), [
    (message("a", T0), "default"),
    (message("b", T0, author="bigspender"), "vip"),
    (message("c", T0, text="@AcmeSupport URGENT please"), "vip"),
    (message("d", T0, text="@AcmeSupport I want to cancel"), "cancel"),
    (message("e", T0, text="@AcmeSupport my cancellation"), "cancel"),
    (message("f", T0, text="@AcmeSupport not urgently"), "default"),  # whole words only
    (message("g", T0, kind=AudienceKind.DIRECT_MESSAGE), "dm_twitter"),
    (message("h", T0, kind=AudienceKind.DIRECT_MESSAGE, platform="instagram"), "dm"),
    # Precedence is file order: the VIP rule comes before the DM rules.
    (message("i", T0, kind=AudienceKind.DIRECT_MESSAGE, author="BigSpender"), "vip"),
    (message("j", T0, text="urgent: cancel my order"), "vip"),
])
def test_first_matching_policy_in_file_order_wins(event: SocialEvent, policy: str) -> None:
    assert ReplyBook(ACME).policy_for(event).name == policy


def test_each_message_is_judged_against_its_own_target() -> None:
    """A DM (900 s) and a mention (default 3600 s) sent together: only the DM breaches at
    20 min, with its policy as label; the mention answered at 30 min is within target."""
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("dm", T0, kind=AudienceKind.DIRECT_MESSAGE), True, T0)
    book.add_message(message("m", T0), True, T0)
    assert book.advance(T0 + 899) == []
    assert book.advance(T0 + 20 * MIN) == [SlaBreached("acme", "twitter", "dm_twitter")]
    out = book.add_post(reply("r", T0 + 30 * MIN, "m"), T0 + 30 * MIN)
    assert of(FirstResponse, out) == [FirstResponse("acme", "twitter", 1800.0, None, True,
                                                    "default")]
    out = book.add_post(reply("r2", T0 + 31 * MIN, "dm"), T0 + 31 * MIN)
    assert of(FirstResponse, out)[0].policy == "dm_twitter"
    assert of(FirstResponse, out)[0].within_sla is False


@pytest.mark.parametrize(("policy", "field", "fix"), [
    ({"name": "default", "sla_seconds": 60}, "policy[0].name", "own name"),
    ({"name": "VIP!", "sla_seconds": 60}, "policy[0].name", 'name = "vip"'),
    ({"name": "vip"}, "policy[0] (vip).sla_seconds", "sla_seconds = 900"),
    ({"name": "vip", "sla_seconds": -1}, "policy[0] (vip).sla_seconds", "3600"),
    ({"name": "vip", "sla_seconds": 10 * DAY}, "policy[0] (vip).sla_seconds",
     "expire_after_seconds"),
    ({"name": "vip", "sla_seconds": 60, "kinds": ["dm"]}, "policy[0] (vip).kinds",
     "direct_message"),
    ({"name": "vip", "sla_seconds": 60, "platforms": ["tiktok"]},
     "policy[0] (vip).platforms", "add its handles"),
    ({"name": "vip", "sla_seconds": 60, "authors": "bob"}, "policy[0] (vip).authors",
     'authors = ["bigcustomer"]'),
    ({"name": "vip", "sla_seconds": 60, "priority": 1}, "policy[0].priority", "use only"),
])
def test_bad_policies_name_the_field_and_the_fix(policy: dict, field: str, fix: str) -> None:
    with pytest.raises(ConfigError) as error:
        brands(policy=[policy])
    text = str(error.value)
    assert f"brand[0] (acme).{field}" in text and fix in text.split("Fix:")[1], text


def test_a_policy_after_a_catch_all_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"policy\[1\] \(late\).*catch-all policy last"):
        brands(policy=[{"name": "all", "sla_seconds": 60},
                       {"name": "late", "sla_seconds": 60, "keywords": ["x"]}])


@pytest.mark.parametrize(("extra", "field"), [
    ({"agents": ["JBX1"]}, "agents"), ({"agents": "JB"}, "agents"),
    ({"at_risk_share": 1.0}, "at_risk_share"), ({"at_risk_share": 0}, "at_risk_share"),
])
def test_bad_agents_and_risk_share_are_refused(extra: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=rf"\(acme\)\.{field}: .*Fix: write"):
        brands(**extra)


# -- at risk -------------------------------------------------------------------------------

def test_at_risk_between_three_quarters_of_the_target_and_the_breach() -> None:
    """Default target 3600 s, share 0.75: at risk from 2700 s until answered or breached."""
    book = ReplyBook(ACME, breach_grace_seconds=60)
    book.add_message(message("m1", T0), True, T0)
    book.add_message(message("m2", T0), True, T0)
    book.add_message(message("dm", T0, kind=AudienceKind.DIRECT_MESSAGE,
                             platform="instagram"), True, T0)  # dm: 1200 s, at risk at 900

    def at_risk(now: float) -> dict[str, int]:
        return {p: b.at_risk for p, b in book.backlog(now).items()}

    assert at_risk(T0 + 899) == {"twitter": 0, "instagram": 0}
    assert at_risk(T0 + 900) == {"twitter": 0, "instagram": 1}
    assert at_risk(T0 + 2699) == {"twitter": 0, "instagram": 1}
    book.advance(T0 + 1260)  # the DM breached: no longer at risk
    assert at_risk(T0 + 2700) == {"twitter": 2, "instagram": 0}
    book.add_post(reply("r1", T0 + 2800, "m1"), T0 + 2800)
    assert at_risk(T0 + 2800) == {"twitter": 1, "instagram": 0}
    book.advance(T0 + HOUR + 60)  # m2 breaches
    assert at_risk(T0 + HOUR + 60) == {"twitter": 0, "instagram": 0}


def test_at_risk_counts_business_time_and_its_own_share() -> None:
    """Desk 09:00-18:00 UTC, target 1 h, share 0.5: sent 17:50, at risk from 09:20 next day."""
    config = brands(at_risk_share=0.5, policy=[],
                    business_hours={"timezone": "UTC"}).get("acme")
    book = ReplyBook(config, breach_grace_seconds=0)
    sent = T0 + 7 * HOUR + 50 * MIN  # Monday 17:50
    book.add_message(message("m1", sent), True, sent)
    next_morning = T0 + DAY - HOUR  # Tuesday 09:00
    assert book.backlog(next_morning + 20 * MIN - 1)["twitter"].at_risk == 0
    assert book.backlog(next_morning + 20 * MIN)["twitter"].at_risk == 1


# -- next response -------------------------------------------------------------------------

def test_next_response_times_a_follow_up_in_an_answered_thread() -> None:
    """m1 10:00, brand r1 10:05 answers it; the customer follows up (f1, reply to r1) at
    10:10; brand r2 answers f1 at 10:25: next response 900 s. A reply to a broadcast is no
    follow-up; neither is a reply to the customer's own message."""
    book = ReplyBook(ACME, breach_grace_seconds=0)
    book.add_message(message("m1", T0), True, T0)
    book.add_post(reply("r1", T0 + 5 * MIN, "m1"), T0 + 5 * MIN)
    book.add_post(reply("b1", T0 + 6 * MIN, None), T0 + 6 * MIN)
    book.add_message(message("f1", T0 + 10 * MIN, in_reply_to="r1",
                             kind=AudienceKind.REPLY), True, T0 + 10 * MIN)
    book.add_message(message("c1", T0 + 10 * MIN, in_reply_to="b1",
                             kind=AudienceKind.COMMENT), True, T0 + 10 * MIN)
    book.add_message(message("s1", T0 + 11 * MIN, in_reply_to="m1",
                             kind=AudienceKind.REPLY), True, T0 + 11 * MIN)
    out = book.add_post(reply("r2", T0 + 25 * MIN, "f1"), T0 + 25 * MIN)
    assert of(NextResponse, out) == [NextResponse("acme", "twitter", 900.0)]
    assert of(FirstResponse, out)[0].seconds == 900.0  # still a message needing a reply
    for target in ("c1", "s1"):
        out = book.add_post(reply(f"r-{target}", T0 + 30 * MIN, target), T0 + 30 * MIN)
        assert of(NextResponse, out) == [] and len(of(FirstResponse, out)) == 1


# -- agents --------------------------------------------------------------------------------

def agent_book() -> ReplyBook:
    """JB answers m1 in 5 min and m2 in 2 h (late); AD answers m3 in 10 min; ZZ (not
    listed) answers m4 in 1 min; m5 gets an unsigned reply; JB also writes a second reply."""
    book = ReplyBook(ACME, breach_grace_seconds=0)
    for i in range(1, 6):
        book.add_message(message(f"m{i}", T0), True, T0)
    book.add_post(reply("r1", T0 + 5 * MIN, "m1", "We're on it ^JB"), T0 + 5 * MIN)
    book.add_post(reply("r3", T0 + 10 * MIN, "m3", "Sorry about that -AD"), T0 + 10 * MIN)
    book.add_post(reply("r4", T0 + MIN, "m4", "Fixed *ZZ https://t.co/x"), T0 + MIN)
    book.add_post(reply("r5", T0 + MIN, "m5", "Fixed"), T0 + MIN)
    book.add_post(reply("r2", T0 + 2 * HOUR, "m2", "Sorry for the wait ^JB"), T0 + 2 * HOUR)
    book.add_post(reply("r1b", T0 + 2 * HOUR, "m1", "Anything else? ^JB"), T0 + 2 * HOUR)
    return book


def test_agent_statistics_from_signatures() -> None:
    stats = agent_book().agent_stats(T0 + 3 * HOUR)
    assert stats == {
        "AD": AgentStats(1, 1, 600.0, 600.0, 1.0),
        "JB": AgentStats(3, 2, 3750.0, 6510.0, 0.5),  # p50 of 300 and 7200; p90 = 300+0.9*6900
        "ZZ": AgentStats(1, 1, 60.0, 60.0, 1.0),
    }
    # The window is the last 24 event-time hours: at 11:00 the next day only the replies
    # posted at 12:00 remain, an hour later nothing.
    assert agent_book().agent_stats(T0 + 25 * HOUR) == {"JB": AgentStats(2, 0, None, None, None)}
    assert agent_book().agent_stats(T0 + 26 * HOUR) == {}


def test_agent_label_only_for_listed_agents() -> None:
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.initialise((), BRANDS.get)
    metrics.own_brand(ACME)
    metrics.brand_counters.fresh_seconds = 0  # the zeros were scraped
    observations = [
        PostCounted("acme", "twitter", "reply", "JB"), PostCounted("acme", "twitter", "reply",
                                                                   "ZZ"),
        PostCounted("acme", "twitter", "reply", None),
        FirstResponse("acme", "twitter", 90.0, None, True, "vip", "JB"),
        FirstResponse("acme", "twitter", 9000.0, None, False, "default", "QQ"),
        NextResponse("acme", "twitter", 120.0),
    ]
    Counts(metrics, BRANDS.get).record(observations)
    get = metrics.registry.get_sample_value
    assert get("brandpulse_agent_replies_total", {"brand": "acme", "agent": "JB"}) == 1
    assert get("brandpulse_agent_replies_total", {"brand": "acme", "agent": "AD"}) == 0
    assert get("brandpulse_agent_replies_total", {"brand": "acme", "agent": "other"}) == 1
    assert get("brandpulse_agent_replies_total", {"brand": "acme", "agent": "ZZ"}) is None
    assert get("brandpulse_agent_first_response_seconds_count",
               {"brand": "acme", "agent": "other"}) == 1
    assert get("brandpulse_agent_sla_met_total", {"brand": "acme", "agent": "JB"}) == 1
    assert get("brandpulse_agent_sla_met_total", {"brand": "acme", "agent": "other"}) == 0
    assert get("brandpulse_sla_met_total",
               {"brand": "acme", "platform": "twitter", "policy": "vip"}) == 1
    assert get("brandpulse_first_response_seconds_count",
               {"brand": "acme", "platform": "twitter", "policy": "default"}) == 1
    assert get("brandpulse_next_response_seconds_sum",
               {"brand": "acme", "platform": "twitter"}) == 120.0
    # Every label value exists from the start and goes with the brand.
    assert get("brandpulse_sla_breaches_total",
               {"brand": "acme", "platform": "instagram", "policy": "dm"}) == 0
    metrics.forget_brand("acme")
    assert get("brandpulse_agent_replies_total", {"brand": "acme", "agent": "JB"}) is None
    assert get("brandpulse_sla_met_total",
               {"brand": "acme", "platform": "twitter", "policy": "vip"}) is None


def test_brand_view_and_gauge_carry_agents_and_at_risk() -> None:
    engine = Engine(BRANDS)
    for event in (message("m1", T0), message("m2", T0),
                  reply("r1", T0 + 5 * MIN, "m1", "ok ^JB")):
        engine.ingest(event, event.created_at)
    snapshot = engine.snapshot("acme", T0 + 50 * MIN)
    view = brand_view(snapshot)
    assert view["backlog"]["twitter"] == {"unanswered": 1, "oldest_age_seconds": 3000.0,
                                          "at_risk": 1}
    assert view["agents"] == {"JB": {"replies": 1, "first_responses": 1,
                                     "first_response_seconds": {"p50": 300.0, "p90": 300.0},
                                     "sla_met_share": 1.0}}
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.own_brand(ACME)
    metrics.attach_brand_snapshots(lambda: [(snapshot, HOUR)])
    assert metrics.registry.get_sample_value(
        "brandpulse_sla_at_risk_messages", {"brand": "acme", "platform": "twitter"}) == 1


# -- persistence ---------------------------------------------------------------------------

def roundtrip(book: ReplyBook, rows: dict | None = None) -> ReplyBook:
    """take_changes -> wire -> decode -> restore into a fresh book."""
    table = rows if rows is not None else {}
    for key, row in book.take_changes().items():
        raw = encode_state_key("acme", key)
        if row is None:
            table.pop(raw, None)
        else:  # persisted as the engine does: with the (here absent) behaviour features
            if key[1] in (RecordTag.AUDIENCE, RecordTag.POST):
                row = with_features(key[1] is RecordTag.AUDIENCE, row, None)
            table[raw] = encode_state_value(row)
    decoded = [decode_state(k, v, BRANDS, T0 + 30 * DAY) for k, v in table.items()]
    assert not [d for d in decoded if isinstance(d, Rejection)], decoded
    fresh = ReplyBook(ACME, breach_grace_seconds=0)
    book_rows, _ = split_features((d[1:] for d in decoded), None)  # type: ignore[index]
    fresh.restore(book_rows)
    return fresh


def test_policy_agent_follow_up_and_risk_survive_a_restart() -> None:
    book = agent_book()
    book.add_message(message("dm", T0, kind=AudienceKind.DIRECT_MESSAGE), True, T0)
    book.add_message(message("f1", T0 + MIN, in_reply_to="r1", kind=AudienceKind.REPLY),
                     True, T0 + MIN)
    book.add_post(reply("early", T0 + 2 * MIN, "later", "first! -AD"), T0 + 2 * MIN)
    now = T0 + 3 * HOUR
    restored = roundtrip(book)
    assert restored.agent_stats(now) == book.agent_stats(now)
    assert restored.backlog(T0 + 50 * MIN) == book.backlog(T0 + 50 * MIN)
    for fresh_or_old in (book, restored):
        out = fresh_or_old.add_post(reply("rf", now, "f1", "^JB"), now)
        assert of(NextResponse, out) == [NextResponse("acme", "twitter", now - T0 - MIN)]
        out = fresh_or_old.add_post(reply("rd", now, "dm"), now)
        assert of(FirstResponse, out)[0].policy == "dm_twitter"
        out = fresh_or_old.add_message(message("later", T0 + MIN), True, now)
        assert of(FirstResponse, out)[0].agent == "AD"


def test_rows_written_before_policies_still_decode() -> None:
    """Version-2 rows of the former shape: 7-field audience, 4-field post, 1-field orphan."""
    hour = int(T0 // HOUR)
    old = {
        encode_state_key("acme", (hour, RecordTag.AUDIENCE, "m1")):
            encode_state_value(["twitter", T0, True, None, False, False, None]),
        encode_state_key("acme", (hour, RecordTag.POST, "r0")):
            encode_state_value(["twitter", T0, "x", None]),
        encode_state_key("acme", (hour, RecordTag.ORPHAN, "m9")): encode_state_value([T0 + 5]),
    }
    book = roundtrip(ReplyBook(ACME), old)
    record = book._tracked["m1"]
    assert record.policy is not None and record.policy.name == "default"
    assert record.deadline == T0 + HOUR and record.agent is None and not record.followup
    # A forged agent or policy is refused with a reason.
    bad = encode_state_value(["twitter", T0, True, None, False, False, None, "vip", "jb!", False])
    decoded = decode_state(encode_state_key("acme", (hour, RecordTag.AUDIENCE, "m2")), bad,
                           BRANDS, T0 + DAY)
    assert isinstance(decoded, Rejection) and "agent" in decoded.detail
    # The 11th field (late reply counted) must be a bool; 10-field rows stay valid.
    for late, good in ((True, True), (False, True), ("yes", False), (1, False)):
        row = ["twitter", T0, True, None, False, True, None, "default", None, False, late]
        decoded = decode_state(encode_state_key("acme", (hour, RecordTag.AUDIENCE, "m3")),
                               encode_state_value(row), BRANDS, T0 + DAY)
        assert isinstance(decoded, Rejection) is not good, late


def test_engine_restart_equals_an_uninterrupted_run() -> None:
    """Persist after every event, crash halfway, restore: the rest of the run and the final
    numbers (per-policy breaches, agents, at risk, next responses) are identical."""
    events = []
    for i in range(40):
        at = T0 + i * 7 * MIN
        kind = AudienceKind.DIRECT_MESSAGE if i % 3 == 0 else AudienceKind.MENTION
        text = "@AcmeSupport cancel it" if i % 5 == 0 else "@AcmeSupport help"
        events.append(message(f"m{i}", at, text, kind=kind, author="bigspender" if i == 7
                              else "bob"))
        if i % 4:
            sig = ("^JB", "-AD", "*QQ", "")[i % 4]
            events.append(reply(f"r{i}", at + (i % 6) * 10 * MIN, f"m{i}", f"done {sig}"))
        if i % 4 == 1:
            events.append(message(f"f{i}", at + HOUR, "thanks but", in_reply_to=f"r{i}",
                                  kind=AudienceKind.REPLY))
            events.append(reply(f"rf{i}", at + HOUR + 20 * MIN, f"f{i}", "sure ^JB"))
    events.sort(key=lambda e: e.created_at)

    def run(engine: Engine, chunk: list[SocialEvent]) -> list[Any]:
        out: list[Any] = []
        for event in chunk:
            out += engine.ingest(event, event.created_at)
            out += engine.advance(event.created_at)
        return out

    reference = Engine(BRANDS)
    expected = run(reference, events)
    half = len(events) // 2
    first = Engine(BRANDS)
    seen = run(first, events[:half])
    table: dict[bytes, bytes] = {}
    for brand, key, row in first.take_changes():
        raw = encode_state_key(brand, key)
        if row is None:
            table.pop(raw, None)
        else:
            table[raw] = encode_state_value(row)
    wall = events[half - 1].created_at
    rows = []
    for k, v in table.items():
        decoded = decode_state(k, v, BRANDS, wall + 300)
        assert not isinstance(decoded, Rejection), decoded
        rows.append(decoded[1:])
    second = Engine(BRANDS)
    second.restore_brand("acme", rows, wall)
    seen += run(second, events[half:])
    assert seen == expected
    assert of(NextResponse, expected) and of(SlaBreached, expected)
    assert {o.policy for o in of(SlaBreached, expected)} >= {"cancel", "dm_twitter"}
    end = events[-1].created_at + 10 * MIN
    a, b = reference.snapshot("acme", end), second.snapshot("acme", end)
    assert a.backlog == b.backlog and a.agents == b.agents and a.agents


# -- report --------------------------------------------------------------------------------

def test_report_sections_per_policy_and_agent() -> None:
    events = [message("m1", T0), message("m2", T0, kind=AudienceKind.DIRECT_MESSAGE),
              message("m3", T0, text="@AcmeSupport urgent"),
              reply("r1", T0 + 10 * MIN, "m1", "ok ^JB"),
              reply("r2", T0 + 30 * MIN, "m2", "ok -AD"),
              reply("r3", T0 + 4 * MIN, "m3", "ok ^JB"),
              message("f1", T0 + 40 * MIN, "and now?", in_reply_to="r1",
                      kind=AudienceKind.REPLY),
              reply("r4", T0 + 100 * MIN, "f1", "done ^KK"),
              message("late", T0 + 2 * HOUR)]
    events.sort(key=lambda e: e.created_at)  # delivery in time order: nothing breaches early
    report = build_report(events, BRANDS, wall=T0 + 3 * HOUR)["brands"]["acme"]
    assert list(report["policies"]) == ["vip", "cancel", "dm_twitter", "dm", "default"]
    assert report["policies"]["vip"] == {
        "sla_seconds": 300.0, "answered": 1, "sla_met": 1, "sla_breaches": 0,
        "sla_met_share": 1.0, "first_response_seconds": {"p50": 240.0, "p90": 240.0}}
    assert report["policies"]["dm_twitter"]["sla_breaches"] == 1  # 30 min > 15 min
    assert report["policies"]["dm_twitter"]["sla_met_share"] == 0.0
    # default: m1 (10 min), f1 (60 min) met; "late" still open at the end, not decided.
    assert report["policies"]["default"]["answered"] == 2
    assert report["policies"]["default"]["sla_met_share"] == 1.0
    assert report["policies"]["cancel"]["sla_met_share"] is None
    assert report["agents"] == {
        "AD": {"listed": True, "replies": 1, "first_responses": 1,
               "first_response_seconds": {"p50": 1800.0, "p90": 1800.0}, "sla_met_share": 0.0},
        "JB": {"listed": True, "replies": 2, "first_responses": 2,
               "first_response_seconds": {"p50": 420.0, "p90": 564.0}, "sla_met_share": 1.0},
        "KK": {"listed": False, "replies": 1, "first_responses": 1,
               "first_response_seconds": {"p50": 3600.0, "p90": 3600.0},
               "sla_met_share": 1.0},
    }
    assert report["next_response_seconds"] == {"p50": 3600.0, "p90": 3600.0, "count": 1}


def _independent_next_responses(path: Path) -> tuple[int, dict[str, float]]:
    """Follow-ups straight from the CSV: a customer tweet replying to a brand tweet that is
    itself a reply and still retained (kept 7 days + 1 hour after the end of its event-time
    hour), answered by that same brand (its earliest reply, within the 7-day expiry)."""
    text = path.read_bytes().decode("utf-8").replace("\r\n", "\n").replace("\r", " ")
    rows = {r["tweet_id"].split(".")[0]: r for r in csv.DictReader(io.StringIO(text))}

    def when(value: str) -> float:
        return datetime.strptime(value, "%a %b %d %H:%M:%S %z %Y").timestamp()

    def parent(row: dict[str, str]) -> str:
        return (row["in_response_to_tweet_id"] or "").split(".")[0]

    answers: dict[tuple[str, str], float] = {}  # (brand, customer tweet) -> first reply
    for row in rows.values():
        if row["inbound"] == "False" and parent(row) in rows:
            key = (row["author_id"], parent(row))
            answers[key] = min(answers.get(key, float("inf")), when(row["created_at"]))
    delays: dict[str, list[float]] = {}
    for tid, row in rows.items():
        brand_reply = rows.get(parent(row))
        if (row["inbound"] == "True" and brand_reply is not None
                and brand_reply["inbound"] == "False" and parent(brand_reply)
                and when(brand_reply["created_at"]) <= when(row["created_at"])
                < (when(brand_reply["created_at"]) // HOUR + 1) * HOUR + 7 * DAY + HOUR
                and (brand_reply["author_id"], tid) in answers):
            delay = answers[brand_reply["author_id"], tid] - when(row["created_at"])
            if delay < 7 * DAY:
                delays.setdefault(brand_reply["author_id"], []).append(max(0.0, delay))
    total = sum(len(d) for d in delays.values())
    return total, {b: statistics.median(d) for b, d in delays.items() if len(d) < 512}


def test_twcs_next_responses_and_agents_end_to_end(shared_data: Path) -> None:
    sample = shared_data / TWCS_SAMPLE
    events, brands_file = load_events(str(sample), "twcs")
    report = build_report(events, brands_file)["brands"]
    total, medians = _independent_next_responses(sample)
    assert total > 200
    assert sum(b["next_response_seconds"]["count"] for b in report.values()) == total
    for brand, median in medians.items():
        assert report[brand]["next_response_seconds"]["p50"] == median, brand
    # Delta signs its replies (*TMT, *AFC ...): agents appear, with consistent counts.
    agents = report["Delta"]["agents"]
    assert len(agents) >= 10
    assert all(a["first_responses"] <= a["replies"] and not a["listed"]
               for a in agents.values())
    assert sum(a["first_responses"] for a in agents.values()) <= report["Delta"]["answered"]
