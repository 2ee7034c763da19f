"""Events per second of one brandpulse worker, next to the ceilings it cannot beat.

Same events, same embedded broker, same run, uvloop everywhere:

  (a) raw aiokafka   an AIOKafkaConsumer (no group) reading both input topics: the client;
  (b) trivial Faust  an agent that only counts events in a dict: Faust's per-event cost;
  (c) brandpulse     one full worker (`streams.cli.run_worker`): decode, SLA and robot
                     state, table changelog, Prometheus metrics.

A rate is (count at the end - count first seen) / (time between the two), so group join,
assignment and the first fetch are left out. Each Faust stage runs in its own child
process (this script with `--child`), so event loops and Faust's global state never mix.
See docs/benchmarks.md for what the numbers mean and how they were obtained.

    python bench/throughput.py [--events 200000] [--partitions 6] [--json]
                               [--profile /tmp/brandpulse-worker.pstats]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import pstats
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

from streams.config import Settings, TopicNames, settings_from
from streams.plumbing.broker import EmbeddedBroker, create_topics, free_port

EVENTS_PER_HOUR_PER_RATE = 5.0  # scenario events per hour per unit of rate_per_hour (3 brands)
SESSION_TIMEOUT_SECONDS = 10.0  # short, so the (unmeasured) group join does not drag on
HEARTBEAT_SECONDS = 1.0
CONSUMED = re.compile(r"^brandpulse_events_consumed_total\{[^}]*\}\s+(\S+)$", re.MULTILINE)


class StageError(RuntimeError):
    """A stage did not finish; the message says which, how far it got and why."""


@dataclass(slots=True)
class Stage:
    """One measured stage: `events` counted over `seconds` after `first_count` was seen."""

    name: str
    events: int
    seconds: float
    first_count: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 and self.events > 0 else math.nan


def measured(name: str, first: tuple[float, int], last: tuple[float, int], note: str = "") -> Stage:
    """Rate between two (time, count) observations; the first one's backlog is excluded."""
    return Stage(name, last[1] - first[1], last[0] - first[0], first[1], note)


# -- children -----------------------------------------------------------------------------
def _use_uvloop() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def child_trivial(args: argparse.Namespace) -> None:
    """Stage (b): the cheapest Faust agent on the same topics, timed inside the process."""
    import faust

    _use_uvloop()
    topics = TopicNames()
    app = faust.App(args.app_id, broker=args.broker, store="memory://", datadir=args.data_dir,
                    web_enabled=False, topic_partitions=args.partitions,
                    consumer_auto_offset_reset="earliest", stream_wait_empty=False,
                    broker_session_timeout=SESSION_TIMEOUT_SECONDS,
                    broker_heartbeat_interval=HEARTBEAT_SECONDS)
    topic = app.topic(topics.audience_messages, topics.brand_posts, key_serializer="raw",
                      value_serializer="raw", partitions=args.partitions)
    counts: dict[str, int] = {}
    result = Path(args.result)

    @app.agent(topic, name="bench-count", concurrency=1)
    async def count(stream: Any) -> None:
        n, first = 0, 0.0
        async for event in stream.events():
            topic_name = event.message.topic
            counts[topic_name] = counts.get(topic_name, 0) + 1
            n += 1
            if n == 1:
                first = time.perf_counter()
            elif n == args.events:
                seconds = time.perf_counter() - first
                result.with_suffix(".tmp").write_text(json.dumps(
                    {"seconds": seconds, "first_count": 1, "last_count": n, "counts": counts,
                     "loop": type(asyncio.get_running_loop()).__module__}))
                result.with_suffix(".tmp").rename(result)

    faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()


def child_worker(args: argparse.Namespace) -> None:
    """Stage (c): the production entry point, optionally under cProfile (dumped on exit)."""
    from streams.cli import run_worker
    from streams.sources.synthetic import scenario_brands

    settings = bench_settings(args.broker, args.partitions, app_id=args.app_id,
                              data_dir=args.data_dir, metrics_port=args.metrics_port,
                              metrics_host="127.0.0.1",
                              analyse_behaviour=args.behaviour == "on")
    if not args.profile:
        run_worker(settings, scenario_brands(), loglevel="warning")
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        run_worker(settings, scenario_brands(), loglevel="warning")
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


