"""`civicgrid import-divisions` and the action behind it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from civicgrid.core.models import ObjectChange
from civicgrid.geo.actions import do_import_divisions
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division, DivisionCodeChange, Grid

from .helpers import csv_bytes, run

pytestmark = pytest.mark.django_db

GOOD = """
    code,name,parent_code,level,kind,dedicated_type,households,residents
    370000,山东省,,province,,,,
    371600,滨州市,370000,city,,,,
    371602,滨城区,371600,county,,,,
    371602001,市中街道,371602,township,,,,
    371602001001,渤海社区,371602001,community,,,,
    371602001001001,渤海社区第一网格,371602001001,grid,general,,400,1100
    371602001001002,滨州实验学校,371602001001,grid,dedicated,school,0,30
    371602001201,李家村,371602001,village,,,,
    371602001201001,李家村网格,371602001201,grid,,,180,520
"""
# The same tree as the national statistics tables print it: 12-digit zero-padded codes,
# Chinese headers, no level column (the level follows from the code).
NBS = """
    统计用区划代码,名称,上级代码
    370000000000,山东省,
    371600000000,滨州市,370000000000
    371602000000,滨城区,371600000000
    371602001000,市中街道,371602000000
    371602001001,渤海社区,371602001000
    371602001201,李家村,371602001000
