"""brandpulse's own JSONL format: one event per line, the wire JSON plus a `side` field.

Inbox status changes (`kind` resolved/reopened, `side` brand) are lines of their own, as
`brandpulse ingest chatwoot --out` writes them, so a recording replays and reports whole.

It is the exchange format between the offline tools (TWCS conversion, the synthetic
scenario, replay) and the streams. Reading never raises on bad content: every bad line is
yielded as a `BadLine` carrying its 1-based line number, so the caller can count it and
dead-letter it instead of losing it silently.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple, cast

import orjson

from streams.config import BrandsConfig
from streams.events import (
    STATUS_KINDS,
    ConversationStatus,
    RecordedEvent,
    Rejection,
    RejectReason,
    Side,
)
from streams.wire import (
    event_from_dict,
    event_to_dict,
    load_record,
    status_from_dict,
    status_to_dict,
)

DEFAULT_MAX_LINE_BYTES = 64 * 1024  # same bound as Settings.max_event_bytes

PathOrFile = str | os.PathLike[str] | IO[str] | IO[bytes]


class BadLine(NamedTuple):
    """A line that could not become an event: where it is and why (unpacks as a 2-tuple)."""

    line: int
    rejection: Rejection


def _record_to_event(record: Any, brands: BrandsConfig | None) -> RecordedEvent | Rejection:
    if not isinstance(record, dict):
        return Rejection(RejectReason.SCHEMA, "line is not a JSON object")
    side_raw = record.get("side")
    try:
        side = Side(side_raw)  # type: ignore[arg-type]  # any value: checked here
    except ValueError:
        return Rejection(RejectReason.SCHEMA, "field 'side' must be 'brand' or 'audience', "
                         f"got {str(side_raw)[:40]!r}")
    kind = record.get("kind")
    if side is Side.BRAND and kind is not None:
        if kind in STATUS_KINDS:
            return status_from_dict(record, brands)
        return Rejection(RejectReason.SCHEMA, "field 'kind' of a brand line must be one of "
                         f"{', '.join(STATUS_KINDS)} (an inbox status change), got "
                         f"{str(kind)[:40]!r}")
    return event_from_dict(record, side, brands)


def parse_line(
    raw: bytes | str, brands: BrandsConfig | None = None,
    max_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> RecordedEvent | Rejection:
    """One JSONL line (without or with its newline) to an event or a rejection; never raises."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    record = load_record(data, max_bytes)
    if isinstance(record, Rejection):
        return record
    return _record_to_event(record, brands)


def read_jsonl(
    source: PathOrFile, brands: BrandsConfig | None = None,
    max_bytes: int = DEFAULT_MAX_LINE_BYTES,
) -> Iterator[RecordedEvent | BadLine]:
    """Events of a JSONL file (path or open file, text or binary), bad lines as `BadLine`.

    Blank lines are not records and are skipped; everything else yields exactly one item,
    so `events + bad lines + blank lines == lines in the file`. `brands` also rejects
    unknown brands/platforms, as the worker would.
    """
    if isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            yield from read_jsonl(handle, brands, max_bytes)
        return
    lines = cast(Iterable[str | bytes], source)  # an open file, text or binary
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        result = parse_line(raw, brands, max_bytes)
        yield BadLine(number, result) if isinstance(result, Rejection) else result


def event_to_line(event: RecordedEvent) -> bytes:
    """The JSONL line of an event (with the trailing newline); inverse of `parse_line`."""
    record = ({"side": Side.BRAND.value, **status_to_dict(event)}
              if isinstance(event, ConversationStatus)
              else {"side": event.side.value, **event_to_dict(event)})
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def write_jsonl(events: Iterable[RecordedEvent], target: PathOrFile) -> int:
    """Write events one per line to a path or an open (text or binary) file; returns the count."""
    if isinstance(target, str | os.PathLike):
        with Path(target).open("wb") as handle:
            return write_jsonl(events, handle)
    count = 0
    binary = not isinstance(target, io.TextIOBase)
    for event in events:
        line = event_to_line(event)
        if binary:
            target.write(line)  # type: ignore[arg-type]
        else:
            target.write(line.decode("utf-8"))  # type: ignore[call-overload]
        count += 1
    return count
