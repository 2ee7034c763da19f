"""Mastodon connector: a brand's own account, read live through the streaming API.

Each brand with a `mastodon` handle (`acme@mastodon.social`) is one account on the
instance given by `--instance`, read with that account's token. The user stream
(`/api/v1/streaming/user`, server-sent events) gives the account's own statuses (`update`)
and its notifications; on start and after every reconnect the REST API fills what the
stream missed (mentions through `/api/v1/notifications?types[]=mention`, own statuses
through `/api/v1/accounts/:id/statuses`). The entities' mapping lives in `mastodon_wire`,
the paged REST reads in `mastodon_rest`; this module runs the connection of each brand.

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
record bound, or a REST item too large to read at all (`mastodon_rest`), is rejected and
passed (its id still moves the cursor), and a token the
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
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from streams.config import BrandsConfig, ConfigError
from streams.plumbing.ratelog import RateLimitedLog
from streams.sources.base import (
    MAX_RECORD_BYTES,
    Backoff,
    CursorFile,
    Deadlines,
    add_cursor_argument,
    cursor_path,
    wait_for_peer,
)
from streams.sources.mastodon_rest import (
    MAX_PAGE_BYTES,
    Restart,
    RestReader,
    Unreadable,
    item_size,
)
from streams.sources.mastodon_wire import (
    PLATFORM,
    BrandAccount,
    Reject,
    Rejected,
    Skip,
    SseEvent,
    SseParser,
    StatusMapper,
    newer,
)

log = logging.getLogger(__name__)

SOURCE = "mastodon"


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
        """args.instance, args.cursor_file (else the state directory's); the tokens from
        the environment."""
        instance = instance_url(args.instance or "")
        accounts = brand_accounts(brands, os.environ)
        return cls(instance, accounts, cursor_path(getattr(args, "cursor_file", None), SOURCE))

    def __init__(self, instance: str, accounts: list[BrandAccount],
                 cursor_path: str | os.PathLike[str] | None = None, *,
                 checkpoint_seconds: float = 5.0, deadlines: Deadlines | None = None,
                 request_timeout: float = 30.0, clock: Callable[[], float] = time.time,
                 backoff_factory: Callable[[], Any] = _backoff,
                 faults: RateLimitedLog | None = None,
                 max_page_bytes: int = MAX_PAGE_BYTES) -> None:
        self.instance = instance
        self.host = urlsplit(instance).netloc
        self.accounts = accounts
        self.cursor_path = cursor_path
        self.cursor = None if cursor_path is None else CursorFile(cursor_path)
        self.checkpoint_seconds = checkpoint_seconds
        self.deadlines = deadlines or Deadlines()
        self.clock = clock
        self.backoff_factory = backoff_factory
        self.faults = faults or RateLimitedLog(log)
        self.rest = RestReader(instance, clock, request_timeout, self.faults, max_page_bytes,
                               connect_timeout=self.deadlines.connect)
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
                raise Restart(f"streaming answered HTTP {response.status}")
            self._connected(sink, account.brand, True)
            await self._catch_up(session, account, mapper, sink, headers)
            backoff.reset()
            await self._stream(response, account, mapper, sink)

    async def _verify(self, session: aiohttp.ClientSession, account: BrandAccount,
                      headers: dict[str, str]) -> None:
        me, _ = await self.rest.get(session, f"{self.instance}/api/v1/accounts/verify_credentials",
                                headers, account)
        if type(me) is not dict or me.get("id") is None or type(me.get("username")) is not str:
            raise Restart("verify_credentials returned no account")
        if me["username"].lower() != account.username:
            raise ConfigError(f"brand {account.brand}: {account.token_variable} belongs to "
                              f"@{me['username']}, not {account.handle}. Fix: set the token "
                              "of the brand's account")
        account.account_id = str(me["id"])

    async def _streaming_base(self, session: aiohttp.ClientSession) -> str:
        """The instance may serve streaming on another host (urls.streaming_api)."""
        try:
            async with session.get(f"{self.instance}/api/v1/instance",
                                   timeout=self.rest.timeout) as response:
                info = await response.json(content_type=None) if response.status == 200 else {}
            url = info.get("urls", {}).get("streaming_api") if type(info) is dict else None
        except (aiohttp.ClientError, ValueError, AttributeError, TimeoutError):
            url = None
        if type(url) is not str or not url.startswith(("wss://", "ws://", "https://", "http://")):
            return self.instance
        url = url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
        return url.rstrip("/")

    async def _catch_up(self, session: aiohttp.ClientSession, account: BrandAccount,
                        mapper: StatusMapper, sink: Any, headers: dict[str, str]) -> None:
        """What the stream missed: mentions, then own statuses, oldest first; an item too
        large to read is rejected and the cursor moves past it (`mastodon_rest`)."""
        notifications = await self.rest.pages(
            session, f"{self.instance}/api/v1/notifications?types[]=mention",
            account.notifications_cursor, headers, account)
        for notification in notifications:
            if isinstance(notification, Unreadable):
                sink.rejected(Reject.OVERSIZED, notification.detail)
                self._passed(account, "notifications", notification.id)
            else:
                await self._notification(notification, account, mapper, sink,
                                         item_size(notification))
        statuses = await self.rest.pages(
            session, f"{self.instance}/api/v1/accounts/{account.account_id}/statuses",
            account.statuses_cursor, headers, account)
        for status in statuses:
            if isinstance(status, Unreadable):
                sink.rejected(Reject.OVERSIZED, status.detail)
                self._passed(account, "statuses", status.id)
            else:
                await self._status(status, account, mapper, sink, item_size(status))
        await self._save(sink, force=True)

    def _passed(self, account: BrandAccount, kind: str, item_id: str) -> None:
        """Move `kind`'s cursor (notifications or statuses) to `item_id` if it is newer."""
        if newer(item_id, getattr(account, f"{kind}_cursor")):
            setattr(account, f"{kind}_cursor", item_id)
            self._remember(account)

    async def _stream(self, response: aiohttp.ClientResponse, account: BrandAccount,
                      mapper: StatusMapper, sink: Any) -> None:
        parser = SseParser()
        while True:
            try:
                chunk = await asyncio.wait_for(response.content.readany(),
                                               self.deadlines.idle)
            except TimeoutError:
                raise Restart(f"no data nor heartbeat for {self.deadlines.idle:g} s") from None
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
        if status_id:
            self._passed(account, "statuses", status_id)

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
        if type(notification_id) in (str, int):
            self._passed(account, "notifications", str(notification_id))
