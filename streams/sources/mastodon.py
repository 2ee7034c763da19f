"""Mastodon connector: a brand's own account, read live through the streaming API.

Each brand with a `mastodon` handle (`acme@mastodon.social`) is one account on the
instance given by `--instance`, read with that account's token. The user stream
(`/api/v1/streaming/user`, server-sent events) gives the account's own statuses (`update`)
and its notifications; on start and after every reconnect the REST API fills what the
stream missed (mentions through `/api/v1/notifications?types[]=mention`, own statuses
through `/api/v1/accounts/:id/statuses`).

Ids are the instance-local status ids prefixed by the instance host
(`mastodon.social/110000000000000001`): the instance gives every status it knows, local or
federated, one local id, and a brand reply's `in_reply_to_id` is that local id, so the
reply's `in_reply_to` equals the audience message's `id` and the worker times the first
response. The same status read on another instance would get another id, which is why
one connector reads one instance.

Resume positions (newest mention-notification id and newest own-status id per brand) are
saved in the cursor file only after `sink.flush()`. Notification ids, not status ids,
are the mention cursor: a federated status can get a local id older than ones already
seen, but its notification is created when it arrives.

Each brand is read by its own task, so one brand's trouble stays its own: a stuck stream
(every wait has a deadline, `Deadlines`) reconnects that brand only, a status over the
record bound is rejected and passed (its id still moves the cursor), and a token the
instance refuses stops that brand only, with `connected` 0 (the SourceDown alert) while the
others go on. Only when every brand is refused does the command stop (exit 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from streams.config import BrandsConfig, ConfigError
from streams.events import MAX_FUTURE_SKEW_SECONDS, AudienceKind, Side, SocialEvent, beyond_skew
from streams.plumbing.ratelog import RateLimitedLog
from streams.sources.base import (
    MAX_RECORD_BYTES,
    MAX_TEXT_CHARS,
    Backoff,
    CursorFile,
    Deadlines,
    add_cursor_argument,
    wait_for_peer,
)
from streams.wire import parse_rfc3339

log = logging.getLogger(__name__)

SOURCE = "mastodon"
PLATFORM = "mastodon"
PAGE_LIMIT = 40  # the largest page Mastodon serves for notifications and statuses
MAX_CATCH_UP_PAGES = 250  # 10 000 items per endpoint and reconnect, then we warn
#: One REST page: PAGE_LIMIT items each up to the record bound (items over it are rejected
#: one by one); a body over it cannot be read and restarts the connection.
MAX_PAGE_BYTES = PAGE_LIMIT * MAX_RECORD_BYTES
MAX_RATE_LIMIT_WAIT_SECONDS = 900.0  # Mastodon windows are 5 minutes
MAX_HTTP_RETRIES = 5  # 429 answers per REST request before the connection is restarted


class Skip(StrEnum):
    """Input deliberately ignored: the `reason` label of the skipped counter."""

    NOT_BRAND = "not_brand"  # home-timeline status by someone the brand follows
    NOTIFICATION_TYPE = "notification_type"  # favourite, follow, reblog, poll...
    DELETE = "delete"
    EDIT = "edit"  # status.update: the SLA timed the first version
    OTHER_EVENT = "other_event"  # filters_changed, conversation, announcement...


class Reject(StrEnum):
    """Input that is wrong: the `reason` label of the rejected counter."""

    MALFORMED_JSON = "malformed_json"
    SCHEMA = "schema"
    OVERSIZED = "oversized"
    FUTURE_TIMESTAMP = "future_timestamp"


# --- HTML content to plain text ------------------------------------------------------------

_BREAKS = frozenset({"br", "p", "div", "li", "blockquote", "pre"})
_SPACES = re.compile(r"\s+")


class _TextExtractor(HTMLParser):
    """Mastodon's sanitized HTML to text: tags dropped, entities decoded, breaks → spaces.

    A mention link whose href is in `mentions` is written as the full `@user@domain`, so
    the text names the same account on every instance.
    """

    def __init__(self, mentions: Mapping[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._mentions = mentions
        self._replace_depth = 0  # >0 inside an <a> whose text we replaced

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._replace_depth:
            self._replace_depth += tag == "a"
            return
        if tag in _BREAKS:
            self.parts.append(" ")
        elif tag == "a":
            acct = self._mentions.get(dict(attrs).get("href") or "")
            if acct is not None:
                self.parts.append(f"@{acct}")
                self._replace_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self._replace_depth:
            self._replace_depth -= tag == "a"
        elif tag in _BREAKS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._replace_depth:
            self.parts.append(data)


def html_to_text(content: str, mentions: Mapping[str, str] | None = None) -> str:
    """Plain text of a status' HTML `content`; `mentions` maps profile URL → full acct."""
    parser = _TextExtractor(mentions or {})
    parser.feed(content)
    parser.close()
    return _SPACES.sub(" ", "".join(parser.parts)).strip()


