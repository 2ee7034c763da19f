"""One entry point for the file formats `replay` and `report` accept."""

from __future__ import annotations

import sys
from pathlib import Path

from streams.config import BrandsConfig, ConfigError, parse_brands
from streams.events import Side, SocialEvent
from streams.sources.jsonl import BadLine, read_jsonl
from streams.sources.twcs import load_twcs


def detect_format(path: str) -> str:
    """"twcs" for the Customer Support on Twitter CSV, else "jsonl"."""
    with Path(path).open("rb") as handle:
        head = handle.read(4096).lstrip()
    if head.startswith(b"{"):
        return "jsonl"
    if b"tweet_id" in head.split(b"\n", 1)[0]:
        return "twcs"
    raise ConfigError(f"{path}: neither JSONL nor a TWCS CSV. Fix: pass --format jsonl|twcs")


def brands_from_events(events: list[SocialEvent]) -> BrandsConfig:
    """Without a brands file: every brand seen, speaking through the authors of its posts."""
    handles: dict[str, dict[str, set[str]]] = {}
    for event in events:
        platforms = handles.setdefault(event.brand, {})
        authors = platforms.setdefault(event.platform, set())
        if event.side is Side.BRAND:
            authors.add(event.author)
    document = {"brand": [
        {"name": brand, "handles": {p: sorted(a) or [brand] for p, a in platforms.items()}}
        for brand, platforms in sorted(handles.items())
    ]}
    return parse_brands(document, "brands derived from the input")


def load_events(path: str, file_format: str = "auto",
                brands: BrandsConfig | None = None) -> tuple[list[SocialEvent], BrandsConfig]:
    """Events in delivery order and the brands they belong to; bad lines reported on stderr."""
    if file_format == "auto":
        file_format = detect_format(path)
    if file_format == "twcs":
        events, brands, stats = load_twcs(path, brands)
        skipped = stats.unattributed + stats.unknown_brand + stats.invalid + stats.duplicates
        if skipped:
            print(f"{path}: {skipped} rows skipped ({stats})", file=sys.stderr)
        return events, brands
    events = []
    bad: list[BadLine] = []
    for item in read_jsonl(path, brands):
        (bad if isinstance(item, BadLine) else events).append(item)
    for line in bad[:10]:
        print(f"{path}:{line.line}: rejected ({line.rejection.reason}): "
              f"{line.rejection.detail}", file=sys.stderr)
    if bad:
        print(f"{path}: {len(bad)} bad lines rejected", file=sys.stderr)
    return events, brands or brands_from_events(events)
