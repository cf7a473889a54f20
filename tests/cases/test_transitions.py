"""Every transition: its happy path, who may take it and who may not (through the API: 403 when
the case is visible, 404 when it is not, 409 for an illegal transition or a stale version), and
what each one does to ownership, counters, clocks and notifications."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.cases import actions
from civicgrid.cases.choices import SlaState, Status
from civicgrid.cases.models import Case
from civicgrid.cases.workflow import TRANSITIONS
from civicgrid.catalog.actions import do_set_route
from civicgrid.catalog.selectors import current_calendar
from civicgrid.core import calendar as cal
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import Notification
from civicgrid.core.sms import MemoryBackend

from ..conftest import login
from ..world import World
from .conftest import act, category, fresh, jpeg, report, to_state

# --- who may take which transition ----------------------------------------------------------
# The canonical case: reported by `worker` in grid A1a1, so its centre is the community centre
# of A1a; dispatched to the county's urban-management bureau (urban-A, `handler`); checked on
# site by `worker`. Written out by hand from DOMAIN.md §5, not derived from the code.
CENTRE_AND_ABOVE = {"community", "township", "county", "city"}
MAY: dict[str, set[str]] = {
    "register": CENTRE_AND_ABOVE,
    "void": CENTRE_AND_ABOVE,
    "merge": CENTRE_AND_ABOVE,
    "escalate": CENTRE_AND_ABOVE,
    "dispatch": CENTRE_AND_ABOVE,
    "accept": {"handler"},
    "start": {"handler"},
    "progress": {"handler"},
    "return": {"handler"},
    "feedback": {"handler"},
    "transfer": CENTRE_AND_ABOVE,
    "suspend": CENTRE_AND_ABOVE,
    "resume": CENTRE_AND_ABOVE,
    "start_check": CENTRE_AND_ABOVE,
    "close": CENTRE_AND_ABOVE,
    "pass_check": CENTRE_AND_ABOVE | {"worker"},
    "fail_check": CENTRE_AND_ABOVE | {"worker"},
    "self_resolve": {"worker"},
    "evaluate": CENTRE_AND_ABOVE | {"worker"},
    "urge": CENTRE_AND_ABOVE,
    "supervise": {"township", "county", "city"},
    "instruct": {"leader"},
}
# Who sees the canonical case at all (otherwise: 404); `handler` too once it has it.
SEES_ALWAYS = {"worker", "grid_leader", "leader"} | CENTRE_AND_ABOVE
SOURCE_STATE = {
    "register": "reported",
    "void": "reported",
    "merge": "registered",
    "escalate": "registered",
    "dispatch": "registered",
    "accept": "dispatched",
    "start": "accepted",
    "progress": "in_progress",
    "return": "in_progress",
    "feedback": "in_progress",
    "transfer": "accepted",
    "suspend": "in_progress",
    "resume": "suspended",
    "start_check": "handled",
    "close": "handled",
    "pass_check": "checking",
    "fail_check": "checking",
    "self_resolve": "reported",
    "evaluate": "closed",
    "urge": "dispatched",
    "supervise": "dispatched",
    "instruct": "in_progress",
}
# Reporting a staged step done needs a category with staged limits (a burst main).
CATEGORY = {"progress": "facility.burst_main"}


def test_the_tables_of_this_test_cover_every_transition() -> None:
    assert set(MAY) == set(TRANSITIONS) == set(SOURCE_STATE)
    for name, state in SOURCE_STATE.items():
        assert state in TRANSITIONS[name].sources, name


def url(case: Case | int, action: str = "") -> str:
    pk = case if isinstance(case, int) else case.pk
    return f"/api/v1/cases/{pk}/" + (f"{action.replace('_', '-')}/" if action else "")


def body(name: str, case: Case, world: World, people: dict[str, User]) -> dict[str, Any]:
    data: dict[str, Any] = {"version": case.version, "note": f"{name}: note"}
    if name == "dispatch":
        data["unit"] = world.units["urban-A"].pk
    elif name == "transfer":
        data["unit"] = world.units["urban-C"].pk
    elif name == "merge":
        data["into"] = report(people["worker"]).number
    elif name == "start_check":
        data["checker"] = people["worker"].pk
    elif name == "evaluate":
        data["satisfaction"] = 4
    return data


def multipart_with_photo(data: dict[str, Any]) -> dict[str, Any]:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return {**data, "files": [SimpleUploadedFile("evidence.jpg", jpeg(), "image/jpeg")]}


@pytest.mark.parametrize("name", sorted(TRANSITIONS))
def test_who_may_take_each_transition(
    name: str, world: World, people: dict[str, User], api: APIClient
) -> None:
    code = CATEGORY.get(name, "environment.rubbish")
    case = to_state(report(people["worker"], code=code), SOURCE_STATE[name], people, world)
    allowed = MAY[name]
    # The lead unit keeps seeing a case it handled, after handing it back to the centre.
    handler_sees = world.units["urban-A"].pk in (case.owner_unit_id, case.handler_unit_id)
    for who, person in people.items():
        sees = who in SEES_ALWAYS or (who == "handler" and handler_sees)
        login(api, person)
        detail = api.get(url(case))
        assert detail.status_code == (200 if sees else 404), who
        if sees:
            assert (name in detail.json()["actions"]) == (who in allowed), who
        if who in allowed:
            continue
        data = body(name, case, world, people)
        if name == "self_resolve":
            r = api.post(url(case, name), multipart_with_photo(data), format="multipart")
        else:
            r = api.post(url(case, name), data, format="json")
        assert r.status_code == (403 if sees else 404), (who, r.status_code, r.content)
        assert fresh(case).version == case.version
    # One who may, does.
    doer = people[sorted(allowed)[0]]
    login(api, doer)
    data = body(name, case, world, people)
    if name == "self_resolve":
        r = api.post(url(case, name), multipart_with_photo(data), format="multipart")
    else:
        r = api.post(url(case, name), data, format="json")
    assert r.status_code == 200, r.content
    after = fresh(case)
    assert after.version == case.version + 1
    assert after.status == (TRANSITIONS[name].target or case.status)
    last = after.steps.order_by("-seq").first()
    assert last is not None and last.action == name and last.actor_id == doer.pk


def test_a_centre_above_the_responsible_one_may_act_for_it(
    world: World, people: dict[str, User]
) -> None:
    case = report(people["worker"])
    case = act("register", case, people["city"])
    case = act("dispatch", case, people["county"], unit=world.units["urban-A"])
    assert case.status == Status.DISPATCHED
    assert [s.unit_id for s in case.steps.order_by("seq")][1:] == [
        world.units["centre-C"].pk,
        world.units["centre-A"].pk,
    ]


def test_an_illegal_transition_is_a_conflict(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    case = report(people["worker"])
    login(api, people["handler"])
    # Not yet the handler's: invisible.
    assert api.post(url(case, "accept"), {"version": 1}, format="json").status_code == 404
    login(api, people["community"])
    r = api.post(url(case, "close"), {"version": 1}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 409
    assert "not possible while the case is reported" in r.json()["detail"]
    zh = api.post(url(case, "close"), {"version": 1}, format="json")
    assert "已上报" in zh.json()["detail"]  # the default language names the state in Chinese
    assert r.json()["code"] == "transition"
    r = api.post(url(case, "resume"), {"version": 1}, format="json")
    assert r.status_code == 409
    assert fresh(case).version == 1 and fresh(case).steps.count() == 1


def test_two_clients_with_the_same_version_one_wins(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "registered", people, world)
    first, second = APIClient(), APIClient()
    login(first, people["community"])
    login(second, people["township"])
    seen_by_first = first.get(url(case)).json()["version"]
    seen_by_second = second.get(url(case)).json()["version"]
    assert seen_by_first == seen_by_second == case.version
    r1 = first.post(
        url(case, "dispatch"),
        {"version": seen_by_first, "unit": world.units["urban-A"].pk},
        format="json",
    )
    r2 = second.post(
        url(case, "void"),
        {"version": seen_by_second, "note": "duplicate call"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert r1.status_code == 200, r1.content
    assert r2.status_code == 409
    assert r2.json()["code"] == "stale" and "version" in r2.json()["detail"]
    case = fresh(case)
    assert case.status == Status.DISPATCHED and case.version == seen_by_first + 1
    # A refusal by version comes before any other check: even an allowed transition.
    r3 = second.post(url(case, "urge"), {"version": seen_by_second, "note": "x"}, format="json")
    assert r3.status_code == 409


def test_a_version_is_required_by_the_api(world: World, people: dict[str, User], api: APIClient):
    case = report(people["worker"])
    login(api, people["community"])
    r = api.post(url(case, "register"), {}, format="json")
    assert r.status_code == 400 and "version" in r.json()["errors"]


def test_a_note_is_required_where_a_reason_is(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    case = report(people["worker"])
    login(api, people["community"])
    r = api.post(url(case, "void"), {"version": 1, "note": "  "}, format="json")
    assert r.status_code == 400 and "note" in r.json()["errors"]
    assert fresh(case).status == Status.REPORTED


# --- dispatch and routing -------------------------------------------------------------------
def test_dispatch_follows_the_routing_matrix(world: World, people: dict[str, User]) -> None:
    do_set_route(
        actor=None,
        category=category("environment"),
        division=world.div["A"],
        unit=world.units["urban-A"],
    )
    case = to_state(report(people["worker"]), "registered", people, world)
    case = actions.do_dispatch_case(case, actor=people["community"], version=case.version)
    assert case.owner_unit_id == case.handler_unit_id == world.units["urban-A"].pk
    assert case.stage == "accept" and case.accept_due is not None
    assert case.dispatched_at is not None
    # A minor class's route at a deeper division beats the major class's county route.
    do_set_route(
        actor=None,
        category=category("environment.rubbish"),
        division=world.div["A1"],
        unit=world.units["centre-A1"],
    )
    other = to_state(report(people["worker"]), "registered", people, world)
    other = actions.do_dispatch_case(other, actor=people["community"], version=other.version)
    assert other.owner_unit_id == world.units["centre-A1"].pk
    # The matrix does not reach other categories or other counties.
    third = to_state(
        report(people["worker"], code="facility.street_light"), "registered", people, world
    )
    third = actions.do_dispatch_case(third, actor=people["community"], version=third.version)
    assert third.owner_unit_id == third.centre_id == world.units["centre-A1a"].pk


def test_without_a_route_the_centre_of_first_contact_keeps_it(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "registered", people, world)
    case = actions.do_dispatch_case(case, actor=people["community"], version=case.version)
    assert case.owner_unit_id == world.units["centre-A1a"].pk
    # The centre then handles it with its own staff.
    case = act("accept", case, people["community"])
    assert case.status == Status.ACCEPTED
    with pytest.raises(PermissionDenied):
        act("start", case, people["handler"])


def test_dispatch_to_a_unit_that_does_not_serve_the_place_is_refused(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    case = to_state(report(people["worker"]), "registered", people, world)
    login(api, people["community"])
    r = api.post(
        url(case, "dispatch"),
        {"version": case.version, "unit": world.units["urban-B"].pk},
        format="json",
    )
    assert r.status_code == 400 and "unit" in r.json()["errors"]
    r = api.post(
        url(case, "dispatch"),
        {
            "version": case.version,
            "unit": world.units["urban-A"].pk,
            "co_units": [world.units["urban-B"].pk],
        },
        format="json",
    )
    assert r.status_code == 400 and "co_units" in r.json()["errors"]
    assert fresh(case).status == Status.REGISTERED


# --- escalate, return, transfer ---------------------------------------------------------------
def test_escalate_moves_the_case_to_the_parent_centre(
    world: World, people: dict[str, User]
) -> None:
    case = report(people["worker"])
    case = act("escalate", case, people["community"])
    assert case.status == Status.REPORTED
    assert case.centre_id == case.owner_unit_id == world.units["centre-A1"].pk
    # The community centre no longer decides; the township does.
    with pytest.raises(PermissionDenied):
        act("register", case, people["community"])
    case = act("register", case, people["township"])
    case = act("escalate", case, people["township"])
    assert case.centre_id == world.units["centre-A"].pk and case.status == Status.REGISTERED
    case = act("escalate", case, people["county"])
    assert case.centre_id == world.units["centre-C"].pk
    # There is no centre above the city's in this world.
    with pytest.raises(ValidationError) as exc:
        act("escalate", case, people["city"])
    assert "note" in exc.value.message_dict
    assert fresh(case).centre_id == world.units["centre-C"].pk
    notified = Notification.objects.filter(user=people["city"], kind="escalate")
    assert notified.count() == 1


def test_return_goes_back_to_the_centre_and_counts(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "dispatched", people, world)
    case = act("return", case, people["handler"], note="不属于本单位职责")
    assert case.status == Status.REGISTERED
    assert case.owner_unit_id == case.centre_id and case.return_count == 1
    assert case.stage == "" and case.stage_due is None and case.sla_state == SlaState.NONE
    step = case.steps.order_by("-seq").first()
    assert step is not None and step.note == "不属于本单位职责"
    assert step.data["from_unit"] == world.units["urban-A"].pk
    assert Notification.objects.filter(user=people["community"], kind="return").exists()
    # Dispatched again and returned again: the count goes on.
    case = act("dispatch", case, people["community"], unit=world.units["urban-A"])
    case = act("accept", case, people["handler"])
    case = act("return", case, people["handler"])
    assert case.return_count == 2


def test_transfer_sideways(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "accepted", people, world)
    case = act("transfer", case, people["community"], unit=world.units["urban-C"])
    assert case.status == Status.DISPATCHED
    assert case.owner_unit_id == case.handler_unit_id == world.units["urban-C"].pk
    assert Notification.objects.filter(user=people["handler_city"], kind="dispatch").exists()
    with pytest.raises(PermissionDenied):
        act("accept", case, people["handler"])
    case = act("accept", case, people["handler_city"])
    assert case.status == Status.ACCEPTED
    with pytest.raises(ValidationError) as exc:
        act("transfer", case, people["community"], unit=world.units["urban-C"])
    assert "unit" in exc.value.message_dict


def test_a_transferred_case_gives_the_new_unit_its_own_time_to_accept(
    world: World, people: dict[str, User]
) -> None:
    """Whether the first unit had signed for it or not, the unit it is transferred to gets a
    fresh accept limit: it must not inherit a clock that ran out in someone else's hands."""
    case = to_state(report(people["worker"]), "dispatched", people, world)
    long_ago = case.stage_started_at - dt.timedelta(days=30)
    Case.objects.filter(pk=case.pk).update(
        stage_started_at=long_ago,
        accept_due=long_ago + dt.timedelta(hours=1),
        stage_due=long_ago + dt.timedelta(hours=1),
        warn_at=long_ago,
        sla_state=SlaState.RED,
    )
    case = act("transfer", case, people["community"], unit=world.units["urban-C"])
    step = case.steps.order_by("-seq").first()
    assert step is not None
    assert case.stage == "accept" and case.stage_started_at == step.time
    assert case.stage_due is not None and case.stage_due > step.time
    assert case.sla_state == SlaState.NORMAL


