"""The centre's view of field work (外勤走访): who visited whom, which care-group members are
overdue, which grid workers did not patrol, and the tracks on a map.

- `/field/duties/`: every grid worker of the user's area (or a subtree of it) for a month, with
  an Excel export;
- `/field/workers/<id>/`: one worker's visits, patrols (tracks on a map) and check-ins;
- the "Field work" card of a grid's page (`grid_card`, included by geo's division page).

Photos open through the API's file view (`/api/v1/field/photos/<id>/file/`), which checks the
same scope.

The figures come from fieldwork/duties.py, shared with the API and the command; records are
read through `restrict(user)`, so a township sees its own subtree and nothing else (404).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.models import RoleAssignment, User
from civicgrid.accounts.roles import DataClass
from civicgrid.core.paths import any_subtree_q, is_under
from civicgrid.core.scoping import Action, require
from civicgrid.geo import coords
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.insights.query import Period
from civicgrid.insights.tables import xlsx_response
from civicgrid.registry.models import CareTag
from civicgrid.web.typing import AuthedRequest

from .. import duties as d
from ..choices import FIELD_ROLES
from ..models import CheckIn, Patrol, Visit

PAGE_SIZE = 100
# Which rows the duties page shows.
SHOW = (
    ("", gettext_lazy("everyone")),
    ("no_patrol", gettext_lazy("no patrol this month")),
    ("behind", gettext_lazy("visits behind")),
    ("inactive", gettext_lazy("no activity this month")),
    ("unstaffed", gettext_lazy("grids without a grid worker")),
)
# At most this many patrols are drawn on a map, each with at most this many points: a month's
# tracks of a busy grid would otherwise weigh megabytes.
MAX_TRACKS = 60
MAX_TRACK_POINTS = 400
RECENT = 8


def require_field(user: Any) -> None:
    """The whole page belongs to roles that see field work (others: 403, like every page)."""
    require(user, DataClass.FIELD, Action.VIEW, _("Your roles do not include field work."))


def _errors(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {k: [str(m) for m in v] for k, v in error.message_dict.items()}
    return {"__all__": [str(m) for m in error.messages]}


def _month_input(period: Period | None, raw: str) -> str:
    return f"{period.start:%Y-%m}" if period is not None else raw


def _shift(period: Period, months: int) -> str:
    day = period.start
    if months < 0:
        day = (day - dt.timedelta(days=1)).replace(day=1)
    else:
        day = (period.end + dt.timedelta(days=1)).replace(day=1)
    return f"{day:%Y-%m}"


# --- the duties page ----------------------------------------------------------------------------
@login_required
def duties_page(request: AuthedRequest) -> HttpResponse:
    user = request.user
    require_field(user)
    params = {k: request.GET.get(k, "").strip()[:40] for k in ("under", "month", "show")}
    errors: dict[str, list[str]] = {}
    area: Division | None = None
    period: Period | None = None
    try:
        area = d.area_for(user, params["under"])
    except ValidationError as error:
        errors.update(_errors(error))
    try:
        period = d.month_period(params["month"])
    except ValidationError as error:
        errors.update(_errors(error))
    if params["show"] not in dict(SHOW):
        errors["show"] = [_("Choose one of the listed views.")]
    context: dict[str, Any] = {
        "params": params,
        "errors": errors,
        "other_errors": [(k, v) for k, v in errors.items() if k not in params],
        "show_choices": SHOW,
        "month_value": _month_input(period, params["month"]),
        "area": area,
        "division_options": division_options(user, area) if area is not None else [],
    }
    if errors or area is None or period is None:
        return render(request, "fieldwork/duties.html", context, status=400)
    found = d.duties(area, period)
    rows = _shown(found.rows, params["show"])
    if request.GET.get("format") == "xlsx":
        return export(found, rows)
    base = {"under": area.code, "month": found.month, "show": params["show"]}
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context.update(
        {
            "found": found,
            "total": found.total,
            "total_rate": percent(found.total.visits_rate),
            "page_obj": page,
            "rows": [_row_view(r, found.month) for r in page],
            "crumbs": crumbs(user, area, found.month),
            "export_url": _url("fieldwork:duties", {**base, "format": "xlsx"}),
            "previous_url": _url("fieldwork:duties", {**base, "month": _shift(period, -1)}),
            "next_url": _url("fieldwork:duties", {**base, "month": _shift(period, 1)})
            if period.end < timezone.localdate()
            else "",
            "overdue_url": _care_url(area, user),
            "show_urls": {
                key: _url("fieldwork:duties", {**base, "show": key}) for key, _label in SHOW
            },
        }
    )
    return render(request, "fieldwork/duties.html", context)


def _shown(rows: list[d.DutyRow], show: str) -> list[d.DutyRow]:
    if show == "no_patrol":
        return [r for r in rows if r.worker is not None and r.assigned and not r.patrols]
    if show == "behind":
        return [r for r in rows if r.behind]
    if show == "inactive":
        return [
            r
            for r in rows
            if r.worker is not None and not (r.visits or r.patrols or r.check_ins or r.visits_done)
        ]
    if show == "unstaffed":
        return [r for r in rows if r.unstaffed]
    return rows


def _row_view(row: d.DutyRow, month: str) -> dict[str, Any]:
    return {
        "row": row,
        "name": d.worker_name(row),
        "worker_url": _url("fieldwork:worker", {"month": month}, args=[row.worker.pk])
        if row.worker is not None
        else "",
        "grid_url": reverse("geo:division", args=[row.grid.pk]),
        "rate": percent(row.visits_rate),
    }


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _url(name: str, params: dict[str, Any], *, args: Iterable[Any] = ()) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    url = reverse(name, args=list(args))
    return f"{url}?{urlencode(clean)}" if clean else url


def _care_url(area: Division, user: Any) -> str:
    """The registry's list of the area's overdue care-group members, for those who read it."""
    paths = user.scope_paths(DataClass.REGISTRY, Action.VIEW)
    if paths is not None and not any(is_under(area.path, p) for p in paths):
        return ""
    return _url("registry:list", {"under": area.code, "due": "overdue"}, args=["care_tag"])


def export(found: d.Duties, rows: list[d.DutyRow]) -> HttpResponse:
    header = [
        _("Grid code"),
        _("Grid"),
        _("Grid worker"),
        _("Username"),
        _("Assignment"),
        _("Visits due"),
        _("Visits done"),
        _("Visits done ÷ due (%)"),
        _("Visits (all)"),
        _("Patrols"),
        _("Patrol hours"),
        _("Check-ins"),
        _("Check-ins outside the grid"),
        _("Last activity"),
        _("Care members overdue now"),
    ]
    assigned, helping = _("assigned"), _("helping out")

    def line(r: d.DutyRow) -> list[Any]:
        rate = r.visits_rate
        return [
            r.grid.code,
            r.grid.name,
            d.worker_name(r),
            r.worker.username if r.worker else "",
            assigned if r.assigned else helping,
            r.visits_due,
            r.visits_done,
            None if rate is None else round(rate * 100, 1),
            r.visits,
            r.patrols,
            round(r.patrol_hours, 2),
            r.check_ins,
            r.check_ins_outside,
            r.last_activity,
            r.overdue_members,
        ]

    t = found.total
    total_rate = t.visits_rate
    lines = [line(r) for r in rows]
    lines.append(
        [
            found.area.code,
            f"{_('Total')} · {found.area.name}",
            _("%(n)d grid workers") % {"n": t.workers},
            "",
            "",
            t.visits_due,
            t.visits_done,
            None if total_rate is None else round(total_rate * 100, 1),
            t.visits,
            t.patrols,
            round(t.patrol_hours, 2),
            t.check_ins,
            t.check_ins_outside,
            None,
            t.overdue_members,
        ]
    )
    name = f"{_('field-duties')}-{found.area.name}-{found.month}"
    return xlsx_response(name, header, lines)


def crumbs(user: Any, area: Division, month: str) -> list[dict[str, str]]:
    chain = [a for a in [*area.ancestors(), area] if d.in_scope(user, a.path)]
    return [
        {"name": a.name, "url": _url("fieldwork:duties", {"under": a.code, "month": month})}
        for a in chain
    ]


def division_options(user: Any, area: Division) -> list[tuple[str, str]]:
    """The divisions the filter offers: the user's areas, the way down to this one, its
    children."""
    options: dict[str, str] = {}
    for root in d.areas_for(user):
        options[root.code] = root.name
    for node in area.ancestors():
        if d.in_scope(user, node.path):
            options[node.code] = "↑ " + node.name
    options[area.code] = area.name
    if area.level < Level.GRID:
        children = Division.objects.filter(parent=area, is_active=True).defer("boundary")
        for child in children.order_by("code"):
            options[child.code] = "↳ " + child.name
    return list(options.items())


# --- one worker ---------------------------------------------------------------------------------
def visible_worker(viewer: Any, pk: int) -> User:
    """A person the viewer may follow: holding a field role, or having recorded field work, in
    the viewer's area. Anyone else is 404, as if they did not exist."""
    worker = get_object_or_404(User, pk=pk)
    paths = viewer.scope_paths(DataClass.FIELD, Action.VIEW)
    if paths is None:
        return worker
    where = any_subtree_q("division_path", paths)
    if where is None:
        raise Http404
    if RoleAssignment.objects.filter(where, user=worker, role__in=FIELD_ROLES).exists():
        return worker
    for model in (Visit, Patrol, CheckIn):
        if model.objects.restrict(viewer).filter(worker=worker).exists():
            return worker
    raise Http404


