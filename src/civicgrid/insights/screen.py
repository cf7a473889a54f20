"""The data of the big command-centre screen, as one JSON bundle per area.

The screen fetches this every minute and whenever it drills down, so everything it shows comes
from one request: KPI tiles against the previous period, a trend, the major classes, the
ranking and the map of the subordinate divisions, and the live, new and overdue cases. Figures
come from `query.figures` (rollups where they apply); the case lists are small, newest-first
slices of the case table. No personal data: no reporter, no phone, no address — a wall screen
is seen by visitors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from shapely.geometry import mapping, shape
from shapely.ops import unary_union

from civicgrid.cases.choices import OPEN, SlaState, Status
from civicgrid.cases.models import Case
from civicgrid.core.paths import subtree_q
from civicgrid.geo import coords
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from . import kpis
from .query import KpiQuery, Period, Row, areas_for, figures

TILES = (
    "reported",
    "closed",
    "open",
    "overdue",
    "closure_rate",
    "on_time_rate",
    "satisfaction_rate",
    "avg_handling_hours",
)
# KPIs the ranking and the map can be coloured by (the screen's ?kpi=).
RANKABLE = (
    "closure_rate",
    "on_time_rate",
    "satisfaction_rate",
    "three_rates",
    "response_rate",
    "return_rate",
    "rework_rate",
    "self_resolution_rate",
    "avg_handling_hours",
    "reported",
    "open",
    "overdue",
)
DEFAULT_KPI = "closure_rate"
LIVE_LIMIT = 200
OVERDUE_LIMIT = 50
NEW_LIMIT = 30
TREND_DAYS = 30
TREND_MONTHS = 12
# Above this many grids a missing boundary is not patched up from the grids (too slow per
# request); real installations import every level's boundary.
UNION_LIMIT = 3000


def bundle(
    user: Any, query: KpiQuery, *, kpi: str = DEFAULT_KPI, trend: str = "day", crs: str = "wgs84"
) -> dict[str, Any]:
    area = query.area
    children = _children(area)
    main = figures(user, replace(query, group="child" if children else "", level=None))
    by_path = {r.division.path: r for r in main.rows if r.division is not None}
    ranked = _ranking(children, by_path, kpi)
    return {
        "area": _area(area),
        "crumbs": _crumbs(user, area),
        "up": _up(user, area),
        "period": {
            "kind": query.period.kind,
            "label": query.period.label(),
            "start": query.period.start.isoformat(),
            "end": query.period.end.isoformat(),
            "previous": query.period.previous().label(),
        },
        "asOf": timezone.localtime(main.as_of).isoformat(timespec="seconds"),
        "source": main.source,
        "kpi": _kpi(kpi),
        "tiles": [_tile(name, main.total, main.previous) for name in TILES],
        "trend": _trend(user, query, trend),
        "categories": _categories(user, query),
        "ranking": ranked,
        "map": _map(area, children, by_path, kpi, crs),
        "cases": _cases(user, area, crs),
    }


# --- figures ------------------------------------------------------------------------------------
def _kpi(name: str) -> dict[str, Any]:
    kpi = kpis.KPIS[name]
    return {"key": kpi.key, "label": str(kpi.label), "kind": kpi.kind, "better": kpi.better}


def _tile(name: str, total: Row, previous: Row | None) -> dict[str, Any]:
    return {
        **_kpi(name),
        "value": total.values.get(name),
        "previous": previous.values.get(name) if previous else None,
    }


def _trend(user: Any, query: KpiQuery, unit: str) -> dict[str, Any]:
    """Reported and closed cases over the last 30 days (or 12 months) up to the period's end."""
    end = min(query.period.end, timezone.localdate())
    if unit == "month":
        start = end.replace(day=1)
        for _i in range(TREND_MONTHS - 1):
            start = (start - dt.timedelta(days=1)).replace(day=1)
        keys = []
        day = start
        while day <= end:
            keys.append(day)
            day = (day + dt.timedelta(days=32)).replace(day=1)
        labels = [f"{d:%Y-%m}" for d in keys]
    else:
        unit = "day"
        start = end - dt.timedelta(days=TREND_DAYS - 1)
        keys = [start + dt.timedelta(days=i) for i in range(TREND_DAYS)]
        labels = [f"{d:%m-%d}" for d in keys]
    found = figures(
        user,
        replace(query, period=Period("custom", start, end), group=unit, level=None),
        compare=False,
    )
    rows = {r.key: r for r in found.rows}
    series = []
    for name in ("reported", "closed", "overdue"):
        data = [
            rows[d.isoformat()].counters.get(name, 0) if d.isoformat() in rows else 0 for d in keys
        ]
        series.append({"key": name, "label": str(kpis.KPIS[name].label), "data": data})
    return {"unit": unit, "labels": labels, "series": series}


def _categories(user: Any, query: KpiQuery) -> list[dict[str, Any]]:
    found = figures(user, replace(query, group="major", level=None), compare=False)
    rows = [
        {"code": r.key, "label": r.label, "value": r.counters.get("reported", 0)}
        for r in found.rows
        if r.counters.get("reported")
    ]
    return sorted(rows, key=lambda r: -r["value"])


def _children(area: Division) -> list[Division]:
    if area.level >= Level.GRID:
        return []
    return list(Division.objects.filter(parent=area, is_active=True).order_by("code"))


