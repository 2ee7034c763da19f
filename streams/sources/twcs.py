"""Convert the public "Customer Support on Twitter" (TWCS) CSV into brandpulse events.

TWCS is the only large public record of real brands answering real customers, so it is
what we evaluate the metrics on. Its quirks are handled here: ids written as floats
(`3.0`), an optional unnamed index column, multi-line texts, Twitter's `created_at` format,
several comma-separated `response_tweet_id`s, and a file that is not sorted by time.

Outbound tweets are brand posts of the brand `author_id`. Inbound tweets carry no brand,
so each is attributed to the brand it @mentions or, failing that, to the brand of the
nearest brand tweet in its thread (following reply links in both directions). Whatever
cannot be attributed or belongs to a brand outside the brands file is skipped and counted
in `TwcsStats`, never silently lost.
"""

from __future__ import annotations

import calendar
import csv
import os
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO

from streams.config import DEFAULT_SLA_SECONDS, BrandsConfig, parse_brands
from streams.events import AudienceKind, Side, SocialEvent

PLATFORM = "twitter"
COLUMNS = ("tweet_id", "author_id", "inbound", "created_at", "text", "response_tweet_id",
           "in_response_to_tweet_id")
_MONTHS = {name: i for i, name in enumerate(calendar.month_abbr) if name}
_MENTION = re.compile(r"(?<!\w)@(\w+)")

_CR = "\ue000"  # stands for a bare carriage return while the csv module parses a record

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long tweets with embedded newlines


@dataclass(frozen=True, slots=True)
class TwcsRow:
    """One tweet as read from the CSV, ids normalised (`3.0` -> `3`)."""

    tweet_id: str
    author_id: str
    inbound: bool
    created_at: float
    text: str
    response_ids: tuple[str, ...]
    in_reply_to: str | None


@dataclass(slots=True)
class TwcsStats:
    """Where every CSV row went: the counts add up to `rows`."""

    rows: int = 0
    brand_posts: int = 0
    audience_messages: int = 0
    unattributed: int = 0  # customer tweet with no brand mention and no brand in its thread
    unknown_brand: int = 0  # tweet of (or attributed to) a brand not in the brands file
    duplicates: int = 0  # same tweet_id seen again; the first occurrence wins
    invalid: int = 0  # missing id/author or unparseable date
    invalid_examples: list[str] = field(default_factory=list)

    @property
    def accounted(self) -> int:
        return (self.brand_posts + self.audience_messages + self.unattributed
                + self.unknown_brand + self.duplicates + self.invalid)


def normalize_id(raw: str | None) -> str | None:
    """TWCS ids as strings: pandas wrote them as floats (`3.0`), empty means none."""
    if raw is None:
        return None
    value = raw.strip()
    if not value:
        return None
    if value.endswith(".0") and value[:-2].isdigit():
        return value[:-2]
    if value.isdigit():
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return str(int(number)) if number.is_integer() else value


def parse_twitter_time(value: str) -> float:
    """`Tue Oct 31 22:10:47 +0000 2017` to epoch seconds; ValueError when malformed.

    Hand-parsed because `strptime` dominates the conversion time on large files.
    """
    parts = value.split()
    try:
        _, month, day, clock, offset, year = parts
        hours, minutes, seconds = clock.split(":")
        base = calendar.timegm((int(year), _MONTHS[month], int(day), int(hours), int(minutes),
                                int(seconds), 0, 0, 0))
        sign = -1 if offset[0] == "-" else 1
        if len(offset) != 5 or offset[0] not in "+-":
            raise ValueError(offset)
        shift = sign * (int(offset[1:3]) * 3600 + int(offset[3:5]) * 60)
    except (ValueError, KeyError, IndexError):
        try:
            return datetime.strptime(value.strip(), "%a %b %d %H:%M:%S %z %Y").timestamp()
        except ValueError:
            raise ValueError(f"created_at {value!r} is not like 'Tue Oct 31 22:10:47 "
                             "+0000 2017'") from None
    return float(base - shift)