@login_required
def worker_page(request: AuthedRequest, pk: int) -> HttpResponse:
    viewer = request.user
    require_field(viewer)
    worker = visible_worker(viewer, pk)
    raw = request.GET.get("month", "").strip()[:40]
    context: dict[str, Any] = {"worker": worker, "params": {"month": raw}, "month_value": raw}
    try:
        period = d.month_period(raw)
    except ValidationError as error:
        context["errors"] = _errors(error)
        return render(request, "fieldwork/worker.html", context, status=400)
    start, end = period.bounds()
    month = f"{period.start:%Y-%m}"
    rows = d.worker_duties(viewer, worker, period)
    visits = list(
        Visit.objects.restrict(viewer)
        .filter(worker=worker, visited_at__gte=start, visited_at__lt=end)
        .select_related("division", "household", "resident", "care_tag")
        .prefetch_related("photos")
        .order_by("-visited_at", "-id")[:500]
    )
    patrols = list(
        Patrol.objects.restrict(viewer)
        .filter(worker=worker, started_at__gte=start, started_at__lt=end)
        .select_related("division", "worker")
        .prefetch_related("photos")
        .order_by("-started_at", "-id")[:200]
    )
    for patrol in patrols:
        patrol.km = patrol.distance_m / 1000
    check_ins = list(
        CheckIn.objects.restrict(viewer)
        .filter(worker=worker, at__gte=start, at__lt=end)
        .select_related("division")
        .order_by("-at", "-id")[:500]
    )
    assigned = [r.grid for r in rows if r.assigned]
    overdue = list(
        CareTag.objects.restrict(viewer)
        .filter(
            division_path__in=[g.path for g in assigned],
            is_active=True,
            next_visit_due__lt=timezone.localdate(),
        )
        .select_related("resident", "division")
        .order_by("next_visit_due", "id")[:100]
    )
    grids = [r.grid for r in rows]
    totals = _sum_rows(rows)
    base = {"month": month}
    context.update(
        {
            "period": period,
            "month": month,
            "month_value": month,
            "rows": [_row_view(r, month) for r in rows],
            "totals": totals,
            "totals_rate": percent(totals.visits_rate),
            "visits": [_visit_view(v, viewer) for v in visits],
            "patrols": patrols,
            "check_ins": check_ins,
            "overdue": overdue,
            "today": timezone.localdate(),
            "registry_paths": viewer.scope_paths(DataClass.REGISTRY, Action.VIEW),
            "layers": map_layers(grids, patrols, visits, check_ins, holder="cg-field-map"),
            "previous_url": _url("fieldwork:worker", {"month": _shift(period, -1)}, args=[pk]),
            "next_url": _url("fieldwork:worker", {"month": _shift(period, 1)}, args=[pk])
            if period.end < timezone.localdate()
            else "",
            "duties_url": _url(
                "fieldwork:duties",
                {**base, "under": grids[0].code if len(grids) == 1 else ""},
            ),
        }
    )
    return render(request, "fieldwork/worker.html", context)


