"""Business hours pinned on hand-computed cases: holidays, closed days, split shifts, desks
across midnight and daylight-saving changes (docs/metrics.md, business hours)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from streams.config import ConfigError, parse_brands
from streams.core.business_hours import BusinessHours

PARIS = ZoneInfo("Europe/Paris")
H = 3600


def hours(**table: object) -> BusinessHours:
    brand = {"name": "acme", "handles": {"twitter": ["acme"]}, "business_hours": table}
    config = parse_brands({"brand": [brand]}).get("acme")
    assert config is not None and config.business_hours is not None
    return config.business_hours


def at(tz: ZoneInfo, *when: int) -> float:
    return datetime(*when, tzinfo=tz).timestamp()  # type: ignore[misc]


def test_christmas_under_french_holidays_is_two_business_hours() -> None:
    """Thu 24 Dec 2026 17:00 -> Mon 28 Dec 10:00, Paris, 09:00-18:00 Mon-Fri: 17:00-18:00 on
    Thursday, Friday 25 is Christmas, the weekend is closed, 09:00-10:00 on Monday."""
    desk = hours(timezone="Europe/Paris", holidays="FR")
    sent, answered = at(PARIS, 2026, 12, 24, 17), at(PARIS, 2026, 12, 28, 10)
    assert desk.seconds_between(sent, answered) == 7200
    assert desk.deadline(sent, 7200) == answered
    # Without the holiday, Friday counts 9 hours more.
    plain = hours(timezone="Europe/Paris")
    assert plain.seconds_between(sent, answered) == 7200 + 9 * H


def test_listed_closed_days_and_new_year() -> None:
    """Wed 30 Dec 17:00 -> Mon 4 Jan 2027 10:00: Thu 31 is closed by the list, Fri 1 Jan is
    a French holiday: 1 h on Wednesday, 1 h on Monday."""
    desk = hours(timezone="Europe/Paris", holidays="FR", closed=["2026-12-31"])
    sent, answered = at(PARIS, 2026, 12, 30, 17), at(PARIS, 2027, 1, 4, 10)
    assert desk.seconds_between(sent, answered) == 2 * H
    assert hours(timezone="Europe/Paris", holidays="FR").seconds_between(
        sent, answered) == 11 * H


def test_a_subdivision_has_its_own_holidays() -> None:
    """Tue 6 Jan 2026 is Epiphany in Bavaria (DE-BY), a working day in Berlin (DE-BE)."""
    berlin = ZoneInfo("Europe/Berlin")
    day = (at(berlin, 2026, 1, 6, 8), at(berlin, 2026, 1, 6, 20))
    assert hours(timezone="Europe/Berlin", holidays="DE-BY").seconds_between(*day) == 0
    assert hours(timezone="Europe/Berlin", holidays="de-be").seconds_between(*day) == 9 * H


def test_split_shift() -> None:
    """mon 09:00-12:00 and 14:00-18:00: 11:00 -> 15:00 is 1 h + 1 h; 2 h after 11:00 is 15:00;
    other days keep the default 09:00-18:00."""
    desk = hours(timezone="Europe/Paris", mon=["09:00-12:00", "14:00-18:00"])
    monday = (2026, 3, 2)
    assert desk.seconds_between(at(PARIS, *monday, 11), at(PARIS, *monday, 15)) == 2 * H
    assert desk.deadline(at(PARIS, *monday, 11), 2 * H) == at(PARIS, *monday, 15)
    assert desk.deadline(at(PARIS, *monday, 12, 30), 1) == at(PARIS, *monday, 14) + 1
    assert desk.seconds_between(at(PARIS, 2026, 3, 3, 11), at(PARIS, 2026, 3, 3, 15)) == 4 * H


def test_desk_across_midnight() -> None:
    """22:00-06:00 opening Mon-Fri: Tue 23:00 -> Wed 07:00 is 7 h; Friday's shift runs to
    Saturday 06:00, so Sat 05:00 -> Mon 23:00 is 1 h + 1 h; a shift belongs to the day it
    opens, so a holiday on Friday closes Friday night, not Thursday's shift into Friday."""
    desk = hours(timezone="Europe/Paris", start="22:00", end="06:00")
    assert desk.seconds_between(at(PARIS, 2026, 3, 3, 23), at(PARIS, 2026, 3, 4, 7)) == 7 * H
    assert desk.seconds_between(at(PARIS, 2026, 3, 7, 5), at(PARIS, 2026, 3, 9, 23)) == 2 * H
    assert desk.deadline(at(PARIS, 2026, 3, 7, 5), 2 * H) == at(PARIS, 2026, 3, 9, 23)
    # Fri 25 Dec 2026 is a holiday: Thu 22:00 -> Fri 06:00 counts, Fri 22:00 -> Sat does not.
    noel = hours(timezone="Europe/Paris", start="22:00", end="06:00", holidays="FR")
    span = (at(PARIS, 2026, 12, 24, 12), at(PARIS, 2026, 12, 26, 12))
    assert noel.seconds_between(*span) == 8 * H
    assert desk.seconds_between(*span) == 16 * H
    per_day = hours(timezone="Europe/Paris", sun=["20:00-02:00"], days=["sun"])
    assert per_day.seconds_between(at(PARIS, 2026, 3, 1, 12), at(PARIS, 2026, 3, 2, 12)) == 6 * H


