"""The live sources against hostile peers on loopback (issue 23): oversized and undecodable
frames, far-future times, silent peers, disconnects. Each test asserts counts, log volume and
stop time, not only that nothing crashed."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from streams.commands.ingest import JsonlSink, MeteredSink
from streams.metrics import SourceMetrics
from streams.plumbing.ratelog import RateLimitedLog
from streams.sources.base import Backoff, CursorFile, Deadlines, PeerTimeout, Stopped, wait_for_peer
from streams.sources.bluesky import (
    FUTURE_CURSOR,
    INVALID_UTF8,
    REWIND_US,
    SKIPPED_WINDOW,
    BlueskyConnector,
)
from streams.sources.jsonl import read_jsonl
from streams.sources.mastodon import MastodonConnector
from streams.sources.mastodon_wire import BrandAccount
from streams.sources.webhook import WebhookConnector, sign
from tests.jetstream_fake import (
    BOB,
    BRAND_DID,
    JANE,
    BlackHole,
    FakeJetstream,
    SilentPeer,
    not_utf8,
    oversized,
    post,
    uri,
)
from tests.unit.test_bluesky import BRANDS

S = 1_000_000  # one second in time_us


def now_us() -> int:
    return int(time.time() * 1e6)


def question(t: int, n: int) -> dict[str, object]:
    return post(JANE, t, f"q{n}", f"help {n}", parent=uri(BRAND_DID, "b1"))


class Metered:
    """A MeteredSink over a JSONL file, its metrics, and its rate-limited log."""

    def __init__(self, tmp_path: Path, source: str = "bluesky") -> None:
        self.metrics = SourceMetrics()
        self.out = tmp_path / f"{source}.jsonl"
        self.sink = MeteredSink(JsonlSink(self.out), self.metrics, source)
        self.source = source

    def value(self, name: str, **labels: str) -> float:
        found = self.metrics.registry.get_sample_value(name, {"source": self.source, **labels})
        return found or 0.0

    def rejected(self, reason: str) -> float:
        return self.value("brandpulse_source_rejected_total", reason=reason)

    def ids(self) -> list[str]:
        return [e.id for e in read_jsonl(self.out) if not isinstance(e, tuple)]


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert condition(), "condition not reached in time"


async def run_bluesky(connector: BlueskyConnector, sink: MeteredSink,
                      until: Callable[[], bool], seconds: float = 10.0) -> float:
    """Run until `until()`, then stop; returns how long the stop took."""
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(sink, stop))
    try:
        await wait_until(lambda: until() or task.done(), seconds)
    finally:
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 5)
    return time.monotonic() - started


def warnings_from(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(1 for r in caplog.records if r.levelno >= logging.WARNING and text in r.message)


# --- the shared helpers -----------------------------------------------------------------

def test_rate_limited_log_writes_once_then_one_summary_per_interval(
        caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    faults = RateLimitedLog(logging.getLogger("t"), interval=30.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for _ in range(6000):  # one a tenth of a second for 10 minutes
            faults.report("broker", "broker unreachable")
            now[0] += 0.1
        faults.report("other", "another fault")
    assert faults.lines == 20 + 1  # one per 30 s over 600 s (the first in full), the other
    assert "more since the last line" in caplog.records[1].message
    faults.forget("broker")
    assert faults.report("broker", "broker unreachable again")


async def test_wait_for_peer_names_the_wait_and_yields_to_stop() -> None:
    never = asyncio.get_running_loop().create_future()
    with pytest.raises(PeerTimeout, match=r"upgrade: no answer within 0\.05 s"):
        await wait_for_peer(never, 0.05, "upgrade")
    assert never.cancelled()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    with pytest.raises(Stopped):
        await wait_for_peer(asyncio.sleep(3600), 60, "headers", stop)
    assert time.monotonic() - started < 1
    assert await wait_for_peer(asyncio.sleep(0, "ok"), 1, "x") == "ok"


async def test_an_event_over_the_workers_bound_is_rejected_not_written(
        tmp_path: Path) -> None:
    from streams.events import AudienceKind, Side, SocialEvent

    m = Metered(tmp_path)
    big = SocialEvent(Side.AUDIENCE, "a1", "acme", "bluesky", JANE, "x" * 70_000,
                      time.time(), None, AudienceKind.MENTION)
    await m.sink.emit(big)
    await m.sink.flush()
    assert m.rejected("oversized") == 1 and m.out.read_bytes() == b""


# --- Bluesky: hostile frames --------------------------------------------------------------

async def test_oversized_and_invalid_utf8_frames_are_passed_not_replayed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A 1.2 MB frame and a frame of invalid UTF-8 (both a stranger's and a brand's) are
    rejected by reason, the cursor moves past them, and a disconnect after them resumes
    after them: the frames behind them are delivered once."""
    t0 = now_us() - 120 * S
    frames = [question(t0, 0),
              oversized(BOB, t0 + 10 * S, "big", 1_200_000),
              not_utf8(JANE, t0 + 20 * S, "bad"),
              question(t0 + 30 * S, 1),
              oversized(JANE, t0 + 40 * S, "big2", 1_200_000),
              not_utf8(BOB, t0 + 50 * S, "bad2"),
              question(t0 + 60 * S, 2)]
    fake = FakeJetstream(frames, cut_after=3)  # cut right after the two hostile frames
    url = await fake.start()
    m = Metered(tmp_path)
    cursor = CursorFile(tmp_path / "cursor")
    connector = BlueskyConnector(BRANDS, url, cursor, Backoff(0.05, 0.2), flush_interval=0.05)
    try:
        with caplog.at_level(logging.WARNING):
            stop_seconds = await run_bluesky(connector, m.sink, lambda: len(m.ids()) >= 3)
    finally:
        await fake.stop()
    assert m.ids() == [uri(JANE, "q0"), uri(JANE, "q1"), uri(JANE, "q2")]
    # the 5 s rewind replays the frame at the saved cursor (the invalid one at t0 + 20 s)
    assert m.rejected("oversized") == 2 and m.rejected(INVALID_UTF8) == 3
    assert len(fake.queries) == 2  # one reconnect, resumed past the hostile frames
    assert int(fake.queries[1]["cursor"][0]) == t0 + 20 * S - REWIND_US
    assert m.value("brandpulse_source_reconnects_total") == 1
    assert int(cursor.load() or 0) == t0 + 60 * S
    assert warnings_from(caplog, "rejected (oversized)") == 1
    assert warnings_from(caplog, f"rejected ({INVALID_UTF8})") == 1
    assert warnings_from(caplog, "disconnected") == 1  # the cut, logged
    assert stop_seconds < 2