def _is_true(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    return None


def read_twcs_rows(
    source: str | os.PathLike[str] | IO[str], stats: TwcsStats | None = None,
) -> Iterator[TwcsRow]:
    """Parse the CSV (path, or text file opened with `newline="\n"`); bad rows are counted
    in `stats.invalid`, not raised. A file without the TWCS columns raises ValueError."""
    if isinstance(source, str | os.PathLike):
        with Path(source).open(newline="\n", encoding="utf-8") as handle:
            yield from read_twcs_rows(handle, stats)
        return
    stats = stats if stats is not None else TwcsStats()
    reader = csv.reader(_protect_cr(source))
    header = next(reader, None)
    if header is None:
        return
    positions = {name.strip(): i for i, name in enumerate(header)}
    missing = [name for name in COLUMNS if name not in positions]
    if missing:
        raise ValueError(f"not a TWCS file: missing column(s) {', '.join(missing)}")
    idx = [positions[name] for name in COLUMNS]
    width = max(idx) + 1
    for cells in reader:
        if not cells:
            continue
        stats.rows += 1
        if len(cells) < width:
            _invalid(stats, f"row {stats.rows}: {len(cells)} columns, expected {len(header)}")
            continue
        tweet_id, author, inbound_raw, created, text, responses, parent = (cells[i] for i in idx)
        tid = normalize_id(tweet_id)
        inbound = _is_true(inbound_raw)
        author = author.strip()
        if tid is None or not author or inbound is None:
            _invalid(stats, f"row {stats.rows}: missing tweet_id/author_id/inbound")
            continue
        try:
            created_at = parse_twitter_time(created)
        except ValueError as exc:
            _invalid(stats, f"row {stats.rows}: {exc}")
            continue
        response_ids = tuple(r for r in (normalize_id(p) for p in responses.split(",")) if r)
        if _CR in text:
            text = text.replace(_CR, "\r")
        yield TwcsRow(tid, author, inbound, created_at, text, response_ids,
                      normalize_id(parent))


def _protect_cr(lines: Iterable[str]) -> Iterator[str]:
    """Hide bare CRs from the csv module, which would end the record there.

    The published TWCS file has unquoted texts containing bare `\r`; only `\n` (or a
    final `\r\n`) ends a record. Open files with `newline="\n"` so lines split on `\n` only.
    """
    for line in lines:
        if "\r" in line:
            body, end = (line[:-2], "\r\n") if line.endswith("\r\n") else (line, "")
            line = body.replace("\r", _CR) + end
        yield line


def _invalid(stats: TwcsStats, detail: str) -> None:
    stats.invalid += 1
    if len(stats.invalid_examples) < 10:
        stats.invalid_examples.append(detail)


def _rows(rows_or_path: Iterable[TwcsRow] | str | os.PathLike[str]) -> Iterable[TwcsRow]:
    if isinstance(rows_or_path, str | os.PathLike):
        return read_twcs_rows(rows_or_path)
    return rows_or_path


def twcs_brands(
    rows_or_path: Iterable[TwcsRow] | str | os.PathLike[str],
    sla_seconds: float = DEFAULT_SLA_SECONDS,
) -> BrandsConfig:
    """Brands of a TWCS file when no brands file is given: every author of an outbound tweet."""
    authors = sorted({row.author_id for row in _rows(rows_or_path) if not row.inbound})
    if not authors:
        raise ValueError("no outbound (brand) tweet in the TWCS data: cannot derive brands")
    document = {
        "defaults": {"sla_seconds": sla_seconds},
        "brand": [{"name": a, "handles": {PLATFORM: [a]}} for a in authors],
    }
    return parse_brands(document, "TWCS-derived brands")


def _attribute(rows: dict[str, TwcsRow], preferred: frozenset[str]) -> dict[str, list[str]]:
    """tweet_id -> lower-cased brand handles an inbound tweet belongs to.

    A customer tweet belongs to every known brand it @-mentions and to every brand whose
    own tweet it replies to or is answered by; failing all of those, to the brand its
    thread is with. A mention counts when it names an outbound author of the file or a
    `preferred` (configured) handle. Threads are resolved by one multi-source BFS over the
    undirected reply graph (linear in the file size): brand tweets are sources first,
    mention-attributed customer tweets second, so at equal distance a brand's own tweet
    wins over a customer's mention. A tweet for several brands is an audience message of
    each, as each brand's own listener would have captured it.
    """
    known = preferred | {row.author_id.lower() for row in rows.values() if not row.inbound}
    owner: dict[str, str] = {}
    mentioned: dict[str, list[str]] = {}
    for tid, row in rows.items():
        if not row.inbound:
            owner[tid] = row.author_id.lower()
            continue
        handles = [h for h in (m.lower() for m in _MENTION.findall(row.text)) if h in known]
        if handles:
            mentioned[tid] = list(dict.fromkeys(handles))
    neighbours: dict[str, list[str]] = {}
    for tid, row in rows.items():
        links = (row.in_reply_to, *row.response_ids) if row.in_reply_to else row.response_ids
        for other in links:
            if other in rows and other != tid:
                neighbours.setdefault(tid, []).append(other)
                neighbours.setdefault(other, []).append(tid)
    direct: dict[str, list[str]] = {}
    for tid, row in rows.items():
        if row.inbound:
            linked = [rows[o].author_id.lower() for o in neighbours.get(tid, ())
                      if not rows[o].inbound]
            direct[tid] = list(dict.fromkeys(mentioned.get(tid, []) + linked))
    queue = deque(owner)
    for tid, handles in mentioned.items():
        owner[tid] = next((h for h in handles if h in preferred), handles[0])
        queue.append(tid)
    while queue:
        tid = queue.popleft()
        for other in neighbours.get(tid, ()):
            if other not in owner:
                owner[other] = owner[tid]
                queue.append(other)
    return {tid: direct[tid] or [owner[tid]] for tid in owner if rows[tid].inbound}


def twcs_events(
    rows: Iterable[TwcsRow], brands: BrandsConfig, stats: TwcsStats,
) -> list[SocialEvent]:
    """Rows to events of `brands` (matched by twitter handle), sorted by (created_at, id)."""
    return list(iter_twcs_events(rows, brands, stats))


def iter_twcs_events(
    rows: Iterable[TwcsRow], brands: BrandsConfig, stats: TwcsStats,
) -> Iterator[SocialEvent]:
    """`twcs_events` as a generator: each event is built when it is consumed.

    The file is not sorted by time and threads are attributed over the whole reply
    graph, so the rows themselves are held (once, deduplicated) until the last event;
    the events are not. `stats` is complete when the generator is exhausted.
    """
    unique: dict[str, TwcsRow] = {}
    for row in rows:
        if row.tweet_id in unique:
            stats.duplicates += 1
        else:
            unique[row.tweet_id] = row
    by_handle = {handle: brand.name for brand in brands
                 for handle in brand.handles.get(PLATFORM, ())}
    attributed = _attribute(unique, frozenset(by_handle))
    # Sorting ids by (created_at, id) then emitting each tweet's events in order is the
    # stable sort of the events by (created_at, id) that the list version did.
    order = sorted(unique, key=lambda tid: (unique[tid].created_at, tid))
    for tid in order:
        row = unique[tid]
        if not row.inbound:
            brand = by_handle.get(row.author_id.lower())
            if brand is None:
                stats.unknown_brand += 1
                continue
            stats.brand_posts += 1
            yield SocialEvent(Side.BRAND, tid, brand, PLATFORM, row.author_id,
                              row.text, row.created_at, row.in_reply_to)
            continue
        handles = attributed.get(tid)
        if not handles:
            stats.unattributed += 1
            continue
        mentions = {m.lower() for m in _MENTION.findall(row.text)}
        owned = [(h, by_handle[h]) for h in handles if h in by_handle]
        if not owned:
            stats.unknown_brand += 1
            continue
        stats.audience_messages += 1
        for handle, brand in owned:
            # A tweet that does not @-mention the brand reached it through a conversation
            # thread with the brand (TWCS anonymises most other handles), so it is a reply
            # in the brand's conversation even when it starts the thread.
            kind = (AudienceKind.MENTION if handle in mentions and not row.in_reply_to
                    else AudienceKind.REPLY)
            yield SocialEvent(Side.AUDIENCE, tid, brand, PLATFORM, row.author_id,
                              row.text, row.created_at, row.in_reply_to, kind)


def load_twcs(
    source: str | os.PathLike[str] | IO[str], brands: BrandsConfig | None = None,
    sla_seconds: float = DEFAULT_SLA_SECONDS,
) -> tuple[list[SocialEvent], BrandsConfig, TwcsStats]:
    """Read a TWCS CSV into sorted events, the brands used (derived when None) and stats.

    From a path, brands are derived by a first pass that keeps only outbound authors.
    """
    stats = TwcsStats()
    if isinstance(source, str | os.PathLike):
        if brands is None:
            brands = twcs_brands(source, sla_seconds)
        return twcs_events(read_twcs_rows(source, stats), brands, stats), brands, stats
    rows = list(read_twcs_rows(source, stats))
    if brands is None:
        brands = twcs_brands(rows, sla_seconds)
    return twcs_events(rows, brands, stats), brands, stats
