"""Mastodon connector against a fake instance (aiohttp.web on 127.0.0.1).

Payloads are written by hand after the public Mastodon API docs (Status, Notification,
Account entities; streaming and pagination); no real data.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from aiohttp import web

from streams.config import BrandConfig, BrandsConfig, ConfigError
from streams.events import AudienceKind, Side, SocialEvent
from streams.sources.mastodon import MastodonConnector, brand_accounts, token_variable
from streams.sources.mastodon_wire import (
    BrandAccount,
    Rejected,
    SseParser,
    StatusMapper,
    html_to_text,
)

DOMAIN = "mastodon.example"
NOW = time.time()


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def account(id: str, username: str, domain: str | None = None, bot: bool = False) -> dict:
    acct = username if domain is None else f"{username}@{domain}"
    return {"id": id, "username": username, "acct": acct, "display_name": username.title(),
            "bot": bot, "url": f"https://{domain or DOMAIN}/@{username}"}


BRAND = account("1", "acme")
JANE = account("2", "jane", "other.example")
ROBOT = account("3", "newsbot", bot=True)


def status(id: str, who: dict, text: str, *, reply_to: str | None = None,
           at: float | None = None, visibility: str = "public", reblog: dict | None = None,
           mentions: list[dict] | None = None) -> dict:
    return {"id": id, "uri": f"https://{DOMAIN}/users/{who['username']}/statuses/{id}",
            "created_at": iso(NOW - 60 if at is None else at), "account": who,
            "content": text, "visibility": visibility, "in_reply_to_id": reply_to,
            "in_reply_to_account_id": None, "reblog": reblog, "language": "en",
            "mentions": mentions or [], "spoiler_text": "", "sensitive": False}


def mention(id: str, st: dict) -> dict:
    return {"id": id, "type": "mention", "created_at": st["created_at"],
            "account": st["account"], "status": st}


BRAND_MENTION = [{"id": "1", "username": "acme", "acct": "acme",
                  "url": f"https://{DOMAIN}/@acme"}]
MENTION_HTML = (f'<span class="h-card"><a href="https://{DOMAIN}/@acme" '
                'class="u-url mention">@<span>acme</span></a></span>')


class ListSink:
    """The SourceSink contract, backed by lists."""

    source = "mastodon"

    def __init__(self) -> None:
        self.events: list[SocialEvent] = []
        self.skips: Counter[str] = Counter()
        self.rejections: list[tuple[str, str]] = []
        self.up: list[bool] = []
        self.reconnects = 0
        self.flushes = 0
        self.flushed = 0  # events the "broker" has

    async def emit(self, event: SocialEvent) -> None:
        self.events.append(event)

    async def flush(self) -> None:
        self.flushes += 1
        self.flushed = len(self.events)

    def skipped(self, reason: str) -> None:
        self.skips[reason] += 1

    def rejected(self, reason: str, detail: str) -> None:
        self.rejections.append((reason, detail))

    def connected(self, up: bool) -> None:
        self.up.append(up)

    def reconnected(self) -> None:
        self.reconnects += 1


class FastBackoff:
    def reset(self) -> None:
        pass

    def next(self) -> float:
        return 0.05


def acme_account(account_id: str | None = "1") -> BrandAccount:
    return BrandAccount("acme", f"acme@{DOMAIN}", "t0ken", "MASTODON_TOKEN",
                        account_id=account_id)


def mapper() -> StatusMapper:
    return StatusMapper(acme_account(), DOMAIN, clock=lambda: NOW)


# --- HTML, mapping -----------------------------------------------------------------------

@pytest.mark.parametrize(("html", "text"), [
    ("<p>Hello world</p>", "Hello world"),
    ("<p>line one<br>line two</p><p>next paragraph</p>", "line one line two next paragraph"),
    ("<p>fish &amp; chips &lt;3 &#8217;s &quot;q&quot;</p>", "fish & chips <3 \u2019s \"q\""),
    ('<p><a href="https://x.example/y" rel="nofollow"><span class="invisible">https://'
     '</span><span>x.example/y</span></a></p>', "https://x.example/y"),
    (f"<p>{MENTION_HTML} where is my order? "
     '<a href="https://mastodon.example/tags/late" class="mention hashtag">#<span>late'
     "</span></a></p>", "@acme@mastodon.example where is my order? #late"),
    ("", ""),
    ("<p>unclosed <b>tag", "unclosed tag"),
])
def test_html_to_text(html: str, text: str) -> None:
    urls = {f"https://{DOMAIN}/@acme": f"acme@{DOMAIN}"}
    assert html_to_text(html, urls) == text


def test_mention_without_mentions_list_keeps_its_text() -> None:
    assert html_to_text(f"<p>{MENTION_HTML} hi</p>") == "@acme hi"


def test_a_top_level_mention_requires_a_reply() -> None:
    """The text names the brand as `@acme@domain`, the form its handle has in the brands file."""
    from streams.core.reply_rule import requires_reply
    brand = BrandConfig("acme", {"mastodon": frozenset({f"acme@{DOMAIN}"})})
    event = mapper().audience_message(status("201", JANE, f"<p>{MENTION_HTML} help</p>",
                                             mentions=BRAND_MENTION))
    assert requires_reply(event, brand)
    # The status of a `mention` notification: Mastodon resolved the mention from its
    # structure, so the rule trusts it whatever the text names (core/sla.py).
    other = mapper().audience_message(status("202", JANE, "<p>@acme@elsewhere.example hi</p>"))
    assert requires_reply(other, brand)


def test_audience_mention_reply_and_direct_message() -> None:
    m = mapper()
    top = m.audience_message(status("201", JANE, f"<p>{MENTION_HTML} help</p>",
                                    mentions=BRAND_MENTION))
    assert (top.side, top.kind, top.id, top.in_reply_to) == \
        (Side.AUDIENCE, AudienceKind.MENTION, f"{DOMAIN}/201", None)
    assert top.author == "jane@other.example" and top.text == f"@acme@{DOMAIN} help"
    assert top.created_at == pytest.approx(NOW - 60, abs=0.01) and top.lang == "en"
    reply = m.audience_message(status("202", JANE, "<p>still waiting</p>", reply_to="150"))
    assert (reply.kind, reply.in_reply_to) == (AudienceKind.REPLY, f"{DOMAIN}/150")
    dm = m.audience_message(status("203", JANE, "<p>my order</p>", visibility="direct",
                                   reply_to="150"))
    assert dm.kind is AudienceKind.DIRECT_MESSAGE


def test_brand_reply_matches_the_audience_id() -> None:
    m = mapper()
    asked = m.audience_message(status("201", JANE, "<p>help</p>"))
    answer = m.brand_post(status("300", BRAND, "<p>on it</p>", reply_to="201"))
    assert answer.side is Side.BRAND and answer.in_reply_to == asked.id
    assert answer.author == f"acme@{DOMAIN}"  # the brands-file handle: is_own_handle holds


def test_brand_replying_to_itself_is_a_brand_reply() -> None:
    m = mapper()
    first = m.brand_post(status("300", BRAND, "<p>1/2 outage update</p>"))
    second = m.brand_post(status("301", BRAND, "<p>2/2 fixed</p>", reply_to="300"))
    assert first.in_reply_to is None and second.in_reply_to == first.id
    assert second.side is Side.BRAND and not second.is_share


def test_reblog_is_a_share_with_the_shared_text() -> None:
    shared = status("205", JANE, "<p>love acme</p>")
    event = mapper().brand_post(status("302", BRAND, "", reblog=shared))
    assert event.is_share and event.text == "love acme" and event.in_reply_to is None


def test_bot_account_is_automated() -> None:
    event = mapper().audience_message(status("206", ROBOT, f"<p>{MENTION_HTML} daily</p>"))
    assert event.automated and event.author == f"newsbot@{DOMAIN}"


def test_future_created_at_is_rejected_and_near_future_allowed() -> None:
    with pytest.raises(Rejected) as caught:
        mapper().audience_message(status("207", JANE, "<p>hi</p>", at=NOW + 301))
    assert caught.value.reason == "future_timestamp"
    assert mapper().audience_message(status("208", JANE, "x", at=NOW + 299)).id.endswith("208")


@pytest.mark.parametrize("broken", [
    {"id": "9"}, {"id": None, "account": JANE, "created_at": iso(NOW)},
    {"id": "9", "account": JANE, "created_at": "yesterday", "content": ""},
    {"id": "9", "account": JANE, "created_at": iso(NOW), "content": 3},
])
def test_bad_status_is_a_schema_rejection(broken: dict) -> None:
    with pytest.raises(Rejected) as caught:
        mapper().audience_message(broken)
    assert caught.value.reason == "schema"


# --- SSE parsing ------------------------------------------------------------------------

def test_sse_parser_across_chunks_heartbeats_and_crlf() -> None:
    parser = SseParser(max_bytes=200)
    wire = b":thump\nevent: update\ndata: {\"a\":\ndata: 1}\n\r\nevent: delete\r\ndata: 5\r\n\r\n"
    events = []
    for i in range(0, len(wire), 7):
        events += parser.feed(wire[i:i + 7])
    assert [(e.name, e.data) for e in events] == [("update", '{"a":\n1}'), ("delete", "5")]
    big = b"event: update\ndata: " + b"x" * 300 + b"\n\nevent: delete\ndata: 6\n\n"
    assert [(e.name, e.data) for e in parser.feed(big)] == [("delete", "6")]
    assert parser.oversized == 1


# --- Configuration ----------------------------------------------------------------------

def brands_config(*names: str) -> BrandsConfig:
    return BrandsConfig({n: BrandConfig(n, {"mastodon": frozenset({f"{n}@{DOMAIN}"}),
                                            "twitter": frozenset({n})}) for n in names})


def test_tokens_per_brand_and_single_brand_fallback() -> None:
    assert token_variable("acme-eu 2") == "MASTODON_TOKEN_ACME_EU_2"
    [one] = brand_accounts(brands_config("acme"), {"MASTODON_TOKEN": "a"})
    assert (one.token, one.token_variable, one.username) == ("a", "MASTODON_TOKEN", "acme")
    two = brand_accounts(brands_config("acme", "globex"),
                         {"MASTODON_TOKEN_ACME": "a", "MASTODON_TOKEN_GLOBEX": "g"})
    assert [a.token for a in two] == ["a", "g"]
    with pytest.raises(ConfigError, match="MASTODON_TOKEN_GLOBEX") as caught:
        brand_accounts(brands_config("acme", "globex"),
                       {"MASTODON_TOKEN": "x", "MASTODON_TOKEN_ACME": "a"})
    assert "\n" not in str(caught.value)


def test_no_mastodon_brand_or_bad_instance_fails_at_start() -> None:
    plain = BrandsConfig({"acme": BrandConfig("acme", {"twitter": frozenset({"acme"})})})
    with pytest.raises(ConfigError, match="mastodon handle"):
        brand_accounts(plain, {"MASTODON_TOKEN": "x"})
    with pytest.raises(ConfigError, match="--instance"):
        MastodonConnector.from_args(SimpleNamespace(instance="ftp://x", cursor_file=None),
                        brands_config("acme"))


# --- The fake instance --------------------------------------------------------------------

def _key(value: str) -> tuple[int, str]:
    return (len(value), value)


class FakeInstance:
    """Just enough of Mastodon: verify_credentials, paginated notifications and statuses
    (newest first, Link next=max_id / prev=min_id like the real server), rate-limit
    headers, and a user stream scripted per connection."""

    def __init__(self, page_size: int = 2) -> None:
        self.page_size = page_size
        self.notifications: list[dict] = []
        self.statuses: list[dict] = []  # the brand's own
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.streams: list[list[bytes | None]] = []  # per connection; None = drop
        self.after_catch_up: dict[int, Any] = {}  # connection -> state change, made once
        # the connector has caught up (what happens while it was away from the stream)
        self.stream_connections = 0
        self.tokens: list[str] = []
        self.rate_limited_once = False
        self.rate_limit_wait = 0.0
        self.rate_paused_at: float | None = None
        self.resumed_at: float | None = None
        self.closing = asyncio.Event()
        self.base = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/accounts/verify_credentials", self.verify)
        app.router.add_get("/api/v1/notifications", self.list_notifications)
        app.router.add_get("/api/v1/accounts/{id}/statuses", self.list_statuses)
        app.router.add_get("/api/v1/streaming/user", self.stream)
        return app

    def _auth(self, request: web.Request) -> None:
        self.tokens.append(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != "Bearer t0ken":
            raise web.HTTPUnauthorized()

    async def verify(self, request: web.Request) -> web.Response:
        self._auth(request)
        return web.json_response(BRAND)

    def _page(self, request: web.Request, items: list[dict], path: str) -> web.Response:
        self._auth(request)
        query = dict(request.query)
        self.requests.append((path, query))
        if self.resumed_at is None and self.rate_paused_at is not None:
            self.resumed_at = time.monotonic()
        rows = sorted(items, key=lambda x: _key(x["id"]), reverse=True)
        if "max_id" in query:
            rows = [r for r in rows if _key(r["id"]) < _key(query["max_id"])]
        if "since_id" in query:
            rows = [r for r in rows if _key(r["id"]) > _key(query["since_id"])]
        limit = min(int(query.get("limit", 20)), self.page_size)
        if "min_id" in query:
            rows = [r for r in rows if _key(r["id"]) > _key(query["min_id"])][-limit:]
        page = rows[:limit]
        headers = {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "250",
                   "X-RateLimit-Reset": iso(time.time() + 300)}
        if not self.rate_limited_once and self.rate_limit_wait:
            self.rate_limited_once = True
            self.rate_paused_at = time.monotonic()
            headers["X-RateLimit-Remaining"] = "0"
            headers["X-RateLimit-Reset"] = iso(time.time() + self.rate_limit_wait)
        extra = "&types[]=mention" if "types[]" in query else ""
        if page:  # like Mastodon: next keeps neither since_id nor min_id
            headers["Link"] = (
                f'<{self.base}{path}?limit={limit}{extra}&max_id={page[-1]["id"]}>; '
                f'rel="next", <{self.base}{path}?limit={limit}{extra}&min_id='
                f'{page[0]["id"]}>; rel="prev"')
        return web.json_response(page, headers=headers)

    async def list_notifications(self, request: web.Request) -> web.Response:
        assert request.query.getall("types[]") == ["mention"]
        return self._page(request, self.notifications, "/api/v1/notifications")

    async def list_statuses(self, request: web.Request) -> web.Response:
        assert request.match_info["id"] == "1"
        return self._page(request, self.statuses, "/api/v1/accounts/1/statuses")

    async def stream(self, request: web.Request) -> web.StreamResponse:
        self._auth(request)
        script = self.streams[self.stream_connections] \
            if self.stream_connections < len(self.streams) else []
        self.stream_connections += 1
        served = sum(p.endswith("/statuses") for p, _ in self.requests)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        change = self.after_catch_up.get(self.stream_connections - 1)
        if change is not None:  # the catch-up ends with the statuses request
            for _ in range(500):
                if sum(p.endswith("/statuses") for p, _ in self.requests) > served:
                    break
                await asyncio.sleep(0.01)
            change()
        for chunk in script:
            if chunk is None:  # drop the connection mid-stream
                assert request.transport is not None
                request.transport.close()
                return response
            await response.write(chunk)
            await asyncio.sleep(0.01)
        for _ in range(500):  # then heartbeats until the test ends (bounded)
            if self.closing.is_set():
                break
            await response.write(b":thump\n")
            await asyncio.sleep(0.05)
        return response


def sse(name: str, payload: Any) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f"event: {name}\ndata: {data}\n\n".encode()


async def serve(fake: FakeInstance) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.base = f"http://127.0.0.1:{port}"
    return runner, fake.base


async def wait_for(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_stream_drop_then_rest_catch_up_leaves_no_gap(tmp_path: Any) -> None:
    fake = FakeInstance(page_size=2)
    older = [mention(str(n), status(str(100 + n), JANE, f"<p>old {n}</p>")) for n in (9, 10)]
    backlog = [mention(str(n), status(str(100 + n), JANE, f"<p>{MENTION_HTML} backlog {n}</p>",
                                      mentions=BRAND_MENTION)) for n in (11, 12, 13)]
    fake.notifications = older + backlog
    fake.statuses = [status("300", BRAND, "<p>earlier</p>"),
                     status("301", BRAND, "<p>on it</p>", reply_to="111")]
    live = mention("14", status("114", JANE, "<p>live one</p>", reply_to="301"))
    missed = mention("15", status("115", ROBOT, "<p>missed by the stream</p>"))
    reply = status("302", BRAND, "<p>sorry!</p>", reply_to="114")
    favourite = {"id": "16", "type": "favourite", "created_at": iso(NOW), "account": JANE,
                 "status": reply}
    follower_post = status("400", JANE, "<p>home timeline noise</p>")
    first_half = sse("notification", missed)

    def meanwhile() -> None:  # happens after the first catch-up
        fake.notifications += [live, missed]
        fake.statuses.append(reply)

    fake.after_catch_up[0] = meanwhile
    fake.streams = [
        [b":thump\n", sse("notification", live), sse("update", reply),
         sse("update", follower_post), sse("notification", favourite),
         first_half[:25], None],
        [sse("notification", live), sse("delete", "300"),
         sse("status.update", status("301", BRAND, "<p>on it (edited)</p>", reply_to="111")),
         sse("update", "{not json"), sse("filters_changed", "")],
    ]
    cursor = tmp_path / "mastodon.cursor"
    cursor.write_text(orjson.dumps({"brands": {"acme": {
        "handle": f"acme@{DOMAIN}", "notifications": "10", "statuses": "300"}}}).decode())
    runner, base = await serve(fake)
    host = base.split("://")[1]  # ids are prefixed by the instance host
    try:
        connector = MastodonConnector(base, [acme_account(None)], cursor,
                                      backoff_factory=FastBackoff, checkpoint_seconds=0.05)
        sink, stop = ListSink(), asyncio.Event()
        task = asyncio.create_task(connector.run(sink, stop))
        await wait_for(lambda: fake.stream_connections >= 2
                       and sink.skips["filters_changed"] + sink.skips["other_event"] >= 1)
        fake.closing.set()
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await runner.cleanup()

    ids = [e.id for e in sink.events]
    audience = {e.id for e in sink.events if e.side is Side.AUDIENCE}
    brand = {e.id for e in sink.events if e.side is Side.BRAND}
    assert audience == {f"{host}/{n}" for n in (111, 112, 113, 114, 115)}  # no gap
    assert brand == {f"{host}/301", f"{host}/302"}
    assert f"{host}/109" not in ids and f"{host}/110" not in ids  # before the cursor
    assert ids.count(f"{host}/114") == 2  # stream duplicate: harmless, same id
    # First catch-up from the saved cursor, walking older pages down to it.
    notification_queries = [q for p, q in fake.requests if p == "/api/v1/notifications"]
    assert notification_queries[0]["since_id"] == "10"
    assert notification_queries[1]["max_id"] == "12"
    # After the drop the catch-up resumes from the newest notification the stream gave.
    resumed = [q for q in notification_queries if q.get("since_id") not in (None, "10")]
    assert resumed and resumed[0]["since_id"] == "14"
    status_queries = [q for p, q in fake.requests if p == "/api/v1/accounts/1/statuses"]
    assert status_queries[0]["since_id"] == "300"
    assert status_queries[1] == {"limit": "2", "max_id": "301"}  # walked down to the cursor
    assert {q.get("since_id") for q in status_queries[2:]} == {"302"}
    # The brand's reply threads onto the audience message it answers.
    by_id = {e.id: e for e in sink.events}
    assert by_id[f"{host}/302"].in_reply_to == f"{host}/114"
    assert by_id[f"{host}/115"].automated
    assert sink.skips == Counter({"not_brand": 1, "notification_type": 1, "delete": 1,
                                  "edit": 1, "other_event": 1})
    assert [r for r, _ in sink.rejections] == ["malformed_json"]
    assert sink.reconnects == 1 and sink.up[:3] == [True, False, True]
    assert set(fake.tokens) == {"Bearer t0ken"}
    saved = orjson.loads(cursor.read_text())["brands"]["acme"]
    assert (saved["notifications"], saved["statuses"]) == ("15", "302")
    assert sink.flushed == len(sink.events)  # the last save came after a flush


async def test_first_start_reads_newest_page_and_honours_rate_limit(tmp_path: Any) -> None:
    fake = FakeInstance(page_size=2)
    fake.rate_limit_wait = 1.0
    fake.notifications = [mention(str(n), status(str(100 + n), JANE, f"<p>m {n}</p>"))
                          for n in range(1, 6)]
    fake.statuses = [status("300", BRAND, "<p>hello</p>", at=NOW + 3600)]  # future
    fake.streams = [[]]
    runner, base = await serve(fake)
    host = base.split("://")[1]  # ids are prefixed by the instance host
    try:
        cursor = tmp_path / "c.json"
        connector = MastodonConnector(base, [acme_account(None)], cursor,
                                      backoff_factory=FastBackoff)
        sink, stop = ListSink(), asyncio.Event()
        task = asyncio.create_task(connector.run(sink, stop))
        await wait_for(lambda: cursor.exists())
        fake.closing.set()
        stop.set()
        await asyncio.wait_for(task, 10)
    finally:
        await runner.cleanup()
    # No cursor: only the newest page, no walk into history.
    assert [e.id for e in sink.events] == [f"{host}/104", f"{host}/105"]
    assert [r for r, _ in sink.rejections] == ["future_timestamp"]
    assert fake.rate_paused_at is not None and fake.resumed_at is not None
    assert fake.resumed_at - fake.rate_paused_at >= 0.8  # waited for X-RateLimit-Reset
    saved = orjson.loads(cursor.read_text())["brands"]["acme"]
    assert (saved["notifications"], saved["statuses"]) == ("5", "300")


async def test_wrong_account_or_refused_token_is_a_config_error() -> None:
    fake = FakeInstance()
    runner, base = await serve(fake)
    try:
        other = BrandAccount("globex", f"globex@{DOMAIN}", "t0ken", "MASTODON_TOKEN_GLOBEX")
        with pytest.raises(ConfigError, match="MASTODON_TOKEN_GLOBEX belongs to @acme"):
            await asyncio.wait_for(MastodonConnector(base, [other]).run(
                ListSink(), asyncio.Event()), 10)
        refused = BrandAccount("acme", f"acme@{DOMAIN}", "wrong", "MASTODON_TOKEN_ACME")
        with pytest.raises(ConfigError, match="refused MASTODON_TOKEN_ACME"):
            await asyncio.wait_for(MastodonConnector(base, [refused]).run(
                ListSink(), asyncio.Event()), 10)
    finally:
        await runner.cleanup()


def test_corrupt_cursor_file_fails_at_start(tmp_path: Any) -> None:
    cursor = tmp_path / "c.json"
    cursor.write_text("{broken")
    with pytest.raises(ConfigError, match="cursor file"):
        MastodonConnector("http://127.0.0.1:1", [acme_account()], cursor)
