"""Bluesky connector: classification edge cases, a fake Jetstream with a disconnect and a
resume from the cursor, the shared ingest helpers, handle resolution, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from prometheus_client import generate_latest

from streams.commands.ingest import JsonlSink, MeteredSink
from streams.config import ConfigError, parse_brands
from streams.events import AudienceKind, Side, SocialEvent
from streams.metrics import SourceMetrics
from streams.sources.base import Backoff, CursorFile, SinkUnavailable
from streams.sources.bluesky import (
    DELETE,
    NO_BRAND_LINK,
    NOT_COMMIT,
    REWIND_US,
    UNRELATED,
    UPDATE,
    BlueskyConnector,
    BlueskyFilter,
    resolve_bluesky_handles,
    subscribe_url,
)
from streams.sources.jsonl import read_jsonl
from tests.jetstream_fake import (
    BOB,
    BRAND_DID,
    JANE,
    OTHER_BRAND_DID,
    FakeJetstream,
    commit,
    encode,
    post,
    repost,
    uri,
)

BRANDS = parse_brands({"brand": [
    {"name": "acme", "handles": {"bluesky": [BRAND_DID, "acme.bsky.social"]}},
    {"name": "globex", "handles": {"bluesky": [OTHER_BRAND_DID]}},
]})
T0 = 1_700_000_000_000_000  # time_us


def classify(frame: dict[str, Any]) -> Any:
    return BlueskyFilter(BRANDS).classify(encode(frame))


class ListSink:
    """The contract's list-backed fake sink."""

    source = "bluesky"

    def __init__(self) -> None:
        self.events: list[SocialEvent] = []
        self.flushed = 0  # events emitted before the last flush
        self.skips: list[str] = []
        self.rejects: list[str] = []
        self.states: list[bool] = []
        self.reconnects = 0

    async def emit(self, event: SocialEvent) -> None:
        self.events.append(event)

    async def flush(self) -> None:
        self.flushed = len(self.events)

    def skipped(self, reason: str) -> None:
        self.skips.append(reason)

    def rejected(self, reason: str, detail: str) -> None:
        self.rejects.append(reason)

    def connected(self, up: bool) -> None:
        self.states.append(up)

    def reconnected(self) -> None:
        self.reconnects += 1


# --- classification ----------------------------------------------------------------------

def test_brand_post_and_audience_reply_link_by_at_uri() -> None:
    brand = classify(post(BRAND_DID, T0, "b1", "New shoes today"))
    [event] = brand.events
    assert (event.side, event.brand, event.platform, event.author) == (
        Side.BRAND, "acme", "bluesky", BRAND_DID)
    assert event.id == uri(BRAND_DID, "b1") and event.in_reply_to is None
    question = classify(post(JANE, T0 + 1000, "j1", "where is my order?",
                             parent=uri(BRAND_DID, "b1")))
    [audience] = question.events
    assert (audience.side, audience.kind, audience.brand) == (Side.AUDIENCE,
                                                              AudienceKind.REPLY, "acme")
    assert audience.in_reply_to == uri(BRAND_DID, "b1") and audience.lang == "en"
    answer = classify(post(BRAND_DID, T0 + 2000, "b2", "DM us", parent=audience.id,
                           root=uri(BRAND_DID, "b1")))
    [reply] = answer.events
    assert reply.side is Side.BRAND and reply.in_reply_to == audience.id


def test_strangers_posts_are_skipped_without_parsing() -> None:
    result = classify(post(JANE, T0, "j1", "lunch", parent=uri(BOB, "x")))
    assert result.skipped == UNRELATED and result.time_us is None and not result.events
    assert BlueskyFilter(BRANDS).classify("{not json at all").skipped == UNRELATED


def test_deletes_updates_and_non_commits_are_skipped() -> None:
    assert classify(commit(BRAND_DID, T0, "b1", operation="delete")).skipped == DELETE
    reply_delete = commit(JANE, T0, "j1", operation="delete")
    reply_delete["commit"]["note"] = uri(BRAND_DID, "b1")  # mentions the brand: parsed
    assert classify(reply_delete).skipped == DELETE
    assert classify(post(BRAND_DID, T0, "b1", "edited", operation="update")).skipped == UPDATE
    identity = {"did": BRAND_DID, "time_us": T0, "kind": "identity",
                "identity": {"did": BRAND_DID, "handle": "acme.bsky.social", "seq": 1}}
    assert classify(identity).skipped == NOT_COMMIT


