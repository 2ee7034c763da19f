"""Is the broker reachable, is the worker alive, is it ready; and a clean exit when not.

Why: with the broker gone a Faust worker keeps its assignment and its gauges, so nothing
said it was cut off. And a broker that comes back without what it had acknowledged (the
embedded tansu keeps everything in memory) leaves the worker ahead of the broker: Faust
then dies on its own (`ConsistencyError` on the table changelog) with a traceback and exit
code 1, or worse carries on with state the broker no longer has. A worker cannot repair
that in place; a fresh process can, so the worker exits with EX_TEMPFAIL and one line that
says why, and its supervisor (docker-compose `restart:`, Kubernetes) starts a new one from
the broker's state. See docs/operations.md, "Broker outages".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, NoReturn

log = logging.getLogger(__name__)

EX_SOFTWARE = 70  # sysexits.h: an internal error; restarting may or may not help
EX_TEMPFAIL = 75  # sysexits.h: a temporary failure; restarting is the remedy
PROBE_INTERVAL_SECONDS = 2.0
PROBE_TIMEOUT_SECONDS = 3.0
HEARTBEAT_SECONDS = 1.0
#: health() is false once the event loop has not beaten for this long.
STALE_HEARTBEAT_SECONDS = 10.0
#: Before the first heartbeat (Faust starts app timers after the first table recovery)
#: the worker counts as alive for this long.
STARTUP_GRACE_SECONDS = 300.0
#: How long a crashed Faust worker may take to stop before the process is ended anyway.
CRASH_EXIT_GRACE_SECONDS = 30.0
# The broker lost the state: nothing left to flush or commit, so a graceful stop has nothing
# to save and only prolongs a shutdown (client threads reconnecting to an empty broker).
STATE_LOST_GRACE_SECONDS = 2.0
#: SIGTERM/SIGINT to exit: Faust's graceful stop gets this long, then the process ends
#: anyway (issue 23: stop within 5 s in every state, the broker gone included).
STOP_GRACE_SECONDS = 4.0

Partition = tuple[str, int]


class BrokerStateLost(Exception):
    """The broker no longer has offsets it had acknowledged to this consumer group."""


class CommittedOffsets:
    """The highest committed offset seen per input partition, to notice a broker that forgot.

    A consumer group's committed offsets only move forward while a member is alive (a reset
    needs an empty group), so a partition whose committed offset went backwards, or
    vanished (-1), means the broker lost the group's state: a memory-only broker restarted,
    or topics were deleted and recreated under the running worker.
    """

    def __init__(self) -> None:
        self.highest: dict[Partition, int] = {}

    def observe(self, committed: Mapping[Partition, int]) -> str | None:
        """Record the offsets the broker reports; the first one that went backwards, as text."""
        for tp, offset in sorted(committed.items()):
            before = self.highest.get(tp)
            if before is not None and offset < before:
                now = "none" if offset < 0 else f"offset {offset}"
                return (f"the broker lost this worker's committed offsets ({tp[0]} partition "
                        f"{tp[1]} was at offset {before}, the broker now has {now})")
        for tp, offset in committed.items():
            if offset >= 0:
                self.highest[tp] = max(offset, self.highest.get(tp, offset))
        return None


class BrokerWatch:
    """Probes the broker every `interval` seconds with a dedicated small aiokafka client.

    One metadata request without topics (the broker list only) says whether the broker
    answers; one OffsetFetch for the input partitions says whether it still has the
    group's committed offsets. `up` and `since` (monotonic time of the last change) are
    read from the HTTP thread; `on_change(up)` sets the gauge.
    """

    def __init__(self, bootstrap: list[str], group_id: str, partitions: Iterable[Partition],
                 on_change: Callable[[bool], None], interval: float = PROBE_INTERVAL_SECONDS,
                 timeout: float = PROBE_TIMEOUT_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.partitions = sorted(set(partitions))
        self.on_change = on_change
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.up = False
        self.since = clock()
        self.probes = 0
        self.last_probe_seconds = 0.0
        self.committed = CommittedOffsets()
        self._client: Any = None
        self._task: asyncio.Future[None] | None = None
        on_change(False)

    def _set(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self.since = self.clock()
            # Back is news, not a problem: only losing the broker is a warning.
            log.log(logging.INFO if up else logging.WARNING, "broker %s",
                    "reachable" if up else "unreachable")
        self.on_change(up)

    def start(self, crash: Callable[[BaseException], Awaitable[None]]) -> None:
        """Run the probe loop in a task of the running event loop, once (later calls do
        nothing). BrokerStateLost goes to `crash`: Faust's `app.crash` stops the worker and
        `run_until_exit` turns it into exit 75."""
        if self._task is None:
            self._task = asyncio.ensure_future(self._run_or_crash(crash))

    async def join(self) -> None:
        """Wait for the probe loop; cancelling the waiter cancels the loop."""
        task = self._task
        if task is None:
            return
        try:
            await task
        finally:
            task.cancel()

    async def _run_or_crash(self, crash: Callable[[BaseException], Awaitable[None]]) -> None:
        try:
            await self.run()
        except BrokerStateLost as exc:
            await crash(exc)

    async def run(self) -> None:
        """Probe for ever; raises BrokerStateLost."""
        try:
            while True:
                started = self.clock()
                await self.probe()
                await asyncio.sleep(max(0.0, self.interval - (self.clock() - started)))
        finally:
            await self.close()

    async def probe(self) -> bool:
        """One probe: sets `up`; raises BrokerStateLost when the broker forgot offsets."""
        started = time.perf_counter()
        try:
            up = await asyncio.wait_for(self._metadata(), self.timeout + 1.0)
        except Exception as exc:  # any failure to get an answer means unreachable
            log.debug("broker probe failed: %r", exc)
            up = False
        self._set(up)
        lost = None
        if up and self.partitions:
            try:
                committed = await asyncio.wait_for(self._committed(), self.timeout + 1.0)
            except Exception as exc:  # unknown, not lost: e.g. the coordinator is loading
                log.debug("committed offsets unavailable: %r", exc)
                committed = None
            if committed is not None:
                lost = self.committed.observe(committed)
        self.probes += 1
        self.last_probe_seconds = time.perf_counter() - started
        if lost is not None:
            raise BrokerStateLost(lost)
        return up

    async def _connect(self) -> Any:
        from aiokafka.client import AIOKafkaClient

        if self._client is None:
            client = AIOKafkaClient(bootstrap_servers=self.bootstrap,
                                    client_id="brandpulse-health",
                                    request_timeout_ms=int(self.timeout * 1000),
                                    metadata_max_age_ms=3_600_000)
            try:
                await client.bootstrap()
            except BaseException:
                await client.close()
                raise
            self._client = client
        return self._client

    async def _metadata(self) -> bool:
        from aiokafka.protocol.metadata import MetadataRequest

        client = await self._connect()
        for broker in list(client.cluster.brokers()):
            try:
                response = await client.send(broker.nodeId, MetadataRequest([]))
            except Exception as exc:
                log.debug("broker %s did not answer: %r", broker.nodeId, exc)
                continue
            if response.brokers:
                client.cluster.update_metadata(response)
            return True
        # Nobody we knew answered: start again from the bootstrap servers next time.
        self._client = None
        await client.close()
        return False

    async def _committed(self) -> dict[Partition, int] | None:
        """The group's committed offsets of the input partitions, or None when the broker
        answered with an error (then nothing can be concluded)."""
        from aiokafka.client import CoordinationType
        from aiokafka.protocol.commit import OffsetFetchRequest

        client = await self._connect()
        coordinator = await client.coordinator_lookup(CoordinationType.GROUP, self.group_id)
        by_topic: dict[str, list[int]] = {}
        for topic, partition in self.partitions:
            by_topic.setdefault(topic, []).append(partition)
        response = await client.send(coordinator,
                                     OffsetFetchRequest(self.group_id, list(by_topic.items())))
        if getattr(response, "error_code", 0):
            return None
        committed: dict[Partition, int] = {}
        for topic, partitions in response.topics:
            for partition, offset, _metadata, error_code in partitions:
                if error_code:
                    return None
                committed[(topic, partition)] = offset
        return committed

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()


class Health:
    """Liveness and readiness of one worker, as callables for /healthz and /readyz.

    Both return (ok, detail) and are safe to call from another thread: they only read
    attributes that the event loop replaces whole.
    """

    def __init__(self, watch: BrokerWatch, assigned: Callable[[], int],
                 recovering: Callable[[], bool], clock: Callable[[], float] = time.monotonic,
                 stale_after: float = STALE_HEARTBEAT_SECONDS,
                 startup_grace: float = STARTUP_GRACE_SECONDS) -> None:
        self.watch = watch
        self.assigned = assigned
        self.recovering = recovering
        self.clock = clock
        self.stale_after = stale_after
        self.startup_grace = startup_grace
        self.started = clock()
        self.last_beat: float | None = None

    def beat(self) -> None:
        """Called every HEARTBEAT_SECONDS by a timer on the worker's event loop."""
        self.last_beat = self.clock()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Alive: the event loop beat recently (or the worker is still starting)."""
        now = self.clock()
        if self.last_beat is None:
            starting = now - self.started
            return starting < self.startup_grace, {
                "event_loop": "starting", "starting_seconds": round(starting, 1)}
        age = now - self.last_beat
        return age < self.stale_after, {
            "event_loop": "alive" if age < self.stale_after else "stalled",
            "heartbeat_age_seconds": round(age, 1)}

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Ready: broker reachable, input partitions assigned, no rebalance or recovery."""
        watch = self.watch
        assigned = self.assigned()
        recovering = self.recovering()
        detail = {
            "broker_up": watch.up,
            "broker_state_seconds": round(self.clock() - watch.since, 1),
            "assigned_partitions": assigned,
            "recovering": recovering,
        }
        return watch.up and assigned > 0 and not recovering, detail