def _sum_rows(rows: list[d.DutyRow]) -> d.Totals:
    total = d.Totals(grids=len(rows))
    for r in rows:
        total.visits_due += r.visits_due or 0
        total.visits_done += r.visits_done
        total.visits += r.visits
        total.patrols += r.patrols
        total.patrol_minutes += r.patrol_minutes
        total.check_ins += r.check_ins
        total.check_ins_outside += r.check_ins_outside
        if r.assigned:
            total.overdue_members += r.overdue_members
    return total


def _visit_view(visit: Visit, viewer: Any) -> dict[str, Any]:
    """Whom a visit was for, named and linked only for those who read basic information."""
    paths = viewer.scope_paths(DataClass.REGISTRY, Action.VIEW)
    readable = paths is None or any(is_under(visit.division_path, p) for p in paths)
    whom, url = "", ""
    if readable and visit.resident is not None:
        whom = visit.resident.name
        url = reverse("registry:record", args=["resident", visit.resident_id])
    elif readable and visit.household is not None:
        whom = _("household of %(name)s") % {"name": str(visit.household)}
        url = reverse("registry:record", args=["household", visit.household_id])
    return {
        "visit": visit,
        "whom": whom,
        "url": url,
        "care": visit.care_tag.get_group_display() if visit.care_tag else "",
    }


