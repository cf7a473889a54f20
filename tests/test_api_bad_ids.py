"""Ids in API URLs and filters that are not ids: 404 for a detail URL, 400 naming the filter —
never an error inside the database driver."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from civicgrid.accounts.roles import Role

from .conftest import login


@pytest.mark.parametrize("path", ["cases/abc/", "divisions/abc/", "units/1x/", "notifications/x/"])
def test_a_detail_url_with_no_number_is_not_found(world, path) -> None:
    api = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1a", name="c"))
    assert api.get(f"/api/v1/{path}").status_code == 404


@pytest.mark.parametrize(
    "query",
    ["cases/?owner_unit=99999999999999999999999", "cases/?owner_unit=1.5", "divisions/?parent=-1"],
)
def test_an_id_filter_out_of_range_is_a_400_naming_the_field(world, query) -> None:
    api = login(APIClient(), world.user(Role.CENTRE_STAFF, "A1a", name="c"))
    response = api.get(f"/api/v1/{query}")
    assert response.status_code == 400
    assert query.split("?")[1].split("=")[0] in response.json()["errors"]
