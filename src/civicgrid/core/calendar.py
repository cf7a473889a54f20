"""Working-time arithmetic: the one place where deadlines are computed (ARCHITECTURE rule 8).

A calendar is the weekly working periods (e.g. 08:30–12:00 and 13:30–17:30, Monday to Friday),
public holidays (days off that would be working days) and swapped working days (调休: weekend
days that are worked, on the normal weekday periods). Times may arrive in any time zone; they
are read in the calendar's zone and results come back in it.

Three units of time limit (DOMAIN.md §5):
- working hours: working time only (nights, lunch breaks, weekends and holidays do not count);
- working days: working time too, one working day being the length of a normal working day,
  so "1 working day" from Monday 10:00 ends on Tuesday 10:00, and a Friday afternoon report
  is due on Monday afternoon;
- urgent hours: calendar time, every hour counts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo

Period = tuple[dt.time, dt.time]

DEFAULT_PERIODS: tuple[Period, ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(17, 30)),
)
# Far enough to cover any real limit; guards against a calendar with no working time at all.
MAX_DAYS_AHEAD = 3660


class Unit(StrEnum):
    WORKING_HOURS = "working_hours"
    WORKING_DAYS = "working_days"
    URGENT_HOURS = "urgent_hours"


class CalendarError(ValueError):
    pass


@dataclass(frozen=True)
class WorkCalendar:
    zone: str = "Asia/Shanghai"
    # Periods for Monday … Sunday; an empty tuple is a day off.
    weekly: tuple[tuple[Period, ...], ...] = (DEFAULT_PERIODS,) * 5 + ((), ())
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    workdays: frozenset[dt.date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise CalendarError("a week has seven days")
        for periods in self.weekly:
            for start, end in periods:
                if not start < end:
                    raise CalendarError(f"working period {start}–{end} ends before it starts")
            ordered = sorted(periods)
            for (_s1, e1), (s2, _e2) in itertools.pairwise(ordered):
                if s2 < e1:
                    raise CalendarError("working periods of a day overlap")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.zone)

    @property
    def standard_periods(self) -> tuple[Period, ...]:
        """The periods of a normal working day (used on swapped working days)."""
        for periods in self.weekly:
            if periods:
                return tuple(sorted(periods))
        return DEFAULT_PERIODS

    @property
    def day_seconds(self) -> float:
        """Length of a normal working day: the unit of "working days"."""
        return sum(_seconds(start, end) for start, end in self.standard_periods)

    def periods_on(self, day: dt.date) -> tuple[Period, ...]:
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.standard_periods
        return tuple(sorted(self.weekly[day.weekday()]))

    def is_working_day(self, day: dt.date) -> bool:
        return bool(self.periods_on(day))

    def intervals(self, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
        """Working intervals from `start` on, in order, clipped so none begins before it."""
        local = _aware(start).astimezone(self.tz)
        day = local.date()
        for _ in range(MAX_DAYS_AHEAD):
            for begin, end in self.periods_on(day):
                a = dt.datetime.combine(day, begin, self.tz)
                b = dt.datetime.combine(day, end, self.tz)
                if b <= local:
                    continue
                yield max(a, local), b
            day += dt.timedelta(days=1)
        raise CalendarError("no working time within ten years: check the calendar")


def _seconds(start: dt.time, end: dt.time) -> float:
    base = dt.date(2000, 1, 1)
    return (dt.datetime.combine(base, end) - dt.datetime.combine(base, start)).total_seconds()


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        raise CalendarError("times must carry a time zone")
    return value


def _real(value: dt.datetime) -> dt.datetime:
    """In UTC, where adding and subtracting are real time: Python does wall-clock arithmetic
    on two times of the same zone, which is wrong across a daylight-saving change."""
    return _aware(value).astimezone(dt.UTC)


def _in_zone(value: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
    return value.astimezone(calendar.tz)


def add_working_seconds(start: dt.datetime, seconds: float, calendar: WorkCalendar) -> dt.datetime:
    """The instant at which `seconds` of working time have passed since `start`.

    Nothing to add means no time passes, even outside working hours: a deadline that ends a
    period (12:00) stays there rather than jumping to the next one (13:30). The arithmetic runs
    on timedeltas, exact to the microsecond, so that splitting a limit in two parts ends at
    the same instant as the whole."""
    if seconds < 0:
        raise CalendarError("a time limit cannot be negative")
    local = _aware(start).astimezone(calendar.tz)
    remaining = dt.timedelta(seconds=seconds)
    if not remaining:
        return local
    for a, b in calendar.intervals(local):
        span = _real(b) - _real(a)
        if remaining <= span:
            return _in_zone(_real(a) + remaining, calendar)
        remaining -= span
    raise CalendarError("unreachable")  # intervals() raises first


def working_seconds_between(a: dt.datetime, b: dt.datetime, calendar: WorkCalendar) -> float:
    """Working time in [a, b) (zero when b is not after a)."""
    a, b = _aware(a), _aware(b)
    if b <= a:
        return 0.0
    total = dt.timedelta()
    for start, end in calendar.intervals(a):
        if start >= b:
            break
        total += _real(min(end, b)) - _real(start)
    return total.total_seconds()


def limit_seconds(amount: float, unit: str, calendar: WorkCalendar) -> float:
    """A limit expressed in its unit, as seconds of (working or calendar) time."""
    if amount < 0:
        raise CalendarError("a time limit cannot be negative")
    if unit == Unit.WORKING_DAYS:
        return amount * calendar.day_seconds
    if unit in (Unit.WORKING_HOURS, Unit.URGENT_HOURS):
        return amount * 3600.0
    raise CalendarError(f"unknown unit of time limit: {unit!r}")


def deadline(start: dt.datetime, amount: float, unit: str, calendar: WorkCalendar) -> dt.datetime:
    """When a limit of `amount` `unit`s that starts at `start` runs out."""
    seconds = limit_seconds(amount, unit, calendar)
    if unit == Unit.URGENT_HOURS:
        return _in_zone(_real(start) + dt.timedelta(seconds=seconds), calendar)
    return add_working_seconds(start, seconds, calendar)


def elapsed(a: dt.datetime, b: dt.datetime, unit: str, calendar: WorkCalendar) -> float:
    """Seconds of the unit's kind of time between a and b (working time, or calendar time for
    urgent limits) — what a suspension (the clock stopped) must give back."""
    if unit == Unit.URGENT_HOURS:
        return max(0.0, (_real(b) - _real(a)).total_seconds())
    return working_seconds_between(a, b, calendar)


def shift(due: dt.datetime, seconds: float, unit: str, calendar: WorkCalendar) -> dt.datetime:
    """Move a deadline later by `seconds` of the unit's kind of time (after a suspension)."""
    if seconds < 0:
        raise CalendarError("a deadline is never moved earlier")
    if unit == Unit.URGENT_HOURS:
        return _in_zone(_real(due) + dt.timedelta(seconds=seconds), calendar)
    return add_working_seconds(due, seconds, calendar)


def parse_period(text: str) -> Period:
    """'08:30-12:00' → (08:30, 12:00)."""
    try:
        start, end = (dt.time.fromisoformat(part.strip()) for part in text.split("-", 1))
    except ValueError as exc:
        raise CalendarError(f"not a working period: {text!r} (use HH:MM-HH:MM)") from exc
    if not start < end:
        raise CalendarError(f"working period {text!r} ends before it starts")
    return start, end


def dates(values: Iterable[dt.date]) -> frozenset[dt.date]:
    return frozenset(values)