# --- the grid card ------------------------------------------------------------------------------
def grid_card(user: Any, division: Division) -> dict[str, Any] | None:
    """This month's field work of a grid for its page, or None for a user who does not see
    field work there (the card is then left out)."""
    if division.level != Level.GRID or not d.in_scope(user, division.path):
        return None
    period = d.month_period()
    start, end = period.bounds()
    month = f"{period.start:%Y-%m}"
    found = d.duties(division, period)
    grid_only = Q(division=division)
    visits = list(
        Visit.objects.restrict(user)
        .filter(grid_only)
        .select_related("worker", "resident", "household", "care_tag")
        .order_by("-visited_at", "-id")[:RECENT]
    )
    recent_patrols = list(
        Patrol.objects.restrict(user)
        .filter(grid_only)
        .select_related("worker")
        .defer("track")
        .order_by("-started_at", "-id")[:RECENT]
    )
    check_ins = list(
        CheckIn.objects.restrict(user)
        .filter(grid_only)
        .select_related("worker")
        .order_by("-at", "-id")[:RECENT]
    )
    tracks = list(
        Patrol.objects.restrict(user)
        .filter(grid_only, started_at__gte=start, started_at__lt=end)
        .select_related("worker")
        .order_by("-started_at", "-id")[:MAX_TRACKS]
    )
    month_visits = list(
        Visit.objects.restrict(user)
        .filter(grid_only, visited_at__gte=start, visited_at__lt=end, lat__isnull=False)
        .select_related("worker")
        .order_by("-visited_at")[:500]
    )
    return {
        "found": found,
        "total": found.total,
        "rate": percent(found.total.visits_rate),
        "month": month,
        "rows": [_row_view(r, month) for r in found.rows],
        "visits": [_visit_view(v, user) for v in visits],
        "patrols": recent_patrols,
        "check_ins": check_ins,
        "duties_url": _url("fieldwork:duties", {"under": division.code, "month": month}),
        "overdue_url": _care_url(division, user),
        "layers": map_layers([], tracks, month_visits, [], holder="cg-map"),
    }