def bench_settings(broker: str, partitions: int, **overrides: Any) -> Settings:
    """Worker settings for the bench: tansu's short session, but normal producer batches.

    The end-marker records of TANSU_COMPAT only keep table *recovery* exact on tansu;
    nothing is recovered here, so they are left out.
    """
    return settings_from(env={}, broker=broker, partitions=partitions,
                         internal_key=secrets.token_hex(32),  # signed shares, as in production
                         session_timeout_seconds=SESSION_TIMEOUT_SECONDS,
                         heartbeat_interval_seconds=HEARTBEAT_SECONDS, **overrides)


# -- parent -------------------------------------------------------------------------------
def bench_events(n: int, rate_per_hour: float, seed: int) -> list[Any]:
    """Exactly `n` scenario events: the generator is sized by event-time duration, not count."""
    from streams.sources.synthetic import generate_scenario

    hours = max(1.0, 1.1 * n / (EVENTS_PER_HOUR_PER_RATE * rate_per_hour))
    while True:
        # The backlog ends before the wall clock and starts at a midnight: within the
        # retention horizon, so no event is late (or time travel) by the wall clock.
        start = (time.time() - (hours + 1.0) * 3600.0) // 86400.0 * 86400.0
        events = generate_scenario(start, hours * 3600.0, seed=seed, rate_per_hour=rate_per_hour)
        if len(events) >= n:
            return events[:n]
        hours *= 1.5 * n / max(1, len(events))


async def raw_consume(bootstrap: str, topics: TopicNames, n: int, timeout: float) -> Stage:
    """Stage (a): how fast the bare client drains both topics from the beginning."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topics.audience_messages, topics.brand_posts,
                                bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                client_id="brandpulse-bench-raw")
    deadline = time.monotonic() + timeout
    await consumer.start()
    try:
        count, first = 0, None
        while count < n:
            if time.monotonic() > deadline:
                raise StageError(f"(a) raw aiokafka: {count:,}/{n:,} events after {timeout:.0f}s")
            batch = await consumer.getmany(timeout_ms=200)
            if batch:
                count += sum(len(records) for records in batch.values())
                if first is None:
                    first = (time.perf_counter(), count)
        assert first is not None
        return measured("raw aiokafka", first, (time.perf_counter(), count),
                        "getmany() batches")
    finally:
        await consumer.stop()


class Child:
    """A `--child` subprocess of this script, logging to a file, always stopped."""

    def __init__(self, mode: str, workdir: Path, broker: str, partitions: int, events: int,
                 **extra: str) -> None:
        self.mode = mode
        self.app_id = f"brandpulse-bench-{mode}-{uuid.uuid4().hex[:8]}"
        self.log_path = workdir / f"{self.app_id}.log"
        self.result = workdir / f"{self.app_id}.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", mode,
                   "--broker", broker, "--partitions", str(partitions), "--events", str(events),
                   "--app-id", self.app_id, "--data-dir", str(workdir / f"{self.app_id}-data"),
                   "--result", str(self.result)]
        for name, value in extra.items():
            command += [f"--{name.replace('_', '-')}", value]
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def check_alive(self, what: str) -> None:
        if self.process.poll() is not None:
            raise StageError(f"{what}: child exited with code {self.process.returncode}\n"
                             f"{self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (Faust stops cleanly, a profile gets written), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._log.close()


def trivial_stage(child: Child, n: int, timeout: float) -> Stage:
    """Wait (bounded) for the child's own first-to-Nth timing."""
    deadline = time.monotonic() + timeout
    while not child.result.exists():
        child.check_alive("(b) trivial Faust agent")
        if time.monotonic() > deadline:
            raise StageError(f"(b) trivial Faust agent: not {n:,} events after {timeout:.0f}s"
                             f"\n{child.log_tail()}")
        time.sleep(0.05)
    data = json.loads(child.result.read_text())
    return Stage("trivial Faust agent", data["last_count"] - data["first_count"],
                 data["seconds"], data["first_count"],
                 f"per event, timed in the child, {data['loop']} loop")


