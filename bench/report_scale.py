"""Time and peak memory of `brandpulse report` as the input grows (issue 9).

Writes a synthetic JSONL of N events per size (many brands, customers' messages, most
answered minutes to hours later, broadcasts, over four weeks of event time), then runs
the report in a child process per size, so each peak RSS is that run's alone. Prints
µs/event per size (flat = linear time) and peak RSS; `--profile` adds a cProfile of the
smallest size and the share of time spent in `Engine.advance`.

    python bench/report_scale.py [--sizes 100000,300000,600000] [--dir /tmp/bp-report]
                                 [--profile] [--json]
"""

from __future__ import annotations

import argparse
import cProfile
import heapq
import json
import os
import pstats
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson

START = 1_780_000_000.0
WEEKS = 4
TEXTS = ("@{h} my order #{n} never arrived", "@{h} charged twice, please check",
         "@{h} love the new app!", "@{h} app crashes at login since update {n}",
         "@{h} where is my refund for {n}?", "@{h} ma commande {n} est en retard")
REPLIES = ("Sorry about that, please DM us your order number.",
           "Thanks! Glad you like it.", "We are looking into order {n} right now.",
           "Bonjour, nous regardons cela tout de suite.")
BROADCASTS = ("New collection out today!", "Our stores open late on Friday {n}.",
              "Tips for the week: {n} ways to save.")


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def generate(path: Path, events: int, brands: int = 100, seed: int = 9) -> None:
    """`events` lines in delivery (≈ time) order; replies come due from a heap."""
    rng = random.Random(seed)
    names = [f"brand{i:03d}" for i in range(brands)]
    weights = [1 / (i + 1) ** 0.8 for i in range(brands)]  # a few big brands, a long tail
    step = WEEKS * 7 * 86400 / events
    due: list[tuple[float, int, str, str]] = []  # (reply time, seq, brand, message id)
    written = seq = 0
    t = START
    with path.open("wb") as out:
        def write(record: dict[str, object]) -> None:
            nonlocal written
            out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            written += 1

        while written < events:
            t += step
            while due and due[0][0] <= t and written < events:
                at, _, brand, message = heapq.heappop(due)
                write({"side": "brand", "id": f"r{message}", "brand": brand,
                       "platform": "twitter", "author": f"{brand}_care",
                       "text": rng.choice(REPLIES).format(n=rng.randrange(999)),
                       "created_at": _time(at), "in_reply_to": message})
            if written >= events:
                break
            brand = rng.choices(names, weights)[0]
            seq += 1
            if rng.random() < 0.1:
                write({"side": "brand", "id": f"b{seq}", "brand": brand,
                       "platform": "twitter", "author": f"{brand}_care",
                       "text": rng.choice(BROADCASTS).format(n=seq % 97),
                       "created_at": _time(t)})
                continue
            message = f"m{seq}"
            write({"side": "audience", "id": message, "brand": brand, "platform": "twitter",
                   "author": f"user{rng.randrange(50_000)}",
                   "text": rng.choice(TEXTS).format(h=f"{brand}_care", n=seq % 9973),
                   "created_at": _time(t)})
            if rng.random() < 0.8:
                delay = rng.expovariate(1 / 2400.0) if rng.random() < 0.9 else rng.uniform(
                    3600, 5 * 86400)
                heapq.heappush(due, (t + delay, seq, brand, message))


def child(path: str, profile: str | None) -> None:
    """One report over `path`; prints a JSON line with the numbers."""
    from streams.commands.report import build_report
    from streams.sources import files

    started = time.perf_counter()
    if hasattr(files, "open_events"):
        source = files.open_events(path, "jsonl")
        events, brands = source, source.brands
    else:  # the eager loader before issue 9
        events, brands = files.load_events(path, "jsonl")  # type: ignore[assignment]
    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    report = build_report(events, brands)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answered = sum(row["answered"] for row in report["brands"].values())
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_kib / 1024,
                      "brands": len(report["brands"]), "answered": answered}))


def advance_share(stats_path: str) -> dict[str, float]:
    """Cumulative seconds of the whole run and of Engine.advance, from a cProfile dump."""
    stats = pstats.Stats(stats_path)
    total = advance = 0.0
    for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        if name == "build_report":
            total = max(total, cumulative)
        if name == "advance" and filename.endswith("engine.py"):
            advance = max(advance, cumulative)
    return {"build_report_s": total, "engine_advance_s": advance,
            "advance_share": advance / total if total else 0.0}


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000")
    parser.add_argument("--dir", default="/tmp/brandpulse-report-bench")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the smallest size; report Engine.advance's share")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.child_profile)
        return 0
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results = []
    for size in sizes:
        path = directory / f"events-{size}.jsonl"
        if not path.exists() or count_lines(path) != size:
            generate(path, size)
        command = [sys.executable, __file__, "--child", str(path)]
        profile = None
        if args.profile and size == sizes[0]:
            profile = str(directory / f"report-{size}.pstats")
            command += ["--child-profile", profile]
        done = subprocess.run(command, check=True, capture_output=True, text=True,
                              timeout=3600, env={**os.environ, "PYTHONHASHSEED": "0"})
        row = {"events": size, **json.loads(done.stdout.strip().splitlines()[-1])}
        row["us_per_event"] = row["seconds"] / size * 1e6
        row["file_mb"] = path.stat().st_size / 1e6
        if profile:
            row.update(advance_share(profile))
        results.append(row)
        if not args.json:
            extra = (f"  (profiled: Engine.advance {row['advance_share']:.0%} of "
                     f"{row['build_report_s']:.1f} s)" if profile else "")
            print(f"{size:>9,} events  {row['file_mb']:7.1f} MB file  {row['seconds']:7.1f} s  "
                  f"{row['us_per_event']:6.1f} µs/event  peak RSS {row['peak_rss_mb']:6.0f} MB"
                  f"{extra}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
