from civicgrid.accounts.roles import Role

from ..conftest import login
from ..world import inside


def test_township_staff_sees_own_subtree_only(world, api):
    staff = world.user(Role.CENTRE_STAFF, "A1")
    login(api, staff)
    codes = {d["code"] for d in api.get("/api/v1/divisions/?page_size=100").json()["results"]}
    assert codes == {
        "371602001",
        "371602001001",
        "371602001002",
        "371602001001001",
        "371602001001002",
        "371602001002001",
    }
    assert api.get(f"/api/v1/divisions/{world.div['A'].pk}/").status_code == 404
    assert api.get(f"/api/v1/divisions/{world.div['A1a'].pk}/").status_code == 200


def test_locate(world, api):
    login(api, world.user(Role.CENTRE_STAFF, "C"))
    lng, lat = inside("A1b1")
    response = api.get(f"/api/v1/locate/?lat={lat}&lng={lng}")
    assert response.status_code == 200, response.content
    assert response.json()["grid"]["code"] == "371602001002001"
    assert [a["code"] for a in response.json()["ancestors"]] == [
        "370000",
        "371600",
        "371602",
        "371602001",
        "371602001002",
    ]
    assert api.get("/api/v1/locate/?lat=30&lng=110").status_code == 404
    bad = api.get("/api/v1/locate/?lat=abc&lng=110")
    assert bad.status_code == 400
    assert "lat" in bad.json()["errors"]