def test_reposts_of_brand_posts_are_shares() -> None:
    [share] = classify(repost(JANE, T0, "r1", uri(BRAND_DID, "b1"))).events
    assert share.is_share and share.side is Side.AUDIENCE and share.brand == "acme"
    assert share.id == uri(JANE, "r1", "app.bsky.feed.repost")
    assert classify(repost(BRAND_DID, T0, "r2", uri(BRAND_DID, "b1"))).skipped == "brand_repost"


def test_created_at_is_bounded_by_time_us() -> None:
    [future] = classify(post(JANE, T0, "j1", "hi", created=T0 / 1e6 + 86400,
                             parent=uri(BRAND_DID, "b1"))).events
    assert future.created_at == T0 / 1e6
    [old] = classify(post(JANE, T0, "j2", "hi", created=T0 / 1e6 - 30 * 86400,
                          parent=uri(BRAND_DID, "b1"))).events
    assert old.created_at == T0 / 1e6 - 600
    [honest] = classify(post(JANE, T0, "j3", "hi", created=T0 / 1e6 - 2,
                             parent=uri(BRAND_DID, "b1"))).events
    assert honest.created_at == pytest.approx(T0 / 1e6 - 2)


def test_brand_replying_to_itself_is_a_broadcast() -> None:
    [event] = classify(post(BRAND_DID, T0, "b2", "(2/2)", parent=uri(BRAND_DID, "b1"))).events
    assert event.side is Side.BRAND and event.in_reply_to is None


def test_thread_rooted_at_the_brand_with_another_parent_is_a_comment() -> None:
    [event] = classify(post(JANE, T0, "j2", "same here", parent=uri(BOB, "x1"),
                            root=uri(BRAND_DID, "b1"))).events
    assert (event.brand, event.kind, event.in_reply_to) == ("acme", AudienceKind.COMMENT,
                                                            uri(BOB, "x1"))


def test_mention_facets_and_several_brands() -> None:
    [event] = classify(post(JANE, T0, "j1", "@acme.bsky.social help",
                            mentions=(BRAND_DID,))).events
    assert event.kind is AudienceKind.MENTION and event.brand == "acme"
    # a DID only in the text, not in a facet, is no link
    assert classify(post(JANE, T0, "j2", f"see {BRAND_DID}")).skipped == NO_BRAND_LINK
    both = classify(post(JANE, T0, "j3", "hi both", parent=uri(BRAND_DID, "b1"),
                         mentions=(OTHER_BRAND_DID,))).events
    assert {(e.brand, e.kind) for e in both} == {("acme", AudienceKind.REPLY),
                                                 ("globex", AudienceKind.MENTION)}
    # a brand answering another brand: its own brand post AND the other's audience
    cross = classify(post(OTHER_BRAND_DID, T0, "g1", "hey acme",
                          parent=uri(BRAND_DID, "b1"))).events
    assert {(e.side, e.brand) for e in cross} == {(Side.BRAND, "globex"),
                                                  (Side.AUDIENCE, "acme")}


def test_a_facet_mention_of_a_brand_listed_by_its_did_only_needs_a_reply() -> None:
    """The SLA trusts the facet's DID: no handle in the brands file, none in the text."""
    from streams.core.reply_rule import requires_reply

    brands = parse_brands({"brand": [{"name": "acme", "handles": {"bluesky": [BRAND_DID]}}]})
    frame = post(JANE, T0, "j1", "@acme-renamed.example where is my order?",
                 mentions=(BRAND_DID,))
    [event] = BlueskyFilter(brands).classify(encode(frame)).events
    assert event.kind is AudienceKind.MENTION
    assert requires_reply(event, brands.get("acme"))  # type: ignore[arg-type]


def test_bad_frames_mentioning_a_brand_are_rejected_not_dropped() -> None:
    bad = post(JANE, T0, "j1", parent=uri(BRAND_DID, "b1"))
    bad["commit"]["record"]["text"] = 5
    assert classify(bad).rejected[0] == "schema"
    no_time = post(JANE, 0, "j1", parent=uri(BRAND_DID, "b1"))
    assert classify(no_time).rejected[0] == "schema"
    assert BlueskyFilter(BRANDS).classify(f'{{"did":"{BRAND_DID}",').rejected[0] == \
        "malformed_json"


def test_many_brands_use_the_regex_scan() -> None:
    brands = parse_brands({"brand": [
        {"name": f"b{i}", "handles": {"bluesky": [f"did:plc:{chr(97 + i) * 24}"]}}
        for i in range(20)]})
    f = BlueskyFilter(brands)
    target = "did:plc:" + "k" * 24
    [event] = f.classify(encode(post(JANE, T0, "j", parent=uri(target, "p")))).events
    assert event.brand == "b10"
    assert f.classify(encode(post(JANE, T0, "j", parent=uri(BOB, "p")))).skipped == UNRELATED