def consumed_total(port: int) -> int | None:
    """Sum of `brandpulse_events_consumed_total` over topics, None while not serving."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            text = response.read().decode()
    except OSError:
        return None
    return int(sum(float(value) for value in CONSUMED.findall(text)))


def worker_stage(child: Child, port: int, n: int, timeout: float, poll: float,
                 name: str = "brandpulse worker") -> Stage:
    """Poll the worker's /metrics every `poll` s; a sample is stamped mid-request."""
    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    count = 0
    tick = time.perf_counter()
    while True:
        child.check_alive(f"(c) {name}")
        if time.monotonic() > deadline:
            raise StageError(f"(c) {name}: {count:,}/{n:,} events after {timeout:.0f}s\n"
                             f"{child.log_tail()}")
        before = time.perf_counter()
        sample = consumed_total(port)
        at = (before + time.perf_counter()) / 2
        if sample:
            count = sample
            if first is None:
                first = (at, count)
            if count >= n:
                note = f"/metrics polled every {poll * 1000:.0f} ms"
                return measured(name, first, (at, count), note)
        tick += poll
        time.sleep(max(0.0, tick - time.perf_counter()))


def hotspots(path: str, limit: int = 15) -> list[dict[str, Any]]:
    """The functions of `streams/` with the most own time in a pstats file."""
    stats: dict[Any, Any] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    rows = [{"function": f"{Path(file).name}:{line} {func}", "ncalls": nc,
             "tottime": round(tt, 3), "cumtime": round(ct, 3)}
            for (file, line, func), (_cc, nc, tt, ct, _callers) in stats.items()
            if f"{os.sep}streams{os.sep}" in file]
    return sorted(rows, key=lambda row: row["tottime"], reverse=True)[:limit]


@dataclass(slots=True)
class Report:
    """Everything one run measured, with the parameters needed to compare runs."""

    date: str
    events: int
    partitions: int
    rate_per_hour: float
    batch_size: int
    batch_within_seconds: float
    broker: str
    python: str
    uvloop: str
    faust: str
    aiokafka: str
    cpus: int | None
    poll_ms: float
    produce_seconds: float = 0.0
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratios: dict[str, float] = field(default_factory=dict)
    hotspots: list[dict[str, Any]] = field(default_factory=list)

    def add(self, key: str, stage: Stage) -> None:
        self.stages[key] = {**asdict(stage), "rate": round(stage.rate, 1)}


