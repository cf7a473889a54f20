"""The SLA sweep, run with an explicit `now`: yellow, then red with one automatic urge and a
notice to the unit that has the case; idempotent; suspended cases and cases without limits
left alone; deadlines that skip a public holiday."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from civicgrid.accounts.models import User
from civicgrid.cases import sla
from civicgrid.cases.choices import SlaState, Status
from civicgrid.cases.models import Case
from civicgrid.cases.sweep import sweep
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.models import Notification
from civicgrid.core.sms import MemoryBackend

from ..world import World
from .conftest import act, fresh, report, to_state

SH = ZoneInfo("Asia/Shanghai")
TICK = dt.timedelta(microseconds=1)


def steps(case: Case) -> list[str]:
    return list(case.steps.order_by("seq").values_list("action", flat=True))


def test_yellow_then_red_with_one_automatic_urge(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "dispatched", people, world)
    assert case.sla_state == SlaState.NORMAL and case.stage == "accept"
    assert case.warn_at is not None and case.stage_due is not None
    assert case.stage_started_at < case.warn_at < case.stage_due
    version, notices = case.version, Notification.objects.count()

    assert sweep(now=case.warn_at - TICK).yellow == 0
    assert fresh(case).sla_state == SlaState.NORMAL
    first = sweep(now=case.warn_at)
    assert (first.yellow, first.red) == (1, 0)
    assert fresh(case).sla_state == SlaState.YELLOW
    assert sweep(now=case.warn_at).yellow == 0  # nothing new at the same moment
    assert sweep(now=case.stage_due - TICK).red == 0

    due = sweep(now=case.stage_due)
    assert (due.yellow, due.red, due.urged) == (0, 1, 1)
    after = fresh(case)
    assert after.sla_state == SlaState.RED and after.urge_count == 1
    assert steps(after) == ["report", "register", "dispatch", "urge"]
    urge = after.steps.order_by("-seq").first()
    assert urge is not None
    assert urge.actor_id is None and urge.actor_name == "system" and urge.time == case.stage_due
    assert urge.from_status == urge.to_status == Status.DISPATCHED
    assert urge.data == {"automatic": True, "due": case.stage_due.isoformat()}
    # The sweep does not make the version people hold stale.
    assert after.version == version
    overdue = Notification.objects.filter(kind="overdue")
    assert [n.user_id for n in overdue] == [people["handler"].pk]
    assert case.number in overdue.get().title
    assert Notification.objects.count() == notices + 1

    # Idempotent: later runs change nothing and urge no more.
    for later in (case.stage_due, case.stage_due + dt.timedelta(days=3)):
        again = sweep(now=later)
        assert (again.yellow, again.red, again.urged) == (0, 0, 0)
    assert steps(fresh(case)) == steps(after) and fresh(case).urge_count == 1
    assert Notification.objects.count() == notices + 1


def test_a_case_that_skipped_yellow_goes_straight_to_red(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "dispatched", people, world)
    result = sweep(now=case.stage_due + dt.timedelta(hours=1))
    assert (result.yellow, result.red) == (0, 1)
    assert fresh(case).sla_state == SlaState.RED


def test_the_next_stage_has_its_own_clock_and_its_own_urge(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "dispatched", people, world)
    sweep(now=case.stage_due)
    case = act("accept", case, people["handler"])
    assert case.stage == "handle" and case.sla_state == SlaState.NORMAL
    result = sweep(now=case.stage_due)
    assert result.red == 1
    assert steps(fresh(case)).count("urge") == 2 and fresh(case).urge_count == 2


def test_suspended_cases_are_left_alone(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "suspended", people, world)
    assert case.stage_due is not None
    before = (case.sla_state, case.urge_count, steps(case))
    result = sweep(now=case.stage_due + dt.timedelta(days=30))
    assert (result.yellow, result.red) == (0, 0)
    case = fresh(case)
    assert (case.sla_state, case.urge_count, steps(case)) == before


def test_cases_without_time_limits_are_ignored(world: World, people: dict[str, User]) -> None:
    CaseCategory.objects.create(code="other", name="其他", name_en="Other")
    case = to_state(report(people["worker"], code="other"), "accepted", people, world)
    assert case.stage == "handle" and case.stage_due is None
    assert case.sla_state == SlaState.NONE
    result = sweep(now=case.reported_at + dt.timedelta(days=365))
    assert (result.yellow, result.red) == (0, 0)
    assert fresh(case).sla_state == SlaState.NONE and steps(fresh(case))[-1] == "accept"


def test_only_cases_whose_clock_runs_are_swept(world: World, people: dict[str, User]) -> None:
    """Reported, registered, handled and closed cases have no running clock."""
    cases = [
        report(people["worker"]),
        to_state(report(people["worker"]), "registered", people, world),
        to_state(report(people["worker"]), "handled", people, world),
        to_state(report(people["worker"]), "closed", people, world),
    ]
    result = sweep(now=cases[0].reported_at + dt.timedelta(days=365))
    assert (result.yellow, result.red) == (0, 0)
    assert all(fresh(c).sla_state == SlaState.NONE for c in cases)


def test_overdue_cases_of_a_unit_make_one_notice_per_person(
    world: World, people: dict[str, User]
) -> None:
    cases = [to_state(report(people["worker"]), "dispatched", people, world) for _ in range(3)]
    latest = max(c.stage_due for c in cases)
    assert sweep(now=latest).red == 3
    notice = Notification.objects.get(kind="overdue")
    assert notice.user_id == people["handler"].pk
    assert all(c.number in notice.title for c in cases)
    assert notice.url == "/cases/?queue=overdue"  # several cases: the queue


def test_overdue_notices_reach_each_owning_units_own_people(
    world: World, people: dict[str, User]
) -> None:
    at_department = to_state(report(people["worker"]), "dispatched", people, world)
    at_centre = to_state(report(people["worker"]), "checking", people, world)
    assert at_department.owner_unit != at_centre.owner_unit
    assert sweep(now=max(at_department.stage_due, at_centre.stage_due)).red == 2
    notices = {n.user_id: n.title for n in Notification.objects.filter(kind="overdue")}
    assert set(notices) == {people["handler"].pk, people["community"].pk}
    assert at_department.number in notices[people["handler"].pk]
    assert at_centre.number not in notices[people["handler"].pk]
    assert at_centre.number in notices[people["community"].pk]
    assert at_department.number not in notices[people["community"].pk]
    links = {n.user_id: n.url for n in Notification.objects.filter(kind="overdue")}
    assert links[people["handler"].pk] == f"/cases/{at_department.pk}/"  # one case: the case


@pytest.mark.django_db
def test_the_case_table_leaves_room_for_in_place_updates_on_postgresql() -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("fillfactor is a PostgreSQL storage parameter")
    with connection.cursor() as cursor:
        cursor.execute("select reloptions from pg_class where relname = 'cases_case'")
        (options,) = cursor.fetchone()
    assert "fillfactor=80" in (options or [])


def test_an_urgent_overdue_case_also_sends_an_sms(
    world: World,
    people: dict[str, User],
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.SMS_BACKEND = "civicgrid.core.sms.MemoryBackend"
    User.objects.filter(pk=people["handler"].pk).update(mobile="13800138000")
    case = to_state(report(people["worker"], code="facility.manhole"), "dispatched", people, world)
    MemoryBackend.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert sweep(now=case.stage_due).red == 1
    assert [phone for phone, _text in MemoryBackend.outbox] == ["13800138000"]


# --- a case before a public holiday --------------------------------------------------------------
def test_a_case_taken_in_before_national_day_is_due_after_it(
    world: World, people: dict[str, User]
) -> None:
    """Exposed rubbish: 1 working day to handle, yellow at 75 %. Accepted on Wednesday
    30 September 2026 at 16:30: one working hour that day, then 1–7 October are off, and the
    remaining 6.5 hours run on Thursday 8 October."""
    case = to_state(report(people["worker"]), "accepted", people, world)
    accepted = dt.datetime(2026, 9, 30, 16, 30, tzinfo=SH)
    sla.start_stage(case, "handle", accepted)
    case.save(update_fields=["stage", "stage_started_at", "stage_due", "warn_at", "handle_due",
                             "steps_due", "sla_state"])  # fmt: skip
    case = fresh(case)
    assert case.handle_due == case.stage_due == dt.datetime(2026, 10, 8, 16, 30, tzinfo=SH)
    # 75 % of 7.5 h = 5 h 37 min 30 s: 1 h on 30 Sep, 3.5 h on the morning of 8 Oct, then 1 h 7.5.
    assert case.warn_at == dt.datetime(2026, 10, 8, 14, 37, 30, tzinfo=SH)

    assert sweep(now=dt.datetime(2026, 10, 5, 12, 0, tzinfo=SH)).yellow == 0
    assert sweep(now=dt.datetime(2026, 10, 8, 14, 37, 30, tzinfo=SH)).yellow == 1
    assert sweep(now=dt.datetime(2026, 10, 8, 16, 30, tzinfo=SH)).red == 1


@pytest.mark.parametrize(
    ("accepted", "due"),
    [
        # Friday afternoon before the swapped working Saturday 10 October.
        (dt.datetime(2026, 10, 9, 15, 0, tzinfo=SH), dt.datetime(2026, 10, 10, 15, 0, tzinfo=SH)),
        # The eve of the Spring Festival (Saturday 14 February is worked, 15–23 are off).
        (dt.datetime(2026, 2, 13, 15, 0, tzinfo=SH), dt.datetime(2026, 2, 14, 15, 0, tzinfo=SH)),
        (dt.datetime(2026, 2, 14, 15, 0, tzinfo=SH), dt.datetime(2026, 2, 24, 15, 0, tzinfo=SH)),
    ],
)
def test_one_working_day_around_holidays(
    accepted: dt.datetime, due: dt.datetime, world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "accepted", people, world)
    sla.start_stage(case, "handle", accepted)
    assert case.stage_due == due
