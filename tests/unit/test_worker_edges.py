"""The worker at the broker's edge, without a broker (issue 23): library log floods are
rate-limited, and a requested stop ends the process within its grace."""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator

import pytest

from streams.plumbing.ratelog import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.contextmanager
def logged(*names: str) -> Iterator[tuple[list[logging.Logger], io.StringIO, RepeatFilter]]:
    """The named loggers writing to one handler that carries the filter, as the worker
    installs it on the root logger's handlers."""
    clock = Clock()
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    repeat = RepeatFilter(clock=clock)
    repeat.install([handler])
    repeat.install([handler])  # twice is once
    loggers = [logging.getLogger(name) for name in names]
    saved = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    for logger in loggers:
        logger.handlers[:], logger.propagate = [handler, handler], False  # two: decided once
        logger.setLevel(logging.DEBUG)
    try:
        yield loggers, out, repeat
    finally:
        for logger, (handlers, propagate, level) in zip(loggers, saved, strict=True):
            logger.handlers[:], logger.propagate = handlers, propagate
            logger.setLevel(level)


def test_a_broker_outage_flood_is_cut_to_one_line_then_a_summary_every_30_s() -> None:
    """160 records a second from three aiokafka templates for 61 s (what a worker logged
    with the broker gone): per template the first line in full, then one summary at 30 s
    and one at 60 s with the count each stands for: 3 lines a minute per fault."""
    templates = ["Unable connect to node with id %s: %s", "Unable to update metadata from %s",
                 "Failed fetch messages from %s: %s"]
    with logged("aiokafka.conn", "aiokafka.cluster", "aiokafka.consumer.fetcher") as (
            loggers, out, repeat):
        clock = repeat.policy.clock
        assert isinstance(clock, Clock)
        sent, seconds = 0, 61
        for tick in range(seconds * 160):
            index = tick % 3
            args = (111, "[Errno 111] Connection refused")[:templates[index].count("%s")]
            loggers[index].error(templates[index], *args)
            sent += 1
            clock.now += 1 / 160
    both = out.getvalue().splitlines()
    lines = both[0::2]
    assert both[1::2] == lines  # two handlers, one decision per record
    text = "\n".join(lines)
    assert len(lines) == 3 * 3
    assert lines[0] == ("ERROR aiokafka.conn Unable connect to node with id 111: [Errno 111] "
                        "Connection refused")
    summaries = [line for line in lines if "more since the last line" in line]
    assert len(summaries) == 6 and all(" s ago)" in line for line in summaries)
    counted = sum(int(line.split(" (")[-1].split(" more")[0]) for line in summaries)
    unreported = sum(repeat.policy._quiet.values())  # since the last summary
    assert counted + len(lines) + unreported == sent
    assert repeat.dropped == sent - len(lines)
    assert len(text) < 1200  # was 160 lines (~16 kB) a second


def test_the_filter_leaves_other_loggers_and_quiet_levels_alone() -> None:
    with logged("streams.worker.health", "faust.worker") as ((ours, info), out, repeat):
        for _ in range(50):
            ours.warning("broker %s", "unreachable")  # our own lines: rate-limited at source
            info.info("Signal received: %s", "SIGTERM")  # INFO: opt-in verbosity, untouched
    assert out.getvalue().count("\n") == 2 * 100 and repeat.dropped == 0  # two handlers


def test_a_summary_line_drops_the_traceback_and_formats_its_arguments() -> None:
    with logged("kafka.conn") as ((logger,), out, repeat):
        clock = repeat.policy.clock
        assert isinstance(clock, Clock)
        for _ in range(3):
            try:
                raise ConnectionRefusedError(111, "refused")
            except OSError:
                logger.exception("cannot reach %s (%d%%)", "node 1", 100)
            clock.now += 20
    text = out.getvalue()
    assert text.count("Traceback") == 2  # the first in full only (on both handlers)
    assert text.splitlines()[-1] == ("ERROR kafka.conn cannot reach node 1 (100%) "
                                     "(1 more since the last line, 40 s ago)")