# --- connector against a fake Jetstream ------------------------------------------------

async def test_disconnect_resumes_from_the_cursor_without_gap(tmp_path: Path) -> None:
    frames = []
    for i in range(12):
        t = T0 + i * 1_000_000
        if i % 3 == 0:
            frames.append(post(JANE, t, f"j{i}", f"q{i}", parent=uri(BRAND_DID, "b1")))
        else:
            frames.append(post(BOB, t, f"x{i}", "noise"))
    fake = FakeJetstream(frames, cut_after=7)
    url = await fake.start()
    cursor = CursorFile(tmp_path / "bluesky.cursor")
    connector = BlueskyConnector(BRANDS, url, cursor, Backoff(0.05, 0.2), flush_interval=0.05)
    sink, stop = ListSink(), asyncio.Event()
    task = asyncio.create_task(connector.run(sink, stop))
    try:
        deadline = time.monotonic() + 15
        while len({e.id for e in sink.events}) < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await fake.stop()
    assert fake.queries[0]["wantedCollections"] == [
        "app.bsky.feed.post", "app.bsky.feed.repost"]
    assert "cursor" not in fake.queries[0]
    assert len(fake.queries) == 2
    resumed = int(fake.queries[1]["cursor"][0])
    # the first connection delivered frames 0..6; the cursor rewinds from a flushed one
    assert T0 <= resumed + REWIND_US <= T0 + 6 * 1_000_000
    assert {e.id for e in sink.events} == {uri(JANE, f"j{i}") for i in (0, 3, 6, 9)}
    assert sink.reconnects == 1 and sink.states[:2] == [True, False] and sink.states[-1] is False
    assert sink.skips.count(UNRELATED) >= 8
    assert int(cursor.load() or 0) == T0 + 11 * 1_000_000
    assert sink.flushed == len(sink.events)
    # a restart resumes from the saved cursor
    fake2 = FakeJetstream(frames)
    url2 = await fake2.start()
    connector2 = BlueskyConnector(BRANDS, url2, cursor, Backoff(0.05, 0.2), flush_interval=0.05)
    stop2 = asyncio.Event()
    task2 = asyncio.create_task(connector2.run(ListSink(), stop2))
    try:
        deadline = time.monotonic() + 10
        while not fake2.queries and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop2.set()
        await asyncio.wait_for(task2, 10)
    finally:
        await fake2.stop()
    assert fake2.queries[0]["cursor"] == [str(T0 + 11 * 1_000_000 - REWIND_US)]


async def test_unreachable_jetstream_backs_off_and_stops(tmp_path: Path) -> None:
    from streams.plumbing.broker import free_port

    connector = BlueskyConnector(BRANDS, f"ws://127.0.0.1:{free_port()}/subscribe", None,
                                 Backoff(0.01, 0.05))
    sink, stop = ListSink(), asyncio.Event()
    task = asyncio.create_task(connector.run(sink, stop))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert connector.connections == 0 and connector.backoff.attempts >= 3


def test_subscribe_url_keeps_existing_query() -> None:
    assert subscribe_url("ws://h/subscribe?compress=false", 5).endswith("&cursor=5")
    assert "cursor" not in subscribe_url("ws://h/subscribe", None)


# --- shared helpers ----------------------------------------------------------------------

def test_backoff_grows_caps_and_jitters() -> None:
    backoff = Backoff(1, 60, 0.2, rng=lambda: 1.0)
    assert [round(backoff.next(), 3) for _ in range(8)] == [1.2, 2.4, 4.8, 9.6, 19.2, 38.4,
                                                            72.0, 72.0]
    backoff.reset()
    low = Backoff(1, 60, 0.2, rng=lambda: 0.0)
    assert backoff.next() == pytest.approx(1.2) and low.next() == pytest.approx(0.8)


def test_cursor_file_round_trip_and_garbage(tmp_path: Path) -> None:
    cursor = CursorFile(tmp_path / "c")
    assert cursor.load() is None
    cursor.save("123")
    assert cursor.load() == "123" and not (tmp_path / "c.tmp").exists()
    (tmp_path / "c").write_bytes(b"\xff\xfe")
    assert cursor.load() is None


