"""The big command-centre screen (1920×1080, dark, scaled to the display) and its JSON.

The page is a shell: screen.js fetches `screen-data` for the current area every minute and on
every drill-down, without reloading, so a wall display can run for days.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from civicgrid.web.typing import AuthedRequest

from .. import kpis
from .. import screen as data
from . import parse, require_insights, url_with

REFRESH_SECONDS = 60
TRENDS = ("day", "month")


def _crs() -> str:
    return settings.MAP_TILE_CRS if settings.MAP_TILE_URL else "wgs84"


def _options(request: AuthedRequest) -> tuple[str, str, dict[str, list[str]]]:
    kpi = request.GET.get("kpi") or data.DEFAULT_KPI
    trend = request.GET.get("trend") or "day"
    errors: dict[str, list[str]] = {}
    if kpi not in data.RANKABLE:
        errors["kpi"] = [_("Not a figure the screen can rank by.")]
    if trend not in TRENDS:
        errors["trend"] = [_("Choose day or month.")]
    return kpi, trend, errors


def _query_data(request: AuthedRequest) -> dict[str, str]:
    # The screen is about the area, not a grouping: the bundle chooses its own groupings.
    params = request.GET.dict()
    params.pop("group", None)
    params.pop("level", None)
    return params


@login_required
def screen(request: AuthedRequest) -> HttpResponse:
    require_insights(request.user)
    query, errors = parse(request.user, _query_data(request))  # out of scope: 404 here
    kpi, trend, more = _options(request)
    errors.update(more)
    params = {k: request.GET.get(k, "") for k in ("period", "date", "from", "to", "category")}
    config: dict[str, Any] = {
        "dataUrl": reverse("insights:screen-data"),
        "caseUrl": reverse("cases:case", args=[0]),
        "dashboardUrl": reverse("insights:dashboard"),
        "division": query.area.code if query else request.GET.get("division", ""),
        "kpi": kpi if "kpi" not in errors else data.DEFAULT_KPI,
        "trend": trend if "trend" not in errors else "day",
        "params": {k: v for k, v in params.items() if v},
        "refreshSeconds": REFRESH_SECONDS,
        "kpis": [{"key": k, "label": str(kpis.KPIS[k].label)} for k in data.RANKABLE],
        "tile": {
            "url": settings.MAP_TILE_URL,
            "attribution": settings.MAP_TILE_ATTRIBUTION,
            "crs": _crs(),
        },
        "labels": {
            "up": _("Up"),
            "previous": _("previous period"),
            "noFigure": "—",
            "hours": _("h"),
            "pp": pgettext("percentage points", "pp"),
            "reported": _("reported"),
            "overdue": _("overdue"),
            "new": _("new"),
            "due": _("due"),
            "loading": _("Loading…"),
            "failed": _("The figures could not be loaded; retrying."),
            "updated": _("updated"),
            "rollup": _("from the rollups"),
            "live": _("live"),
            "openCases": _("open cases"),
            "noCases": _("No new or overdue cases."),
            "noChildren": _("No subordinate divisions: this is a grid."),
            "noBasemap": _("No basemap: divisions are drawn as vector shapes."),
        },
    }
    return render(
        request,
        "insights/screen.html",
        {
            "config": config,
            "errors": errors,
            "dashboard_url": url_with("insights:dashboard", {"division": config["division"]}),
        },
    )


@login_required
def screen_data(request: AuthedRequest) -> JsonResponse:
    """Everything the screen shows for one area (see insights/screen.py)."""
    require_insights(request.user)
    query, errors = parse(request.user, _query_data(request))
    kpi, trend, more = _options(request)
    errors.update(more)
    if errors or query is None:
        return JsonResponse({"errors": errors}, status=400)
    payload = data.bundle(request.user, query, kpi=kpi, trend=trend, crs=_crs())
    response = JsonResponse(payload, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response
