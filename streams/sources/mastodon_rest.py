"""Mastodon's REST catch-up: what the stream missed, read in pages, every page size-bounded.

On start and after each reconnect the connector reads, per brand, the mention notifications
and the account's own statuses newer than its cursor (`RestReader.pages`). Each answer is
read up to `max_page_bytes`; an item over the record bound inside a readable page is
rejected by the connector one by one. A page too large to read at all cannot be parsed, so
its ids are unknown: retrying it would fail forever, and skipping it blind would lose up to
40 items. So the reader pages forward from the cursor (`min_id`) with a smaller `limit`
(20, 10, 5, 2, 1); a single item still too large is known by the page's `Link` header
(`max_id`/`min_id` of a one-item page are its id), returned as `Unreadable`, and the cursor
moves past it. Nothing can make the catch-up re-read the same page forever.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import orjson

from streams.config import ConfigError
from streams.plumbing.ratelog import RateLimitedLog
from streams.sources.base import MAX_RECORD_BYTES
from streams.sources.mastodon_wire import id_key, newer

if TYPE_CHECKING:
    from streams.sources.mastodon_wire import BrandAccount

log = logging.getLogger("streams.sources.mastodon")

PAGE_LIMIT = 40  # the largest page Mastodon serves for notifications and statuses
MAX_CATCH_UP_PAGES = 250  # 10 000 items per endpoint and reconnect, then we warn
#: One REST page: PAGE_LIMIT items each up to the record bound (items over it are rejected
#: one by one); a body over it is read again in smaller pages.
MAX_PAGE_BYTES = PAGE_LIMIT * MAX_RECORD_BYTES
MAX_RATE_LIMIT_WAIT_SECONDS = 900.0  # Mastodon windows are 5 minutes
MAX_HTTP_RETRIES = 5  # 429 answers per REST request before the connection is restarted
#: The first bytes of an unreadable body kept to find its one item's id without a Link.
_HEAD_BYTES = 4096
_FIRST_ID = re.compile(rb'^\s*\[\s*\{\s*"id"\s*:\s*"?([0-9A-Za-z_-]{1,64})')


class Restart(Exception):
    """The connection must be restarted (after a backoff); not fatal."""


class PageTooLarge(Restart):
    """A REST answer over the page bound: its Link ids and first bytes, to skip past it."""

    def __init__(self, detail: str, link_ids: tuple[str, ...], head: bytes) -> None:
        super().__init__(detail)
        self.link_ids = link_ids
        self.head = head

    def only_id(self) -> str | None:
        """The id of the one item of a one-item page: from its Link header (both links name
        it), else from the start of the body (Mastodon writes `id` first)."""
        if self.link_ids:
            return self.link_ids[0]
        found = _FIRST_ID.match(self.head)
        return found.group(1).decode() if found else None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A catch-up item too large to read even alone: only its id is known. The connector
    rejects it (`oversized`) and moves the cursor past it."""

    id: str
    detail: str


def with_query(url: str, **params: str | int | None) -> str:
    """`url` with `params` appended (None values left out)."""
    extra = "&".join(f"{key}={value}" for key, value in params.items() if value is not None)
    if not extra:
        return url
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def reset_delay(value: str | None, now: float) -> float | None:
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


def item_size(item: Any) -> int:
    """Bytes of one REST item as JSON (the record bound applies to it as to an SSE event)."""
    return len(orjson.dumps(item))


def _link_ids(response: aiohttp.ClientResponse) -> tuple[str, ...]:
    """The ids the Link header pages by: next's `max_id`, prev's `min_id` (or `since_id`)."""
    ids = []
    for rel, key in (("next", "max_id"), ("prev", "min_id"), ("prev", "since_id")):
        link = response.links.get(rel)
        if link is None:
            continue
        values = parse_qs(urlsplit(str(link.get("url", ""))).query).get(key)
        if values and 0 < len(values[0]) <= 64:
            ids.append(values[0])
    return tuple(ids)


async def bounded_json(response: aiohttp.ClientResponse, limit: int, url: str) -> Any:
    """The JSON body of a REST answer, read up to `limit` bytes (never more in memory)."""
    where = url.split("?")[0]
    if response.content_length is not None and response.content_length > limit:
        head = await response.content.read(_HEAD_BYTES)
        raise PageTooLarge(f"{where}: body of {response.content_length} bytes > {limit}",
                           _link_ids(response), head)
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.readany():
        size += len(chunk)
        if size > limit:
            head = (b"".join(chunks[:2]) + chunk)[:_HEAD_BYTES]
            raise PageTooLarge(f"{where}: body over {limit} bytes", _link_ids(response), head)
        chunks.append(chunk)
    try:
        return orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError as exc:
        raise Restart(f"{where}: not JSON ({exc})") from None


def _fresh(body: Any, cursor: str | None, where: str) -> list[dict[str, Any]]:
    """The items of a page newer than `cursor` (ill-formed ones left out)."""
    if type(body) is not list:
        raise Restart(f"{where} did not return a list")
    return [item for item in body if type(item) is dict
            and type(item.get("id")) in (str, int) and newer(str(item["id"]), cursor)]


