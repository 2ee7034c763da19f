"""The broker goes away for 20 s and comes back (issue 8, "Broker restarts").

tansu keeps everything in memory, so a restarted tansu is an empty broker: the worker must
say the broker is down while it is (brandpulse_broker_up 0), then exit 75 with one line,
and the worker its supervisor starts next must begin empty and count what comes after the
restart exactly once. A paused tansu (SIGSTOP) keeps its state, like a durable Kafka
behind a network partition: the worker must ride it out alone, without losing or double
counting anything.
"""

from __future__ import annotations

import os
import re
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient

from streams.config import settings_from
from streams.plumbing.broker import EmbeddedBroker, create_topics
from streams.worker.health import EX_TEMPFAIL, PROBE_INTERVAL_SECONDS

from .harness import RECENT_DAY, Worker, event_record, wait_until

pytestmark = pytest.mark.broker
STARTUP = 60.0
OUTAGE_SECONDS = 20.0
EXIT_LINE = re.compile(r"^brandpulse worker: the broker lost .+; exiting so the supervisor "
                       r"restarts it from the broker's state$")


def message(brand: str, id: str, minute: int) -> tuple[str, bytes, bytes]:
    handle = {"acme": "AcmeSupport", "globex": "Globex"}[brand]
    return event_record("audience", id=id, brand=brand, author="bob", text=f"@{handle} hi",
                        created_at=f"{RECENT_DAY}T10:{minute:02d}:00Z")


def reply(brand: str, id: str, to: str, minute: int) -> tuple[str, bytes, bytes]:
    return event_record("brand", id=id, brand=brand, author="support", text="hello",
                        created_at=f"{RECENT_DAY}T10:{minute:02d}:00Z", in_reply_to=to)


def produce(broker: EmbeddedBroker, records: list[tuple[str, bytes, bytes]]) -> None:
    # One producer per call, closed at once: no client of the test outlives the broker.
    from .harness import produce as send

    send(broker.url, records)


def audience(worker: Worker, brand: str) -> float | None:
    return worker.value("brandpulse_audience_messages_total", brand=brand, platform="twitter",
                        requires_reply="true")


def committed(broker: EmbeddedBroker, group: str) -> int:
    """How many input partitions have an offset committed by the group."""
    admin = KafkaAdminClient(bootstrap_servers=broker.url.split("://", 1)[1],
                             request_timeout_ms=5000)
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
        return sum(1 for o in offsets.values() if o.offset >= 0)
    finally:
        admin.close()


