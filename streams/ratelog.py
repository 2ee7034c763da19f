"""Log a recurring fault once, then at most one summary line per interval.

Why: a process left alone for months meets the same fault thousands of times (a hostile
frame repeated, a broker gone for an hour). One line per occurrence floods the logs and
hides everything else; no line hides the fault. So the first occurrence of a fault (a key:
"oversized", "broker unreachable") is logged in full, later ones are counted, and the next
occurrence after `interval` seconds logs one summary with the count since the last line.
The metrics count every occurrence; the log only says that it is happening.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

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
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return False
        if last is None and len(self._last) >= MAX_KEYS:
            self._last.pop(next(iter(self._last)))
        quiet = self._quiet.pop(key, 0)
        if quiet:
            message = f"{message} ({quiet} more since the last line, {now - last:.0f} s ago)" \
                if last is not None else message
        self._last[key] = now
        self.lines += 1
        self.logger.log(level, message, *args)
        return True

    def forget(self, key: str) -> None:
        """The fault is over (e.g. the broker is back): its next occurrence logs at once."""
        self._last.pop(key, None)
        self._quiet.pop(key, None)
