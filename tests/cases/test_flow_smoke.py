import pytest

from civicgrid.accounts.roles import Role
from civicgrid.cases.models import Case

from ..conftest import login
from ..world import inside


@pytest.fixture
def people(world):
    return {
        "worker": world.user(Role.GRID_WORKER, "A1a1", name="worker"),
        "community": world.user(Role.CENTRE_STAFF, "A1a", name="community"),
        "county": world.user(Role.CENTRE_STAFF, "A", name="county"),
        "handler": world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A", name="handler"),
    }


def test_report_to_close_through_the_api(world, people, api):
    lng, lat = inside("A1a1")
    login(api, people["worker"])
    r = api.post(
        "/api/v1/cases/",
        {
            "category": "environment.rubbish",
            "description": "垃圾堆放",
            "lat": lat,
            "lng": lng,
            "channel": "grid_app",
            "client_uuid": "6f1c7f0e-2b1a-4c43-9a7f-6b9f0f4b8e11",
        },
        format="json",
    )
    assert r.status_code == 201, r.content
    case = r.json()
    assert case["status"] == "reported" and case["division"]["code"] == "371602001001001"
    again = api.post(
        "/api/v1/cases/",
        {
            "category": "environment.rubbish",
            "description": "垃圾堆放",
            "lat": lat,
            "lng": lng,
            "channel": "grid_app",
            "client_uuid": "6f1c7f0e-2b1a-4c43-9a7f-6b9f0f4b8e11",
        },
        format="json",
    )
    assert again.status_code == 200 and again.json()["id"] == case["id"]
    clash = api.post(
        "/api/v1/cases/",
        {
            "category": "environment.rubbish",
            "description": "别的",
            "lat": lat,
            "lng": lng,
            "channel": "grid_app",
            "client_uuid": "6f1c7f0e-2b1a-4c43-9a7f-6b9f0f4b8e11",
        },
        format="json",
    )
    assert clash.status_code == 409

    login(api, people["community"])
    detail = api.get(f"/api/v1/cases/{case['id']}/").json()
    assert "register" in detail["actions"]
    r = api.post(
        f"/api/v1/cases/{case['id']}/register/", {"version": detail["version"]}, format="json"
    )
    assert r.status_code == 200, r.content
    stale = api.post(
        f"/api/v1/cases/{case['id']}/dispatch/", {"version": detail["version"]}, format="json"
    )
    assert stale.status_code == 409
    v = r.json()["version"]
    r = api.post(
        f"/api/v1/cases/{case['id']}/dispatch/",
        {"version": v, "unit": world.units["urban-A"].pk},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "dispatched" and r.json()["stage_due"]

    login(api, people["handler"])
    assert case["id"] in [
        c["id"] for c in api.get("/api/v1/cases/?queue=my_unit").json()["results"]
    ]
    v = api.get(f"/api/v1/cases/{case['id']}/").json()["version"]
    r = api.post(f"/api/v1/cases/{case['id']}/accept/", {"version": v}, format="json")
    assert r.status_code == 200, r.content
    r = api.post(
        f"/api/v1/cases/{case['id']}/feedback/",
        {"version": r.json()["version"], "note": "已清运"},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert r.json()["status"] == "handled"

    login(api, people["community"])
    v = api.get(f"/api/v1/cases/{case['id']}/").json()["version"]
    r = api.post(f"/api/v1/cases/{case['id']}/close/", {"version": v}, format="json")
    assert r.status_code == 200, r.content
    steps = api.get(f"/api/v1/cases/{case['id']}/timeline/").json()
    assert [s["action"] for s in steps] == [
        "report",
        "register",
        "dispatch",
        "accept",
        "feedback",
        "close",
    ]
    assert Case.objects.get(pk=case["id"]).status == "closed"
