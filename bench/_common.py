"""Shared pieces of the live benches (bench/live.py, bench/brands.py).

One brandpulse worker on a fresh embedded broker (the integration-test harness's `Worker`,
so `--tansu-compat` exactly as in the tests), live traffic stamped with the wall clock,
cheap /metrics sampling and /proc sampling of the worker. Everything listens on 127.0.0.1
and every wait is bounded.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the harness lives in tests/, which is not installed
    sys.path.insert(0, str(ROOT))

from streams.config import settings_from  # noqa: E402
from streams.plumbing.broker import EmbeddedBroker, bootstrap_servers, create_topics  # noqa: E402
from tests.integration.harness import Worker, event_record, parse_metrics  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REPLY_POSTS = "brandpulse_brand_posts_total"
CONSUMED = "brandpulse_events_consumed_total"
ASSIGNED = "brandpulse_assigned_partitions"
_ERROR_LINE = re.compile(r"(Error|Exception|Traceback|crash|Crash|CRITICAL)")
_EXCEPTION_LINE = re.compile(r"^\s*[\w.]+(Error|Exception): \S")


class BenchError(RuntimeError):
    """A bench step could not be done; the message says which and why."""


# -- brands --------------------------------------------------------------------------------
def brand_names(n: int) -> list[str]:
    width = max(4, len(str(n - 1)))
    return [f"b{i:0{width}d}" for i in range(n)]


def handle(brand: str) -> str:
    return f"{brand.capitalize()}Care"


def write_brands(path: Path, names: Iterable[str], sla_seconds: int = 3600) -> Path:
    """A brands TOML: every brand on twitter with one handle, en+fr, calendar-time SLA."""
    lines = ["[defaults]", f"sla_seconds = {sla_seconds}", ""]
    for name in names:
        lines += ["[[brand]]", f'name = "{name}"', 'languages = ["en", "fr"]',
                  f'handles = {{ twitter = ["{handle(name)}"] }}', ""]
    path.write_text("\n".join(lines))
    return path


def partition_spread(names: Iterable[str], partitions: int) -> list[int]:
    """How many brands Kafka's default partitioner puts on each partition."""
    from streams.worker.ownership import brand_partition

    counts = [0] * partitions
    for name in names:
        counts[brand_partition(name, partitions)] += 1
    return counts


# -- traffic -------------------------------------------------------------------------------
AUDIENCE = [
    "@{h} where is my order #{n}? it was due on monday",
    "@{h} my card was charged twice for order {n}, please help",
    "@{h} the app keeps logging me out since the update",
    "@{h} can I change the delivery address for order {n}?",
    "@{h} bonjour, ma commande {n} n'est toujours pas arrivée",
    "@{h} love the new range, is it available in blue?",
    "@{h} still waiting for a refund on {n}, third time asking",
    "@{h} how do I cancel my subscription?",
]
HOT = [  # the brand in trouble: an outage, angry customers
    "@{h} your site is down again, cannot pay, outage for hours #{n}",
    "@{h} this is a disgrace, my account was hacked and nobody answers",
    "@{h} outage still not fixed, I want a refund now ({n})",
    "@{h} panne générale depuis ce matin, c'est inadmissible #{n}",
    "@{h} is there a data breach? I got a strange email about order {n}",
]
REPLIES = [
    "Sorry about that, {a}, we are looking into order {n} right now.",
    "Hi {a}, could you DM us the email on your account? We will sort it out.",
    "Thanks {a}, a refund for {n} is on its way, allow 3 to 5 days.",
    "Bonjour {a}, nous regardons votre commande {n} tout de suite.",
    "We know about the problem, {a}; our team is fixing it, updates soon.",
]
BROADCASTS = [
    "Our spring collection is here: 20% off this weekend only!",
    "Service update: everything is running normally.",
    "Meet the team behind our new app, a short video thread.",
    "Free delivery on every order until Sunday.",
]