async def test_jsonl_sink_appends_and_metered_sink_counts(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"")
    metrics = SourceMetrics(clock=lambda: 1000.0)
    sink = MeteredSink(JsonlSink(path), metrics, "bluesky", clock=lambda: 1000.0)
    good = SocialEvent(Side.AUDIENCE, "at://x/p/1", "acme", "bluesky", JANE, "hi", 990.0,
                       None, AudienceKind.MENTION)
    await sink.emit(good)
    await sink.emit(SocialEvent(Side.BRAND, "at://x/p/2", "acme", "bluesky", BRAND_DID, "x",
                                1000.0 + 301))  # future: refused
    sink.skipped(UNRELATED)
    await sink.flush()
    await sink.writer.close()
    [event] = list(read_jsonl(path))
    assert event == good
    text = generate_latest(metrics.registry).decode()
    assert 'brandpulse_source_events_total{side="audience",source="bluesky"} 1.0' in text
    assert 'brandpulse_source_rejected_total{reason="future_timestamp",source="bluesky"} 1.0' \
        in text
    assert 'brandpulse_source_lag_seconds{source="bluesky"} 10.0' in text
    assert 'brandpulse_source_connected{source="bluesky"} 0.0' in text


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
async def test_jsonl_sink_reports_a_full_disk() -> None:
    sink = JsonlSink("/dev/full")
    await sink.emit(SocialEvent(Side.BRAND, "i", "acme", "bluesky", "a", "t", 1.0))
    with pytest.raises(SinkUnavailable, match="No space"):
        await sink.flush()
    await sink.close()


# --- handle resolution -------------------------------------------------------------------

def _resolver(answers: dict[str, str]) -> tuple[str, Any]:
    async def resolve(request: web.Request) -> web.Response:
        handle = request.query.get("handle", "")
        if handle in answers:
            return web.json_response({"did": answers[handle]})
        return web.json_response({"error": "InvalidRequest"}, status=400)

    app = web.Application()
    app.router.add_get("/xrpc/com.atproto.identity.resolveHandle", resolve)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, handle_signals=False)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)

    return f"http://127.0.0.1:{port}", stop


def test_handles_resolve_to_dids_or_fail_in_one_line() -> None:
    brands = parse_brands({"brand": [
        {"name": "acme", "handles": {"bluesky": ["acme.bsky.social"]}},
        {"name": "globex", "handles": {"bluesky": [OTHER_BRAND_DID, "globex.example"]}}]})
    service, stop = _resolver({"acme.bsky.social": BRAND_DID})
    try:
        resolved, warnings = resolve_bluesky_handles(brands, service)
        assert resolved.get("acme").handles["bluesky"] == {"acme.bsky.social", BRAND_DID}
        assert len(warnings) == 1 and "globex.example" in warnings[0]
        with pytest.raises(ConfigError, match=r"put the DID"):
            resolve_bluesky_handles(parse_brands({"brand": [
                {"name": "x", "handles": {"bluesky": ["nobody.example"]}}]}), service)
    finally:
        stop()
    with pytest.raises(ConfigError, match=r"cannot reach .*Fix: put the DID") as error:
        resolve_bluesky_handles(brands, "http://127.0.0.1:9", timeout=1)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("handles", "message"), [
    ({"bluesky": ["did:plc:short"]}, "neither a DID"),
    ({"bluesky": ["not a handle"]}, "neither a DID"),
    ({"mastodon": ["acme"]}, "user@instance"),
])
def test_new_platform_handles_are_checked(handles: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_brands({"brand": [{"name": "acme", "handles": handles}]})
    ok = parse_brands({"brand": [{"name": "acme", "handles": {
        "bluesky": ["did:web:acme.example", "did:plc:" + "a" * 24],
        "mastodon": ["@Acme@mastodon.social"]}}]})
    assert ok.get("acme").handles["mastodon"] == {"acme@mastodon.social"}


# --- the command: SIGTERM flushes and exits 0 ------------------------------------------

async def test_sigterm_flushes_and_exits_zero(tmp_path: Path) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nhandles = {{ bluesky = ["{BRAND_DID}"] }}\n')
    now_us = int(time.time() * 1e6)
    frames = [post(JANE, now_us + i, f"j{i}", "help", parent=uri(BRAND_DID, "b1"))
              for i in range(3)]
    fake = FakeJetstream(frames)
    url = await fake.start()
    out = tmp_path / "live.jsonl"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "ingest", "bluesky", "--brands", str(brands),
        "--url", url, "--out", str(out), "--metrics-port", "0",
        "--cursor-file", str(tmp_path / "cursor"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 20
        while len(fake.sent) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 20)
    finally:
        if process.returncode is None:
            process.kill()
        await fake.stop()
    stderr = (await process.stderr.read()).decode()  # type: ignore[union-attr]
    assert code == 0, stderr
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [line["id"] for line in lines] == [uri(JANE, f"j{i}") for i in range(3)]
    assert (tmp_path / "cursor").read_text().strip() == str(now_us + 2)
