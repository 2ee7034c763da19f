"""One entry point for the file formats `replay` and `report` accept.

`open_events` streams: it never holds a list of the file's events. When no brands file is
given, the brands are derived by a cheap first pass that keeps only brand names, platforms
and the handles brands post from (memory per brand, not per event); the events then come
from a second pass over the file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from streams.config import BrandsConfig, ConfigError, parse_brands
from streams.events import ConversationStatus, RecordedEvent, Rejection, Side
from streams.sources.jsonl import DEFAULT_MAX_LINE_BYTES, BadLine, parse_line, read_jsonl
from streams.sources.twcs import TwcsStats, iter_twcs_events, read_twcs_rows, twcs_brands

BAD_LINES_SHOWN = 10


def detect_format(path: str) -> str:
    """"twcs" for the Customer Support on Twitter CSV, else "jsonl"."""
    with Path(path).open("rb") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"{"):
        return "jsonl"
    if b"tweet_id" in head.split(b"\n", 1)[0]:
        return "twcs"
    raise ConfigError(f"{path}: neither JSONL nor a TWCS CSV. Fix: pass --format jsonl|twcs")


class _Handles:
    """brand -> platform -> authors of its posts: what deriving brands needs, nothing more."""

    def __init__(self) -> None:
        self.handles: dict[str, dict[str, set[str]]] = {}

    def add(self, event: RecordedEvent) -> None:
        authors = self.handles.setdefault(event.brand, {}).setdefault(event.platform, set())
        if not isinstance(event, ConversationStatus) and event.side is Side.BRAND:
            authors.add(event.author)

    def brands(self) -> BrandsConfig:
        document = {"brand": [
            {"name": brand, "handles": {p: sorted(a) or [brand] for p, a in platforms.items()}}
            for brand, platforms in sorted(self.handles.items())
        ]}
        return parse_brands(document, "brands derived from the input")


def brands_from_events(events: Iterable[RecordedEvent]) -> BrandsConfig:
    """Without a brands file: every brand seen, speaking through the authors of its posts."""
    collector = _Handles()
    for event in events:
        collector.add(event)
    return collector.brands()


def jsonl_brands(path: str | os.PathLike[str],
                 max_bytes: int = DEFAULT_MAX_LINE_BYTES) -> BrandsConfig:
    """`brands_from_events` of a JSONL file's valid events, in one pass and O(brands) memory.

    A line is fully validated only when its (side, brand, platform, author of a post) is
    new: once such a key came from a valid event, later lines with the same key can add
    nothing, so most lines cost one JSON decode.
    """
    collector = _Handles()
    known: set[Any] = set()
    with Path(path).open("rb") as handle:
        for raw in handle:
            if not raw.strip():
                continue
            key: Any = None
            try:
                record = orjson.loads(raw)
                side = record.get("side")
                key = (side, record.get("brand"), record.get("platform"),
                       record.get("author") if side == "brand" else None, record.get("kind"))
                if key in known:
                    continue
            except (orjson.JSONDecodeError, AttributeError, TypeError):
                key = None  # not an object, or unhashable fields: let the parser judge
            event = parse_line(raw, None, max_bytes)
            if isinstance(event, Rejection):
                continue
            collector.add(event)
            if key is not None:
                known.add(key)
    return collector.brands()


class EventFile:
    """The events of a file as a stream, the brands they belong to, and read progress.

    Iterating reads the file once (each iteration reads it anew) and yields events in
    delivery order; nothing keeps them. Rejected lines/rows are counted in `rejected`;
    `print_rejections` summarises them (after the iteration, so a progress line is done).
    """

    def __init__(self, path: str, file_format: str = "auto",
                 brands: BrandsConfig | None = None) -> None:
        self.path = path
        self.format = detect_format(path) if file_format == "auto" else file_format
        self.size = os.path.getsize(path)
        self._given_brands = brands
        self.rejected = 0
        self._shown: list[BadLine] = []
        self.twcs_stats: TwcsStats | None = None
        self._handle: Any = None
        self._done = False
        if brands is None:  # first pass: brand names and handles only
            brands = twcs_brands(path) if self.format == "twcs" else jsonl_brands(path)
        self.brands = brands

    def bytes_read(self) -> int:
        """How far into the file the current iteration is (for a progress bar)."""
        handle = self._handle
        if handle is None:
            return self.size if self._done else 0
        try:
            return int(handle.tell() if self.format == "jsonl" else handle.buffer.tell())
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[RecordedEvent]:
        return self._twcs() if self.format == "twcs" else self._jsonl()

    def _jsonl(self) -> Iterator[RecordedEvent]:
        shown = self._shown = []
        self.rejected = 0
        with Path(self.path).open("rb") as handle:
            self._handle, self._done = handle, False
            try:
                for item in read_jsonl(handle, self._given_brands):
                    if isinstance(item, BadLine):
                        self.rejected += 1
                        if len(shown) < BAD_LINES_SHOWN:
                            shown.append(item)
                        continue
                    yield item
            finally:
                self._handle, self._done = None, True

    def _twcs(self) -> Iterator[RecordedEvent]:
        stats = self.twcs_stats = TwcsStats()
        with Path(self.path).open(newline="\n", encoding="utf-8") as handle:
            self._handle, self._done = handle, False
            try:
                rows = read_twcs_rows(handle, stats)
                yield from iter_twcs_events(rows, self.brands, stats)
            finally:
                self._handle, self._done = None, True
        self.rejected = (stats.unattributed + stats.unknown_brand + stats.invalid
                         + stats.duplicates)

    def print_rejections(self, errors: IO[str] | None = None) -> None:
        """What the last iteration rejected: the first bad lines and the totals."""
        errors = errors if errors is not None else sys.stderr
        for line in self._shown:
            print(f"{self.path}:{line.line}: rejected ({line.rejection.reason}): "
                  f"{line.rejection.detail}", file=errors)
        if self.rejected and self.format == "twcs":
            print(f"{self.path}: {self.rejected} rows skipped ({self.twcs_stats})", file=errors)
        elif self.rejected:
            print(f"{self.path}: {self.rejected} bad lines rejected", file=errors)


def open_events(path: str, file_format: str = "auto",
                brands: BrandsConfig | None = None) -> EventFile:
    """The streaming reader of `path`; brands derived (first pass) when not given."""
    return EventFile(path, file_format, brands)


def load_events(path: str, file_format: str = "auto",
                brands: BrandsConfig | None = None) -> tuple[list[RecordedEvent], BrandsConfig]:
    """All events in a list, for callers that need the count first (`replay`'s progress).

    Holds every event in memory: the report uses `open_events` instead.
    """
    source = open_events(path, file_format, brands)
    events = list(source)
    source.print_rejections()
    return events, source.brands