def rfc3339(ts: float) -> str:
    """`2026-11-30T05:14:03.123Z` for a Unix time (what live sources stamp)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


@dataclass(slots=True)
class LiveTraffic:
    """Live events stamped now: one hot brand takes `hot_share`, the others share the rest.

    Audience mentions need a reply; `answer_share` of them get one from the brand's handle
    `reply_delay` seconds later (so first responses happen live); a few audience messages
    are shares (no reply needed) and a few brand posts are broadcasts. Deterministic for a
    seed, apart from the wall clock in `created_at`.
    """

    brands: list[str]
    hot_share: float = 0.5
    seed: int = 7
    answer_share: float = 0.7
    reply_delay: tuple[float, float] = (1.0, 5.0)
    broadcast_share: float = 0.03
    share_share: float = 0.05
    max_pending: int = 1_000_000
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    _rng: random.Random = field(init=False)
    _pending: list[tuple[float, int, str, str, str]] = field(init=False, default_factory=list)
    _seq: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.brands:
            raise ValueError("LiveTraffic needs at least one brand")
        self._rng = random.Random(self.seed)

    @property
    def hot(self) -> str:
        return self.brands[0]

    def _brand(self) -> str:
        rng = self._rng
        if len(self.brands) == 1 or rng.random() < self.hot_share:
            return self.brands[0]
        return self.brands[1 + rng.randrange(len(self.brands) - 1)]

    def next(self, now: float) -> tuple[tuple[str, bytes, bytes], str | None]:
        """The next record (topic, key, value) at wall time `now`, and its brand if a reply."""
        rng = self._rng
        self._seq += 1
        n = self._seq
        created = rfc3339(now)
        if self._pending and self._pending[0][0] <= now:
            _due, _, brand, message, author = heapq.heappop(self._pending)
            text = rng.choice(REPLIES).format(a=author, n=n)
            return event_record("brand", id=f"r{self.run}{n}", brand=brand, author=handle(brand),
                                text=text, created_at=created, in_reply_to=message), brand
        brand = self._brand()
        roll = rng.random()
        if roll < self.broadcast_share:
            return event_record("brand", id=f"p{self.run}{n}", brand=brand, author=handle(brand),
                                text=rng.choice(BROADCASTS), created_at=created), None
        author = f"user{rng.randrange(100_000)}"
        if roll < self.broadcast_share + self.share_share:
            return event_record("audience", id=f"s{self.run}{n}", brand=brand, author=author,
                                text=f"RT @{handle(brand)} {rng.choice(BROADCASTS)}",
                                created_at=created, is_share=True), None
        texts = HOT if brand == self.brands[0] else AUDIENCE
        message = f"m{self.run}{n}"
        if rng.random() < self.answer_share and len(self._pending) < self.max_pending:
            due = now + rng.uniform(*self.reply_delay)
            heapq.heappush(self._pending, (due, n, brand, message, author))
        return event_record("audience", id=message, brand=brand, author=author,
                            text=rng.choice(texts).format(h=handle(brand), n=n),
                            created_at=created, kind="mention"), None


def make_plain_producer(broker_url: str) -> Any:
    """kafka-python, acks=1, linger 5 ms, no idempotence (tansu 0.6, docs/tansu.md)."""
    from streams.commands.replay import make_producer

    return make_producer(broker_url, client_id="brandpulse-bench-live")


def make_async_producer(broker_url: str, linger_ms: int = 5) -> Any:
    """aiokafka, acks=1, no idempotence: make_plain_producer's settings, at about half its
    CPU per event (its record batches are built in C). Start it in a loop."""
    from aiokafka import AIOKafkaProducer

    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers(broker_url), acks=1,
                            linger_ms=linger_ms, enable_idempotence=False,
                            client_id="brandpulse-bench-live")


# -- the worker's /metrics and /proc -------------------------------------------------------
def scrape(port: int, timeout: float = 5.0,
           names: Iterable[str] = ()) -> tuple[str, float, float] | None:
    """(text, mid-request monotonic time, seconds taken), None when the worker does not answer.
    `names`: only those samples (`?name[]=`), as Prometheus' own exposition allows."""
    query = "&".join(f"name[]={name}" for name in names)
    before = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics{'?' if query else ''}"
                                    f"{query}",
                                    timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return None
    after = time.monotonic()
    return text, (before + after) / 2, after - before