def probe(worker: Worker, path: str) -> int:
    """HTTP status of /healthz or /readyz (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def start_ready(broker: EmbeddedBroker, brands: Path, workdir: Path, app_id: str,
                name: str) -> Worker:
    worker = Worker(broker.url, brands, workdir, app_id, name)
    wait_until(lambda: worker.value("brandpulse_assigned_partitions") == 6
               and worker.value("brandpulse_broker_up") == 1, STARTUP,
               f"{name}: partitions and broker_up", worker.log)
    wait_until(lambda: probe(worker, "/readyz") == 200, STARTUP, f"{name}: /readyz",
               worker.log)
    return worker


def wait_down(broker: EmbeddedBroker, worker: Worker) -> float:
    """Seconds until the worker's gauge says the broker is down (bounded: 10 s); then
    readiness is refused while liveness holds (a supervisor must not kill it for that)."""
    started = time.monotonic()
    wait_until(lambda: worker.value("brandpulse_broker_up") == 0, 10,
               "brandpulse_broker_up to drop to 0", worker.log)
    elapsed = time.monotonic() - started
    wait_until(lambda: probe(worker, "/readyz") == 503, 10, "/readyz to refuse", worker.log)
    assert probe(worker, "/healthz") == 200
    return elapsed


def test_restarted_empty_broker_exits_75_and_the_next_worker_starts_consistent(
        broker: EmbeddedBroker, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    first = start_ready(broker, brands_file, tmp_path, app_id, "first")
    second: Worker | None = None
    try:
        produce(broker, [message("acme", "m1", 0), message("globex", "g1", 1)])
        wait_until(lambda: audience(first, "acme") == 1 and audience(first, "globex") == 1,
                   20, "events before the outage", first.log)
        wait_until(lambda: committed(broker, app_id) >= 2, 20, "committed offsets", first.log)
        time.sleep(PROBE_INTERVAL_SECONDS + 1)  # the worker's probe has seen the commits

        broker.stop(kill=True)
        stopped = time.monotonic()
        down_after = wait_down(broker, first)
        assert down_after < 10
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
        assert first.process.poll() is None, "the worker must ride out the outage itself"
        assert first.value("brandpulse_broker_up") == 0

        # Same port, empty, its topics re-created by the operator. The worker is paused
        # meanwhile: its clients would otherwise race the operator and have this broker
        # auto-create the input topics with its default partition count.
        os.kill(first.process.pid, signal.SIGSTOP)
        try:
            broker.start()
            create_topics(settings_from(broker=broker.url))
        finally:
            os.kill(first.process.pid, signal.SIGCONT)
        code = wait_until(lambda: first.process.poll(), 45, "the worker to exit", first.log)
        first.kill()
        assert code == EX_TEMPFAIL, first.log()[-3000:]
        said = [line for line in first.log().splitlines()
                if line.startswith("brandpulse worker: ") and "metrics on" not in line]
        assert len(said) == 1 and EXIT_LINE.match(said[0]), said
        assert first.log().rstrip().endswith(said[0])

        # What the supervisor does next: the same command again. It starts from the
        # broker's (empty) state and counts what is produced after the restart once.
        produce(broker, [message("acme", "m2", 30), reply("acme", "r2", "m2", 32),
                         message("globex", "g2", 31)])
        second = start_ready(broker, brands_file, tmp_path, app_id, "second")

        def unanswered(brand: str) -> float | None:
            return second.value("brandpulse_unanswered_messages", brand=brand,
                                platform="twitter")

        wait_until(lambda: unanswered("acme") == 0 and unanswered("globex") == 1, 30,
                   "events after the restart", second.log)
        assert audience(second, "acme") == 1  # m2 only: m1 went with the broker
        assert audience(second, "globex") == 1
        assert second.value("brandpulse_first_response_seconds_count", policy="default",
                            brand="acme",
                            platform="twitter") == 1
        time.sleep(PROBE_INTERVAL_SECONDS * 2)  # no crash loop: the new worker stays up
        assert second.process.poll() is None, second.log()[-3000:]
        assert second.value("brandpulse_broker_up") == 1
    finally:
        first.kill()
        if second is not None:
            second.kill()


def test_broker_that_hangs_and_returns_with_its_state_is_ridden_out(
        broker: EmbeddedBroker, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    worker = start_ready(broker, brands_file, tmp_path, app_id, "worker")
    try:
        produce(broker, [message("acme", "m1", 0), message("globex", "g1", 1)])
        wait_until(lambda: audience(worker, "acme") == 1 and audience(worker, "globex") == 1,
                   20, "events before the outage", worker.log)

        broker.pause()
        try:
            paused = time.monotonic()
            assert wait_down(broker, worker) < 10
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - paused)))
        finally:
            broker.pause(False)
        wait_until(lambda: worker.value("brandpulse_broker_up") == 1, 15,
                   "brandpulse_broker_up back to 1", worker.log)

        # State from before the outage is still there: the reply closes m1; nothing is
        # counted twice.
        produce(broker, [reply("acme", "r1", "m1", 5), message("globex", "g2", 6)])
        wait_until(lambda: worker.value("brandpulse_unanswered_messages", brand="acme",
                                        platform="twitter") == 0
                   and audience(worker, "globex") == 2, 45, "events after the outage",
                   worker.log)
        assert audience(worker, "acme") == 1
        assert worker.value("brandpulse_first_response_seconds_count", policy="default",
                            brand="acme",
                            platform="twitter") == 1
        assert worker.value("brandpulse_duplicate_events_total", brand="acme") == 0
        assert worker.process.poll() is None
    finally:
        worker.kill()


# -- the worker at the broker's edge (issue 23) ---------------------------------------------

SUMMARY = re.compile(r" \(\d+ more since the last line, \d+ s ago\)\s*$")
LOG_PREFIX = re.compile(r"^\[[^]]*\] \[\d+\] \[\w+\] ")


def faults(lines: list[str]) -> dict[str, int]:
    """Log lines per fault: the message without its time, pid and summary count."""
    counts: dict[str, int] = {}
    for line in lines:
        key = SUMMARY.sub("", LOG_PREFIX.sub("", line)).strip()
        counts[key] = counts.get(key, 0) + 1
    return counts


def stop(worker: Worker, sig: signal.Signals) -> tuple[int | None, float]:
    """Send `sig`; the exit code (None: still running after 10 s) and the seconds it took."""
    sent = time.monotonic()
    worker.process.send_signal(sig)
    try:
        code: int | None = worker.process.wait(10)
    except Exception:
        code = None
    return code, time.monotonic() - sent


def test_a_lost_broker_is_logged_once_then_summarised_and_sigterm_ends_the_worker(
        broker: EmbeddedBroker, brands_file: Path, tmp_path: Path, app_id: str) -> None:
    """Broker stopped for 40 s under a running worker: each fault is one line, then at most
    one summary per 30 s (it was ~160 ERROR lines a second, 6,089 lines and 708 kB in 40 s);
    SIGTERM then ends the worker within 5 s with exit 0 and no traceback (it needed SIGKILL
    after 25 s, with an aiokafka CancelledError traceback)."""
    worker = start_ready(broker, brands_file, tmp_path, app_id, "worker")
    try:
        before = len(worker.log().splitlines())
        broker.stop()
        time.sleep(40)
        outage = worker.log().splitlines()[before:]
        counts = faults(outage)
        assert worker.process.poll() is None
        assert counts.get("broker unreachable") == 1, counts
        assert max(counts.values()) <= 2, counts  # the first, then one summary after 30 s
        assert any(SUMMARY.search(line) for line in outage), outage  # what was held back
        assert len(outage) <= 40 and sum(map(len, outage)) < 10_000, outage
        code, seconds = stop(worker, signal.SIGTERM)
        assert code == 0 and seconds < 5.0, (code, seconds, worker.log()[-3000:])
        assert "Traceback" not in worker.log()
    finally:
        worker.kill()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_worker_stops_within_5_s_with_its_broker_hung_or_up(
        sig: signal.Signals, broker: EmbeddedBroker, brands_file: Path, tmp_path: Path,
        app_id: str) -> None:
    """A hung broker (SIGSTOP: connections open, no answers): the signal ends the worker
    within 5 s, exit 0, no traceback. With the broker up, the same signal is Faust's
    graceful stop (no watchdog line) and just as quick."""
    hung = start_ready(broker, brands_file, tmp_path, f"{app_id}-hung", "hung")
    try:
        broker.pause()
        try:
            wait_down(broker, hung)
            code, seconds = stop(hung, sig)
        finally:
            broker.pause(False)
        assert code == 0 and seconds < 5.0, (code, seconds, hung.log()[-3000:])
        assert "Traceback" not in hung.log()
    finally:
        hung.kill()
    up = start_ready(broker, brands_file, tmp_path, f"{app_id}-up", "up")
    try:
        code, seconds = stop(up, sig)
        assert code == 0 and seconds < 5.0, (code, seconds, up.log()[-3000:])
        assert "Traceback" not in up.log()
        assert "graceful stop had not finished" not in up.log()
    finally:
        up.kill()
