"""Exact accounting through faults: live traffic with a ledger, kills around a frozen broker,
and every brand's counters compared with what was sent (issue 20).

Why a ledger and a frozen broker: a count is either on the worker's /metrics or it is not,
and "roughly right" hides exactly the losses a restart causes. So the load generator keeps
the truth per brand (messages, first replies, posts by kind, open messages); before each
SIGKILL the broker is stopped (SIGSTOP) so no record moves while every worker is scraped;
then the worker dies, the broker resumes, and the worker comes back. At the end the load
stops, the workers catch up, and each brand's value on its current owner must equal the
ledger: counters are persisted state that continues across owners (no reset, no sum over
lifetimes). Every scrape of the run is kept, to check that no counter ever went down, and
every 15th second's scrape stands in for Prometheus, which must have seen every event.

Used by tests/integration/test_exact_faults.py (each scenario once, short) and
bench/faults.py (each scenario 20 times). Everything listens on 127.0.0.1; every wait and
the load loop are bounded.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import random
import shutil
import signal
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streams.config import settings_from
from streams.plumbing.broker import EmbeddedBroker, create_topics
from streams.wire import format_rfc3339
from tests.integration.harness import Worker, event_record, parse_metrics

Series = tuple[str, frozenset[tuple[str, str]]]

BRANDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
          "cyberdyne", "tyrell", "soylent", "oscorp", "aperture", "monarch", "vandelay",
          "dunder", "nakatomi", "gringotts", "massive", "virtucon")
PARTITIONS = 6
INPUT_TOPICS = 2  # audience messages and brand posts, co-partitioned
PROMETHEUS_INTERVAL = 15.0
MONITOR_INTERVAL = 1.0
READY_TIMEOUT = 120.0
CATCH_UP_TIMEOUT = 120.0
LOAD_MAX_SECONDS = 900.0  # a load left running by a failed step still ends

MESSAGES = "brandpulse_audience_messages_total"
POSTS = "brandpulse_brand_posts_total"
ANSWERED = "brandpulse_first_response_seconds_count"
BACKLOG = "brandpulse_unanswered_messages"
DUPLICATES = "brandpulse_duplicate_events_total"
LAG = "brandpulse_consumer_lag_messages"
ASSIGNED = "brandpulse_assigned_partitions"
#: Per-brand counters that are persisted state: they may never go down, whoever exports them.
MONOTONIC = (MESSAGES, POSTS, ANSWERED, "brandpulse_first_response_seconds_sum",
             "brandpulse_first_response_seconds_bucket", "brandpulse_sla_met_total",
             "brandpulse_sla_breaches_total")
SCRAPED = (*MONOTONIC, BACKLOG, DUPLICATES, LAG, ASSIGNED)
#: What the ledger knows, per brand, and how to read it from /metrics.
QUANTITIES = ("messages", "broadcasts", "replies", "answered", "open")


def handle(brand: str) -> str:
    return f"{brand.capitalize()}Care"


def write_brands(path: Path, brands: tuple[str, ...] = BRANDS) -> Path:
    """One twitter handle per brand; a 1 h SLA, so no breach happens during a run."""
    lines = ["[defaults]", "sla_seconds = 3600", ""]
    for brand in brands:
        lines += ["[[brand]]", f'name = "{brand}"',
                  f'handles = {{ twitter = ["{handle(brand)}"] }}', ""]
    path.write_text("\n".join(lines))
    return path


# -- the load and its ledger ---------------------------------------------------------------
@dataclass
class BrandLedger:
    messages: int = 0  # audience messages, shares included
    needs_reply: int = 0
    answered: int = 0  # messages needing a reply that got a first reply
    broadcasts: int = 0
    replies: int = 0  # brand posts with in_reply_to, second replies included

    @property
    def open(self) -> int:
        return self.needs_reply - self.answered

    def get(self, quantity: str) -> int:
        return int(getattr(self, quantity))


class Load(threading.Thread):
    """Live traffic stamped with the wall clock, paced at `rate` events/s over `brands`.

    Mentions of the brand's handle need a reply; `answer_share` of them get one 1-4 s later,
    and a tenth of those a second reply (a reply post, not a first response). Some audience
    messages are shares (no reply needed) and some brand posts are broadcasts. An event is
    in the ledger from the moment it is handed to the producer: ids are unique, so a
    producer retry that stores a record twice is still one event (the worker de-duplicates
    by id). A send that fails leaves the ledger unsure: `failed` says so and the run is void.
    """

    def __init__(self, broker_url: str, brands: tuple[str, ...] = BRANDS, rate: float = 300.0,
                 seed: int = 20, answer_share: float = 0.6, share_share: float = 0.05,
                 broadcast_share: float = 0.05) -> None:
        super().__init__(name="exact-load", daemon=True)
        self.broker_url = broker_url
        self.brands = brands
        self.rate = rate
        self.answer_share = answer_share
        self.share_share = share_share
        self.broadcast_share = broadcast_share
        self.ledger = {brand: BrandLedger() for brand in brands}
        self.sent = 0
        self.failed = 0
        self.error: BaseException | None = None
        self._rng = random.Random(seed)
        self._run = uuid.uuid4().hex[:6]
        self._due: list[tuple[float, int, str, str, bool]] = []  # reply time, n, brand, id, first
        self._enough = threading.Event()
        self._lock = threading.Lock()

    def stop(self, timeout: float = 90.0) -> None:
        """Stop sending, wait until the broker has every record sent."""
        self._enough.set()
        self.join(timeout)
        if self.is_alive():
            raise RuntimeError("the load did not stop")
        if self.error is not None:
            raise RuntimeError(f"the load failed: {self.error!r}") from self.error

    def run(self) -> None:
        from streams.commands.replay import make_producer

        try:
            # 50 ms linger: tansu reads every stored batch on each fetch (docs/tansu.md).
            producer = make_producer(self.broker_url, linger_ms=50,
                                     client_id="brandpulse-exact-load")
            started = time.monotonic()
            deadline = started + LOAD_MAX_SECONDS
            while not self._enough.is_set() and time.monotonic() < deadline:
                due = int((time.monotonic() - started) * self.rate)
                while self.sent < due:
                    self._send_next(producer)
                self._enough.wait(0.01)
            producer.flush(60)
            producer.close(10)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _failed(self, _exc: BaseException) -> None:
        with self._lock:
            self.failed += 1

    def _send_next(self, producer: Any) -> None:
        now = time.time()
        rng = self._rng
        self.sent += 1
        n = self.sent
        created = format_rfc3339(now)
        if self._due and self._due[0][0] <= now:
            _, _, brand, message, first = heapq.heappop(self._due)
            record = event_record("brand", id=f"{self._run}-r{n}", brand=brand,
                                  author=handle(brand), in_reply_to=message, created_at=created,
                                  text=f"Sorry about that, we are on it (case {n}).")
            self.ledger[brand].replies += 1
            if first:
                self.ledger[brand].answered += 1
                if rng.random() < 0.1:
                    heapq.heappush(self._due, (now + rng.uniform(1, 3), n, brand, message, False))
        else:
            brand = rng.choice(self.brands)
            roll = rng.random()
            if roll < self.broadcast_share:
                record = event_record("brand", id=f"{self._run}-b{n}", brand=brand,
                                      author=handle(brand), created_at=created,
                                      text="Free delivery on every order until Sunday.")
                self.ledger[brand].broadcasts += 1
            elif roll < self.broadcast_share + self.share_share:
                record = event_record("audience", id=f"{self._run}-s{n}", brand=brand,
                                      author=f"fan{n}", created_at=created, is_share=True,
                                      text=f"RT @{handle(brand)} Free delivery until Sunday")
                self.ledger[brand].messages += 1
            else:
                message = f"{self._run}-m{n}"
                record = event_record("audience", id=message, brand=brand, kind="mention",
                                      author=f"user{n}", created_at=created,
                                      text=f"@{handle(brand)} where is my order {n}?")
                self.ledger[brand].messages += 1
                self.ledger[brand].needs_reply += 1
                if rng.random() < self.answer_share:
                    heapq.heappush(self._due, (now + rng.uniform(1, 4), n, brand, message, True))
        topic, key, value = record
        producer.send(topic, key=key, value=value).add_errback(self._failed)


# -- scrapes -------------------------------------------------------------------------------
@dataclass
class Scrape:
    at: float  # monotonic, when the page was read
    worker: str
    samples: dict[Series, float]
    prometheus_round: int | None = None  # one of the simulated 15 s Prometheus scrapes


def brand_of(series: Series) -> str | None:
    return dict(series[1]).get("brand")


def quantity(samples: dict[Series, float], brand: str, what: str) -> float:
    """A ledger quantity read from /metrics: summed over labels (platform, policy, …)."""
    name, kind = {"messages": (MESSAGES, None), "broadcasts": (POSTS, "broadcast"),
                  "replies": (POSTS, "reply"), "answered": (ANSWERED, None),
                  "open": (BACKLOG, None)}[what]
    total = 0.0
    for (sample, labels), value in samples.items():
        label = dict(labels)
        if sample == name and label.get("brand") == brand and \
                (kind is None or label.get("kind") == kind):
            total += value
    return total


def prometheus_increase(values: list[float]) -> float:
    """increase() over the run as Prometheus computes it from one series' samples, from 0:
    a drop is a counter reset, after which the new value counts whole."""
    total = last = 0.0
    for value in values:
        total += value - last if value >= last else value
        last = value
    return total


# -- the result ----------------------------------------------------------------------------
@dataclass
class BrandCheck:
    brand: str
    expected: dict[str, int]
    got: dict[str, float]  # summed over the workers alive at the end
    prometheus: dict[str, float]  # what the simulated 15 s Prometheus saw increase
    owners: int
    duplicates: float

    def diff(self, what: str) -> float:
        return self.got[what] - self.expected[what]


@dataclass
class Decrease:
    series: Series
    before: float
    after: float
    worker: str
    at: float


@dataclass
class FaultResult:
    scenario: str
    seconds: float = 0.0
    events: int = 0
    brands: list[BrandCheck] = field(default_factory=list)
    decreases: list[Decrease] = field(default_factory=list)
    restart_to_ready: list[float] = field(default_factory=list)
    moved_while_frozen: list[str] = field(default_factory=list)
    caught_up: bool = False
    notes: list[str] = field(default_factory=list)

    COUNTERS = ("messages", "broadcasts", "replies", "answered")

    @property
    def lost(self) -> int:
        return int(sum(max(0.0, -b.diff(q)) for b in self.brands for q in self.COUNTERS))

    @property
    def doubled(self) -> int:
        return int(sum(max(0.0, b.diff(q)) for b in self.brands for q in self.COUNTERS))

    @property
    def backlog_diff(self) -> int:
        """Open messages on the workers minus the ledger's, summed as absolute values."""
        return int(sum(abs(b.diff("open")) for b in self.brands))

    @property
    def prometheus_missed(self) -> int:
        """|increase seen by the 15 s Prometheus − ledger|, over brands and counters."""
        return int(sum(abs(b.prometheus[q] - b.expected[q]) for b in self.brands
                       for q in self.COUNTERS))

    def failures(self) -> list[str]:
        problems = [f"{name}: {value}" for name, value in (
            ("lost", self.lost), ("doubled", self.doubled), ("backlog diff", self.backlog_diff),
            ("counter decreases", len(self.decreases)),
            ("missed by the 15 s Prometheus", self.prometheus_missed)) if value]
        problems += [f"{b.brand} exported by {b.owners} workers" for b in self.brands
                     if b.owners != 1]
        if not self.caught_up:
            problems.append("the workers did not catch up (lag 0, /readyz 200, counts still)")
        return problems

    def table(self) -> str:
        """Per brand: expected / got (+doubled, −lost) for each quantity."""
        head = f"{'brand':<10} " + " ".join(f"{q:>18}" for q in QUANTITIES) + \
            f" {'prom≠':>6} {'dups':>6} {'owners':>6}"
        rows = [head]
        for b in self.brands:
            cells = []
            for q in QUANTITIES:
                d = b.diff(q)
                cells.append(f"{b.expected[q]:>6}/{b.got[q]:<6.0f}{d:>+5.0f}" if d else
                             f"{b.expected[q]:>18}")
            prom = sum(abs(b.prometheus[q] - b.expected[q]) for q in self.COUNTERS)
            rows.append(f"{b.brand:<10} " + " ".join(f"{c:>18}" for c in cells) +
                        f" {prom:>6.0f} {b.duplicates:>6.0f} {b.owners:>6}")
        by_family = Counter(fall.series[0] for fall in self.decreases)
        if by_family:
            rows.append("decreases: " + ", ".join(f"{n} {name}" for name, n in by_family.items()))
        for fall in [f for f in self.decreases if not f.series[0].endswith("_bucket")][:6]:
            rows.append(f"  e.g. {fall.series[0]}{{brand={brand_of(fall.series)}}} "
                        f"{fall.before:g} → {fall.after:g} on {fall.worker}")
        rows += self.notes
        return "\n".join(rows)


