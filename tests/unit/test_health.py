"""Broker watch, liveness/readiness and the crash exit path, without a broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest
from faust.exceptions import ConsistencyError
from faust.tables.recovery import E_PERSISTED_OFFSET
from faust.types import TP

from streams.plumbing.broker import free_port
from streams.worker.health import (
    EX_SOFTWARE,
    EX_TEMPFAIL,
    BrokerStateLost,
    BrokerWatch,
    CommittedOffsets,
    Health,
    crash_exit,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_committed_offsets_moving_forward_or_unknown_is_not_a_loss() -> None:
    offsets = CommittedOffsets()
    assert offsets.observe({("in", 0): -1, ("in", 1): -1}) is None  # nothing committed yet
    assert offsets.observe({("in", 0): 5, ("in", 1): -1}) is None
    assert offsets.observe({("in", 0): 9}) is None  # a partition missing: unknown, not lost
    assert offsets.observe({("in", 0): 9, ("in", 1): 2}) is None
    assert offsets.highest == {("in", 0): 9, ("in", 1): 2}


@pytest.mark.parametrize(("now", "says"), [(-1, "the broker now has none"),
                                           (3, "the broker now has offset 3")])
def test_committed_offsets_going_back_is_a_loss(now: int, says: str) -> None:
    offsets = CommittedOffsets()
    offsets.observe({("in", 0): 1, ("in", 1): 7})
    lost = offsets.observe({("in", 0): 1, ("in", 1): now})
    assert lost is not None
    assert "in partition 1 was at offset 7" in lost and says in lost


def test_watch_of_an_unreachable_broker_says_down_quickly() -> None:
    changes: list[bool] = []
    port = free_port()  # nothing listens there
    watch = BrokerWatch([f"127.0.0.1:{port}"], "g", [("in", 0)], changes.append, timeout=1.0)
    assert watch.up is False and changes == [False]  # the gauge starts at 0

    async def probe() -> bool:
        try:
            return await watch.probe()
        finally:
            await watch.close()

    assert asyncio.run(probe()) is False
    assert changes == [False, False] and watch.up is False
    assert watch.last_probe_seconds < 2.0


def _health(clock: Clock, up: bool = True, assigned: int = 3,
            recovering: bool = False) -> Health:
    watch = BrokerWatch(["127.0.0.1:1"], "g", [], lambda up: None, clock=clock)
    watch.up = up
    return Health(watch, lambda: assigned, lambda: recovering, clock=clock,
                  stale_after=10.0, startup_grace=60.0)


def test_health_follows_the_event_loop_heartbeat() -> None:
    clock = Clock()
    health = _health(clock)
    ok, detail = health.health()
    assert ok and detail["event_loop"] == "starting"
    clock.now += 61  # never beat during the whole startup grace
    assert health.health()[0] is False
    health.beat()
    clock.now += 9
    assert health.health() == (True, {"event_loop": "alive", "heartbeat_age_seconds": 9.0})
    clock.now += 2
    ok, detail = health.health()
    assert not ok and detail["event_loop"] == "stalled"


@pytest.mark.parametrize(("up", "assigned", "recovering", "ready"), [
    (True, 3, False, True),
    (False, 3, False, False),
    (True, 0, False, False),
    (True, 3, True, False),
])
def test_ready_needs_broker_partitions_and_no_recovery(up: bool, assigned: int,
                                                       recovering: bool, ready: bool) -> None:
    ok, detail = _health(Clock(), up, assigned, recovering).ready()
    assert ok is ready
    assert (detail["broker_up"], detail["assigned_partitions"], detail["recovering"]) == (
        up, assigned, recovering)


def test_crash_exit_turns_faust_consistency_error_into_one_line() -> None:
    tp = TP("app-sla-state-changelog", 1)
    code, line = crash_exit(ConsistencyError(E_PERSISTED_OFFSET.format(tp, 7, -1)))
    assert code == EX_TEMPFAIL
    assert line == ("brandpulse worker: the broker lost the state changelog "
                    "(app-sla-state-changelog partition 1 at offset 7 > the broker's last "
                    "offset -1); exiting so the supervisor restarts it from the broker's state")


def test_crash_exit_other_reasons() -> None:
    code, line = crash_exit(BrokerStateLost("the broker lost X"))
    assert code == EX_TEMPFAIL and line.startswith("brandpulse worker: the broker lost X; ")
    code, line = crash_exit(ValueError("bad\nsecond line"))
    assert code == EX_SOFTWARE and "\n" not in line and "ValueError: bad" in line


WORKER = """
import sys
from streams.worker.health import BrokerStateLost, run_until_exit

class Worker:
    crash_reason = None
    def execute_from_commandline(self):
        if {crash}:
            self.crash_reason = BrokerStateLost("the broker lost Y")
            print("faust log line", file=sys.stderr)
            raise SystemExit(1)
        raise SystemExit(0)

run_until_exit(Worker())
"""


@pytest.mark.parametrize(("crash", "code"), [(True, EX_TEMPFAIL), (False, 0)])
def test_run_until_exit_exit_codes(crash: bool, code: int) -> None:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(WORKER.format(crash=crash))],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("brandpulse")]
    assert lines == (["brandpulse worker: the broker lost Y; exiting so the supervisor "
                      "restarts it from the broker's state"] if crash else [])


HANGING = """
import threading, time
from streams.worker.health import BrokerStateLost, run_until_exit

class Worker:
    crash_reason = None
    def execute_from_commandline(self):
        self.crash_reason = BrokerStateLost("the broker lost Z")
        time.sleep(60)  # a shutdown that never ends

run_until_exit(Worker(), grace=1.0)
"""


def test_a_lost_broker_state_ends_the_process_without_the_long_grace() -> None:
    """Nothing to flush when the broker lost the state: exit 75 after the short grace, even
    if the graceful stop would take the whole ordinary grace (30 s here)."""
    hanging = HANGING.replace("grace=1.0", "grace=30.0, state_lost_grace=0.5")
    result = subprocess.run([sys.executable, "-c", hanging], capture_output=True, text=True,
                            timeout=20, check=False)
    assert result.returncode == EX_TEMPFAIL, result.stderr


def test_a_crashed_worker_that_does_not_stop_is_ended_by_the_watchdog() -> None:
    result = subprocess.run([sys.executable, "-c", HANGING], capture_output=True, text=True,
                            timeout=30, check=False)
    assert result.returncode == EX_TEMPFAIL
    assert result.stderr.strip().endswith("the broker lost Z; exiting so the supervisor "
                                          "restarts it from the broker's state")
