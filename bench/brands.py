"""What the number of configured brands costs one idle brandpulse worker.

For each brand count (default 100, 1,000, 10,000, over 6 partitions): a fresh tansu broker
and ONE `brandpulse worker --tansu-compat` (the integration harness's). Measured, in order:

  idle CPU     utime+stime from /proc/PID/stat over `--idle` s (30) with nothing sent and
               nothing scraped: the cost of the per-second timers over all brands;
  /metrics     size and lines of one scrape, and the median time of 10 scrapes;
  burst        `--burst` live events (20,000) sent as fast as possible, spread evenly over
               the brands; the time from the first send until
               `brandpulse_events_consumed_total` has grown by the burst, and its rate.

    python bench/brands.py [--brands 100,1000,10000] [--idle 30] [--burst 20000] [--keep]
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import sys
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from _common import (
    CONSUMED,
    BenchError,
    LiveTraffic,
    Stack,
    brand_names,
    cpu_percent,
    load_average,
    make_plain_producer,
    metric_total,
    partition_spread,
    proc_sample,
    scrape,
    wait_percent,
    write_result,
)
from throughput import tansu_version

SCRAPES = 10
BURST_TIMEOUT_SECONDS = 300.0


def idle_cpu(stack: Stack, seconds: float) -> dict[str, Any]:
    """CPU % of the untouched worker; the worker's death ends the wait early."""
    first = proc_sample(stack.pid)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and stack.alive():
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    last = proc_sample(stack.pid)
    return {"idle_cpu_percent": cpu_percent(first, last),
            "idle_wait_percent": wait_percent(first, last),
            "idle_seconds": round(last.at - first.at, 1) if first and last else None}


def scrapes(stack: Stack, n: int) -> dict[str, Any]:
    """Size of /metrics and the median of `n` sequential scrapes, 0.5 s apart."""
    took: list[float] = []
    size = lines = 0
    for _ in range(n):
        got = scrape(stack.port, timeout=60)
        if got is None:
            raise BenchError(f"/metrics did not answer (worker alive: {stack.alive()})")
        text, _at, seconds = got
        took.append(seconds)
        size, lines = len(text.encode()), text.count("\n")
        time.sleep(0.5)
    return {"metrics_bytes": size, "metrics_lines": lines,
            "scrape_ms_median": round(1000 * statistics.median(took), 1),
            "scrape_ms_max": round(1000 * max(took), 1)}


def burst(stack: Stack, names: list[str], events: int, poll: float,
          seed: int) -> dict[str, Any]:
    """`events` live events as fast as possible; seconds until the worker consumed them."""
    got = scrape(stack.port, timeout=60)
    if got is None:
        raise BenchError("/metrics did not answer before the burst")
    baseline = int(metric_total(got[0], CONSUMED))
    traffic = LiveTraffic(names, hot_share=1 / len(names), seed=seed)
    producer = make_plain_producer(stack.broker.url)
    before = proc_sample(stack.pid)
    start = time.monotonic()
    try:
        for _ in range(events):
            (topic, key, value), _reply = traffic.next(time.time())
            producer.send(topic, key=key, value=value)
        producer.flush(60)
    finally:
        producer.close(10)
    produced = time.monotonic() - start
    deadline = start + BURST_TIMEOUT_SECONDS
    consumed = 0
    while time.monotonic() < deadline:
        if not stack.alive():
            return {"burst_events": events, "burst_consumed": consumed, "burst_seconds": None,
                    "burst_rate": None, "burst_error": f"worker exited ({stack.exit_code})"}
        got = scrape(stack.port, timeout=30)
        if got is not None:
            consumed = int(metric_total(got[0], CONSUMED)) - baseline
            if consumed >= events:
                now = proc_sample(stack.pid)
                seconds = got[1] - start
                return {"burst_events": events, "burst_produce_seconds": round(produced, 2),
                        "burst_seconds": round(seconds, 2),
                        "burst_rate": round(events / seconds, 1),
                        "burst_cpu_percent": cpu_percent(before, now),
                        "burst_wait_percent": wait_percent(before, now)}
        time.sleep(poll)
    return {"burst_events": events, "burst_consumed": consumed, "burst_seconds": None,
            "burst_rate": None,
            "burst_error": f"{consumed:,}/{events:,} consumed after {BURST_TIMEOUT_SECONDS:g}s"}


