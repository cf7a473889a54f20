"""Staged limits (分段时限): a burst water main must be cordoned within 3 urgent hours, repaired
within 8 and the road reinstated within 5 working days, all counted from acceptance. The
handling unit reports each step done; the sweep urges each one that passes unreported."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.cases import sla
from civicgrid.cases.models import Case
from civicgrid.cases.sweep import sweep
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import Notification

from ..conftest import login
from ..world import World
from .conftest import act, fresh, jpeg, report, to_state

TICK = dt.timedelta(microseconds=1)
BURST = "facility.burst_main"


def due(case: Case, index: int) -> dt.datetime:
    return dt.datetime.fromisoformat(case.steps_due[index]["due"])


def burst_main(people: dict[str, User], world: World) -> Case:
    return to_state(report(people["worker"], code=BURST), "in_progress", people, world)


def last_step(case: Case) -> tuple[str, dict]:
    step = case.steps.order_by("-seq").first()
    assert step is not None
    return step.action, step.data


def test_the_handle_stage_carries_each_staged_limit(world: World, people: dict[str, User]) -> None:
    case = burst_main(people, world)
    assert case.stage == "handle"
    assert [s["step"] for s in case.steps_due] == ["警戒围挡", "抢修", "恢复路面"]
    assert due(case, 0) < due(case, 1) < due(case, 2) == case.stage_due
    assert due(case, 1) - due(case, 0) == dt.timedelta(hours=5)  # urgent hours: the clock
    assert case.next_step_due == due(case, 0)
    plain = to_state(report(people["worker"]), "in_progress", people, world)
    assert plain.steps_due == [] and plain.next_step_due is None


def test_each_missed_staged_limit_is_urged_once(world: World, people: dict[str, User]) -> None:
    case = burst_main(people, world)
    version = case.version
    assert sweep(now=due(case, 0) - TICK).staged == 0

    first = sweep(now=due(case, 0))
    assert (first.staged, first.red, first.urged) == (1, 0, 1)
    after = fresh(case)
    assert after.urge_count == 1 and after.version == version
    action, data = last_step(after)
    assert action == "urge" and data["step"] == "警戒围挡" and data["automatic"] is True
    assert after.next_step_due == due(case, 1)
    notice = Notification.objects.get(kind="overdue")
    assert notice.user_id == people["handler"].pk and case.number in notice.title

    assert sweep(now=due(case, 0)).staged == 0  # idempotent
    both = sweep(now=due(case, 1))
    assert both.staged == 1 and fresh(case).urge_count == 2
    assert fresh(case).next_step_due is None
    # The last limit is the stage's own deadline: it turns the case red, once.
    end = sweep(now=due(case, 2))
    assert (end.staged, end.red) == (0, 1) and fresh(case).urge_count == 3


def test_a_step_reported_in_time_is_not_urged(world: World, people: dict[str, User]) -> None:
    case = burst_main(people, world)
    reported = act("progress", case, people["handler"], note="已围挡", uploads=[("c.jpg", jpeg())])
    assert reported.steps_due[0]["done_at"] is not None
    assert reported.next_step_due == due(case, 1)
    action, data = last_step(reported)
    assert action == "progress" and data["step"] == "警戒围挡" and data["late"] is False
    assert reported.steps.order_by("-seq").first().attachments.count() == 1  # type: ignore[union-attr]
    assert reported.status == case.status and reported.version == case.version + 1

    assert sweep(now=due(case, 0)).staged == 0
    assert sweep(now=due(case, 1)).staged == 1  # the repair was not reported


def test_a_late_report_still_counts_and_says_it_was_late(
    world: World, people: dict[str, User]
) -> None:
    case = burst_main(people, world)
    assert sweep(now=due(case, 0)).staged == 1
    act("progress", case, people["handler"])
    after = act("progress", case, people["handler"])
    assert [bool(s["done_at"]) for s in after.steps_due] == [True, True, False]
    assert after.next_step_due is None
    # Only the stage's last limit is left: that one is met by reporting the case handled.
    with pytest.raises(Conflict) as refused:
        act("progress", after, people["handler"])
    assert refused.value.code == "not_ready"


def test_reporting_steps_is_the_handling_units_and_only_while_one_is_pending(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    case = burst_main(people, world)
    plain = to_state(report(people["worker"]), "in_progress", people, world)
    login(api, people["handler"])
    assert "progress" in api.get(f"/api/v1/cases/{case.pk}/").json()["actions"]
    assert "progress" not in api.get(f"/api/v1/cases/{plain.pk}/").json()["actions"]

    refused = api.post(
        f"/api/v1/cases/{plain.pk}/progress/", {"version": plain.version}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "not_ready" and refused.json()["detail"]
    assert fresh(plain).version == plain.version

    login(api, people["community"])
    assert "progress" not in api.get(f"/api/v1/cases/{case.pk}/").json()["actions"]
    denied = api.post(f"/api/v1/cases/{case.pk}/progress/", {"version": case.version})
    assert denied.status_code == 403

    login(api, people["handler"])
    done = api.post(
        f"/api/v1/cases/{case.pk}/progress/",
        {"version": case.version, "note": "围挡完成"},
        format="json",
    )
    assert done.status_code == 200, done.content
    assert done.json()["steps_due"][0]["done_at"]
    timeline = api.get(f"/api/v1/cases/{case.pk}/timeline/").json()
    assert timeline[-1]["action"] == "progress" and timeline[-1]["note"] == "围挡完成"


def test_a_suspension_moves_the_pending_staged_limits_later(
    world: World, people: dict[str, User]
) -> None:
    case = act("progress", burst_main(people, world), people["handler"])
    cordon, repair = due(case, 0), due(case, 1)
    # Suspended two hours ago, resumed now (urgent hours: the whole two hours are given back).
    now = dt.datetime.now(dt.UTC)
    case.suspended_at = now - dt.timedelta(hours=2)
    sla.resume_clock(case, now)
    assert due(case, 0) == cordon  # already done: stays as it was
    assert due(case, 1) == repair + dt.timedelta(hours=2)
    assert case.next_step_due == due(case, 1)


def test_a_new_stage_clears_the_staged_limits(world: World, people: dict[str, User]) -> None:
    case = burst_main(people, world)
    handled = act("feedback", case, people["handler"], note="修复完毕")
    assert handled.steps_due == [] and handled.next_step_due is None
    assert sweep(now=due(case, 1)).staged == 0
