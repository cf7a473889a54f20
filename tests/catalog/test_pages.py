"""The catalog pages: every staff role reads them; only catalog editors change the calendar,
only system administrators change the routing of their own area; out-of-area is 404."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from civicgrid.accounts.roles import Role
from civicgrid.catalog.models import CaseCategory, Route, WorkingCalendar
from civicgrid.catalog.selectors import DEFAULT_CALENDAR
from civicgrid.core.models import ObjectChange

from ..world import ROLE_HOME

pytestmark = pytest.mark.django_db

PAGES = ["/catalog/", "/catalog/calendar/", "/catalog/routes/"]


def client_for(user) -> Client:
    """A logged-in browser that chose English (the tests read the English source strings)."""
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


@pytest.fixture
def editor(world):
    """A city-level system administrator: edits the calendar, routes everywhere."""
    return world.user(Role.SYSTEM_ADMIN, "C", name="city-admin")


@pytest.fixture
def county_admin(world):
    return world.user(Role.SYSTEM_ADMIN, "A", name="county-admin")


@pytest.mark.parametrize("role", sorted(ROLE_HOME))
def test_every_role_reads_the_catalog_pages(world, role):
    unit = "urban-A" if role == Role.DEPARTMENT_HANDLER else None
    client = client_for(world.user(role, ROLE_HOME[role], unit=unit))
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, (role, url)
    page = client.get("/catalog/").content.decode()
    assert "Exposed rubbish" in page
    assert "1 working day" in page


def test_anonymous_visitors_are_sent_to_log_in(db):
    for url in PAGES:
        response = Client().get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_category_page_shows_limits_criteria_and_extra_fields(world):
    client = client_for(world.user(Role.GRID_WORKER, "A1a1"))
    page = client.get("/catalog/").content.decode()
    assert "accept 1 working hour · handle 1 working day · check 4 working hours" in page
    # staged limits keep their order
    assert "警戒围挡 3 urgent hours → 抢修 8 urgent hours → 恢复路面 5 working days" in page
    assert "workers involved" in page  # an extra field of wage disputes, in English
    assert "现场恢复整洁" in page  # a closing criterion
    assert "Edit categories" not in page  # the admin link is the superuser's


@pytest.mark.parametrize("role", sorted(set(ROLE_HOME) - {Role.SYSTEM_ADMIN}))
def test_calendar_edits_are_refused_to_non_editors(world, role):
    # At the city level where the role may be held there (the catalog editors' level).
    home = {Role.GRID_WORKER: "A1a1", Role.GRID_LEADER: "A1a"}.get(role, "C")
    unit = "urban-C" if role == Role.DEPARTMENT_HANDLER else None
    client = client_for(world.user(role, home, unit=unit))
    before = ObjectChange.objects.count()
    assert "cg-week-edit" not in client.get("/catalog/calendar/").content.decode()
    week = {f"day_{d}": "09:00-17:00" for d in range(7)}
    assert client.post("/catalog/calendar/week/", week).status_code == 403
    assert (
        client.post("/catalog/calendar/import/", {"text": "2026-12-31,holiday,x"}).status_code
        == 403
    )
    assert ObjectChange.objects.count() == before


def test_a_county_system_admin_routes_but_does_not_edit_the_calendar(world, county_admin):
    client = client_for(county_admin)
    assert client.post("/catalog/calendar/week/", {"day_0": "09:00-17:00"}).status_code == 403
    assert client.get("/catalog/routes/add/").status_code == 200


def test_the_working_week_form(world, editor):
    client = client_for(editor)
    assert "cg-week-edit" in client.get("/catalog/calendar/").content.decode()
    week = {f"day_{d}": "08:00-12:00，14:00-18:00" if d < 5 else "" for d in range(7)}
    week["day_5"] = "09:00-11:30"
    response = client.post("/catalog/calendar/week/", week)
    assert response.status_code == 302
    weekly = WorkingCalendar.objects.get(name=DEFAULT_CALENDAR).weekly
    assert weekly["0"] == ["08:00-12:00", "14:00-18:00"]
    assert weekly["5"] == ["09:00-11:30"] and weekly["6"] == []
    assert ObjectChange.objects.filter(action="set_week").count() == 1


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("08:30-25:00", "is not a working period"),
        ("12:00-08:30", "is not a working period"),
        ("08:00-12:00, 11:00-13:00", "overlap"),
    ],
)
def test_a_bad_working_week_names_the_day_and_changes_nothing(world, editor, value, message):
    client = client_for(editor)
    before = WorkingCalendar.objects.get(name=DEFAULT_CALENDAR).weekly
    week = {f"day_{d}": "08:30-12:00" for d in range(7)}
    week["day_2"] = value
    response = client.post("/catalog/calendar/week/", week)
    assert response.status_code == 200
    form = response.context["week_form"]
    assert list(form.errors) == ["day_2"]
    assert message in form.errors["day_2"][0]
    assert WorkingCalendar.objects.get(name=DEFAULT_CALENDAR).weekly == before


def test_a_week_without_working_time_is_refused(world, editor):
    response = client_for(editor).post(
        "/catalog/calendar/week/", {f"day_{d}": "" for d in range(7)}
    )
    assert response.status_code == 200
    assert "A week needs some working time." in response.context["week_form"].non_field_errors()


def test_deadline_calculator_uses_the_swapped_working_day(world):
    client = client_for(world.user(Role.GRID_WORKER, "A1a1"))
    # Friday 13 February 2026, 16:00 + 1 working day: Saturday the 14th is a swapped working
    # day (春节调休), so the limit ends there at 16:00.
    response = client.get(
        "/catalog/calendar/",
        {"start": "2026-02-13T16:00", "amount": "1", "unit": "working_days", "year": "2026"},
    )
    due = response.context["deadline"]["due"]
    assert (due.year, due.month, due.day, due.hour, due.minute) == (2026, 2, 14, 16, 0)
    assert "2026-02-14 16:00" in response.content.decode()
    # Urgent hours run through the night.
    response = client.get(
        "/catalog/calendar/", {"start": "2026-02-13T16:00", "amount": "10", "unit": "urgent_hours"}
    )
    assert response.context["deadline"]["due"].day == 14
    assert response.context["deadline"]["due"].hour == 2
    bad = client.get("/catalog/calendar/", {"start": "x", "amount": "-1", "unit": "weeks"})
    form = bad.context["deadline_form"]
    assert set(form.errors) == {"start", "amount", "unit"}
    assert bad.context["deadline"] is None


def test_calendar_page_draws_the_year(world):
    client = client_for(world.user(Role.LEADER, "A"))
    response = client.get("/catalog/calendar/", {"year": "2026"})
    page = response.content.decode()
    assert response.context["holidays"] > 20 and response.context["swapped"] >= 5
    assert 'title="国庆节"' in page and "cg-day-swapped" in page
    empty = client.get("/catalog/calendar/", {"year": "2031"})
    assert empty.context["days"] == [] and "No holidays are entered for 2031" in (
        empty.content.decode()
    )


# --- routing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "role",
    [
        Role.GRID_WORKER,
        Role.GRID_LEADER,
        Role.CENTRE_STAFF,
        Role.DEPARTMENT_HANDLER,
        Role.LEADER,
        Role.SECURITY_ADMIN,
        Role.AUDIT_ADMIN,
    ],
)
def test_route_changes_are_refused_to_everyone_but_system_admins(world, role):
    route = _route(world, "environment", "A", "urban-A")
    unit = "urban-A" if role == Role.DEPARTMENT_HANDLER else None
    client = client_for(world.user(role, ROLE_HOME[role], unit=unit))
    assert client.get("/catalog/routes/add/").status_code == 403
    post = {"category": route.category_id, "division": "371602", "unit": route.unit_id}
    assert client.post("/catalog/routes/add/", post).status_code == 403
    response = client.post(f"/catalog/routes/{route.pk}/delete/")
    assert response.status_code in {403, 404}  # 404 where the route is outside their area
    assert Route.objects.filter(pk=route.pk).exists()


def _route(world, category_code, division_key, unit_key):
    from civicgrid.catalog.actions import do_set_route

    return do_set_route(
        actor=None,
        category=CaseCategory.objects.get(code=category_code),
        division=world.div[division_key],
        unit=world.units[unit_key],
    )


def test_routes_out_of_the_area_are_404(world, county_admin):
    route_b = _route(world, "environment", "B", "urban-B")
    client = client_for(county_admin)
    listing = client.get("/catalog/routes/")
    assert route_b not in list(listing.context["page_obj"])
    assert client.get("/catalog/routes/", {"under": "371603"}).status_code == 404
    assert client.get("/catalog/routes/", {"test": "371603001201"}).status_code == 404
    assert client.post(f"/catalog/routes/{route_b.pk}/delete/").status_code == 404
    assert Route.objects.filter(pk=route_b.pk).exists()


def test_route_form_adds_replaces_and_deletes(world, county_admin):
    client = client_for(county_admin)
    rubbish = CaseCategory.objects.get(code="environment.rubbish")
    # The unit list holds the units that serve the division (at it or above it).
    page = client.get("/catalog/routes/add/", {"division": "371602001", "category": rubbish.code})
    units = list(page.context["form"].fields["unit"].queryset)
    assert world.units["urban-A"] in units and world.units["centre-A1"] in units
    assert world.units["urban-B"] not in units and world.units["centre-A2"] not in units
    # htmx asks for the unit select alone when the division changes
    partial = client.get(
        "/catalog/routes/add/", {"division": "371602001"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert partial.lstrip().startswith('<div id="cg-route-unit">')
    assert world.units["urban-A"].name in partial

    post = {"category": rubbish.pk, "division": "371602001", "unit": world.units["urban-A"].pk}
    response = client.post("/catalog/routes/add/", post)
    assert response.status_code == 302
    route = Route.objects.get(category=rubbish, division=world.div["A1"])
    assert route.unit == world.units["urban-A"]
    post["unit"] = world.units["centre-A1"].pk
    post["note"] = "街道自办"
    assert client.post("/catalog/routes/add/", post).status_code == 302
    route.refresh_from_db()
    assert route.unit == world.units["centre-A1"] and Route.objects.count() == 1

    listing = client.get("/catalog/routes/", {"under": "371602"})
    assert route in list(listing.context["page_obj"]) and route.pk in listing.context["deletable"]
    tested = client.get("/catalog/routes/", {"test": "371602001001001"})
    row = next(t for t in tested.context["tests"] if t["category"] == rubbish)
    assert row["route"] == route and row["inherited"]
    other = next(t for t in tested.context["tests"] if t["category"].code == "dispute.family")
    assert other["route"] is None and other["fallback"] == world.units["centre-A1a"]

    assert client.post(f"/catalog/routes/{route.pk}/delete/").status_code == 302
    assert not Route.objects.exists()
    kinds = list(
        ObjectChange.objects.filter(content_type__model="route")
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["create", "update", "delete"]


@pytest.mark.parametrize(
    ("division", "unit", "field", "message"),
    [
        ("371603001", "urban-B", "division", "No active division with this code in your area."),
        ("371602001001001", "urban-A", "division", "Route at a community or above."),
        ("abc", "urban-A", "division", "A division code has digits only."),
        ("371602001", "urban-B", "unit", "Select a valid choice."),
        ("371602001", "centre-A2", "unit", "Select a valid choice."),
    ],
)
def test_route_form_errors_name_the_field(world, county_admin, division, unit, field, message):
    client = client_for(county_admin)
    rubbish = CaseCategory.objects.get(code="environment.rubbish")
    response = client.post(
        "/catalog/routes/add/",
        {"category": rubbish.pk, "division": division, "unit": world.units[unit].pk},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in errors[field][0], errors
    assert not Route.objects.exists()


def test_route_list_filters(world, county_admin):
    _route(world, "environment", "A", "urban-A")
    _route(world, "facility", "A1", "urban-A")
    client = client_for(county_admin)
    assert len(client.get("/catalog/routes/").context["page_obj"]) == 2
    assert len(client.get("/catalog/routes/", {"under": "371602001"}).context["page_obj"]) == 1
    by_category = client.get("/catalog/routes/", {"category": "facility"})
    assert [r.category.code for r in by_category.context["page_obj"]] == ["facility"]
