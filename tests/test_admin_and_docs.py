"""Django admin is scoped like the pages and read-only for scoped data; the API docs page
loads its assets from this server, never a CDN."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from civicgrid.accounts.roles import Role
from civicgrid.geo.models import Division

from .world import build_world

pytestmark = pytest.mark.django_db


def test_admin_shows_only_the_subtree_and_writes_nothing():
    world = build_world()
    admin = world.user(Role.SYSTEM_ADMIN, "A1", name="admin-a1")
    client = Client()
    client.force_login(admin)
    listing = client.get("/admin/geo/division/?all=")
    assert listing.status_code == 200
    page = listing.content.decode()
    for key in ("A1", "A1a", "A1a1"):
        assert f"/admin/geo/division/{world.div[key].pk}/change/" in page
    for key in ("A", "A2", "B1", "B1a1"):
        assert f"/admin/geo/division/{world.div[key].pk}/change/" not in page
    outside = client.get(f"/admin/geo/division/{world.div['B1'].pk}/change/")
    assert outside.status_code in (302, 404)  # admin redirects "does not exist" to the index
    inside = client.get(f"/admin/geo/division/{world.div['A1a'].pk}/change/")
    assert inside.status_code == 200
    # Read-only: a POST does not change the division (writes go through the actions).
    client.post(f"/admin/geo/division/{world.div['A1a'].pk}/change/", {"name": "x"})
    assert Division.objects.get(pk=world.div["A1a"].pk).name == world.div["A1a"].name


def test_business_roles_have_no_admin_site():
    world = build_world()
    worker = world.user(Role.GRID_WORKER, "A1a1", name="worker")
    client = Client()
    client.force_login(worker)
    assert client.get("/admin/").status_code == 302  # to the admin login: not for them


def test_audit_admin_reads_audit_rows_of_the_subtree_only():
    world = build_world()
    auditor = world.user(Role.AUDIT_ADMIN, "A", name="auditor")
    client = Client()
    client.force_login(auditor)
    page = client.get("/admin/core/objectchange/?all=").content.decode()
    assert "渤海社区" in page  # under 滨城区
    assert "李家村" not in page  # under 沾化区


def test_api_docs_use_no_cdn():
    world = build_world()
    client = Client()
    client.force_login(world.user(Role.CENTRE_STAFF, "A", name="staff"))
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.content.decode())
    assert sources, "the docs page loads scripts and styles"
    assert all(not s.startswith(("http://", "https://", "//")) for s in sources), sources
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/divisions/",
        "/api/v1/grids/",
        "/api/v1/grids/geojson/",
        "/api/v1/units/",
        "/api/v1/users/",
        "/api/v1/role-assignments/",
        "/api/v1/locate/",
        "/api/v1/audit/changes/",
        "/api/v1/imports/",
    ):
        assert path in paths, path
