"""CPU per event of Faust's own stream machinery, as the worker's agent uses it.

bench/worker_path.py times brandpulse's code without Faust; this times Faust without
brandpulse's code: a backlog of bench/live.py's traffic (100 brands, hot brand 50 %) on a
fresh tansu broker, read by an agent shaped like the worker's (one agent on both input
topics, concurrency 1, `take_events(batch_size, within=batch_within_seconds)`, raw bytes)
that only counts. Each variant is a child process (a fresh consumer group, from the
earliest offset, uvloop as the worker); it reports the wall time and the process CPU time
(every thread) from its first event to the N-th, so µs of CPU per event is comparable on a
shared machine where wall time is not.

Variants (`--variants`, comma-separated, each run `--repeat` times, interleaved):

    faust       faust.App with the worker's options before streams/worker/lean_faust.py
                (stream_wait_empty off, raw serializers), nothing else
    faust+X+Y   the same with single parts of streams/worker/lean_faust.py: `eager` (the
                consumer's eager hand-over), `quietmon` (QuietMonitor), `raw` (the RawBytes
                schema), or Faust's own `cython` (cython_optimizations=True)
    worker      what the production worker uses: `streams.worker.app.faust_options`,
                `lean_faust(app)` and the RawBytes input topic

    python bench/faust_path.py [--events 60000] [--variants faust,worker] [--repeat 2]
                               [--profile VARIANT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from _common import LiveTraffic, brand_names, make_plain_producer

from streams.config import settings_from
from streams.plumbing.broker import EmbeddedBroker, create_topics

BATCH_SIZE = 2000
BATCH_WITHIN_SECONDS = 0.05


def child(args: argparse.Namespace) -> None:
    """One variant: count N events in an agent shaped like the worker's, then report."""
    import faust
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    settings = settings_from({}, broker=args.broker, partitions=args.partitions,
                             app_id=args.app_id, data_dir=args.data_dir)
    options: dict[str, Any] = {"broker": args.broker, "store": "memory://",
                               "topic_partitions": args.partitions, "datadir": args.data_dir,
                               "web_enabled": False, "stream_wait_empty": False,
                               "consumer_auto_offset_reset": "earliest"}
    if args.child == "worker":
        from streams.worker.app import faust_options, lean_faust

        options = {**faust_options(settings), "consumer_auto_offset_reset": "earliest"}
    else:
        features = args.child.split("+")
        if features[0] != "faust":
            raise SystemExit(f"unknown variant {args.child!r}")
        _experiment(options, features[1:])
    app = faust.App(args.app_id, **options)
    if args.child == "worker":
        lean_faust(app)
    topics = settings.topics
    if args.child == "worker" or "+raw" in args.child:
        from streams.worker.lean_faust import RawBytes

        topic = app.topic(topics.audience_messages, topics.brand_posts, schema=RawBytes(),
                          partitions=args.partitions)
    else:
        topic = app.topic(topics.audience_messages, topics.brand_posts, key_serializer="raw",
                          value_serializer="raw", partitions=args.partitions)
    result = Path(args.result)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()

    @app.agent(topic, name="bench-faust-path", concurrency=1)
    async def count(stream: Any) -> None:
        n, first_wall, first_cpu = 0, 0.0, 0.0
        async for batch in stream.take_events(BATCH_SIZE, within=BATCH_WITHIN_SECONDS):
            for event in batch:
                n += 1
                _ = event.value, event.message.topic, event.message.offset
                if n == 1:
                    first_wall, first_cpu = time.perf_counter(), time.process_time()
                    if profiler:
                        profiler.enable()
            if n >= args.events:
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
                wall = time.perf_counter() - first_wall
                cpu = time.process_time() - first_cpu
                result.with_suffix(".tmp").write_text(json.dumps(
                    {"events": n - 1, "wall": wall, "cpu": cpu}))
                result.with_suffix(".tmp").rename(result)
                return

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def _experiment(options: dict[str, Any], features: list[str]) -> None:
    """Single parts, to measure each on its own."""
    for feature in features:
        if feature == "cython":
            options["cython_optimizations"] = True
        elif feature == "quietmon":
            from streams.worker.lean_faust import QuietMonitor

            options["Monitor"] = QuietMonitor
        elif feature == "raw":
            pass  # the topic's schema, below
        elif feature == "eager":
            from faust.transport.consumer import Consumer

            from streams.worker.lean_faust import eager_wait_first
            Consumer.wait_first = eager_wait_first  # type: ignore[method-assign]
        else:
            raise SystemExit(f"unknown feature {feature!r}")


def run_child(variant: str, broker: str, partitions: int, events: int, workdir: Path,
              profile: str | None, timeout: float) -> dict[str, Any]:
    app_id = f"bench-faust-path-{variant}-{uuid.uuid4().hex[:6]}"
    result = workdir / f"{app_id}.json"
    log = workdir / f"{app_id}.log"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", variant,
               "--broker", broker, "--partitions", str(partitions), "--events", str(events),
               "--app-id", app_id, "--data-dir", str(workdir / f"{app_id}-data"),
               "--result", str(result)] + (["--profile", profile] if profile else [])
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + timeout
        try:
            while not result.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{variant}: no result (exit {process.poll()})\n"
                                     f"{log.read_text(errors='replace')[-3000:]}")
                time.sleep(0.1)
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    data = json.loads(result.read_text())
    return {"variant": variant, "events": data["events"],
            "rate": data["events"] / data["wall"],
            "cpu_us": data["cpu"] / data["events"] * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--brands", type=int, default=100)
    parser.add_argument("--variants", default="faust,worker")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--profile", metavar="VARIANT",
                        help="also run VARIANT once under cProfile (agent's thread), "
                             "written to /tmp/faust_path-VARIANT.pstats")
    parser.add_argument("--timeout", type=float, default=300.0)
    for name in ("--child", "--broker", "--app-id", "--data-dir", "--result"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-faust-path-"))
    broker = EmbeddedBroker(log_path=str(workdir / "tansu.log"))
    try:
        broker.start()
        settings = settings_from({}, broker=broker.url, partitions=args.partitions)
        create_topics(settings)
        traffic = LiveTraffic(brand_names(args.brands))
        producer = make_plain_producer(broker.url)
        now = time.time()
        for i in range(args.events + 1):
            (topic, key, value), _ = traffic.next(now + i / 2500)
            producer.send(topic, key=key, value=value)
        producer.flush(60)
        producer.close(10)
        print(f"{args.events + 1:,} events produced; load average "
              f"{os.getloadavg()[0]:.2f}", flush=True)
        variants = args.variants.split(",")
        rows = []
        for _ in range(args.repeat):
            for variant in variants:
                row = run_child(variant, broker.url, args.partitions, args.events + 1, workdir,
                                None, args.timeout)
                rows.append(row)
                print(f"  {variant:10s} {row['rate']:8,.0f} events/s  "
                      f"{row['cpu_us']:6.1f} µs CPU/event  (load {os.getloadavg()[0]:.2f})",
                      flush=True)
        if args.profile:
            path = f"/tmp/faust_path-{args.profile}.pstats"
            run_child(args.profile, broker.url, args.partitions, args.events + 1, workdir,
                      path, args.timeout)
            print(f"  profile: {path}")
    finally:
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