# --- Server-sent events --------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SseEvent:
    name: str
    data: str


class SseParser:
    """Incremental text/event-stream parser with a size bound per event.

    Comments (`:thump` heartbeats) are dropped; an event larger than `max_bytes` is
    discarded up to its blank line and reported once through `oversized`.
    """

    def __init__(self, max_bytes: int = MAX_RECORD_BYTES) -> None:
        self._buffer = b""
        self._name = ""
        self._data: list[str] = []
        self._size = 0
        self._discarding = False
        self.max_bytes = max_bytes
        self.oversized = 0

    def feed(self, chunk: bytes) -> list[SseEvent]:
        self._buffer += chunk
        events: list[SseEvent] = []
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > self.max_bytes:  # one endless line
                    self._buffer = b""
                    self._overflow()
                return events
            line = self._buffer[:end].rstrip(b"\r")
            self._buffer = self._buffer[end + 1:]
            event = self._line(line)
            if event is not None:
                events.append(event)

    def _overflow(self) -> None:
        if not self._discarding:
            self.oversized += 1
        self._discarding = True
        self._data, self._size, self._name = [], 0, ""

    def _line(self, line: bytes) -> SseEvent | None:
        if not line:
            if self._discarding:
                self._discarding = False
                return None
            event = SseEvent(self._name or "message", "\n".join(self._data)) \
                if self._data else None
            self._name, self._data, self._size = "", [], 0
            return event
        if self._discarding or line.startswith(b":"):
            return None
        self._size += len(line)
        if self._size > self.max_bytes:
            self._overflow()
            return None
        name, _, value = line.decode("utf-8", errors="replace").partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._name = value
        elif name == "data":
            self._data.append(value)
        return None


# --- Mapping Mastodon entities to events ---------------------------------------------------

@dataclass(slots=True)
class BrandAccount:
    """One brand's Mastodon account: who it is, its token, and where reading resumes."""

    brand: str
    handle: str  # user@domain, lower-cased, as in the brands file
    token: str
    token_variable: str
    account_id: str | None = None  # from verify_credentials
    notifications_cursor: str | None = None
    statuses_cursor: str | None = None

    @property
    def username(self) -> str:
        return self.handle.partition("@")[0]

    @property
    def local_domain(self) -> str:
        return self.handle.partition("@")[2]


def id_key(value: str) -> tuple[int, str]:
    """Order of Mastodon ids: numeric strings (snowflakes) compare by length, then text."""
    return (len(value), value)


def _newer(candidate: str, current: str | None) -> bool:
    return current is None or id_key(candidate) > id_key(current)


