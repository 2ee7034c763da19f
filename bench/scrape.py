"""Cost of one /metrics scrape of a worker, by number of configured brands.

A worker owns 1/6 of the configured brands (one of six workers on six partitions). Its
registry holds the owned brands' series only (`own_brand`) and computes their gauges at
scrape time from cached snapshots (`BrandGauges`). Measured: the time of
`generate_latest` (median of a few runs), the bytes it returns and the samples in it, and
the time to take ownership of the brands (`own_brand`, at a rebalance) and to give them
back (`forget_brand`).

    python bench/scrape.py [--configured 100,1000,10000] [--platforms 2] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

from prometheus_client import CollectorRegistry, generate_latest

from streams.config import BrandConfig
from streams.core.behaviour import BehaviourSnapshot
from streams.core.conversation import ConversationSnapshot
from streams.core.sla_records import Backlog
from streams.engine import BrandSnapshot
from streams.metrics import BrandpulseMetrics

PLATFORMS = ("twitter", "instagram", "facebook", "tiktok", "linkedin", "youtube")
TOPICS = ("brandpulse.audience-messages", "brandpulse.brand-posts")
WORKERS = 6


def snapshot(name: str, platforms: tuple[str, ...], i: int) -> BrandSnapshot:
    """A plausible snapshot: a few NaN, the rest ordinary values."""
    return BrandSnapshot(
        brand=name, now=1_700_000_000.0,
        backlog={p: Backlog(i % 7, float(i % 3600)) for p in platforms},
        conversation=ConversationSnapshot({"1h": math.nan, "24h": 0.4},
                                          {"1h": 0.9, "24h": 0.8}, 0.35),
        behaviour=BehaviourSnapshot(
            crisis_active=False, sentiment={"crisis": math.nan, "normal": 0.1},
            templated_reply_ratio=0.2, templated_reply_count=12, topic_alignment=0.6,
            audience_replies_per_broadcast=3.0, top_audience_terms=[]))


def measure(configured: int, n_platforms: int, repeats: int) -> dict[str, float | int]:
    platforms = PLATFORMS[:n_platforms]
    brands = [BrandConfig(f"brand-{i:05d}", {p: frozenset({f"b{i}"}) for p in platforms})
              for i in range(configured)]
    owned = brands[: max(1, configured // WORKERS)]
    metrics = BrandpulseMetrics(CollectorRegistry())
    metrics.initialise(TOPICS)
    started = time.perf_counter()
    for config in owned:
        metrics.own_brand(config)
    own_s = time.perf_counter() - started
    cache = tuple((snapshot(b.name, platforms, i), b.sla_seconds) for i, b in enumerate(owned))
    metrics.attach_brand_snapshots(lambda: cache)
    metrics.publish_global_crisis(False, WORKERS)
    timings = []
    body = b""
    for _ in range(repeats):
        started = time.perf_counter()
        body = generate_latest(metrics.registry)
        timings.append(time.perf_counter() - started)
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    started = time.perf_counter()
    for config in owned:
        metrics.forget_brand(config.name)
    forget_s = time.perf_counter() - started
    after = len(generate_latest(metrics.registry))
    return {
        "configured": configured, "owned": len(owned), "platforms": n_platforms,
        "samples": samples, "bytes": len(body),
        "scrape_ms": round(statistics.median(timings) * 1000, 2),
        "own_brand_ms": round(own_s * 1000, 2), "forget_brand_ms": round(forget_s * 1000, 2),
        "bytes_after_forget": after,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configured", default="100,1000,10000",
                        help="comma-separated numbers of configured brands")
    parser.add_argument("--platforms", type=int, default=2, choices=range(1, 7))
    parser.add_argument("--repeats", type=int, default=5, help="scrapes per size (median)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(x) for x in args.configured.split(",") if x.strip()]
    rows = [measure(n, args.platforms, max(1, min(args.repeats, 50))) for n in sizes]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'configured':>10} {'owned':>6} {'samples':>8} {'bytes':>10} {'scrape ms':>10} "
          f"{'own ms':>8} {'forget ms':>9} {'bytes after forget':>18}")
    for r in rows:
        print(f"{r['configured']:>10} {r['owned']:>6} {r['samples']:>8} {r['bytes']:>10} "
              f"{r['scrape_ms']:>10} {r['own_brand_ms']:>8} {r['forget_brand_ms']:>9} "
              f"{r['bytes_after_forget']:>18}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
