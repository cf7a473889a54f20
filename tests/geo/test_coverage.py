"""Gaps and overlaps among the grids of a community."""

from __future__ import annotations

import math
from typing import Any

import pytest

from civicgrid.geo import coverage
from civicgrid.geo.actions import do_import_boundaries
from civicgrid.geo.models import CoverageCheck, CoverageIssue

from ..world import ORIGIN, SIZE, World
from .helpers import collection, feature, rectangle

X0, Y0 = ORIGIN
M2_PER_SQ_DEG = 111_319.49**2 * math.cos(math.radians(Y0 + SIZE / 2))


def box(x0: float, x1: float) -> dict[str, Any]:
    """A strip of the world's row of squares, from x0 to x1 (in square widths)."""
    return rectangle(X0 + x0 * SIZE, Y0, X0 + x1 * SIZE, Y0 + SIZE)


def test_overlap_gap_and_missing_boundary(settings: Any) -> None:
    settings.COVERAGE_TOLERANCE_M2 = 1.0
    community = box(0, 3)
    grids = [(1, box(0, 1.2)), (2, box(1, 2)), (3, None)]
    findings = coverage.check_community(community, grids)
    by_kind = {f.kind: f for f in findings}
    assert sorted(f.kind for f in findings) == ["gap", "no_boundary", "overlap"]
    overlap = by_kind["overlap"]
    assert (overlap.grid_a, overlap.grid_b) == (1, 2)
    assert overlap.area_m2 == pytest.approx(0.2 * SIZE * SIZE * M2_PER_SQ_DEG, rel=0.01)
    assert overlap.geometry["type"] == "Polygon"
    gap = by_kind["gap"]
    assert gap.area_m2 == pytest.approx(SIZE * SIZE * M2_PER_SQ_DEG, rel=0.01)
    assert by_kind["no_boundary"].grid_a == 3


def test_neighbours_sharing_an_edge_are_fine(settings: Any) -> None:
    settings.COVERAGE_TOLERANCE_M2 = 1.0
    assert coverage.check_community(box(0, 2), [(1, box(0, 1)), (2, box(1, 2))]) == []


def test_tolerance_is_respected(settings: Any) -> None:
    # a sliver 1e-7 of a square wide: about 10 m² of overlap and 10 m² of gap
    sliver = 1e-5
    grids = [(1, box(0, 1 + sliver)), (2, box(1, 2 - sliver))]
    settings.COVERAGE_TOLERANCE_M2 = 1.0
    found = coverage.check_community(box(0, 2), grids)
    assert sorted(f.kind for f in found) == ["gap", "overlap"]
    assert all(5 < f.area_m2 < 20 for f in found)
    settings.COVERAGE_TOLERANCE_M2 = 20.0
    assert coverage.check_community(box(0, 2), grids) == []


def test_no_community_boundary_means_no_gap_check(settings: Any) -> None:
    settings.COVERAGE_TOLERANCE_M2 = 1.0
    assert coverage.check_community(None, [(1, box(0, 1)), (2, box(2, 3))]) == []


def set_boundary(code: str, geometry: dict[str, Any]) -> None:
    report = do_import_boundaries([("b.geojson", collection(feature(code, geometry)))], actor=None)
    assert report.written, report
    assert not report.errors, report


def test_refresh_stores_and_replaces_findings(world: World) -> None:
    a1a = world.div["A1a"]
    set_boundary(a1a.code, box(0, 3))  # grids A1a1, A1a2 fill squares 0 and 1 only
    assert coverage.refresh([a1a.pk]) == 1
    first = CoverageIssue.objects.get(parent=a1a)
    assert (first.kind, first.division_path) == ("gap", a1a.path)
    check = CoverageCheck.objects.get(division=a1a)
    assert check.division_path == a1a.path

    assert coverage.refresh([a1a.pk]) == 1  # the same state again: replaced, not added
    again = CoverageIssue.objects.get(parent=a1a)
    assert again.pk != first.pk

    set_boundary(a1a.code, box(0, 2))  # the community now matches its grids
    assert coverage.refresh([a1a.pk]) == 0
    assert not CoverageIssue.objects.filter(parent=a1a).exists()
    assert CoverageCheck.objects.filter(division=a1a).count() == 1


def test_refresh_leaves_other_communities_alone(world: World) -> None:
    a1a, a1b = world.div["A1a"], world.div["A1b"]
    set_boundary(a1a.code, box(0, 3))
    set_boundary(a1b.code, box(2, 4))  # its grid has square 2 only: a gap in square 3
    assert coverage.refresh([a1a.pk, a1b.pk]) == 2
    assert coverage.refresh([a1b.pk]) == 1
    assert CoverageIssue.objects.filter(parent=a1a).count() == 1
    assert set(coverage.communities_under(world.div["A1"].path)) == {a1a.pk, a1b.pk}
