"""Real processes for integration tests: the embedded broker and brandpulse workers.

Everything listens on 127.0.0.1 and every wait is bounded.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, KafkaProducer

from streams.config import TopicNames
from streams.plumbing.broker import free_port

TOPICS = TopicNames()
#: Yesterday (UTC): hand-written events are dated then, inside every brand's retention
#: (events older than it are late whatever the brand's state).
RECENT_T0 = (time.time() // 86400 - 1) * 86400
RECENT_DAY = time.strftime("%Y-%m-%d", time.gmtime(RECENT_T0))
#: The internal key of every harness worker (BRANDPULSE_INTERNAL_KEY): test data, no secret.
INTERNAL_KEY = "brandpulse-integration-tests-internal-key-0123456789"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class Worker:
    """A `brandpulse worker` subprocess with its own /metrics port."""

    def __init__(self, broker_url: str, brands_path: Path, workdir: Path, app_id: str,
                 name: str = "worker", env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{name}.log"
        command = [sys.executable, "-m", "streams.cli", "worker", "--broker", broker_url,
                   "--brands", str(brands_path), "--metrics-port", str(self.port),
                   "--app-id", app_id, "--data-dir", str(workdir / f"{name}-data"),
                   "--tansu-compat", "--loglevel", "info"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115
        # faulthandler: a worker that dies of a signal leaves its Python stack in its log.
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1",
               "BRANDPULSE_INTERNAL_KEY": INTERNAL_KEY, **(env or {})}
        self.process = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, env=env)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        url = f"http://127.0.0.1:{self.port}/metrics"
        with urllib.request.urlopen(url, timeout=2) as response:
            return parse_metrics(response.read().decode())

    def value(self, name: str, **labels: str) -> float | None:
        try:
            samples = self.metrics()
        except OSError:
            return None
        return samples.get((name, frozenset(labels.items())))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._log.close()


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            name, labels, value = match.groups()
            samples[(name, frozenset(_LABEL.findall(labels or "")))] = float(value)
    return samples


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               on_timeout: Callable[[], str] | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.25)
    detail = on_timeout() if on_timeout else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{detail[-4000:]}")


def wait_for_split(workers: Iterable[Worker], partitions: int, timeout: float) -> None:
    """Until every worker owns some of the input partitions and together they own all."""
    workers = list(workers)

    def split() -> bool:
        counts = [w.value("brandpulse_assigned_partitions") for w in workers]
        return None not in counts and sum(counts) == partitions and all(counts)  # type: ignore[arg-type]

    wait_until(split, timeout, f"{len(workers)} workers to share the {partitions} partitions",
               lambda: "".join(w.log() for w in workers))


def produce(broker_url: str, records: Iterable[tuple[str, bytes, bytes]]) -> None:
    """Send (topic, key, value) records and wait until the broker has them."""
    producer = KafkaProducer(bootstrap_servers=broker_url.split("://", 1)[1], acks=1)
    for topic, key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush(30)
    producer.close(10)


def event_record(side: str, **fields: Any) -> tuple[str, bytes, bytes]:
    topic = TOPICS.audience_messages if side == "audience" else TOPICS.brand_posts
    fields.setdefault("platform", "twitter")
    fields.setdefault("in_reply_to", None)
    return topic, fields["brand"].encode(), orjson.dumps(fields)


def consume_all(broker_url: str, topic: str, expected: int, timeout: float = 20) -> list[bytes]:
    consumer = KafkaConsumer(topic, bootstrap_servers=broker_url.split("://", 1)[1],
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             group_id=None, consumer_timeout_ms=1000)
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            for message in consumer:
                values.append(message.value)
    finally:
        consumer.close()
    return values


def post_signed(url: str, body: bytes, secret: str) -> int:
    """POST a body signed like Meta (`X-Hub-Signature-256`); the HTTP status, 0 when the
    server is not listening yet."""
    from streams.sources.webhook import sign

    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-Hub-Signature-256": sign(secret, body)})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def start_ingest(workdir: Path, args: list[str], env: dict[str, str],
                 name: str = "ingest") -> subprocess.Popen[bytes]:
    """A `brandpulse ingest ...` subprocess logging to WORKDIR/NAME.log."""
    log = open(workdir / f"{name}.log", "wb")  # noqa: SIM115
    return subprocess.Popen([sys.executable, "-m", "streams.cli", "ingest", *args],
                            stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