class Rejected(Exception):
    """An entity that cannot become an event; carries the counter reason."""

    def __init__(self, reason: Reject, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _str_id(value: Any, what: str) -> str:
    if type(value) is int:
        return str(value)
    if type(value) is not str or not value or len(value) > 64:
        raise Rejected(Reject.SCHEMA, f"{what} missing or not an id")
    return value


@dataclass(frozen=True, slots=True)
class StatusMapper:
    """Turns Status and Notification entities into events for one brand account."""

    brand: BrandAccount
    host: str  # instance host, the id prefix
    clock: Callable[[], float] = time.time

    def full_acct(self, account: Any) -> str:
        if type(account) is not dict:
            raise Rejected(Reject.SCHEMA, "status.account missing")
        acct = account.get("acct")
        if type(acct) is not str or not acct:
            raise Rejected(Reject.SCHEMA, "account.acct missing")
        return acct if "@" in acct else f"{acct}@{self.brand.local_domain}"

    def _created_at(self, status: dict[str, Any]) -> float:
        raw = status.get("created_at")
        if type(raw) is not str:
            raise Rejected(Reject.SCHEMA, "status.created_at missing")
        try:
            at = parse_rfc3339(raw)
        except ValueError as exc:
            raise Rejected(Reject.SCHEMA, str(exc)[:200]) from None
        if beyond_skew(at, self.clock()):
            raise Rejected(Reject.FUTURE_TIMESTAMP, f"status {status.get('id')} created_at "
                           f"{raw[:40]} is beyond the wall clock + {MAX_FUTURE_SKEW_SECONDS:g} s")
        return at

    def _text(self, status: dict[str, Any]) -> str:
        content = status.get("content", "")
        if type(content) is not str:
            raise Rejected(Reject.SCHEMA, "status.content is not a string")
        mentions = {}
        for mention in status.get("mentions") or ():
            if type(mention) is dict and type(mention.get("url")) is str:
                with contextlib.suppress(Rejected):
                    mentions[mention["url"]] = self.full_acct(mention)
        return html_to_text(content, mentions)[:MAX_TEXT_CHARS]

    def local_id(self, status_id: str) -> str:
        return f"{self.host}/{status_id}"

    def is_brand(self, status: dict[str, Any]) -> bool:
        account = status.get("account")
        return type(account) is dict and account.get("id") is not None \
            and str(account.get("id")) == self.brand.account_id

    def brand_post(self, status: Any) -> SocialEvent:
        """A status written by the brand account: broadcast, reply, or share (reblog)."""
        if type(status) is not dict:
            raise Rejected(Reject.SCHEMA, "status is not an object")
        status_id = _str_id(status.get("id"), "status.id")
        reblog = status.get("reblog")
        shared = type(reblog) is dict
        reply_to = status.get("in_reply_to_id")
        in_reply_to = None if shared or reply_to is None \
            else self.local_id(_str_id(reply_to, "status.in_reply_to_id"))
        account = status.get("account")
        return SocialEvent(
            side=Side.BRAND, id=self.local_id(status_id), brand=self.brand.brand,
            platform=PLATFORM, author=self.full_acct(account),
            text=self._text(reblog if type(reblog) is dict else status),
            created_at=self._created_at(status), in_reply_to=in_reply_to,
            lang=_lang(status), is_share=shared,
            automated=type(account) is dict and account.get("bot") is True)

    def audience_message(self, status: Any) -> SocialEvent:
        """The status of a `mention` notification: a mention, a reply or a direct message."""
        if type(status) is not dict:
            raise Rejected(Reject.SCHEMA, "notification.status is not an object")
        status_id = _str_id(status.get("id"), "status.id")
        reply_to = status.get("in_reply_to_id")
        in_reply_to = None if reply_to is None \
            else self.local_id(_str_id(reply_to, "status.in_reply_to_id"))
        if status.get("visibility") == "direct":
            kind = AudienceKind.DIRECT_MESSAGE
        else:
            kind = AudienceKind.MENTION if in_reply_to is None else AudienceKind.REPLY
        account = status.get("account")
        return SocialEvent(
            side=Side.AUDIENCE, id=self.local_id(status_id), brand=self.brand.brand,
            platform=PLATFORM, author=self.full_acct(account), text=self._text(status),
            created_at=self._created_at(status), in_reply_to=in_reply_to, kind=kind,
            lang=_lang(status),
            automated=type(account) is dict and account.get("bot") is True)


def _lang(status: dict[str, Any]) -> str | None:
    lang = status.get("language")
    return lang if type(lang) is str and 0 < len(lang) <= 16 else None


def _backoff() -> Backoff:
    return Backoff(initial=1, maximum=60, jitter=0.2)


# --- Configuration -------------------------------------------------------------------------

def token_variable(brand: str) -> str:
    """MASTODON_TOKEN_<BRAND NAME UPPERCASED, non-alphanumerics as _>."""
    return "MASTODON_TOKEN_" + re.sub(r"[^A-Z0-9]", "_", brand.upper())


def brand_accounts(brands: BrandsConfig, environ: Mapping[str, str]) -> list[BrandAccount]:
    """One account per brand with a mastodon handle; tokens from the environment."""
    selected = [b for b in brands if b.handles.get(PLATFORM)]
    if not selected:
        raise ConfigError("brands file: no brand has a mastodon handle. Fix: add "
                          'handles = { mastodon = ["acme@mastodon.social"] } to a brand')
    accounts = []
    for brand in selected:
        handles = sorted(brand.handles[PLATFORM])
        if len(handles) > 1:
            raise ConfigError(f"brand {brand.name}: handles.mastodon lists {len(handles)} "
                              "accounts. Fix: keep one account (one token) per brand")
        handle = handles[0]
        user, _, domain = handle.partition("@")
        if not user or not domain or "@" in domain:
            raise ConfigError(f"brand {brand.name}: handles.mastodon {handle!r} is not "
                              'user@domain. Fix: write mastodon = ["acme@mastodon.social"]')
        variable = token_variable(brand.name)
        token = environ.get(variable)
        if not token and len(selected) == 1:
            token, variable = environ.get("MASTODON_TOKEN"), "MASTODON_TOKEN"
        if not token:
            raise ConfigError(f"brand {brand.name}: no Mastodon token. Fix: set "
                              f"{token_variable(brand.name)}" + (" (or MASTODON_TOKEN)"
                                                                 if len(selected) == 1 else ""))
        accounts.append(BrandAccount(brand.name, handle, token, variable))
    return accounts


def instance_url(raw: str) -> str:
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"--instance {raw!r} is not an instance URL. Fix: write "
                          "https://mastodon.social")
    return f"{parts.scheme}://{parts.netloc.lower()}"


