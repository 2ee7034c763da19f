"""Live traffic against brandpulse workers (one, or `--workers N` sharing the partitions):
event→metric latency, memory, CPU, changelog.

Unlike bench/throughput.py (a backlog read as fast as it can), every event here
is stamped with the wall clock at send time, sent at a constant rate in 10 ms slices, over
B brands (default 100) of which ONE hot brand takes half the traffic. For each rate: a
fresh tansu broker and ONE `brandpulse worker --tansu-compat` (the integration harness's),
the paced producer (aiokafka) in the main thread and a /metrics + /proc sampler in a second thread.

Latency: the k-th reply of a brand is seen at the first poll whose
`brandpulse_brand_posts_total{kind="reply"}` of that brand is ≥ k (per brand, so the order
is clean: one partition, one producer); latency = the middle of that poll's HTTP request
− the reply's send time (as bench/throughput.py stamps its polls). Polls ask only for the
two families read (`?name[]=`), except one a second that reads the whole page, as a
Prometheus scrape would; so the worker's cost of being watched stays small.

    python bench/live.py [--rates 1000,2500,5000] [--duration 120] [--brands 100]
                         [--hot-share 0.5] [--poll 0.1] [--full-every 1] [--find-knee]
                         [--no-trivial] [--keep]

See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import re
import signal
import statistics
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import uvloop
from _common import (
    CONSUMED,
    REPLY_POSTS,
    BenchError,
    LiveTraffic,
    Stack,
    brand_names,
    changelog_bytes,
    cpu_percent,
    load_average,
    make_async_producer,
    partition_spread,
    percentile,
    reply_counts,
    scrape,
    seconds_text,
    wait_percent,
    write_result,
)
from throughput import Child, StageError, tansu_version, trivial_stage

SLICE_SECONDS = 0.01  # the producer tops up to rate × elapsed every 10 ms
# tansu's memory storage reads every stored batch of a partition on each fetch, so its CPU
# per fetch grows with the number of batches a run has written (docs/tansu.md): with 5 ms
# the broker went from 30 % to 97 % of a core in 40 s at 2,500 events/s. 50 ms batches
# hold it near 20 %; the linger counts in every latency (the send time is stamped first).
LINGER_MS = 50
KNEE_P99_SECONDS = 1.0
KEPT_UP_SEEN = 0.99  # share of replies that must show up within the drain time
KNEE_MAX_RUNS = 5
TRIVIAL_MIN_EVENTS = 10_000
_TOO_LARGE = re.compile(r"MessageSizeTooLarge\w*[^\n]*?(\d+) bytes")


class Sampler(threading.Thread):
    """Polls /metrics and /proc every `interval` s; stamps when each reply became visible."""

    def __init__(self, stack: Stack, sends: dict[str, list[float]], interval: float,
                 max_seconds: float, full_every: float = 1.0) -> None:
        super().__init__(name="live-sampler", daemon=True)
        self.stack = stack
        self.sends = sends
        self.interval = interval
        self.max_seconds = max_seconds
        self.seen_at: dict[str, list[float]] = defaultdict(list)
        self.timeline: list[dict[str, Any]] = []  # one row per poll
        self.sent = 0  # written by the producer thread
        self.died_at: float | None = None
        self.scrape_failures = 0
        self.scrape_seconds: list[float] = []
        self.halt = threading.Event()
        # Most polls ask for the two families read: the full page of 100 active brands
        # (~7,000 samples) costs the worker ~0.1 s of GIL per render on this machine; a
        # real Prometheus pays that every 15 s, a 10 Hz poll would pay it ten times a
        # second. Every `full_every` s the whole page, as Prometheus reads it: a new brand's
        # first increments wait for a scrape that saw its series at 0 (BrandCounters).
        self.names = (REPLY_POSTS, CONSUMED)
        self.full_every_polls = max(1, round(full_every / interval))

    def run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        tick = time.monotonic()
        polls = 0
        while not self.halt.is_set() and time.monotonic() < deadline:
            full = polls % self.full_every_polls == 0
            polls += 1
            pages = [scrape(port, timeout=max(2.0, self.interval * 4),
                            names=() if full else self.names) for port in self.stack.ports]
            got = None if None in pages else _merged(pages)  # type: ignore[arg-type]
            proc = self.stack.sample()
            if got is None:
                if not self.stack.alive():
                    self.died_at = time.monotonic()
                    return
                self.scrape_failures += 1
            elif CONSUMED not in got[0]:  # not a metrics page (a worker shutting down)
                self.scrape_failures += 1
            else:
                text, at, took = got
                self.scrape_seconds.append(took)
                counts, consumed = reply_counts(text)
                for brand, count in counts.items():
                    times = self.sends.get(brand)
                    seen = self.seen_at[brand]
                    upto = min(count, len(times or ()))
                    if upto > len(seen):
                        seen.extend([at] * (upto - len(seen)))
                self.timeline.append({
                    "at": at, "sent": self.sent, "consumed": consumed,
                    "rss": proc.rss_bytes if proc and proc.rss_bytes else None,
                    "cpu": proc.cpu_seconds if proc else None})
            tick += self.interval
            self.halt.wait(max(0.0, tick - time.monotonic()))

    def all_seen(self) -> bool:
        return all(len(self.seen_at.get(b, ())) >= len(t) for b, t in list(self.sends.items()))


def _merged(pages: list[tuple[str, float, float]]) -> tuple[str, float, float]:
    """Several workers' pages as one (each brand lives on one worker): the texts joined,
    stamped with the latest mid-request time and the longest request."""
    return ("\n".join(p[0] for p in pages), max(p[1] for p in pages),
            max(p[2] for p in pages))


def produce_paced(broker_url: str, traffic: LiveTraffic, rate: float, duration: float,
                  sends: dict[str, list[float]], sampler: Sampler,
                  stack: Stack, linger_ms: int) -> dict[str, Any]:
    """Send `rate` × elapsed events by every 10 ms slice, for `duration` s or until the
    worker dies; reply send times go to `sends[brand]` just before `send()`.

    The load generator is aiokafka's producer on its own event loop: it shares the
    machine's 2 cores with the worker and the broker, and at 2,500 events/s it costs about
    half the CPU of kafka-python's (20 % against 44 % of a core, docs/benchmarks.md), CPU
    a real deployment's producers spend on other machines."""
    return uvloop.run(_produce_paced(broker_url, traffic, rate, duration, sends, sampler,
                                      stack, linger_ms))


