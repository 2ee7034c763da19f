"""Study what a worker does when the embedded broker dies and comes back on the same port.

    .venv/bin/python bench/broker_outage.py [--down 20] [--after 90] [--pause]
        [--recover-first] [--kill] [--keep DIR]

Starts tansu, creates the topics, starts one `brandpulse worker` subprocess, produces a few
events, stops the broker for --down seconds, restarts it on the same port (empty: tansu
keeps everything in memory), recreates the topics, produces again, and prints a timeline
of the worker's gauges, its exit code and the tail of its log. Everything on 127.0.0.1;
every wait is bounded.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from streams.config import settings_from
from streams.plumbing.broker import EmbeddedBroker, create_topics
from tests.integration.conftest import BRANDS_TOML
from tests.integration.harness import Worker, event_record, produce

#: Extra environment for the worker subprocesses (e.g. PYTHONPATH for a study patch).
WORKER_ENV = {k.removeprefix("STUDY_"): v for k, v in os.environ.items()
              if k.startswith("STUDY_")}
GAUGES = ("brandpulse_broker_up", "brandpulse_assigned_partitions")


def events(tag: str, minute: int) -> list[tuple[str, bytes, bytes]]:
    return [event_record("audience", id=f"{tag}-{brand}", brand=brand, author="bob",
                         text=f"@{handle} hi", created_at=f"2026-11-02T10:{minute:02d}:00Z")
            for brand, handle in (("acme", "AcmeSupport"), ("globex", "Globex"))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--down", type=float, default=20.0, help="seconds without broker")
    parser.add_argument("--after", type=float, default=90.0, help="seconds watched after")
    parser.add_argument("--pause", action="store_true",
                        help="SIGSTOP/SIGCONT the broker instead (state kept, like Kafka)")
    parser.add_argument("--kill", action="store_true", help="SIGKILL the broker, not SIGTERM")
    parser.add_argument("--rounds", type=int, default=4, help="event rounds before")
    parser.add_argument("--recover-first", action="store_true",
                        help="restart the worker once before the outage")
    parser.add_argument("--keep", help="directory for logs (default: a temporary one)")
    args = parser.parse_args()
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="brandpulse-outage-"))
    workdir.mkdir(parents=True, exist_ok=True)
    brands = workdir / "brands.toml"
    brands.write_text(BRANDS_TOML)
    started = time.monotonic()

    def say(what: str) -> None:
        print(f"{time.monotonic() - started:6.1f}s  {what}", flush=True)

    def sample(worker: Worker) -> str:
        values = {g: worker.value(g) for g in GAUGES}
        consumed = sum(v for (n, _), v in _safe_metrics(worker).items()
                       if n == "brandpulse_events_consumed_total")
        return " ".join(f"{k.removeprefix('brandpulse_')}={v}" for k, v in values.items()) + \
            f" consumed={consumed} rc={worker.process.poll()}"

    broker = EmbeddedBroker(log_path=str(workdir / "tansu.log")).start()
    settings = settings_from(broker=broker.url)
    create_topics(settings)
    say(f"broker up on {broker.url}; logs in {workdir}")
    worker = Worker(broker.url, brands, workdir, "outage-study", env=WORKER_ENV)
    try:
        if not wait_gauge(worker, "brandpulse_assigned_partitions", 6, 120):
            say("worker never got its partitions")
            return 1
        say("worker assigned: " + sample(worker))
        for round in range(args.rounds):  # separate batches: several changelog offsets
            produce(broker.url, events(f"before{round}", round))
            time.sleep(1.5)
        time.sleep(3)
        if args.recover_first:
            # A worker that recovered its table from the changelog (any restart or
            # rebalance before the outage) remembers the changelog offsets it read.
            worker.kill()
            worker = Worker(broker.url, brands, workdir, "outage-study", "worker-2",
                            env=WORKER_ENV)
            if not wait_gauge(worker, "brandpulse_assigned_partitions", 6, 120):
                say("restarted worker never got its partitions")
                return 1
            say("worker restarted before the outage (table recovered)")
            time.sleep(3)
        say("before outage: " + sample(worker))
        if args.pause:
            broker.pause()
            say("broker paused (SIGSTOP: hangs, keeps its state)")
        else:
            broker.stop(kill=args.kill)
            say("broker stopped")
        end = time.monotonic() + args.down
        while time.monotonic() < end:
            time.sleep(2)
            say("down: " + sample(worker))
        if args.pause:
            broker.pause(False)
            say("broker resumed (state intact)")
        else:
            broker.start()
            create_topics(settings)
            say("broker restarted (empty), topics recreated")
        produce(broker.url, events("after", 30))
        say("produced 2 events after the restart")
        end = time.monotonic() + args.after
        while time.monotonic() < end and worker.process.poll() is None:
            time.sleep(2)
            say("after: " + sample(worker))
        say(f"worker exit code: {worker.process.poll()}")
    finally:
        worker.kill()
        broker.stop()
    print("---- worker log (tail) ----")
    print("\n".join(worker.log().splitlines()[-60:]))
    return 0


def wait_gauge(worker: Worker, name: str, value: float, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and worker.process.poll() is None:
        if worker.value(name) == value:
            return True
        time.sleep(0.5)
    return False


def _safe_metrics(worker: Worker) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    try:
        return worker.metrics()
    except OSError:
        return {}


if __name__ == "__main__":
    sys.exit(main())
