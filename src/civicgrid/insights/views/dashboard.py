"""The leader and centre dashboard: KPI tiles against the previous period and a table of the
chosen grouping for the user's own subtree; every number opens the cases behind it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from civicgrid.catalog.models import CaseCategory
from civicgrid.geo.choices import Level
from civicgrid.web.typing import AuthedRequest

from .. import query as q
from ..kpis import KPIS
from ..tables import xlsx_response
from . import (
    GROUPS,
    PERIODS,
    TABLE_KPIS,
    TILE_KPIS,
    cells,
    change,
    crumbs,
    display,
    division_options,
    export_header,
    export_value,
    params_of,
    parse,
    query_params,
    require_insights,
    trace_url,
    traceable,
    url_with,
)

FORM_FIELDS = ("division", "period", "date", "from", "to", "group", "category")


@login_required
def dashboard(request: AuthedRequest) -> HttpResponse:
    user = request.user
    require_insights(user)
    data = request.GET.dict()
    # The table of subordinate divisions is what a leader opens the page for.
    data.setdefault("group", "child")
    query, errors = parse(user, data)
    context: dict[str, Any] = {
        "params": query_params(data),
        "errors": errors,
        # Errors of no field in the form (a level, or the query as a whole) show above it.
        "other_errors": [(k, v) for k, v in errors.items() if k not in FORM_FIELDS],
        "periods": PERIODS,
        "groups": GROUPS,
        "categories": _categories(),
        "screen_url": reverse("insights:screen"),
        "scorecards_url": _scorecards_url(),
    }
    if query is None:
        return render(request, "insights/dashboard.html", context)
    figures = q.figures(user, query)
    base = params_of(query)
    if request.GET.get("format") == "xlsx":
        return _export(query, figures)
    previous = figures.previous.values if figures.previous else {}
    tiles = []
    for name in TILE_KPIS:
        kpi = KPIS[name]
        value = figures.total.values.get(name)
        if kpi.source != "cases" and value is None:
            continue  # duty figures appear once the field work is recorded
        tiles.append(
            {
                "kpi": kpi,
                "text": display(kpi, value),
                "previous": display(kpi, previous.get(name)) if figures.previous else None,
                "change": change(kpi, value, previous.get(name)),
                "url": trace_url(base, name) if traceable(kpi) and value is not None else "",
                "parts": _parts(kpi, figures.total, base),
            }
        )
    rows = []
    for row in figures.rows:
        drill = ""
        if row.division is not None and row.division.level < Level.GRID:
            drill = url_with("insights:dashboard", {**base, "division": row.division.code})
        rows.append(
            {
                "key": row.key,
                "label": row.label,
                "drill": drill,
                "cells": cells(row, base, TABLE_KPIS, key=row.key),
            }
        )
    context.update(
        {
            "query": query,
            "figures": figures,
            "area": query.area,
            "crumbs": crumbs(user, query.area, "insights:dashboard", base),
            "division_options": division_options(user, query.area),
            "params": {**context["params"], **base, "group": query.group},
            "tiles": tiles,
            "columns": [KPIS[k] for k in TABLE_KPIS],
            "rows": rows,
            "total": cells(figures.total, base, TABLE_KPIS, key=""),
            "group_label": dict(GROUPS).get(query.group) or pgettext("division", "Area"),
            "export_url": url_with("insights:dashboard", {**base, "format": "xlsx"}),
            "screen_url": url_with("insights:screen", {"division": query.area.code}),
            "previous_label": query.period.previous().label(),
        }
    )
    return render(request, "insights/dashboard.html", context)


def _parts(kpi: Any, row: Any, base: dict[str, str]) -> list[dict[str, Any]]:
    """A rate's numerator and denominator counts, each a link to its cases."""
    if not kpi.denominator or not traceable(kpi):
        return []
    counters = row.counters

    def total(terms: tuple[str, ...]) -> int:
        return sum(
            -counters.get(t[1:], 0) if t.startswith("-") else counters.get(t, 0) for t in terms
        )

    parts = [("numerator", kpi.numerator), ("denominator", kpi.denominator)]
    if kpi.kind == "hours":
        parts = parts[1:]  # the numerator is a sum of minutes, not a number of cases
    return [
        {"part": part, "count": total(terms), "url": trace_url(base, kpi.key, part)}
        for part, terms in parts
    ]


def _categories() -> list[tuple[str, str]]:
    """Major classes, each followed by its minor classes (the form's category choices)."""
    minors: dict[int, list[tuple[str, str]]] = {}
    for minor in CaseCategory.objects.filter(is_active=True, parent__isnull=False):
        minors.setdefault(minor.parent_id or 0, []).append((minor.code, "\u3000↳ " + minor.label))
    out: list[tuple[str, str]] = []
    for major in CaseCategory.objects.filter(is_active=True, parent__isnull=True):
        out.append((major.code, major.label))
        out.extend(minors.get(major.pk, []))
    return out


def _scorecards_url() -> str:
    # The scorecard pages are written alongside this one; the link appears once they exist.
    try:
        return reverse("insights:scorecards")
    except NoReverseMatch:
        return ""


def _export(query: Any, figures: Any) -> HttpResponse:
    kpis = [KPIS[k] for k in TABLE_KPIS]
    first = str(dict(GROUPS).get(query.group) or pgettext("division", "Area"))
    header = [_("Code"), first, *map(export_header, kpis)]

    def line(key: str, label: str, values: dict[str, float | None]) -> list[Any]:
        return [key, label, *(export_value(k, values.get(k.key)) for k in kpis)]

    rows = [line(r.key, r.label, r.values) for r in figures.rows]
    total, figures_word = _("Total"), _("figures")
    rows.append(line(query.area.code, f"{total} · {query.area.name}", figures.total.values))
    name = f"{figures_word}-{query.area.name}-{query.period.label()}"
    return xlsx_response(name, header, rows)
