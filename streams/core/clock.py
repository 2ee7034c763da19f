"""The event-time clock of one brand, which decides when its SLAs have passed.

Time is the largest `created_at` seen so far (the watermark), so replays and live
streams give the same answers. When no event arrives the clock keeps moving with the
wall clock from the last watermark, otherwise a quiet stream would never breach an SLA.
The wall time is passed in by the caller: this module never reads a clock itself. Events
dated beyond the wall clock's skew never reach a clock (`Engine.admit`).
"""

from __future__ import annotations

import math


class EventClock:
    """Watermark of event time, advancing with wall time while the stream is idle."""

    __slots__ = ("_latest", "_wall_at_watermark", "watermark")

    def __init__(self) -> None:
        self.watermark = -math.inf
        self._wall_at_watermark = 0.0
        self._latest = -math.inf  # never let the clock run backwards

    def observe(self, created_at: float, wall: float = 0.0) -> float:
        if created_at > self.watermark:
            self.watermark = created_at
            self._wall_at_watermark = wall
        return self.watermark

    def now(self, wall: float | None = None) -> float:
        """Event time now; with `wall`, idle wall-clock seconds since the watermark are added."""
        current = self.watermark
        if wall is not None and not math.isinf(current):
            current += max(0.0, wall - self._wall_at_watermark)
        self._latest = max(self._latest, current)
        return self._latest

    def wall_at(self, event_time: float) -> float:
        """The wall time at which this clock will reach `event_time` if no event arrives."""
        if self._latest >= event_time:
            return -math.inf  # already reached
        return self._wall_at_watermark + max(0.0, event_time - self.watermark)

    def state(self) -> list[float]:
        """What a restart needs to carry on exactly: the watermark and when it was seen."""
        return [self.watermark, self._wall_at_watermark]

    def resume(self, watermark: float, wall_at_watermark: float) -> None:
        if watermark > self.watermark:
            self.watermark = watermark
            self._wall_at_watermark = wall_at_watermark

    @property
    def started(self) -> bool:
        return not math.isinf(self.watermark)
