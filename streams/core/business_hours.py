"""Business-hours arithmetic: how many working seconds lie between two instants.

A brand with business hours is only on the clock while its support desk is open, so a
message sent on Friday evening and answered on Monday morning may have waited only a few
business minutes. All instants are UTC epoch seconds; the calendar is evaluated in the
brand's own time zone so that daylight-saving changes are honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours of a brand's support desk: the same window on each open weekday."""

    timezone: ZoneInfo
    open_days: frozenset[int]  # 0 = Monday … 6 = Sunday, as datetime.weekday()
    opens: time
    closes: time

    def _open_intervals(self, start: float, end: float) -> list[tuple[float, float]]:
        """Opening intervals (UTC epoch seconds) of every local day touching [start, end]."""
        tz = self.timezone
        day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
        last_day = datetime.fromtimestamp(end, tz).date() + timedelta(days=1)
        intervals: list[tuple[float, float]] = []
        while day <= last_day:
            interval = _day_interval(self, day)
            if interval is not None:
                intervals.append(interval)
            day += timedelta(days=1)
        return intervals

    def seconds_between(self, start: float, end: float) -> float:
        """Open seconds in [start, end]; 0 when end precedes start."""
        if end <= start:
            return 0.0
        total = 0.0
        for opens, closes in self._open_intervals(start, end):
            overlap = min(closes, end) - max(opens, start)
            if overlap > 0:
                total += overlap
        return total

    def deadline(self, start: float, business_seconds: float) -> float:
        """The instant at which `business_seconds` of opening time have elapsed after `start`."""
        if not self.open_days or self.opens >= self.closes:
            raise ValueError("business hours never open: no deadline can be reached")
        remaining = business_seconds
        cursor = start
        # Walk week by week so that long SLAs over weekends stay cheap.
        while True:
            horizon = cursor + 7 * 86400
            for opens, closes in self._open_intervals(cursor, horizon):
                if closes <= cursor:
                    continue
                begin = max(opens, cursor)
                available = closes - begin
                if available >= remaining:
                    return begin + remaining
                remaining -= available
            cursor = horizon


@lru_cache(maxsize=16384)
def _day_interval(hours: BusinessHours, day: date) -> tuple[float, float] | None:
    """One local day's opening interval in UTC epoch seconds; cached, as every deadline and
    every business-hours first response asks for the same few days again."""
    if day.weekday() not in hours.open_days:
        return None
    opens = datetime.combine(day, hours.opens, hours.timezone).timestamp()
    closes = datetime.combine(day, hours.closes, hours.timezone).timestamp()
    return (opens, closes) if closes > opens else None


def parse_clock(value: str) -> time:
    """Parse "HH:MM" (24 h) into a time; raises ValueError with the offending text."""
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"expected HH:MM, got {value!r}")
    if value == "24:00":
        return time(23, 59, 59, 999999)
    return time(int(hours), int(minutes))


def utc_iso(epoch_seconds: float) -> str:
    """RFC 3339 text of an epoch instant, for logs and dead letters."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")
