"""`civicgrid demo-city` builds a valid city through the geo import actions."""

from __future__ import annotations

import re
from typing import Any

import pytest

from civicgrid.demo.city import plan_city
from civicgrid.geo import geometry
from civicgrid.geo.choices import Level
from civicgrid.geo.models import CoverageIssue, Division, Grid

from .helpers import run

pytestmark = pytest.mark.django_db


def test_small_demo_city(db: Any) -> None:
    result = run("demo_city", "--preset", "small", "--seed", "3")
    assert result.ok, result.text

    per_level = {level: Division.objects.filter(level=level).count() for level in Level}
    assert all(n > 0 for n in per_level.values()), per_level
    grid_codes = list(Division.objects.filter(level=Level.GRID).values_list("code", flat=True))
    assert all(len(c) == 15 and c.isdigit() and c.startswith("3716") for c in grid_codes)
    assert Grid.objects.count() == len(grid_codes)
    for division in Division.objects.exclude(boundary=None):
        geometry.parse_geometry(division.boundary)  # raises on anything invalid
    assert not Division.objects.filter(level=Level.GRID, boundary=None).exists()

    # the coverage check finds the injected faults, and only them
    faults = plan_city("small", 3).faults
    assert len(faults) == 2
    injected = dict(re.fullmatch(r"(\w+): .* \((\d+)\)", f).groups() for f in faults)
    issues = list(CoverageIssue.objects.select_related("parent", "grid_a", "grid_b"))
    assert f"Coverage check: {len(issues)} issue(s)" in result.out
    assert {i.kind for i in issues} == {"gap", "overlap"}
    for issue in issues:
        if issue.kind == "gap":
            assert issue.parent.code == injected["gap"][:12]
        else:
            assert injected["overlap"] in {issue.grid_a.code, issue.grid_b.code}


def test_demo_city_refuses_a_database_that_holds_divisions(db: Any) -> None:
    assert run("demo_city", "--preset", "small", "--seed", "3").ok
    count = Division.objects.count()
    again = run("demo_city", "--preset", "small", "--seed", "3")
    assert not again.ok
    assert "already holds divisions" in again.error
    assert "--if-empty" in again.error
    assert Division.objects.count() == count
    kept = run("demo_city", "--preset", "small", "--if-empty")
    assert kept.ok, kept.text
    assert "keeping it" in kept.out
    assert "gridworker" in kept.out
    assert "sysadmin" in kept.out
    assert Division.objects.count() == count