# --- The connector -------------------------------------------------------------------------

class _Restart(Exception):
    """The connection must be restarted (after a backoff); not fatal."""


def _reset_delay(value: str | None, now: float) -> float | None:
    """Seconds until X-RateLimit-Reset (an ISO 8601 time; epoch seconds accepted too)."""
    if not value:
        return None
    try:
        at = float(value)
    except ValueError:
        try:
            at = datetime.fromisoformat(value.strip()).timestamp()
        except ValueError:
            return None
    return max(0.0, at - now)


def _size(item: Any) -> int:
    """Bytes of one REST item as JSON (the record bound applies to it as to an SSE event)."""
    return len(orjson.dumps(item))


async def _bounded_json(response: aiohttp.ClientResponse, limit: int, url: str) -> Any:
    """The JSON body of a REST answer, read up to `limit` bytes (never more in memory)."""
    if response.content_length is not None and response.content_length > limit:
        raise _Restart(f"{url.split('?')[0]}: body of {response.content_length} bytes "
                       f"> {limit}")
    chunks, size = [], 0
    while chunk := await response.content.readany():
        size += len(chunk)
        if size > limit:
            raise _Restart(f"{url.split('?')[0]}: body over {limit} bytes")
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise _Restart(f"{url.split('?')[0]}: not JSON ({exc})") from None


@dataclass(slots=True)
class _Checkpoint:
    """Emitted positions and the last saved ones; saved only after a sink flush."""

    pending: dict[str, dict[str, str | None]] = field(default_factory=dict)
    saved: str | None = None
    last: float = 0.0


