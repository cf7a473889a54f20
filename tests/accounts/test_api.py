"""The accounts API beyond the permission matrix: what a user record and its filters show."""

from __future__ import annotations

from civicgrid.accounts import actions
from civicgrid.accounts.roles import Role

from ..conftest import login
from ..world import World


def test_user_record_and_role_filter_show_only_assignments_in_the_area(world: World, api) -> None:
    viewer = world.user(Role.CENTRE_STAFF, "A1")
    # homed in the viewer's township, but working as a grid worker in the other county
    commuter = world.user(Role.GRID_WORKER, "B1a1", name="commuter")
    actions.do_update_user(commuter, actor=None, division=world.div["A1a"])
    local = world.user(Role.GRID_WORKER, "A1a1", name="local")
    login(api, viewer)

    record = api.get(f"/api/v1/users/{commuter.pk}/")
    assert record.status_code == 200
    assert record.json()["assignments"] == []

    listed = api.get("/api/v1/users/?role=grid_worker&page_size=1000").json()["results"]
    assert {row["username"] for row in listed} == {local.username}
    assert api.get("/api/v1/users/?role=grid_worker&page_size=1000").json()["count"] == 1


def test_me_lists_own_assignments(world: World, api) -> None:
    user = world.user(Role.CENTRE_STAFF, "A1")
    login(api, user)
    body = api.get("/api/v1/me/").json()
    assert body["username"] == user.username
    assert [(a["role"], a["division"]["code"]) for a in body["assignments"]] == [
        ("centre_staff", "371602001")
    ]
