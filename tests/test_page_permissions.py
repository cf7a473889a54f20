"""The permission matrix for pages: every role × page × relation of the target to the role's
home (own, child, parent, sibling, other county). Reads are 200 only in the role's subtree and
only for data the role may see; otherwise 404 (the object does not exist for them) — or 403
when the whole page belongs to another role. Refused writes change nothing.

The expectations are written out here by hand, from the issue's description of the roles, not
derived from the policy table they check."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.accounts import actions as accounts
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import DepartmentType, User
from civicgrid.core.models import ObjectChange

from .world import PASSWORD, build_world

HOME = {
    "grid_worker": "A1a1",
    "grid_leader": "A1a",
    "centre_staff": "A1",
    "department_handler": "A1",
    "leader": "A1",
    "system_admin": "A1",
    "security_admin": "A1",
    "audit_admin": "A1",
}
RELATIONS = {
    "A1": {"own": "A1", "child": "A1a", "parent": "A", "sibling": "A2", "other": "B1"},
    "A1a": {"own": "A1a", "child": "A1a1", "parent": "A1", "sibling": "A1b", "other": "B1a"},
    "A1a1": {"own": "A1a1", "child": None, "parent": "A1a", "sibling": "A1a2", "other": "B1a1"},
}
IN_SCOPE = {"own", "child"}
# Who may read user accounts, change divisions/units, read the audit trail — by hand.
READS_ACCOUNTS = {
    "grid_leader",
    "centre_staff",
    "leader",
    "system_admin",
    "security_admin",
    "audit_admin",
}
CHANGES_GEO_AND_UNITS = {"system_admin"}
READS_AUDIT = {"audit_admin"}

CASES = [
    (role, relation) for role in HOME for relation in ("own", "child", "parent", "sibling", "other")
]


@pytest.fixture
def setup(db):
    world = build_world()
    department = accounts.do_create_unit(
        actor=None,
        division=world.div["A1"],
        name="市中街道城管科",
        kind=UnitKind.DEPARTMENT,
        department_type=DepartmentType.objects.get(code="urban_management"),
    )
    world.units["dept-A1"] = department
    for key in ("A1", "A1a", "A1a1", "A", "A2", "A1b", "B1", "B1a", "A1a2", "B1a1"):
        accounts.do_create_user(
            actor=None, username=f"home-{key}", password=PASSWORD, division=world.div[key]
        )
    return world


def _client_for(world, role):
    unit = "dept-A1" if role == "department_handler" else None
    user = world.user(role, HOME[role], unit=unit, name=f"{role}-me")
    client = Client()
    client.force_login(user)
    return client


def _target(world, role, relation):
    key = RELATIONS[HOME[role]][relation]
    if key is None:
        pytest.skip("a grid has no child division")
    return key, world.div[key]


@pytest.mark.parametrize(("role", "relation"), CASES)
def test_division_pages(setup, role, relation):
    world = setup
    client = _client_for(world, role)
    _key, target = _target(world, role, relation)
    visible = relation in IN_SCOPE
    assert client.get(f"/divisions/{target.pk}/").status_code == (200 if visible else 404)
    assert client.get(f"/map/?under={target.code}").status_code == (200 if visible else 404)
    assert client.get(f"/sizing/?under={target.code}").status_code == (200 if visible else 404)
    if not visible:
        found = client.get("/divisions/?q=" + target.code).content.decode()
        assert f'href="/divisions/{target.pk}/"' not in found


@pytest.mark.parametrize(("role", "relation"), CASES)
def test_division_edit_page_and_refused_write(setup, role, relation):
    world = setup
    client = _client_for(world, role)
    _key, target = _target(world, role, relation)
    changes_before = ObjectChange.objects.count()
    response = client.post(f"/divisions/{target.pk}/edit/", {"name": "改名测试"})
    target.refresh_from_db()
    if relation in IN_SCOPE and role in CHANGES_GEO_AND_UNITS:
        assert response.status_code == 302
        assert target.name == "改名测试"
    else:
        assert response.status_code == (403 if relation in IN_SCOPE else 404)
        assert target.name != "改名测试"
        assert ObjectChange.objects.count() == changes_before


@pytest.mark.parametrize(("role", "relation"), CASES)
def test_user_pages(setup, role, relation):
    world = setup
    client = _client_for(world, role)
    key, _target_division = _target(world, role, relation)
    other = User.objects.get(username=f"home-{key}")
    response = client.get(f"/users/{other.pk}/")
    readable = role in READS_ACCOUNTS and relation in IN_SCOPE
    assert response.status_code == (200 if readable else 404)
    listing = client.get("/users/?q=home-")
    if role in READS_ACCOUNTS:
        assert (f'href="/users/{other.pk}/"' in listing.content.decode()) == readable
    else:
        assert listing.status_code == 403


@pytest.mark.parametrize(("role", "relation"), CASES)
def test_unit_edit_page(setup, role, relation):
    world = setup
    client = _client_for(world, role)
    key, _division = _target(world, role, relation)
    unit = world.units.get(f"centre-{key}")
    if unit is None:
        pytest.skip("no unit sits at a grid")
    response = client.post(
        f"/units/{unit.pk}/edit/", {"name": unit.name, "kind": "centre", "phone": "0543-1234567"}
    )
    unit.refresh_from_db()
    if relation in IN_SCOPE and role in CHANGES_GEO_AND_UNITS:
        assert response.status_code == 302 and unit.phone == "0543-1234567"
    else:
        assert response.status_code == (403 if relation in IN_SCOPE else 404)
        assert unit.phone != "0543-1234567"


@pytest.mark.parametrize(("role", "relation"), CASES)
def test_audit_pages(setup, role, relation):
    world = setup
    client = _client_for(world, role)
    _key, target = _target(world, role, relation)
    change = ObjectChange.objects.filter(division_path=target.path).first()
    assert change is not None
    response = client.get(f"/audit/changes/{change.pk}/")
    if role not in READS_AUDIT:
        assert response.status_code == 403  # the audit pages are the audit administrator's
    else:
        assert response.status_code == (200 if relation in IN_SCOPE else 404)


def test_anonymous_is_sent_to_login(setup):
    client = Client()
    for url in (
        "/",
        "/map/",
        "/divisions/",
        "/sizing/",
        "/users/",
        "/units/",
        "/imports/",
        "/audit/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
