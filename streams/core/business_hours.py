"""Business-hours arithmetic: how many working seconds lie between two instants.

A brand with business hours is only on the clock while its support desk is open, so a
message sent on Friday evening and answered on Monday morning may have waited only a few
business minutes. All instants are UTC epoch seconds; the calendar is evaluated in the
brand's own time zone so that daylight-saving changes are honoured.

The desk's week is a list of shifts per weekday ("09:00-12:00", "14:00-18:00"); a shift
whose end is not after its start runs past midnight into the next day and belongs to the
day it opens. A closed day (a public holiday of the brand's country, from the maintained
`holidays` package, or a listed date) cancels the shifts that open on it. Each local day's
opening intervals are computed once and cached per instance: the worker asks for them for
every reply and every deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 86400
#: `deadline` gives up (returns inf) past this many days of closed desk.
MAX_DEADLINE_DAYS = 400
_DAY_CACHE_LIMIT = 4096

Shift = tuple[int, int]  # (opens, closes) in seconds after the local midnight of its day
Intervals = tuple[tuple[float, float], ...]


@lru_cache(maxsize=256)
def holiday_dates(code: str, year: int) -> frozenset[date]:
    """Public holidays of `code` ("FR", "US-CA", "DE-BY") in `year`.

    Raises ValueError naming what is unknown (config validation turns it into a fix)."""
    import holidays  # imported on first use: brands without holidays never pay for it

    country, _, subdiv = code.partition("-")
    try:
        calendar = holidays.country_holidays(country, subdiv=subdiv or None, years=year)
    except NotImplementedError as exc:
        raise ValueError(str(exc)) from None
    return frozenset(calendar)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours of a brand's support desk in its own time zone."""

    timezone: ZoneInfo
    week: tuple[tuple[Shift, ...], ...]  # 7 entries, Monday first; shifts sorted, disjoint
    holidays: str | None = None  # country code with optional subdivision, e.g. "US-CA"
    closed: frozenset[date] = frozenset()  # extra closed days
    _days: dict[date, Intervals] = field(default_factory=dict, compare=False, hash=False,
                                         repr=False)

    @classmethod
    def weekly(cls, timezone: ZoneInfo, open_days: frozenset[int], opens: time,
               closes: time) -> BusinessHours:
        """The same single window on each open weekday (0 = Monday)."""
        shift = (_seconds(opens), _seconds(closes))
        return cls(timezone, tuple((shift,) if d in open_days else () for d in range(7)))

    @property
    def open_days(self) -> frozenset[int]:
        """Weekdays with at least one shift (0 = Monday)."""
        return frozenset(d for d, shifts in enumerate(self.week) if shifts)

    def is_closed(self, day: date) -> bool:
        """A listed closed day or a public holiday: no shift opens on it."""
        return day in self.closed or (
            self.holidays is not None and day in holiday_dates(self.holidays, day.year))

    def intervals(self, day: date) -> Intervals:
        """Opening intervals (UTC epoch seconds) of the shifts that open on local `day`."""
        cached = self._days.get(day)
        if cached is not None:
            return cached
        shifts = () if self.is_closed(day) else self.week[day.weekday()]
        midnight = datetime.combine(day, time())
        tz = self.timezone
        found = tuple(
            ((midnight + timedelta(seconds=opens)).replace(tzinfo=tz).timestamp(),
             (midnight + timedelta(seconds=closes)).replace(tzinfo=tz).timestamp())
            for opens, closes in shifts)
        if len(self._days) >= _DAY_CACHE_LIMIT:
            self._days.clear()
        self._days[day] = found
        return found

    def seconds_between(self, start: float, end: float) -> float:
        """Open seconds in [start, end]; 0 when end precedes start."""
        if end <= start:
            return 0.0
        tz = self.timezone
        # From the day before: a shift opened yesterday may run past midnight.
        day = datetime.fromtimestamp(start, tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(end, tz).date()
        total = 0.0
        while day <= last:  # bounded: one pass per local day of the span
            for opens, closes in self.intervals(day):
                overlap = min(closes, end) - max(opens, start)
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total

    def deadline(self, start: float, business_seconds: float) -> float:
        """The instant at which `business_seconds` of opening time have elapsed after
        `start`; inf when the desk stays closed for MAX_DEADLINE_DAYS."""
        remaining = business_seconds
        day = datetime.fromtimestamp(start, self.timezone).date() - timedelta(days=1)
        for _ in range(MAX_DEADLINE_DAYS):
            for opens, closes in self.intervals(day):
                if closes <= start:
                    continue
                begin = max(opens, start)
                available = closes - begin
                if available >= remaining:
                    return begin + remaining
                remaining -= available
            day += timedelta(days=1)
        return math.inf


def _seconds(clock: time) -> int:
    return clock.hour * 3600 + clock.minute * 60 + clock.second


def parse_clock(value: str) -> time:
    """Parse "HH:MM" (24 h) into a time; raises ValueError with the offending text.
    "24:00" (the end of a day) is 23:59:59.999999; `parse_shift` reads it exactly."""
    if parse_clock_seconds(value) == DAY:
        return time(23, 59, 59, 999999)
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def parse_clock_seconds(value: str) -> int:
    """Seconds after midnight of "HH:MM" (00:00 to 24:00); ValueError otherwise."""
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2
            and int(minutes) < 60 and (int(hours) < 24 or value == "24:00")):
        raise ValueError(f"expected HH:MM, got {value!r}")
    return int(hours) * 3600 + int(minutes) * 60


def parse_shift(value: str) -> Shift:
    """ "09:00-18:00" -> (32400, 64800); an end not after the start crosses midnight
    ("22:00-06:00" -> (79200, 108000)). ValueError for anything else or an empty shift."""
    opens_text, sep, closes_text = value.partition("-")
    if not sep:
        raise ValueError(f'expected "HH:MM-HH:MM", got {value!r}')
    opens = parse_clock_seconds(opens_text.strip())
    closes = parse_clock_seconds(closes_text.strip())
    if opens == DAY:
        raise ValueError(f"a shift cannot open at 24:00: {value!r}")
    if closes == opens:
        raise ValueError(f"empty shift {value!r} (a whole day is 00:00-24:00)")
    if closes < opens:
        closes += DAY
    return opens, closes


def week_overlap(week: tuple[tuple[Shift, ...], ...]) -> str | None:
    """Where two shifts of a week overlap (they would count the same hour twice), or None.
    Shifts of a day must be sorted; a shift past midnight must end before the next day's
    first shift opens (Sunday's before Monday's)."""
    for index, shifts in enumerate(week):
        for previous, current in pairwise(shifts):
            if current[0] < previous[1]:
                return f"{DAY_NAMES[index]}: shifts overlap or are not in order"
        following = week[(index + 1) % 7]
        if shifts and following and shifts[-1][1] - DAY > following[0][0]:
            return (f"{DAY_NAMES[index]}: the shift past midnight overlaps "
                    f"{DAY_NAMES[(index + 1) % 7]}'s first shift")
    return None


def utc_iso(epoch_seconds: float) -> str:
    """RFC 3339 text of an epoch instant, for logs and dead letters."""
    return datetime.fromtimestamp(epoch_seconds, UTC).isoformat().replace("+00:00", "Z")
