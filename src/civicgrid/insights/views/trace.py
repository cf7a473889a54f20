"""The cases behind a figure: exactly what `query.cases_behind` counts, 50 to a page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.web.typing import AuthedRequest

from .. import query as q
from ..kpis import KPIS
from ..tables import xlsx_response
from . import (
    GROUPS,
    crumbs,
    display,
    params_of,
    parse,
    query_params,
    require_insights,
    traceable,
    url_with,
)

PER_PAGE = 50
PARTS = {"numerator": gettext_lazy("numerator"), "denominator": gettext_lazy("denominator")}


@login_required
def cases(request: AuthedRequest) -> HttpResponse:
    user = request.user
    require_insights(user)
    data = request.GET.dict()
    name = data.get("kpi", "")
    part = data.get("part") or "numerator"
    key = data.get("key", "")
    query, errors = parse(user, data)
    kpi = KPIS.get(name)
    if kpi is None or not traceable(kpi):
        errors["kpi"] = [_("Not a figure that can be traced to cases.")]
    elif part not in PARTS or (part == "denominator" and not kpi.denominator):
        errors["part"] = [_("Choose numerator or denominator.")]
    context: dict[str, Any] = {"params": query_params(data), "errors": errors}
    if errors or query is None or kpi is None:
        return render(request, "insights/cases.html", context, status=400)
    try:
        found = q.cases_behind(user, query, name, part, key)
    except ValidationError as error:
        context["errors"] = error.message_dict
        return render(request, "insights/cases.html", context, status=400)
    found = found.select_related("category", "division").order_by("-reported_at", "-pk")
    base = params_of(query)
    figures = q.figures(user, query, compare=False)
    row = figures.total if not key else next((r for r in figures.rows if r.key == key), None)
    row_label = _row_label(query, key, row)
    if request.GET.get("format") == "xlsx":
        return _export(found, kpi, part, query, row_label)
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    terms = kpi.numerator if part == "numerator" else kpi.denominator
    context.update(
        {
            "query": query,
            "area": query.area,
            "kpi": kpi,
            "part": part,
            "part_label": PARTS[part],
            "terms": ", ".join(terms),
            "key": key,
            "row_label": row_label,
            "value": display(kpi, row.values.get(name)) if row else "—",
            "page_obj": page,
            "crumbs": crumbs(user, query.area, "insights:dashboard", base),
            "back_url": url_with("insights:dashboard", base),
            "export_url": url_with(
                "insights:cases", {**base, "kpi": name, "part": part, "key": key, "format": "xlsx"}
            ),
            "other_part_url": (
                url_with(
                    "insights:cases",
                    {
                        **base,
                        "kpi": name,
                        "part": "denominator" if part == "numerator" else "numerator",
                        "key": key,
                    },
                )
                if kpi.denominator
                else ""
            ),
        }
    )
    return render(request, "insights/cases.html", context)


def _row_label(query: Any, key: str, row: Any) -> str:
    """What a row key stands for in words (the header names the figure's row)."""
    if not key:
        return ""
    group = str(dict(GROUPS).get(query.group, ""))
    label = row.label if row is not None else key
    return f"{group}: {label}" if group else label


def _export(found: Any, kpi: Any, part: str, query: Any, row_label: str) -> HttpResponse:
    header = [
        _("Number"),
        _("Title"),
        _("Category"),
        _("Place"),
        _("Status"),
        _("Reported"),
        _("Closed"),
    ]

    def rows() -> Any:
        for case in found.iterator(chunk_size=1000):
            yield [
                case.number,
                case.title,
                case.category.label,
                case.division.name,
                case.get_status_display(),
                timezone.localtime(case.reported_at),
                timezone.localtime(case.closed_at) if case.closed_at else None,
            ]

    name = f"{kpi.label}-{PARTS[part]}-{query.area.name}-{query.period.label()}"
    if row_label:
        name += f"-{row_label}"
    return xlsx_response(name, header, rows())