def samples(text: str, *names: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The harness's parser on only the lines of `names`: a full parse of a 10,000-brand
    page would cost the bench more CPU than the worker spends serving it."""
    prefixes = tuple(f"{name}{{" for name in names) + tuple(f"{name} " for name in names)
    return parse_metrics("\n".join(line for line in text.splitlines()
                                   if line.startswith(prefixes)))


def reply_counts(text: str) -> tuple[dict[str, int], int]:
    """Reply posts counted per brand (all platforms) and the events consumed, from /metrics."""
    per_brand: dict[str, int] = {}
    consumed = 0.0
    for (name, labels), value in samples(text, REPLY_POSTS, CONSUMED).items():
        if name == CONSUMED:
            consumed += value
            continue
        label = dict(labels)
        if label.get("kind") == "reply":
            brand = label.get("brand", "")
            per_brand[brand] = per_brand.get(brand, 0) + int(value)
    return per_brand, int(consumed)


def metric_total(text: str, name: str) -> float:
    return sum(samples(text, name).values())


@dataclass(slots=True)
class ProcSample:
    at: float  # monotonic
    rss_bytes: int
    cpu_seconds: float  # user + system, all threads
    wait_seconds: float  # main thread's time runnable but waiting for a CPU (schedstat)


def proc_sample(pid: int) -> ProcSample | None:
    """VmRSS from /proc/PID/status, utime+stime from /proc/PID/stat, run-queue wait from
    /proc/PID/schedstat (tells a starved worker from an idle one); None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
        schedstat = Path(f"/proc/{pid}/schedstat").read_text().split()
    except OSError:
        return None
    rss = 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) * 1024
            break
    fields = stat.rsplit(")", 1)[1].split()  # the name in (...) may hold spaces
    if fields[0] == "Z":
        return None
    return ProcSample(time.monotonic(), rss, (int(fields[11]) + int(fields[12])) / CLK_TCK,
                      int(schedstat[1]) / 1e9 if len(schedstat) > 1 else 0.0)


def cpu_percent(first: ProcSample | None, last: ProcSample | None) -> float | None:
    if first is None or last is None or last.at <= first.at:
        return None
    return round(100.0 * (last.cpu_seconds - first.cpu_seconds) / (last.at - first.at), 1)


def wait_percent(first: ProcSample | None, last: ProcSample | None) -> float | None:
    """Share of wall time the worker's main thread was runnable but not running."""
    if first is None or last is None or last.at <= first.at:
        return None
    return round(100.0 * (last.wait_seconds - first.wait_seconds) / (last.at - first.at), 1)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- a broker and one worker ---------------------------------------------------------------
