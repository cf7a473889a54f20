"""The registry through the API: every record type's list, create, change, end and history;
filters and the search box; version conflicts; bad input naming its field; scope and roles;
unmask and sensitive reads in the AccessLog."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role
from civicgrid.core.models import AccessLog, ObjectChange
from civicgrid.registry import actions
from civicgrid.registry.models import CareTag, Resident

from ..conftest import login
from .conftest import valid_id

API = "/api/v1/registry"
USCC = "91371600MA3C00000L"
TYPES = ("buildings", "houses", "households", "residents", "organisations", "places", "care-tags")


def secret_keys(data: Any) -> set[str]:
    """Keys of encrypted columns or blind indexes anywhere in an answer."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            if key.endswith(("_enc", "_index")):
                found.add(key)
            found |= secret_keys(value)
    elif isinstance(data, list):
        for item in data:
            found |= secret_keys(item)
    return found


def field_error(response: Any, name: str) -> str:
    assert response.status_code == 400, response.content
    body = response.json()
    assert name in body["errors"], body
    return str(body["errors"][name])


@pytest.fixture
def api(reg: dict[str, Any]) -> APIClient:
    """The grid worker of A1a1, where `reg` placed a building, a house and a household."""
    return login(APIClient(), reg["worker"])


def make_resident(api: APIClient, reg: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {
        "name": "张小明",
        "id_number": valid_id(),
        "phone": "13812345678",
        "household": reg["household"].pk,
        "relation": "head",
        **extra,
    }
    response = api.post(f"{API}/residents/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- create, read, change, end, history for every type ----------------------------------------
def _bodies(reg: dict[str, Any], world: Any, api: APIClient) -> dict[str, dict[str, Any]]:
    grid = world.div["A1a1"].code
    person = make_resident(api, reg, name="李四", id_number=valid_id(seq="135"), relation="")
    organisation = actions.do_create_record(
        "organisation", actor=reg["worker"], data={"name": "渤海商贸", "grid": grid}
    )
    return {
        "buildings": {"grid": grid, "road": "渤海七路", "number": "8", "floors": 6},
        "houses": {"building": reg["building"].pk, "unit_no": "1", "room": "502"},
        "households": {"house": reg["house"].pk, "number": "3716020001"},
        "residents": {
            "name": "王芳",
            "id_number": valid_id(seq="124"),
            "phone": "13700002222",
            "house": reg["house"].pk,
            "residence_type": "floating",
        },
        "organisations": {
            "name": "滨州市渤海物业有限公司",
            "uscc": USCC,
            "kind": "company",
            "phone": "0543-3123456",
            "grid": grid,
        },
        "places": {
            "name": "渤海加油站",
            "kind": "gas",
            "hazard_level": "high",
            "organisation": organisation.pk,
            "phone": "13600003333",
            "grid": grid,
        },
        "care-tags": {"resident": person["id"], "group": "elderly_alone", "risk_level": "medium"},
    }


CHANGES = {
    "buildings": ("floors", 7),
    "houses": ("room", "503"),
    "households": ("head_name", "王五"),
    "residents": ("ethnicity", "汉族"),
    "organisations": ("employees", 40),
    "places": ("hazard_level", "major"),
    "care-tags": ("risk_level", "high"),
}


@pytest.mark.parametrize("kind", TYPES)
def test_each_type_is_created_read_changed_ended_with_history(
    reg: dict[str, Any], world: Any, api: APIClient, kind: str
) -> None:
    body = _bodies(reg, world, api)[kind]
    created = api.post(f"{API}/{kind}/", body, format="json")
    assert created.status_code == 201, created.content
    record = created.json()
    assert record["version"] == 1 and record["is_active"] is True
    assert record["grid"]["code"] == world.div["A1a1"].code
    assert secret_keys(record) == set()
    url = f"{API}/{kind}/{record['id']}/"

    listed = api.get(f"{API}/{kind}/")
    assert listed.status_code == 200
    assert record["id"] in {row["id"] for row in listed.json()["results"]}
    assert api.get(url).json()["id"] == record["id"]

    name, value = CHANGES[kind]
    changed = api.patch(url, {name: value, "version": 1}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()[name] == value and changed.json()["version"] == 2
    stale = api.patch(url, {name: value, "version": 1}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "version"

    ended = api.post(f"{url}end/", {"reason": "核查注销", "version": 2}, format="json")
    assert ended.status_code == 200, ended.content
    assert ended.json()["is_active"] is False
    again = api.patch(url, {name: value, "version": 3}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "ended"
    assert api.get(f"{API}/{kind}/?is_active=false").json()["count"] >= 1

    history = api.get(f"{url}history/")
    assert history.status_code == 200
    rows = history.json()
    assert [row["action"] for row in rows][-1] == "create"
    assert [row["action"] for row in rows][:2] == ["end", "update"]
    assert name in rows[1]["changed"] and "is_active" in rows[0]["changed"]
    assert rows[0]["actor_name"] == reg["worker"].username


def test_a_resident_shows_masked_numbers_address_household_and_tags(
    reg: dict[str, Any], api: APIClient
) -> None:
    person = make_resident(api, reg)
    assert person["id_masked"] == valid_id()[:4] + "*" * 10 + valid_id()[-4:]
    assert person["phone_masked"] == "138****5678"
    assert not {"id_number", "phone"} & set(person)
    assert person["house_address"] == "黄河五路100号3幢2单元301室"
    assert person["household"] == reg["household"].pk and person["house"] == reg["house"].pk
    assert (person["sex"], person["birth_date"]) == ("M", "1990-03-07")
    tagged = api.post(f"{API}/residents/{person['id']}/tags/", {"group": "veteran"}, format="json")
    assert tagged.status_code == 201, tagged.content
    assert tagged.json()["next_visit_due"] == timezone.localdate().isoformat()
    shown = api.get(f"{API}/residents/{person['id']}/").json()
    assert [t["group"] for t in shown["care_tags"]] == ["veteran"]
    listed = api.get(f"{API}/residents/").json()["results"][0]
    assert listed["care_tags"] == shown["care_tags"]


def test_the_household_view_holds_its_address_and_members(
    reg: dict[str, Any], api: APIClient
) -> None:
    head = make_resident(api, reg)
    child = make_resident(
        api, reg, name="张小红", id_number=valid_id("20150101", seq="002"), relation="child"
    )
    view = api.get(f"{API}/households/{reg['household'].pk}/")
    assert view.status_code == 200
    body = view.json()
    assert body["house_address"] == "黄河五路100号3幢2单元301室"
    assert body["head_name"] == "张小明"
    assert [m["id"] for m in body["members"]] == [head["id"], child["id"]]
    assert body["members"][1]["relation"] == "child"
    assert secret_keys(body) == set()


def test_history_never_holds_a_clear_number(reg: dict[str, Any], api: APIClient) -> None:
    person = make_resident(api, reg)
    url = f"{API}/residents/{person['id']}/"
    changed = api.patch(url, {"phone": "13900001111", "version": 1}, format="json")
    assert changed.json()["phone_masked"] == "139****1111"
    rows = api.get(f"{url}history/").json()
    assert rows[0]["changed"] == ["phone"]
    text = str(rows)
    for clear in (valid_id(), "13812345678", "13900001111"):
        assert clear not in text
    assert "phone_enc" not in text and "id_index" not in text


# --- filters and search ----------------------------------------------------------------------
def test_resident_filters(reg: dict[str, Any], world: Any, api: APIClient) -> None:
    head = make_resident(api, reg)
    tenant = make_resident(
        api,
        reg,
        name="陈静",
        id_number=valid_id(seq="246"),
        phone="",
        household=None,
        house=None,
        relation="",
        residence_type="floating",
        grid=world.div["A1a1"].code,
    )
    api.post(f"{API}/residents/{head['id']}/tags/", {"group": "severe_mental"}, format="json")

    def ids(query: str) -> set[int]:
        response = api.get(f"{API}/residents/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    both = {head["id"], tenant["id"]}
    assert ids("residence_type=floating") == {tenant["id"]}
    assert ids("sex=F") == {tenant["id"]} and ids("sex=M") == {head["id"]}
    assert ids("document_type=resident_id") == both
    assert ids("group=severe_mental") == {head["id"]}
    assert ids(f"household={reg['household'].pk}") == {head["id"]}
    assert ids(f"house={reg['house'].pk}") == {head["id"]}
    assert ids(f"building={reg['building'].pk}") == {head["id"]}
    assert ids(f"grid={world.div['A1a1'].code}") == both
    assert ids(f"division={world.div['A1a1'].code}") == both
    assert ids(f"under={world.div['A1a1'].code}") == both
    # A division above the worker's grid is out of their sight: named like an unknown one.
    field_error(api.get(f"{API}/residents/?division={world.div['A1'].code}"), "division")
    staff = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1", name="staff"))
    assert staff.get(f"{API}/residents/?division={world.div['A1a'].code}").json()["count"] == 2
    assert staff.get(f"{API}/residents/?division={world.div['A1b'].code}").json()["count"] == 0
    assert ids("is_active=true") == both
    field_error(api.get(f"{API}/residents/?grid={world.div['B1a1'].code}"), "grid")
    field_error(api.get(f"{API}/residents/?division=371699999"), "division")
    field_error(api.get(f"{API}/residents/?sex=X"), "sex")


def test_place_organisation_and_house_filters(reg: dict[str, Any], world: Any) -> None:
    worker, grid = reg["worker"], world.div["A1a1"].code
    shop = actions.do_create_record(
        "organisation", actor=worker, data={"name": "小店", "kind": "sole", "grid": grid}
    )
    actions.do_create_record(
        "organisation", actor=worker, data={"name": "物业", "kind": "company", "grid": grid}
    )
    station = actions.do_create_record(
        "place",
        actor=worker,
        data={"name": "加油站", "kind": "gas", "hazard_level": "high", "grid": grid},
    )
    actions.do_create_record(
        "place",
        actor=worker,
        data={"name": "小饭馆", "kind": "shop", "organisation": shop, "grid": grid},
    )
    api = login(APIClient(), worker)

    def names(url: str) -> set[str]:
        response = api.get(url)
        assert response.status_code == 200, response.content
        rows = response.json()["results"]
        return {row.get("name") or row.get("room") or row.get("road") for row in rows}

    assert names(f"{API}/organisations/?kind=sole") == {"小店"}
    assert names(f"{API}/places/?hazard_level=high") == {station.name}
    assert names(f"{API}/places/?kind=shop") == {"小饭馆"}
    assert names(f"{API}/places/?organisation={shop.pk}") == {"小饭馆"}
    assert names(f"{API}/houses/?building={reg['building'].pk}") == {"301"}
    assert names(f"{API}/houses/?use=vacant") == set()
    assert names(f"{API}/buildings/?use=residential") == {"黄河五路"}
    assert api.get(f"{API}/households/?house={reg['house'].pk}").json()["count"] == 1


def test_care_tag_filters_for_visits_due_and_overdue(reg: dict[str, Any], api: APIClient) -> None:
    first = make_resident(api, reg)
    second = make_resident(
        api, reg, name="赵六", id_number=valid_id(seq="357"), phone="", relation="spouse"
    )
    due_now = api.post(
        f"{API}/residents/{first['id']}/tags/",
        {"group": "community_correction", "risk_level": "high"},
        format="json",
    ).json()
    later = api.post(
        f"{API}/care-tags/", {"resident": second["id"], "group": "veteran"}, format="json"
    ).json()
    visited = api.post(f"{API}/care-tags/{later['id']}/visit/", {}, format="json")
    assert visited.status_code == 200, visited.content
    assert visited.json()["last_visit_on"] == timezone.localdate().isoformat()
    # Make the first one overdue: its last visit was long ago.
    long_ago = timezone.localdate() - dt.timedelta(days=30)
    api.post(f"{API}/care-tags/{due_now['id']}/visit/", {"on": long_ago.isoformat()}, format="json")

    def ids(query: str) -> set[int]:
        response = api.get(f"{API}/care-tags/?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("overdue=true") == {due_now["id"]}
    assert ids("overdue=false") == {later["id"]}
    assert ids("visit_due=7") == {due_now["id"]}
    assert ids("visit_due=3650") == {due_now["id"], later["id"]}
    assert ids("group=veteran") == {later["id"]}
    assert ids("risk_level=high") == {due_now["id"]}
    assert ids(f"resident={second['id']}") == {later["id"]}
    assert ids("q=赵六") == {later["id"]}
    field_error(api.get(f"{API}/care-tags/?visit_due=-1"), "visit_due")
    future = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    field_error(api.post(f"{API}/care-tags/{later['id']}/visit/", {"on": future}), "on")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("王芳", {"王芳", "王芳芳"}),
        ("芳芳", {"王芳芳"}),
        ("wangfang", {"王芳", "王芳芳"}),
        ("wf", {"王芳", "王芳芳"}),
        ("wff", {"王芳芳"}),
        ("zxm", {"张小明"}),
        ("xiaoming", {"张小明"}),
        (valid_id(seq="456"), {"王芳"}),
        (valid_id(seq="456").lower(), {"王芳"}),
        ("13700002222", {"王芳"}),
        ("+86 137 0000 2222", {"王芳"}),
        ("黄河五路", {"王芳", "王芳芳", "张小明"}),
        ("芳王", set()),
        ("13799999999", set()),
    ],
)
def test_search_box(reg: dict[str, Any], api: APIClient, query: str, expected: set[str]) -> None:
    make_resident(api, reg)
    make_resident(
        api, reg, name="王芳", id_number=valid_id(seq="456"), phone="13700002222", relation=""
    )
    make_resident(
        api, reg, name="王芳芳", id_number=valid_id(seq="458"), phone="", relation="child"
    )
    response = api.get(f"{API}/residents/", {"q": query})
    assert response.status_code == 200, response.content
    assert {row["name"] for row in response.json()["results"]} == expected


def test_a_number_search_answers_on_one_page(reg: dict[str, Any], api: APIClient) -> None:
    """Two people share a phone: a search by it lists both at once, so that no page link
    carries the number back."""
    make_resident(api, reg)
    make_resident(
        api, reg, name="张大明", id_number=valid_id(seq="579"), relation="", phone="13812345678"
    )
    body = api.get(f"{API}/residents/", {"q": "13812345678", "page_size": 1}).json()
    assert body["count"] == 2 and len(body["results"]) == 2 and body["next"] is None
    by_name = api.get(f"{API}/residents/", {"q": "明", "page_size": 1}).json()
    assert by_name["count"] == 2 and len(by_name["results"]) == 1 and by_name["next"]


def test_organisations_by_code_and_places_by_name(reg: dict[str, Any], world: Any) -> None:
    grid = world.div["A1a1"].code
    actions.do_create_record(
        "organisation", actor=reg["worker"], data={"name": "渤海物业", "uscc": USCC, "grid": grid}
    )
    actions.do_create_record(
        "place", actor=reg["worker"], data={"name": "渤海加油站", "kind": "gas", "grid": grid}
    )
    api = login(APIClient(), reg["worker"])
    found = api.get(f"{API}/organisations/", {"q": USCC.lower()}).json()["results"]
    assert [o["name"] for o in found] == ["渤海物业"]
    assert [p["name"] for p in api.get(f"{API}/places/", {"q": "加油"}).json()["results"]] == [
        "渤海加油站"
    ]


# --- bad input -------------------------------------------------------------------------------
def test_bad_input_is_a_400_naming_each_field(reg: dict[str, Any], world: Any) -> None:
    api = login(APIClient(), reg["worker"])
    wrong_check = valid_id()[:-1] + ("0" if valid_id()[-1] != "0" else "1")
    bad = api.post(
        f"{API}/residents/",
        {"name": "张三", "id_number": wrong_check, "phone": "12345", "grid": "371602001001999"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "check digit" in field_error(bad, "id_number")
    assert {"id_number", "phone", "grid"} <= set(bad.json()["errors"])
    assert Resident.objects.count() == 0
    missing = api.post(f"{API}/residents/", {"id_number": valid_id()}, format="json")
    field_error(missing, "name")
    field_error(api.post(f"{API}/residents/", [1, 2], format="json"), "non_field_errors")
    organisation = api.post(
        f"{API}/organisations/",
        {"name": "x", "uscc": USCC[:-1] + "0", "grid": world.div["A1a1"].code},
        format="json",
    )
    field_error(organisation, "uscc")
    field_error(api.post(f"{API}/buildings/", {"road": "x", "number": "1"}, format="json"), "grid")
    field_error(
        api.post(f"{API}/houses/", {"building": 10**12, "room": "1"}, format="json"), "building"
    )
    field_error(
        api.post(f"{API}/houses/", {"building": "abc", "room": "1"}, format="json"), "building"
    )
    field_error(
        api.post(f"{API}/places/", {"name": "x", "grid": world.div["A1a1"].code}, format="json"),
        "kind",
    )
    person = make_resident(api, reg)
    url = f"{API}/residents/{person['id']}/"
    field_error(api.patch(url, {"note": "x"}, format="json"), "version")
    field_error(api.patch(url, {"phone": "abc", "version": 1}, format="json"), "phone")
    field_error(
        api.patch(url, {"document_type": "passport", "version": 1}, format="json"), "id_number"
    )
    field_error(api.post(f"{url}end/", {}, format="json"), "reason")
    field_error(api.post(f"{url}end/", {"reason": "  "}, format="json"), "reason")
    duplicate = api.post(
        f"{API}/residents/",
        {"name": "张晓明", "id_number": valid_id(), "grid": world.div["A1a1"].code},
        format="json",
    )
    field_error(duplicate, "id_number")
    assert Resident.objects.count() == 1
    assert Resident.objects.get().version == 1  # nothing half-written


def test_an_ended_reference_is_refused(reg: dict[str, Any], api: APIClient) -> None:
    actions.do_end_record(reg["household"], actor=reg["worker"], version=None, reason="迁出")
    response = api.post(
        f"{API}/residents/",
        {"name": "张三", "household": reg["household"].pk},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "ended" in field_error(response, "household")


# --- scope and roles ---------------------------------------------------------------------------
def test_another_county_sees_nothing_of_this_one(reg: dict[str, Any], world: Any) -> None:
    person = make_resident(login(APIClient(), reg["worker"]), reg)
    other = login(APIClient(), world.user(Role.CENTRE_STAFF, "B1", name="township-b"))
    for kind in TYPES:
        body = other.get(f"{API}/{kind}/").json()
        assert body["count"] == 0 and body["results"] == [], kind
    url = f"{API}/residents/{person['id']}/"
    assert other.get(url).status_code == 404
    assert other.get(f"{url}history/").status_code == 404
    assert other.patch(url, {"note": "x", "version": 1}, format="json").status_code == 404
    assert other.post(f"{url}end/", {"reason": "x"}, format="json").status_code == 404
    unmask = other.post(f"{url}unmask/", {"fields": ["phone"], "reason": "x"}, format="json")
    assert unmask.status_code == 404
    assert other.get(f"{API}/households/{reg['household'].pk}/").status_code == 404
    # A reference into county A is answered like one to nothing at all.
    invisible = other.post(f"{API}/houses/", {"building": reg["building"].pk, "room": "1"})
    missing = other.post(f"{API}/houses/", {"building": 987654321, "room": "1"})
    assert invisible.json() == missing.json()
    field_error(invisible, "building")
    grid_a = other.post(f"{API}/buildings/", {"grid": reg["building"].division.code})
    grid_none = other.post(f"{API}/buildings/", {"grid": "371699999999999"})
    assert grid_a.json()["errors"]["grid"] == grid_none.json()["errors"]["grid"]
    assert Resident.objects.get().version == 1 and AccessLog.objects.count() == 0


def test_a_worker_reaches_only_their_grid(reg: dict[str, Any], world: Any) -> None:
    person = make_resident(login(APIClient(), reg["worker"]), reg)
    neighbour = login(APIClient(), world.user(Role.GRID_WORKER, "A1a2", name="neighbour"))
    assert neighbour.get(f"{API}/residents/{person['id']}/").status_code == 404
    assert neighbour.get(f"{API}/residents/").json()["count"] == 0
    # …and may not move a record into a grid outside their area either.
    mine = login(APIClient(), reg["worker"])
    moved = mine.patch(
        f"{API}/residents/{person['id']}/",
        {"household": None, "house": None, "grid": world.div["A1a2"].code, "version": 1},
        format="json",
    )
    field_error(moved, "grid")


def test_centre_staff_move_a_resident_between_grids(reg: dict[str, Any], world: Any) -> None:
    person = make_resident(login(APIClient(), reg["worker"]), reg)
    staff = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1", name="staff"))
    moved = staff.patch(
        f"{API}/residents/{person['id']}/",
        {"household": None, "house": None, "grid": world.div["A1b1"].code, "version": 1},
        format="json",
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["grid"]["code"] == world.div["A1b1"].code
    assert staff.get(f"{API}/residents/{person['id']}/history/").json()[0]["action"] == "move"


@pytest.mark.parametrize(
    ("role", "home", "reads", "writes"),
    [
        (Role.GRID_WORKER, "A1a1", True, True),
        (Role.GRID_LEADER, "A1a", True, True),
        (Role.CENTRE_STAFF, "A1", True, True),
        (Role.LEADER, "A1", True, False),
        (Role.DEPARTMENT_HANDLER, "A1", False, False),
        (Role.SYSTEM_ADMIN, "A1", False, False),
        (Role.SECURITY_ADMIN, "A1", False, False),
        (Role.AUDIT_ADMIN, "A1", False, False),
    ],
)
def test_roles(
    reg: dict[str, Any], world: Any, role: str, home: str, reads: bool, writes: bool
) -> None:
    person = make_resident(login(APIClient(), reg["worker"]), reg)
    unit = "urban-A" if role == Role.DEPARTMENT_HANDLER else None
    if unit:
        home = "A"
    api = login(APIClient(), world.user(role, home, unit=unit, name="someone"))
    url = f"{API}/residents/{person['id']}/"
    assert api.get(f"{API}/residents/").json()["count"] == (1 if reads else 0)
    assert api.get(url).status_code == (200 if reads else 404)
    assert api.get(f"{url}history/").status_code == (200 if reads else 404)
    patch = api.patch(url, {"note": "核实", "version": 1}, format="json")
    assert patch.status_code == (200 if writes else 403 if reads else 404)
    created = api.post(
        f"{API}/buildings/",
        {"grid": world.div["A1a1"].code, "road": "新路", "number": "1"},
        format="json",
    )
    assert created.status_code == (201 if writes else 403), created.content
    if not writes:
        assert ObjectChange.objects.filter(actor_name="someone").count() == 0


def test_anonymous_callers_get_401(db: Any) -> None:
    anonymous = APIClient()
    for kind in TYPES:
        assert anonymous.get(f"{API}/{kind}/").status_code == 401
        assert anonymous.post(f"{API}/{kind}/", {}).status_code == 401
        assert anonymous.get(f"{API}/{kind}/1/history/").status_code == 401


@pytest.mark.parametrize("kind", TYPES)
def test_bad_ids_are_404_and_bad_id_filters_400(
    reg: dict[str, Any], api: APIClient, kind: str
) -> None:
    assert api.get(f"{API}/{kind}/abc/").status_code == 404
    assert api.get(f"{API}/{kind}/1x/history/").status_code == 404
    assert api.get(f"{API}/{kind}/99999999999999999999/").status_code == 404
    id_filter = {
        "buildings": None,
        "houses": "building",
        "households": "house",
        "residents": "household",
        "organisations": "building",
        "places": "organisation",
        "care-tags": "resident",
    }[kind]
    if id_filter:
        for value in ("99999999999999999999999", "1.5", "-1"):
            field_error(api.get(f"{API}/{kind}/?{id_filter}={value}"), id_filter)


# --- unmask and sensitive reads ------------------------------------------------------------
def test_unmask_is_audited_and_needs_the_right_role_and_a_reason(
    reg: dict[str, Any], world: Any
) -> None:
    worker = login(APIClient(), reg["worker"])
    person = make_resident(worker, reg)
    url = f"{API}/residents/{person['id']}/unmask/"
    refused = worker.post(url, {"fields": ["id_number"], "reason": "核实"}, format="json")
    assert refused.status_code == 403
    leader = login(APIClient(), world.user(Role.LEADER, "A1", name="leader"))
    assert (
        leader.post(url, {"fields": ["phone"], "reason": "核实"}, format="json").status_code == 403
    )
    assert AccessLog.objects.count() == 0

    staff = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1", name="staff"))
    field_error(staff.post(url, {"fields": ["id_number"]}, format="json"), "reason")
    field_error(staff.post(url, {"fields": ["id_number"], "reason": " "}, format="json"), "reason")
    field_error(staff.post(url, {"fields": ["name"], "reason": "核实"}, format="json"), "fields")
    field_error(staff.post(url, {"fields": [], "reason": "核实"}, format="json"), "fields")
    assert AccessLog.objects.count() == 0
    shown = staff.post(url, {"fields": ["id_number", "phone"], "reason": "调解纠纷"}, format="json")
    assert shown.status_code == 200, shown.content
    assert shown.json() == {"id_number": valid_id(), "phone": "+8613812345678"}
    log = AccessLog.objects.get()
    assert (log.action, log.reason, log.actor_name) == ("unmask", "调解纠纷", "staff")
    assert log.fields == ["id_number", "phone"] and log.object_id == str(person["id"])


def test_unmask_an_organisations_phone(reg: dict[str, Any], world: Any) -> None:
    organisation = actions.do_create_record(
        "organisation",
        actor=reg["worker"],
        data={"name": "渤海物业", "phone": "13600003333", "grid": world.div["A1a1"].code},
    )
    staff = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1", name="staff"))
    url = f"{API}/organisations/{organisation.pk}/unmask/"
    field_error(staff.post(url, {"fields": ["id_number"], "reason": "x"}, format="json"), "fields")
    shown = staff.post(url, {"fields": ["phone"], "reason": "联系负责人"}, format="json")
    assert shown.json() == {"phone": "+8613600003333"}
    assert AccessLog.objects.filter(action="unmask").count() == 1


def test_reading_a_key_group_member_is_logged(reg: dict[str, Any], api: APIClient) -> None:
    plain = make_resident(api, reg)
    watched = make_resident(
        api, reg, name="钱七", id_number=valid_id(seq="791"), phone="", relation="spouse"
    )
    api.post(f"{API}/residents/{watched['id']}/tags/", {"group": "drug_rehab"}, format="json")
    api.get(f"{API}/residents/{plain['id']}/")
    assert AccessLog.objects.count() == 0
    api.get(f"{API}/residents/{watched['id']}/")
    log = AccessLog.objects.get()
    assert (log.action, log.object_id, log.fields) == (
        "read_care",
        str(watched["id"]),
        ["drug_rehab"],
    )


def test_a_tag_on_a_resident_through_both_endpoints(reg: dict[str, Any], api: APIClient) -> None:
    person = make_resident(api, reg)
    first = api.post(f"{API}/residents/{person['id']}/tags/", {"group": "disabled"}, format="json")
    assert first.status_code == 201
    twice = api.post(
        f"{API}/care-tags/", {"resident": person["id"], "group": "disabled"}, format="json"
    )
    field_error(twice, "group")
    assert CareTag.objects.count() == 1
    field_error(api.post(f"{API}/residents/{person['id']}/tags/", {}, format="json"), "group")


# --- the description -------------------------------------------------------------------------
def test_the_browsable_api_renders_every_record_masked(reg: dict[str, Any], api: APIClient) -> None:
    """Its forms are filled from the records themselves; the leak scanner reads each page."""
    person = make_resident(api, reg)
    tag = api.post(f"{API}/residents/{person['id']}/tags/", {"group": "veteran"}, format="json")
    organisation = actions.do_create_record(
        "organisation",
        actor=reg["worker"],
        data={"name": "渤海物业", "phone": "13600003333", "building": reg["building"]},
    )
    place = actions.do_create_record(
        "place",
        actor=reg["worker"],
        data={
            "name": "物业仓库",
            "kind": "other",
            "organisation": organisation,
            "grid": reg["building"].division,
        },
    )
    ids = {
        "organisations": organisation.pk,
        "places": place.pk,
        "buildings": reg["building"].pk,
        "houses": reg["house"].pk,
        "households": reg["household"].pk,
        "residents": person["id"],
        "care-tags": tag.json()["id"],
    }
    for kind, pk in ids.items():
        for url in (f"{API}/{kind}/", f"{API}/{kind}/{pk}/"):
            page = api.get(url, HTTP_ACCEPT="text/html")
            assert page.status_code == 200, (url, page.content[-2000:])
            assert page["Content-Type"].startswith("text/html")


def test_the_schema_describes_every_registry_endpoint(api: APIClient) -> None:
    paths = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["paths"]
    for kind in TYPES:
        for tail in ("", "{id}/", "{id}/end/", "{id}/history/"):
            assert f"{API}/{kind}/{tail}" in paths, (kind, tail)
    for kind in ("residents", "organisations", "places"):
        assert f"{API}/{kind}/{{id}}/unmask/" in paths
    assert f"{API}/residents/{{id}}/tags/" in paths and f"{API}/care-tags/{{id}}/visit/" in paths
    resident = api.get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()["components"][
        "schemas"
    ]["Resident"]["properties"]
    assert {"id_masked", "phone_masked"} <= set(resident)
    assert not {"id_enc", "id_index", "phone_enc", "phone_index", "id_number"} & set(resident)
