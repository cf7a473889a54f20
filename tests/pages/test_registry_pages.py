"""Registry pages through the Django test client: browse and search, lists with filters, the
household view, the resident page with its care tags and history, every form with good and
bad input and stale versions, the audited unmask, the care-group list, and scope (404 out of
the user's area, 403 for roles that never reach basic information).

Every response is also scanned for clear ID and phone numbers (tests/leakscan.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civicgrid.accounts.roles import Role
from civicgrid.core.models import AccessLog, ObjectChange
from civicgrid.registry import actions
from civicgrid.registry.models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Resident,
)

from ..registry.conftest import valid_id

HEAD_ID = valid_id("19480212", seq="131")  # an old man (odd sequence digit: male)
SPOUSE_ID = valid_id("19500608", seq="242")
FAR_ID = valid_id("19800101", region="371603", seq="355")
HEAD_PHONE = "13912345678"


def uscc(body: str = "91371602MA3C1234") -> str:
    from stdnum.cn import uscc as gb32100

    return body + "0" + gb32100.calc_check_digit(body + "0")


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(response: Any) -> str:
    return response.content.decode()


@pytest.fixture
def people(world: Any) -> dict[str, Any]:
    return {
        "worker": world.user(Role.GRID_WORKER, "A1a1", name="worker"),
        "sibling": world.user(Role.GRID_WORKER, "A1a2", name="sibling"),
        "community": world.user(Role.CENTRE_STAFF, "A1a", name="community"),
        "township": world.user(Role.CENTRE_STAFF, "A1", name="township"),
        "leader": world.user(Role.LEADER, "A", name="leader"),
        "handler": world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A", name="handler"),
        "admin": world.user(Role.SYSTEM_ADMIN, "A", name="admin"),
        "far": world.user(Role.GRID_WORKER, "B1a1", name="far"),
    }


@pytest.fixture
def data(world: Any, people: dict[str, Any]) -> dict[str, Any]:
    """A building with a house, a household of two (the head living alone with his wife is
    an elderly-living-alone tag with an overdue visit), an organisation with a hazardous place
    — all in grid A1a1 — and one resident in the other county."""
    worker = people["worker"]
    grid = world.div["A1a1"]
    building = actions.do_create_record(
        "building",
        actor=worker,
        data={
            "grid": grid.code,
            "road": "黄河五路",
            "number": "100",
            "name": "渤海小区",
            "building_no": "3",
            "floors": "6",
        },
    )
    house = actions.do_create_record(
        "house", actor=worker, data={"building": building, "unit_no": "2", "room": "301"}
    )
    household = actions.do_create_record(
        "household", actor=worker, data={"house": house, "number": "370001"}
    )
    head = actions.do_create_record(
        "resident",
        actor=worker,
        data={
            "name": "张晓明",
            "id_number": HEAD_ID,
            "phone": HEAD_PHONE,
            "household": household,
            "relation": "head",
        },
    )
    spouse = actions.do_create_record(
        "resident",
        actor=worker,
        data={
            "name": "李秀英",
            "id_number": SPOUSE_ID,
            "household": household,
            "relation": "spouse",
        },
    )
    assert isinstance(head, Resident)
    tag = actions.do_tag_resident(
        head, actor=worker, data={"group": "elderly_alone", "risk_level": "high"}
    )
    CareTag.objects.filter(pk=tag.pk).update(
        next_visit_due=timezone.localdate() - dt.timedelta(days=3)
    )
    organisation = actions.do_create_record(
        "organisation",
        actor=worker,
        data={
            "grid": grid.code,
            "name": "滨州市渤海化工有限公司",
            "uscc": uscc(),
            "legal_rep": "王强",
            "phone": "13800001111",
            "building": building,
        },
    )
    place = actions.do_create_record(
        "place",
        actor=worker,
        data={
            "grid": grid.code,
            "name": "渤海化工危化品仓库",
            "kind": "chemicals",
            "hazard_level": "major",
            "organisation": organisation,
        },
    )
    far_household = actions.do_create_record(
        "household", actor=people["far"], data={"grid": world.div["B1a1"].code}
    )
    far = actions.do_create_record(
        "resident",
        actor=people["far"],
        data={"name": "赵远方", "id_number": FAR_ID, "household": far_household},
    )
    return {
        "building": building,
        "house": house,
        "household": household,
        "head": head,
        "spouse": spouse,
        "tag": CareTag.objects.get(pk=tag.pk),
        "organisation": organisation,
        "place": place,
        "far": far,
    }


def _urls(data: dict[str, Any]) -> list[str]:
    return [
        f"/registry/residents/{data['head'].pk}/",
        f"/registry/households/{data['household'].pk}/",
        f"/registry/houses/{data['house'].pk}/",
        f"/registry/buildings/{data['building'].pk}/",
        f"/registry/organisations/{data['organisation'].pk}/",
        f"/registry/places/{data['place'].pk}/",
    ]


LISTS = ["residents", "households", "houses", "buildings", "organisations", "places", "care"]


# --- every page, by role -------------------------------------------------------------------
def test_every_page_renders_for_the_grid_worker(world, people, data):
    worker = _client(people["worker"])
    assert worker.get("/registry/").status_code == 200
    for url in _urls(data):
        response = worker.get(url)
        assert response.status_code == 200, url
        assert 'data-action="edit"' in _page(response), url
    for name in LISTS:
        response = worker.get(f"/registry/{name}/")
        assert response.status_code == 200, name
    assert worker.get(f"/registry/area/{world.div['A1a1'].pk}/").status_code == 200
    for kind in ("residents", "households", "houses", "buildings", "organisations", "places"):
        assert worker.get(f"/registry/{kind}/new/").status_code == 200, kind
    assert worker.get(f"/registry/residents/{data['head'].pk}/move/").status_code == 200
    assert worker.get(f"/registry/residents/{data['head'].pk}/tag/").status_code == 200
    assert worker.get(f"/registry/care/{data['tag'].pk}/edit/").status_code == 200
    assert worker.get(f"/registry/care/{data['tag'].pk}/end/").status_code == 200
    # A care tag's own page is its resident's.
    response = worker.get(f"/registry/care/{data['tag'].pk}/")
    assert response.status_code == 302
    assert response["Location"] == f"/registry/residents/{data['head'].pk}/#care"


def test_lists_link_their_export_and_home_links_the_import(world, people, data):
    """Import and export are reached from the registry pages themselves, not a menu entry."""
    worker = _client(people["worker"])
    home = _page(worker.get("/registry/"))
    assert 'id="cg-import" href="/registry/import/"' in home
    page = _page(worker.get("/registry/residents/?residence_type=registered"))
    assert 'id="cg-export" href="/registry/residents/export/?residence_type=registered"' in page
    assert worker.get("/registry/residents/export/?residence_type=registered").status_code == 200
    leader_home = _page(_client(people["leader"]).get("/registry/"))
    assert 'id="cg-import"' not in leader_home


def test_the_menu_has_basic_information_for_roles_that_reach_it(world, people):
    for role, shown in (
        ("worker", True),
        ("community", True),
        ("leader", True),
        ("handler", False),
        ("admin", False),
    ):
        page = _page(_client(people[role]).get("/"))
        assert ('href="/registry/"' in page) is shown, role


@pytest.mark.parametrize("role", ["handler", "admin"])
def test_roles_that_never_reach_the_registry_get_403(world, people, data, role):
    client = _client(people[role])
    assert client.get("/registry/").status_code == 403
    for name in LISTS:
        assert client.get(f"/registry/{name}/").status_code == 403, name
    for url in _urls(data):
        assert client.get(url).status_code == 403, url
    assert client.get("/registry/residents/new/").status_code == 403
    assert client.post("/registry/search/", {"q": "张晓明"}).status_code == 403
    before = ObjectChange.objects.count()
    assert client.post(f"/registry/care/{data['tag'].pk}/visit/").status_code == 403
    assert ObjectChange.objects.count() == before


def test_out_of_scope_records_are_404(world, people, data):
    far = data["far"]
    for role in ("worker", "sibling", "community", "township"):
        client = _client(people[role])
        assert client.get(f"/registry/residents/{far.pk}/").status_code == 404, role
        assert client.get(f"/registry/residents/{far.pk}/edit/").status_code == 404, role
        assert client.post(f"/registry/residents/{far.pk}/edit/", {}).status_code == 404
        assert client.get(f"/registry/households/{far.household_id}/").status_code == 404
    # A neighbouring grid's worker does not see A1a1's records; the community's staff do.
    sibling = _client(people["sibling"])
    for url in _urls(data):
        assert sibling.get(url).status_code == 404, url
    assert sibling.get(f"/registry/area/{world.div['A1a1'].pk}/").status_code == 404
    found = sibling.post("/registry/search/", {"q": "张晓明"})
    assert f"/registry/residents/{data['head'].pk}/" not in _page(found)
    community = _client(people["community"])
    for url in _urls(data):
        assert community.get(url).status_code == 200, url


def test_the_leader_reads_but_does_not_write(world, people, data):
    leader = _client(people["leader"])
    head = data["head"]
    page = _page(leader.get(f"/registry/residents/{head.pk}/"))
    assert 'data-action="edit"' not in page and 'data-action="visit"' not in page
    assert leader.get("/registry/residents/new/").status_code == 403
    assert leader.get(f"/registry/residents/{head.pk}/edit/").status_code == 403
    response = leader.post(
        f"/registry/residents/{head.pk}/edit/", {"version": head.version, "name": "改名"}
    )
    assert response.status_code == 403
    assert leader.post(f"/registry/care/{data['tag'].pk}/visit/").status_code == 403
    head.refresh_from_db()
    assert head.name == "张晓明"


# --- browse and search ---------------------------------------------------------------------
def test_browse_by_grid_counts_residents_households_and_care(world, people, data):
    township = _client(people["township"])
    page = _page(township.get("/registry/"))
    assert f'data-division="{world.div["A1"].pk}"' in page
    area = township.get(f"/registry/area/{world.div['A1'].pk}/")
    rows = area.context["children"]
    a1a = next(r for r in rows if r["division"].pk == world.div["A1a"].pk)
    assert (a1a["residents"], a1a["households"], a1a["care"]) == (2, 1, 1)
    grid = township.get(f"/registry/area/{world.div['A1a1'].pk}/")
    assert f'data-building="{data["building"].pk}"' in _page(grid)
    assert grid.context["house_counts"][data["building"].pk] == {
        "houses": 1,
        "households": 1,
        "residents": 2,
    }
    assert township.get(f"/registry/area/{world.div['B1'].pk}/").status_code == 404


@pytest.mark.parametrize("query", ["张晓明", "晓明", "zxm", "zhangxiaoming", "黄河五路"])
def test_one_search_box_finds_by_name_pinyin_initials_and_address(world, people, data, query):
    response = _client(people["worker"]).post("/registry/search/", {"q": query})
    assert response.status_code == 200
    assert f'href="/registry/residents/{data["head"].pk}/"' in _page(response)


def test_search_by_id_or_phone_shows_neither_in_the_page(world, people, data):
    worker = _client(people["worker"])
    for query in (HEAD_ID, HEAD_PHONE):
        response = worker.post("/registry/search/", {"q": query})
        page = _page(response)
        assert f'href="/registry/residents/{data["head"].pk}/"' in page
        assert query not in page  # the leak scanner checks it too
        assert response.context["q"] == ""
    # htmx asks for the results only.
    partial = worker.post("/registry/search/", {"q": "zxm"}, HTTP_HX_REQUEST="true")
    assert "<html" not in _page(partial) and "cg-result" in _page(partial)
    nothing = worker.post("/registry/search/", {"q": "不存在的人"})
    assert 'id="cg-no-results"' in _page(nothing)


def test_search_finds_organisations_places_and_buildings(world, people, data):
    worker = _client(people["worker"])
    page = _page(worker.post("/registry/search/", {"q": "渤海化工"}))
    assert f'href="/registry/organisations/{data["organisation"].pk}/"' in page
    assert f'href="/registry/places/{data["place"].pk}/"' in page
    page = _page(worker.post("/registry/search/", {"q": uscc()}))
    assert f'href="/registry/organisations/{data["organisation"].pk}/"' in page


# --- lists ---------------------------------------------------------------------------------
def test_lists_filter_by_area_type_state_and_query(world, people, data):
    township = _client(people["township"])
    residents = township.get("/registry/residents/")
    ids = {r.pk for r in residents.context["page_obj"]}
    assert ids == {data["head"].pk, data["spouse"].pk}
    by_group = township.get("/registry/residents/?group=elderly_alone")
    assert [r.pk for r in by_group.context["page_obj"]] == [data["head"].pk]
    assert not township.get("/registry/residents/?q=秀英&under=371602001002").context["page_obj"]
    assert township.get("/registry/residents/?q=lxy").context["page_obj"][0] == data["spouse"]
    hazards = township.get("/registry/places/?hazard=any")
    assert [p.pk for p in hazards.context["page_obj"]] == [data["place"].pk]
    assert "cg-hazard-major" in _page(hazards)
    assert not township.get("/registry/places/?hazard=low").context["page_obj"]
    orgs = township.get("/registry/organisations/?type=company")
    assert [o.pk for o in orgs.context["page_obj"]] == [data["organisation"].pk]
    actions.do_end_record(data["spouse"], actor=people["worker"], version=None, reason="迁出")
    assert [r.pk for r in township.get("/registry/residents/").context["page_obj"]] == [
        data["head"].pk
    ]
    ended = township.get("/registry/residents/?state=ended")
    assert [r.pk for r in ended.context["page_obj"]] == [data["spouse"].pk]
    assert len(township.get("/registry/residents/?state=all").context["page_obj"]) == 2
    for kind in ("households", "houses", "buildings"):
        assert len(township.get(f"/registry/{kind}/").context["page_obj"]) == 1, kind


@pytest.mark.parametrize(
    "query",
    ["under=371603001201001", "under=abc", "hazard=nonsense", "type=zzz", "page=999", "state=x"],
)
def test_bad_list_filters_are_field_errors_not_crashes(world, people, data, query):
    response = _client(people["worker"]).get(f"/registry/places/?{query}")
    assert response.status_code == 200
    if query.startswith(("under", "hazard", "type")):
        assert "is-invalid" in _page(response) and not response.context["page_obj"]


def test_lists_page(world, people, data):
    worker = people["worker"]
    household = data["household"]
    for n in range(35):
        actions.do_create_record(
            "resident",
            actor=worker,
            data={
                "name": f"王{n:02d}",
                "id_number": valid_id("20000101", seq=f"{n + 400:03d}"),
                "household": household,
            },
        )
    client = _client(worker)
    first = client.get("/registry/residents/")
    assert first.context["page_obj"].paginator.count == 37
    assert len(client.get("/registry/residents/?page=2").context["page_obj"]) == 7


# --- household view and resident page ------------------------------------------------------
def test_household_view_from_building_to_residents(world, people, data):
    worker = _client(people["worker"])
    building = _page(worker.get(f"/registry/buildings/{data['building'].pk}/"))
    assert f'data-house="{data["house"].pk}"' in building
    assert f'href="/registry/organisations/{data["organisation"].pk}/"' in building
    house = worker.get(f"/registry/houses/{data['house'].pk}/")
    households = house.context["households"]
    assert [(h.pk, [m.pk for m in members]) for h, members in households] == [
        (data["household"].pk, [data["head"].pk, data["spouse"].pk])
    ]
    page = _page(house)
    assert ("户主" in page and "配偶" in page) or "head of household" in page
    household = _page(worker.get(f"/registry/households/{data['household'].pk}/"))
    assert f'data-resident="{data["spouse"].pk}"' in household
    assert data["spouse"].id_masked in household


def test_resident_page_shows_masked_numbers_members_tags_and_history(world, people, data):
    head = data["head"]
    actions.do_update_record(head, actor=people["worker"], version=1, data={"phone": "13700002222"})
    response = _client(people["worker"]).get(f"/registry/residents/{head.pk}/")
    page = _page(response)
    head.refresh_from_db()
    assert head.id_masked in page and "137****2222" in page
    assert f'href="/registry/residents/{data["spouse"].pk}/"' in page  # the other member
    assert f'data-tag="{data["tag"].pk}"' in page and "cg-overdue" in page
    assert 'data-action="visit"' in page
    assert 'id="cg-unmask"' not in page  # grid workers may not unmask
    history = response.context["history"]
    assert [c.action for c in history] == ["update", "create"]
    _label, before, after = history[0].fields[0]
    assert (before, after) == ("139****5678", "137****2222")
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    )


def test_opening_a_key_group_member_is_logged(world, people, data):
    worker = people["worker"]
    spouse = data["spouse"]
    _client(worker).get(f"/registry/residents/{spouse.pk}/")
    assert not AccessLog.objects.filter(action="read_care").exists()
    actions.do_tag_resident(spouse, actor=worker, data={"group": "severe_mental"})
    _client(worker).get(f"/registry/residents/{spouse.pk}/")
    log = AccessLog.objects.get(action="read_care")
    assert log.object_id == str(spouse.pk) and log.actor == worker


# --- unmask --------------------------------------------------------------------------------
def test_centre_staff_unmask_with_a_reason_once_and_logged(world, people, data):
    head = data["head"]
    township = _client(people["township"])
    page = _page(township.get(f"/registry/residents/{head.pk}/"))
    assert 'id="cg-unmask"' in page and HEAD_ID not in page
    # No reason: a field error, nothing shown, nothing logged.
    response = township.post(
        f"/registry/residents/{head.pk}/unmask/", {"fields": ["id_number"], "reason": " "}
    )
    assert response.status_code == 200 and HEAD_ID not in _page(response)
    assert "invalid-feedback" in _page(response)
    assert not AccessLog.objects.filter(action="unmask").exists()
    # With a reason: the full number in this response only, and an access log row.
    response = township.post(
        f"/registry/residents/{head.pk}/unmask/",
        {"fields": ["id_number", "phone"], "reason": "核实身份：调解纠纷"},
        HTTP_HX_REQUEST="true",
    )
    page = _page(response)
    assert HEAD_ID in page and HEAD_PHONE in page and "<html" not in page
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    log = AccessLog.objects.get(action="unmask")
    assert log.reason == "核实身份：调解纠纷" and sorted(log.fields) == ["id_number", "phone"]
    assert log.actor == people["township"]
    # Without htmx the whole page comes back, with the number shown once.
    full = township.post(
        f"/registry/residents/{head.pk}/unmask/", {"fields": "id_number", "reason": "核实"}
    )
    assert HEAD_ID in _page(full) and "<html" in _page(full)
    assert HEAD_ID not in _page(township.get(f"/registry/residents/{head.pk}/"))


def test_unmask_is_refused_to_roles_that_may_not(world, people, data):
    head = data["head"]
    response = _client(people["worker"]).post(
        f"/registry/residents/{head.pk}/unmask/", {"fields": "id_number", "reason": "好奇"}
    )
    assert response.status_code == 403
    assert not AccessLog.objects.filter(action="unmask").exists()
    far = _client(people["township"]).post(
        f"/registry/residents/{data['far'].pk}/unmask/", {"fields": "id_number", "reason": "x"}
    )
    assert far.status_code == 404
    bad = _client(people["township"]).post(
        f"/registry/residents/{head.pk}/unmask/", {"fields": "password", "reason": "x"}
    )
    assert bad.status_code == 200 and "invalid-feedback" in _page(bad)
    household = _client(people["township"]).post(
        f"/registry/households/{data['household'].pk}/unmask/", {"fields": "phone", "reason": "x"}
    )
    assert household.status_code == 404
    assert (
        _client(people["township"]).get(f"/registry/residents/{head.pk}/unmask/").status_code == 405
    )


def test_organisation_phone_unmask(world, people, data):
    org = data["organisation"]
    township = _client(people["township"])
    page = _page(township.get(f"/registry/organisations/{org.pk}/"))
    assert "138****1111" in page and 'value="id_number"' not in page
    response = township.post(
        f"/registry/organisations/{org.pk}/unmask/", {"fields": "phone", "reason": "联系企业"}
    )
    assert "13800001111" in _page(response)


# --- forms: create ---------------------------------------------------------------------------
def test_register_a_building_house_household_and_resident_through_the_forms(world, people):
    worker = _client(people["worker"])
    grid = world.div["A1a1"]
    response = worker.post(
        "/registry/buildings/new/",
        {"grid": grid.code, "road": "渤海七路", "number": "8", "use": "residential", "floors": "5"},
    )
    assert response.status_code == 302, _page(response)[:3000]
    building = Building.objects.get(road="渤海七路")
    assert response["Location"] == f"/registry/buildings/{building.pk}/"
    # Filed under the building: the form starts with it chosen.
    form = worker.get(f"/registry/houses/new/?building={building.pk}").context["form"]
    assert str(form.initial["building"]) == str(building.pk)
    response = worker.post(
        "/registry/houses/new/",
        {
            "grid": grid.code,
            "building": building.pk,
            "unit_no": "1",
            "room": "101",
            "use": "rented",
            "area_m2": "89.5",
        },
    )
    assert response.status_code == 302, _page(response)[:3000]
    house = House.objects.get(building=building)
    response = worker.post(
        "/registry/households/new/",
        {"grid": grid.code, "building": building.pk, "house": house.pk},
    )
    assert response.status_code == 302
    household = Household.objects.get(house=house)
    number = valid_id("19851111", seq="567")
    response = worker.post(
        "/registry/residents/new/",
        {
            "name": "陈静",
            "document_type": "resident_id",
            "id_number": number,
            "phone": "15012345678",
            "residence_type": "floating",
            "grid": grid.code,
            "building": building.pk,
            "house": house.pk,
            "household": household.pk,
            "relation": "head",
        },
    )
    assert response.status_code == 302, _page(response)[:3000]
    person = Resident.objects.get(name="陈静")
    assert person.household == household and person.house == house
    assert person.birth_date == dt.date(1985, 11, 11) and person.sex == "M"
    household.refresh_from_db()
    assert household.head_name == "陈静"


def test_bad_input_shows_every_error_on_its_field_and_keeps_no_number(world, people, data):
    worker = _client(people["worker"])
    bad_id = HEAD_ID[:-1] + ("0" if HEAD_ID[-1] != "0" else "1")
    response = worker.post(
        "/registry/residents/new/",
        {
            "name": "",
            "document_type": "resident_id",
            "id_number": bad_id,
            "phone": "12",
            "grid": "371603001201001",
            "residence_type": "nowhere",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"name", "id_number", "phone", "residence_type"} <= set(errors), errors
    page = _page(response)
    assert bad_id not in page  # a typed number is not sent back
    assert Resident.objects.count() == 3
    # A grid outside the worker's area is an error on the grid field.
    response = worker.post(
        "/registry/residents/new/",
        {
            "name": "周一",
            "id_number": valid_id("19990909", seq="777"),
            "grid": world.div["B1a1"].code,
        },
    )
    assert response.status_code == 200 and "grid" in response.context["form"].errors
    # The same person twice: told to move them instead.
    response = worker.post(
        "/registry/residents/new/",
        {"name": "张晓明", "id_number": HEAD_ID, "grid": world.div["A1a1"].code},
    )
    assert "id_number" in response.context["form"].errors
    assert HEAD_ID not in _page(response)
    # Buildings, organisations and places name their fields too.
    response = worker.post("/registry/buildings/new/", {"grid": "", "road": "", "floors": "x"})
    assert {"grid", "road", "number", "floors"} <= set(response.context["form"].errors)
    response = worker.post(
        "/registry/organisations/new/",
        {"name": "某公司", "uscc": uscc()[:-1] + "0", "grid": world.div["A1a1"].code},
    )
    assert "uscc" in response.context["form"].errors
    response = worker.post(
        "/registry/places/new/",
        {"name": "某仓库", "kind": "", "grid": world.div["A1a1"].code, "lat": "95"},
    )
    assert {"kind", "lat"} <= set(response.context["form"].errors)
    response = worker.post(f"/registry/houses/new/?building={data['building'].pk}", {"room": ""})
    assert {"building", "room"} <= set(response.context["form"].errors)


def test_register_organisation_and_place(world, people, data):
    worker = _client(people["worker"])
    grid = world.div["A1a1"].code
    code = uscc("91371602MA3C5678")
    response = worker.post(
        "/registry/organisations/new/",
        {
            "name": "渤海超市",
            "uscc": code,
            "kind": "sole",
            "grid": grid,
            "building": data["building"].pk,
            "phone": "0543-3211234",
        },
    )
    assert response.status_code == 302, _page(response)[:3000]
    org = Organisation.objects.get(uscc=code)
    assert org.building == data["building"]
    form = worker.get(f"/registry/places/new/?organisation={org.pk}").context["form"]
    assert form.initial["organisation"] == org.pk
    response = worker.post(
        "/registry/places/new/",
        {
            "name": "渤海超市门店",
            "kind": "shop",
            "hazard_level": "low",
            "grid": grid,
            "organisation": org.pk,
            "inspect_every_days": "30",
        },
    )
    assert response.status_code == 302, _page(response)[:3000]
    place = Place.objects.get(name="渤海超市门店")
    assert place.organisation == org and place.inspect_every_days == 30
    assert "cg-hazard-low" in _page(worker.get(f"/registry/places/{place.pk}/"))


# --- forms: edit, conflicts, end, move, tag, visit -----------------------------------------
def test_edit_a_phone_with_the_version_seen(world, people, data):
    head = data["head"]
    worker = _client(people["worker"])
    response = worker.get(f"/registry/residents/{head.pk}/edit/")
    form = response.context["form"]
    assert form.initial["version"] == head.version and "id_number" not in form.initial
    # The browser's date box needs an ISO date, whatever the language of the page.
    assert 'type="date" name="birth_date" value="1948-02-12"' in _page(response)
    response = worker.post(
        f"/registry/residents/{head.pk}/edit/",
        {
            "version": head.version,
            "name": "张晓明",
            "document_type": "resident_id",
            "id_number": "",
            "phone": "13600009999",
            "residence_type": "registered",
            "sex": "M",
            "birth_date": "1948-02-12",
            "relation": "head",
            "ethnicity": "汉族",
        },
    )
    assert response.status_code == 302, _page(response)[:3000]
    head.refresh_from_db()
    assert head.phone_masked == "136****9999" and head.ethnicity == "汉族"
    assert head.id_masked == HEAD_ID[:4] + "*" * 10 + HEAD_ID[-4:]  # unchanged
    assert head.version == 2 and head.birth_date == dt.date(1948, 2, 12)


def test_a_stale_version_is_a_clear_conflict(world, people, data):
    head = data["head"]
    worker = _client(people["worker"])
    actions.do_update_record(head, actor=people["community"], version=1, data={"note": "先改"})
    response = worker.post(
        f"/registry/residents/{head.pk}/edit/",
        {"version": 1, "name": "张小明", "residence_type": "registered"},
    )
    assert response.status_code == 409
    assert 'id="cg-form-errors"' in _page(response)
    head.refresh_from_db()
    assert head.name == "张晓明" and head.note == "先改"
    tampered = worker.post(
        f"/registry/residents/{head.pk}/edit/", {"version": "x", "name": "张小明"}
    )
    assert tampered.status_code == 409
    # Ending with a stale version is refused the same way.
    response = worker.post(f"/registry/residents/{head.pk}/end/", {"version": 1, "reason": "迁出"})
    assert response.status_code == 409
    head.refresh_from_db()
    assert head.is_active


def test_edit_every_record_type(world, people, data):
    worker = _client(people["worker"])
    grid = world.div["A1a1"].code
    cases = [
        (
            "buildings",
            data["building"],
            {"grid": grid, "road": "黄河五路", "number": "100", "use": "mixed", "floors": "7"},
            "floors",
            7,
        ),
        ("houses", data["house"], {"room": "302", "use": "vacant"}, "room", "302"),
        (
            "households",
            data["household"],
            {"grid": grid, "house": data["house"].pk, "number": "370009"},
            "number",
            "370009",
        ),
        (
            "organisations",
            data["organisation"],
            {"name": "渤海化工集团", "grid": grid, "kind": "company"},
            "name",
            "渤海化工集团",
        ),
        (
            "places",
            data["place"],
            {"name": "危化品仓库", "kind": "chemicals", "grid": grid, "hazard_level": "high"},
            "hazard_level",
            "high",
        ),
        (
            "care",
            data["tag"],
            {"risk_level": "medium", "visit_every_days": "10"},
            "visit_every_days",
            10,
        ),
    ]
    for slug, obj, values, field, expected in cases:
        response = worker.post(
            f"/registry/{slug}/{obj.pk}/edit/", {"version": obj.version, **values}
        )
        assert response.status_code == 302, (slug, _page(response)[:3000])
        obj.refresh_from_db()
        assert getattr(obj, field) == expected, slug
    # A bad value is an error on its field; nothing is written.
    building = data["building"]
    response = worker.post(
        f"/registry/buildings/{building.pk}/edit/",
        {
            "version": building.version,
            "grid": grid,
            "road": "黄河五路",
            "number": "100",
            "floors": "9999",
        },
    )
    assert response.status_code == 200 and "floors" in response.context["form"].errors
    building.refresh_from_db()
    assert building.floors == 7


def test_end_a_record_with_a_reason(world, people, data):
    spouse = data["spouse"]
    worker = _client(people["worker"])
    response = worker.post(f"/registry/residents/{spouse.pk}/end/", {"version": 1, "reason": ""})
    assert response.status_code == 200 and "reason" in response.context["form"].errors
    response = worker.post(
        f"/registry/residents/{spouse.pk}/end/", {"version": 1, "reason": "迁往外地"}
    )
    assert response.status_code == 302
    spouse.refresh_from_db()
    assert not spouse.is_active
    page = _page(worker.get(f"/registry/residents/{spouse.pk}/"))
    assert 'id="cg-ended"' in page and 'data-action="edit"' not in page
    # An ended record cannot be edited: back to its page with a message.
    assert worker.get(f"/registry/residents/{spouse.pk}/edit/").status_code == 302
    # Ending a care tag.
    tag = data["tag"]
    response = worker.post(
        f"/registry/care/{tag.pk}/end/", {"version": tag.version, "reason": "已入住养老院"}
    )
    assert response.status_code == 302
    tag.refresh_from_db()
    assert not tag.is_active and tag.ended_on == timezone.localdate()


def test_move_a_resident_to_another_house_and_grid(world, people, data):
    community = people["community"]
    head = data["head"]
    other = actions.do_create_record(
        "building",
        actor=community,
        data={"grid": world.div["A1a2"].code, "road": "渤海八路", "number": "9"},
    )
    house = actions.do_create_record(
        "house", actor=community, data={"building": other, "room": "501"}
    )
    client = _client(community)
    form = client.get(f"/registry/residents/{head.pk}/move/").context["form"]
    assert form.initial["household"] == data["household"].pk
    response = client.post(
        f"/registry/residents/{head.pk}/move/",
        {
            "version": head.version,
            "grid": world.div["A1a2"].code,
            "building": other.pk,
            "house": house.pk,
            "household": "",
            "relation": "",
        },
    )
    assert response.status_code == 302, _page(response)[:3000]
    head.refresh_from_db()
    assert head.house == house and head.household is None
    assert head.division == world.div["A1a2"]
    assert CareTag.objects.get(pk=data["tag"].pk).division == world.div["A1a2"]  # follows
    page = _page(client.get(f"/registry/residents/{head.pk}/"))
    assert 'data-action="move"' in page
    # The worker of A1a1 no longer sees him; a move into another county is refused.
    assert _client(people["worker"]).get(f"/registry/residents/{head.pk}/").status_code == 404
    response = client.post(
        f"/registry/residents/{head.pk}/move/",
        {"version": head.version, "grid": world.div["B1a1"].code},
    )
    assert response.status_code == 200 and "grid" in response.context["form"].errors


def test_add_a_care_tag_and_record_visits(world, people, data):
    spouse = data["spouse"]
    worker = _client(people["worker"])
    response = worker.post(f"/registry/residents/{spouse.pk}/tag/", {"group": ""})
    assert response.status_code == 200 and "group" in response.context["form"].errors
    response = worker.post(
        f"/registry/residents/{spouse.pk}/tag/",
        {"group": "disabled", "risk_level": "medium", "since": "2024-05-01"},
    )
    assert response.status_code == 302
    tag = CareTag.objects.get(resident=spouse)
    assert tag.visit_every_days == 30 and tag.next_visit_due == timezone.localdate()
    response = worker.post(f"/registry/residents/{spouse.pk}/tag/", {"group": "disabled"})
    assert "group" in response.context["form"].errors  # already in the group
    # A visit from the resident page: back to it, the next visit falls due.
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    response = worker.post(
        f"/registry/care/{tag.pk}/visit/", {"on": yesterday.isoformat(), "note": "身体良好"}
    )
    assert response.status_code == 302 and response["Location"].endswith("#care")
    tag.refresh_from_db()
    assert tag.last_visit_on == yesterday and tag.next_visit_due == yesterday + dt.timedelta(30)
    # A visit in the future or on no date is refused with a message; nothing changes.
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    for bad in (tomorrow.isoformat(), "2026-02-30", "soon"):
        response = worker.post(f"/registry/care/{tag.pk}/visit/", {"on": bad}, follow=True)
        assert response.status_code == 200
        assert any(m.level_tag == "error" for m in response.context["messages"]), bad
    tag.refresh_from_db()
    assert tag.last_visit_on == yesterday


def test_care_list_by_group_risk_and_due_date(world, people, data):
    worker = people["worker"]
    spouse = data["spouse"]
    later = actions.do_tag_resident(spouse, actor=worker, data={"group": "disabled"})
    CareTag.objects.filter(pk=later.pk).update(
        next_visit_due=timezone.localdate() + dt.timedelta(days=20)
    )
    client = _client(people["community"])
    response = client.get("/registry/care/")
    assert [t.pk for t in response.context["page_obj"]] == [data["tag"].pk, later.pk]
    summary = {row["group"]: row for row in response.context["summary"]}
    assert summary["elderly_alone"]["high"] == 1 and summary["elderly_alone"]["overdue"] == 1
    assert summary["disabled"]["low"] == 1 and summary["disabled"]["overdue"] == 0
    descending = client.get("/registry/care/?sort=-due")
    assert [t.pk for t in descending.context["page_obj"]] == [later.pk, data["tag"].pk]
    overdue = client.get("/registry/care/?due=overdue")
    assert [t.pk for t in overdue.context["page_obj"]] == [data["tag"].pk]
    assert "cg-overdue" in _page(overdue)
    # Coming up within a month: from today on; the overdue one is not "coming up".
    assert [t.pk for t in client.get("/registry/care/?due=month").context["page_obj"]] == [later.pk]
    assert not client.get("/registry/care/?due=week").context["page_obj"]
    home = client.get("/registry/")
    assert home.context["due"] == {"overdue": 1, "week": 0}
    assert not client.get("/registry/care/?group=veteran").context["page_obj"]
    assert [t.pk for t in client.get("/registry/care/?risk=high").context["page_obj"]] == [
        data["tag"].pk
    ]
    for bad in ("group=x", "risk=x", "due=x", "under=1"):
        response = client.get(f"/registry/care/?{bad}")
        assert response.status_code == 200 and "is-invalid" in _page(response), bad
    # Out of the area: the other county's care tags never show.
    assert not _client(people["far"]).get("/registry/care/").context["page_obj"]


def test_record_visit_from_the_care_list_swaps_the_row(world, people, data):
    tag = data["tag"]
    client = _client(people["worker"])
    response = client.post(f"/registry/care/{tag.pk}/visit/", {"row": "1"}, HTTP_HX_REQUEST="true")
    page = _page(response)
    assert response.status_code == 200 and page.lstrip().startswith("<tr")
    assert "cg-visited" in page and "cg-overdue" not in page
    tag.refresh_from_db()
    assert tag.last_visit_on == timezone.localdate()
    # Without htmx: back to the list it came from.
    response = client.post(f"/registry/care/{tag.pk}/visit/", {"next": "/registry/care/?due=week"})
    assert response["Location"] == "/registry/care/?due=week"
    response = client.post(f"/registry/care/{tag.pk}/visit/", {"next": "https://evil.example/"})
    assert response["Location"].startswith("/registry/residents/")


def test_placement_cascade_options(world, people, data):
    worker = _client(people["worker"])
    grid = world.div["A1a1"]
    page = _page(worker.get(f"/registry/options/?what=buildings&grid={grid.code}&clear=house"))
    assert f'value="{data["building"].pk}"' in page and 'id="id_house"' in page
    page = _page(worker.get(f"/registry/options/?what=houses&building={data['building'].pk}"))
    assert f'value="{data["house"].pk}"' in page
    page = _page(worker.get(f"/registry/options/?what=households&house={data['house'].pk}"))
    assert f'value="{data["household"].pk}"' in page
    page = _page(worker.get(f"/registry/options/?what=organisations&grid={grid.pk}"))
    assert f'value="{data["organisation"].pk}"' in page
    # Nothing from outside the user's area, nothing from nonsense.
    sibling = _client(people["sibling"])
    page = _page(sibling.get(f"/registry/options/?what=houses&building={data['building'].pk}"))
    assert f'value="{data["house"].pk}"' not in page
    assert worker.get("/registry/options/?what=users").status_code == 404
    assert worker.get("/registry/options/?what=houses&building=abc").status_code == 200
    assert _client(people["admin"]).get("/registry/options/?what=buildings").status_code == 403


def test_new_record_forms_start_where_the_user_came_from(world, people, data):
    worker = _client(people["worker"])
    form = worker.get(f"/registry/residents/new/?household={data['household'].pk}").context["form"]
    assert form.initial["house"] == data["house"].pk
    assert form.initial["grid"] == world.div["A1a1"].code
    page = _page(worker.get(f"/registry/residents/new/?household={data['household'].pk}"))
    assert f'<option value="{data["household"].pk}" selected>' in page
    # Something out of sight is ignored, not revealed.
    far = data["far"]
    form = worker.get(f"/registry/residents/new/?household={far.household_id}").context["form"]
    assert "household" not in form.initial
    assert worker.get("/registry/care/new/").status_code == 404
    # A community's code sets where the page sits, not a grid to file in.
    community = _client(people["community"])
    form = community.get(f"/registry/buildings/new/?grid={world.div['A1a'].code}").context["form"]
    assert "grid" not in form.initial
    form = community.get(f"/registry/buildings/new/?grid={world.div['A1a2'].code}").context["form"]
    assert form.initial["grid"] == world.div["A1a2"].code
