"""Mastodon's wire: HTML content, server-sent events, and Status/Notification → events.

Pure (no network): `streams.sources.mastodon` runs the connection and `mastodon_rest` the
catch-up; both hand the entities they read to `StatusMapper`. Ids are the instance-local
status ids prefixed by the instance host (see `streams.sources.mastodon`).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from html.parser import HTMLParser
from typing import Any

from streams.events import MAX_FUTURE_SKEW_SECONDS, AudienceKind, Side, SocialEvent, beyond_skew
from streams.sources.base import MAX_RECORD_BYTES, MAX_TEXT_CHARS
from streams.wire import parse_rfc3339

PLATFORM = "mastodon"


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


def newer(candidate: str, current: str | None) -> bool:
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

