"""Scope: who sees which cases, through every API list, queue and detail endpoint.

A fixed population of cases spread over the world; the expected sight of each person is
written out by hand from DOMAIN.md §3 (a unit sees its own and co-handled cases, a centre its
subtree, a grid worker the grid and what they reported, a leader reads their area, the three
administrators see no cases at all)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.cases import actions
from civicgrid.cases.models import Case

from ..conftest import login
from ..world import World, inside
from .conftest import act, category, jpeg, report, to_state

QUEUES = [
    "to_file",
    "to_dispatch",
    "to_check",
    "overdue",
    "supervised",
    "my_unit",
    "my_reports",
    "my_checks",
    "open",
]
IN_A1A = {"c1", "c2", "c3", "c4", "c5", "c9"}
IN_A = IN_A1A | {"c6", "c7"}
SIGHT: dict[str, set[str]] = {
    "worker": {"c1", "c2", "c3", "c9", "c5"},  # grid A1a1, and c5 which they reported in A1a2
    "worker_a1a2": {"c4", "c5"},
    "worker_b": {"c8"},
    "grid_leader": IN_A1A,
    "community": IN_A1A,
    "community_a1b": {"c6"},
    "township": IN_A1A | {"c6"},
    "township_a2": {"c7"},
    "county": IN_A,
    "county_b": {"c8"},
    "city": IN_A | {"c8", "c10"},
    "handler": {"c2", "c3", "c9"},  # lead, co-handler, and lead of a handled case
    "handler_b": {"c8"},
    "handler_city": {"c3"},
    "leader": IN_A,
    "leader_b": {"c8"},
    "sysadmin": set(),
    "secadmin": set(),
    "auditadmin": set(),
}


@pytest.fixture
def population(world: World, people: dict[str, User]) -> dict[str, Case]:
    p, u = people, world.units
    cases: dict[str, Case] = {}
    cases["c1"] = report(p["worker"])
    cases["c2"] = to_state(report(p["worker"]), "dispatched", people, world)
    c3 = to_state(report(p["worker"]), "registered", people, world)
    cases["c3"] = act("dispatch", c3, p["community"], unit=u["urban-C"], co_units=[u["urban-A"]])
    cases["c4"] = report(p["worker_a1a2"], at="A1a2")
    cases["c5"] = report(p["worker"], at="A1a2")
    cases["c6"] = report(p["community_a1b"], at="A1b1", channel="centre")
    cases["c7"] = act("register", report(p["township_a2"], at="A2a1"), p["township_a2"])
    c8 = act("register", report(p["worker_b"], at="B1a1"), p["county_b"])
    cases["c8"] = act("dispatch", c8, p["county_b"], unit=u["urban-B"])
    cases["c9"] = to_state(report(p["worker"]), "handled", people, world)
    cases["c10"], _ = actions.do_report_case(
        actor=p["city"],
        category=category("environment.rubbish"),
        description="全市",
        channel="higher",
        division=world.div["C"],
    )
    for case in cases.values():
        actions.do_attach_to_case(case, actor=None, name="photo.jpg", raw=jpeg())
    return cases


def _ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    data = response.json()
    rows = data["results"] if isinstance(data, dict) else data
    return {row["id"] for row in rows}


def test_the_table_names_everyone(people: dict[str, User]) -> None:
    assert set(SIGHT) == set(people)


@pytest.mark.parametrize("who", sorted(SIGHT))
def test_each_person_sees_exactly_their_cases(
    who: str, population: dict[str, Case], people: dict[str, User], api: APIClient
) -> None:
    expected = {population[key].pk for key in SIGHT[who]}
    login(api, people[who])
    assert _ids(api.get("/api/v1/cases/", {"page_size": 1000})) == expected
    for case in population.values():
        code = 200 if case.pk in expected else 404
        assert api.get(f"/api/v1/cases/{case.pk}/").status_code == code, (who, case.number)
        assert api.get(f"/api/v1/cases/{case.pk}/timeline/").status_code == code
        assert api.get(f"/api/v1/cases/{case.pk}/attachments/").status_code == code
        assert api.get(f"/api/v1/cases/{case.pk}/duplicates/").status_code == code
        attachment = case.attachments.get()
        r = api.get(f"/api/v1/cases/{case.pk}/attachments/{attachment.pk}/file/")
        assert r.status_code == code


@pytest.mark.parametrize("who", sorted(SIGHT))
def test_no_queue_or_filter_reaches_beyond_sight(
    who: str, population: dict[str, Case], people: dict[str, User], api: APIClient
) -> None:
    expected = {population[key].pk for key in SIGHT[who]}
    login(api, people[who])
    for queue in QUEUES:
        assert _ids(api.get("/api/v1/cases/", {"queue": queue, "page_size": 1000})) <= expected
    for params in (
        {"status": "reported"},
        {"status": ["dispatched", "handled"]},
        {"category": "environment"},
        {"number": str(population["c8"].number)},
        {"q": "case"},
        {"owner_unit": population["c8"].owner_unit_id},
    ):
        assert _ids(api.get("/api/v1/cases/", {**params, "page_size": 1000})) <= expected
    for code in ("371602", "371603", "371600"):
        r = api.get("/api/v1/cases/", {"under": code, "page_size": 1000})
        # A division outside the user's area is answered like one that does not exist.
        assert r.status_code in (200, 400)
        if r.status_code == 200:
            assert _ids(r) <= expected
    lng, lat = inside("A1a1")
    nearby = api.get(
        "/api/v1/cases/nearby/", {"category": "environment.rubbish", "lat": lat, "lng": lng}
    )
    assert nearby.status_code == 200
    assert {d["case"]["id"] for d in nearby.json()} <= expected


def test_queues_hold_each_role_s_work(
    population: dict[str, Case], people: dict[str, User], api: APIClient
) -> None:
    def queue(who: str, name: str) -> set[str]:
        login(api, people[who])
        found = _ids(api.get("/api/v1/cases/", {"queue": name, "page_size": 1000}))
        return {key for key, case in population.items() if case.pk in found}

    assert queue("community", "to_file") == {"c1", "c4", "c5"}
    assert queue("township", "to_file") == set()  # owned by the community centre
    assert queue("township_a2", "to_dispatch") == set()  # c7 is the community centre's
    assert queue("community", "to_check") == {"c9"}
    assert queue("handler", "my_unit") == {"c2", "c3"}
    assert queue("handler_city", "my_unit") == {"c3"}
    assert queue("handler_b", "my_unit") == {"c8"}
    assert queue("worker", "my_reports") == {"c1", "c2", "c3", "c5", "c9"}
    assert queue("city", "open") == set(population)
    assert queue("sysadmin", "open") == set()


def test_leaders_read_and_instruct_but_do_not_act(
    world: World, population: dict[str, Case], people: dict[str, User], api: APIClient
) -> None:
    case = population["c2"]
    login(api, people["leader"])
    detail = api.get(f"/api/v1/cases/{case.pk}/").json()
    assert detail["actions"] == ["instruct"]
    for name, data in (
        ("urge", {"note": "快"}),
        ("transfer", {"unit": world.units["urban-C"].pk, "note": "x"}),
        ("supervise", {"note": "x"}),
        ("accept", {}),
        ("transfer", {}),  # no unit named: still a 403, the arguments are not even read
    ):
        r = api.post(
            f"/api/v1/cases/{case.pk}/{name}/", {"version": case.version, **data}, format="json"
        )
        assert r.status_code == 403, name
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = api.post(
        f"/api/v1/cases/{case.pk}/attachments/",
        {"file": SimpleUploadedFile("a.jpg", jpeg(), "image/jpeg")},
        format="multipart",
    )
    assert r.status_code == 403
    handled = population["c9"]
    r = api.post(
        f"/api/v1/cases/{handled.pk}/start-check/",
        {"version": handled.version, "checker": 999_999},
        format="json",
    )
    assert r.status_code == 403
    r = api.post(
        f"/api/v1/cases/{case.pk}/instruct/",
        {"version": case.version, "note": "请城管局三日内办结"},
        format="json",
    )
    assert r.status_code == 200
    # A leader of the other county does not even see it.
    login(api, people["leader_b"])
    r = api.post(
        f"/api/v1/cases/{case.pk}/instruct/",
        {"version": case.version + 1, "note": "x"},
        format="json",
    )
    assert r.status_code == 404


def test_a_department_acts_only_on_its_own_cases(
    world: World, population: dict[str, Case], people: dict[str, User], api: APIClient
) -> None:
    login(api, people["handler_b"])
    case = population["c2"]
    r = api.post(f"/api/v1/cases/{case.pk}/accept/", {"version": case.version}, format="json")
    assert r.status_code == 404
    # The co-handler sees the case but the lead acts.
    login(api, people["handler"])
    c3 = population["c3"]
    r = api.post(f"/api/v1/cases/{c3.pk}/accept/", {"version": c3.version}, format="json")
    assert r.status_code == 403
    login(api, people["handler_city"])
    r = api.post(f"/api/v1/cases/{c3.pk}/accept/", {"version": c3.version}, format="json")
    assert r.status_code == 200


def test_a_case_or_person_outside_the_area_is_answered_like_none_at_all(
    population: dict[str, Case], people: dict[str, User], api: APIClient
) -> None:
    """Naming a case to merge into, or a checker, from outside one's area gets the very answer
    a number or id that does not exist gets: nothing tells whether it exists."""
    login(api, people["community"])
    case = population["c1"]

    def merge_into(number: str) -> Any:
        r = api.post(
            f"/api/v1/cases/{case.pk}/merge/",
            {"version": case.version, "into": number, "note": "dup"},
            format="json",
        )
        assert r.status_code == 400, r.content
        return [m.replace(number, "…") for m in r.json()["errors"]["into"]]

    assert merge_into(population["c8"].number) == merge_into("2099000000999999")
    handled = population["c9"]

    def check_by(pk: int) -> Any:
        r = api.post(
            f"/api/v1/cases/{handled.pk}/start-check/",
            {"version": handled.version, "checker": pk},
            format="json",
        )
        assert r.status_code == 400, r.content
        return [m.replace(str(pk), "…") for m in r.json()["errors"]["checker"]]

    assert check_by(people["worker_b"].pk) == check_by(999_999)
    assert Case.objects.get(pk=case.pk).status == "reported"
