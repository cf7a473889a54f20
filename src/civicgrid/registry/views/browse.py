"""The registry's start: one search box, the user's area down to its grids with the number of
residents, households and care-group members beneath each, and the visits falling due."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, reaches
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.web.typing import AuthedRequest

from .. import selectors
from .common import (
    LIST_TITLES,
    area_division,
    counts_under,
    crumbs,
    echo,
    household_count,
    in_area,
    require_registry,
    resident_count,
    roots,
)

SEARCH_KINDS = ("resident", "organisation", "place", "building")
SEARCH_LIMIT = 20


def _child_rows(user: Any, division: Division) -> list[dict[str, Any]]:
    children = list(Division.objects.filter(parent=division, is_active=True).order_by("code"))
    if not children:
        return []
    totals = counts_under(user, division, sorted({len(c.path) for c in children}))
    return [{"division": c, **totals.get(c.path, {})} for c in children]


def _due_counts(user: Any, path: str | None = None) -> dict[str, int]:
    today = timezone.localdate()
    tags = selectors.visits_due(user, within_days=7, today=today)
    if path is not None:
        tags = tags.filter(subtree_q("division_path", path))
    overdue = selectors.overdue(tags, today).count()
    return {"overdue": overdue, "week": tags.count() - overdue}


@login_required
def home(request: AuthedRequest) -> HttpResponse:
    user = request.user
    require_registry(user)
    tops = roots(user)
    rows = []
    for top in tops[:50]:
        summary = counts_under(user, top, [len(top.path)]).get(top.path, {})
        rows.append({"division": top, **summary})
    return render(
        request,
        "registry/home.html",
        {
            "roots": rows,
            "due": _due_counts(user),
            "may_create": _may_create(user),
        },
    )


def _may_create(user: Any) -> bool:
    return reaches(user, "registry", Action.CHANGE)


@login_required
def area(request: AuthedRequest, pk: int) -> HttpResponse:
    """A division of the user's area: its children with counts, down to a grid, where the
    buildings are listed."""
    user = request.user
    require_registry(user)
    division = area_division(user, pk)
    context: dict[str, Any] = {
        "division": division,
        "crumbs": crumbs(user, division),
        "summary": counts_under(user, division, [len(division.path)]).get(division.path, {}),
        "due": _due_counts(user, division.path),
        "may_create": in_area(user, division, Action.CHANGE),
    }
    if division.level == Level.GRID:
        buildings = (
            selectors.visible("building", user)
            .filter(division=division, is_active=True)
            .order_by("road", "number", "building_no")
        )
        page = Paginator(buildings, 50).get_page(request.GET.get("page"))
        ids = [b.pk for b in page]
        houses = _house_counts(ids)
        context.update(
            page_obj=page,
            house_counts=houses,
            loose_households=selectors.visible("household", user)
            .filter(division=division, is_active=True, house__isnull=True)
            .count(),
        )
    else:
        context["children"] = _child_rows(user, division)
    return render(request, "registry/area.html", context)


def _house_counts(building_ids: list[int]) -> dict[int, dict[str, int]]:
    from ..models import House

    houses = list(
        House.objects.filter(building_id__in=building_ids, is_active=True).values_list(
            "pk", "building_id"
        )
    )
    households = household_count([h for h, _b in houses])
    residents = resident_count([h for h, _b in houses])
    out: dict[int, dict[str, int]] = {b: {"houses": 0, "households": 0, "residents": 0}
                                      for b in building_ids}  # fmt: skip
    for house, building in houses:
        out[building]["houses"] += 1
        out[building]["households"] += households.get(house, 0)
        out[building]["residents"] += residents.get(house, 0)
    return out


@login_required
@require_http_methods(["GET", "POST"])
def search(request: AuthedRequest) -> HttpResponse:
    """One box: a name (two Chinese characters are enough), pinyin or its initials, an ID or
    phone number, part of an address. The box posts, so that a number typed into it stays out
    of URLs and server logs; htmx asks for the results only, as the user types."""
    user = request.user
    require_registry(user)
    source = request.POST if request.method == "POST" else request.GET
    query = str(source.get("q", "")).strip()[:100]
    include_ended = source.get("ended") == "1"
    results: list[dict[str, Any]] = []
    if query:
        for kind in SEARCH_KINDS:
            qs = selectors.visible(kind, user)
            if not include_ended:
                qs = qs.filter(is_active=True)
            found = selectors.find(qs, query).select_related("division")
            if kind == "resident":
                found = found.select_related("house__building", "household")
            items = list(found[: SEARCH_LIMIT + 1])
            if items:
                results.append(
                    {
                        "kind": kind,
                        "title": LIST_TITLES[kind],
                        "items": items[:SEARCH_LIMIT],
                        "more": len(items) > SEARCH_LIMIT,
                    }
                )
    box, shown = echo(query)
    context = {
        "q": box,
        "shown": shown,
        "results": results,
        "ended": include_ended,
        "searched": bool(query),
    }
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "registry/includes/search_results.html", context)
    return render(request, "registry/search.html", context)