def run_count(args: argparse.Namespace, count: int) -> dict[str, Any]:
    names = brand_names(count)
    result: dict[str, Any] = {"brands": count,
                              "partition_spread": partition_spread(names, args.partitions)}
    stack = Stack(names, args.partitions, behaviour=args.behaviour == "on", keep=args.keep,
                  label=f"brands{count}")
    started = time.monotonic()
    result["load_average_start"] = load_average()
    try:
        say(f"{count:,} brands: starting broker and worker ...")
        result["ready_seconds"] = round(stack.start(ready_timeout=600), 1)
        ready = proc_sample(stack.pid)
        result["rss_ready_mb"] = round(ready.rss_bytes / 2**20, 1) if ready else None
        say(f"{count:,} brands: idle for {args.idle:g} s ...")
        result.update(idle_cpu(stack, args.idle))
        say(f"{count:,} brands: {SCRAPES} scrapes ...")
        result.update(scrapes(stack, SCRAPES))
        # Each scrape holds the worker's GIL while it renders: poll no more often than every
        # 4 scrape times, so the bench takes at most ~20 % of the worker while it drains.
        poll = max(args.poll, 4 * result["scrape_ms_median"] / 1000)
        result["burst_poll_seconds"] = round(poll, 2)
        say(f"{count:,} brands: burst of {args.burst:,} events (poll every {poll:.2f} s) ...")
        result.update(burst(stack, names, args.burst, poll, args.seed))
        after = proc_sample(stack.pid)
        result["rss_after_burst_mb"] = round(after.rss_bytes / 2**20, 1) if after else None
    except BenchError as exc:
        result["error"] = str(exc)[:3000]
    finally:
        result["worker_alive"] = stack.alive()
        result["exit_code"] = stack.exit_code
        result["errors_in_log"] = stack.error_lines()
        stack.close()
        result["wall_seconds"] = round(time.monotonic() - started, 1)
    return result


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def num(value: Any, spec: str = ",.0f") -> str:
    return "—" if value is None else format(value, spec)


def format_table(report: dict[str, Any]) -> str:
    lines = [f"brandpulse many-brands bench — {report['date']}",
             f"  one idle worker, {report['partitions']} partitions, behaviour "
             f"{report['behaviour']}; idle CPU over {report['idle']:g} s, median of {SCRAPES} "
             f"scrapes, burst of {report['burst']:,} events",
             f"  {report['broker']}; Python {report['python']}, faust-streaming "
             f"{report['faust']}, {report['cpus']} CPUs", "",
             "  brands  ready s  RSS MB  idle CPU%  /metrics KB   lines  scrape ms  "
             "burst s  burst ev/s  RSS after MB"]
    for r in report["runs"]:
        lines.append(
            f"  {r['brands']:>6,} {num(r.get('ready_seconds'), '.1f'):>8} "
            f"{num(r.get('rss_ready_mb')):>7} {num(r.get('idle_cpu_percent'), '.1f'):>10} "
            f"{num(r['metrics_bytes'] / 1024 if 'metrics_bytes' in r else None):>12} "
            f"{num(r.get('metrics_lines')):>7} {num(r.get('scrape_ms_median'), ',.1f'):>10} "
            f"{num(r.get('burst_seconds'), '.2f'):>8} {num(r.get('burst_rate')):>11} "
            f"{num(r.get('rss_after_burst_mb')):>13}")
    for r in report["runs"]:
        problem = r.get("error") or r.get("burst_error")
        if problem or not r.get("worker_alive", True):
            lines.append(f"  {r['brands']:,} brands: {(problem or 'worker died').splitlines()[0]}"
                         f" (worker alive: {r['worker_alive']}, exit code {r['exit_code']})")
            lines += [f"      log: {line[:200]}" for line in r.get("errors_in_log", [])[:2]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brands", default="100,1000,10000",
                        help="brand counts, comma-separated; each a fresh broker + worker")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--idle", type=float, default=30.0, help="idle CPU window (s)")
    parser.add_argument("--burst", type=int, default=20_000, help="events in the burst")
    parser.add_argument("--poll", type=float, default=0.25,
                        help="shortest /metrics poll interval while the burst is consumed (s)")
    parser.add_argument("--behaviour", choices=["on", "off"], default="on")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep broker and worker logs")
    args = parser.parse_args(argv)
    try:
        args.counts = [int(c) for c in args.brands.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--brands: {args.brands!r} is not a comma-separated list of counts")
    if not args.counts or min(args.counts) < 1 or args.burst < 1 or args.idle <= 0:
        parser.error("--brands counts ≥ 1, --burst ≥ 1, --idle > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminated(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the stack's cleanup

    signal.signal(signal.SIGTERM, terminated)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "partitions": args.partitions, "behaviour": args.behaviour, "idle": args.idle,
        "burst": args.burst, "poll_ms": args.poll * 1000,
        "broker": f"tansu {tansu_version()} (embedded, memory storage, 127.0.0.1)",
        "python": platform.python_version(), "faust": version("faust-streaming"),
        "cpus": os.cpu_count(), "runs": []}
    for count in args.counts:
        report["runs"].append(run_count(args, count))
    path = write_result("brands", report)
    print(format_table(report))
    cwd = Path.cwd()
    print(f"\n  JSON: {path.relative_to(cwd) if path.is_relative_to(cwd) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
