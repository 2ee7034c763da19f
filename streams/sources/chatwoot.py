"""`brandpulse ingest chatwoot`: a Chatwoot account's webhooks as events and conversations.

Chatwoot (chatwoot/chatwoot) posts one JSON object per event to the URL of an account
webhook, signed since v4.11.2 (PR #13573; API inboxes and agent bots since v4.13.0, #13892)
as `lib/webhooks/trigger.rb` builds it:

* ``X-Chatwoot-Timestamp: <unix seconds>`` when the request was sent;
* ``X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>``
  with the webhook's own secret (Settings > Integrations > Webhooks);
* ``X-Chatwoot-Delivery: <uuid>`` per delivery (not used: events carry their own ids).

What the connector reads (payloads of `Message#webhook_data` and
`Conversations::EventDataPresenter`, fixtures in tests/unit/data/chatwoot/):

* ``message_created``: `incoming` from a contact → audience direct message; `outgoing` by a
  human agent (sender type `user`) → brand reply; both carry the conversation as their
  `in_reply_to`, a thread, so the brand's next reply answers every customer message of the
  conversation before it (streams/core/sla.py, THREADED_PLATFORMS). Private notes, agent
  bots, automation rules, campaigns and templates (greetings, out-of-office, CSAT) are not
  answers: skipped and counted, as Chatwoot's own `Message#valid_first_reply?` leaves them out.
* ``conversation_status_changed``: to `resolved` → a `resolved` record (the conversation's
  resolution time); from `resolved` to anything else → a `reopened` record.
* ``conversation_created``: acknowledged and counted as skipped: its messages come as
  ``message_created``, and a resolution carries the creation time itself.

The server, its bounds, timeouts, connection cap, the acknowledgement after `flush()` and the
deduplication of ids are the webhook source's (streams/sources/webhook.py): this class only
adds its route, its signature check and the mapping (`parse_chatwoot_payload`, pure).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from aiohttp import web

from streams.config import BrandsConfig, ConfigError
from streams.events import (
    MAX_FUTURE_SKEW_SECONDS,
    AudienceKind,
    ConversationStatus,
    RecordedEvent,
    Rejection,
    RejectReason,
    Side,
    SocialEvent,
    beyond_skew,
)
from streams.sources.base import MAX_TEXT_CHARS
from streams.sources.webhook import (
    BODY_TIMEOUT_SECONDS,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_RECENT_IDS,
    HEAD_TIMEOUT_SECONDS,
    Reject,
    WebhookConnector,
    _json,
    parse_listen,
)

SOURCE = "chatwoot"
PLATFORM = "chatwoot"
ENV_SECRET = "CHATWOOT_WEBHOOK_SECRET"
TIMESTAMP_HEADER = "X-Chatwoot-Timestamp"
SIGNATURE_HEADER = "X-Chatwoot-Signature"
#: A signed request older (or newer) than this by its X-Chatwoot-Timestamp is refused: a
#: captured request cannot be replayed later (Chatwoot signs each attempt afresh).
SIGNATURE_TOLERANCE_SECONDS = 300.0
ROUTE = "/chatwoot"
MAX_ID_CHARS = 100


class Skip:
    """Bounded `reason` labels of brandpulse_source_skipped_total{source="chatwoot"}."""

    PRIVATE_NOTE = "private_note"  # `private: true`: agents talking among themselves
    AUTOMATED = "automated"  # agent bot, automation rule, campaign, template, no sender
    ACTIVITY = "activity"  # "Conversation was resolved by ...": not a message
    CONVERSATION_CREATED = "conversation_created"  # its messages come as message_created
    OTHER_STATUS = "other_status"  # open <-> pending / snoozed: neither resolved nor reopened
    OTHER_EVENT = "other_event"  # message_updated, contact_*, webwidget_triggered...
    DUPLICATE = "duplicate"  # an id flushed moments ago (a repeated delivery)


STALE_SIGNATURE = "stale_signature"  # X-Chatwoot-Timestamp outside the tolerance


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Chatwoot-Signature value Chatwoot sends (used by tests and to document it)."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                      hashlib.sha256).hexdigest()
    return "sha256=" + digest


def signature_ok(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """Constant-time check of `sha256=<hex>` over "<timestamp>.<raw body>"."""
    try:
        given = header.strip().lower().encode("ascii")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode("ascii"), given)


# --- Payload → events (pure) ------------------------------------------------------------

@dataclass(slots=True)
class Outcome:
    """What one payload gave: records to emit, and what was skipped or rejected (and why)."""

    events: list[RecordedEvent] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Inboxes:
    """Chatwoot inbox id → brand, from the brands file (`chatwoot = ["<inbox id>"]`)."""

    brands: Mapping[str, str]

    @classmethod
    def from_brands(cls, brands: BrandsConfig) -> Inboxes:
        owners: dict[str, str] = {}
        for brand in brands:
            for inbox in brand.handles.get(PLATFORM, frozenset()):
                other = owners.setdefault(inbox, brand.name)
                if other != brand.name:
                    raise ConfigError(f"brands file: chatwoot inbox {inbox!r} belongs to both "
                                      f"{other!r} and {brand.name!r}. Fix: give each inbox to "
                                      "one brand")
        return cls(owners)


def _ident(value: Any) -> str | None:
    """Chatwoot ids are integers (a string of digits tolerated)."""
    if type(value) is int and value >= 0:
        return str(value)
    if type(value) is str and value.strip().isdigit() and len(value) <= MAX_ID_CHARS:
        return value.strip()
    return None


def _time(value: Any) -> float | None:
    """Unix seconds from Chatwoot's times: an ISO 8601 string (a message's `created_at`,
    Rails' JSON) or a number (the conversation's `created_at`, `updated_at`, `timestamp`)."""
    if type(value) in (int, float) and math.isfinite(value) and value > 0:
        return float(value)
    if type(value) is str and 0 < len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
        except ValueError:
            return None
        if parsed.tzinfo is not None:
            return parsed.timestamp()
    return None


def thread_of(inbox: str, conversation: str) -> str:
    """The thread id of a conversation: its display id is per account, the inbox is in one."""
    return f"{inbox}/{conversation}"


def _conversation(payload: dict[str, Any], nested: bool) -> tuple[dict[str, Any], str | None]:
    """The conversation object and its display id (`display_id` where Chatwoot sends both
    it and the database id, else `id`, which is the display id in push_data)."""
    conversation = payload.get("conversation") if nested else payload
    if type(conversation) is not dict:
        return {}, None
    return conversation, (_ident(conversation.get("display_id"))
                          or _ident(conversation.get("id")))


def _brand(inbox: str | None, inboxes: Inboxes, out: Outcome) -> str | None:
    if inbox is None:
        out.rejected.append((Reject.SCHEMA, "no inbox id"))
        return None
    brand = inboxes.brands.get(inbox)
    if brand is None:
        out.rejected.append((Reject.UNKNOWN_ACCOUNT, f"inbox {inbox} is in no brand's "
                             "chatwoot handles"))
    return brand


def parse_chatwoot_payload(payload: Any, inboxes: Inboxes, now: float) -> Outcome | Rejection:
    """One webhook payload to events; `Rejection` when it is not a Chatwoot event at all.

    Never raises. What becomes an event, what is skipped and why: the module docstring.
    """
    if type(payload) is not dict:
        return Rejection(RejectReason.SCHEMA, "payload is not a JSON object")
    event = payload.get("event")
    if type(event) is not str:
        return Rejection(RejectReason.SCHEMA, "field 'event' missing or not a string")
    out = Outcome()
    if event == "message_created":
        _message(payload, inboxes, now, out)
    elif event == "conversation_status_changed":
        _status(payload, inboxes, now, out)
    elif event == "conversation_created":
        out.skipped.append(Skip.CONVERSATION_CREATED)
    else:
        out.skipped.append(Skip.OTHER_EVENT)
    return out


def _automated(payload: dict[str, Any]) -> bool:
    """Not a human agent's answer (Chatwoot's `Message#human_response?` and
    `not_created_by_automation?`): no sender or one that is not a `user` (agent bots,
    Captain), an automation rule's or a campaign's message."""
    sender = payload.get("sender")
    if type(sender) is not dict or sender.get("type") != "user":
        return True
    content = payload.get("content_attributes")
    extra = payload.get("additional_attributes")
    return bool((type(content) is dict and content.get("automation_rule_id"))
                or (type(extra) is dict and extra.get("campaign_id")))


def _message(payload: dict[str, Any], inboxes: Inboxes, now: float, out: Outcome) -> None:
    kind = payload.get("message_type")
    kind = {0: "incoming", 1: "outgoing", 2: "activity", 3: "template"}.get(kind, kind) \
        if type(kind) is int else kind
    if payload.get("private") is True:
        out.skipped.append(Skip.PRIVATE_NOTE)
        return
    if kind == "activity":
        out.skipped.append(Skip.ACTIVITY)
        return
    if kind == "template" or (kind == "outgoing" and _automated(payload)):
        out.skipped.append(Skip.AUTOMATED)
        return
    if kind not in ("incoming", "outgoing"):
        out.rejected.append((Reject.SCHEMA, f"message_type {str(kind)[:20]!r}"))
        return
    inbox_object = payload.get("inbox")
    conversation, display_id = _conversation(payload, nested=True)
    inbox = (_ident(inbox_object.get("id")) if type(inbox_object) is dict else None) \
        or _ident(conversation.get("inbox_id"))
    brand = _brand(inbox, inboxes, out)
    if brand is None or inbox is None:
        return
    message_id = _ident(payload.get("id"))
    if message_id is None or display_id is None:
        out.rejected.append((Reject.SCHEMA, "message without an id or a conversation id"))
        return
    created = _time(payload.get("created_at"))
    if created is None:
        out.rejected.append((Reject.SCHEMA, "message without a usable created_at"))
        return
    if beyond_skew(created, now):
        out.rejected.append((Reject.FUTURE_TIMESTAMP, f"created_at {created:.0f} is beyond "
                             f"the wall clock + {MAX_FUTURE_SKEW_SECONDS:.0f} s"))
        return
    text = payload.get("content")
    text = text[:MAX_TEXT_CHARS] if type(text) is str else ""
    thread = thread_of(inbox, display_id)
    if kind == "outgoing":
        out.events.append(SocialEvent(Side.BRAND, message_id, brand, PLATFORM, inbox, text,
                                      created, thread))
        return
    sender = payload.get("sender")
    author = _ident(sender.get("id")) if type(sender) is dict else None
    out.events.append(SocialEvent(Side.AUDIENCE, message_id, brand, PLATFORM,
                                  f"contact:{author or 'unknown'}", text, created, thread,
                                  AudienceKind.DIRECT_MESSAGE))


def _status_change(payload: dict[str, Any]) -> tuple[Any, Any]:
    """(previous, current) status from `changed_attributes` ([{status: {previous_value,
    current_value}}]), the current one from `status` when the list does not say."""
    previous: Any = None
    current: Any = payload.get("status")
    changes = payload.get("changed_attributes")
    for change in changes if type(changes) is list else ():
        status = change.get("status") if type(change) is dict else None
        if type(status) is dict:
            previous = status.get("previous_value")
            current = status.get("current_value", current)
    return previous, current


def _status(payload: dict[str, Any], inboxes: Inboxes, now: float, out: Outcome) -> None:
    previous, current = _status_change(payload)
    reopened = previous == "resolved" and current != "resolved"
    if current != "resolved" and not reopened:
        out.skipped.append(Skip.OTHER_STATUS)
        return
    _, display_id = _conversation(payload, nested=False)
    inbox = _ident(payload.get("inbox_id"))
    brand = _brand(inbox, inboxes, out)
    if brand is None or inbox is None:
        return
    opened = _time(payload.get("created_at"))
    # The update that changed the status; `timestamp` (last activity) when absent.
    changed = _time(payload.get("updated_at")) or _time(payload.get("timestamp"))
    if display_id is None or opened is None or changed is None:
        out.rejected.append((Reject.SCHEMA, "conversation without id, created_at or "
                             "updated_at"))
        return
    if beyond_skew(changed, now):
        out.rejected.append((Reject.FUTURE_TIMESTAMP, f"updated_at {changed:.0f} is beyond "
                             f"the wall clock + {MAX_FUTURE_SKEW_SECONDS:.0f} s"))
        return
    thread = thread_of(inbox, display_id)
    kind = "reopened" if reopened else "resolved"
    # One id per status change: a repeated delivery of it is a duplicate.
    status_id = f"{thread}@{kind}@{round(changed * 1000)}"
    out.events.append(ConversationStatus(status_id, brand, PLATFORM, thread, changed,
                                         min(opened, changed), reopened))


# --- The server -------------------------------------------------------------------------

class ChatwootConnector(WebhookConnector):
    """The webhook server with one route, `POST /chatwoot`, signed by Chatwoot."""

    source = SOURCE
    help = "Chatwoot account webhooks (signed): inbox messages and conversations"
    metrics_port = 9104

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--listen", required=True, metavar="HOST:PORT",
                            help="address the webhook server listens on (POST /chatwoot)")

    @classmethod
    def from_args(cls, args: argparse.Namespace, brands: BrandsConfig,
                  env: Mapping[str, str] | None = None) -> ChatwootConnector:
        """From `args.listen` and CHATWOOT_WEBHOOK_SECRET in the environment."""
        env = os.environ if env is None else env
        host, port = parse_listen(getattr(args, "listen", None) or "")
        connector = cls(brands, host, port, secret=env.get(ENV_SECRET) or "")
        if not connector.inboxes.brands:
            raise ConfigError("brands file: no brand has chatwoot handles, so every event "
                              "would be rejected. Fix: add chatwoot = [\"<inbox id>\"] to "
                              "the brands whose inboxes Chatwoot reports")
        return connector

    def __init__(
        self, brands: BrandsConfig, host: str = "127.0.0.1", port: int = 8080, *,
        secret: str, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        recent_ids: int = DEFAULT_RECENT_IDS, clock: Any = time.time,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        head_timeout: float = HEAD_TIMEOUT_SECONDS, body_timeout: float = BODY_TIMEOUT_SECONDS,
    ) -> None:
        if not secret:
            raise ConfigError(f"{ENV_SECRET}: unset, so no request could be verified. Fix: "
                              "set it to the secret Chatwoot shows for the webhook "
                              "(Settings > Integrations > Webhooks; Chatwoot 4.11.2 or later)")
        self.inboxes = Inboxes.from_brands(brands)
        self._secret = secret
        super().__init__(brands, host, port, max_body_bytes=max_body_bytes,
                         recent_ids=recent_ids, clock=clock, max_connections=max_connections,
                         head_timeout=head_timeout, body_timeout=body_timeout)

    @staticmethod
    def _check_secrets(meta_app_secret: str | None, events_secret: str | None) -> None:
        """The Meta and /events secrets are the webhook source's; this one checks its own."""

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=self._max_body)
        app.router.add_post(ROUTE, self._chatwoot_post)
        return app

    def describe_routes(self) -> list[str]:
        return [f"POST {ROUTE} enabled (signed with {ENV_SECRET})"]

    async def _chatwoot_post(self, request: web.Request) -> web.Response:
        stamp = request.headers.get(TIMESTAMP_HEADER, "")
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12 and header):
            self.sink.rejected(Reject.BAD_SIGNATURE, f"{ROUTE}: no {TIMESTAMP_HEADER} or "
                               f"{SIGNATURE_HEADER} (Chatwoot 4.11.2 or later signs)")
            return _json(401, {"error": f"missing {TIMESTAMP_HEADER}/{SIGNATURE_HEADER}"})
        body = await self._verified_body(
            request, lambda raw: signature_ok(self._secret, stamp, raw, header))
        if isinstance(body, web.Response):
            return body
        skew = abs(self._clock() - int(stamp))
        if skew > SIGNATURE_TOLERANCE_SECONDS:  # signed, but long ago (or far ahead)
            self.sink.rejected(STALE_SIGNATURE, f"{ROUTE}: {TIMESTAMP_HEADER} {skew:.0f} s "
                               f"from the wall clock (> {SIGNATURE_TOLERANCE_SECONDS:g} s)")
            return _json(401, {"error": "stale timestamp"})
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.sink.rejected(Reject.MALFORMED_JSON, f"{ROUTE}: {str(exc)[:200]}")
            return _json(400, {"error": "malformed JSON"})
        outcome = parse_chatwoot_payload(payload, self.inboxes, self._clock())
        if isinstance(outcome, Rejection):
            self.sink.rejected(outcome.reason.value, f"{ROUTE}: {outcome.detail}")
            return _json(400, {"error": outcome.detail})
        for reason, detail in outcome.rejected:
            self.sink.rejected(reason, f"{ROUTE}: {detail}")
        return await self._deliver(outcome.events, outcome.skipped,
                                   {"rejected": len(outcome.rejected)})
