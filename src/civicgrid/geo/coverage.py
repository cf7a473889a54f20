"""Coverage of a community by its grids: gaps (land of the community in no grid) and overlaps
(land in two grids). Areas below COVERAGE_TOLERANCE_M2 are rounding noise and are ignored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import shapely
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from civicgrid.core import versioning

from .choices import CoverageKind, Level
from .geometry import area_m2
from .locate import STAMP
from .models import CoverageCheck, CoverageIssue, Division


@dataclass
class Finding:
    kind: str
    area_m2: float
    grid_a: int | None = None
    grid_b: int | None = None
    geometry: dict[str, Any] | None = None


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Keep only the areal part of an intersection (edges shared by neighbours are lines)."""
    if geom.geom_type in {"Polygon", "MultiPolygon"}:
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if g.geom_type in {"Polygon", "MultiPolygon"}]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def check_community(
    community_boundary: dict[str, Any] | None, grids: list[tuple[int, dict[str, Any] | None]]
) -> list[Finding]:
    tolerance = settings.COVERAGE_TOLERANCE_M2
    findings: list[Finding] = []
    ids: list[int] = []
    shapes: list[BaseGeometry] = []
    for grid_id, boundary in grids:
        if boundary is None:
            findings.append(Finding(CoverageKind.NO_BOUNDARY, 0.0, grid_a=grid_id))
        else:
            ids.append(grid_id)
            shapes.append(shape(boundary))
    if shapes:
        tree = shapely.STRtree(shapes)
        left, right = tree.query(shapes, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i >= j:
                continue
            overlap = _polygonal(shapes[i].intersection(shapes[j]))
            if overlap.is_empty:
                continue
            area = area_m2(overlap)
            if area > tolerance:
                findings.append(
                    Finding(
                        CoverageKind.OVERLAP, round(area, 1), ids[i], ids[j], dict(mapping(overlap))
                    )
                )
    if community_boundary is not None and shapes:
        gap = _polygonal(shape(community_boundary).difference(shapely.union_all(shapes)))
        for part in getattr(gap, "geoms", [gap]):
            if part.is_empty:
                continue
            area = area_m2(part)
            if area > tolerance:
                findings.append(
                    Finding(CoverageKind.GAP, round(area, 1), geometry=dict(mapping(part)))
                )
    return findings


def refresh(parent_ids: Iterable[int], *, batch: int = 500) -> int:
    """Re-check the given communities and replace their stored findings (derived data, so not
    audited). Returns the number of issues found."""
    version = versioning.current(STAMP)
    found = 0
    ids = sorted(set(parent_ids))
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        parents = list(Division.objects.filter(pk__in=chunk, level=Level.COMMUNITY, is_active=True))
        grids: dict[int, list[tuple[int, dict[str, Any] | None]]] = {p.pk: [] for p in parents}
        rows = Division.objects.filter(parent_id__in=chunk, level=Level.GRID, is_active=True)
        for grid_id, parent_id, boundary in rows.values_list("id", "parent_id", "boundary"):
            grids[parent_id].append((grid_id, boundary))
        issues: list[CoverageIssue] = []
        for parent in parents:
            for f in check_community(parent.boundary, grids[parent.pk]):
                issues.append(
                    CoverageIssue(
                        parent=parent,
                        division_path=parent.path,
                        kind=f.kind,
                        grid_a_id=f.grid_a,
                        grid_b_id=f.grid_b,
                        area_m2=f.area_m2,
                        geometry=f.geometry,
                    )
                )
        now = timezone.now()
        with transaction.atomic():
            CoverageIssue.objects.filter(parent_id__in=chunk).delete()
            CoverageIssue.objects.bulk_create(issues, batch_size=500)
            CoverageCheck.objects.filter(division_id__in=chunk).delete()
            CoverageCheck.objects.bulk_create(
                CoverageCheck(
                    division=p, division_path=p.path, checked_at=now, boundary_version=version
                )
                for p in parents
            )
        found += len(issues)
    return found


def communities_under(path: str) -> list[int]:
    from civicgrid.core.paths import subtree_q

    return list(
        Division.objects.filter(
            subtree_q("path", path), level=Level.COMMUNITY, is_active=True
        ).values_list("id", flat=True)
    )
