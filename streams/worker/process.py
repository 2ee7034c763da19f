"""The Faust worker process with brandpulse's edges: quiet library logs, a bounded stop.

Why a subclass: both hooks are the worker's own. Faust sets up logging (replacing the root
logger's handlers) when it starts, so the filter that rate-limits the Kafka clients' retry
lines goes on those handlers from `on_setup_root_logger`; and SIGTERM/SIGINT reach
`_schedule_shutdown` through the handlers Faust installs on its loop.
"""

from __future__ import annotations

import logging
import signal
from typing import Any

import faust

from streams.plumbing.ratelog import RepeatFilter
from streams.worker.health import STOP_GRACE_SECONDS, exit_after_stop_grace


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed file
        return False


class Worker(faust.Worker):
    """faust.Worker whose library log lines are rate-limited (`RepeatFilter`) and whose
    requested stop ends the process within `stop_grace` seconds (`exit_after_stop_grace`)."""

    def __init__(self, *args: Any, stop_grace: float = STOP_GRACE_SECONDS,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_grace = stop_grace
        # Faust's startup spinner hides and shows the cursor with terminal escape codes; in a
        # log file (the demo's worker.log, a container's log) they are garbage.
        if not _is_terminal(self.stdout):
            self.spinner = None
        self.repeat_filter = RepeatFilter()
        self._stop_requested = False
        #: The Kafka client could not bootstrap at start (the broker went away after the
        #: CLI's check, or what listens there is not Kafka); the CLI turns it into one line.
        self.start_failure: Exception | None = None

    async def start(self) -> None:
        """Faust's start; a bootstrap failure is kept for the CLI instead of raised, since
        Faust would log it with a 36-line traceback and exit 1 without saying what to fix."""
        from aiokafka.errors import KafkaConnectionError

        try:
            await super().start()
        except KafkaConnectionError as exc:
            if "bootstrap" not in str(exc):
                raise
            self.start_failure = exc

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        self.repeat_filter.install(logger.handlers)

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if not self._stop_requested:
            self._stop_requested = True
            exit_after_stop_grace(self, self.stop_grace)
        super()._schedule_shutdown(signal)