# -- the run -------------------------------------------------------------------------------
class FaultRun:
    """A fresh broker with the topics, a 20-brand file, workers of one consumer group, the
    load, and a monitor that scrapes every worker each second (each 15th second's scrape
    also stands for Prometheus). Use as a context manager: everything started is stopped."""

    def __init__(self, scenario: str, workdir: Path | None = None, rate: float = 300.0,
                 seed: int = 20, keep: bool = False) -> None:
        self.scenario = scenario
        self.own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"brandpulse-faults-{scenario}-"))
        self.keep = keep
        self.broker = EmbeddedBroker(log_path=str(self.workdir / "tansu.log"))
        self.brands_path = write_brands(self.workdir / "brands.toml")
        self.app_id = f"brandpulse-faults-{uuid.uuid4().hex[:8]}"
        self.rate = rate
        self.seed = seed
        self.load: Load | None = None
        self.workers: list[Worker] = []  # alive (as far as we know)
        self.everyone: list[Worker] = []  # every lifetime, for logs and exit codes
        self.killed: set[int] = set()  # pids we ended on purpose
        self.scrapes: list[Scrape] = []
        self.result = FaultResult(scenario)
        self._scrape_lock = threading.Lock()  # one scrape at a time: their order is the truth
        self._stop_monitor = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="exact-monitor", daemon=True)
        self._started = time.monotonic()
        self._frozen = False
        self._prometheus_rounds = itertools.count(1)

    # lifecycle
    def __enter__(self) -> FaultRun:
        self.broker.start()
        create_topics(settings_from(env={}, broker=self.broker.url, partitions=PARTITIONS))
        self._monitor.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """The processes first: a failing step below must not leave a worker behind."""
        self._stop_monitor.set()
        for worker in self.everyone:
            with contextlib.suppress(Exception):
                worker.kill()
        if self._frozen:
            self.broker.pause(False)
        self.broker.stop(kill=True)
        if self.load is not None and self.load.is_alive():
            with contextlib.suppress(Exception):
                self.load.stop(10)
        self._monitor.join(10)
        if self.own_dir and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def start_worker(self, name: str) -> Worker:
        worker = Worker(self.broker.url, self.brands_path, self.workdir, self.app_id, name,
                        env={"BRANDPULSE_PARTITIONS": str(PARTITIONS)})
        self.workers.append(worker)
        self.everyone.append(worker)
        return worker

    def start_load(self) -> None:
        self.load = Load(self.broker.url, rate=self.rate, seed=self.seed)
        self.load.start()

    def sleep(self, seconds: float) -> None:
        """Let the load run; a worker that dies on its own ends the run early."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._check_alive()
            time.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    # scrapes
    def scrape(self, worker: Worker, prometheus_round: int | None = None) -> Scrape | None:
        query = "&".join(f"name[]={name}" for name in SCRAPED)
        with self._scrape_lock:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics?{query}",
                                            timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                return None
            got = Scrape(time.monotonic(), _name(worker), parse_metrics(text), prometheus_round)
            self.scrapes.append(got)
            return got

    def scrape_all(self, prometheus: bool = False) -> list[Scrape]:
        """Every live worker once; `prometheus`: as one round of the 15 s Prometheus."""
        round_ = next(self._prometheus_rounds) if prometheus else None
        return [s for w in list(self.workers) if (s := self.scrape(w, round_)) is not None]

    def _watch(self) -> None:
        next_prometheus = time.monotonic() + PROMETHEUS_INTERVAL
        while not self._stop_monitor.wait(MONITOR_INTERVAL):
            prometheus = time.monotonic() >= next_prometheus
            if prometheus:
                next_prometheus += PROMETHEUS_INTERVAL
            self.scrape_all(prometheus)

    # readiness
    @staticmethod
    def ready(worker: Worker) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/readyz",
                                        timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Until every live worker answers /readyz 200 and together they own every input
        partition, each some; returns the seconds waited."""
        started = time.monotonic()

        def settled() -> bool:
            self._check_alive()
            owned = [w.value(ASSIGNED) or 0 for w in self.workers]  # None: not answering
            return (sum(owned) == PARTITIONS and all(owned)
                    and all(self.ready(w) for w in self.workers))

        self._wait(settled, timeout, "every worker ready, sharing the partitions")
        return time.monotonic() - started

    # fault operations
    def kill_frozen(self, worker: Worker, settle: float = 1.0) -> None:
        """Freeze the broker, scrape every worker (the truth just before the kill), SIGKILL
        the worker, resume the broker. Two scrapes `settle` s apart while frozen: anything
        that moved between them moved without the broker (timers, buffered events). Seen so
        far: no counter, but the backlog gauge, which follows the 1-s snapshot tick; so the
        second scrape is the truth."""
        self.broker.pause(True)
        self._frozen = True
        try:
            first = {s.worker: s.samples for s in self.scrape_all()}
            time.sleep(settle)
            truth = {s.worker: s.samples for s in self.scrape_all()}
            for name, samples in truth.items():
                before = first.get(name, {})
                moved = sorted(f"{k[0]}{{brand={brand_of(k)}}} {before.get(k, 0):g}→{v:g}"
                               for k, v in samples.items()
                               if k[0] in (*MONOTONIC, BACKLOG) and before.get(k) != v)
                if moved:
                    self.result.moved_while_frozen.append(
                        f"{name}: {len(moved)} series moved in {settle:g} s, e.g. {moved[:3]}")
            self.killed.add(worker.process.pid)
            worker.kill(signal.SIGKILL)
            self.workers.remove(worker)
        finally:
            self.broker.pause(False)
            self._frozen = False

    def stop_gracefully(self, worker: Worker) -> None:
        """SIGTERM: Faust commits and leaves the group (SIGKILL after 20 s)."""
        self.killed.add(worker.process.pid)
        worker.kill(signal.SIGTERM)
        self.workers.remove(worker)

    def restart(self, name: str) -> Worker:
        """A new lifetime of a worker (its own log); records the seconds until ready."""
        started = time.monotonic()
        worker = self.start_worker(name)
        self.wait_ready()
        self.result.restart_to_ready.append(round(time.monotonic() - started, 1))
        return worker

    # the end
    def finish(self) -> FaultResult:
        """Stop the load, wait until the workers caught up, compare with the ledger."""
        assert self.load is not None
        self.load.stop()
        if self.load.failed:
            raise RuntimeError(f"{self.load.failed} sends failed: the ledger is unsure")
        self.result.caught_up = self._wait_caught_up()
        final = self.scrape_all(prometheus=True)
        self._stop_monitor.set()
        self._monitor.join(10)
        self.result.seconds = round(time.monotonic() - self._started, 1)
        self.result.events = self.load.sent
        self.result.brands = self._check_brands(final)
        self.result.decreases = self._decreases()
        for worker in self.everyone:
            code = worker.process.poll()
            if code is not None and worker.process.pid not in self.killed:
                self.result.notes.append(f"{_name(worker)} exited by itself with {code}")
        return self.result

    def _wait_caught_up(self) -> bool:
        """Lag 0 on every input partition, /readyz 200, and no count moving for 2 s (the
        lag gauge is refreshed every 5 s, so it alone could be stale)."""
        deadline = time.monotonic() + CATCH_UP_TIMEOUT
        previous: dict[tuple[str, Series], float] | None = None
        while time.monotonic() < deadline:
            pages = self.scrape_all()
            lags = [v for s in pages for k, v in s.samples.items() if k[0] == LAG]
            counts = {(s.worker, k): v for s in pages for k, v in s.samples.items()
                      if k[0] in MONOTONIC}
            if (len(pages) == len(self.workers) and len(lags) == PARTITIONS * INPUT_TOPICS
                    and not any(lags) and all(self.ready(w) for w in self.workers)
                    and counts == previous):
                return True
            previous = counts
            time.sleep(2.0)
        return False

    def _check_brands(self, final: list[Scrape]) -> list[BrandCheck]:
        assert self.load is not None
        merged: dict[Series, float] = {}
        owners: dict[str, set[str]] = {}
        for scrape in final:
            for key, value in scrape.samples.items():
                merged[key] = merged.get(key, 0.0) + value  # sum by (brand, …): as a dashboard
                if key[0] in (MESSAGES, BACKLOG) and (brand := brand_of(key)):
                    owners.setdefault(brand, set()).add(scrape.worker)
        seen = self._prometheus_view()
        checks = []
        for brand, ledger in self.load.ledger.items():
            checks.append(BrandCheck(
                brand, {q: ledger.get(q) for q in QUANTITIES},
                {q: quantity(merged, brand, q) for q in QUANTITIES},
                {q: quantity(seen, brand, q) for q in QUANTITIES},
                len(owners.get(brand, ())), quantity_dups(merged, brand)))
        return checks

    def _prometheus_view(self) -> dict[Series, float]:
        """Per series, increase() over the run from the 15 s scrapes only: at each scrape
        the series summed over the workers exporting it (a scrape with none is a gap)."""
        rounds: dict[int, dict[Series, float]] = {}
        for scrape in self.scrapes:
            if scrape.prometheus_round is None:
                continue
            round_ = rounds.setdefault(scrape.prometheus_round, {})
            for key, value in scrape.samples.items():
                if key[0] in MONOTONIC:
                    round_[key] = round_.get(key, 0.0) + value
        history: dict[Series, list[float]] = {}
        for number in sorted(rounds):
            for key, value in rounds[number].items():
                history.setdefault(key, []).append(value)
        return {key: prometheus_increase(values) for key, values in history.items()}

    def _decreases(self) -> list[Decrease]:
        """Every scrape in the order it was read: a persisted counter below the value last
        exported for it, by any worker, went down (a reset to 0 counts once, not at every
        scrape until it climbs back)."""
        last: dict[Series, float] = {}
        found = []
        for scrape in self.scrapes:
            for key, value in scrape.samples.items():
                if key[0] in MONOTONIC:
                    if value < last.get(key, 0.0):
                        found.append(Decrease(key, last[key], value, scrape.worker, scrape.at))
                    last[key] = value
        return found

    # helpers
    def _check_alive(self) -> None:
        for worker in self.workers:
            code = worker.process.poll()
            if code is not None:
                raise AssertionError(f"{_name(worker)} exited with {code}\n"
                                     f"{worker.log()[-3000:]}")

    def _wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.25)
        tails = "\n".join(f"--- {_name(w)}\n{w.log()[-1500:]}" for w in self.workers)
        raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")

    def logs(self) -> Iterator[tuple[str, str]]:
        for worker in self.everyone:
            yield _name(worker), worker.log()