async def test_a_flood_of_hostile_frames_logs_two_lines(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """400 hostile frames in a row: 400 counted, 2 log lines, no reconnect."""
    t0 = now_us() - 600 * S
    frames: list[object] = []
    for i in range(200):
        frames.append(oversized(BOB, t0 + 2 * i * 1000, f"o{i}", 5_000))
        frames.append(not_utf8(BOB, t0 + (2 * i + 1) * 1000, f"u{i}"))
    frames.append(question(t0 + 10 * S, 0))
    fake = FakeJetstream(frames)
    url = await fake.start()
    m = Metered(tmp_path)
    connector = BlueskyConnector(BRANDS, url, None, Backoff(0.05, 0.2), flush_interval=0.05,
                                 max_frame_bytes=4_096)
    try:
        with caplog.at_level(logging.WARNING):
            await run_bluesky(connector, m.sink, lambda: len(m.ids()) >= 1)
    finally:
        await fake.stop()
    assert m.rejected("oversized") == 200 and m.rejected(INVALID_UTF8) == 200
    assert len(fake.queries) == 1
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 2


async def test_a_frame_too_large_to_read_is_skipped_after_two_tries(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A frame over the websocket's own bound closes the connection (1009) before its
    time_us can be read; the second connection that ends on it at the same position
    resumes just after it, counted as a skipped window: 3 connections, not a loop."""
    t0 = now_us() - 120 * S
    frames = [question(t0, 0), oversized(BOB, t0 + 500, "huge", 200_000),
              question(t0 + 1_500, 1)]
    fake = FakeJetstream(frames)
    url = await fake.start()
    m = Metered(tmp_path)
    connector = BlueskyConnector(BRANDS, url, None, Backoff(0.05, 0.2), flush_interval=0.05,
                                 max_frame_bytes=4_096, max_wire_bytes=65_536)
    try:
        with caplog.at_level(logging.WARNING):
            await run_bluesky(connector, m.sink, lambda: uri(JANE, "q1") in m.ids())
    finally:
        await fake.stop()
    assert set(m.ids()) == {uri(JANE, "q0"), uri(JANE, "q1")}
    assert len(fake.queries) == 3
    assert int(fake.queries[2]["cursor"][0]) == t0 + 1000  # 1 ms after q0
    assert m.value("brandpulse_source_skipped_total", reason=SKIPPED_WINDOW) == 1
    assert warnings_from(caplog, "unreadable frame") == 1
    assert warnings_from(caplog, "disconnected") == 1  # the second one is rate-limited


async def test_a_future_time_us_never_becomes_the_cursor(tmp_path: Path) -> None:
    """A stranger's frame dated year 9999, last before a checkpoint: counted, and the
    cursor stays on the newest real time, so a restart still resumes where it was."""
    t0 = now_us() - 60 * S
    frames = [question(t0, 0), post(BOB, 253_402_300_799 * S, "x", "from the future")]
    fake = FakeJetstream(frames)
    url = await fake.start()
    m = Metered(tmp_path)
    cursor = CursorFile(tmp_path / "cursor")
    connector = BlueskyConnector(BRANDS, url, cursor, Backoff(0.05, 0.2), flush_interval=0.05)
    try:
        await run_bluesky(connector, m.sink, lambda: m.rejected(FUTURE_CURSOR) >= 1)
    finally:
        await fake.stop()
    assert cursor.load() == str(t0)
    assert m.ids() == [uri(JANE, "q0")]


@pytest.mark.parametrize("abort", [False, True])
async def test_disconnects_are_logged_and_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, abort: bool) -> None:
    t0 = now_us() - 60 * S
    fake = FakeJetstream([question(t0, 0), question(t0 + S, 1)], cut_after=1, abort=abort)
    url = await fake.start()
    m = Metered(tmp_path)
    connector = BlueskyConnector(BRANDS, url, None, Backoff(0.05, 0.2), flush_interval=0.05)
    try:
        with caplog.at_level(logging.WARNING):
            await run_bluesky(connector, m.sink, lambda: len(set(m.ids())) >= 2)
    finally:
        await fake.stop()
    assert warnings_from(caplog, "bluesky: disconnected from") == 1
    assert m.value("brandpulse_source_reconnects_total") == 1


async def test_an_idle_stream_is_dropped_after_its_deadline(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeJetstream([])  # upgrades, then sends nothing
    url = await fake.start()
    m = Metered(tmp_path)
    connector = BlueskyConnector(BRANDS, url, None, Backoff(0.05, 0.2), flush_interval=0.05,
                                 deadlines=Deadlines(connect=1, answer=1, idle=0.3))
    try:
        with caplog.at_level(logging.WARNING):
            await run_bluesky(connector, m.sink, lambda: len(fake.queries) >= 3)
    finally:
        await fake.stop()
    assert warnings_from(caplog, "no frame for 0.3 s") == 1
    assert m.value("brandpulse_source_reconnects_total") >= 2
    assert m.value("brandpulse_source_connected") == 0


async def test_a_silent_peer_times_out_the_upgrade_and_stop_is_prompt(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    peer = SilentPeer()
    port = await peer.start()
    m = Metered(tmp_path)
    connector = BlueskyConnector(BRANDS, f"ws://127.0.0.1:{port}/subscribe", None,
                                 Backoff(0.05, 0.2), deadlines=Deadlines(0.2, 0.2, 5))
    try:
        with caplog.at_level(logging.WARNING):
            stop_seconds = await run_bluesky(connector, m.sink, lambda: peer.accepted >= 3)
            # stopping while the upgrade waits on the silent peer
            stop = asyncio.Event()
            connector.deadlines = Deadlines(60, 60, 60)
            task = asyncio.create_task(connector.run(m.sink, stop))
            accepted = peer.accepted
            await wait_until(lambda: peer.accepted > accepted)
            stop.set()
            started = time.monotonic()
            await asyncio.wait_for(task, 5)
            waiting_stop = time.monotonic() - started
    finally:
        await peer.stop()
    assert warnings_from(caplog, "websocket upgrade: no answer within 0.4 s") == 1
    assert m.value("brandpulse_source_reconnects_total") >= 2
    assert m.value("brandpulse_source_connected") == 0 and connector.connections == 0
    assert stop_seconds < 1 and waiting_stop < 1


async def test_a_connect_that_hangs_is_abandoned_at_the_connect_deadline(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A peer whose TCP connect never completes (dropped SYNs): each attempt ends at the
    connect deadline (0.2 s; the upgrade's own is 60 s, and the kernel would retry the SYN
    for two minutes), is counted as a reconnect and logged once; stop stays prompt."""
    hole = BlackHole()
    m = Metered(tmp_path)
    connector = BlueskyConnector(BRANDS, f"ws://127.0.0.1:{hole.port}/subscribe", None,
                                 Backoff(0.05, 0.1), deadlines=Deadlines(0.2, 60, 60))
    try:
        with caplog.at_level(logging.WARNING):
            stop_seconds = await run_bluesky(
                connector, m.sink,
                lambda: m.value("brandpulse_source_reconnects_total") >= 3)
    finally:
        hole.close()
    assert m.value("brandpulse_source_reconnects_total") >= 3
    assert m.value("brandpulse_source_connected") == 0 and connector.connections == 0
    assert warnings_from(caplog, "bluesky: connection to") == 1
    assert stop_seconds < 1


async def sigterm_seconds(argv: list[str], peer: SilentPeer, env: dict[str, str]) -> float:
    """Start `brandpulse ingest ...`, wait until it is stuck on the silent peer, SIGTERM it;
    the seconds to exit (asserting exit 0)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "ingest", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    try:
        await wait_until(lambda: peer.accepted >= 1, 20)
        await asyncio.sleep(0.3)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.wait_for(process.wait(), 10)
        seconds = time.monotonic() - started
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()  # type: ignore[union-attr]
    assert code == 0, stderr
    return seconds


async def test_sigterm_stops_bluesky_ingest_waiting_on_a_silent_peer(tmp_path: Path) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nhandles = {{ bluesky = ["{BRAND_DID}"] }}\n')
    peer = SilentPeer()
    port = await peer.start()
    try:
        seconds = await sigterm_seconds(
            ["bluesky", "--brands", str(brands), "--url", f"ws://127.0.0.1:{port}/subscribe",
             "--out", str(tmp_path / "out.jsonl"), "--metrics-port", "0"], peer, {})
    finally:
        await peer.stop()
    assert seconds < 5


# --- Mastodon: per-brand isolation, deadlines, size bounds ---------------------------------

MASTODON_HOST = "mastodon.example"


def m_account(id: str, username: str, domain: str | None = None) -> dict[str, Any]:
    acct = username if domain is None else f"{username}@{domain}"
    return {"id": id, "username": username, "acct": acct, "bot": False,
            "url": f"https://{domain or MASTODON_HOST}/@{username}"}


def m_mention(notification_id: str, status_id: str, text: str) -> dict[str, Any]:
    """A `mention` Notification entity with its Status (Mastodon API docs' shapes)."""
    status = {"id": status_id, "created_at": datetime.now(UTC).isoformat(),
              "account": m_account("9", "jane", "other.example"), "content": f"<p>{text}</p>",
              "visibility": "public", "in_reply_to_id": None, "reblog": None,
              "language": "en", "mentions": []}
    return {"id": notification_id, "type": "mention", "created_at": status["created_at"],
            "account": status["account"], "status": status}


class BrandsInstance:
    """A fake Mastodon instance serving several brand accounts, each with its token and a
    behaviour: "ok" (catch-up, then heartbeats), "silent" (the user stream never sends its
    status line), "mute" (status and headers, then nothing), "hostile" (`hostile` events
    on the first stream, then heartbeats), "refused" (401 on everything, a revoked
    token)."""

    def __init__(self, accounts: dict[str, tuple[dict[str, Any], str]]) -> None:
        self.accounts = accounts  # token -> (Account, behaviour)
        self.notifications: dict[str, list[dict[str, Any]]] = {t: [] for t in accounts}
        self.streams: dict[str, int] = dict.fromkeys(accounts, 0)
        self.closing = asyncio.Event()
        self.queries: list[dict[str, str]] = []  # of the notifications endpoint
        self.links = True
        self.hostile: list[bytes] = []  # SSE events a "hostile" stream sends first

    def _token(self, request: web.Request) -> str:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.accounts or self.accounts[token][1] == "refused":
            raise web.HTTPUnauthorized()
        return token

    async def verify(self, request: web.Request) -> web.Response:
        return web.json_response(self.accounts[self._token(request)][0])

    async def notifications_page(self, request: web.Request) -> web.Response:
        """Mastodon's paging: `since_id` the newest page above it, `min_id` the page just
        above it, `max_id` below it, `limit` at most 40, newest first, with a Link header
        (next: max_id of the oldest item, prev: min_id of the newest) when `links`."""
        token = self._token(request)
        query = request.query
        self.queries.append(dict(query))

        def key(row_id: str) -> tuple[int, str]:
            return (len(row_id), row_id)

        rows = sorted(self.notifications[token], key=lambda n: key(n["id"]))
        for name in ("since_id", "min_id"):
            if name in query:
                rows = [n for n in rows if key(n["id"]) > key(query[name])]
        if "max_id" in query:
            rows = [n for n in rows if key(n["id"]) < key(query["max_id"])]
        limit = min(40, int(query.get("limit", "40")))
        rows = rows[:limit] if "min_id" in query else rows[-limit:]
        rows.reverse()
        headers = {}
        if rows and self.links:
            path = f"http://{request.host}/api/v1/notifications?types[]=mention"
            headers["Link"] = (f'<{path}&max_id={rows[-1]["id"]}>; rel="next", '
                               f'<{path}&min_id={rows[0]["id"]}>; rel="prev"')
        return web.json_response(rows, headers=headers)

    async def statuses_page(self, request: web.Request) -> web.Response:
        self._token(request)
        return web.json_response([])

    async def stream(self, request: web.Request) -> web.StreamResponse:
        token = self._token(request)
        self.streams[token] += 1
        if self.accounts[token][1] == "silent":
            await self.closing.wait()  # never a status line
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.accounts[token][1] == "mute":  # headers, then not a byte
            await self.closing.wait()
            return response
        if self.accounts[token][1] == "hostile" and self.streams[token] == 1:
            for event in self.hostile:
                await response.write(event)
        for _ in range(400):
            if self.closing.is_set():
                break
            await response.write(b":thump\n")
            await asyncio.sleep(0.05)
        return response

    async def start(self) -> tuple[web.AppRunner, str]:
        app = web.Application()
        app.router.add_get("/api/v1/accounts/verify_credentials", self.verify)
        app.router.add_get("/api/v1/notifications", self.notifications_page)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self.statuses_page)
        app.router.add_get("/api/v1/streaming/user", self.stream)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


def brand_account(name: str, token: str) -> BrandAccount:
    return BrandAccount(name, f"{name}@{MASTODON_HOST}", token,
                        f"MASTODON_TOKEN_{name.upper()}")


class QuickBackoff:
    attempts = 0

    def reset(self) -> None:
        pass

    def next(self) -> float:
        return 0.1


async def test_a_revoked_token_and_a_silent_stream_stop_only_their_brand(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """acme reads normally; globex's token is refused (401), initech's stream never sends
    its headers: acme's mentions are all written, globex is stopped with one error line,
    initech reconnects with a logged deadline, `connected` reads 0, nothing exits."""
    fake = BrandsInstance({"a": (m_account("1", "acme"), "ok"),
                           "g": (m_account("2", "globex"), "refused"),
                           "i": (m_account("3", "initech"), "silent")})
    fake.notifications["a"] = [m_mention(str(n), str(100 + n), f"help {n}") for n in (1, 2)]
    runner, base = await fake.start()
    m = Metered(tmp_path, "mastodon")
    connector = MastodonConnector(
        base, [brand_account("acme", "a"), brand_account("globex", "g"),
               brand_account("initech", "i")], tmp_path / "cursor",
        deadlines=Deadlines(connect=1, answer=0.3, idle=5), backoff_factory=QuickBackoff,
        checkpoint_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(m.sink, stop))
    try:
        with caplog.at_level(logging.WARNING):
            await wait_until(lambda: len(m.ids()) >= 2 and fake.streams["i"] >= 3)
            assert not task.done()  # the refused brand did not end the command
            stop.set()
            started = time.monotonic()
            fake.closing.set()
            await asyncio.wait_for(task, 5)
            stop_seconds = time.monotonic() - started
    finally:
        await runner.cleanup()
    host = base.split("://")[1]
    assert sorted(m.ids()) == [f"{host}/101", f"{host}/102"]
    assert fake.streams["g"] == 0
    assert sum("globex: stopped, the other brands go on" in r.message
               for r in caplog.records if r.levelno == logging.ERROR) == 1
    assert warnings_from(caplog, "initech: TimeoutError") == 0  # named, not a bare class
    assert warnings_from(caplog, "streaming: status and headers: no answer within 1.3 s") == 1
    assert m.value("brandpulse_source_reconnects_total") >= 2
    assert m.value("brandpulse_source_connected") == 0
    assert stop_seconds < 2


async def test_an_oversized_rest_status_is_rejected_and_the_cursor_passes_it(
        tmp_path: Path) -> None:
    """A 2 MB status in the catch-up is rejected `oversized` (not written); a 200 kB one is
    cut to the text bound; the cursor moves past both; every line written is readable."""
    fake = BrandsInstance({"a": (m_account("1", "acme"), "ok")})
    fake.notifications["a"] = [m_mention("1", "101", "help"),
                               m_mention("2", "102", "x" * 2_000_000),
                               m_mention("3", "103", "y" * 200_000),
                               m_mention("4", "104", "thanks")]
    runner, base = await fake.start()
    m = Metered(tmp_path, "mastodon")
    cursor = tmp_path / "cursor"
    cursor.write_text('{"brands": {"acme": {"handle": "acme@mastodon.example", '
                      '"notifications": "0", "statuses": null}}}')
    connector = MastodonConnector(base, [brand_account("acme", "a")], cursor,
                                  backoff_factory=QuickBackoff, checkpoint_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(m.sink, stop))
    try:
        await wait_until(lambda: len(m.ids()) >= 3)
        stop.set()
        fake.closing.set()
        await asyncio.wait_for(task, 5)
    finally:
        await runner.cleanup()
    host = base.split("://")[1]
    assert m.ids() == [f"{host}/101", f"{host}/103", f"{host}/104"]
    assert m.rejected("oversized") == 1
    assert max(len(line) for line in m.out.read_bytes().splitlines()) < 64 * 1024
    assert orjson.loads(cursor.read_text())["brands"]["acme"]["notifications"] == "4"
    assert fake.streams["a"] == 1  # no reconnect over it


def sse(name: str, data: bytes) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"


async def test_hostile_stream_events_are_counted_once_logged_and_passed(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """On the live stream: 50 events over the 1 MiB bound (one a single endless line), 50
    of malformed JSON, then a real mention. Each is counted by reason, one log line a
    reason, the mention is written once, the stream is never reconnected."""
    fake = BrandsInstance({"a": (m_account("1", "acme"), "hostile")})
    big = orjson.dumps(m_mention("7", "107", "x" * 1_100_000))
    fake.hostile = [sse("notification", big) for _ in range(49)]
    fake.hostile.append(b"data: " + b"y" * 1_200_000)  # no newline for over a MiB...
    fake.hostile.append(b"\n\n")  # ...then the end of that event
    fake.hostile += [sse("notification", b"{not json") for _ in range(50)]
    fake.hostile.append(sse("notification", orjson.dumps(m_mention("8", "108", "help"))))
    m, connector = await catch_up_once(fake, tmp_path, None, caplog,
                                       lambda m: len(m.ids()) >= 1)
    assert m.ids() == [f"{connector.host}/108"]
    assert m.rejected("oversized") == 50 and m.rejected("malformed_json") == 50
    assert fake.streams["a"] == 1 and m.value("brandpulse_source_reconnects_total") == 0
    assert warnings_from(caplog, "rejected (oversized)") == 1
    assert warnings_from(caplog, "rejected (malformed_json)") == 1
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 2


async def test_a_mute_stream_reconnects_at_its_idle_deadline_logged_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A stream that sends its headers and then nothing (no `:thump`): dropped at the idle
    deadline, each drop a counted reconnect with `connected` 0, one log line however many
    drops (then a summary at most every 30 s: at most 2 lines a minute)."""
    fake = BrandsInstance({"a": (m_account("1", "acme"), "mute")})
    m, _ = await catch_up_once(fake, tmp_path, None, caplog,
                               lambda m: fake.streams["a"] >= 6,
                               deadlines=Deadlines(connect=1, answer=1, idle=0.2))
    assert m.value("brandpulse_source_reconnects_total") >= 5
    assert m.value("brandpulse_source_connected") == 0
    assert warnings_from(caplog, "no data nor heartbeat for 0.2 s") == 1
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1


async def catch_up_once(fake: BrandsInstance, tmp_path: Path, cursor: Path | None,
                        caplog: pytest.LogCaptureFixture, until: Callable[[Metered], bool],
                        **options: Any) -> tuple[Metered, MastodonConnector]:
    """One connector run against `fake` until `until(metered)`, then stopped."""
    runner, base = await fake.start()
    tmp_path.mkdir(exist_ok=True)
    m = Metered(tmp_path, "mastodon")
    connector = MastodonConnector(base, [brand_account("acme", "a")], cursor,
                                  backoff_factory=QuickBackoff, checkpoint_seconds=0.05,
                                  **options)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(m.sink, stop))
    try:
        with caplog.at_level(logging.WARNING):
            await wait_until(lambda: until(m) or task.done())
        stop.set()
        fake.closing.set()
        await asyncio.wait_for(task, 5)
    finally:
        await runner.cleanup()
    return m, connector


async def test_an_instance_whose_connect_hangs_is_retried_at_the_connect_deadline(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Mastodon's REST catch-up and stream against dropped SYNs: each attempt ends at the
    0.2 s connect deadline (the other deadlines are 60 s), counted, logged once."""
    hole = BlackHole()
    m = Metered(tmp_path, "mastodon")
    connector = MastodonConnector(f"http://127.0.0.1:{hole.port}", [brand_account("acme", "a")],
                                  None, backoff_factory=QuickBackoff, checkpoint_seconds=0.05,
                                  deadlines=Deadlines(0.2, 60, 60))
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(m.sink, stop))
    try:
        with caplog.at_level(logging.WARNING):
            await wait_until(lambda: m.value("brandpulse_source_reconnects_total") >= 3
                             or task.done())
            stop.set()
            started = time.monotonic()
            await asyncio.wait_for(task, 5)
    finally:
        hole.close()
    assert m.value("brandpulse_source_reconnects_total") >= 3
    assert m.value("brandpulse_source_connected") == 0
    assert sum(r.levelno >= logging.WARNING for r in caplog.records) == 1
    assert time.monotonic() - started < 1


@pytest.mark.parametrize("links", [True, False])
async def test_a_catch_up_page_too_large_to_read_is_narrowed_and_its_item_skipped(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, links: bool) -> None:
    """Ten mentions after the cursor, the fifth of 100 kB, under a 64 KiB page bound (the
    40 MiB default, scaled down): the page cannot be read, so it is read again forward from
    the cursor in smaller pages down to one item; that item is rejected `oversized` (its
    id from the Link header, or from the body's first bytes without one), the cursor moves
    past it, the nine others are written once, and no reconnect happens. A restart from
    the saved cursor asks for nothing at or before it."""
    fake = BrandsInstance({"a": (m_account("1", "acme"), "ok")})
    fake.links = links
    fake.notifications["a"] = [m_mention(str(n), str(100 + n), "x" * 100_000 if n == 5
                                         else f"help {n}") for n in range(1, 11)]
    cursor = tmp_path / "cursor"
    cursor.write_text('{"brands": {"acme": {"handle": "acme@mastodon.example", '
                      '"notifications": "0", "statuses": null}}}')

    def saved() -> str | None:
        return orjson.loads(cursor.read_text())["brands"]["acme"]["notifications"]

    m, connector = await catch_up_once(
        fake, tmp_path, cursor, caplog, lambda m: len(m.ids()) >= 9 and saved() == "10",
        max_page_bytes=64 * 1024)
    host = connector.host
    assert m.ids() == [f"{host}/{100 + n}" for n in range(1, 11) if n != 5]
    assert m.rejected("oversized") == 1
    assert saved() == "10"
    assert fake.streams["a"] == 1 and m.value("brandpulse_source_reconnects_total") == 0
    limits = [q.get("limit") for q in fake.queries]
    assert limits[:4] == ["40", "20", "10", "5"] and "1" in limits
    assert len(fake.queries) < 20  # a bounded number of requests, no loop
    assert warnings_from(caplog, "reading it again in smaller pages") == 1
    assert warnings_from(caplog, "rejected (oversized)") == 1
    # a restart resumes after the skipped item: one request, nothing narrowed, nothing new
    fake.queries.clear()
    fake.closing.clear()
    again, _ = await catch_up_once(fake, tmp_path / "again", cursor, caplog,
                                   lambda _: bool(fake.queries), max_page_bytes=64 * 1024)
    assert [q.get("since_id") for q in fake.queries] == ["10"]
    assert again.ids() == [] and again.rejected("oversized") == 0


async def test_sigterm_stops_mastodon_ingest_waiting_on_a_silent_instance(
        tmp_path: Path) -> None:
    brands = tmp_path / "brands.toml"
    brands.write_text('[[brand]]\nname = "acme"\nhandles = { mastodon = '
                      '["acme@mastodon.example"] }\n')
    peer = SilentPeer()
    port = await peer.start()
    try:
        seconds = await sigterm_seconds(
            ["mastodon", "--brands", str(brands), "--instance", f"http://127.0.0.1:{port}",
             "--out", str(tmp_path / "out.jsonl"), "--metrics-port", "0",
             "--cursor-file", str(tmp_path / "cursor")], peer, {"MASTODON_TOKEN": "t"})
    finally:
        await peer.stop()
    assert seconds < 5


# --- Webhook server: slow clients, descriptor bound, resets, concurrent retries ----------

WEBHOOK_SECRET = "s3cret"


def events_body(*ids: str) -> bytes:
    stamp = datetime.now(UTC).isoformat()
    return b"".join(orjson.dumps({"side": "audience", "id": i, "brand": "acme",
                                  "platform": "bluesky", "author": "jane", "text": "help",
                                  "created_at": stamp}) + b"\n" for i in ids)


def signed_head(body: bytes, length: int | None = None, extra: str = "") -> bytes:
    return (f"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\n"
            f"X-Hub-Signature-256: {sign(WEBHOOK_SECRET, body)}\r\n{extra}"
            f"Content-Length: {len(body) if length is None else length}\r\n\r\n").encode()


class WebhookServer:
    """A WebhookConnector serving /events on 127.0.0.1 into a JSONL file."""

    def __init__(self, tmp_path: Path, **options: Any) -> None:
        self.m = Metered(tmp_path, "webhook")
        self.connector = WebhookConnector(BRANDS, "127.0.0.1", 0, events_secret=WEBHOOK_SECRET,
                                          **options)
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebhookServer:
        self.task = asyncio.create_task(self.connector.run(self.m.sink, self.stop))
        await asyncio.wait_for(self.connector.started.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    async def post(self, body: bytes, headers: dict[str, str] | None = None,
                   signature: bytes | None = None) -> int:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.post(
                f"http://127.0.0.1:{self.connector.port}/events", data=body, headers={
                    "X-Hub-Signature-256": sign(WEBHOOK_SECRET, signature or body),
                    **(headers or {})}) as response:
            return response.status

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.connector.port)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent before closing; fails if it did not close in time."""
    return await asyncio.wait_for(reader.read(), seconds)


async def test_slow_loris_heads_and_bodies_are_closed(tmp_path: Path) -> None:
    """10 heads sent a byte every 0.1 s and 10 bodies left unfinished: every connection is
    closed by the server within its deadline (head 0.5 s, body 0.5 s: 408), counted, and a
    valid request is still served meanwhile."""
    async with WebhookServer(tmp_path, head_timeout=0.5, body_timeout=0.5) as server:
        heads = [await server.connect() for _ in range(10)]
        bodies = [await server.connect() for _ in range(10)]
        body = events_body("ok-1")
        for _, writer in bodies:
            writer.write(signed_head(body) + body[:10])
        started = time.monotonic()

        async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
            for byte in b"POST /events HTTP/1.1\r\nHost: x\r\n":
                if reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await asyncio.sleep(0.1)
            return await closed_within(reader, 3)

        trickled = asyncio.gather(*(trickle(r, w) for r, w in heads))
        assert await server.post(body) == 200
        answers = [await closed_within(r, 3) for r, _ in bodies]
        await trickled
        elapsed = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408") for a in answers)
    assert elapsed < 3
    assert server.m.rejected("slow_body") == 10
    assert server.m.ids() == ["ok-1"]


async def test_connections_over_the_cap_get_503_and_the_server_recovers(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with WebhookServer(tmp_path, max_connections=8, head_timeout=30) as server:
        with caplog.at_level(logging.WARNING):
            held = [await server.connect() for _ in range(8)]
            await asyncio.sleep(0.1)
            extra = [await server.connect() for _ in range(40)]
            refused = [await closed_within(r, 2) for r, _ in extra]
            for _, writer in held:
                writer.close()
            await asyncio.sleep(0.2)
            status = await server.post(events_body("after"))
    assert all(r.startswith(b"HTTP/1.1 503") for r in refused)
    assert server.connector.refused_connections == 40
    assert server.m.rejected("too_many_connections") == 40
    assert warnings_from(caplog, "too_many_connections") == 1
    assert status == 200 and server.m.ids() == ["after"]


async def test_a_client_gone_mid_body_is_counted_without_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with WebhookServer(tmp_path) as server:
        with caplog.at_level(logging.DEBUG):
            for _ in range(5):
                _reader, writer = await server.connect()
                body = events_body("gone")
                writer.write(signed_head(body) + body[:20])
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.transport.abort()
            await wait_until(lambda: server.m.rejected("incomplete_body") == 5, 5)
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert server.m.ids() == []


async def test_concurrent_identical_deliveries_are_written_once(tmp_path: Path) -> None:
    """100 ids, each delivered by two requests at once (Meta retrying): each written once,
    every request answered 200."""
    async with WebhookServer(tmp_path) as server:
        bodies = [events_body(f"dup-{i}") for i in range(100)]
        statuses = await asyncio.gather(*(server.post(b) for b in bodies for _ in range(2)))
    assert set(statuses) == {200}
    assert sorted(server.m.ids()) == sorted(f"dup-{i}" for i in range(100))
    assert server.m.value("brandpulse_source_skipped_total", reason="duplicate") == 100


async def test_the_signature_covers_the_compressed_bytes(tmp_path: Path) -> None:
    import gzip

    body = events_body("gz-1")
    packed = gzip.compress(body)
    async with WebhookServer(tmp_path) as server:
        over_plain = await server.post(packed, {"Content-Encoding": "gzip"}, signature=body)
        over_raw = await server.post(packed, {"Content-Encoding": "gzip"})
        bomb = gzip.compress(b"\n" * (8 << 20))
        too_big = await server.post(bomb, {"Content-Encoding": "gzip"})
    assert (over_plain, over_raw, too_big) == (401, 200, 413)
    assert server.m.ids() == ["gz-1"]


# --- Where cursors live (issue 25) ---------------------------------------------------------

def test_the_cursor_defaults_to_the_state_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        ) -> None:
    """Not the current directory: $BRANDPULSE_STATE_DIR, else $XDG_STATE_HOME/brandpulse,
    else ~/.local/state/brandpulse; --cursor-file wins; an old ./brandpulse-<source>.cursor
    is still used, with a warning, until it is moved."""
    from streams.sources.base import cursor_path, state_dir

    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    assert state_dir({}) == home / ".local" / "state" / "brandpulse"
    assert state_dir({"XDG_STATE_HOME": str(tmp_path / "xdg")}) == tmp_path / "xdg" / "brandpulse"
    assert state_dir({"XDG_STATE_HOME": "relative"}) == home / ".local" / "state" / "brandpulse"
    assert state_dir({"BRANDPULSE_STATE_DIR": str(tmp_path / "s"),
                      "XDG_STATE_HOME": str(tmp_path / "xdg")}) == tmp_path / "s"
    monkeypatch.chdir(tmp_path)
    path = cursor_path(None, "bluesky", {"XDG_STATE_HOME": str(tmp_path / "xdg")})
    assert path == tmp_path / "xdg" / "brandpulse" / "bluesky.cursor" and path.parent.is_dir()
    assert cursor_path("here.cursor", "bluesky", {}) == Path("here.cursor")
    (tmp_path / "brandpulse-mastodon.cursor").write_text("{}")
    with caplog.at_level(logging.WARNING):
        legacy = cursor_path(None, "mastodon", {"BRANDPULSE_STATE_DIR": str(tmp_path / "s")})
    assert legacy == Path("brandpulse-mastodon.cursor")
    assert warnings_from(caplog, "move it to") == 1


async def test_bluesky_ingest_without_cursor_file_saves_in_the_state_directory(
        tmp_path: Path) -> None:
    """`brandpulse ingest bluesky` run from another directory: the cursor lands in
    $BRANDPULSE_STATE_DIR, nothing in the current directory."""
    t0 = now_us() - 60 * S
    fake = FakeJetstream([question(t0, 0)])
    url = await fake.start()
    brands = tmp_path / "brands.toml"
    brands.write_text(f'[[brand]]\nname = "acme"\nhandles = {{ bluesky = ["{BRAND_DID}"] }}\n')
    state, cwd = tmp_path / "state", tmp_path / "elsewhere"
    cwd.mkdir()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "ingest", "bluesky", "--brands", str(brands),
        "--url", url, "--out", str(tmp_path / "out.jsonl"), "--metrics-port", "0",
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "BRANDPULSE_STATE_DIR": str(state),
             "PYTHONPATH": str(Path(__file__).parents[2])})
    try:
        await wait_until(lambda: (state / "bluesky.cursor").exists(), 20)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.stop()
    assert int((state / "bluesky.cursor").read_text()) == t0
    assert list(cwd.iterdir()) == []


async def test_sigterm_stops_webhook_ingest_holding_unfinished_requests(
        tmp_path: Path) -> None:
    """`brandpulse ingest webhook` with clients that never finish (half a head, half a
    body, and one request waiting on nothing): SIGTERM ends it within 5 s, exit 0."""
    brands = tmp_path / "brands.toml"
    brands.write_text('[[brand]]\nname = "acme"\nhandles = { twitter = ["acme"] }\n')
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams.cli", "ingest", "webhook", "--brands", str(brands),
        "--listen", f"127.0.0.1:{port}", "--out", str(tmp_path / "out.jsonl"),
        "--metrics-port", "0", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "BRANDPULSE_WEBHOOK_SECRET": WEBHOOK_SECRET,
             "PYTHONPATH": str(Path(__file__).parents[2])})
    writers: list[asyncio.StreamWriter] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # until it listens
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writers.append(writer)  # and one connection that sends nothing at all
            break
        assert writers, "the webhook server did not start"
        body = events_body("never")
        for data in (b"POST /events HT", b"POST /events HTTP/1.1\r\nHost: x\r\n",
                     signed_head(body) + body[:15], signed_head(body) + body[:40]):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            writers.append(writer)
        await asyncio.sleep(0.3)  # the server has them all (not a timed assertion)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = await asyncio.wait_for(process.wait(), 10)
        seconds = time.monotonic() - started
    finally:
        for writer in writers:
            writer.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()  # type: ignore[union-attr]
    assert code == 0 and "Traceback" not in stderr, stderr
    assert seconds < 5, seconds
