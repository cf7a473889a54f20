"""The catalog through the API: a minor class ("major.minor") and a policy by their codes."""

from __future__ import annotations

from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role

from ..conftest import login


def test_categories_and_policies_by_code(world) -> None:
    api = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1a", name="c"))
    minor = api.get("/api/v1/categories/environment.rubbish/")
    assert minor.status_code == 200 and minor.json()["code"] == "environment.rubbish"
    assert api.get("/api/v1/categories/environment/").json()["code"] == "environment"
    assert api.get("/api/v1/categories/no.such/").status_code == 404
    assert api.get("/api/v1/sla-policies/rubbish-1wd/").status_code == 200
