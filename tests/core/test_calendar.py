"""Working-time arithmetic (core.calendar): the one module every deadline comes from.

The calendar in these tests is the shipped default (08:30–12:00 and 13:30–17:30, Monday to
Friday) with the 2026 holidays and swapped working days of catalog.defaults, built without a
database."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from civicgrid.catalog.defaults import HOLIDAYS_2026
from civicgrid.core import calendar as cal
from civicgrid.core.calendar import CalendarError, Unit, WorkCalendar

SH = ZoneInfo("Asia/Shanghai")
WH, WD, UH = Unit.WORKING_HOURS, Unit.WORKING_DAYS, Unit.URGENT_HOURS

CAL = WorkCalendar(
    holidays=frozenset(dt.date.fromisoformat(d) for d, k, _n in HOLIDAYS_2026 if k == "holiday"),
    workdays=frozenset(dt.date.fromisoformat(d) for d, k, _n in HOLIDAYS_2026 if k == "workday"),
)


def at(text: str, zone: ZoneInfo = SH) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=zone)


# --- the calendar itself ---------------------------------------------------------------------
def test_the_2026_national_day_week_is_off_and_the_weekends_around_it_are_worked() -> None:
    for day in range(1, 8):
        assert not CAL.is_working_day(dt.date(2026, 10, day)), day
    # 调休: Sunday 20 September and Saturday 10 October are working days on normal hours.
    assert dt.date(2026, 9, 20).weekday() == 6 and CAL.is_working_day(dt.date(2026, 9, 20))
    assert dt.date(2026, 10, 10).weekday() == 5 and CAL.is_working_day(dt.date(2026, 10, 10))
    assert CAL.periods_on(dt.date(2026, 10, 10)) == cal.DEFAULT_PERIODS
    # An ordinary weekend stays off.
    assert not CAL.is_working_day(dt.date(2026, 10, 11))


def test_the_2026_days_are_those_of_the_state_council_notice() -> None:
    """国务院办公厅关于2026年部分节假日安排的通知 (4 November 2025), written out."""

    def span(month: int, first: int, last: int) -> set[dt.date]:
        return {dt.date(2026, month, d) for d in range(first, last + 1)}

    holidays = (
        span(1, 1, 3)  # 元旦
        | span(2, 15, 23)  # 春节
        | span(4, 4, 6)  # 清明节
        | span(5, 1, 5)  # 劳动节
        | span(6, 19, 21)  # 端午节
        | span(9, 25, 27)  # 中秋节
        | span(10, 1, 7)  # 国庆节
    )
    workdays = {
        dt.date(2026, 1, 4),
        dt.date(2026, 2, 14),
        dt.date(2026, 2, 28),
        dt.date(2026, 5, 9),
        dt.date(2026, 9, 20),
        dt.date(2026, 10, 10),
    }
    assert CAL.holidays == holidays
    assert CAL.workdays == workdays
    assert all(day.weekday() >= 5 for day in workdays)


def test_a_normal_working_day_is_seven_and_a_half_hours() -> None:
    assert CAL.day_seconds == 7.5 * 3600


def test_overlapping_or_reversed_periods_are_refused() -> None:
    with pytest.raises(CalendarError):
        WorkCalendar(weekly=(((dt.time(9), dt.time(12)), (dt.time(11), dt.time(14))),) * 7)
    with pytest.raises(CalendarError):
        WorkCalendar(weekly=(((dt.time(12), dt.time(9)),),) * 7)
    with pytest.raises(CalendarError):
        WorkCalendar(weekly=((),) * 6)
    with pytest.raises(CalendarError):
        cal.parse_period("8:30 to 12")


def test_a_calendar_without_any_working_time_says_so_instead_of_looping() -> None:
    empty = WorkCalendar(weekly=((),) * 7)
    with pytest.raises(CalendarError):
        cal.deadline(at("2026-03-02 09:00"), 1, WH, empty)


# --- deadlines -------------------------------------------------------------------------------
def test_working_hours_skip_the_lunch_break() -> None:
    assert cal.deadline(at("2026-03-02 11:00"), 2, WH, CAL) == at("2026-03-02 14:30")
    # Exactly filling the morning ends at noon, not after lunch.
    assert cal.deadline(at("2026-03-02 08:30"), 3.5, WH, CAL) == at("2026-03-02 12:00")


def test_working_hours_skip_the_night() -> None:
    assert cal.deadline(at("2026-03-02 17:00"), 1, WH, CAL) == at("2026-03-03 09:00")
    # Started in the middle of the night: the clock runs from the next morning.
    assert cal.deadline(at("2026-03-02 23:59"), 1, WH, CAL) == at("2026-03-03 09:30")
    assert cal.deadline(at("2026-03-03 00:01"), 1, WH, CAL) == at("2026-03-03 09:30")


def test_a_friday_afternoon_start_is_due_on_monday() -> None:
    friday = at("2026-03-06 15:00")
    assert friday.weekday() == 4
    # One working day = 7.5 working hours: 2.5 h on Friday, 3.5 h Monday morning, 1.5 h after.
    assert cal.deadline(friday, 1, WD, CAL) == at("2026-03-09 15:00")
    assert cal.deadline(friday, 5, WH, CAL) == at("2026-03-09 11:00")
    # Urgent hours do not care about weekends.
    assert cal.deadline(friday, 5, UH, CAL) == at("2026-03-06 20:00")


def test_one_working_day_from_a_morning_ends_the_next_morning() -> None:
    assert cal.deadline(at("2026-03-02 10:00"), 1, WD, CAL) == at("2026-03-03 10:00")
    assert cal.deadline(at("2026-03-02 10:00"), 3, WD, CAL) == at("2026-03-05 10:00")


def test_urgent_hours_run_through_night_and_holiday() -> None:
    assert cal.deadline(at("2026-09-30 22:00"), 8, UH, CAL) == at("2026-10-01 06:00")


def test_a_case_before_national_day_is_due_after_it_and_on_the_swapped_saturday() -> None:
    # Wednesday 30 September 16:30: 1 h left that day, then the holiday week (1–7 October),
    # then Thursday 8 and Friday 9 October.
    start = at("2026-09-30 16:30")
    assert cal.deadline(start, 1, WH, CAL) == at("2026-09-30 17:30")
    assert cal.deadline(start, 2, WH, CAL) == at("2026-10-08 09:30")
    # 1 h + 7.5 h + 7.5 h = 16 h; the last 7.5 h of 3 working days fall on Saturday 10 October.
    assert cal.deadline(start, 3, WD, CAL) == at("2026-10-10 16:30")


def test_a_weekend_start_counts_the_swapped_sunday() -> None:
    # Saturday 19 September is off; Sunday 20 September is a working day (调休).
    assert cal.deadline(at("2026-09-19 10:00"), 1, WH, CAL) == at("2026-09-20 09:30")


def test_spring_festival_holiday_is_nine_days_off() -> None:
    # Friday 13 Feb 17:00; Saturday 14 Feb is worked (7.5 h); 15–23 Feb are off.
    start = at("2026-02-13 17:00")
    assert cal.deadline(start, 1, WH, CAL) == at("2026-02-14 09:00")
    assert cal.deadline(start, 8, WH, CAL) == at("2026-02-14 17:30")
    assert cal.deadline(start, 9, WH, CAL) == at("2026-02-24 09:30")


def test_start_outside_working_time_begins_at_the_next_period() -> None:
    assert cal.deadline(at("2026-03-02 06:00"), 1, WH, CAL) == at("2026-03-02 09:30")
    assert cal.deadline(at("2026-03-02 12:45"), 1, WH, CAL) == at("2026-03-02 14:30")
    assert cal.deadline(at("2026-03-07 12:00"), 1, WH, CAL) == at("2026-03-09 09:30")


def test_fractional_amounts() -> None:
    assert cal.deadline(at("2026-03-02 08:30"), 0.25, WH, CAL) == at("2026-03-02 08:45")
    assert cal.deadline(at("2026-03-02 08:30"), 0.5, WD, CAL) == at("2026-03-02 13:45")
    assert cal.deadline(at("2026-03-02 08:30"), 1.5, UH, CAL) == at("2026-03-02 10:00")


def test_a_zero_limit_is_due_at_once_whatever_the_time() -> None:
    for text in ("2026-03-02 10:00", "2026-03-02 12:00", "2026-03-07 12:00", "2026-10-01 09:00"):
        for unit in (WH, WD, UH):
            assert cal.deadline(at(text), 0, unit, CAL) == at(text), (text, unit)


def test_a_deadline_ending_a_period_stays_there_when_nothing_is_added() -> None:
    noon = cal.deadline(at("2026-03-02 08:30"), 3.5, WH, CAL)
    assert noon == at("2026-03-02 12:00")
    # A suspension during the lunch break gives back no working time: the deadline stays put.
    assert cal.shift(noon, 0, WH, CAL) == noon


def test_negative_and_unknown_limits_are_refused() -> None:
    with pytest.raises(CalendarError):
        cal.deadline(at("2026-03-02 10:00"), -1, WH, CAL)
    with pytest.raises(CalendarError):
        cal.deadline(at("2026-03-02 10:00"), 1, "fortnights", CAL)


def test_naive_datetimes_are_refused() -> None:
    naive = dt.datetime(2026, 3, 2, 10, 0)
    for unit in (WH, WD, UH):
        with pytest.raises(CalendarError):
            cal.deadline(naive, 1, unit, CAL)
    with pytest.raises(CalendarError):
        cal.working_seconds_between(naive, at("2026-03-03 10:00"), CAL)
    with pytest.raises(CalendarError):
        cal.working_seconds_between(at("2026-03-02 10:00"), naive, CAL)
    with pytest.raises(CalendarError):
        cal.elapsed(naive, at("2026-03-03 10:00"), UH, CAL)
    with pytest.raises(CalendarError):
        cal.shift(naive, 3600, WH, CAL)


def test_times_in_other_zones_are_read_in_the_calendars_zone() -> None:
    # 01:00 UTC is 09:00 in Shanghai; 21:00 New York (EST, UTC-5) the day before is 10:00.
    utc = at("2026-03-02 01:00", ZoneInfo("UTC"))
    due = cal.deadline(utc, 1, WH, CAL)
    assert due == at("2026-03-02 10:00") and due.utcoffset() == dt.timedelta(hours=8)
    new_york = at("2026-03-01 21:00", ZoneInfo("America/New_York"))
    assert cal.deadline(new_york, 1, WH, CAL) == at("2026-03-02 11:00")
    assert cal.deadline(new_york, 1, UH, CAL) == at("2026-03-02 11:00")
    # 02:00 at UTC+1 is 09:00 in Shanghai: three working hours to noon.
    fixed = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert cal.working_seconds_between(fixed, at("2026-03-02 12:00"), CAL) == 3 * 3600


def test_urgent_hours_are_real_hours_in_a_zone_with_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    calendar = WorkCalendar(zone="Europe/Berlin")
    # Summer time starts on 29 March 2026 at 02:00 (clocks jump to 03:00).
    start = at("2026-03-29 01:00", berlin)
    due = cal.deadline(start, 2, UH, calendar)
    assert due == at("2026-03-29 04:00", berlin)
    assert due.astimezone(dt.UTC) - start.astimezone(dt.UTC) == dt.timedelta(hours=2)
    assert cal.elapsed(start, due, UH, calendar) == 2 * 3600
    assert cal.shift(start, 7200, UH, calendar).astimezone(dt.UTC) == due.astimezone(dt.UTC)


# --- elapsed time ----------------------------------------------------------------------------
def test_working_seconds_between() -> None:
    ws = cal.working_seconds_between
    assert ws(at("2026-03-02 11:00"), at("2026-03-02 14:00"), CAL) == 1.5 * 3600
    assert ws(at("2026-03-06 17:00"), at("2026-03-09 09:00"), CAL) == 3600
    assert ws(at("2026-03-02 14:00"), at("2026-03-02 11:00"), CAL) == 0
    assert ws(at("2026-10-01 00:00"), at("2026-10-08 00:00"), CAL) == 0
    assert cal.elapsed(at("2026-10-01 00:00"), at("2026-10-02 00:00"), UH, CAL) == 86400
    assert cal.elapsed(at("2026-10-01 00:00"), at("2026-10-02 00:00"), WD, CAL) == 0


# --- properties ------------------------------------------------------------------------------
# Instants from late 2025 to early 2027 (the holidays of 2026 matter), in Shanghai or another
# zone, to the microsecond; amounts in quarter hours so that sums are exact.
zones = st.sampled_from([SH, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")])
instants = st.builds(
    lambda moment, zone: moment.replace(tzinfo=dt.UTC).astimezone(zone),
    st.datetimes(min_value=dt.datetime(2025, 12, 20), max_value=dt.datetime(2027, 1, 10)),
    zones,
)
quarters = st.integers(min_value=0, max_value=4 * 200).map(lambda q: q / 4)
fast = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(start=instants, a=quarters, b=quarters)
def test_a_limit_split_in_two_ends_where_the_whole_does(
    start: dt.datetime, a: float, b: float
) -> None:
    whole = cal.deadline(start, a + b, WH, CAL)
    assert cal.deadline(cal.deadline(start, a, WH, CAL), b, WH, CAL) == whole


@fast
@given(start=instants, x=quarters)
def test_the_working_time_to_a_deadline_is_the_limit(start: dt.datetime, x: float) -> None:
    due = cal.deadline(start, x, WH, CAL)
    assert cal.working_seconds_between(start, due, CAL) == x * 3600


@fast
@given(start=instants, x=quarters, unit=st.sampled_from([WH, WD, UH]))
def test_deadlines_never_precede_the_start(start: dt.datetime, x: float, unit: str) -> None:
    due = cal.deadline(start, x, unit, CAL)
    assert due >= start
    assert due.tzinfo is not None and due.utcoffset() == dt.timedelta(hours=8)


@fast
@given(start=instants, x=quarters, y=quarters, unit=st.sampled_from([WH, WD, UH]))
def test_deadlines_grow_with_the_limit(start: dt.datetime, x: float, y: float, unit: str) -> None:
    assume(x <= y)
    assert cal.deadline(start, x, unit, CAL) <= cal.deadline(start, y, unit, CAL)


@fast
@given(
    start=instants,
    limit=quarters,
    pause_at=st.integers(min_value=0, max_value=600 * 60),
    pause_for=st.integers(min_value=0, max_value=14 * 24 * 60),
    unit=st.sampled_from([WH, WD, UH]),
)
def test_shift_after_elapsed_gives_back_the_remaining_time(
    start: dt.datetime, limit: float, pause_at: int, pause_for: int, unit: str
) -> None:
    """Suspend at some moment before the deadline, resume later: the time left is what it was
    when the clock stopped."""
    due = cal.deadline(start, limit, unit, CAL)
    suspended = start + dt.timedelta(minutes=pause_at)
    assume(suspended <= due)
    resumed = suspended + dt.timedelta(minutes=pause_for)
    left_before = cal.elapsed(suspended, due, unit, CAL)
    new_due = cal.shift(due, cal.elapsed(suspended, resumed, unit, CAL), unit, CAL)
    assert new_due >= due
    assert cal.elapsed(resumed, new_due, unit, CAL) == left_before