async def _produce_paced(broker_url: str, traffic: LiveTraffic, rate: float, duration: float,
                         sends: dict[str, list[float]], sampler: Sampler,
                         stack: Stack, linger_ms: int) -> dict[str, Any]:
    failed = 0
    errors: list[str] = []

    def delivered(future: asyncio.Future[Any]) -> None:
        nonlocal failed
        if future.cancelled() or future.exception() is None:
            return
        failed += 1
        if len(errors) < 5:
            errors.append(repr(future.exception())[:300])

    producer = make_async_producer(broker_url, linger_ms)
    await producer.start()
    cpu_start = time.process_time()
    start = time.monotonic()
    sent, max_behind, alive_check, stopped = 0, 0.0, start, None
    tick = start
    try:
        while True:
            now = time.monotonic()
            elapsed = now - start
            if elapsed >= duration:
                break
            if now >= alive_check:
                alive_check = now + 0.5
                if not stack.alive():
                    stopped = f"worker exited with code {stack.exit_code} at {elapsed:.1f}s"
                    break
            target = int(rate * elapsed)
            while sent < target and time.monotonic() - start < duration:
                (topic, key, value), reply_brand = traffic.next(time.time())
                if reply_brand is not None:
                    sends[reply_brand].append(time.monotonic())
                future = await producer.send(topic, key=key, value=value)
                future.add_done_callback(delivered)
                sent += 1
            sampler.sent = sent
            max_behind = max(max_behind, rate * (time.monotonic() - start) - sent)
            tick += SLICE_SECONDS
            await asyncio.sleep(max(0.0, tick - time.monotonic()))
        end = time.monotonic()
        await asyncio.wait_for(producer.flush(), 60)
    finally:
        await producer.stop()
    return {"start": start, "end": end, "sent": sent, "failed": failed, "errors": errors,
            "max_behind_events": int(max_behind), "stopped": stopped,
            "bench_cpu_percent": round(100 * (time.process_time() - cpu_start)
                                       / max(end - start, 1e-9), 1)}


def latency_stats(latencies: list[float]) -> dict[str, Any]:
    return {"replies": len(latencies),
            "unseen": sum(1 for x in latencies if not math.isfinite(x)),
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "max": max(latencies) if latencies else None}