# -- the exit path ---------------------------------------------------------------------
_CONSISTENCY = re.compile(r"partition (TP\(.*?\)) is higher.*?\((-?\d+) > (-?\d+)\)", re.S)
_TP = re.compile(r"topic='([^']*)', partition=(\d+)")


def crash_exit(reason: BaseException) -> tuple[int, str]:
    """The exit code and the one stderr line for a worker that Faust stopped on `reason`."""
    if type(reason).__name__ == "ConsistencyError":  # faust.exceptions, not imported here
        match = _CONSISTENCY.search(str(reason))
        where = "the changelog"
        if match:
            tp = _TP.search(match.group(1))
            name = f"{tp.group(1)} partition {tp.group(2)}" if tp else match.group(1)
            where = (f"{name} at offset {match.group(2)} > the broker's last offset "
                     f"{match.group(3)}")
        return EX_TEMPFAIL, (f"brandpulse worker: the broker lost the state changelog "
                             f"({where}); exiting so the supervisor restarts it from the "
                             f"broker's state")
    if isinstance(reason, BrokerStateLost):
        return EX_TEMPFAIL, (f"brandpulse worker: {reason}; exiting so the supervisor "
                             f"restarts it from the broker's state")
    first = (str(reason).strip().splitlines() or [""])[0][:300]
    return EX_SOFTWARE, (f"brandpulse worker: crashed ({type(reason).__name__}: {first}); "
                         f"exiting, the log has the traceback")


