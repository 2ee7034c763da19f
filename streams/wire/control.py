"""Records of the control topic: operator-declared crises (`brandpulse crisis`)."""

from __future__ import annotations

from typing import Any

import orjson

from streams.core.crisis import CommandAction, CrisisCommand, DeclaredCrisis
from streams.events import Rejection, RejectReason
from streams.wire.events import (
    format_rfc3339,
    identifier,
    load_record,
    missing_field,
    parse_rfc3339,
)


def encode_crisis_command(command: CrisisCommand) -> bytes:
    crisis = command.crisis
    return orjson.dumps({
        "action": command.action.value, "name": crisis.name, "keywords": list(crisis.keywords),
        "hashtags": list(crisis.hashtags), "region": crisis.region,
        "start": format_rfc3339(crisis.start),
        "end": None if crisis.end is None else format_rfc3339(crisis.end),
    })


_ACTIONS = {action.value: action for action in CommandAction}
#: Bounds of a control record: an operator declares a handful of terms, not a dictionary.
MAX_CONTROL_BYTES = 64 * 1024
MAX_CRISIS_NAME_CHARS = 200
MAX_CRISIS_TERMS = 100  # keywords, and hashtags, per crisis
MAX_CRISIS_TERM_CHARS = 100
#: Declared times must be plausible: the past reaches back over historical replays (the
#: 2017 TWCS data set), the future allows a crisis planned ahead, not a typo'd year.
MAX_CONTROL_PAST_SECONDS = 20 * 365.25 * 86400
MAX_CONTROL_FUTURE_SECONDS = 10 * 365.25 * 86400


def _term_list(record: dict[str, Any], key: str) -> tuple[str, ...] | Rejection:
    values = record.get(key)
    if values is None:
        return ()
    if type(values) is not list or not all(type(v) is str for v in values):
        return Rejection(RejectReason.SCHEMA, f"field {key!r} is not a list of strings")
    if len(values) > MAX_CRISIS_TERMS or any(len(v) > MAX_CRISIS_TERM_CHARS for v in values):
        return Rejection(RejectReason.SCHEMA, f"field {key!r}: at most {MAX_CRISIS_TERMS} "
                         f"terms of at most {MAX_CRISIS_TERM_CHARS} characters")
    return tuple(values)


def _control_time(record: dict[str, Any], key: str, now: float) -> float | Rejection | None:
    value = record.get(key)
    if value is None:
        return None
    if type(value) is not str:
        return Rejection(RejectReason.SCHEMA, f"field {key!r} is not an RFC 3339 string")
    try:
        at = parse_rfc3339(value)
    except ValueError as exc:
        return Rejection(RejectReason.SCHEMA, f"{key}: {exc}"[:200])
    if at > now + MAX_CONTROL_FUTURE_SECONDS:
        return Rejection(RejectReason.FUTURE_TIMESTAMP, f"{key} {value[:40]} is more than "
                         "10 years ahead of the wall clock")
    if at < now - MAX_CONTROL_PAST_SECONDS:
        return Rejection(RejectReason.SCHEMA, f"{key} {value[:40]} is more than 20 years "
                         "before the wall clock")
    return at


def decode_crisis_command(raw: bytes | None, now: float) -> CrisisCommand | Rejection:
    """Never raises: a bad control record is a Rejection, dead-lettered by the worker.

    `now` is the wall clock (epoch seconds), passed in so the bounds are testable. A
    `declare` needs a start and an end, if any, not before it; an `end` needs its end
    (its start is ignored: the CLI sends the epoch there).
    """
    record = load_record(raw, MAX_CONTROL_BYTES)
    if isinstance(record, Rejection):
        return record
    if type(record) is not dict:
        return Rejection(RejectReason.SCHEMA, "control record is not a JSON object")
    raw_action = record.get("action")
    action = _ACTIONS.get(raw_action) if type(raw_action) is str else None
    if action is None:
        return Rejection(RejectReason.SCHEMA, "control record needs action declare|end")
    name = identifier(record.get("name"))
    if name is None:
        return missing_field("name")
    if len(name) > MAX_CRISIS_NAME_CHARS:
        return Rejection(RejectReason.SCHEMA, f"field 'name' longer than "
                         f"{MAX_CRISIS_NAME_CHARS} characters")
    keywords = _term_list(record, "keywords")
    if isinstance(keywords, Rejection):
        return keywords
    hashtags = _term_list(record, "hashtags")
    if isinstance(hashtags, Rejection):
        return hashtags
    region = record.get("region")
    if region is not None and (type(region) is not str or len(region) > MAX_CRISIS_TERM_CHARS):
        return Rejection(RejectReason.SCHEMA, f"field 'region' is not a string of at most "
                         f"{MAX_CRISIS_TERM_CHARS} characters")
    end = _control_time(record, "end", now)
    if isinstance(end, Rejection):
        return end
    if action is CommandAction.END:
        if end is None:
            return Rejection(RejectReason.SCHEMA, "an end command needs field 'end'")
        return CrisisCommand(action, DeclaredCrisis(name, keywords, hashtags, region,
                                                    end=end))
    start = _control_time(record, "start", now)
    if isinstance(start, Rejection):
        return start
    if start is None:
        return Rejection(RejectReason.SCHEMA, "a declare command needs field 'start'")
    if end is not None and end < start:
        return Rejection(RejectReason.SCHEMA, "end is before start")
    return CrisisCommand(action, DeclaredCrisis(name, keywords, hashtags, region, start, end))