# --- map layers ---------------------------------------------------------------------------------
def _display_crs() -> str:
    # The same rule as the grid maps: positions move to GCJ-02 only under a GCJ-02 basemap.
    return settings.MAP_TILE_CRS if settings.MAP_TILE_URL else "wgs84"


def _point(lat: float, lng: float, crs: str) -> list[float]:
    if crs == "gcj02":
        lng, lat = coords.wgs84_to_gcj02(lng, lat)
    return [round(lat, 6), round(lng, 6)]


def thin(track: list[Any], limit: int = MAX_TRACK_POINTS) -> list[list[float]]:
    """A track's positions as [lat, lng], thinned to at most `limit` (ends kept): the map
    needs its shape, not every fix of a 15-second GPS log."""
    points = [p for p in track if isinstance(p, list | tuple) and len(p) >= 2]
    if len(points) <= limit:
        return [[float(p[0]), float(p[1])] for p in points]
    step = (len(points) - 1) / (limit - 1)
    picked = [points[round(i * step)] for i in range(limit)]
    return [[float(p[0]), float(p[1])] for p in picked]


def map_layers(
    grids: list[Division],
    patrols: list[Patrol],
    visits: list[Visit],
    check_ins: list[CheckIn],
    *,
    holder: str,
) -> dict[str, Any]:
    """What centre.js draws: grid outlines, patrol tracks, visit and check-in positions."""
    crs = _display_crs()
    outlines = []
    for grid in grids:
        if grid.boundary is None:
            boundary = Division.objects.filter(pk=grid.pk).values_list("boundary", flat=True)
            geometry = boundary.first()
        else:
            geometry = grid.boundary
        if geometry:
            if crs == "gcj02":
                geometry = coords.transform_geometry(geometry, coords.wgs84_to_gcj02)
            outlines.append({"name": grid.name, "geometry": geometry})
    tracks = []
    for patrol in patrols[:MAX_TRACKS]:
        points = [_point(lat, lng, crs) for lat, lng in thin(patrol.track)]
        if len(points) < 2:
            continue
        local = timezone.localtime(patrol.started_at)
        tracks.append(
            {
                "id": patrol.pk,
                "label": f"{patrol.worker.display_name} · {local:%m-%d %H:%M} · "
                + _("%(minutes)d min, %(km).1f km")
                % {"minutes": patrol.minutes, "km": patrol.distance_m / 1000},
                "points": points,
            }
        )
    visit_points = [
        {
            "at": _point(v.lat, v.lng, crs),
            "label": f"{v.get_purpose_display()} · {timezone.localtime(v.visited_at):%m-%d %H:%M}",
        }
        for v in visits
        if v.lat is not None and v.lng is not None
    ]
    check_in_points = [
        {
            "at": _point(c.lat, c.lng, crs),
            "inside": c.inside_grid,
            "label": f"{_('check-in')} · {timezone.localtime(c.at):%m-%d %H:%M}"
            + ("" if c.inside_grid else f" · {_('outside the grid')}"),
        }
        for c in check_ins
    ]
    return {
        "holder": holder,
        "grids": outlines,
        "tracks": tracks,
        "visits": visit_points,
        "checkIns": check_in_points,
        "tile": {
            "url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
            "crs": crs,
        },
        "labels": {
            "noBasemap": _("No basemap: grids are drawn as vector shapes (intranet mode)."),
            "tracks": _("patrol tracks"),
            "visits": _("visits"),
            "checkIns": _("check-ins"),
            "nothing": _("No patrol, visit or check-in with a position this month."),
        },
    }
