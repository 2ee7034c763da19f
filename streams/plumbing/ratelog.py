"""Log a recurring fault once, then at most one summary line per interval.

Why: a process left alone for months meets the same fault thousands of times (a hostile
frame repeated, a broker gone for an hour). One line per occurrence floods the logs and
hides everything else; no line hides the fault. So the first occurrence of a fault (a key:
"oversized", "broker unreachable") is logged in full, later ones are counted, and the next
occurrence after `interval` seconds logs one summary with the count since the last line.
The metrics count every occurrence; the log only says that it is happening.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

#: Seconds between two lines about one fault (issue 23: at most 10 lines a minute a fault).
SUMMARY_INTERVAL_SECONDS = 30.0
#: Distinct keys remembered; keys come from bounded sets (reasons, brands), this is a guard.
MAX_KEYS = 1024


class RateLimitedLog:
    """`report(key, message)`: the first time a line, then a summary at most every interval."""

    def __init__(self, logger: logging.Logger, interval: float = SUMMARY_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._last: dict[str, float] = {}  # key -> when its last line was written
        self._quiet: dict[str, int] = {}  # key -> occurrences since that line
        self.lines = 0  # lines written (tests assert the volume)

    def report(self, key: str, message: str, *args: object,
               level: int = logging.WARNING) -> bool:
        """Count one occurrence of `key`; log it when due. True when a line was written."""
        due, suffix = self.due(key)
        if due:
            self.logger.log(level, message + suffix, *args)
        return due

    def due(self, key: str) -> tuple[bool, str]:
        """Count one occurrence of `key`: (whether a line is due, what to append to it: the
        count since the last line, or "" for a first occurrence)."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return False, ""
        if last is None and len(self._last) >= MAX_KEYS:
            oldest = next(iter(self._last))
            self._last.pop(oldest)
            self._quiet.pop(oldest, None)
        quiet = self._quiet.pop(key, 0)
        suffix = (f" ({quiet} more since the last line, {now - last:.0f} s ago)"
                  if quiet and last is not None else "")
        self._last.pop(key, None)  # re-inserted last: the oldest key is the first
        self._last[key] = now
        self.lines += 1
        return True, suffix

    def forget(self, key: str) -> None:
        """The fault is over (e.g. the broker is back): its next occurrence logs at once."""
        self._last.pop(key, None)
        self._quiet.pop(key, None)


#: Loggers of the Kafka clients and the stream framework, which log every retry.
LIBRARY_LOGGERS = ("aiokafka", "kafka", "faust", "mode")


class RepeatFilter(logging.Filter):
    """RateLimitedLog's policy for records that other libraries log: per (logger, message
    template), the first record in full, then at most one line per interval with the count.

    Why: with the broker gone, aiokafka and Faust log each retry of each client, ~160 ERROR
    lines a second (4.8 MB a minute), for as long as the outage lasts. Put it on the
    handlers (a logger's own filters do not see its children's records): it only touches
    records of `prefixes` at `min_level` or above, and decides once per record, however
    many handlers it passes. A summary line keeps no traceback.
    """

    def __init__(self, prefixes: tuple[str, ...] = LIBRARY_LOGGERS,
                 min_level: int = logging.WARNING, interval: float = SUMMARY_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.prefixes = prefixes
        self.min_level = min_level
        self.policy = RateLimitedLog(logging.getLogger(__name__), interval, clock)
        self.dropped = 0  # records held back (tests assert the volume)

    def filter(self, record: logging.LogRecord) -> bool:
        decided = getattr(record, "_brandpulse_repeat", None)
        if decided is not None:
            return bool(decided)
        keep = True
        if record.levelno >= self.min_level and record.name.split(".", 1)[0] in self.prefixes:
            keep, suffix = self.policy.due(f"{record.name}\0{record.msg}")
            if not keep:
                self.dropped += 1
            elif suffix:
                record.msg, record.args = record.getMessage() + suffix, ()
                record.exc_info, record.exc_text, record.stack_info = None, None, None
        record._brandpulse_repeat = keep
        return keep

    def install(self, handlers: list[logging.Handler]) -> None:
        """Add this filter to each handler that does not have it yet."""
        for handler in handlers:
            if self not in handler.filters:
                handler.addFilter(self)


#: What asyncio's selector loop reports when accept() fails with EMFILE/ENFILE/ENOBUFS/ENOMEM.
ACCEPT_EXHAUSTED = "socket.accept() out of system resource"


class AcceptExhaustion:
    """A loop exception handler that reports descriptor exhaustion at accept() once, then a
    summary at most every interval, and passes every other error on unchanged.

    Why: when a server runs out of descriptors, asyncio stops listening for a second, then
    tries again, and logs each failure as an ERROR with its traceback, for as long as it
    lasts (25,471 tracebacks, 11 MB, in 13 s, issue 23). The server recovers by itself once
    descriptors are free (the retry); the log only needs to say that it is happening.
    `install(loop)` on the server's loop; `occurrences` counts every failed accept.
    """

    def __init__(self, logger: logging.Logger, what: str,
                 interval: float = SUMMARY_INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.faults = RateLimitedLog(logger, interval, clock)
        self.occurrences = 0
        self.late_retries = 0  # asyncio's retries that found the server closed (ignored)
        self._previous: object = None

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop.get_exception_handler() is self:
            loop.set_exception_handler(self._previous)  # type: ignore[arg-type]

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if self.occurrences and "_start_serving" in message \
                and isinstance(context.get("exception"), ValueError | OSError):
            # asyncio (3.11) schedules one retry per failed accept, up to the backlog each
            # time; those still pending when the server closes fail on the closed socket.
            self.late_retries += 1
            return
        if message != ACCEPT_EXHAUSTED:
            previous = self._previous
            if callable(previous):
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        self.occurrences += 1
        error = context.get("exception")
        self.faults.report("accept", "%s: cannot accept connections: %s (out of file "
                           "descriptors?); retrying every second, new clients wait",
                           self.what, getattr(error, "strerror", None) or error,
                           level=logging.ERROR)