class MastodonConnector:
    """Reads every configured brand account (a `streams.sources.base.Connector`)."""

    source = SOURCE
    help = "the brands' Mastodon accounts (streaming API + REST)"
    metrics_port = 9102

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--instance", required=True, help="https://INSTANCE")
        add_cursor_argument(parser, SOURCE)

    @classmethod
    def from_args(cls, args: argparse.Namespace, brands: BrandsConfig) -> MastodonConnector:
        """args.instance, args.cursor_file (or None); the tokens from the environment."""
        instance = instance_url(args.instance or "")
        accounts = brand_accounts(brands, os.environ)
        return cls(instance, accounts, getattr(args, "cursor_file", None))

    def __init__(self, instance: str, accounts: list[BrandAccount],
                 cursor_path: str | os.PathLike[str] | None = None, *,
                 checkpoint_seconds: float = 5.0, deadlines: Deadlines | None = None,
                 request_timeout: float = 30.0, clock: Callable[[], float] = time.time,
                 backoff_factory: Callable[[], Any] = _backoff,
                 faults: RateLimitedLog | None = None) -> None:
        self.instance = instance
        self.host = urlsplit(instance).netloc
        self.accounts = accounts
        self.cursor_path = cursor_path
        self.cursor = None if cursor_path is None else CursorFile(cursor_path)
        self.checkpoint_seconds = checkpoint_seconds
        self.deadlines = deadlines or Deadlines()
        self.request_timeout = request_timeout  # a whole REST request, body included
        self.clock = clock
        self.backoff_factory = backoff_factory
        self.faults = faults or RateLimitedLog(log)
        self._checkpoint = _Checkpoint()
        self._streaming: set[str] = set()  # brands whose stream is open
        self._load_cursor()

    # -- cursor ------------------------------------------------------------------------------

    def _load_cursor(self) -> None:
        if self.cursor is None:
            return
        raw, path = self.cursor.load(), self.cursor_path
        if raw is None:
            return
        try:
            document = orjson.loads(raw)
            saved = document["brands"]
            assert type(saved) is dict
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            raise ConfigError(f"cursor file {path}: not a Mastodon cursor. Fix: "
                              "point --cursor-file elsewhere, or delete it to resume from "
                              "the newest page") from None
        for account in self.accounts:
            entry = saved.get(account.brand)
            if type(entry) is not dict or entry.get("handle") != account.handle:
                continue  # a new brand, or its account changed: start from the newest page
            for key in ("notifications", "statuses"):
                value = entry.get(key)
                if type(value) is str:
                    setattr(account, f"{key}_cursor", value)
        self._checkpoint.saved = raw

    def _remember(self, account: BrandAccount) -> None:
        self._checkpoint.pending[account.brand] = {
            "handle": account.handle, "notifications": account.notifications_cursor,
            "statuses": account.statuses_cursor}

    async def _save(self, sink: Any, force: bool = False) -> None:
        """Flush the sink, then persist the positions emitted before the flush."""
        state = self._checkpoint
        if not force and self.clock() - state.last < self.checkpoint_seconds:
            return
        snapshot = orjson.dumps({"brands": dict(sorted(
            (brand, dict(entry)) for brand, entry in state.pending.items()))}).decode()
        if not force and snapshot == state.saved:
            return  # nothing new since the last save
        state.last = self.clock()
        await sink.flush()
        if self.cursor is not None and snapshot != state.saved:
            self.cursor.save(snapshot)
        state.saved = snapshot

    # -- run ---------------------------------------------------------------------------------

    def _connected(self, sink: Any, brand: str, up: bool) -> None:
        """`connected` is 1 only while every brand's stream is open: one stuck or stopped
        brand sets it to 0 (the brand is named in the log)."""
        (self._streaming.add if up else self._streaming.discard)(brand)
        sink.connected(len(self._streaming) == len(self.accounts))

    async def run(self, sink: Any, stop: asyncio.Event) -> None:
        for account in self.accounts:
            self._remember(account)
        timeout = aiohttp.ClientTimeout(total=None, connect=self.deadlines.connect,
                                        sock_connect=self.deadlines.connect, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            tasks = {asyncio.create_task(self._follow(session, account, sink, stop),
                                         name=f"mastodon:{account.brand}"): account
                     for account in self.accounts}
            stopper = asyncio.create_task(stop.wait())
            refused: list[ConfigError] = []
            try:
                pending: set[asyncio.Task[Any]] = {stopper, *tasks}
                while stopper in pending:
                    done, pending = await asyncio.wait(pending,
                                                       return_when=asyncio.FIRST_COMPLETED)
                    for task in done - {stopper}:
                        error = task.exception()
                        if not isinstance(error, ConfigError):
                            if error is not None:
                                raise error
                            continue
                        refused.append(error)
                        if len(refused) == len(tasks):
                            raise refused[0]  # nothing left to read: stop the command
                        log.error("mastodon %s: stopped, the other brands go on: %s",
                                  tasks[task].brand, error)
            finally:
                for task in (stopper, *tasks):
                    task.cancel()
                await asyncio.gather(stopper, *tasks, return_exceptions=True)
                sink.connected(False)
        await self._save(sink, force=True)

    async def _follow(self, session: aiohttp.ClientSession, account: BrandAccount,
                      sink: Any, stop: asyncio.Event) -> None:
        """One account: connect, catch up, stream; reconnect with backoff until stopped."""
        backoff = self.backoff_factory()
        mapper = StatusMapper(account, self.host, self.clock)
        first = True
        while not stop.is_set():
            if not first:
                sink.reconnected()
            first = False
            try:
                await self._session(session, account, mapper, sink, backoff)
                reason = "stream ended"
            except (ConfigError, asyncio.CancelledError):
                raise
            except Exception as exc:  # network, HTTP, sink: all end in a reconnect
                reason = f"{type(exc).__name__}: {exc}"[:300]
            finally:
                self._connected(sink, account.brand, False)
            with contextlib.suppress(Exception):
                await self._save(sink, force=True)
            delay = backoff.next()
            self.faults.report(f"reconnect:{account.brand}",
                               "mastodon %s: %s; reconnecting in %.1f s", account.brand,
                               reason, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _session(self, session: aiohttp.ClientSession, account: BrandAccount,
                       mapper: StatusMapper, sink: Any, backoff: Any) -> None:
        headers = {"Authorization": f"Bearer {account.token}"}
        if account.account_id is None:
            await self._verify(session, account, headers)
        streaming = await self._streaming_base(session)
        # Subscribe first, then catch up: what happens during the catch-up waits in the
        # socket, so nothing falls between the REST pages and the stream.
        response = await wait_for_peer(
            session.get(f"{streaming}/api/v1/streaming/user", headers=headers),
            self.deadlines.connect + self.deadlines.answer, "streaming: status and headers")
        async with response:
            if response.status in (401, 403):
                raise ConfigError(f"brand {account.brand}: the streaming API refused "
                                  f"{account.token_variable} ({response.status}). Fix: give "
                                  "the token the read scope")
            if response.status != 200:
                raise _Restart(f"streaming answered HTTP {response.status}")
            self._connected(sink, account.brand, True)
            await self._catch_up(session, account, mapper, sink, headers)
            backoff.reset()
            await self._stream(response, account, mapper, sink)

    async def _verify(self, session: aiohttp.ClientSession, account: BrandAccount,
                      headers: dict[str, str]) -> None:
        me, _ = await self._get(session, f"{self.instance}/api/v1/accounts/verify_credentials",
                                headers, account)
        if type(me) is not dict or me.get("id") is None or type(me.get("username")) is not str:
            raise _Restart("verify_credentials returned no account")
        if me["username"].lower() != account.username:
            raise ConfigError(f"brand {account.brand}: {account.token_variable} belongs to "
                              f"@{me['username']}, not {account.handle}. Fix: set the token "
                              "of the brand's account")
        account.account_id = str(me["id"])

    async def _streaming_base(self, session: aiohttp.ClientSession) -> str:
        """The instance may serve streaming on another host (urls.streaming_api)."""
        try:
            async with session.get(f"{self.instance}/api/v1/instance",
                                   timeout=aiohttp.ClientTimeout(
                                       total=self.request_timeout)) as response:
                info = await response.json(content_type=None) if response.status == 200 else {}
            url = info.get("urls", {}).get("streaming_api") if type(info) is dict else None
        except (aiohttp.ClientError, ValueError, AttributeError, TimeoutError):
            url = None
        if type(url) is not str or not url.startswith(("wss://", "ws://", "https://", "http://")):
            return self.instance
        url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
        return url.rstrip("/")

    async def _get(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                   account: BrandAccount) -> tuple[Any, str | None]:
        """GET JSON honouring rate limits; returns (body, the rel="next" link or None)."""
        for _ in range(MAX_HTTP_RETRIES):
            async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(
                    total=self.request_timeout)) as response:
                remaining = response.headers.get("X-RateLimit-Remaining")
                wait = _reset_delay(response.headers.get("X-RateLimit-Reset"), self.clock())
                if response.status in (401, 403):
                    raise ConfigError(f"brand {account.brand}: the instance refused "
                                      f"{account.token_variable} ({response.status}). Fix: a "
                                      "token with read:statuses read:notifications (or read)")
                if response.status == 429:  # over the limit anyway: wait for the reset
                    retry = response.headers.get("Retry-After", "")
                    delay = float(retry) if retry.isdigit() else wait
                    delay = min(delay if delay is not None else 5.0, MAX_RATE_LIMIT_WAIT_SECONDS)
                    log.warning("mastodon %s: HTTP 429 on %s; retrying in %.0f s",
                                account.brand, url.split("?")[0], delay)
                    await asyncio.sleep(delay)
                    continue
                if response.status != 200:
                    raise _Restart(f"HTTP {response.status} on {url.split('?')[0]}")
                body = await _bounded_json(response, MAX_PAGE_BYTES, url)
                link = response.links.get("next")
                next_url = str(link["url"]) if link is not None else None
            if remaining is not None and remaining.strip().isdigit() and int(remaining) <= 0 \
                    and wait:
                log.warning("mastodon %s: rate limit exhausted; waiting %.0f s for the reset",
                            account.brand, wait)
                await asyncio.sleep(min(wait, MAX_RATE_LIMIT_WAIT_SECONDS))
            if next_url is not None and not next_url.startswith(self.instance + "/"):
                next_url = None  # never send the token to another origin
            return body, next_url
        raise _Restart(f"{url.split('?')[0]} kept failing")

    async def _pages(self, session: aiohttp.ClientSession, url: str, cursor: str | None,
                     headers: dict[str, str], account: BrandAccount) -> list[dict[str, Any]]:
        """Everything newer than `cursor`, oldest first.

        `since_id` returns the *newest* page above the cursor, so when more than a page
        arrived there is a gap between the cursor and that page; we walk rel="next"
        (older pages) until a page reaches the cursor. Without a cursor (first start) only
        the newest page is read.
        """
        items: list[dict[str, Any]] = []
        pages = 0
        next_url: str | None = url
        while next_url is not None and pages < MAX_CATCH_UP_PAGES:
            pages += 1
            body, next_url = await self._get(session, next_url, headers, account)
            if type(body) is not list:
                raise _Restart(f"{url.split('?')[0]} did not return a list")
            fresh = [item for item in body if type(item) is dict
                     and type(item.get("id")) in (str, int)
                     and _newer(str(item["id"]), cursor)]
            items.extend(fresh)
            if cursor is None or not body or len(fresh) < len(body):
                break
        else:
            if next_url is not None:
                log.warning("mastodon %s: catch-up stopped after %d pages; older items skipped",
                            account.brand, pages)
        items.sort(key=lambda item: id_key(str(item["id"])))
        return items

    async def _catch_up(self, session: aiohttp.ClientSession, account: BrandAccount,
                        mapper: StatusMapper, sink: Any, headers: dict[str, str]) -> None:
        since = f"&since_id={account.notifications_cursor}" \
            if account.notifications_cursor else ""
        notifications = await self._pages(
            session, f"{self.instance}/api/v1/notifications?types[]=mention"
                     f"&limit={PAGE_LIMIT}{since}",
            account.notifications_cursor, headers, account)
        for notification in notifications:
            await self._notification(notification, account, mapper, sink, _size(notification))
        since = f"&since_id={account.statuses_cursor}" if account.statuses_cursor else ""
        statuses = await self._pages(
            session, f"{self.instance}/api/v1/accounts/{account.account_id}/statuses"
                     f"?limit={PAGE_LIMIT}{since}",
            account.statuses_cursor, headers, account)
        for status in statuses:
            await self._status(status, account, mapper, sink, _size(status))
        await self._save(sink, force=True)

    async def _stream(self, response: aiohttp.ClientResponse, account: BrandAccount,
                      mapper: StatusMapper, sink: Any) -> None:
        parser = SseParser()
        while True:
            try:
                chunk = await asyncio.wait_for(response.content.readany(),
                                               self.deadlines.idle)
            except TimeoutError:
                raise _Restart(f"no data nor heartbeat for {self.deadlines.idle:g} s") from None
            if not chunk:
                return  # the server closed the stream
            before = parser.oversized
            for event in parser.feed(chunk):
                await self._dispatch(event, account, mapper, sink)
            for _ in range(parser.oversized - before):
                sink.rejected(Reject.OVERSIZED, f"SSE event over {parser.max_bytes} bytes")
            await self._save(sink)

    # -- events ------------------------------------------------------------------------------

    async def _dispatch(self, event: SseEvent, account: BrandAccount, mapper: StatusMapper,
                        sink: Any) -> None:
        if event.name == "delete":
            sink.skipped(Skip.DELETE)
            return
        if event.name == "status.update":
            sink.skipped(Skip.EDIT)
            return
        if event.name not in ("update", "notification"):
            sink.skipped(Skip.OTHER_EVENT)
            return
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            sink.rejected(Reject.MALFORMED_JSON, f"{event.name}: {exc}"[:200])
            return
        if event.name == "update":
            await self._status(payload, account, mapper, sink)
        else:
            await self._notification(payload, account, mapper, sink)

    async def _status(self, status: Any, account: BrandAccount, mapper: StatusMapper,
                      sink: Any, size: int = 0) -> None:
        """An own status (stream or REST; `size`: its bytes in a REST page)."""
        if type(status) is not dict:
            sink.rejected(Reject.SCHEMA, "update payload is not a Status object")
            return
        if not mapper.is_brand(status):
            sink.skipped(Skip.NOT_BRAND)
            return
        try:
            if size > MAX_RECORD_BYTES:
                raise Rejected(Reject.OVERSIZED, f"status {str(status.get('id'))[:64]} of "
                               f"{size} bytes > {MAX_RECORD_BYTES}: skipped")
            await sink.emit(mapper.brand_post(status))
        except Rejected as exc:
            sink.rejected(exc.reason, exc.detail)
        status_id = str(status.get("id", ""))
        if status_id and _newer(status_id, account.statuses_cursor):
            account.statuses_cursor = status_id
            self._remember(account)

    async def _notification(self, notification: Any, account: BrandAccount,
                            mapper: StatusMapper, sink: Any, size: int = 0) -> None:
        """A notification (stream or REST; `size`: its bytes in a REST page)."""
        if type(notification) is not dict:
            sink.rejected(Reject.SCHEMA, "notification payload is not an object")
            return
        if notification.get("type") != "mention":
            sink.skipped(Skip.NOTIFICATION_TYPE)
            return
        try:
            if size > MAX_RECORD_BYTES:
                raise Rejected(Reject.OVERSIZED, f"notification "
                               f"{str(notification.get('id'))[:64]} of {size} bytes > "
                               f"{MAX_RECORD_BYTES}: skipped")
            await sink.emit(mapper.audience_message(notification.get("status")))
        except Rejected as exc:
            sink.rejected(exc.reason, exc.detail)
        notification_id = notification.get("id")
        if type(notification_id) in (str, int) \
                and _newer(str(notification_id), account.notifications_cursor):
            account.notifications_cursor = str(notification_id)
            self._remember(account)
