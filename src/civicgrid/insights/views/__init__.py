"""Insight pages: the dashboard, the cases behind a figure, the big screen.

The pages only present what `civicgrid.insights.query` computes: they parse the same URL
parameters as the API (`query.parse_query`), so a link copied from one page reproduces the same
figure on another, and every number links to exactly the cases it counts (`cases_behind`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.accounts.roles import DataClass
from civicgrid.core.scoping import require
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from .. import query as q
from ..kpis import KPIS, Kpi

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..query import KpiQuery, Row

# The tiles of the dashboard and the columns of its table, in reading order.
TILE_KPIS = (
    "reported",
    "filed",
    "closed",
    "open",
    "overdue",
    "closure_rate",
    "on_time_rate",
    "satisfaction_rate",
    "three_rates",
    "avg_handling_hours",
    "response_rate",
    "return_rate",
    "rework_rate",
    "self_resolution_rate",
    "visits_rate",
    "patrol_hours",
)
TABLE_KPIS = (
    "reported",
    "filed",
    "closed",
    "open",
    "overdue",
    "closure_rate",
    "on_time_rate",
    "return_rate",
    "rework_rate",
    "self_resolution_rate",
    "avg_handling_hours",
    "satisfaction_rate",
    "three_rates",
)
PERIODS = (
    ("day", pgettext_lazy("period", "day")),
    ("week", pgettext_lazy("period", "week")),
    ("month", pgettext_lazy("period", "month")),
    ("year", pgettext_lazy("period", "year")),
    ("custom", pgettext_lazy("period", "custom range")),
)
GROUPS = (
    ("", _("no grouping (total only)")),
    ("child", _("subordinate divisions")),
    ("grid", _("grids")),
    ("major", _("major classes")),
    ("category", _("categories")),
    ("day", _("days")),
    ("week", _("weeks")),
    ("month", _("months")),
    ("unit", _("handling units")),
    ("worker", _("grid workers")),
    ("channel", _("channels")),
)
# The parameters a query is made of (everything else in the URL belongs to the page).
QUERY_PARAMS = ("division", "period", "date", "from", "to", "group", "category", "level")


def require_insights(user: Any) -> None:
    """The whole page belongs to roles that see figures (others: 403, like every page)."""
    require(user, DataClass.INSIGHTS, "view", str(_("Your roles do not include figures.")))


def parse(user: Any, data: Mapping[str, str]) -> tuple[KpiQuery | None, dict[str, list[str]]]:
    """The query of a page, or the form errors saying which parameter is wrong.

    Http404 (a division outside the user's area) passes through: it must not exist for them.
    """
    try:
        return q.parse_query(user, data), {}
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            return None, {k: [str(m) for m in v] for k, v in error.message_dict.items()}
        return None, {"__all__": [str(m) for m in error.messages]}


def query_params(data: Mapping[str, str]) -> dict[str, str]:
    return {k: str(data.get(k, "")).strip() for k in QUERY_PARAMS}


def params_of(query: KpiQuery) -> dict[str, str]:
    """The URL parameters reproducing `query` (as a dict, so pages can change a few)."""
    from urllib.parse import parse_qsl

    return dict(parse_qsl(q.query_string(query).lstrip("?"), keep_blank_values=False))


def url_with(name: str, params: Mapping[str, Any]) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{reverse(name)}?{urlencode(clean)}" if clean else reverse(name)


def trace_url(base: Mapping[str, str], kpi: str, part: str = "numerator", key: str = "") -> str:
    return url_with("insights:cases", {**base, "kpi": kpi, "part": part, "key": key})


def traceable(kpi: Kpi) -> bool:
    """Figures counted from cases can be traced to them; composite and duty figures cannot."""
    return kpi.kind != "index" and kpi.source == "cases"


def display(kpi: Kpi, value: float | None) -> str:
    """A figure as the pages show it: rates in per cent, hours with one decimal, "—" for none."""
    if value is None:
        return "—"
    if kpi.is_rate:
        return f"{value * 100:.1f}%"
    if kpi.kind == "hours":
        return f"{value:.1f}"
    return f"{round(value):,}"


def export_value(kpi: Kpi, value: float | None) -> float | int | None:
    """A figure for a spreadsheet: rates as per cent numbers (the header says "%")."""
    if value is None:
        return None
    if kpi.is_rate:
        return round(value * 100, 2)
    if kpi.kind == "hours":
        return round(value, 2)
    return round(value)


def export_header(kpi: Kpi) -> str:
    if kpi.is_rate:
        return f"{kpi.label} (%)"
    if kpi.kind == "hours":
        hours = _("hours")
        return f"{kpi.label} ({hours})"
    return str(kpi.label)


def change(kpi: Kpi, value: float | None, previous: float | None) -> dict[str, Any] | None:
    """The comparison with the previous period: direction, whether that is good, the text."""
    if value is None or previous is None:
        return None
    diff = value - previous
    if abs(diff) < 1e-9:
        return {"direction": "flat", "tone": "neutral", "text": "±0", "arrow": "→"}
    up = diff > 0
    good = up == (kpi.better == "higher")
    if kpi.is_rate:
        points = pgettext_lazy("percentage points", "pp")
        text = f"{diff * 100:+.1f} {points}"
    elif kpi.kind == "hours":
        text = f"{diff:+.1f}"
    else:
        text = f"{round(diff):+,}"
        if previous:
            text += f" ({diff / previous * 100:+.0f}%)"
    return {
        "direction": "up" if up else "down",
        "tone": "good" if good else "bad",
        "text": text,
        "arrow": "↑" if up else "↓",
    }


def cells(row: Row, base: Mapping[str, str], keys: tuple[str, ...], *, key: str) -> list[dict]:
    """The figures of one table row, each with the link to the cases behind it."""
    out = []
    for name in keys:
        kpi = KPIS[name]
        value = row.values.get(name)
        out.append(
            {
                "kpi": name,
                "value": value,
                "text": display(kpi, value),
                "url": trace_url(base, name, "numerator", key) if traceable(kpi) else "",
            }
        )
    return out


def crumbs(user: Any, area: Division, name: str, base: Mapping[str, str]) -> list[dict]:
    """The area's ancestors the user may view, down to the area, as links of page `name`."""
    roots = [d.path for d in q.areas_for(user)]
    chain = [d for d in area.ancestors() if any(d.path.startswith(r) for r in roots)]
    chain.append(area)
    return [
        {"name": d.name, "code": d.code, "url": url_with(name, {**base, "division": d.code})}
        for d in chain
    ]


def division_options(user: Any, area: Division) -> list[tuple[str, str]]:
    """The divisions the form offers: the user's areas, the way down to this one, its children."""
    options: dict[str, str] = {}
    for root in q.areas_for(user):
        options[root.code] = root.name
    roots = [d.path for d in q.areas_for(user)]
    for node in area.ancestors():
        if any(node.path.startswith(r) for r in roots):
            options[node.code] = "↑ " + node.name
    options[area.code] = area.name
    if area.level < Level.GRID:
        for child in Division.objects.filter(parent=area, is_active=True).order_by("code"):
            options[child.code] = "↳ " + child.name
    return list(options.items())