def analyse(sends: dict[str, list[float]], sampler: Sampler, produced: dict[str, Any],
            hot: str, window: float = 10.0) -> dict[str, Any]:
    """Latency per reply (∞ if never seen) by third of the run, by 10 s window, hot vs rest."""
    start, end = produced["start"], produced["end"]
    span = max(end - start, 1e-9)
    rows: list[tuple[float, float, str]] = []  # (send time from start, latency, brand)
    for brand, times in sends.items():
        seen = sampler.seen_at.get(brand, [])
        for k, t in enumerate(times):
            rows.append((t - start, seen[k] - t if k < len(seen) else math.inf, brand))
    rows.sort()
    by_window: list[dict[str, Any]] = []
    for i in range(math.ceil(span / window)):
        part = [lat for at, lat, _ in rows if i * window <= at < (i + 1) * window]
        if part:
            by_window.append({"from_s": i * window, **latency_stats(part)})
    return {
        "all": latency_stats([lat for _, lat, _ in rows]),
        "first_third": latency_stats([lat for at, lat, _ in rows if at < span / 3]),
        "last_third": latency_stats([lat for at, lat, _ in rows if at >= 2 * span / 3]),
        "hot_brand": latency_stats([lat for _, lat, b in rows if b == hot]),
        "other_brands": latency_stats([lat for _, lat, b in rows if b != hot]),
        "by_window": by_window,
        "seen_share": (sum(1 for _, lat, _ in rows if math.isfinite(lat)) / len(rows)
                       if rows else None),
    }


def resources(sampler: Sampler, produced: dict[str, Any], ready: Any) -> dict[str, Any]:
    """RSS over time and CPU % while sending; consumption rate and backlog; stalls."""
    rows = sampler.timeline
    start, end = produced["start"], produced["end"]
    during = [r for r in rows if start <= r["at"] <= end and r["rss"] is not None]
    rss = [r["rss"] for r in rows if r["rss"] is not None]
    out: dict[str, Any] = {
        "rss_ready_mb": round(ready.rss_bytes / 2**20, 1) if ready else None,
        "rss_max_mb": round(max(rss) / 2**20, 1) if rss else None,
        "rss_end_mb": round(rss[-1] / 2**20, 1) if rss else None,
        "rss_timeline_mb": [(round(r["at"] - start, 1), round(r["rss"] / 2**20, 1))
                            for r in rows[::4] if r["rss"] is not None],
        "scrape_ms_median": (round(1000 * statistics.median(sampler.scrape_seconds), 1)
                             if sampler.scrape_seconds else None),
        "polls": len(rows),
        "scrape_failures": sampler.scrape_failures,
    }
    if len(during) >= 2:
        a, b = during[0], during[-1]
        out["consume_rate"] = round((b["consumed"] - a["consumed"]) / (b["at"] - a["at"]), 1)
        out["backlog_end_of_sending"] = b["sent"] - b["consumed"]
    stall, longest, last_move = None, 0.0, None
    for r in rows:
        if last_move is None or r["consumed"] > last_move[1]:
            last_move = (r["at"], r["consumed"])
        elif r["sent"] > r["consumed"]:
            stall = r["at"] - last_move[0]
            longest = max(longest, stall)
    out["longest_stall_s"] = round(longest, 2)
    out["consumed_timeline"] = [(round(r["at"] - start, 1), r["sent"], r["consumed"])
                                for r in rows[::4]]
    return out


