"""`civicgrid import-registry` and `civicgrid export-registry`: output, exit statuses."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from civicgrid.accounts.roles import Role
from civicgrid.core.models import AccessLog
from civicgrid.registry.models import Resident

from ..geo.helpers import run
from ..world import World
from .conftest import valid_id
from .test_import import bad_file, people


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- import-registry --------------------------------------------------------------------------
def test_import_then_again(world: World, tmp_path: Path) -> None:
    path = write(tmp_path, people(world, 4))
    result = run("import_registry", "resident", path)
    assert result.ok, result.text
    assert "Created 4, updated 0, unchanged 0" in result.out
    assert "residents: " in result.err  # progress on stderr
    again = run("import_registry", "residents", path)
    assert "Created 0, updated 0, unchanged 4" in again.out
    assert Resident.objects.count() == 4


def test_dry_run(world: World, tmp_path: Path) -> None:
    result = run("import_registry", "resident", write(tmp_path, people(world, 2)), "--dry-run")
    assert result.ok and "would create 2" in result.out
    assert Resident.objects.count() == 0


def test_bad_rows_exit_non_zero_naming_them(world: World, tmp_path: Path) -> None:
    worker = world.user(Role.GRID_WORKER, "A1a1", name="wang")
    path = write(tmp_path, bad_file(world))
    result = run("import_registry", "resident", path, "--as", "wang")
    assert not result.ok
    assert (
        "line 3 [name]" in result.err
        and "line 4 [grid]: This grid is outside your area." in result.err
    )
    assert "nothing was written" in result.error
    assert Resident.objects.count() == 0
    result = run("import_registry", "resident", path, "--as", worker.username, "--skip-invalid")
    assert result.ok and "Created 1" in result.out


def test_xlsx_file(world: World, tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(["grid", "name", "id_number"])
    book.active.append([world.div["A1a1"].code, "表格", valid_id(seq="151")])
    path = tmp_path / "people.xlsx"
    book.save(path)
    result = run("import_registry", "resident", path)
    assert result.ok, result.text
    assert Resident.objects.get().name == "表格"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("people", "x.csv"), "Unknown record type “people”"),
        (("resident", "missing.csv"), "No such file"),
        (("resident", "."), "is a directory"),
        (("resident", "people.csv", "--as", "nobody"), "no account is named “nobody”"),
        (("resident", "empty.csv"), "The file is empty"),
    ],
)
def test_import_refuses(
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, people(world, 1))
    write(tmp_path, "", "empty.csv")
    result = run("import_registry", *args)
    assert not result.ok and message in result.error


def test_an_account_without_registry_rights(world: World, tmp_path: Path) -> None:
    world.user(Role.SYSTEM_ADMIN, "A", name="admin")
    result = run("import_registry", "resident", write(tmp_path, people(world, 1)), "--as", "admin")
    assert not result.ok and "do not allow changing registry records" in result.error


# --- export-registry --------------------------------------------------------------------------
@pytest.fixture
def loaded(world: World, tmp_path: Path) -> None:
    assert run("import_registry", "resident", write(tmp_path, people(world, 4), "in.csv")).ok


def read_csv(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def test_export_csv_with_filters(world: World, tmp_path: Path, loaded: Any) -> None:
    out = tmp_path / "out.csv"
    result = run(
        "export_registry", "resident", "--grid", world.div["A1a"].code, "--q", "张", "-o", out
    )
    assert result.ok, result.text
    rows = read_csv(out)
    assert [r[1] for r in rows[1:]] == ["张小明"]
    assert valid_id(seq="101") not in out.read_text(encoding="utf-8-sig")
    assert "1 row written" in result.err
    assert AccessLog.objects.get(action="export").actor_name == "system"


def test_export_xlsx_unmasked(world: World, tmp_path: Path, loaded: Any) -> None:
    out = tmp_path / "out.xlsx"
    result = run(
        "export_registry", "resident", "--format", "xlsx", "-o", out, "--unmask", "--reason", "核查"
    )
    assert result.ok, result.text
    sheet = openpyxl.load_workbook(out).worksheets[0]
    numbers = {row[3] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert valid_id(seq="101") in numbers
    log = AccessLog.objects.get(action="export")
    assert log.fields == ["id_number", "phone"] and log.reason == "核查"


def test_export_as_a_user_without_the_right_to_unmask(
    world: World, tmp_path: Path, loaded: Any
) -> None:
    world.user(Role.GRID_WORKER, "A1a1", name="li")
    out = tmp_path / "out.csv"
    result = run(
        "export_registry", "resident", "--as", "li", "-o", out, "--unmask", "--reason", "x"
    )
    assert not result.ok and "do not allow seeing full numbers" in result.error
    assert not out.exists()  # no half-written file
    assert run("export_registry", "care", "--as", "li", "-o", out).ok


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("resident", "--unmask"), "reason: Say why you need the full numbers."),
        (("resident", "--reason", "x"), "--reason goes with --unmask"),
        (("resident", "--format", "xlsx"), "needs --output"),
        (("resident", "--grid", "999999"), "under: No division with this code in your area."),
        (("resident", "--filter", "state"), "is not KEY=VALUE"),
        (("resident", "--filter", "residence_type=martian"), "residence_type: Unknown value."),
        (("people",), "Unknown record type"),
    ],
)
def test_export_refuses(world: World, args: tuple[str, ...], message: str) -> None:
    result = run("export_registry", *args)
    assert not result.ok and message in result.error