def _ranking(children: list[Division], by_path: dict[str, Row], kpi: str) -> dict[str, Any]:
    """Every subordinate division by the chosen KPI, best first; no figure: last."""
    definition = kpis.KPIS[kpi]
    empty = kpis.values(kpis.empty())
    rows: list[dict[str, Any]] = []
    for child in children:
        row = by_path.get(child.path)
        values = row.values if row else empty
        counters = row.counters if row else kpis.empty()
        rows.append(
            {
                "code": child.code,
                "name": child.name,
                "level": child.level,
                "value": values.get(kpi),
                "reported": counters.get("reported", 0),
                "overdue": counters.get("overdue", 0),
            }
        )
    sign = -1 if definition.better == "higher" else 1
    rows.sort(key=lambda r: (r["value"] is None, sign * (r["value"] or 0), r["code"]))
    for rank, item in enumerate(rows, start=1):
        item["rank"] = rank
    return {**_kpi(kpi), "rows": rows}


# --- the map ------------------------------------------------------------------------------------
def _map(
    area: Division, children: list[Division], by_path: dict[str, Row], kpi: str, crs: str
) -> dict[str, Any]:
    """The subordinate divisions' outlines (or the area's own, at a grid), with their figure."""
    shown = children or [area]
    tolerance = _tolerance(area)
    features = []
    bounds: list[tuple[float, float, float, float]] = []
    for division in shown:
        geometry = division.boundary or _patched(division)
        if not geometry:
            continue
        outline = shape(geometry)
        if tolerance > 0:
            outline = outline.simplify(tolerance, preserve_topology=True)
        bounds.append(outline.bounds)
        geojson: dict[str, Any] = dict(mapping(outline))
        if crs == "gcj02":
            geojson = coords.transform_geometry(geojson, coords.wgs84_to_gcj02)
        row = by_path.get(division.path)
        features.append(
            {
                "type": "Feature",
                "id": division.code,
                "geometry": geojson,
                "properties": {
                    "code": division.code,
                    "name": division.name,
                    "level": division.level,
                    "value": row.values.get(kpi) if row else None,
                    "reported": row.counters.get("reported", 0) if row else 0,
                    "drill": division.pk != area.pk,
                },
            }
        )
    bbox = None
    if bounds:
        bbox = [
            min(b[0] for b in bounds),
            min(b[1] for b in bounds),
            max(b[2] for b in bounds),
            max(b[3] for b in bounds),
        ]
        if crs == "gcj02":
            bbox = [
                *coords.wgs84_to_gcj02(bbox[0], bbox[1]),
                *coords.wgs84_to_gcj02(bbox[2], bbox[3]),
            ]
    return {"type": "FeatureCollection", "features": features, "bbox": bbox}


def _tolerance(area: Division) -> float:
    # About a thousandth of the area's extent: invisible on the screen, a fraction of the bytes.
    if area.min_lng is None or area.max_lng is None or area.min_lat is None or area.max_lat is None:
        return 0.0
    return max(area.max_lng - area.min_lng, area.max_lat - area.min_lat) / 1000


def _patched(division: Division) -> dict[str, Any] | None:
    """A division without its own boundary: the union of its grids' (when few enough)."""
    grids = Division.objects.filter(
        subtree_q("path", division.path), level=Level.GRID, is_active=True, boundary__isnull=False
    ).values_list("boundary", flat=True)
    outlines = [shape(b) for b in grids[: UNION_LIMIT + 1]]
    if not outlines or len(outlines) > UNION_LIMIT:
        return None
    return dict(mapping(unary_union(outlines)))


# --- the cases ----------------------------------------------------------------------------------
def _cases(user: Any, area: Division, crs: str) -> dict[str, list[dict[str, Any]]]:
    here: QuerySet[Case] = (
        Case.objects.restrict(user)
        .filter(subtree_q("division_path", area.path))
        .select_related("category", "division")
    )
    open_cases = here.filter(status__in=OPEN)
    live = open_cases.filter(lat__isnull=False, lng__isnull=False).order_by("-reported_at", "-pk")
    overdue = open_cases.filter(sla_state=SlaState.RED).order_by("stage_due", "pk")
    new = here.exclude(status=Status.MERGED).order_by("-reported_at", "-pk")
    return {
        "live": [_case(c, crs) for c in live[:LIVE_LIMIT]],
        "overdue": [_case(c, crs) for c in overdue[:OVERDUE_LIMIT]],
        "new": [_case(c, crs) for c in new[:NEW_LIMIT]],
    }


def _case(case: Case, crs: str) -> dict[str, Any]:
    lat, lng = case.lat, case.lng
    if crs == "gcj02" and lat is not None and lng is not None:
        lng, lat = coords.wgs84_to_gcj02(lng, lat)
    return {
        "id": case.pk,
        "number": case.number,
        "title": case.title,
        "category": case.category.label,
        "place": case.division.name,
        "status": case.status,
        "statusLabel": str(case.get_status_display()),
        "overdue": case.status in OPEN and case.sla_state == SlaState.RED,
        "reportedAt": timezone.localtime(case.reported_at).isoformat(timespec="minutes"),
        "due": timezone.localtime(case.stage_due).isoformat(timespec="minutes")
        if case.stage_due
        else None,
        "lat": lat,
        "lng": lng,
    }


# --- where we are -------------------------------------------------------------------------------
def _area(area: Division) -> dict[str, Any]:
    return {
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "levelLabel": str(Level(area.level).label),
        "isGrid": area.level >= Level.GRID,
    }


def _roots(user: Any) -> list[str]:
    return [d.path for d in areas_for(user)]


def _crumbs(user: Any, area: Division) -> list[dict[str, str]]:
    roots = _roots(user)
    chain = [d for d in area.ancestors() if any(d.path.startswith(r) for r in roots)]
    return [{"code": d.code, "name": d.name} for d in [*chain, area]]


def _up(user: Any, area: Division) -> dict[str, str] | None:
    parent = area.parent
    if parent is None or not any(parent.path.startswith(r) for r in _roots(user)):
        return None
    return {"code": parent.code, "name": parent.name}
