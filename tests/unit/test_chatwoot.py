"""`brandpulse ingest chatwoot`: Chatwoot's webhooks to events and conversation statuses, and
what the core makes of them (threads, resolution time, reopens), on hand-computed cases.

The payloads (tests/data/chatwoot/webhooks.json) are written from Chatwoot's source; the file
says which files and commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from streams.config import ConfigError, TopicNames, parse_brands
from streams.core.sla_observations import (
    ConversationReopened,
    ConversationResolved,
    DuplicateEvent,
    FirstResponse,
    NextResponse,
)
from streams.core.totals import Count, Timing, count_series, timing_series
from streams.engine import Engine
from streams.events import AudienceKind, ConversationStatus, Rejection, Side, SocialEvent
from streams.sources.chatwoot import (
    ChatwootConnector,
    Inboxes,
    Skip,
    parse_chatwoot_payload,
    sign,
)
from streams.wire import decode_input, status_to_dict
from tests.unit.test_state_restore import persist, restore
from tests.unit.test_webhook import ListSink

FIXTURES = orjson.loads((Path(__file__).parents[1] / "data" / "chatwoot" /
                         "webhooks.json").read_bytes())
T0 = 1_796_634_000.0  # 2026-12-07T09:00:00Z (a Monday): the fixtures' conversation opens
NOW = T0 + 3 * 86400
SECRET = "webhook-secret-for-tests"
THREAD = "12/45"  # inbox 12, conversation 45
BRANDS = parse_brands({"brand": [
    {"name": "acme", "handles": {"chatwoot": ["12"]}, "sla_seconds": 3600},
    {"name": "slowdesk", "handles": {"chatwoot": ["13"]}, "sla_seconds": 3600,
     "business_hours": {"timezone": "Europe/Paris", "start": "09:00", "end": "18:00",
                        "days": ["mon", "tue", "wed", "thu", "fri"]}},
]})
INBOXES = Inboxes.from_brands(BRANDS)


def parsed(name: str, **changes: Any) -> Any:
    return parse_chatwoot_payload({**FIXTURES[name], **changes}, INBOXES, NOW)


# --- mapping ----------------------------------------------------------------------------

def test_incoming_is_a_direct_message_in_its_conversation_and_outgoing_answers_it() -> None:
    incoming = parsed("incoming")
    assert incoming.events == [SocialEvent(
        Side.AUDIENCE, "9001", "acme", "chatwoot", "contact:77",
        "Hi, my order #123 never arrived", T0, THREAD, AudienceKind.DIRECT_MESSAGE)]
    outgoing = parsed("outgoing")
    assert outgoing.events == [SocialEvent(Side.BRAND, "9002", "acme", "chatwoot", "12",
                                           "Sorry about that, it ships today.", T0 + 600,
                                           THREAD)]
    assert incoming.skipped == outgoing.skipped == [] and not incoming.rejected


@pytest.mark.parametrize(("name", "reason"), [
    ("private_note", Skip.PRIVATE_NOTE), ("agent_bot", Skip.AUTOMATED),
    ("automation", Skip.AUTOMATED), ("campaign", Skip.AUTOMATED),
    ("template", Skip.AUTOMATED), ("activity", Skip.ACTIVITY),
    ("conversation_created", Skip.CONVERSATION_CREATED), ("pending", Skip.OTHER_STATUS),
])
def test_notes_bots_automations_campaigns_and_templates_are_not_answers(
        name: str, reason: str) -> None:
    outcome = parsed(name)
    assert (outcome.events, outcome.skipped, outcome.rejected) == ([], [reason], [])


def test_resolution_and_reopen_become_status_records_of_the_conversation() -> None:
    resolved = parsed("resolved").events
    assert resolved == [ConversationStatus(f"{THREAD}@resolved@{int(T0 + 7200) * 1000}",
                                           "acme", "chatwoot", THREAD, T0 + 7200, T0)]
    reopened = parsed("reopened").events
    assert reopened == [ConversationStatus(f"{THREAD}@reopened@{int(T0 + 9000) * 1000}",
                                           "acme", "chatwoot", THREAD, T0 + 9000, T0, True)]
    # The same delivery twice gives the same id: the second is a duplicate downstream.
    assert parsed("resolved").events == resolved


def test_unknown_inbox_future_time_and_non_objects_are_refused() -> None:
    stranger = parsed("incoming", inbox={"id": 99, "name": "x"},
                      conversation={**FIXTURES["incoming"]["conversation"], "inbox_id": 99})
    assert [r for r, _ in stranger.rejected] == ["unknown_account"] and not stranger.events
    future = parsed("incoming", created_at="2027-01-01T00:00:00.000Z")
    assert [r for r, _ in future.rejected] == ["future_timestamp"]
    assert isinstance(parse_chatwoot_payload([1], INBOXES, NOW), Rejection)
    assert isinstance(parse_chatwoot_payload({"id": 1}, INBOXES, NOW), Rejection)
    assert parsed("incoming", event="message_updated").skipped == [Skip.OTHER_EVENT]


def test_an_inbox_in_two_brands_and_a_missing_secret_are_refused_at_start() -> None:
    twice = parse_brands({"brand": [{"name": "a", "handles": {"chatwoot": ["1"]}},
                                    {"name": "b", "handles": {"chatwoot": ["1"]}}]})
    with pytest.raises(ConfigError, match="inbox '1'"):
        Inboxes.from_brands(twice)
    with pytest.raises(ConfigError, match="CHATWOOT_WEBHOOK_SECRET"):
        ChatwootConnector(BRANDS, secret="")


def test_status_records_survive_the_wire() -> None:
    status = parsed("resolved").events[0]
    raw = orjson.dumps(status_to_dict(status))
    assert decode_input(raw, Side.BRAND, BRANDS, 65536) == status
    bad = orjson.dumps({**status_to_dict(status), "opened_at": "2030-01-01T00:00:00Z"})
    assert isinstance(decode_input(bad, Side.BRAND, BRANDS, 65536), Rejection)


async def test_a_status_record_goes_with_the_brand_posts(tmp_path: Path) -> None:
    from streams.commands.ingest import JsonlSink
    from streams.wire import encode_record, record_side

    status = parsed("resolved").events[0]
    assert record_side(status) is Side.BRAND
    assert decode_input(encode_record(status), Side.BRAND, BRANDS, 65536) == status
    sink = JsonlSink(tmp_path / "out.jsonl")
    await sink.emit(status)
    await sink.flush()
    await sink.close()
    line = orjson.loads((tmp_path / "out.jsonl").read_bytes())
    assert (line["side"], line["kind"], line["thread"]) == ("brand", "resolved", THREAD)


# --- signature, through the real server -------------------------------------------------

def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"conversation_created"}'
    by_hand = hmac.new(SECRET.encode(), b"1796634000." + body, hashlib.sha256).hexdigest()
    assert sign(SECRET, "1796634000", body) == "sha256=" + by_hand


@dataclass
class Server:
    sink: ListSink
    url: str
    http: aiohttp.ClientSession

    async def post(self, body: bytes, stamp: float = NOW, secret: str = SECRET,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        ts = str(int(stamp))
        sent = {"Content-Type": "application/json", "X-Chatwoot-Timestamp": ts,
                "X-Chatwoot-Signature": sign(secret, ts, body),
                "X-Chatwoot-Delivery": "3f1c"} if headers is None else headers
        async with self.http.post(self.url + "/chatwoot", data=body, headers=sent) as answer:
            return answer.status, orjson.loads(await answer.read())


@contextlib.asynccontextmanager
async def serving(**options: Any) -> AsyncIterator[Server]:
    sink = ListSink(source="chatwoot")
    connector = ChatwootConnector(BRANDS, "127.0.0.1", 0, secret=SECRET, clock=lambda: NOW,
                                  **options)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(sink, stop))
    await asyncio.wait_for(connector.started.wait(), 10)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        try:
            yield Server(sink, f"http://127.0.0.1:{connector.port}", http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


async def test_signed_events_are_acknowledged_once_and_repeats_are_duplicates() -> None:
    async with serving() as server:
        body = orjson.dumps(FIXTURES["incoming"])
        assert await server.post(body) == (200, {"accepted": 1, "skipped": 0, "rejected": 0})
        assert await server.post(body) == (200, {"accepted": 0, "skipped": 1, "rejected": 0})
        status, _ = await server.post(orjson.dumps(FIXTURES["private_note"]))
        assert status == 200
        assert [e.id for e in server.sink.flushed] == ["9001"]
        assert server.sink.skips == [Skip.DUPLICATE, Skip.PRIVATE_NOTE]


async def test_forged_stale_or_unsigned_requests_get_401_and_emit_nothing() -> None:
    async with serving() as server:
        body = orjson.dumps(FIXTURES["incoming"])
        assert (await server.post(body, secret="wrong"))[0] == 401
        assert (await server.post(body, stamp=NOW - 301))[0] == 401  # signed, but too old
        assert (await server.post(body, headers={"Content-Type": "application/json"}))[0] \
            == 401
        tampered = body.replace(b"9001", b"9999")
        ts = str(int(NOW))
        assert (await server.post(tampered, headers={
            "X-Chatwoot-Timestamp": ts,
            "X-Chatwoot-Signature": sign(SECRET, ts, body)}))[0] == 401
        assert server.sink.emitted == []
        assert server.sink.reasons == ["bad_signature", "stale_signature", "bad_signature",
                                       "bad_signature"]


# --- the core: threads, resolution, reopen, restart ----------------------------------------

def message(side: Side, message_id: str, at: float, brand: str = "acme",
            thread: str = THREAD) -> SocialEvent:
    if side is Side.BRAND:
        return SocialEvent(side, message_id, brand, "chatwoot", "12", "ok", at, thread)
    return SocialEvent(side, message_id, brand, "chatwoot", "contact:77", "help", at, thread,
                       AudienceKind.DIRECT_MESSAGE)


def status(at: float, opened: float = T0, reopened: bool = False, brand: str = "acme",
           thread: str = THREAD) -> ConversationStatus:
    kind = "reopened" if reopened else "resolved"
    return ConversationStatus(f"{thread}@{kind}@{at}", brand, "chatwoot", thread, at, opened,
                              reopened)


def responses(observations: list[Any]) -> list[tuple[str, float]]:
    return [(type(o).__name__, o.seconds) for o in observations
            if isinstance(o, FirstResponse | NextResponse)]


def test_the_next_agent_reply_answers_every_earlier_customer_message() -> None:
    engine = Engine(BRANDS, analyse_behaviour=False)
    wall = T0 + 86400
    engine.ingest(message(Side.AUDIENCE, "m1", T0), wall)
    engine.ingest(message(Side.AUDIENCE, "m2", T0 + 60), wall)
    # 600 s and 540 s: both messages wait for the same reply.
    assert responses(engine.ingest(message(Side.BRAND, "r1", T0 + 600), wall)) == [
        ("FirstResponse", 600.0), ("FirstResponse", 540.0)]
    # A follow-up after the brand replied: its answer is also a next response.
    engine.ingest(message(Side.AUDIENCE, "m3", T0 + 1800), wall)
    assert responses(engine.ingest(message(Side.BRAND, "r2", T0 + 2400), wall)) == [
        ("FirstResponse", 600.0), ("NextResponse", 600.0)]
    # Another conversation of the same inbox is not answered by this one's replies.
    engine.ingest(message(Side.AUDIENCE, "o1", T0 + 100, thread="12/46"), wall)
    engine.ingest(message(Side.BRAND, "r3", T0 + 3000), wall)
    assert engine.backlog("acme", T0 + 3000)["chatwoot"].unanswered == 1
    totals = engine.totals("acme")
    assert totals.count(Count.SLA_MET, "chatwoot", "default") == 3


def test_a_reply_delivered_before_the_message_still_answers_it() -> None:
    engine = Engine(BRANDS, analyse_behaviour=False)
    wall = T0 + 86400
    engine.ingest(message(Side.BRAND, "r1", T0 + 900), wall)  # brand-posts topic came first
    assert responses(engine.ingest(message(Side.AUDIENCE, "m1", T0 + 300), wall)) == [
        ("FirstResponse", 600.0)]
    # A reply older than the one that answered: the first response becomes the true one.
    engine.ingest(message(Side.BRAND, "r0", T0 + 500), wall)
    assert engine.book("acme")._tracked["m1"].answered_at == T0 + 500


def test_resolution_time_histogram_and_reopens_by_hand() -> None:
    engine = Engine(BRANDS, analyse_behaviour=False)
    wall = T0 + 86400
    assert engine.ingest(status(T0 + 7200), wall) == [
        ConversationResolved("acme", "chatwoot", 7200.0)]
    assert engine.ingest(status(T0 + 7200), wall) == [DuplicateEvent("acme")]  # a retry
    assert engine.ingest(status(T0 + 9000, reopened=True), wall) == [
        ConversationReopened("acme", "chatwoot")]
    assert engine.ingest(status(T0 + 90000), wall + 86400) == [
        ConversationResolved("acme", "chatwoot", 90000.0)]  # from creation, again
    totals = engine.totals("acme")
    buckets, total = totals.histogram(Timing.RESOLUTION, "chatwoot")
    as_dict = dict(buckets)
    # 7200 s falls in le=7200 (2 h); 90000 s (25 h) in le=172800 (2 days), not in le=86400.
    assert (as_dict[3600], as_dict[7200], as_dict[86400], as_dict[172800]) == (0, 1, 1, 2)
    assert total == 97200.0
    assert totals.count(Count.REOPENED, "chatwoot") == 1
    assert totals.count(Count.DUPLICATES) == 1


def test_resolution_counts_business_hours_when_the_sla_does() -> None:
    engine = Engine(BRANDS, analyse_behaviour=False)
    opened = T0 + 7 * 3600  # Monday 16:00 UTC = 17:00 in Paris, an hour before closing
    resolved = T0 + 24 * 3600  # Tuesday 09:00 UTC = 10:00 in Paris, an hour after opening
    found = engine.ingest(status(resolved, opened, brand="slowdesk", thread="13/1"),
                          resolved + 60)
    assert found == [ConversationResolved("slowdesk", "chatwoot", 2 * 3600.0)]  # not 17 h


def test_series_exist_only_for_inbox_platforms() -> None:
    acme = BRANDS.get("acme")
    twitter = parse_brands({"brand": [{"name": "t", "handles": {"twitter": ["T"]}}]}).get("t")
    assert acme is not None and twitter is not None
    assert (Count.REOPENED, "chatwoot") in count_series(acme)
    assert (Timing.RESOLUTION, "chatwoot") in timing_series(acme)
    assert not any(key[0] in (Count.REOPENED, Timing.RESOLUTION)
                   for key in (*count_series(twitter), *timing_series(twitter)))


def test_threads_resolutions_and_totals_are_exact_through_a_restart() -> None:
    table: dict[bytes, bytes] = {}
    wall = T0 + 86400
    engine = Engine(BRANDS)
    engine.ingest(message(Side.AUDIENCE, "m1", T0), wall)
    engine.ingest(message(Side.BRAND, "r1", T0 + 600), wall)
    engine.ingest(message(Side.AUDIENCE, "m2", T0 + 1200), wall)  # waits across the restart
    engine.ingest(status(T0 + 7200), wall)
    persist(engine, table)
    before = engine.totals("acme")
    restarted = restore(table, wall, BRANDS)
    assert restarted.totals("acme").counts == before.counts
    assert restarted.totals("acme").timings == before.timings
    # Redelivered after the restart: duplicates, counted once.
    assert restarted.ingest(status(T0 + 7200), wall) == [DuplicateEvent("acme")]
    assert restarted.ingest(message(Side.AUDIENCE, "m2", T0 + 1200), wall) == [
        DuplicateEvent("acme")]
    # The waiting message is still in its conversation: the next reply answers it as a
    # follow-up (the brand had replied before it).
    assert responses(restarted.ingest(message(Side.BRAND, "r2", T0 + 1500), wall)) == [
        ("FirstResponse", 300.0), ("NextResponse", 300.0)]


async def test_the_webhook_servers_bounds_apply_to_the_chatwoot_route() -> None:
    async with serving(max_body_bytes=4096) as server:
        big = orjson.dumps({**FIXTURES["incoming"], "content": "x" * 5000})
        assert (await server.post(big))[0] == 413
        assert server.sink.reasons == ["oversized"] and server.sink.emitted == []
        async with server.http.get(server.url + "/chatwoot") as answer:
            assert answer.status == 405
        async with server.http.post(server.url + "/meta", data=b"{}") as answer:
            assert answer.status == 404  # only the Chatwoot route is served


def test_state_rows_of_conversations_are_checked_field_by_field() -> None:
    from streams.core.sla_records import RecordTag
    from streams.wire import decode_state, encode_state_key, encode_state_value

    hour = int(T0 // 3600)
    good = ["chatwoot", T0 + 10, T0, False]
    key = encode_state_key("acme", (hour, RecordTag.STATUS, "12/45@resolved@1"))
    assert not isinstance(decode_state(key, encode_state_value(good), BRANDS, NOW), Rejection)
    for bad in (["chatwoot", T0 + 10, T0 + 20, False],  # opened after the change
                ["twitter", T0 + 10, T0, False],  # not one of the brand's platforms
                ["chatwoot", T0 + 10, T0, "no"], ["chatwoot", T0 + 10, T0]):
        assert isinstance(decode_state(key, encode_state_value(bad), BRANDS, NOW), Rejection)
    audience = encode_state_key("acme", (hour, RecordTag.AUDIENCE, "9001"))
    row = ["chatwoot", T0, True, None, False, False, None, "default", None, False, False]
    for thread, accepted in ((THREAD, True), ("", False), (45, False), ("x" * 300, False)):
        decoded = decode_state(audience, encode_state_value([*row, thread]), BRANDS, NOW)
        assert isinstance(decoded, Rejection) is not accepted, thread


# --- a recording (`ingest chatwoot --out`): replayed and reported whole ----------------------

async def test_a_recording_reads_back_replays_and_reports_its_conversations(
        tmp_path: Path) -> None:
    """Status lines written by the JSONL sink are records of the file like its messages:
    read back equal, derived brands untouched by them, replayed to the brand-posts topic,
    and counted by `report` (resolutions and reopens, by hand)."""
    from streams.commands.ingest import JsonlSink
    from streams.commands.replay import format_summary, replay
    from streams.commands.report import build_report
    from streams.sources.files import open_events
    from tests.unit.test_replay_pacing import FakeProducer

    wall = T0 + 86400
    records: list[SocialEvent | ConversationStatus] = [
        message(Side.AUDIENCE, "m1", T0), message(Side.BRAND, "r1", T0 + 600),
        status(T0 + 3600),  # resolved after 1 h
        status(T0 + 4000, reopened=True),
        status(T0 + 10800),  # resolved again, 3 h after the conversation opened
        status(T0 + 10800),  # a redelivery: a duplicate, counted once
        status(T0 + 9000, opened=T0 + 1800, thread="12/46"),  # 2 h
    ]
    path = tmp_path / "chatwoot.jsonl"
    sink = JsonlSink(path)
    for record in records:
        await sink.emit(record)
    await sink.flush()
    await sink.close()

    source = open_events(str(path))  # brands derived from the file
    assert list(source) == records and source.rejected == 0
    acme = source.brands.get("acme")
    assert acme is not None and acme.handles == {"chatwoot": frozenset({"12"})}  # not "acme"

    row = build_report(open_events(str(path), brands=BRANDS), BRANDS, wall=wall)[
        "brands"]["acme"]
    conversations = row["conversations"]
    assert (conversations["resolved"], conversations["reopened"]) == (3, 1)
    # Resolution times 3600, 10800 and 7200 s: the median is 7200 (sketch: 1 % error).
    assert conversations["resolution_seconds"]["p50"] == pytest.approx(7200, rel=0.01)
    assert (row["messages"], row["answered"]) == (1, 1)

    producer = FakeProducer()
    stats = replay(source, "unused:9092", producer=producer, progress=False)
    names = TopicNames()
    topics = [topic for topic, _, _, _ in producer.records]
    assert topics.count(names.brand_posts) == 6
    assert topics.count(names.audience_messages) == 1
    assert (stats.brand_posts, stats.status_changes) == (1, 5)
    assert "5 inbox status changes" in format_summary(stats)
    replayed = [decode_input(value, Side.BRAND, BRANDS, 65536)
                for topic, _, value, _ in producer.records if topic == names.brand_posts]
    assert replayed[1:] == records[2:]