def quantity_dups(samples: dict[Series, float], brand: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == DUPLICATES and dict(labels).get("brand") == brand)


def _name(worker: Worker) -> str:
    return worker.log_path.stem  # the harness names the log after the worker


# -- the scenarios -------------------------------------------------------------------------
@dataclass(frozen=True)
class Timing:
    """Seconds of load before the first fault, between faults, and after the last."""

    warmup: float = 5.0
    between: float = 5.0
    tail: float = 5.0


def baseline(run: FaultRun, timing: Timing) -> None:
    """The control: one worker, no fault. Exact here, or the measurement itself is wrong."""
    run.start_worker("w1")
    run.wait_ready()
    run.start_load()
    run.sleep(timing.warmup + timing.tail)


def sigkills(run: FaultRun, timing: Timing, kills: int = 3) -> None:
    """(a) One worker SIGKILLed `kills` times under load, each time restarted."""
    worker = run.start_worker("w1")
    run.wait_ready()
    run.start_load()
    run.sleep(timing.warmup)
    for life in range(2, kills + 2):
        run.kill_frozen(worker)
        worker = run.restart(f"w1.{life}")
        run.sleep(timing.between if life <= kills else timing.tail)


def scale_down(run: FaultRun, timing: Timing) -> None:
    """(b) Two workers, one SIGKILLed under load: the survivor takes over its partitions."""
    run.start_worker("w1")
    lost = run.start_worker("w2")
    run.wait_ready()
    run.start_load()
    run.sleep(timing.warmup)
    killed_at = time.monotonic()
    run.kill_frozen(lost)
    run.wait_ready()
    run.result.restart_to_ready.append(round(time.monotonic() - killed_at, 1))
    run.sleep(timing.tail)


