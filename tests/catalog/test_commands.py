"""`civicgrid sweep` and `civicgrid deadline`, as an operator runs them."""

from __future__ import annotations

import datetime as dt

import pytest

from civicgrid.accounts.roles import Role
from civicgrid.cases import actions
from civicgrid.cases.models import Case, CaseStep
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.models import Notification

from ..geo.helpers import run
from ..world import inside

pytestmark = pytest.mark.django_db


@pytest.fixture
def dispatched(world):
    """A rubbish case dispatched to the county's urban-management bureau: its accept clock
    (1 working hour, yellow at 75 %) runs."""
    worker = world.user(Role.GRID_WORKER, "A1a1")
    community = world.user(Role.CENTRE_STAFF, "A1a")
    world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A")
    lng, lat = inside("A1a1")
    case, _ = actions.do_report_case(
        actor=worker,
        category=CaseCategory.objects.get(code="environment.rubbish"),
        description="垃圾堆放",
        channel="grid_app",
        lat=lat,
        lng=lng,
    )
    case = actions.do_register_case(case, actor=community, version=case.version)
    case = actions.do_dispatch_case(
        case, actor=community, version=case.version, unit=world.units["urban-A"]
    )
    assert case.stage == "accept" and case.stage_due and case.warn_at
    return case


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def test_sweep_marks_and_urges_once(dispatched):
    case = dispatched
    steps = CaseStep.objects.filter(case=case).count()
    before_due = run("sweep", "--now", _iso(case.warn_at - dt.timedelta(seconds=1)))
    nothing = "0 turned yellow, 0 turned red, 0 staged limit(s) missed, 0 urged"
    assert before_due.ok and nothing in before_due.out

    yellow = run("sweep", "--now", _iso(case.warn_at + dt.timedelta(seconds=1)))
    assert "1 turned yellow, 0 turned red, 0 staged limit(s) missed, 0 urged" in yellow.out
    assert Case.objects.get(pk=case.pk).sla_state == "yellow"

    after = _iso(case.stage_due + dt.timedelta(minutes=1))
    red = run("sweep", "--now", after)
    assert "0 turned yellow, 1 turned red, 0 staged limit(s) missed, 1 urged" in red.out
    notified = Notification.objects.filter(kind="overdue").count()
    assert notified >= 1
    # Idempotent: the same moment, and any later one, changes nothing more.
    for moment in (after, _iso(case.stage_due + dt.timedelta(days=30))):
        again = run("sweep", "--now", moment)
        assert "0 turned yellow, 0 turned red, 0 staged limit(s) missed, 0 urged" in again.out
    fresh = Case.objects.get(pk=case.pk)
    assert fresh.sla_state == "red" and fresh.urge_count == 1
    assert CaseStep.objects.filter(case=case).count() == steps + 1
    assert CaseStep.objects.filter(case=case).order_by("-seq").first().action == "urge"
    assert Notification.objects.filter(kind="overdue").count() == notified


def test_sweep_reads_local_time_and_refuses_nonsense(dispatched):
    assert run("sweep").ok  # the clock: nothing is due yet
    assert Case.objects.get(pk=dispatched.pk).sla_state == "normal"
    bad = run("sweep", "--now", "tomorrow")
    assert not bad.ok and "--now" in bad.error and "is not a time" in bad.error
    local = (dispatched.stage_due + dt.timedelta(hours=1)).astimezone(
        dt.timezone(dt.timedelta(hours=8))
    )
    naive = local.replace(tzinfo=None).isoformat(timespec="minutes")  # Asia/Shanghai
    assert "1 turned red" in run("sweep", "--now", naive).out


@pytest.mark.parametrize(
    ("args", "due"),
    [
        # Friday afternoon + 1 working day → Saturday 14 Feb 2026 is a swapped working day.
        (("2026-02-13T16:00", "1", "working_days"), "2026-02-14T16:00:00+08:00"),
        # Lunch break and the night do not count.
        (("2026-03-02T11:00", "2", "wh"), "2026-03-02T14:30:00+08:00"),
        (("2026-03-02T17:00", "1", "工作时"), "2026-03-03T09:00:00+08:00"),
        # Spring festival: 15–23 Feb are holidays.
        (("2026-02-13T16:00", "3", "wd"), "2026-02-25T16:00:00+08:00"),
        # Urgent hours count every hour; an offset is honoured.
        (("2026-03-06T23:00+08:00", "2.5", "urgent_hours"), "2026-03-07T01:30:00+08:00"),
        (("2026-03-06T15:00Z", "1", "uh"), "2026-03-07T00:00:00+08:00"),
    ],
)
def test_deadline_command(world, args, due):
    result = run("deadline", *args)
    assert result.ok, result.text
    assert result.out.strip().splitlines()[-1] == due


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("soon", "1", "wd"), "START: “soon” is not a time"),
        (("2026-03-02T09:00", "x", "wd"), "AMOUNT: “x” is not a number."),
        (("2026-03-02T09:00", "0", "wd"), "AMOUNT: give a number above 0"),
        (("2026-03-02T09:00", "1", "weeks"), "UNIT: “weeks” is not a unit"),
    ],
)
def test_deadline_command_refuses_bad_input(db, args, message):
    result = run("deadline", *args)
    assert not result.ok and message in result.error


def test_deadline_command_accepts_now(db):
    result = run("deadline", "now", "1", "wh")
    assert result.ok and "due" in result.out
