"""Write a changelog written by an older revision, for tests/unit/test_state_compat.py.

Usage:
    git archive REV streams | tar -x -C OLD
    BRANDPULSE_SENTIMENT_MODEL=lexicon \
        python tests/data/make_changelog_fixture.py OLD tests/data/changelog_REV.json.gz

With the code under OLD: half of a synthetic day is run and persisted (some rows rewritten
in the shapes of earlier versions: 7-field audience rows with 6-field features, 4-field
post rows), restored, and the other half run and persisted again. The file holds the first
changelog, the second half's events, the digest of the final changelog and the restored
brands' numbers, for the current code to reproduce.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
from typing import Any

sys.path.insert(0, sys.argv[1])

from streams.config import parse_brands
from streams.engine import Engine
from streams.sources.synthetic import SCENARIO_BRANDS, generate_scenario
from streams.wire import decode_state, encode_state_key, encode_state_value

START = 1_780_000_000.0
BRANDS = parse_brands(SCENARIO_BRANDS)


def persist(engine: Any, table: dict[bytes, bytes]) -> None:
    for brand, key, row in engine.take_changes():
        raw = encode_state_key(brand, key)
        if row is None:
            table.pop(raw, None)
        else:
            table[raw] = encode_state_value(row)


def run(engine: Any, events: list[Any], table: dict[bytes, bytes]) -> None:
    """The offline path, persisted every 50 events and at the end."""
    for i, event in enumerate(events):
        engine.stream_time = max(engine.stream_time, event.created_at)
        engine.ingest(event, engine.stream_time)
        engine.advance(engine.stream_time)
        if i % 50 == 49:
            persist(engine, table)
    persist(engine, table)


def restore(table: dict[bytes, bytes], wall: float) -> Any:
    engine = Engine(BRANDS)
    rows: dict[str, list[Any]] = {}
    for key, value in table.items():
        decoded = decode_state(key, value, BRANDS, wall + 300)
        assert not hasattr(decoded, "reason"), decoded
        rows.setdefault(decoded[0], []).append(decoded[1:])
    for brand, brand_rows in rows.items():
        engine.restore_brand(brand, brand_rows, wall)
    return engine


def numbers(engine: Any, end: float) -> dict[str, str]:
    """Each brand's SLA and behaviour numbers at `end`, as text (floats exactly)."""
    out = {}
    for brand in sorted(engine.active_brands()):
        snapshot = engine.snapshot(brand, engine.brand_now(brand, end))
        b = snapshot.behaviour
        status = engine.behaviour.brand(brand).crisis.status()
        out[brand] = repr([
            sorted((p, x.unanswered, x.oldest_age_seconds, x.at_risk)
                   for p, x in snapshot.backlog.items()),
            sorted((k.value, v) for k, v in b.sentiment.items()), b.templated_reply_ratio,
            b.templated_reply_count, b.topic_alignment, b.audience_replies_per_broadcast,
            b.top_audience_terms, status.active, status.vocabulary_rate, status.volume,
            status.signals])
    return out


def digest(table: dict[bytes, bytes]) -> str:
    return hashlib.sha256(b"".join(k + b"\0" + table[k] + b"\0" for k in sorted(table))
                          ).hexdigest()


def main() -> None:
    events = generate_scenario(START, 86400, seed=7, rate_per_hour=2)
    cut = len(events) // 2
    table: dict[bytes, bytes] = {}
    run(Engine(BRANDS), events[:cut], table)
    for n, raw in enumerate(sorted(table)):
        tag = raw.split(b"\x1f")[2]
        row = json.loads(table[raw])[1:]
        if tag == b"a" and row[6] is not None and n % 3 == 0:
            table[raw] = encode_state_value([*row[:6], row[6][:6]])
        elif tag == b"p" and n % 5 == 0 and row[4] is None:
            table[raw] = encode_state_value(row[:4])
    restore_wall = events[cut - 1].created_at + 60
    written = dict(table)
    engine = restore(written, restore_wall)
    engine.stream_time = restore_wall
    run(engine, events[cut:], table)
    end = max(e.created_at for e in events) + 3600
    after = [[e.side.value, e.id, e.brand, e.platform, e.author, e.text, e.created_at,
              e.in_reply_to, None if e.kind is None else e.kind.value, e.lang, e.is_share,
              e.automated] for e in events[cut:]]
    with gzip.open(sys.argv[2], "wt", encoding="utf-8") as out:
        json.dump({"brands": SCENARIO_BRANDS, "restore_wall": restore_wall, "end": end,
                   "changelog": [[k.decode(), v.decode()] for k, v in sorted(written.items())],
                   "events_after": after, "changelog_after_sha256": digest(table),
                   "numbers": numbers(engine, end)},
                  out, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    main()
