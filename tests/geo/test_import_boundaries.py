"""`civicgrid import-boundaries`, the action behind it and the point→grid index after it."""

from __future__ import annotations

import io
import json
import math
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from shapely.geometry import shape

from civicgrid.core import versioning
from civicgrid.core.models import ObjectChange
from civicgrid.geo import coords, geometry
from civicgrid.geo.actions import do_import_boundaries
from civicgrid.geo.locate import STAMP, get_index, locate
from civicgrid.geo.models import CoverageCheck, CoverageIssue, Division

from ..world import ORIGIN, SIZE, World
from .helpers import collection, feature, rectangle, run, square

X0, Y0 = ORIGIN


def community_square(world: World, key: str, index: int) -> dict[str, Any]:
    return feature(world.div[key].code, square(X0 + index * SIZE, Y0))


def boundaries() -> dict[str, Any]:
    return dict(Division.objects.values_list("code", "boundary"))


def write(tmp_path: Path, data: bytes, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_feature_collection_with_code_property(world: World, tmp_path: Path) -> None:
    a1a = world.div["A1a"]
    # the community covers the squares of its two grids: 0.02° × 0.01°
    data = collection(feature(a1a.code, rectangle(X0, Y0, X0 + 2 * SIZE, Y0 + SIZE)))
    result = run("import_boundaries", write(tmp_path, data, "communities.geojson"))
    assert result.ok, result.text
    assert "Created 1, updated 0, unchanged 0" in result.out
    a1a.refresh_from_db()
    assert a1a.boundary["type"] == "Polygon"
    assert (a1a.min_lng, a1a.min_lat, a1a.max_lng, a1a.max_lat) == pytest.approx(
        (X0, Y0, X0 + 2 * SIZE, Y0 + SIZE)
    )
    assert (a1a.centroid_lng, a1a.centroid_lat) == pytest.approx((X0 + SIZE, Y0 + SIZE / 2))
    expected = 2 * SIZE * SIZE * 111_319.49**2 * math.cos(math.radians(Y0 + SIZE / 2))
    assert a1a.area_m2 == pytest.approx(expected, rel=0.005)


def test_the_same_file_twice_changes_nothing(world: World, tmp_path: Path) -> None:
    path = write(tmp_path, collection(community_square(world, "A1b", 2)), "a.geojson")
    assert run("import_boundaries", path).ok
    stamp, changes, stored = versioning.current(STAMP), ObjectChange.objects.count(), boundaries()
    again = run("import_boundaries", path)
    assert again.ok, again.text
    assert "Created 0, updated 0, unchanged 1" in again.out
    assert (versioning.current(STAMP), ObjectChange.objects.count(), boundaries()) == (
        stamp,
        changes,
        stored,
    )


def test_one_geometry_per_file_named_by_its_code(world: World, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    folder.mkdir()
    # a bare geometry, and a Feature without a code property: the file name says whose it is
    (folder / f"{world.div['A1b'].code}.geojson").write_text(json.dumps(square(X0 + 2 * SIZE, Y0)))
    (folder / f"{world.div['A2a'].code}.json").write_text(
        json.dumps(feature(None, square(X0 + 3 * SIZE, Y0)))
    )
    (folder / "README.txt").write_text("not a boundary")
    result = run("import_boundaries", folder)
    assert result.ok, result.text
    assert "Created 2" in result.out
    stored = boundaries()
    assert stored[world.div["A1b"].code] is not None
    assert stored[world.div["A2a"].code] is not None


def test_zip_of_files_named_by_code(world: World, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            f"grids/{world.div['B1a'].code}.geojson", json.dumps(square(X0 + 4 * SIZE, Y0))
        )
        archive.writestr(
            f"grids/{world.div['B1'].code}.geojson", json.dumps(square(X0 + 4 * SIZE, Y0, 0.02))
        )
        archive.writestr("__MACOSX/._junk", b"\x00\x01")
    result = run("import_boundaries", write(tmp_path, buffer.getvalue(), "b.zip"))
    assert result.ok, result.text
    assert "Created 2" in result.out
    assert Division.objects.get(pk=world.div["B1"].pk).boundary is not None


def test_multipolygon(world: World, tmp_path: Path) -> None:
    parts = {
        "type": "MultiPolygon",
        "coordinates": [
            square(X0, Y0 + 0.05)["coordinates"],
            square(X0 + 0.03, Y0 + 0.05)["coordinates"],
        ],
    }
    result = run(
        "import_boundaries", write(tmp_path, collection(feature("371603", parts)), "m.json")
    )
    assert result.ok, result.text
    county = Division.objects.get(code="371603")
    assert county.boundary["type"] == "MultiPolygon"
    assert len(county.boundary["coordinates"]) == 2
    assert county.max_lng == pytest.approx(X0 + 0.04)


BOWTIE = {
    "type": "Polygon",
    "coordinates": [
        [[118.0, 37.0], [118.01, 37.01], [118.01, 37.0], [118.0, 37.01], [118.0, 37.0]]
    ],
}
UNCLOSED = {
    "type": "Polygon",
    "coordinates": [[[118.0, 37.0], [118.01, 37.0], [118.01, 37.01], [118.0, 37.01]]],
}


def bad_features(world: World) -> tuple[bytes, list[tuple[int, str, str]]]:
    features = [
        feature(
            world.div["A1a"].code,
            {
                "type": "Polygon",
                "coordinates": [[[37.0, 118.0], [37.0, 118.01], [37.01, 118.01], [37.0, 118.0]]],
            },
        ),  # lat/lng swapped
        feature(world.div["A1b"].code, square(200.0, 37.0)),
        feature(world.div["A2a"].code, UNCLOSED),
        feature(world.div["B1a"].code, BOWTIE),
        feature(world.div["A1"].code, {"type": "Point", "coordinates": [118.0, 37.0]}),
        feature("371602009001", square(X0, Y0)),
        feature(world.div["A1a"].code, square(X0, Y0)),
        feature(None, square(X0, Y0)),
        feature(world.div["C"].code, square(X0, Y0, 0.05)),  # the only good one
    ]
    expected = [
        (1, "geometry", "swapped"),
        (2, "geometry", "Longitude 200"),
        (3, "geometry", "end where it starts"),
        (4, "geometry", "Self-intersection"),
        (5, "geometry", "Point"),
        (6, "code", "No division has the code 371602009001"),
        (7, "code", "appears again (first in bad.geojson, feature 1)"),
        (8, "code", "no “code” property"),
    ]
    return collection(*features), expected


def test_bad_features_are_listed_by_number_and_nothing_is_written(
    world: World, tmp_path: Path
) -> None:
    data, expected = bad_features(world)
    before = (boundaries(), ObjectChange.objects.count(), versioning.current(STAMP))
    result = run("import_boundaries", write(tmp_path, data, "bad.geojson"))
    assert not result.ok
    assert "8 bad feature(s)" in result.error
    assert "nothing was written" in result.error
    for number, field, message in expected:
        assert any(
            f"bad.geojson, feature {number} [{field}]:" in line and message in line
            for line in result.err.splitlines()
        ), (number, result.err)
    assert (boundaries(), ObjectChange.objects.count(), versioning.current(STAMP)) == before

    report = do_import_boundaries([("bad.geojson", data)], actor=None)
    assert not report.written
    assert [(e.line, e.field) for e in report.errors] == [(n, f) for n, f, _m in expected]


def test_skip_invalid_imports_the_good_features(world: World, tmp_path: Path) -> None:
    data, _expected = bad_features(world)
    result = run("import_boundaries", write(tmp_path, data, "bad.geojson"), "--skip-invalid")
    assert result.ok, result.text
    assert "Created 1, updated 0, unchanged 0; 8 bad (skipped)" in result.out
    stored = boundaries()
    assert stored[world.div["C"].code] is not None
    for key in ("A1a", "A1b", "A2a", "B1a", "A1"):
        assert stored[world.div[key].code] is None


def test_dry_run_writes_nothing(world: World, tmp_path: Path) -> None:
    path = write(tmp_path, collection(community_square(world, "A1b", 2)), "a.geojson")
    stamp = versioning.current(STAMP)
    result = run("import_boundaries", path, "--dry-run")
    assert result.ok, result.text
    assert "would create 1" in result.out
    assert Division.objects.get(pk=world.div["A1b"].pk).boundary is None
    assert versioning.current(STAMP) == stamp


def test_web_mercator_is_refused(world: World, tmp_path: Path) -> None:
    ring = [[13135000, 4439000], [13136000, 4439000], [13136000, 4440000], [13135000, 4439000]]
    metres = {"type": "Polygon", "coordinates": [ring]}
    declared = collection(
        feature(world.div["A1a"].code, metres),
        crs={"type": "name", "properties": {"name": "EPSG:3857"}},
    )
    result = run("import_boundaries", write(tmp_path, declared, "mercator.geojson"))
    assert not result.ok
    assert "mercator.geojson: Cannot read the file: Coordinate system EPSG:3857" in result.err
    # undeclared, the metres are caught feature by feature
    bare = collection(feature(world.div["A1a"].code, metres))
    result = run("import_boundaries", write(tmp_path, bare, "bare.geojson"))
    assert not result.ok
    assert "bare.geojson, feature 1 [geometry]: Longitude 13135000" in result.err
    assert Division.objects.get(pk=world.div["A1a"].pk).boundary is None


@pytest.mark.parametrize(
    "name",
    [
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4490",
        "http://www.opengis.net/def/crs/EPSG/0/4326",
    ],
)
def test_wgs84_spellings_are_accepted(world: World, tmp_path: Path, name: str) -> None:
    data = collection(
        community_square(world, "A1b", 2), crs={"type": "name", "properties": {"name": name}}
    )
    assert run("import_boundaries", write(tmp_path, data, "a.geojson")).ok


def test_gcj02_is_converted_to_wgs84(world: World, tmp_path: Path) -> None:
    wgs = rectangle(X0 + 2 * SIZE, Y0, X0 + 3 * SIZE, Y0 + SIZE)
    gcj = coords.transform_geometry(wgs, coords.wgs84_to_gcj02)
    path = write(tmp_path, collection(feature(world.div["A1b"].code, gcj)), "gcj.geojson")
    result = run("import_boundaries", path, "--crs", "gcj02")
    assert result.ok, result.text
    stored = Division.objects.get(pk=world.div["A1b"].pk).boundary["coordinates"][0]
    for (x, y), (wx, wy) in zip(stored, wgs["coordinates"][0], strict=True):
        assert abs(x - wx) < 1e-6
        assert abs(y - wy) < 1e-6
    # read as WGS-84, the same file lands hundreds of metres away
    assert run("import_boundaries", path).ok
    moved = Division.objects.get(pk=world.div["A1b"].pk)
    assert moved.min_lng - (X0 + 2 * SIZE) > 0.003


def test_locate_sees_a_new_boundary(world: World, tmp_path: Path) -> None:
    grid = world.div["A1a1"]
    far = (X0 + 0.5, Y0 + 0.5)
    assert locate(*far) is None
    index = get_index()
    stamp = versioning.current(STAMP)
    data = collection(feature(grid.code, square(far[0] - 0.005, far[1] - 0.005)))
    result = run("import_boundaries", write(tmp_path, data, "moved.geojson"))
    assert result.ok, result.text
    assert "updated 1" in result.out
    assert versioning.current(STAMP) == stamp + 1
    fresh = get_index(force_check=True)
    assert fresh is not index
    assert fresh.version == stamp + 1
    assert locate(*far) == grid.pk
    assert locate(X0 + SIZE / 2, Y0 + SIZE / 2) is None  # its old square is empty now


def test_community_boundary_triggers_a_coverage_check(
    world: World, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    a1a = world.div["A1a"]
    # the community reaches one square further than its two grids: a gap
    data = collection(feature(a1a.code, rectangle(X0, Y0, X0 + 3 * SIZE, Y0 + SIZE)))
    with django_capture_on_commit_callbacks(execute=True):
        result = run("import_boundaries", write(tmp_path, data, "a1a.geojson"))
    assert result.ok, result.text
    assert CoverageCheck.objects.filter(division=a1a).exists()
    gap = CoverageIssue.objects.get(parent=a1a)
    assert gap.kind == "gap"
    square_m2 = SIZE * SIZE * 111_319.49**2 * math.cos(math.radians(37.005))
    assert gap.area_m2 == pytest.approx(square_m2, rel=0.01)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"  \n", "The file is empty"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a GeoJSON object"),
        (b'{"type": "FeatureCollection", "features": []}', "no features"),
        (b'{"type": "FeatureCollection"}', "no features list"),
        (b'{"type": "Topology"}', "Unknown GeoJSON type"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b'{"type": "Polygon", "coordinates": "\xff\xfe"}', "neither UTF-8 nor GB18030"),
    ],
)
def test_unreadable_files(world: World, tmp_path: Path, data: bytes, message: str) -> None:
    result = run("import_boundaries", write(tmp_path, data, "371602001001.geojson"))
    assert not result.ok
    assert "371602001001.geojson: Cannot read the file: " in result.err
    assert message in result.err
    assert Division.objects.get(pk=world.div["A1a"].pk).boundary is None


def test_bad_paths(db: Any, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    assert "No such file" in run("import_boundaries", tmp_path / "missing.geojson").error
    assert "holds no .geojson" in run("import_boundaries", tmp_path / "empty").error
    (tmp_path / "damaged.zip").write_bytes(b"PK\x03\x04 not really")
    assert "damaged" in run("import_boundaries", tmp_path / "damaged.zip").error
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "no boundaries here")
    (tmp_path / "other.zip").write_bytes(buffer.getvalue())
    assert "holds no .geojson" in run("import_boundaries", tmp_path / "other.zip").error
    bad_crs = run("import_boundaries", tmp_path / "missing.geojson", "--crs", "bd09")
    assert not bad_crs.ok
    assert "invalid choice" in bad_crs.error


def test_bowtie_is_reported_as_self_intersecting() -> None:
    # its signed area is zero, which used to hide the real fault behind "no area"
    with pytest.raises(ValidationError, match="Self-intersection"):
        geometry.parse_geometry(BOWTIE)


def test_a_boundary_that_rounding_would_break_still_imports_once(
    world: World, tmp_path: Path
) -> None:
    # A notch whose tip stops 4e-8° above the bottom edge: rounded to 7 decimals the tip
    # would touch the edge, so the boundary is kept at full precision — and must still
    # compare equal to itself when the same file comes again.
    ring = [
        [X0, Y0],
        [X0 + 0.02, Y0],
        [X0 + 0.02, Y0 + 0.01],
        [X0 + 0.011, Y0 + 0.01],
        [X0 + 0.01, Y0 + 4e-8],
        [X0 + 0.009, Y0 + 0.01],
        [X0, Y0 + 0.01],
        [X0, Y0],
    ]
    notch = {"type": "Polygon", "coordinates": [ring]}
    measured = geometry.measure(geometry.parse_geometry(notch))
    assert shape(measured.geometry).is_valid
    assert json.loads(json.dumps(measured.geometry)) == measured.geometry
    path = write(tmp_path, collection(feature(world.div["A1a"].code, notch)), "notch.geojson")
    assert "Created 1" in run("import_boundaries", path).out
    assert "unchanged 1" in run("import_boundaries", path).out