def test_transferring_to_a_co_handler_makes_it_the_lead_only(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "registered", people, world)
    case = act(
        "dispatch",
        case,
        people["community"],
        unit=world.units["urban-A"],
        co_units=[world.units["urban-C"]],
    )
    case = act("transfer", case, people["community"], unit=world.units["urban-C"])
    assert case.handler_unit_id == world.units["urban-C"].pk
    assert list(case.co_units.all()) == []


# --- joint handling ----------------------------------------------------------------------------
def test_joint_handling_co_handlers_see_but_only_the_lead_acts(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    case = to_state(report(people["worker"]), "registered", people, world)
    login(api, people["community"])
    r = api.post(
        url(case, "dispatch"),
        {
            "version": case.version,
            "unit": world.units["urban-A"].pk,
            "co_units": [world.units["urban-C"].pk, world.units["urban-A"].pk],
        },
        format="json",
    )
    assert r.status_code == 200, r.content
    assert [u["id"] for u in r.json()["co_units"]] == [world.units["urban-C"].pk]
    # Both units are told.
    for who in ("handler", "handler_city"):
        assert Notification.objects.filter(user=people[who], kind="dispatch").count() == 1
    login(api, people["handler_city"])
    assert api.get(url(case)).status_code == 200
    queue = api.get("/api/v1/cases/?queue=my_unit").json()["results"]
    assert [c["id"] for c in queue] == [case.pk]
    assert api.get(url(case)).json()["actions"] == []
    r = api.post(url(case, "accept"), {"version": fresh(case).version}, format="json")
    assert r.status_code == 403
    login(api, people["handler"])
    r = api.post(url(case, "accept"), {"version": fresh(case).version}, format="json")
    assert r.status_code == 200
    # A return ends the joint handling: the co-handler no longer sees the case.
    case = act("return", case, people["handler"])
    login(api, people["handler_city"])
    assert api.get(url(case)).status_code == 404


# --- suspension ----------------------------------------------------------------------------------
def test_suspend_stops_the_clock_and_resume_gives_the_working_time_back(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "in_progress", people, world)
    assert case.stage == "handle" and case.handle_due is not None
    case = act("suspend", case, people["community"], note="等待产权单位确认")
    assert case.status == Status.SUSPENDED and case.suspended_at is not None
    # The suspension began a fortnight ago (the clock cannot be waited for in a test).
    since = case.suspended_at - dt.timedelta(days=14)
    Case.objects.filter(pk=case.pk).update(suspended_at=since)
    due, warn = case.stage_due, case.warn_at
    assert due is not None and warn is not None
    case = act("resume", case, people["community"])
    step = case.steps.order_by("-seq").first()
    assert step is not None and step.action == "resume"
    calendar = current_calendar()
    stopped = cal.working_seconds_between(since, step.time, calendar)
    assert stopped > 0
    assert step.data["resumed_after_seconds"] == stopped
    assert case.stage_due == cal.add_working_seconds(due, stopped, calendar)
    assert case.handle_due == case.stage_due
    assert case.warn_at == cal.add_working_seconds(warn, stopped, calendar)
    assert case.status == Status.IN_PROGRESS and case.suspended_at is None
    assert case.stage == "handle"


def test_resume_of_an_urgent_hours_limit_gives_back_calendar_time(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"], code="facility.utility"), "in_progress", people, world)
    assert case.stage_due is not None
    case = act("suspend", case, people["community"])
    since = case.suspended_at - dt.timedelta(hours=5)
    Case.objects.filter(pk=case.pk).update(suspended_at=since)
    due = case.stage_due
    case = act("resume", case, people["community"])
    step = case.steps.order_by("-seq").first()
    assert step is not None
    stopped = (step.time - since).total_seconds()
    assert case.stage_due - due == dt.timedelta(seconds=stopped)
    assert step.data["resumed_after_seconds"] == stopped


# --- checking -------------------------------------------------------------------------------------
def test_a_failed_check_sends_the_case_back_to_the_lead_unit(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "checking", people, world)
    assert case.checker_id == people["worker"].pk and case.stage == "check"
    assert Notification.objects.filter(user=people["worker"], kind="check").exists()
    case = act("fail_check", case, people["worker"], note="垃圾仍未清理")
    assert case.status == Status.DISPATCHED
    assert case.owner_unit_id == case.handler_unit_id == world.units["urban-A"].pk
    assert case.rework_count == 1 and case.handled_at is None
    assert case.stage == "accept" and case.stage_due is not None
    assert Notification.objects.filter(user=people["handler"], kind="rework").exists()
    # Round two: handled, checked by the community centre, passed.
    for name, who in (("accept", "handler"), ("feedback", "handler")):
        case = act(name, case, people[who])
    case = act("start_check", case, people["community"], checker=people["community"])
    case = act("pass_check", case, people["community"])
    assert case.status == Status.CLOSED and case.closed_at is not None
    assert case.rework_count == 1 and case.stage == ""


def test_the_checker_must_work_in_the_cases_area(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "handled", people, world)
    for outsider in ("worker_b", "handler", "community_a1b"):
        with pytest.raises(ValidationError) as exc:
            act("start_check", case, people["community"], checker=people[outsider])
        assert "checker" in exc.value.message_dict
    assert fresh(case).status == Status.HANDLED


# --- merge and evaluate ---------------------------------------------------------------------------
def test_merge_as_duplicate(world: World, people: dict[str, User], api: APIClient) -> None:
    original = report(people["worker"])
    duplicate = report(people["worker"])
    login(api, people["community"])
    r = api.post(
        url(duplicate, "merge"),
        {"version": 1, "into": duplicate.number, "note": "同一堆垃圾"},
        format="json",
    )
    assert r.status_code == 400 and "into" in r.json()["errors"]
    r = api.post(
        url(duplicate, "merge"),
        {"version": 1, "into": original.number, "note": "同一堆垃圾"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "merged" and r.json()["merged_into"] == original.number
    assert r.json()["actions"] == []
    # Nothing merges into a merged case, nor into one the actor cannot see.
    third = report(people["worker"])
    with pytest.raises(ValidationError) as exc:
        act("merge", third, people["community"], into=fresh(duplicate))
    assert "into" in exc.value.message_dict
    elsewhere = report(people["worker_b"], at="B1a1")
    with pytest.raises(ValidationError) as exc:
        act("merge", third, people["community"], into=elsewhere)
    assert "into" in exc.value.message_dict


@pytest.mark.parametrize("score", [0, 6, -1])
def test_evaluation_is_one_to_five(
    score: int, world: World, people: dict[str, User], api: APIClient
) -> None:
    case = to_state(report(people["worker"]), "closed", people, world)
    login(api, people["worker"])
    r = api.post(
        url(case, "evaluate"), {"version": case.version, "satisfaction": score}, format="json"
    )
    assert r.status_code == 400 and "satisfaction" in r.json()["errors"]
    with pytest.raises(ValidationError):
        act("evaluate", case, people["worker"], satisfaction=score)
    r = api.post(url(case, "evaluate"), {"version": case.version, "satisfaction": 5}, format="json")
    assert r.status_code == 200
    case = fresh(case)
    assert case.status == Status.EVALUATED and case.satisfaction == 5


# --- supervision and notifications -----------------------------------------------------------
def test_urge_notifies_the_unit_that_has_the_case(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "accepted", people, world)
    before = set(Notification.objects.values_list("pk", flat=True))
    case = act("urge", case, people["community"], note="请尽快处置")
    assert case.urge_count == 1
    new = Notification.objects.exclude(pk__in=before)
    assert {n.user_id for n in new} == {people["handler"].pk}
    assert new.get().kind == "urge" and case.number in new.get().title
    assert new.get().body == "请尽快处置"


def test_supervise_and_instruct_notify_the_unit_and_the_centre(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "accepted", people, world)
    before = set(Notification.objects.values_list("pk", flat=True))
    case = act("supervise", case, people["county"], note="挂牌督办")
    assert case.supervised and case.supervised_by_id == world.units["centre-A"].pk
    new = Notification.objects.exclude(pk__in=before)
    assert {n.user_id for n in new} == {people["handler"].pk, people["community"].pk}
    assert {n.kind for n in new} == {"supervise"}
    # Supervision is taken once.
    with pytest.raises(PermissionDenied):
        act("supervise", case, people["city"], note="again")
    before = set(Notification.objects.values_list("pk", flat=True))
    case = act("instruct", case, people["leader"], note="请尽快办结")
    new = Notification.objects.exclude(pk__in=before)
    assert {n.user_id for n in new} == {people["handler"].pk, people["community"].pk}
    assert {n.kind for n in new} == {"instruct"}
    assert case.status == Status.ACCEPTED


def test_an_urgent_case_also_sends_an_sms(
    world: World, people: dict[str, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SMS_BACKEND = "civicgrid.core.sms.MemoryBackend"
    User.objects.filter(pk=people["handler"].pk).update(mobile="13800138000")
    case = report(people["worker"], code="facility.manhole")
    assert case.priority == 4
    case = act("register", case, people["community"])
    with django_capture_on_commit_callbacks(execute=True):
        act("dispatch", case, people["community"], unit=world.units["urban-A"])
    assert len(MemoryBackend.outbox) == 1
    phone, text = MemoryBackend.outbox[0]
    assert phone == "13800138000" and case.number in text
    # An ordinary case does not.
    MemoryBackend.outbox.clear()
    normal = to_state(report(people["worker"]), "registered", people, world)
    with django_capture_on_commit_callbacks(execute=True):
        act("dispatch", normal, people["community"], unit=world.units["urban-A"])
    assert MemoryBackend.outbox == []


def test_nothing_is_sent_when_the_action_is_refused(
    world: World, people: dict[str, User], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.SMS_BACKEND = "civicgrid.core.sms.MemoryBackend"
    User.objects.filter(pk=people["handler"].pk).update(mobile="13800138000")
    case = to_state(report(people["worker"], code="facility.manhole"), "registered", people, world)
    before = Notification.objects.count()
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(Conflict):
        actions.do_dispatch_case(
            case, actor=people["community"], version=case.version - 1, unit=world.units["urban-A"]
        )
    assert MemoryBackend.outbox == [] and Notification.objects.count() == before


# --- self-resolved ----------------------------------------------------------------------------
def test_self_resolve_needs_a_photo(world: World, people: dict[str, User], api: APIClient) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    lng_lat = {"lat": 37.005, "lng": 118.005}
    base = {
        "category": "environment.rubbish",
        "description": "路边垃圾，已清理",
        "channel": "grid_app",
        "self_resolve": "true",
        "note": "现场清理完毕",
        **lng_lat,
    }
    login(api, people["worker"])
    r = api.post("/api/v1/cases/", base, format="multipart")
    assert r.status_code == 400 and "files" in r.json()["errors"]
    pdf = SimpleUploadedFile("report.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")
    r = api.post("/api/v1/cases/", {**base, "files": [pdf]}, format="multipart")
    assert r.status_code == 400 and "files" in r.json()["errors"]
    assert not Case.objects.exists()
    photo = SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg")
    r = api.post("/api/v1/cases/", {**base, "files": [photo]}, format="multipart")
    assert r.status_code == 201, r.content
    case = Case.objects.get()
    assert case.status == Status.CLOSED and case.self_resolved and case.closed_at
    assert [s.action for s in case.steps.order_by("seq")] == ["report", "self_resolve"]
    assert case.attachments.get().kind == "photo"
    # Only grid workers resolve on the spot.
    login(api, people["community"])
    photo = SimpleUploadedFile("after.jpg", jpeg(), "image/jpeg")
    r = api.post("/api/v1/cases/", {**base, "files": [photo]}, format="multipart")
    assert r.status_code == 403


def test_self_resolving_a_reported_case_later_needs_a_photo_too(
    world: World, people: dict[str, User]
) -> None:
    case = report(people["worker"])
    with pytest.raises(ValidationError) as exc:
        act("self_resolve", case, people["worker"], note="done")
    assert "files" in exc.value.message_dict
    actions.do_attach_to_case(
        case, actor=people["worker"], name="list.pdf", raw=b"%PDF-1.4\n%%EOF\n"
    )
    with pytest.raises(ValidationError):
        act("self_resolve", case, people["worker"], note="done")
    case = act("self_resolve", case, people["worker"], note="done", uploads=[("a.jpg", jpeg())])
    assert case.status == Status.CLOSED and case.self_resolved