def run(args: argparse.Namespace) -> Report:
    """Broker up, events produced once, then stages a, b, c (and a profiled c) in turn."""
    import uvloop

    from streams.commands.replay import replay

    defaults = Settings()
    report = Report(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), events=args.events,
        partitions=args.partitions, rate_per_hour=args.rate_per_hour,
        batch_size=defaults.batch_size, batch_within_seconds=defaults.batch_within_seconds,
        broker=f"tansu {tansu_version()} (embedded, memory storage, 127.0.0.1)",
        python=platform.python_version(), uvloop=version("uvloop"),
        faust=version("faust-streaming"), aiokafka=version("aiokafka"), cpus=os.cpu_count(),
        poll_ms=args.poll * 1000)
    workdir = Path(tempfile.mkdtemp(prefix="brandpulse-bench-"))
    broker = EmbeddedBroker(log_path=str(workdir / "tansu.log"))
    children: list[Child] = []
    try:
        broker.start()
        settings = bench_settings(broker.url, args.partitions)
        create_topics(settings)
        say(args, f"producing {args.events:,} events ...")
        events = bench_events(args.events, args.rate_per_hour, args.seed)
        produced = replay(events, broker.url, settings.topics, speed=None, progress=False)
        report.produce_seconds = round(produced.elapsed_seconds, 2)
        if produced.failed or produced.delivered != args.events:
            raise StageError(f"produce: {produced.delivered:,} delivered, {produced.failed} "
                             f"failed: {produced.errors}")
        del events
        gc.collect()

        say(args, "(a) raw aiokafka ...")
        report.add("a", uvloop.run(raw_consume(f"127.0.0.1:{broker.port}", settings.topics,
                                               args.events, args.timeout)))
        say(args, "(b) trivial Faust agent ...")
        child = Child("trivial", workdir, broker.url, args.partitions, args.events)
        children.append(child)
        report.add("b", trivial_stage(child, args.events, args.timeout))
        child.stop()

        # (c) SLA and conversation metrics only; (d) the default production configuration,
        # with the behaviour analysis (sentiment, crisis, tone-deaf, templated, topics).
        runs = [("c", None, "off", "worker: SLA + robot"),
                ("d", None, "on", "worker: + behaviour")]
        if args.profile:
            runs.append(("d_profiled", args.profile, "on", "worker (cProfile)"))
        for key, profile, behaviour, name in runs:
            say(args, f"({key}) {name} ...")
            port = free_port()
            extra = {"metrics_port": str(port), "behaviour": behaviour} | (
                {"profile": profile} if profile else {})
            child = Child("worker", workdir, broker.url, args.partitions, args.events, **extra)
            children.append(child)
            report.add(key, worker_stage(child, port, args.events, args.timeout, args.poll,
                                         name))
            child.stop()
            if profile:
                if not Path(profile).exists():
                    raise StageError(f"profile: {profile} was not written\n{child.log_tail()}")
                report.hotspots = hotspots(profile)
        a, b, c, d = (report.stages[k]["rate"] for k in "abcd")
        report.ratios = {"c/a": round(c / a, 4), "c/b": round(c / b, 4),
                         "d/a": round(d / a, 4), "d/b": round(d / b, 4)}
        return report
    finally:
        for child in children:
            child.stop()
        broker.stop()
        if args.keep:
            print(f"logs kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def tansu_version() -> str:
    from streams.plumbing.broker import tansu_binary

    try:
        out = subprocess.run([str(tansu_binary()), "--version"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return "?"
    return out.split()[-1] if out.split() else "?"


def say(args: argparse.Namespace, message: str) -> None:
    if not args.json:
        print(message, file=sys.stderr, flush=True)


def format_report(r: Report) -> str:
    lines = [
        f"brandpulse throughput — {r.date}",
        f"  {r.events:,} events (synthetic scenario, {r.rate_per_hour:g} messages/h/brand), "
        f"{r.partitions} partitions per input topic",
        f"  broker {r.broker}",
        f"  Python {r.python}, uvloop {r.uvloop}, faust-streaming {r.faust}, "
        f"aiokafka {r.aiokafka}, {r.cpus} CPUs",
        f"  worker: batch {r.batch_size} within {r.batch_within_seconds:g} s, default "
        f"producer batch size, session {SESSION_TIMEOUT_SECONDS:g} s / heartbeat "
        f"{HEARTBEAT_SECONDS:g} s",
        f"  produced once in {r.produce_seconds:.1f} s "
        f"({r.events / max(r.produce_seconds, 1e-9):,.0f} events/s, kafka-python)",
        "",
    ]
    for key, stage in r.stages.items():
        lines.append(f"  {'(' + key + ')':<12} {stage['name']:<30} {stage['rate']:>9,.0f} "
                     f"events/s  ({stage['events']:,} events in {stage['seconds']:.2f} s; "
                     f"{stage['note']})")
    lines += ["", "  " + "   ".join(f"{k} = {v:.3f}" for k, v in r.ratios.items())]
    if r.hotspots:
        lines += ["", "  streams/ hotspots under cProfile (own time, s):"]
        lines += [f"    {h['tottime']:8.3f} {h['cumtime']:8.3f} {h['ncalls']:>9} {h['function']}"
                  for h in r.hotspots]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="N (default 200000)")
    parser.add_argument("--partitions", type=int, default=6, help="per input topic (6)")
    parser.add_argument("--rate-per-hour", type=float, default=1000.0,
                        help="scenario audience messages per hour per brand (1000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds each stage may take, group join included (300)")
    parser.add_argument("--poll", type=float, default=0.05,
                        help="seconds between /metrics polls in stage c (0.05)")
    parser.add_argument("--profile", metavar="PSTATS",
                        help="also run stage c under cProfile, write stats here")
    parser.add_argument("--json", action="store_true", help="print one JSON line only")
    parser.add_argument("--keep", action="store_true", help="keep the logs directory")
    child = parser.add_argument_group("internal (child processes)")
    child.add_argument("--child", choices=["trivial", "worker"], help=argparse.SUPPRESS)
    for name in ("--broker", "--app-id", "--data-dir", "--result"):
        child.add_argument(name, help=argparse.SUPPRESS)
    child.add_argument("--metrics-port", type=int, default=0, help=argparse.SUPPRESS)
    child.add_argument("--behaviour", choices=["on", "off"], default="on",
                       help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.events < 10_000:
        parser.error("--events must be at least 10000 (the first fetch is not timed)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child == "trivial":
        child_trivial(args)
        return 0
    if args.child == "worker":
        child_worker(args)
        return 0

    def terminated(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # unwinds through run()'s cleanup

    signal.signal(signal.SIGTERM, terminated)
    try:
        report = run(args)
    except StageError as exc:
        print(f"throughput bench failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(report)) if args.json else format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