# -- the stop -------------------------------------------------------------------------------

STOPPING = """
import signal, sys, threading, time
from streams.worker.health import BrokerStateLost, exit_after_stop_grace, run_until_exit

class Worker:
    crash_reason = None
    def execute_from_commandline(self):
        print("started", flush=True)
        if {crash}:
            self.crash_reason = BrokerStateLost("the broker lost W")
        exit_after_stop_grace(self, 0.5)  # what a SIGTERM does (streams.worker.Worker)
        time.sleep(60)  # a graceful stop that never ends (clients retrying a gone broker)

run_until_exit(Worker())
"""


def run_script(script: str, timeout: float = 30) -> tuple[subprocess.CompletedProcess[str],
                                                            float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                            capture_output=True, text=True, timeout=timeout, check=False)
    return result, time.monotonic() - started


def test_a_requested_stop_that_hangs_ends_with_0_after_the_grace_in_one_line() -> None:
    result, elapsed = run_script(STOPPING.format(crash=False))
    assert result.returncode == 0, result.stderr
    assert elapsed < 10  # 0.5 s grace plus the interpreter's start, not the 60 s sleep
    assert result.stderr == ("brandpulse worker: stopped (0.5 s after the signal; Faust's "
                             "graceful stop had not finished, e.g. the broker is "
                             "unreachable)\n")


def test_a_crashed_worker_asked_to_stop_keeps_its_crash_code() -> None:
    result, _ = run_script(STOPPING.format(crash=True))
    assert result.returncode == 75
    assert result.stderr.startswith("brandpulse worker: the broker lost W; exiting")


EARLY = """
import sys, time
from streams.worker.health import run_until_exit

class Worker:
    crash_reason = None
    def execute_from_commandline(self):
        print("starting", flush=True)
        time.sleep(60)  # start-up before Faust's own signal handlers are installed

run_until_exit(Worker())
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_before_faust_handles_signals_exits_0_at_once(sig: signal.Signals) -> None:
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(EARLY)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None and process.stdout.readline() == "starting\n"
        sent = time.monotonic()
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - sent < 2.0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
    assert process.returncode == 0 and stderr == ""


THREADS = """
import asyncio, threading
from streams.worker.health import run_until_exit

class Worker:
    crash_reason = None
    def execute_from_commandline(self):
        def cancelled():  # a Kafka client thread whose loop the stop cancelled
            raise asyncio.CancelledError()
        def broken():
            raise ValueError("a real bug")
        for target in (cancelled, broken):
            thread = threading.Thread(target=target)
            thread.start()
            thread.join()
        raise SystemExit(0)

run_until_exit(Worker())
"""


def test_a_client_thread_cancelled_by_the_stop_prints_no_traceback() -> None:
    result, _ = run_script(THREADS)
    assert result.returncode == 0
    assert result.stderr.count("Traceback") == 1  # the real bug's only
    assert "ValueError: a real bug" in result.stderr and "CancelledError" not in result.stderr


# -- the log file ----------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_worker_logging_to_a_file_writes_no_terminal_escape_codes() -> None:
    """Faust's spinner wrote cursor hide/show codes into the demo's worker.log."""
    import faust

    from streams.worker.process import Worker

    app = faust.App("brandpulse-test-spinner", broker="kafka://127.0.0.1:1")
    assert Worker(app, stdout=io.StringIO(), quiet=True).spinner is None
    assert Worker(app, stdout=_Terminal(), quiet=True).spinner is not None


def test_the_broker_coming_back_is_info_and_going_away_a_warning(
        caplog: pytest.LogCaptureFixture) -> None:
    from streams.plumbing.broker import free_port
    from streams.worker.health import BrokerWatch

    watch = BrokerWatch([f"127.0.0.1:{free_port()}"], "g", [("in", 0)], lambda up: None)
    with caplog.at_level(logging.INFO, logger="streams.worker.health"):
        watch._set(True)
        watch._set(False)
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "broker reachable"), (logging.WARNING, "broker unreachable")]
