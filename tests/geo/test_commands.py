"""locate, renumber-division, sizing-report, check-coverage; help texts and exit statuses."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from civicgrid.accounts.models import RoleAssignment, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.core import versioning
from civicgrid.core.models import ObjectChange
from civicgrid.geo import coords
from civicgrid.geo.actions import do_create_division, do_update_grid
from civicgrid.geo.locate import STAMP, locate
from civicgrid.geo.models import CoverageCheck, CoverageIssue, Division, DivisionCodeChange

from ..world import SIZE, World, inside
from .helpers import collection, feature, rectangle, run
from .test_coverage import box, set_boundary

COMMANDS = [
    "import-divisions",
    "import-boundaries",
    "sizing-report",
    "locate",
    "renumber-division",
    "check-coverage",
    "generate-key",
]


# --- locate ----------------------------------------------------------------------------------
def test_locate_prints_grid_and_ancestors(world: World) -> None:
    lng, lat = inside("A1b1")
    result = run("locate", lat, lng)
    assert result.ok, result.text
    lines = result.out.splitlines()
    assert lines[0].startswith("371602001002001")
    codes = [line.split()[-2] for line in lines[2:]]
    assert codes == ["371602001002", "371602001", "371602", "371600", "370000"]


def test_locate_gcj02(world: World) -> None:
    # The GCJ-02 offset here (~0.006° east) is more than half a grid: read as WGS-84, the
    # same numbers would fall in the next grid.
    g_lng, g_lat = coords.wgs84_to_gcj02(*inside("A1a1"))
    assert locate(g_lng, g_lat) == world.div["A1a2"].pk
    result = run("locate", g_lat, g_lng, "--crs", "gcj02")
    assert result.ok, result.text
    assert result.out.startswith(world.div["A1a1"].code)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("30", "110"), "lies in no grid"),
        (("118.0", "37.0"), "latitude comes first"),
        (("37", "190"), "LNG 190"),
        (("nan", "118"), "finite"),
        (("abc", "118"), "invalid float"),
        (("37",), "required"),
    ],
)
def test_locate_refuses(world: World, args: tuple[str, ...], message: str) -> None:
    result = run("locate", *args)
    assert not result.ok
    assert message in result.error


# --- renumber-division ------------------------------------------------------------------------
def test_renumber_moves_the_subtree_and_what_belongs_to_it(world: World) -> None:
    worker = world.user(Role.GRID_WORKER, "A1a1")
    staff = world.user(Role.CENTRE_STAFF, "B1")
    county = world.div["A"]
    subtree = list(Division.objects.filter(path__startswith="371602").values_list("pk", flat=True))
    stamp = versioning.current(STAMP)
    result = run("renumber_division", "371602", "371699", "--note", "国函〔2024〕1号")
    assert result.ok, result.text
    assert f"371602 → 371699 ({len(subtree)} division(s) changed code)" in result.out

    county.refresh_from_db()
    assert (county.code, county.path) == ("371699", "371699")
    grid = Division.objects.get(pk=world.div["A1a1"].pk)
    assert (grid.code, grid.path) == ("371699001001001", "371699001001001")
    assert not Division.objects.filter(path__startswith="371602").exists()
    assert Division.objects.get(pk=world.div["B1a1"].pk).code == "371603001201001"
    # rows that copied the path moved along; the other county's did not
    assert Unit.objects.get(pk=world.units["centre-A1"].pk).division_path == "371699001"
    assert User.objects.get(pk=worker.pk).division_path == "371699001001001"
    assert RoleAssignment.objects.get(user=worker).division_path == "371699001001001"
    assert RoleAssignment.objects.get(user=staff).division_path == "371603001"
    assert Unit.objects.get(pk=world.units["urban-B"].pk).division_path == "371603"
    # and the worker's scope follows: he still sees his grid
    assert User.objects.get(pk=worker.pk).scope_paths("geo", "view") == ["371699001001001"]
    # history: one code change and one audit row per renumbered division
    changes = DivisionCodeChange.objects.filter(division_id__in=subtree)
    assert changes.count() == len(subtree)
    assert set(changes.values_list("note", flat=True)) == {"国函〔2024〕1号"}
    assert changes.get(division=county).old_code == "371602"
    assert ObjectChange.objects.filter(action="renumber").count() == len(subtree)
    assert versioning.current(STAMP) == stamp + 1
    assert locate(*inside("A1a1")) == world.div["A1a1"].pk


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("371602", "371603", "already in use"),
        ("371602", "371602", "already has code"),
        ("371602", "3716020", "has 7"),
        ("371602001", "371603005", "does not lie under"),
        ("371602", "371700", "not a valid county"),
        ("371699", "371698", "no active division has the code 371699"),
        ("abc", "371698", "not a division code"),
    ],
)
def test_renumber_refuses(world: World, old: str, new: str, message: str) -> None:
    before = list(Division.objects.order_by("pk").values_list("code", "path"))
    result = run("renumber_division", old, new)
    assert not result.ok
    assert message in result.error
    assert list(Division.objects.order_by("pk").values_list("code", "path")) == before
    assert not DivisionCodeChange.objects.exists()


def test_renumber_refuses_a_code_whose_subtree_is_taken(world: World) -> None:
    # A county kept directly under the province (省直辖县) already sits at 371702: renumbering
    # the city to 371700 would give two divisions under 3717 the same code.
    do_create_division(actor=None, parent=world.div["P"], code="371702", name="省直辖县")
    result = run("renumber_division", "371600", "371700")
    assert not result.ok
    assert "already lies under 371700" in result.error
    assert Division.objects.get(pk=world.div["C"].pk).code == "371600"


# --- sizing-report ---------------------------------------------------------------------------
def test_sizing_report_formats(world: World) -> None:
    do_update_grid(world.div["A1a1"].grid, actor=None, households=600)
    do_update_grid(world.div["B1a1"].grid, actor=None, households=None)
    text = run("sizing_report")
    assert text.ok, text.text  # findings are not failures
    assert "371602001001001" in text.out
    assert "371603001201001" in text.out
    assert "371602001001002" not in text.out  # within the norm: counted, not listed

    data = json.loads(run("sizing_report", "--format", "json").out)
    assert data["sizing"] == {"ok": 3, "over": 1, "under": 0, "exempt": 0, "unknown": 1}
    assert [(g["code"], g["status"]) for g in data["grids"]] == [
        ("371602001001001", "over"),
        ("371603001201001", "unknown"),
    ]

    rows = list(csv.reader(io.StringIO(run("sizing_report", "--format", "csv").out)))
    assert rows[0][:3] == ["finding", "status", "code"]
    assert [r[:3] for r in rows[1:]] == [
        ["sizing", "over", "371602001001001"],
        ["sizing", "unknown", "371603001201001"],
    ]

    under_a = json.loads(run("sizing_report", "--under", "371602", "--format", "json").out)
    assert under_a["under"]["code"] == "371602"
    assert sum(under_a["sizing"].values()) == 4
    everything = json.loads(run("sizing_report", "--status", "ok,over", "--format", "json").out)
    assert {g["status"] for g in everything["grids"]} == {"ok", "over"}


def test_sizing_report_coverage_and_refresh(world: World) -> None:
    set_boundary(world.div["A1a"].code, box(0, 3))
    stale = run("sizing_report", "--under", "371602001")
    assert "Coverage issues: 0" in stale.out
    assert "--refresh" in stale.out
    fresh = run("sizing_report", "--under", "371602001", "--refresh", "--format", "json")
    assert fresh.ok, fresh.text
    data = json.loads(fresh.out)
    assert data["coverage"]["gap"] == 1
    assert data["coverage_issues"][0]["community_code"] == "371602001001"
    assert data["communities"] == data["communities_checked_since_last_boundary_change"] == 2
    # the other county was not checked
    assert not CoverageCheck.objects.filter(division=world.div["B1a"]).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--under", "999999"), "no active division has the code 999999"),
        (("--under", "37160x"), "not a division code"),
        (("--status", "big"), "--status"),
        (("--format", "xml"), "invalid choice"),
    ],
)
def test_sizing_report_refuses(world: World, args: tuple[str, ...], message: str) -> None:
    result = run("sizing_report", *args)
    assert not result.ok
    assert message in result.error


# --- check-coverage --------------------------------------------------------------------------
def test_check_coverage(world: World) -> None:
    set_boundary(world.div["A1a"].code, box(0, 3))
    # an overlap in B1a: a second grid over the first
    second = do_create_division(
        actor=None,
        parent=world.div["B1a"],
        code="371603001201002",
        name="李家村第二网格",
        grid={"households": 200, "residents": 600},
    )
    set_boundary(second.code, rectangle(118.04, 37.0, 118.04 + SIZE, 37.005))
    result = run("check_coverage", "--under", "371602")
    assert result.ok, result.text
    assert "Checked 3 communities under 滨城区 (371602): 1 issue(s)." in result.out
    assert CoverageIssue.objects.count() == 1
    everywhere = run("check_coverage")
    assert "Checked 4 communities" in everywhere.out
    assert "2 issue(s)" in everywhere.out
    overlap = CoverageIssue.objects.get(kind="overlap")
    assert {overlap.grid_a_id, overlap.grid_b_id} == {world.div["B1a1"].pk, second.pk}
    one_grid = run("check_coverage", "--under", second.code)
    assert "Checked 1 community" in one_grid.out
    missing = run("check_coverage", "--under", "371699")
    assert not missing.ok
    assert "371699" in missing.error


def test_boundary_files_feed_check_coverage(world: World, tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    path.write_bytes(collection(feature(world.div["A1b"].code, box(2, 3.5))))
    assert run("import_boundaries", path).ok
    result = run("check_coverage", "--under", world.div["A1b"].code)
    assert "1 issue(s)" in result.out


# --- the real command line -------------------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civicgrid.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
        check=False,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command: str) -> None:
    done = cli(command, "--help")
    assert done.returncode == 0, done.stderr
    assert f"civicgrid {command.replace('-', '_')}" in done.stdout
    summary = " ".join(done.stdout.split())
    words = {
        "import-divisions": ["code,name,parent_code,level", "--skip-invalid", "--dry-run"],
        "import-boundaries": ["FeatureCollection", "MultiPolygon", "--crs", "gcj02"],
        "sizing-report": ["--under", "--format", "--refresh", "exits 0"],
        "locate": ["LAT", "LNG", "--crs"],
        "renumber-division": ["OLD_CODE", "NEW_CODE", "--note"],
        "check-coverage": ["--under", "gaps"],
        "generate-key": ["64 hexadecimal digits", "CIVICGRID_ENCRYPTION_KEY"],
    }[command]
    for word in words:
        assert word in summary, word


def test_the_listing_names_every_command() -> None:
    done = cli()
    assert done.returncode == 0
    for command in COMMANDS:
        assert f"  {command} " in done.stdout


def test_bad_input_exits_1_without_a_traceback(tmp_path: Path) -> None:
    for args in (
        ["import-divisions", str(tmp_path / "missing.csv")],
        ["import-boundaries", str(tmp_path)],
    ):
        done = cli(*args)
        assert done.returncode == 1, done
        assert "Traceback" not in done.stderr
        assert done.stderr.startswith("CommandError: ")