class Stack:
    """A fresh tansu broker with the topics, a brands file and `brandpulse worker`s of one
    consumer group (one by default; more share the partitions, as a deployment scales)."""

    def __init__(self, brands: list[str], partitions: int = 6, behaviour: bool = True,
                 keep: bool = False, label: str = "live", workers: int = 1) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"brandpulse-bench-{label}-"))
        self.brands = brands
        self.partitions = partitions
        self.keep = keep
        self.app_id = f"brandpulse-bench-{label}-{uuid.uuid4().hex[:8]}"
        self.broker = EmbeddedBroker(log_path=str(self.workdir / "tansu.log"))
        self.behaviour = behaviour
        self.worker: Worker | None = None
        self.others: list[Worker] = []  # workers 2..N of the same group
        self.workers = workers
        self.exit_code: int | None = None

    def start(self, ready_timeout: float = 180.0) -> float:
        """Broker, topics, worker; returns the seconds until the worker owned every partition."""
        self.broker.start()
        create_topics(settings_from(env={}, broker=self.broker.url, partitions=self.partitions))
        path = write_brands(self.workdir / "brands.toml", self.brands)
        env = {"BRANDPULSE_PARTITIONS": str(self.partitions),
               "BRANDPULSE_ANALYSE_BEHAVIOUR": "1" if self.behaviour else "0"}
        started = time.monotonic()
        self.worker = Worker(self.broker.url, path, self.workdir, self.app_id, env=env)
        self.others = [Worker(self.broker.url, path, self.workdir, self.app_id,
                              name=f"worker-{i}", env=env) for i in range(2, self.workers + 1)]
        deadline = started + ready_timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(f"worker exited with code {self.exit_code} before it was "
                                 f"ready\n{self.log_tail()}")
            pages = [scrape(port, timeout=10) for port in self.ports]
            owned = [metric_total(got[0], ASSIGNED) if got else 0 for got in pages]
            if sum(owned) == self.partitions and all(owned):  # each worker has its share
                return time.monotonic() - started
            time.sleep(0.25)
        raise BenchError(f"worker did not own the {self.partitions} partitions in "
                         f"{ready_timeout:.0f}s\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self.worker is not None
        return self.worker.process.pid

    @property
    def port(self) -> int:
        assert self.worker is not None
        return self.worker.port

    @property
    def all_workers(self) -> list[Worker]:
        return ([self.worker] if self.worker else []) + self.others

    @property
    def ports(self) -> list[int]:
        return [w.port for w in self.all_workers]

    def sample(self) -> ProcSample | None:
        """The workers' processes together: RSS and CPU summed (None if one is gone)."""
        samples = [proc_sample(w.process.pid) for w in self.all_workers]
        if not samples or any(s is None for s in samples):
            return None
        return ProcSample(max(s.at for s in samples if s), sum(s.rss_bytes for s in samples if s),
                          sum(s.cpu_seconds for s in samples if s),
                          sum(s.wait_seconds for s in samples if s))

    def alive(self) -> bool:
        if self.worker is None:
            return False
        for worker in self.all_workers:
            code = worker.process.poll()
            if code is not None:
                self.exit_code = code
                return False
        return True

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return "".join(w.log() for w in self.all_workers)[-chars:]
        except OSError:
            return ""

    def error_lines(self, limit: int = 8) -> list[str]:
        """The worker log's distinct exception lines (`SomeError: message`) first, then its
        last other error-looking lines: what killed or stalled it."""
        try:
            lines = "".join(w.log() for w in self.all_workers).splitlines()
        except OSError:
            return []
        exceptions = list(dict.fromkeys(line.strip()[:300] for line in lines
                                        if _EXCEPTION_LINE.search(line)))
        others = [line.strip()[:300] for line in lines
                  if _ERROR_LINE.search(line) and line.strip()[:300] not in exceptions]
        return (exceptions[:limit] + others[-limit:])[:limit]

    def stop_worker(self) -> None:
        """SIGTERM (Faust flushes and stops), SIGKILL after 20 s; records the exit code."""
        if self.worker is not None:
            self.alive()
            for worker in self.all_workers:
                worker.kill(signal.SIGTERM)

    def close(self) -> None:
        self.stop_worker()
        self.broker.stop()
        if self.keep:
            print(f"logs kept in {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)


def changelog_bytes(broker_url: str, app_id: str, timeout: float = 180.0) -> dict[str, Any]:
    """Records and bytes (key + value) the worker wrote to its `<app-id>-*-changelog` topics.

    Read from the beginning with kafka-python after the run: the broker keeps everything
    (memory storage, no compaction), so this is what a Kafka cluster would have to take in.
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers(broker_url), group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             client_id="brandpulse-bench-changelog",
                             fetch_max_bytes=64 * 1024 * 1024,
                             max_partition_fetch_bytes=16 * 1024 * 1024)
    result: dict[str, Any] = {"topics": {}, "records": 0, "bytes": 0, "max_value_bytes": 0,
                              "complete": True}
    try:
        names = sorted(t for t in consumer.topics()
                       if t.startswith(f"{app_id}-") and t.endswith("-changelog"))
        parts = [TopicPartition(t, p) for t in names
                 for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not parts:
            return result
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        per_topic = {t: {"records": 0, "bytes": 0, "max_value_bytes": 0} for t in names}
        deadline = time.monotonic() + timeout
        empty = 0
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                row = per_topic[tp.topic]
                for record in records:
                    size = len(record.value or b"")
                    row["records"] += 1
                    row["bytes"] += len(record.key or b"") + size
                    row["max_value_bytes"] = max(row["max_value_bytes"], size)
            done = all(consumer.position(tp) >= ends[tp] for tp in parts)
            empty = empty + 1 if not batch else 0
            if (done and empty >= 2) or empty >= 10:  # 5 s with nothing new: all there is
                result["complete"] = done
                break
        else:
            result["complete"] = False
        result["topics"] = per_topic
        for row in per_topic.values():
            result["records"] += row["records"]
            result["bytes"] += row["bytes"]
            result["max_value_bytes"] = max(result["max_value_bytes"], row["max_value_bytes"])
        return result
    finally:
        consumer.close()


# -- numbers -------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; `math.inf` (never seen) sorts last. None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def jsonable(value: Any) -> Any:
    """JSON has no infinity: never-seen latencies become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def seconds_text(value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return "unseen"
    return f"{value:.2f}"


def write_result(prefix: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(jsonable(data), indent=1) + "\n")
    return path