"""


def write(tmp_path: Path, data: bytes, name: str = "divisions.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def state() -> dict[str, Any]:
    """What an import could change, to compare before and after."""
    return {
        "divisions": sorted(Division.objects.values_list("code", "name", "parent__code")),
        "grids": sorted(
            Grid.objects.values_list("division__code", "kind", "households", "residents")
        ),
        "changes": ObjectChange.objects.count(),
    }


def test_good_file_builds_the_tree(tmp_path: Path) -> None:
    result = run("import_divisions", write(tmp_path, csv_bytes(GOOD)))
    assert result.ok, result.text
    assert "Created 9, updated 0, unchanged 0" in result.out
    levels = dict(Division.objects.values_list("code", "level"))
    assert levels == {
        "370000": Level.PROVINCE,
        "371600": Level.CITY,
        "371602": Level.COUNTY,
        "371602001": Level.TOWNSHIP,
        "371602001001": Level.COMMUNITY,
        "371602001201": Level.COMMUNITY,
        "371602001001001": Level.GRID,
        "371602001001002": Level.GRID,
        "371602001201001": Level.GRID,
    }
    school = Grid.objects.get(division__code="371602001001002")
    assert (school.kind, school.dedicated_type, school.households) == ("dedicated", "school", 0)
    village_grid = Grid.objects.get(division__code="371602001201001")
    assert village_grid.setting == "rural"  # 2xx community: a village
    assert Grid.objects.get(division__code="371602001001001").setting == "urban"
    grid = Division.objects.get(code="371602001201001")
    assert [a.code for a in grid.ancestors()] == [
        "370000",
        "371600",
        "371602",
        "371602001",
        "371602001201",
    ]
    assert grid.path == "371602001201001"
    # every division and grid created is audited, with the command's request id
    assert ObjectChange.objects.filter(action="import").count() == 9 + 3
    assert ObjectChange.objects.exclude(request_id="").count() == ObjectChange.objects.count()


def test_national_statistics_layout(tmp_path: Path) -> None:
    result = run("import_divisions", write(tmp_path, csv_bytes(NBS)))
    assert result.ok, result.text
    assert set(Division.objects.values_list("code", flat=True)) == {
        "370000",
        "371600",
        "371602",
        "371602001",
        "371602001001",
        "371602001201",
    }
    assert Division.objects.get(code="371602001201").parent.code == "371602001"


def test_second_run_changes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, csv_bytes(GOOD))
    assert run("import_divisions", path).ok
    before = state()
    again = run("import_divisions", path)
    assert again.ok, again.text
    assert "Created 0, updated 0, unchanged 9" in again.out
    assert state() == before  # no duplicate, no new audit row
    report = do_import_divisions(csv_bytes(GOOD), actor=None)
    assert report.written
    assert (report.created, report.updated, report.unchanged) == (0, 0, 9)
    assert state() == before


def test_progress_is_shown_without_carriage_returns_off_a_terminal(tmp_path: Path) -> None:
    result = run("import_divisions", write(tmp_path, csv_bytes(GOOD)))
    assert "divisions: 9/9 (100%)\n" in result.err
    assert "\r" not in result.err  # a log file would show them as garbage


def test_reimport_updates_what_changed(tmp_path: Path) -> None:
    assert run("import_divisions", write(tmp_path, csv_bytes(GOOD))).ok
    grid_before = Division.objects.get(code="371602001001001")
    changed = GOOD.replace(
        "渤海社区第一网格,371602001001,grid,general,,400,1100",
        "渤海一网格,371602001001,grid,general,,420,1150",
    )
    changes = ObjectChange.objects.count()
    result = run("import_divisions", write(tmp_path, csv_bytes(changed), "v2.csv"))
    assert result.ok, result.text
    assert "Created 0, updated 1, unchanged 8" in result.out
    grid = Division.objects.get(code="371602001001001")
    assert grid.pk == grid_before.pk
    assert grid.name == "渤海一网格"
    assert (grid.grid.households, grid.grid.residents) == (420, 1150)
    assert Division.objects.count() == 9
    # one audit row for the division (name), one for the grid (counts)
    assert ObjectChange.objects.count() == changes + 2


def test_gb18030_and_bom_files_import(tmp_path: Path) -> None:
    gb = write(tmp_path, csv_bytes(GOOD, "gb18030"), "gb.csv")
    assert run("import_divisions", gb).ok
    assert Division.objects.get(code="371602001201").name == "李家村"
    bom = write(
        tmp_path, b"\xef\xbb\xbf" + csv_bytes(GOOD.replace("李家村,", "李家庄,")), "bom.csv"
    )
    result = run("import_divisions", bom)
    assert result.ok, result.text
    assert "updated 1" in result.out  # the BOM did not hide the "code" column
    assert Division.objects.get(code="371602001201").name == "李家庄"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   \n\n", "empty"),
        (b"code,name,parent_code,level\n", "no rows"),
        (b'{"type": "FeatureCollection", "features": []}', "Missing column"),
        (b"id,title\n1,x\n", "Missing column(s): code, name"),
        (b"code,name,code\n370000,x,370000\n", "more than once"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "binary"),
        ("code,name\n370000,山东省\n".encode("utf-16"), "UTF-16"),
        (b"code,name\n370000,\xff\xfe\xfd\n", "neither UTF-8 nor GB18030"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, data: bytes, message: str) -> None:
    result = run("import_divisions", write(tmp_path, data))
    assert not result.ok
    assert message in result.error
    assert not Division.objects.exists()


def test_missing_file_and_directory(tmp_path: Path) -> None:
    missing = run("import_divisions", tmp_path / "nope.csv")
    assert not missing.ok
    assert "No such file" in missing.error
    directory = run("import_divisions", tmp_path)
    assert not directory.ok
    assert "is a directory" in directory.error


# Against the small world: lines 2, 3 and 14 are good, every other line is bad for its own reason.
PARTLY_BAD = """
    code,name,parent_code,level,kind,dedicated_type,households,residents
    371602001003,新社区,371602001,community,,,,
    371602001003001,新社区第一网格,371602001003,grid,,,350,900
    37160200100,短代码社区,371602001,community,,,,
    371602009001,无主社区,371602009,community,,,,
    371602001003,重复社区,371602001,community,,,,
    371602001004,,371602001,community,,,,
    371602001004001,坏社区网格,371602001004,grid,,,300,900
    371602003,,371602,township,,,,
    371602003001,孤儿社区,,community,,,,
    371602001005,带户数的社区,371602001,community,,,300,
    371602001003002,人少网格,371602001003,grid,,,400,300
    371602001,市中街道,371602,community,,,,
    371602001001001,渤海社区第一网格,371602001001,grid,,,420,1150
