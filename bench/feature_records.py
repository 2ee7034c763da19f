"""What a kept feature record costs the garbage collector and memory, by its shape.

Usage:
    python bench/feature_records.py shapes [--records 1000000]
    python bench/feature_records.py engine [--against REV] [--events 200000]

`shapes`: one million audience features kept as a plain tuple (what the code kept before
issue 25), a NamedTuple, a slotted class, and a NamedTuple packed with `at_rest()` (what
streams/core/features.py keeps now). Each in its own process: objects the cyclic collector
tracks (`gc.get_objects()` after a collection), the time of a full collection (median of
5) and the resident memory they add.

`engine`: the same measures per event persisted through the engine (the offline path,
`take_changes` after each batch of 50, all events within retention), live and after the
whole state is persisted and restored into a fresh engine (with `restore_brand`'s time per
record), for the working tree's
`streams` and for revision REV's (default HEAD, extracted with `git archive`).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHAPES = ("tuple", "namedtuple", "slots", "named-at-rest")


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure(build: Any, n: int) -> dict[str, float]:
    gc.collect()
    objects, rss = len(gc.get_objects()), _rss()
    kept = build(n)
    gc.collect()
    tracked = len(gc.get_objects()) - objects
    grown = _rss() - rss
    times = []
    for _ in range(5):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    del kept
    return {"tracked_per_record": tracked / n, "full_gc_ms": statistics.median(times) * 1e3,
            "rss_bytes_per_record": grown / n}


def _shape(shape: str, n: int) -> dict[str, float]:
    from streams.core.features import AudienceFeatures

    class Slotted:
        __slots__ = AudienceFeatures._fields

        def __init__(self, *values: Any) -> None:
            for name, value in zip(self.__slots__, values, strict=True):
                setattr(self, name, value)

    make: Any = {"tuple": lambda *v: v, "namedtuple": AudienceFeatures, "slots": Slotted,
                 "named-at-rest": lambda *v: AudienceFeatures(*v).at_rest()}[shape]
    words = [sys.intern(f"term{i}") for i in range(500)]

    def build(count: int) -> list[Any]:
        return [make("en", (i % 200) / 100 - 1, i % 9 == 0, False, i % 4 == 0,
                     (words[i % 500], words[(i * 7) % 500], words[(i * 13) % 500]),
                     i % 9 == 0, ()) for i in range(count)]

    return _measure(build, n)


def _engine(n: int, restored: bool) -> dict[str, float]:
    from streams.config import parse_brands
    from streams.engine import Engine
    from streams.events import Side, SocialEvent
    from streams.sources.synthetic import SCENARIO_BRANDS, generate_scenario
    from streams.wire import decode_state, encode_state_key, encode_state_value

    brands = parse_brands(SCENARIO_BRANDS)
    sample = generate_scenario(1_780_000_000.0, 86400, seed=7, rate_per_hour=20)
    start = 1_780_000_000.0
    step = 6 * 86400 / n  # all within the 7-day retention: everything stays kept
    timing: dict[str, float] = {}

    def build(count: int) -> Engine:
        live = run(count)
        if not restored:
            return live
        table = {encode_state_key(brand, key): encode_state_value(row)
                 for brand, key, row in live.take_changes() if row is not None}
        del live
        records = len(table)
        rows: dict[str, list[Any]] = {}
        wall = start + count * step
        for key, value in table.items():
            decoded = decode_state(key, value, brands, wall + 300)
            rows.setdefault(decoded[0], []).append(decoded[1:])  # type: ignore[index]
        del table
        engine = Engine(brands)
        started = time.perf_counter()
        for brand, brand_rows in rows.items():
            engine.restore_brand(brand, brand_rows, wall)
        timing["restore_us_per_record"] = (time.perf_counter() - started) / records * 1e6
        return engine

    def run(count: int) -> Engine:
        engine = Engine(brands)
        for i in range(count):
            model = sample[i % len(sample)]
            at = start + i * step
            reply_to = None
            if model.side is Side.BRAND and model.in_reply_to is not None:
                reply_to = f"e{i - 1}"
            event = SocialEvent(model.side, f"e{i}", model.brand, model.platform,
                                model.author, model.text, at, reply_to, model.kind)
            engine.ingest(event, at)
            if i % 50 == 49 and not restored:
                engine.advance(at)
                for _ in engine.take_changes():
                    pass
        return engine

    return {**_measure(build, n), **timing}


def _child(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(args.root or ROOT))
    result = (_shape(args.shape, args.records) if args.shape
              else _engine(args.events, args.restored))
    print(json.dumps(result))
    return 0


def _run(extra: list[str], root: Path = ROOT) -> dict[str, float]:
    env = dict(os.environ, PYTHONHASHSEED="0")
    out = subprocess.run([sys.executable, __file__, "--child", "--root", str(root), *extra],
                         check=True, env=env, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.splitlines()[-1])
    return result


def _row(label: str, r: dict[str, float]) -> str:
    restore = r.get("restore_us_per_record")
    return (f"| {label} | {r['tracked_per_record']:.2f} | {r['full_gc_ms']:.1f} | "
            f"{r['rss_bytes_per_record']:.0f} |"
            + ("" if restore is None else f" restore_brand {restore:.1f} µs / record |"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("shapes", "engine"), default="shapes")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--against", default="HEAD")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--shape", choices=SHAPES, help=argparse.SUPPRESS)
    parser.add_argument("--restored", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv[1:])
    if args.child:
        return _child(args)
    header = ("| {} | tracked objects / {} | full collection, ms | RSS bytes / {} |\n"
              "|---|---:|---:|---:|")
    if args.what == "shapes":
        print(f"{args.records:,} audience features kept")
        print(header.format("shape", "record", "record"))
        for shape in SHAPES:
            print(_row(shape, _run(["--shape", shape, "--records", str(args.records)])))
        return 0
    print(f"{args.events:,} events persisted through the engine and kept")
    print(header.format("code", "event", "event"))
    with tempfile.TemporaryDirectory(prefix="brandpulse-features-") as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.against, "streams"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        for restored in ([], ["--restored"]):
            how = ", restored" if restored else ", live"
            print(_row(args.against + how, _run(["--events", str(args.events), *restored],
                                                 Path(tmp))))
            print(_row("working tree" + how, _run(["--events", str(args.events), *restored])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