class RestReader:
    """GETs against one instance: rate limits honoured, bodies bounded, pages walked."""

    def __init__(self, instance: str, clock: Callable[[], float], request_timeout: float,
                 faults: RateLimitedLog, max_page_bytes: int = MAX_PAGE_BYTES,
                 connect_timeout: float | None = None) -> None:
        self.instance = instance
        self.clock = clock
        # A whole request, body included; and, within it, the TCP connect (a per-request
        # timeout replaces the session's, so the connect deadline is repeated here).
        self.timeout = aiohttp.ClientTimeout(total=request_timeout, connect=connect_timeout,
                                             sock_connect=connect_timeout)
        self.faults = faults
        self.max_page_bytes = max_page_bytes

    async def get(self, session: aiohttp.ClientSession, url: str, headers: dict[str, str],
                  account: BrandAccount) -> tuple[Any, str | None]:
        """GET JSON honouring rate limits; returns (body, the rel="next" link or None)."""
        for _ in range(MAX_HTTP_RETRIES):
            async with session.get(url, headers=headers, timeout=self.timeout) as response:
                remaining = response.headers.get("X-RateLimit-Remaining")
                wait = reset_delay(response.headers.get("X-RateLimit-Reset"), self.clock())
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
                    raise Restart(f"HTTP {response.status} on {url.split('?')[0]}")
                body = await bounded_json(response, self.max_page_bytes, url)
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
        raise Restart(f"{url.split('?')[0]} kept failing")

    async def pages(self, session: aiohttp.ClientSession, url: str, cursor: str | None,
                    headers: dict[str, str], account: BrandAccount,
                    ) -> list[dict[str, Any] | Unreadable]:
        """Everything newer than `cursor` at `url` (an endpoint without paging parameters),
        oldest first; an item too large to read is an `Unreadable` in its place."""
        try:
            return list(await self._newest_first(session, url, cursor, headers, account))
        except PageTooLarge as exc:
            self.faults.report(f"narrow:{account.brand}", "mastodon %s: %s; reading it again "
                               "in smaller pages", account.brand, exc)
        return await self._forward(session, url, cursor, headers, account)

    async def _newest_first(self, session: aiohttp.ClientSession, url: str,
                            cursor: str | None, headers: dict[str, str],
                            account: BrandAccount) -> list[dict[str, Any]]:
        """Full pages from the newest down to the cursor.

        `since_id` returns the *newest* page above the cursor, so when more than a page
        arrived there is a gap between the cursor and that page; we walk rel="next"
        (older pages) until a page reaches the cursor. Without a cursor (first start) only
        the newest page is read.
        """
        items: list[dict[str, Any]] = []
        pages = 0
        next_url: str | None = with_query(url, limit=PAGE_LIMIT, since_id=cursor)
        while next_url is not None and pages < MAX_CATCH_UP_PAGES:
            pages += 1
            body, next_url = await self.get(session, next_url, headers, account)
            fresh = _fresh(body, cursor, url.split("?")[0])
            items.extend(fresh)
            if cursor is None or not body or len(fresh) < len(body):
                break
        else:
            if next_url is not None:
                log.warning("mastodon %s: catch-up stopped after %d pages; older items skipped",
                            account.brand, pages)
        items.sort(key=lambda item: id_key(str(item["id"])))
        return items

    async def _forward(self, session: aiohttp.ClientSession, url: str, cursor: str | None,
                       headers: dict[str, str], account: BrandAccount,
                       ) -> list[dict[str, Any] | Unreadable]:
        """Pages from the cursor forward (`min_id`), halving `limit` while a page is too
        large; a one-item page still too large is skipped by its id. Without a cursor, the
        newest readable page only (as on a first start)."""
        items: list[dict[str, Any] | Unreadable] = []
        position, limit = cursor, PAGE_LIMIT // 2
        for _ in range(MAX_CATCH_UP_PAGES * 3):  # each item costs at most 5 narrowing steps
            try:
                body, _ = await self.get(session, with_query(url, limit=limit,
                                                             min_id=position),
                                         headers, account)
            except PageTooLarge as exc:
                if limit > 1:
                    limit //= 2  # 20, 10, 5, 2, 1
                    continue
                skipped = exc.only_id()
                if skipped is None or not newer(skipped, position):
                    raise Restart(f"{exc}; its item's id is unknown") from None
                items.append(Unreadable(skipped, f"{url.split('?')[0]}: item {skipped}: "
                                        f"{exc} even alone: skipped"))
                position = skipped
            else:
                fresh = _fresh(body, position, url.split("?")[0])
                if not fresh:
                    break
                items.extend(fresh)
                position = max((str(item["id"]) for item in fresh), key=id_key)
                limit = min(PAGE_LIMIT, limit * 2)
            if cursor is None:
                break
        else:
            log.warning("mastodon %s: catch-up stopped after %d small pages; newer items "
                        "skipped", account.brand, MAX_CATCH_UP_PAGES * 3)
        items.sort(key=lambda item: id_key(item.id if isinstance(item, Unreadable)
                                           else str(item["id"])))
        return items