"""
EXPECTED_BAD = [
    (4, "code", "has 11"),
    (5, "parent_code", "neither in the file nor in the database"),
    (6, "code", "appears again (first on line 2)"),
    (7, "name", "empty"),
    (8, "parent_code", "parent row (line 7) is invalid"),
    (9, "name", "empty"),
    # no parent given: it must not be hung under the county that its invalid township
    # would have sat under
    (10, "parent_code", "parent row (line 9) is invalid"),
    (11, "households", "only allowed on grid rows"),
    (12, "residents", "Fewer residents than households"),
    (13, "level", "already exists as a township"),
]


def assert_lists_every_bad_row(errors: list[Any]) -> None:
    got = [(e.line, e.field) for e in errors]
    assert got == [(line, field) for line, field, _message in EXPECTED_BAD]
    for error, (_line, _field, message) in zip(errors, EXPECTED_BAD, strict=True):
        assert message in error.message, error


def test_partly_bad_file_writes_nothing_and_lists_every_bad_row(world: Any, tmp_path: Path) -> None:
    before = state()
    result = run("import_divisions", write(tmp_path, csv_bytes(PARTLY_BAD)))
    assert not result.ok
    assert "10 bad row(s): nothing was written" in result.error
    for line, field, message in EXPECTED_BAD:
        assert any(
            f"line {line} [{field}]:" in row and message in row for row in result.err.splitlines()
        ), (line, result.err)
    assert state() == before

    report = do_import_divisions(csv_bytes(PARTLY_BAD), actor=None)
    assert not report.written
    assert report.total == 13
    assert_lists_every_bad_row(report.errors)
    assert state() == before


def test_skip_invalid_writes_exactly_the_good_rows(world: Any, tmp_path: Path) -> None:
    codes_before = set(Division.objects.values_list("code", flat=True))
    result = run("import_divisions", write(tmp_path, csv_bytes(PARTLY_BAD)), "--skip-invalid")
    assert result.ok, result.text
    assert "Created 2, updated 1, unchanged 0; 10 bad (skipped)" in result.out
    assert "line 10 [parent_code]" in result.err
    codes_after = set(Division.objects.values_list("code", flat=True))
    assert codes_after - codes_before == {"371602001003", "371602001003001"}
    assert Division.objects.get(code="371602001003").parent == world.div["A1"]
    assert Grid.objects.get(division__code="371602001003001").households == 350
    updated = Grid.objects.get(division=world.div["A1a1"])
    assert (updated.households, updated.residents) == (420, 1150)
    assert Division.objects.get(code="371602001").level == Level.TOWNSHIP


def test_dry_run_writes_nothing_but_tells_what_would_happen(world: Any, tmp_path: Path) -> None:
    path = write(tmp_path, csv_bytes(PARTLY_BAD))
    before = state()
    checked = run("import_divisions", path, "--dry-run", "--skip-invalid")
    assert checked.ok, checked.text
    assert "Dry run, nothing written: would create 2, update 1" in checked.out
    assert state() == before
    refused = run("import_divisions", path, "--dry-run")
    assert not refused.ok
    assert "would be refused" in refused.error
    assert state() == before

    report = do_import_divisions(csv_bytes(PARTLY_BAD), actor=None, dry_run=True)
    assert report.dry_run
    assert not report.written
    assert report.created == 2
    assert state() == before


def test_rows_are_numbered_by_the_line_they_start_on(db: Any, tmp_path: Path) -> None:
    # header and nine rows fill lines 1–10; the bad row spans lines 11 and 12
    data = csv_bytes(GOOD) + '3716020010,"多行\n名称",371602001,community,,,,\n'.encode()
    data += b"371602001009,x,371602001,community,,,,\n"
    result = run("import_divisions", write(tmp_path, data))
    assert not result.ok
    assert "line 11 [code]" in result.err
    assert "line 12" not in result.err
    assert "line 13" not in result.err


def test_trailing_empty_cells_are_not_extra_values(db: Any, tmp_path: Path) -> None:
    # spreadsheets leave empty cells after the last column, in the header or in the rows
    header, *rows = csv_bytes(GOOD).decode().splitlines()
    padded = "\n".join([header, *(row + ",," for row in rows)])
    result = run("import_divisions", write(tmp_path, padded.encode()))
    assert result.ok, result.text
    assert Division.objects.count() == 9
    padded_header = "\n".join([header + ",,", *rows])
    again = run("import_divisions", write(tmp_path, padded_header.encode(), "header.csv"))
    assert again.ok, again.text
    assert "unchanged 9" in again.out
    extra = csv_bytes(GOOD) + b"371602001002,x,371602001,community,,,,,surprise\n"
    refused = run("import_divisions", write(tmp_path, extra, "extra.csv"))
    assert not refused.ok
    assert "more values than the header" in refused.err


def test_renumbering_a_county_and_its_community_in_one_file(world: Any, tmp_path: Path) -> None:
    # previous_code renumbers; the county goes first and takes the township and community
    # with it, so their own rows find them already renumbered.
    data = csv_bytes("""
        code,name,parent_code,level,previous_code
        371699,滨城区,371600,county,371602
        371699001,市中街道,371699,township,371602001
        371699001001,渤海社区,371699001,community,371602001001
    """)
    result = run("import_divisions", write(tmp_path, data))
    assert result.ok, result.text
    community = Division.objects.get(pk=world.div["A1a"].pk)
    assert (community.code, community.path) == ("371699001001", "371699001001")
    assert Division.objects.get(pk=world.div["A1a1"].pk).code == "371699001001001"
    assert not Division.objects.filter(code__startswith="371602").exists()
    assert DivisionCodeChange.objects.filter(old_code="371602001001").count() == 1
