"""Meta's webhook payloads (Facebook Page `feed`, Instagram `comments`/`mentions`) → events.

Pure: no server, no clock read, no I/O, so every mapping rule is tested on payloads alone;
`streams.sources.webhook` serves the routes and calls `parse_meta_payload`. The reason
labels (`Reject`, `Skip`) are the webhook source's bounded metric labels, shared with the
server's own (signature, size, slow clients, duplicates).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streams.config import BrandsConfig, ConfigError
from streams.events import (
    MAX_FUTURE_SKEW_SECONDS,
    AudienceKind,
    Rejection,
    RejectReason,
    Side,
    SocialEvent,
    beyond_skew,
)

MAX_ID_CHARS = 256


class Reject:
    """Bounded `reason` labels of brandpulse_source_rejected_total{source="webhook"}.

    /events lines also use the reasons of `streams.events.RejectReason` (schema,
    malformed_json, oversized, unknown_brand, unknown_platform), equally bounded.
    """

    BAD_SIGNATURE = "bad_signature"
    BAD_VERIFY_TOKEN = "bad_verify_token"
    OVERSIZED = "oversized"
    MALFORMED_JSON = "malformed_json"
    SCHEMA = "schema"
    UNKNOWN_ACCOUNT = "unknown_account"
    FUTURE_TIMESTAMP = "future_timestamp"
    SLOW_BODY = "slow_body"  # the body did not arrive within BODY_TIMEOUT_SECONDS
    INCOMPLETE_BODY = "incomplete_body"  # the client disconnected mid-body
    TOO_MANY_CONNECTIONS = "too_many_connections"


class Skip:
    """Bounded `reason` labels of brandpulse_source_skipped_total{source="webhook"}."""

    EDIT = "edit"  # verb edited/edit: the first version was already counted
    REMOVAL = "removal"  # remove/delete/hide/unhide: moderation, not a message
    OTHER_VERB = "other_verb"
    OTHER_ITEM = "other_item"  # reactions, likes, shares, albums...
    OTHER_FIELD = "other_field"  # fields we do not read (messages, story_insights...)
    OTHER_OBJECT = "other_object"  # object other than page/instagram
    UNPUBLISHED = "unpublished"  # a scheduled or unpublished Page post
    DUPLICATE = "duplicate"  # an id flushed moments ago (Meta retry)


_EDIT_VERBS = frozenset({"edited", "edit", "update"})
_REMOVAL_VERBS = frozenset({"remove", "delete", "hide", "unhide"})
_POST_ITEMS = frozenset({"post", "status", "photo", "video"})


# --- Meta payload → events (pure) -------------------------------------------------------

@dataclass(slots=True)
class Outcome:
    """What one payload gave: events to emit, and what was skipped or rejected (and why)."""

    events: list[SocialEvent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MetaAccounts:
    """Page id / Instagram account id → brand, from the brands file handles."""

    pages: Mapping[str, str]  # facebook page id -> brand name
    instagram: Mapping[str, str]  # instagram account id -> brand name
    brands: BrandsConfig

    @classmethod
    def from_brands(cls, brands: BrandsConfig) -> MetaAccounts:
        maps: dict[str, dict[str, str]] = {"facebook": {}, "instagram": {}}
        for brand in brands:
            for platform, owners in maps.items():
                for handle in brand.handles.get(platform, frozenset()):
                    other = owners.setdefault(handle, brand.name)
                    if other != brand.name:
                        raise ConfigError(
                            f"brands file: {platform} handle {handle!r} belongs to both "
                            f"{other!r} and {brand.name!r}. Fix: give each page/account to "
                            "one brand")
        return cls(maps["facebook"], maps["instagram"], brands)

    def is_own(self, brand: str, platform: str, *ids: Any) -> bool:
        config = self.brands.get(brand)
        handles = config.handles.get(platform, frozenset()) if config else frozenset()
        return any(isinstance(i, str | int) and str(i).lower() in handles for i in ids)


def _ident(value: Any) -> str | None:
    """Meta ids come as numeric strings (sometimes ints); anything else is a schema error."""
    if type(value) is int:
        return str(value)
    if type(value) is str and value.strip() and len(value) <= MAX_ID_CHARS:
        return value.strip()
    return None


def _event_time(value: Any, fallback: Any) -> float | None:
    """Unix seconds of `created_time`, else of the entry `time`; milliseconds tolerated."""
    for raw in (value, fallback):
        number = float(raw) if type(raw) is str and raw.isdigit() else raw
        if type(number) in (int, float) and math.isfinite(number) and number > 0:
            return number / 1000.0 if number > 1e11 else float(number)
    return None


def parse_meta_payload(payload: Any, accounts: MetaAccounts, now: float) -> Outcome | Rejection:
    """A Meta notification to events; `Rejection` when the envelope itself is not Meta's.

    Never raises. Per change: Page `feed` comments and posts (verb add), Instagram
    `comments` and `mentions`; everything else is skipped with a reason, and a change that
    is wrong (missing ids, unknown account, future time) is rejected with a reason.
    """
    if type(payload) is not dict:
        return Rejection(RejectReason.SCHEMA, "payload is not a JSON object")
    entries = payload.get("entry")
    if type(entries) is not list:
        return Rejection(RejectReason.SCHEMA, "field 'entry' is not a list")
    out = Outcome()
    obj = payload.get("object")
    if obj not in ("page", "instagram"):
        out.skipped.extend(Skip.OTHER_OBJECT for _ in entries or [None])
        return out
    for entry in entries:
        if type(entry) is not dict:
            out.rejected.append((Reject.SCHEMA, "entry is not an object"))
            continue
        if type(entry.get("messaging")) is list:  # Messenger / Instagram DMs: not subscribed
            out.skipped.extend(Skip.OTHER_FIELD for _ in entry["messaging"])
        changes = entry.get("changes", [])
        if type(changes) is not list:
            out.rejected.append((Reject.SCHEMA, "field 'changes' is not a list"))
            continue
        for change in changes:
            if obj == "page":
                _page_change(entry, change, accounts, now, out)
            else:
                _instagram_change(entry, change, accounts, now, out)
    return out


def _account(entry: dict[str, Any], platform: str, accounts: MetaAccounts,
             out: Outcome) -> tuple[str, str] | None:
    account = _ident(entry.get("id"))
    if account is None:
        out.rejected.append((Reject.SCHEMA, "entry without an 'id'"))
        return None
    owners = accounts.pages if platform == "facebook" else accounts.instagram
    brand = owners.get(account.lower())
    if brand is None:
        kind = "page" if platform == "facebook" else "instagram account"
        out.rejected.append((Reject.UNKNOWN_ACCOUNT, f"{kind} {account[:40]} is in no "
                             f"brand's {platform} handles"))
        return None
    return account, brand


def _bounded_time(value: Any, entry: dict[str, Any], now: float, out: Outcome) -> float | None:
    created = _event_time(value, entry.get("time"))
    if created is None:
        out.rejected.append((Reject.SCHEMA, "no usable created_time/time"))
    elif beyond_skew(created, now):
        out.rejected.append((Reject.FUTURE_TIMESTAMP, f"created_time {created:.0f} is beyond "
                             f"the wall clock {now:.0f} + {MAX_FUTURE_SKEW_SECONDS:.0f} s"))
        return None
    return created


def _page_change(entry: dict[str, Any], change: Any, accounts: MetaAccounts, now: float,
                 out: Outcome) -> None:
    if type(change) is not dict or type(change.get("value")) is not dict:
        out.rejected.append((Reject.SCHEMA, "change without an object 'value'"))
        return
    if change.get("field") != "feed":
        out.skipped.append(Skip.OTHER_FIELD)
        return
    value = change["value"]
    item, verb = value.get("item"), value.get("verb")
    if item != "comment" and item not in _POST_ITEMS:
        out.skipped.append(Skip.OTHER_ITEM)
        return
    if verb != "add":
        out.skipped.append(Skip.EDIT if verb in _EDIT_VERBS
                           else Skip.REMOVAL if verb in _REMOVAL_VERBS else Skip.OTHER_VERB)
        return
    if value.get("published") in (0, False):
        out.skipped.append(Skip.UNPUBLISHED)
        return
    found = _account(entry, "facebook", accounts, out)
    if found is None:
        return
    page_id, brand = found
    sender = value.get("from")
    author = _ident(sender.get("id")) if type(sender) is dict else None
    if author is None:
        out.rejected.append((Reject.SCHEMA, "feed change without 'from.id' (grant the app "
                             "pages_read_user_content)"))
        return
    post_id = _ident(value.get("post_id"))
    if item == "comment":
        event_id = _ident(value.get("comment_id"))
        parent = _ident(value.get("parent_id")) or post_id
        if event_id is None or parent is None:
            out.rejected.append((Reject.SCHEMA, "comment without comment_id or parent_id/"
                                 "post_id"))
            return
    else:
        event_id, parent = post_id, None
        if event_id is None:
            out.rejected.append((Reject.SCHEMA, f"{item} without post_id"))
            return
    created = _bounded_time(value.get("created_time"), entry, now, out)
    if created is None:
        return
    text = value.get("message")
    text = text if type(text) is str else ""
    if author == page_id or accounts.is_own(brand, "facebook", author):
        out.events.append(SocialEvent(Side.BRAND, event_id, brand, "facebook", author, text,
                                      created, parent))
        return
    # A comment on a post is a comment; one on a comment is a reply; a visitor post on the
    # Page is addressed to the brand like a comment (the Page answers it with a comment).
    kind = (AudienceKind.REPLY if parent is not None and parent != post_id
            else AudienceKind.COMMENT)
    out.events.append(SocialEvent(Side.AUDIENCE, event_id, brand, "facebook", author, text,
                                  created, parent, kind))


def _instagram_change(entry: dict[str, Any], change: Any, accounts: MetaAccounts, now: float,
                      out: Outcome) -> None:
    if type(change) is not dict or type(change.get("value")) is not dict:
        out.rejected.append((Reject.SCHEMA, "change without an object 'value'"))
        return
    field_name = change.get("field")
    if field_name not in ("comments", "live_comments", "mentions"):
        out.skipped.append(Skip.OTHER_FIELD)
        return
    value = change["value"]
    found = _account(entry, "instagram", accounts, out)
    if found is None:
        return
    account_id, brand = found
    created = _bounded_time(value.get("created_time"), entry, now, out)
    if created is None:
        return
    if field_name == "mentions":
        # Only ids are sent; the text needs a Graph API call (mentioned_comment). The entry
        # id says which brand account was mentioned, so the SLA times a reply without text.
        media_id = _ident(value.get("media_id"))
        event_id = _ident(value.get("comment_id")) or media_id
        if event_id is None:
            out.rejected.append((Reject.SCHEMA, "mention without comment_id or media_id"))
            return
        out.events.append(SocialEvent(Side.AUDIENCE, event_id, brand, "instagram", "unknown",
                                      "", created, None, AudienceKind.MENTION))
        return
    event_id = _ident(value.get("id"))
    sender = value.get("from")
    sender = sender if type(sender) is dict else {}
    author = _ident(sender.get("id")) or _ident(sender.get("username"))
    media = value.get("media")
    media_id = _ident(media.get("id")) if type(media) is dict else None
    parent = _ident(value.get("parent_id")) or media_id
    if event_id is None or author is None or parent is None:
        out.rejected.append((Reject.SCHEMA, "comment without id, from.id or media.id"))
        return
    text = value.get("text")
    text = text if type(text) is str else ""
    own = accounts.is_own(brand, "instagram", sender.get("id"), sender.get("username"),
                          sender.get("self_ig_scoped_id"))
    if own or author == account_id:
        out.events.append(SocialEvent(Side.BRAND, event_id, brand, "instagram", account_id,
                                      text, created, parent))
        return
    kind = AudienceKind.REPLY if _ident(value.get("parent_id")) else AudienceKind.COMMENT
    out.events.append(SocialEvent(Side.AUDIENCE, event_id, brand, "instagram", author, text,
                                  created, parent, kind))