def run_rate(args: argparse.Namespace, rate: float, with_trivial: bool) -> dict[str, Any]:
    """One fresh broker + worker at `rate` events/s; never raises for a dead worker."""
    names = brand_names(args.brands)
    result: dict[str, Any] = {"rate": rate, "duration": args.duration, "brands": args.brands,
                              "workers": args.workers,
                              "hot_brand": names[0], "hot_share": args.hot_share}
    stack = Stack(names, args.partitions, behaviour=args.behaviour == "on", keep=args.keep,
                  label=f"live{int(rate)}", workers=args.workers)
    result["load_average_start"] = load_average()
    try:
        say(f"rate {rate:g}/s: starting broker and worker ...")
        result["ready_seconds"] = round(stack.start(), 1)
        ready = stack.sample()
        traffic = LiveTraffic(names, hot_share=args.hot_share, seed=args.seed)
        sends: dict[str, list[float]] = defaultdict(list)
        limit = args.duration + args.drain + 120
        sampler = Sampler(stack, sends, args.poll, limit, full_every=args.full_every)
        sampler.start()
        before = stack.sample()
        say(f"rate {rate:g}/s: sending for {args.duration:g} s ...")
        produced = produce_paced(stack.broker.url, traffic, rate, args.duration, sends,
                                 sampler, stack, args.linger_ms)
        after_send = stack.sample()
        say(f"rate {rate:g}/s: sent {produced['sent']:,}; waiting up to {args.drain:g} s ...")
        drain_deadline = time.monotonic() + args.drain
        while time.monotonic() < drain_deadline and stack.alive() and not sampler.all_seen():
            time.sleep(0.25)
        caught_up = sampler.all_seen()
        drain_used = time.monotonic() - produced["end"]
        time.sleep(args.poll * 2)  # one last poll
        sampler.halt.set()
        sampler.join(10)
        alive = stack.alive()
        total_replies = sum(len(t) for t in sends.values())
        result.update({
            "sent": produced["sent"], "send_failed": produced["failed"],
            "send_errors": produced["errors"], "stopped_early": produced["stopped"],
            "send_seconds": round(produced["end"] - produced["start"], 2),
            "send_rate": round(produced["sent"] / max(produced["end"] - produced["start"],
                                                      1e-9), 1),
            "producer_max_behind_events": produced["max_behind_events"],
            # the bench process (load generator + poller thread) while sending
            "bench_cpu_percent": produced["bench_cpu_percent"],
            "replies": total_replies,
            "caught_up": caught_up,
            "catch_up_seconds": round(drain_used, 1) if caught_up else None,
            "worker_alive": alive, "exit_code": stack.exit_code,
            "died_after_s": (round(sampler.died_at - produced["start"], 1)
                             if sampler.died_at else None),
            "latency": analyse(sends, sampler, produced, names[0]),
            "resources": resources(sampler, produced, ready),
            "cpu_percent_sending": cpu_percent(before, after_send),
            "wait_percent_sending": wait_percent(before, after_send),
            "load_average_end_of_sending": load_average(),
        })
        say(f"rate {rate:g}/s: stopping the worker, reading its changelogs ...")
        stack.stop_worker()
        log = stack.log_tail(10**7)
        too_large = [int(n) for n in _TOO_LARGE.findall(log)]
        result["errors_in_log"] = stack.error_lines()
        result["message_too_large"] = ({"count": len(too_large), "max_bytes": max(too_large)}
                                       if too_large else None)
        changelog = changelog_bytes(stack.broker.url, stack.app_id)
        changelog["bytes_per_event"] = (round(changelog["bytes"] / produced["sent"], 1)
                                        if produced["sent"] else None)
        consumed = max((row["consumed"] for row in sampler.timeline), default=0)
        changelog["events_consumed"] = consumed
        changelog["bytes_per_consumed_event"] = (round(changelog["bytes"] / consumed, 1)
                                                 if consumed else None)
        result["changelog"] = changelog
        if with_trivial:
            delivered = produced["sent"] - produced["failed"]
            result["trivial"] = trivial_on(stack, delivered, args)
    except BenchError as exc:
        result["error"] = str(exc)
        result["worker_alive"] = stack.alive()
        result["exit_code"] = stack.exit_code
    finally:
        stack.close()
    return result


def trivial_on(stack: Stack, events: int, args: argparse.Namespace) -> dict[str, Any]:
    """bench/throughput.py's stage (b) on this run's input topics, worker stopped."""
    if events < TRIVIAL_MIN_EVENTS:  # throughput.py's own floor: the first fetch is untimed
        return {"rate": None, "error": f"only {events:,} events (< {TRIVIAL_MIN_EVENTS:,})"}
    say(f"trivial Faust agent over the {events:,} events ...")
    child = Child("trivial", stack.workdir, stack.broker.url, args.partitions, events)
    try:
        stage = trivial_stage(child, events, timeout=180)
        return {"rate": round(stage.rate, 1), "events": stage.events,
                "seconds": round(stage.seconds, 3), "note": stage.note}
    except StageError as exc:
        return {"rate": None, "error": str(exc)[:2000]}
    finally:
        child.stop()


def kept_up(result: dict[str, Any]) -> bool:
    """Alive at the end, ≥ 99 % of replies seen, last-third p99 ≤ 1 s."""
    latency = result.get("latency")
    if not latency or not result.get("worker_alive") or result.get("stopped_early"):
        return False
    p99 = latency["last_third"]["p99"]
    share = latency["seen_share"] or 0.0
    return p99 is not None and p99 <= KNEE_P99_SECONDS and share >= KEPT_UP_SEEN


