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


def test_geojson_and_coverage_in_gcj02_for_chinese_basemaps(world, api):
    from civicgrid.geo.coords import gcj02_to_wgs84
    from civicgrid.geo.models import CoverageIssue

    login(api, world.user(Role.CENTRE_STAFF, "C"))
    plain = api.get("/api/v1/grids/geojson/?under=371602001001").json()
    shifted = api.get("/api/v1/grids/geojson/?under=371602001001&crs=gcj02").json()
    assert len(plain["features"]) == len(shifted["features"]) == 2
    x, y = plain["features"][0]["geometry"]["coordinates"][0][0]
    gx, gy = shifted["features"][0]["geometry"]["coordinates"][0][0]
    assert abs(gx - x) > 1e-4  # GCJ-02 moves points in China by hundreds of metres
    back = gcj02_to_wgs84(gx, gy)
    assert abs(back[0] - x) < 1e-6 and abs(back[1] - y) < 1e-6
    CoverageIssue.objects.create(
        parent=world.div["A1a"],
        division_path=world.div["A1a"].path,
        kind="gap",
        area_m2=50,
        geometry={
            "type": "Polygon",
            "coordinates": [[[x, y], [x + 0.001, y], [x, y + 0.001], [x, y]]],
        },
    )
    issue = api.get("/api/v1/coverage-issues/?under=371602001&crs=gcj02").json()["results"][0]
    assert abs(issue["geometry"]["coordinates"][0][0][0] - x) > 1e-4
    assert api.get("/api/v1/coverage-issues/?crs=bd09").status_code == 400


def test_openapi_schema_validates_without_warnings(tmp_path):
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert "/api/v1/locate/" in out.read_text()
