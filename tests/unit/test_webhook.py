"""The webhook connector against real HTTP requests on 127.0.0.1, with a list-backed sink.

Meta payloads are written by hand from the public Graph API webhook docs (Page `feed`,
Instagram `comments`/`mentions`); ids are made up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest

from streams.config import ConfigError, parse_brands
from streams.events import AudienceKind, ConversationStatus, Side, SocialEvent
from streams.sources.base import SinkUnavailable
from streams.sources.meta import MetaAccounts, parse_meta_payload
from streams.sources.webhook import (
    WebhookConnector,
    parse_listen,
    sign,
    signature_ok,
)
from streams.wire import format_rfc3339

NOW = 1_700_000_000.0
APP_SECRET = "app-secret-for-tests"
EVENTS_SECRET = "events-secret-for-tests"
VERIFY_TOKEN = "verify-me"
PAGE = "1111111111"
IG = "17840000000000001"

BRANDS = parse_brands({"brand": [
    {"name": "acme", "handles": {"facebook": [PAGE], "instagram": [IG, "acmeco"],
                                 "twitter": ["AcmeSupport"]}},
    {"name": "globex", "handles": {"twitter": ["Globex"]}},
]})


@dataclass
class ListSink:
    """The SourceSink contract backed by lists; `fail_flushes` makes the next N flushes fail."""

    source: str = "webhook"
    emitted: list[SocialEvent] = field(default_factory=list)
    flushed: list[SocialEvent] = field(default_factory=list)
    skips: list[str] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)
    up: list[bool] = field(default_factory=list)
    fail_flushes: int = 0
    flush_delay: float = 0.0

    async def emit(self, event: SocialEvent) -> None:
        self.emitted.append(event)

    async def flush(self) -> None:
        if self.flush_delay:
            await asyncio.sleep(self.flush_delay)
        if self.fail_flushes > 0:
            self.fail_flushes -= 1
            raise SinkUnavailable("broker down (test)")
        self.flushed.extend(self.emitted[len(self.flushed):])

    def skipped(self, reason: str) -> None:
        self.skips.append(reason)

    def rejected(self, reason: str, detail: str) -> None:
        self.rejects.append((reason, detail))

    def connected(self, up: bool) -> None:
        self.up.append(up)

    def reconnected(self) -> None:  # a server never reconnects
        raise AssertionError("unexpected")

    @property
    def reasons(self) -> list[str]:
        return [reason for reason, _ in self.rejects]


@dataclass
class Server:
    connector: WebhookConnector
    sink: ListSink
    url: str
    http: aiohttp.ClientSession

    async def post(self, path: str, body: bytes, secret: str | None = APP_SECRET,
                   signature: str | None = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = sign(secret, body)
        async with self.http.post(self.url + path, data=body, headers=headers) as response:
            text = await response.read()
            try:
                return response.status, orjson.loads(text)
            except orjson.JSONDecodeError:
                return response.status, text


@contextlib.asynccontextmanager
async def serving(sink: ListSink | None = None, **options: Any) -> AsyncIterator[Server]:
    sink = sink or ListSink()
    options.setdefault("meta_verify_token", VERIFY_TOKEN)
    options.setdefault("meta_app_secret", APP_SECRET)
    options.setdefault("events_secret", EVENTS_SECRET)
    connector = WebhookConnector(BRANDS, "127.0.0.1", 0, clock=lambda: NOW, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(sink, stop))
    await asyncio.wait_for(connector.started.wait(), 10)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        try:
            yield Server(connector, sink, f"http://127.0.0.1:{connector.port}", http)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)


def page_payload(*values: dict[str, Any], page: str = PAGE) -> bytes:
    return orjson.dumps({"object": "page", "entry": [{
        "id": page, "time": int(NOW),
        "changes": [{"field": "feed", "value": value} for value in values]}]})


def comment(comment_id: str, author: str, parent: str, post: str = f"{PAGE}_42",
            text: str = "where is my order?", verb: str = "add",
            created: float = NOW - 60) -> dict[str, Any]:
    return {"from": {"id": author, "name": "Someone"}, "post": {"id": post},
            "message": text, "post_id": post, "comment_id": comment_id,
            "created_time": int(created), "item": "comment", "parent_id": parent,
            "verb": verb}


def ig_payload(field_name: str, value: dict[str, Any], account: str = IG) -> bytes:
    return orjson.dumps({"object": "instagram", "entry": [{
        "id": account, "time": int(NOW) - 5, "changes": [{"field": field_name,
                                                         "value": value}]}]})


# --- handshake ---------------------------------------------------------------------------

async def test_handshake_echoes_the_challenge_only_with_the_right_token() -> None:
    async with serving() as server:
        query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
                 "hub.challenge": "1158201444"}
        async with server.http.get(server.url + "/meta", params=query) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            assert await response.text() == "1158201444"
        for wrong in ({**query, "hub.verify_token": "nope"}, {**query, "hub.mode": "x"},
                      {"hub.challenge": "1"}):
            async with server.http.get(server.url + "/meta", params=wrong) as response:
                assert response.status == 403
                assert "1158201444" not in await response.text()
        assert server.sink.reasons == ["bad_verify_token"] * 3


async def test_handshake_is_forbidden_when_no_verify_token_is_configured() -> None:
    async with serving(meta_verify_token=None) as server:
        query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "7"}
        async with server.http.get(server.url + "/meta", params=query) as response:
            assert response.status == 403


# --- Facebook Page feed --------------------------------------------------------------------

async def test_a_user_comment_is_an_audience_message_and_the_page_reply_answers_it() -> None:
    async with serving() as server:
        user = comment(f"{PAGE}_42_1", "2222", parent=f"{PAGE}_42")
        status, body = await server.post("/meta", page_payload(user))
        assert (status, body["accepted"]) == (200, 1)
        reply = comment(f"{PAGE}_42_2", PAGE, parent=f"{PAGE}_42_1", text="Sent today!",
                        created=NOW - 30)
        status, _ = await server.post("/meta", page_payload(reply))
        assert status == 200
    first, answer = server.sink.flushed
    assert first == SocialEvent(Side.AUDIENCE, f"{PAGE}_42_1", "acme", "facebook", "2222",
                                "where is my order?", NOW - 60, f"{PAGE}_42",
                                AudienceKind.COMMENT)
    assert answer.side is Side.BRAND and answer.author == PAGE
    assert answer.in_reply_to == first.id and answer.created_at == NOW - 30
    assert BRANDS.get("acme").is_own_handle("facebook", answer.author)  # type: ignore[union-attr]
    assert server.sink.up == [True, False]


async def test_reply_to_another_users_comment_and_the_brand_replying_to_itself() -> None:
    async with serving() as server:
        thread = comment(f"{PAGE}_42_3", "3333", parent=f"{PAGE}_42_1")  # parent: a user
        own_post = {"from": {"id": PAGE}, "post_id": f"{PAGE}_43", "message": "New shop!",
                    "created_time": int(NOW - 100), "item": "status", "verb": "add",
                    "published": 1}
        self_reply = comment(f"{PAGE}_43_1", PAGE, parent=f"{PAGE}_43", post=f"{PAGE}_43",
                             text="Open 9-18")
        visitor = {"from": {"id": "4444"}, "post_id": f"{PAGE}_44", "message": "Hello?",
                   "created_time": int(NOW - 10), "item": "post", "verb": "add"}
        status, body = await server.post(
            "/meta", page_payload(thread, own_post, self_reply, visitor))
        assert (status, body["accepted"]) == (200, 4)
    reply, broadcast, self_answer, wall = server.sink.flushed
    assert (reply.side, reply.kind, reply.in_reply_to) == (
        Side.AUDIENCE, AudienceKind.REPLY, f"{PAGE}_42_1")
    assert (broadcast.side, broadcast.in_reply_to, broadcast.text) == (
        Side.BRAND, None, "New shop!")
    assert (self_answer.side, self_answer.in_reply_to) == (Side.BRAND, broadcast.id)
    assert (wall.side, wall.kind, wall.in_reply_to) == (
        Side.AUDIENCE, AudienceKind.COMMENT, None)


async def test_edits_removals_reactions_and_other_fields_are_skipped_and_counted() -> None:
    async with serving() as server:
        values = [comment("c1", "2222", f"{PAGE}_42", verb="edited"),
                  comment("c2", "2222", f"{PAGE}_42", verb="remove"),
                  comment("c3", "2222", f"{PAGE}_42", verb="hide"),
                  {"item": "reaction", "verb": "add", "reaction_type": "like",
                   "from": {"id": "2222"}, "post_id": f"{PAGE}_42"}]
        body = orjson.loads(page_payload(*values))
        body["entry"][0]["changes"].append({"field": "ratings", "value": {}})
        status, answer = await server.post("/meta", orjson.dumps(body))
        assert (status, answer["accepted"], answer["skipped"]) == (200, 0, 5)
    assert server.sink.flushed == []
    assert sorted(server.sink.skips) == ["edit", "other_field", "other_item", "removal",
                                         "removal"]


async def test_unknown_page_and_future_time_are_rejected_but_acknowledged() -> None:
    async with serving() as server:
        status, body = await server.post(
            "/meta", page_payload(comment("c1", "2222", "p_1"), page="999"))
        assert (status, body["accepted"], body["rejected"]) == (200, 0, 1)
        late = comment("c2", "2222", f"{PAGE}_42", created=NOW + 301)
        skewed = comment("c3", "2222", f"{PAGE}_42", created=NOW + 299)
        status, body = await server.post("/meta", page_payload(late, skewed))
        assert (status, body["accepted"], body["rejected"]) == (200, 1, 1)
    assert server.sink.reasons == ["unknown_account", "future_timestamp"]
    assert [e.id for e in server.sink.flushed] == ["c3"]


async def test_a_comment_without_from_is_rejected_naming_the_permission() -> None:
    value = comment("c1", "2222", f"{PAGE}_42")
    del value["from"]
    outcome = parse_meta_payload(orjson.loads(page_payload(value)),
                                 MetaAccounts.from_brands(BRANDS), NOW)
    assert not isinstance(outcome, type(None))
    assert outcome.events == []  # type: ignore[union-attr]
    (reason, detail), = outcome.rejected  # type: ignore[union-attr]
    assert reason == "schema" and "pages_read_user_content" in detail


# --- Instagram ---------------------------------------------------------------------------

async def test_instagram_comment_reply_brand_answer_and_mention() -> None:
    async with serving() as server:
        user = {"id": "9001", "from": {"id": "5555", "username": "jane"},
                "text": "size?", "media": {"id": "M1", "media_product_type": "FEED"}}
        brand = {"id": "9002", "from": {"id": "7777", "username": "AcmeCo"},
                 "text": "M and L", "media": {"id": "M1"}, "parent_id": "9001"}
        thread = {"id": "9003", "from": {"id": "6666", "username": "joe"}, "text": "+1",
                  "media": {"id": "M1"}, "parent_id": "9001"}
        mention = {"media_id": "M9", "comment_id": "9100"}
        for field_name, value in (("comments", user), ("comments", brand),
                                  ("comments", thread), ("mentions", mention)):
            status, body = await server.post("/meta", ig_payload(field_name, value))
            assert (status, body["accepted"]) == (200, 1)
    comment_, answer, reply, mentioned = server.sink.flushed
    assert (comment_.side, comment_.kind, comment_.in_reply_to, comment_.author) == (
        Side.AUDIENCE, AudienceKind.COMMENT, "M1", "5555")
    assert comment_.platform == "instagram" and comment_.created_at == NOW - 5
    # The brand is recognised by its username (handles are lower-cased) and written as
    # its account id, so the worker's is_own_handle sees the brand.
    assert (answer.side, answer.author, answer.in_reply_to) == (Side.BRAND, IG, "9001")
    assert (reply.kind, reply.in_reply_to) == (AudienceKind.REPLY, "9001")
    assert (mentioned.side, mentioned.kind, mentioned.id, mentioned.text) == (
        Side.AUDIENCE, AudienceKind.MENTION, "9100", "")


async def test_unknown_instagram_account_is_rejected() -> None:
    async with serving() as server:
        status, body = await server.post("/meta", ig_payload(
            "comments", {"id": "1", "from": {"id": "2"}, "media": {"id": "3"}}, account="42"))
        assert (status, body["rejected"]) == (200, 1)
    assert server.sink.reasons == ["unknown_account"] and server.sink.flushed == []


# --- signatures and limits ---------------------------------------------------------------

async def test_forged_or_missing_signature_gets_401_and_emits_nothing() -> None:
    payload = page_payload(comment("c1", "2222", f"{PAGE}_42"))
    async with serving() as server:
        forged = sign("not-the-secret", payload)
        assert (await server.post("/meta", payload, signature=forged))[0] == 401
        tampered = payload.replace(b"where", b"WHERE")
        assert (await server.post("/meta", tampered, signature=sign(APP_SECRET, payload))
                )[0] == 401
        assert (await server.post("/meta", payload, secret=None))[0] == 401
        assert (await server.post("/meta", payload, signature="sha1=abc"))[0] == 401
        # the events secret does not open /meta, nor the app secret /events
        assert (await server.post("/meta", payload, secret=EVENTS_SECRET))[0] == 401
        assert (await server.post("/events", b"{}", secret=APP_SECRET))[0] == 401
    assert server.sink.emitted == []
    assert server.sink.reasons == ["bad_signature"] * 6


def test_signature_check_is_exact() -> None:
    body = b'{"a":1}'
    good = sign("s", body)
    assert signature_ok("s", body, good) and signature_ok("s", body, good.upper()
                                                          .replace("SHA256=", "sha256="))
    assert not signature_ok("s", body, good[:-1])
    assert not signature_ok("s", body + b" ", good)
    assert not signature_ok("s", body, "sha256=é")
    assert not signature_ok("s", body, None)


async def test_oversized_body_gets_413_before_anything_is_parsed() -> None:
    async with serving(max_body_bytes=4096) as server:
        big = page_payload(comment("c1", "2222", f"{PAGE}_42", text="x" * 5000))
        status, _ = await server.post("/meta", big)
        assert status == 413
        ok = page_payload(comment("c2", "2222", f"{PAGE}_42"))
        assert (await server.post("/meta", ok))[0] == 200
    assert server.sink.reasons == ["oversized"]
    assert [e.id for e in server.sink.flushed] == ["c2"]


async def test_get_on_post_routes_is_405_and_unknown_paths_404() -> None:
    async with serving() as server:
        async with server.http.get(server.url + "/events") as response:
            assert response.status == 405
        async with server.http.put(server.url + "/meta") as response:
            assert response.status == 405
        async with server.http.post(server.url + "/nope") as response:
            assert response.status == 404


async def test_a_route_without_its_secret_is_not_served() -> None:
    async with serving(events_secret=None) as server:
        status, _ = await server.post("/events", b"", secret=EVENTS_SECRET)
        assert status == 404
    async with serving(meta_app_secret=None, meta_verify_token=None) as server:
        assert (await server.post("/meta", b"{}"))[0] == 404


# --- generic /events ---------------------------------------------------------------------

def _line(event_id: str, side: str = "audience", created: float = NOW - 50,
          brand: str = "globex", **extra: Any) -> bytes:
    record = {"side": side, "id": event_id, "brand": brand, "platform": "twitter",
              "author": "Globex" if side == "brand" else "jane", "text": "hi",
              "created_at": format_rfc3339(created), **extra}
    return orjson.dumps(record) + b"\n"


async def test_events_route_takes_many_signed_jsonl_lines() -> None:
    lines = [_line(f"a{i}") for i in range(50)]
    lines.append(_line("b1", side="brand", in_reply_to="a0"))
    body = b"".join(lines) + b"\n"  # a trailing blank line is not a record
    async with serving() as server:
        status, answer = await server.post("/events", body, secret=EVENTS_SECRET)
    assert (status, answer["accepted"], answer["rejected"]) == (200, 51, [])
    assert len(server.sink.flushed) == 51
    assert server.sink.flushed[-1].side is Side.BRAND
    first = server.sink.flushed[0]
    assert (first.id, first.brand, first.author, first.created_at) == (
        "a0", "globex", "jane", NOW - 50)
    assert first.kind is AudienceKind.MENTION
    assert server.sink.flushed[-1].in_reply_to == "a0"


async def test_events_route_accepts_good_lines_and_reports_bad_ones() -> None:
    body = (_line("a1") + b"{not json\n" + _line("a2", brand="nobody")
            + _line("a3", created=NOW + 3600) + _line("a4"))
    async with serving() as server:
        status, answer = await server.post("/events", body, secret=EVENTS_SECRET)
        assert status == 200 and answer["accepted"] == 2
        assert [(bad["line"], bad["reason"]) for bad in answer["rejected"]] == [
            (2, "malformed_json"), (3, "unknown_brand"), (4, "future_timestamp")]
        status, answer = await server.post("/events", b"{}\n[]\n", secret=EVENTS_SECRET)
        assert status == 400 and answer["accepted"] == 0 and len(answer["rejected"]) == 2
    assert [e.id for e in server.sink.flushed] == ["a1", "a4"]
    assert server.sink.reasons == ["malformed_json", "unknown_brand", "future_timestamp",
                                   "schema", "schema"]


async def test_events_route_takes_inbox_status_lines_and_bounds_their_time() -> None:
    """A helpdesk other than Chatwoot posts its conversations' status changes as status
    lines of the JSONL schema; a change dated in the future is refused like an event."""
    status_line = {"kind": "resolved", "thread": "t1",
                   "opened_at": format_rfc3339(NOW - 3600)}
    body = (_line("s1", side="brand", **status_line)
            + _line("s2", side="brand", created=NOW + 3600, **status_line)
            + _line("s3", side="brand", kind="scheduled"))
    async with serving() as server:
        status, answer = await server.post("/events", body, secret=EVENTS_SECRET)
    assert (status, answer["accepted"]) == (200, 1)
    assert [(bad["line"], bad["reason"]) for bad in answer["rejected"]] == [
        (2, "future_timestamp"), (3, "schema")]
    (resolved,) = server.sink.flushed
    assert isinstance(resolved, ConversationStatus)
    assert (resolved.thread, resolved.opened_at, resolved.reopened) == ("t1", NOW - 3600, False)


# --- delivery guarantees -----------------------------------------------------------------

async def test_sink_unavailable_gives_503_then_the_retry_succeeds() -> None:
    sink = ListSink(fail_flushes=1)
    payload = page_payload(comment("c1", "2222", f"{PAGE}_42"))
    async with serving(sink) as server:
        status, _ = await server.post("/meta", payload)
        assert status == 503
        assert server.sink.flushed == []
        status, body = await server.post("/meta", payload)  # Meta retries the same body
        assert (status, body["accepted"]) == (200, 1)
        # The failed attempt's event may still reach the broker (a duplicate of the same
        # id, harmless downstream); what matters is that c1 is there before the 200.
        assert {e.id for e in sink.flushed} == {"c1"}
        emitted = len(sink.emitted)
        status, body = await server.post("/meta", payload)  # a late duplicate retry
        assert (status, body["accepted"], body["skipped"]) == (200, 0, 1)
        assert len(sink.emitted) == emitted  # remembered: not produced again
    assert sink.skips == ["duplicate"]


async def test_stop_finishes_in_flight_requests_before_returning() -> None:
    sink = ListSink(flush_delay=0.5)
    connector = WebhookConnector(BRANDS, "127.0.0.1", 0, meta_app_secret=APP_SECRET,
                                 clock=lambda: NOW)
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(sink, stop))
    await asyncio.wait_for(connector.started.wait(), 10)
    payload = page_payload(comment("c1", "2222", f"{PAGE}_42"))
    async with aiohttp.ClientSession() as http:
        request = asyncio.create_task(http.post(
            f"http://127.0.0.1:{connector.port}/meta", data=payload,
            headers={"X-Hub-Signature-256": sign(APP_SECRET, payload)}))
        await asyncio.sleep(0.2)  # the request is now waiting in flush
        stop.set()
        response = await asyncio.wait_for(request, 10)
        assert response.status == 200
        response.release()
        await asyncio.wait_for(task, 10)
    assert [e.id for e in sink.flushed] == ["c1"]
    assert sink.up == [True, False]


# --- configuration -----------------------------------------------------------------------

def test_from_args_reads_secrets_and_listen(caplog: pytest.LogCaptureFixture) -> None:
    args = SimpleNamespace(listen="127.0.0.1:8088")
    connector = WebhookConnector.from_args(args, BRANDS, env={"BRANDPULSE_WEBHOOK_SECRET": "x"})
    assert (connector.host, connector.port) == ("127.0.0.1", 8088)
    assert connector.describe_routes() == ["/meta disabled: META_APP_SECRET unset",
                                           "POST /events enabled"]
    with pytest.raises(ConfigError) as none_set:
        WebhookConnector.from_args(args, BRANDS, env={})
    assert "\n" not in str(none_set.value) and "Fix:" in str(none_set.value)
    with pytest.raises(ConfigError, match="META_APP_SECRET"):
        WebhookConnector.from_args(args, BRANDS, env={"META_VERIFY_TOKEN": "t"})
    for bad in ("8080", "localhost:", "host:99999", ":80", "bad host:1"):
        with pytest.raises(ConfigError, match="--listen"):
            parse_listen(bad)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    with caplog.at_level(logging.WARNING):
        only_twitter = parse_brands({"brand": [{"name": "g", "handles": {"twitter": ["G"]}}]})
        WebhookConnector.from_args(args, only_twitter, env={"META_APP_SECRET": "s"})
    assert "unknown_account" in caplog.text


def test_a_page_in_two_brands_is_a_config_error() -> None:
    brands = parse_brands({"brand": [
        {"name": "a", "handles": {"facebook": ["1"]}},
        {"name": "b", "handles": {"facebook": ["1"]}}]})
    with pytest.raises(ConfigError, match="both"):
        MetaAccounts.from_brands(brands)


def test_envelopes_that_are_not_meta_are_rejected_or_skipped() -> None:
    accounts = MetaAccounts.from_brands(BRANDS)
    assert parse_meta_payload([], accounts, NOW).reason.value == "schema"  # type: ignore[union-attr]
    assert parse_meta_payload({"object": "page", "entry": 3}, accounts, NOW
                              ).reason.value == "schema"  # type: ignore[union-attr]
    other = parse_meta_payload({"object": "user", "entry": [{"id": "1"}]}, accounts, NOW)
    assert other.skipped == ["other_object"]  # type: ignore[union-attr]