def rolling_restart(run: FaultRun, timing: Timing) -> None:
    """(c) Two workers restarted one after the other (SIGTERM, start, ready), under load."""
    first, second = run.start_worker("w1"), run.start_worker("w2")
    run.wait_ready()
    run.start_load()
    run.sleep(timing.warmup)
    for worker in (first, second):
        run.stop_gracefully(worker)
        run.restart(f"{_name(worker)}.2")
        run.sleep(timing.between if worker is first else timing.tail)


SCENARIOS: dict[str, Callable[[FaultRun, Timing], None]] = {
    "baseline": baseline, "sigkills": sigkills, "scale-down": scale_down,
    "rolling-restart": rolling_restart}
FAULTS = ("sigkills", "scale-down", "rolling-restart")


def run_scenario(scenario: str, timing: Timing = Timing(), rate: float = 300.0, seed: int = 20,
                 workdir: Path | None = None, keep: bool = False) -> FaultResult:
    """One run of a scenario on a fresh broker; the result says what was lost or doubled.
    The logs of a run that failed or could not be measured are kept (the path is in its
    notes, or in the exception's)."""
    with FaultRun(scenario, workdir, rate=rate, seed=seed, keep=keep) as run:
        try:
            SCENARIOS[scenario](run, timing)
            result = run.finish()
        except Exception as exc:
            run.keep = True
            exc.add_note(f"logs kept in {run.workdir}")
            raise
        if result.failures():
            run.keep = True
            result.notes.append(f"logs kept in {run.workdir}")
        return result

