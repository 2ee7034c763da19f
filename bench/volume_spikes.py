"""False alarms of BrandMentionVolumeSpike on TWCS replayed in time order.

Usage: .venv/bin/python bench/volume_spikes.py [TWCS_CSV] [--show N]

Every brand of the file (outbound authors) is monitored; the alert is evaluated every 15 s
of event time as Prometheus would on scraped gauges (streams/commands/spikes.py). TWCS has no
labelled incidents, so every firing counts as a false alarm (an upper bound: some are real
bursts). A brand-week is one brand during one ISO week in which it received at least one
audience message after its first 24 h (before that it has no baseline and cannot fire).
Prints the firings per brand-week, the target being <= 1, then the firings themselves.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from streams.commands.spikes import replay_spikes
from streams.core import volume
from streams.events import Side
from streams.sources.twcs import load_twcs

DEFAULT = Path("/work/shared/data/twcs/twcs_5k.csv")


def _week(at: float) -> tuple[int, int]:
    year, week, _ = datetime.fromtimestamp(at, UTC).isocalendar()
    return year, week


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--show", type=int, default=20, help="firings to list")
    args = parser.parse_args(argv)
    if not args.csv.exists():
        print(f"error: {args.csv} not found (the TWCS CSV, read-only)", file=sys.stderr)
        return 2
    began = time.perf_counter()
    events, brands, stats = load_twcs(args.csv)
    first_seen: dict[str, float] = {}
    brand_weeks: set[tuple[str, tuple[int, int]]] = set()
    for event in events:
        if event.side is not Side.AUDIENCE:
            continue
        first = first_seen.setdefault(event.brand, event.created_at)
        if event.created_at - first >= volume.MIN_BASELINE_HOURS * 3600:
            brand_weeks.add((event.brand, _week(event.created_at)))
    alerts = list(replay_spikes(events, brands))
    elapsed = time.perf_counter() - began
    per_brand = Counter(a.brand for a in alerts)
    weeks = len(brand_weeks)
    print(f"file: {args.csv.name}  events: {len(events)} (audience {stats.audience_messages}, "
          f"brand {stats.brand_posts})  brands: {len(list(brands))}")
    print(f"thresholds: score >= {volume.SPIKE_SCORE:g}, rate >= {volume.SPIKE_RATIO:g}x "
          f"baseline and >= {volume.SPIKE_MIN_RATE:g}/h, for {volume.SPIKE_FOR_SECONDS} s; "
          f"window {volume.WINDOW_SECONDS // 60} min, baseline >= "
          f"{volume.MIN_BASELINE_HOURS} h")
    rate = len(alerts) / weeks if weeks else float("nan")
    print(f"spikes: {len(alerts)}  brand-weeks: {weeks}  spikes per brand-week: {rate:.3f}  "
          f"(target <= 1)  max per brand: {max(per_brand.values(), default=0)}  "
          f"[{elapsed:.1f} s]")
    for alert in alerts[:args.show]:
        v = alert.volume
        when = datetime.fromtimestamp(alert.fired_at, UTC).strftime("%Y-%m-%d %H:%M")
        print(f"  {when}  {alert.brand:<16} rate {v.rate:5.0f}/h  baseline "
              f"{v.baseline.mean:6.2f}/h  score {v.score:5.1f}  negative "
              f"{v.negative_share:4.0%}  terms: {', '.join(v.top_terms)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