def run_until_exit(worker: Any, grace: float = CRASH_EXIT_GRACE_SECONDS,
                   state_lost_grace: float = STATE_LOST_GRACE_SECONDS) -> None:
    """Run a faust.Worker; if it stops because it crashed, print one line and end the
    process with crash_exit's code (mode would exit 1 with a traceback only).

    A watchdog thread ends the process if a crashed worker has not stopped within
    `grace` seconds (`state_lost_grace` when the broker lost the state), so a stuck
    shutdown cannot leave it hanging without a consumer.
    """
    _exit_on_early_signals()
    _quiet_cancelled_threads()
    stop_watchdog = threading.Event()

    def watchdog() -> None:
        while not stop_watchdog.wait(1.0):
            reason = getattr(worker, "crash_reason", None)
            if reason is not None:
                lost = isinstance(reason, BrokerStateLost)
                if not stop_watchdog.wait(state_lost_grace if lost else grace):
                    _exit(reason)
                return

    threading.Thread(target=watchdog, name="brandpulse-crash-watchdog", daemon=True).start()
    try:
        worker.execute_from_commandline()
    except SystemExit:
        reason = getattr(worker, "crash_reason", None)
        if reason is None:
            raise
        _exit(reason)
    finally:
        stop_watchdog.set()


def exit_after_stop_grace(worker: Any, grace: float = STOP_GRACE_SECONDS) -> None:
    """Called when a stop is requested (SIGTERM, SIGINT): end the process `grace` seconds
    from now if Faust's graceful stop has not ended it by then.

    Why: with the broker gone, Faust's stop waits on clients that retry for minutes (it
    needed SIGKILL after 25 s). A hard exit loses nothing: state and counts are written in
    transactions to the changelog and recovered only when committed (docs/metrics.md,
    "Exactness"), so the next start resumes from the last commit as after any kill. Exit 0:
    the stop was asked for; a worker that had crashed keeps its crash code.
    """
    def watchdog() -> None:
        time.sleep(grace)
        reason = getattr(worker, "crash_reason", None)
        if reason is not None:
            _exit(reason)
        _say(f"brandpulse worker: stopped ({grace:g} s after the signal; Faust's graceful "
             f"stop had not finished, e.g. the broker is unreachable)")
        os._exit(0)

    threading.Thread(target=watchdog, name="brandpulse-stop-watchdog", daemon=True).start()


def _exit_on_early_signals() -> None:
    """Until Faust installs its own handlers, SIGTERM and SIGINT end the process at once
    with 0: nothing has been consumed yet, so there is nothing to stop gracefully (SIGINT
    would otherwise raise KeyboardInterrupt wherever start-up happens to be)."""
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers (benchmarks run workers in threads)

    def handler(signum: int, frame: Any) -> None:
        os._exit(0)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def _quiet_cancelled_threads() -> None:
    """A Kafka client thread cancelled by the stop (aiokafka's fetcher while the broker is
    gone) ends with CancelledError; Python would print its traceback on stderr, which Faust
    turns into ~100 WARNING lines. Such an end is the stop working: one debug line."""
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not None and issubclass(args.exc_type, asyncio.CancelledError):
            log.debug("thread %s cancelled by the stop", getattr(args.thread, "name", "?"))
            return
        previous(args)

    threading.excepthook = hook


def _say(line: str) -> None:
    """One line on the process's own stderr (from a watchdog, Faust may still have
    sys.stderr redirected into its log, where the line would come out as a log record)."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    stderr = sys.__stderr__ or sys.stderr
    with contextlib.suppress(Exception):
        stderr.write(line + "\n")
        stderr.flush()


def _exit(reason: BaseException) -> NoReturn:
    code, line = crash_exit(reason)
    _say(line)
    # os._exit: Faust has already stopped what it could; a non-daemon thread left behind
    # by a crashed client must not keep the process (and its port) alive.
    os._exit(code)
