"""Reads that need logic, always starting from what the user may see."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from shapely.geometry import mapping, shape

from civicgrid.core.scoping import Action

from . import coords
from .choices import SizingStatus
from .models import CoverageIssue, Division, Grid


def visible_grids(user: Any) -> QuerySet[Grid]:
    return (
        Grid.objects.restrict(user, Action.VIEW)
        .filter(division__is_active=True)
        .select_related("division", "division__parent")
        .with_sizing()
        .order_by("division__path")
    )


def with_workers(grids: list[Grid]) -> list[Grid]:
    """Attach `worker_list` (active grid workers) to each grid with one query."""
    from civicgrid.accounts.models import RoleAssignment
    from civicgrid.accounts.roles import Role

    by_division: dict[int, list[Any]] = {g.pk: [] for g in grids}
    assignments = RoleAssignment.objects.filter(
        role=Role.GRID_WORKER, division_id__in=list(by_division), user__is_active=True
    ).select_related("user")
    for a in assignments:
        by_division[a.division_id].append(a.user)
    for g in grids:
        g.worker_list = by_division[g.pk]  # type: ignore[attr-defined]
    return grids


def sizing_summary(grids: QuerySet[Grid]) -> dict[str, int]:
    counts = dict(grids.order_by().values_list("sizing").annotate(n=Count("pk")))  # type: ignore[misc]  # annotated by with_sizing()
    return {status: int(counts.get(status, 0)) for status in SizingStatus.values}


def coverage_summary(issues: QuerySet[CoverageIssue]) -> dict[str, int]:
    return {k: int(v) for k, v in issues.order_by().values_list("kind").annotate(n=Count("pk"))}


def feature_collection(
    grids: QuerySet[Grid], *, crs: str = "wgs84", simplify_m: float = 0.0
) -> dict[str, Any]:
    """Grids as a GeoJSON FeatureCollection for the map (properties carry sizing status)."""
    features = []
    tolerance = simplify_m / 111_320.0
    for grid in grids.filter(division__boundary__isnull=False):
        division = grid.division
        geometry: dict[str, Any] = division.boundary or {}
        if tolerance > 0:
            geometry = dict(mapping(shape(geometry).simplify(tolerance, preserve_topology=True)))
        if crs == "gcj02":
            geometry = coords.transform_geometry(geometry, coords.wgs84_to_gcj02)
        features.append(
            {
                "type": "Feature",
                "id": division.pk,
                "geometry": geometry,
                "properties": {
                    "id": division.pk,
                    "code": division.code,
                    "name": division.name,
                    "community": division.parent.name if division.parent else "",
                    "kind": grid.kind,
                    "setting": grid.setting,
                    "households": grid.households,
                    "residents": grid.residents,
                    "sizing": grid.sizing,  # type: ignore[attr-defined]
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def children_of(user: Any, division: Division) -> QuerySet[Division]:
    return (
        Division.objects.restrict(user, Action.VIEW)
        .filter(parent=division, is_active=True)
        .order_by("code")
    )


def roots_for(user: Any) -> list[Division]:
    """The highest divisions the user can see: where their browsing starts."""
    paths = user.scope_paths("geo", Action.VIEW)
    qs = Division.objects.filter(is_active=True)
    if paths is None:
        return list(qs.filter(parent__isnull=True).order_by("code"))
    return list(qs.filter(path__in=paths).order_by("path"))
