"""Recovery at scale: a worker holding N open messages is SIGKILLed; how long until the
next one is ready with the whole backlog, and at what memory.

A worker on a fresh embedded broker takes N audience messages that need a reply (never
answered; stamped over the last 50 minutes, so nothing breaches during the run) over
`--brands` brands. Once its backlog gauge sums to N, the broker is frozen (SIGSTOP), the
truth scraped, the worker SIGKILLed, the broker resumed, and a new worker started. Polled
every 0.25 s: /startupz (its progress: records read of those expected), /readyz and the
backlog. Reported: seconds to /startupz 200, to /readyz 200 and to the exact backlog;
whether /readyz ever said 200 before the backlog was whole, and /healthz ever anything
but 200; RSS before the kill and after recovery (and 10 s later).

    .venv/bin/python bench/recovery.py [--messages 1000000] [--brands 200] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BenchError,
    Stack,
    brand_names,
    handle,
    make_async_producer,
    proc_sample,
    rfc3339,
    samples,
    scrape,
    write_result,
)

from tests.integration.harness import Worker, event_record

UNANSWERED = "brandpulse_unanswered_messages"


def backlog(port: int) -> float | None:
    got = scrape(port, timeout=30, names=[UNANSWERED])
    if got is None:
        return None
    return sum(samples(got[0], UNANSWERED).values())


def probe(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except OSError:
        return 0, {}


async def produce(broker_url: str, brands: list[str], messages: int) -> float:
    """N open mentions, in large produce batches; returns the seconds it took."""
    producer = make_async_producer(broker_url, linger_ms=50)
    producer._max_batch_size = 512 * 1024  # larger batches: fewer for tansu to scan
    await producer.start()
    rng = random.Random(11)
    now = time.time()
    started = time.monotonic()
    try:
        pending = []
        for n in range(messages):
            brand = brands[n % len(brands)]
            topic, key, value = event_record(
                "audience", id=f"m{n}", brand=brand, author=f"user{rng.randrange(100_000)}",
                text=f"@{handle(brand)} my order {n} never arrived, can you help?",
                created_at=rfc3339(now - 3000 + 2900 * n / messages), kind="mention")
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


def wait_backlog(port: int, target: int, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if backlog(port) == target:
            return time.monotonic() - started
        time.sleep(1.0)
    raise BenchError(f"{what}: backlog never reached {target} in {timeout:.0f} s")


def run(args: argparse.Namespace) -> dict[str, Any]:
    names = brand_names(args.brands)
    stack = Stack(names, label="recovery")
    result: dict[str, Any] = {"messages": args.messages, "brands": args.brands}
    try:
        stack.start()
        result["produce_seconds"] = asyncio.run(produce(stack.broker.url, names, args.messages))
        result["ingest_seconds"] = wait_backlog(stack.port, args.messages, args.timeout,
                                                "the first worker")
        time.sleep(3)  # its last state writes and offsets
        before = proc_sample(stack.pid)
        result["rss_before_mb"] = before.rss_bytes / 1e6 if before else None
        stack.broker.pause()
        truth = backlog(stack.port)
        stack.worker.kill(signal.SIGKILL)  # type: ignore[union-attr]
        stack.broker.pause(False)
        result["backlog_at_kill"] = truth
        assert stack.worker is not None
        worker = Worker(stack.broker.url, stack.workdir / "brands.toml", stack.workdir,
                        stack.app_id, name="after-kill",
                        env={"BRANDPULSE_PARTITIONS": str(stack.partitions)})
        stack.worker = worker
        started = time.monotonic()
        startup = ready = exact = None
        ready_early = unhealthy = 0
        unhealthy_why: list[tuple[float, int, dict[str, Any]]] = []
        progress: dict[str, Any] = {}
        while time.monotonic() - started < args.timeout and exact is None:
            if worker.process.poll() is not None:
                raise BenchError(f"the restarted worker exited\n{worker.log()[-3000:]}")
            at = time.monotonic() - started
            code, detail = probe(worker.port, "/startupz")
            if code == 200 and startup is None:
                startup = at
            elif code == 503:
                progress = detail
            health, why = probe(worker.port, "/healthz")
            if health not in (0, 200):  # 0: not listening yet (the process is starting)
                unhealthy += 1  # a liveness probe would count this against the worker
                unhealthy_why.append((round(at, 1), health, why))
            ready_now = probe(worker.port, "/readyz")[0] == 200
            now_backlog = backlog(worker.port)
            if ready_now and ready is None:
                ready = at
            if ready_now and now_backlog != truth:
                ready_early += 1
            if now_backlog == truth:
                exact = at
            time.sleep(0.25)
        result.update(startup_seconds=startup, ready_seconds=ready, exact_seconds=exact,
                      ready_before_exact=ready_early, healthz_not_200=unhealthy,
                      healthz_answers=unhealthy_why[:10],
                      last_progress=progress)
        after = proc_sample(worker.process.pid)
        result["rss_after_mb"] = after.rss_bytes / 1e6 if after else None
        time.sleep(10)
        later = proc_sample(worker.process.pid)
        result["rss_after_10s_mb"] = later.rss_bytes / 1e6 if later else None
        if result["rss_before_mb"] and result["rss_after_mb"]:
            result["rss_ratio"] = result["rss_after_mb"] / result["rss_before_mb"]
        return result
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--brands", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="longest wait for each phase, seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    write_result("recovery", result)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        print(f"{key:>22}  {value:.2f}" if isinstance(value, float) else f"{key:>22}  {value}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