def test_daylight_saving_changes_follow_the_wall_clock() -> None:
    """A Sunday desk 01:00-05:00: 3 real hours on 29 Mar 2026 (clocks jump 02:00 -> 03:00),
    5 on 25 Oct 2026 (03:00 -> 02:00), 4 on an ordinary Sunday."""
    desk = hours(timezone="Europe/Paris", days=["sun"], start="01:00", end="05:00")

    def sunday(*day: int) -> float:
        return desk.seconds_between(at(PARIS, *day, 0), at(PARIS, *day, 12))

    assert sunday(2026, 3, 29) == 3 * H
    assert sunday(2026, 10, 25) == 5 * H
    assert sunday(2026, 3, 22) == 4 * H
    # 09:00-18:00 on the Monday after the change is still 9 h, and deadlines land on 09:00.
    weekday = hours(timezone="Europe/Paris")
    friday_evening = at(PARIS, 2026, 3, 27, 18)
    assert weekday.deadline(friday_evening, 1) == at(PARIS, 2026, 3, 30, 9) + 1
    assert at(PARIS, 2026, 3, 30, 9) - at(PARIS, 2026, 3, 27, 9) == 3 * 86400 - H


def test_whole_day_and_legacy_single_window() -> None:
    desk = hours(timezone="UTC", days=["sat"], start="00:00", end="24:00")
    saturday = datetime(2026, 3, 7, tzinfo=ZoneInfo("UTC")).timestamp()
    assert desk.seconds_between(saturday - H, saturday + 25 * H) == 24 * H
    weekly = BusinessHours.weekly(PARIS, frozenset(range(5)),
                                  datetime(2026, 1, 1, 9).time(), datetime(2026, 1, 1, 18).time())
    assert weekly == hours(timezone="Europe/Paris")
    assert weekly.open_days == frozenset(range(5))


@pytest.mark.parametrize(("table", "field", "fix"), [
    ({"holidays": "XX"}, "business_hours.holidays", "ISO 3166"),
    ({"holidays": "US-ZZ"}, "business_hours.holidays", "US-CA"),
    ({"holidays": 33}, "business_hours.holidays", 'holidays = "FR"'),
    ({"closed": ["2026-13-01"]}, "business_hours.closed", "ISO dates"),
    ({"closed": "2026-12-31"}, "business_hours.closed", 'closed = ["2026-12-31"]'),
    ({"mon": ["09:00-13:00", "12:00-18:00"]}, "business_hours", "end before the next"),
    ({"sun": ["22:00-10:00"], "mon": ["09:00-18:00"]}, "business_hours", "end before"),
    ({"mon": ["9-18"]}, "business_hours.mon", "09:00-12:00"),
    ({"mon": ["09:00-09:00"]}, "business_hours.mon", "09:00-12:00"),
    ({"tue": "nope"}, "business_hours.tue", "HH:MM"),
    ({"days": ["sat"], "sat": []}, "business_hours.days", "remove business_hours"),
    ({"holiday": "FR"}, "business_hours.holiday", "holidays"),
])
def test_bad_business_hours_name_the_field_and_the_fix(table: dict, field: str,
                                                       fix: str) -> None:
    with pytest.raises(ConfigError) as error:
        hours(**table)
    assert f"(acme).{field}" in str(error.value) and "Fix:" in str(error.value)
    assert fix in str(error.value).split("Fix:")[1] or fix in str(error.value)