def find_knee(args: argparse.Namespace, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Coarse search for the rate where last-third p99 crosses 1 s: double or halve from
    --knee-start until bracketed, then bisect; at most 5 runs."""
    good: float | None = None
    bad: float | None = None
    rate = float(args.knee_start)
    for i in range(KNEE_MAX_RUNS):
        result = run_rate(args, rate, with_trivial=not args.no_trivial and i == 0)
        runs.append(result)
        if kept_up(result):
            good = rate
        else:
            bad = rate
        if good is not None and bad is not None:
            if bad - good <= max(100.0, 0.15 * good):
                break
            rate = round((good + bad) / 2 / 50) * 50
        else:
            rate = rate * 2 if bad is None else rate / 2
        if rate < 50:
            break
    return {"kept_up_below": good, "fails_at": bad, "criterion":
            f"worker alive, ≥{KEPT_UP_SEEN:.0%} replies seen, last-third p99 ≤ "
            f"{KNEE_P99_SECONDS:g} s"}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def format_table(report: dict[str, Any]) -> str:
    lines = [f"brandpulse live bench — {report['date']}",
             f"  {report['brands']} brands over {report['partitions']} partitions "
             f"(brands per partition {report['partition_spread']}), hot brand "
             f"{report['hot_brand']} takes {report['hot_share']:.0%}, behaviour "
             f"{report['behaviour']}, {report.get('workers', 1)} worker(s), "
             f"{report['duration']:g} s per rate, /metrics polled "
             f"every {report['poll_ms']:g} ms"
             f" (the whole page every {report['full_every_s']:g} s)",
             f"  {report['broker']}; Python {report['python']}, faust-streaming "
             f"{report['faust']}, {report['cpus']} CPUs", "",
             "  rate  sent/s alive  first⅓ p50/p99   last⅓ p50/p99  seen≤drain  "
             "consumed/s  stall  RSS ready→max MB  CPU% wait%  bench CPU%  changelog B/ev  "
             "max value KB"]
    for r in report["runs"]:
        if "latency" not in r:
            lines.append(f"  {r['rate']:>5g}  failed: {r.get('error', '?').splitlines()[0]}")
            continue
        lat, res, cl = r["latency"], r["resources"], r.get("changelog", {})
        first, last = lat["first_third"], lat["last_third"]
        alive = "yes" if r["worker_alive"] else f"NO({r['exit_code']})"
        seen = lat["seen_share"]
        lines.append(
            f"  {r['rate']:>5g} {r['send_rate']:>7,.0f} {alive:>5}  "
            f"{seconds_text(first['p50']):>6}/{seconds_text(first['p99']):<7} "
            f"{seconds_text(last['p50']):>6}/{seconds_text(last['p99']):<7} "
            f"{'—' if seen is None else f'{seen:.1%}':>10}  "
            f"{res.get('consume_rate', math.nan):>10,.0f} {res['longest_stall_s']:>5.0f}s "
            f"{mb(res['rss_ready_mb']):>8}→{mb(res['rss_max_mb']):<8} "
            f"{r['cpu_percent_sending'] or math.nan:>5.0f} "
            f"{r.get('wait_percent_sending') or math.nan:>5.0f} "
            f"{r.get('bench_cpu_percent') or math.nan:>10.0f} "
            f"{cl.get('bytes_per_event') or math.nan:>14,.0f} "
            f"{cl.get('max_value_bytes', 0) / 1024:>12,.0f}")
    for r in report["runs"]:
        notes = []
        if r.get("died_after_s") is not None or r.get("stopped_early"):
            notes.append(f"worker died {r.get('died_after_s')} s after the first send "
                         f"(exit code {r.get('exit_code')})")
        if r.get("message_too_large"):
            m = r["message_too_large"]
            notes.append(f"{m['count']} MessageSizeTooLarge errors in its log, largest value "
                         f"{m['max_bytes']:,} bytes")
        if r.get("latency") and not r.get("caught_up"):
            notes.append(f"{r['latency']['all']['unseen']:,} of {r['replies']:,} replies never "
                         f"shown in /metrics")
        if notes:
            lines.append(f"  rate {r['rate']:g}: " + "; ".join(notes))
            lines += [f"      log: {line[:200]}" for line in r.get("errors_in_log", [])[:2]]
    if report.get("trivial"):
        t = report["trivial"]
        lines += ["", f"  trivial Faust agent (bench/throughput.py stage b) on the same events: "
                  f"{t['rate'] or math.nan:,.0f} events/s"]
    if report.get("knee"):
        k = report["knee"]
        lines.append(f"  knee: kept up at {k['kept_up_below']} events/s, not at "
                     f"{k['fails_at']} ({k['criterion']})")
    if report.get("ratios"):
        lines.append("  " + "   ".join(f"{k} = {v}" for k, v in report["ratios"].items()))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="1000,2500,5000",
                        help="events/s, comma-separated; each a fresh broker + worker")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of sending")
    parser.add_argument("--brands", type=int, default=100, help="configured brands (100)")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--hot-share", type=float, default=0.5,
                        help="share of the traffic of the one hot brand (0.5)")
    parser.add_argument("--poll", type=float, default=0.1,
                        help="/metrics poll interval (s); adds up to one interval to each "
                             "latency (0.1)")
    parser.add_argument("--full-every", type=float, default=1.0,
                        help="seconds between polls of the whole /metrics page (1); the "
                             "others ask only for the two families read")
    parser.add_argument("--drain", type=float, default=60.0,
                        help="seconds to wait for the last replies after sending stops (60)")
    parser.add_argument("--behaviour", choices=["on", "off"], default="on",
                        help="BRANDPULSE_ANALYSE_BEHAVIOUR of the worker (on, the default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--linger-ms", type=int, default=LINGER_MS,
                        help="the load generator's producer linger (ms); included in the "
                             f"latency ({LINGER_MS}: tansu's fetch cost, docs/tansu.md)")
    parser.add_argument("--find-knee", action="store_true",
                        help="search the rate where p99 crosses 1 s instead of --rates "
                             "(at most 5 runs)")
    parser.add_argument("--knee-start", type=float, default=1000.0)
    parser.add_argument("--no-trivial", action="store_true",
                        help="skip the trivial Faust agent comparison")
    parser.add_argument("--keep", action="store_true", help="keep broker and worker logs")
    parser.add_argument("--workers", type=int, default=1,
                        help="workers in the consumer group, sharing the partitions (each "
                             "brand on one of them); their RSS and CPU are summed")
    args = parser.parse_args(argv)
    try:
        args.rate_list = [float(r) for r in args.rates.split(",") if r.strip()]
    except ValueError:
        parser.error(f"--rates: {args.rates!r} is not a comma-separated list of numbers")
    if not args.rate_list or min(args.rate_list) <= 0:
        parser.error("--rates: give positive events/s, e.g. --rates 1000,2500")
    if args.brands < 1 or not 0 <= args.hot_share <= 1 or args.duration <= 0:
        parser.error("--brands ≥ 1, 0 ≤ --hot-share ≤ 1 and --duration > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminated(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through the stacks' cleanup

    signal.signal(signal.SIGTERM, terminated)
    names = brand_names(args.brands)
    report: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "brands": args.brands, "partitions": args.partitions, "hot_brand": names[0],
        "hot_share": args.hot_share, "duration": args.duration, "poll_ms": args.poll * 1000,
        "full_every_s": args.full_every,
        "workers": args.workers,
        "behaviour": args.behaviour, "drain_seconds": args.drain,
        "partition_spread": partition_spread(names, args.partitions),
        "broker": f"tansu {tansu_version()} (embedded, memory storage, 127.0.0.1)",
        "python": platform.python_version(), "faust": version("faust-streaming"),
        "aiokafka": version("aiokafka"), "kafka_python": version("kafka-python"),
        "cpus": os.cpu_count(), "runs": []}
    runs: list[dict[str, Any]] = report["runs"]
    if args.find_knee:
        report["knee"] = find_knee(args, runs)
    else:
        for i, rate in enumerate(args.rate_list):
            runs.append(run_rate(args, rate, with_trivial=not args.no_trivial and i == 0))
    trivial = next((r["trivial"] for r in runs if r.get("trivial")), None)
    report["trivial"] = trivial
    kept = [r["rate"] for r in runs if kept_up(r)]
    report["sustainable_rate"] = max(kept) if kept else None
    if trivial and trivial.get("rate"):
        ratios = {f"{r['rate']:g}/trivial": round(r["rate"] / trivial["rate"], 3) for r in runs}
        # What the worker actually consumed while sending, against the trivial agent.
        ratios |= {f"consumed@{r['rate']:g}/trivial":
                   round(r["resources"]["consume_rate"] / trivial["rate"], 3)
                   for r in runs if r.get("resources", {}).get("consume_rate")}
        if kept:
            ratios["sustainable/trivial"] = round(max(kept) / trivial["rate"], 3)
        report["ratios"] = ratios
    path = write_result("live", report)
    print(format_table(report))
    print(f"\n  JSON: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
