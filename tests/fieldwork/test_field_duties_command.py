"""`civicgrid field-duties`: the duties table per grid worker, CSV for scripts, and a message
with a non-zero exit for bad input."""

from __future__ import annotations

import csv
import io

import pytest

from civicgrid.fieldwork.management.commands.field_duties import CSV_COLUMNS

from ..geo.helpers import run
from ..world import World
from .test_duties import Field, work  # noqa: F401

pytestmark = pytest.mark.django_db


def test_the_table_of_a_township(work: Field) -> None:  # noqa: F811
    w = work.world
    result = run("field_duties", "--under", w.div["A1"].code, "--month", work.month)
    assert result.ok, result.text
    lines = result.out.splitlines()
    assert lines[0] == f"{w.div['A1'].name} ({w.div['A1'].code}) · {work.month}"
    assert "2 grid workers in 3 grids" in lines[1]
    assert "3 patrols, 2.8 h" in lines[1]
    assert "1 grid workers without a patrol" in lines[1]
    by_grid = [line for line in lines if w.div["A1a1"].code in line]
    assert len(by_grid) == 2  # the worker and the community centre helping out
    assert any(" worker " in line and "*" not in line for line in by_grid)
    assert any(" community * " in line for line in by_grid)
    assert "nobody assigned" in result.out
    assert "recorded work in a grid that is not theirs" in result.out


def test_csv(work: Field) -> None:  # noqa: F811
    result = run(
        "field_duties", "--under", work.world.div["A1"].code, "--month", work.month, "--csv"
    )
    assert result.ok, result.text
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert list(rows[0]) == CSV_COLUMNS
    mine = next(r for r in rows if r["username"] == "worker")
    assert (mine["visits_done"], mine["visits"], mine["patrols"]) == ("2", "3", "3")
    assert (mine["patrol_minutes"], mine["check_ins_outside"], mine["assigned"]) == (
        "165",
        "1",
        "1",
    )
    helper = next(r for r in rows if r["username"] == "community")
    assert (helper["assigned"], helper["visits_due"], helper["visits_rate"]) == ("0", "", "")
    nobody = next(r for r in rows if r["worker_id"] == "")
    assert nobody["grid_code"] == work.world.div["A1b1"].code


def test_the_whole_installation_by_default(work: Field) -> None:  # noqa: F811
    result = run("field_duties", "--month", work.month, "--csv")
    assert result.ok, result.text
    usernames = {r["username"] for r in csv.DictReader(io.StringIO(result.out))}
    assert {"worker", "worker-a1a2", "worker-b"} <= usernames


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--month", "2026-13"], "--month: “2026-13” is not a month"),
        (["--month", "last"], "--month:"),
        (["--under", "37160x"], "--under: “37160x” is not a division code"),
        (["--under", "371699"], "--under: no active division has the code 371699"),
    ],
)
def test_bad_input_is_a_message_and_a_failure(world: World, args: list[str], message: str) -> None:
    result = run("field_duties", *args)
    assert not result.ok
    assert message in result.error
    assert result.out == ""


def test_an_empty_installation(db: None) -> None:
    result = run("field_duties")
    assert not result.ok
    assert "no divisions" in result.error
