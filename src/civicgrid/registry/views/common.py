"""What every registry page shares: the record types by their URL names, the whole-page and
per-record permission checks, the user's area and the grids they may file records in."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Model, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from civicgrid.core.paths import any_subtree_q, is_under, subtree_q
from civicgrid.core.scoping import Action, can, require
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from .. import selectors
from ..models import CareTag, Household, Record, Resident

# Record types by the name they have in URLs (/registry/residents/…).
SLUGS: dict[str, str] = {
    "residents": "resident",
    "households": "household",
    "houses": "house",
    "buildings": "building",
    "organisations": "organisation",
    "places": "place",
    "care": "care_tag",
}
SLUG_OF = {kind: slug for slug, kind in SLUGS.items()}
LIST_TITLES = {
    "resident": pgettext_lazy("registry", "Residents"),
    "household": pgettext_lazy("registry", "Households"),
    "house": gettext_lazy("Houses"),
    "building": gettext_lazy("Buildings"),
    "organisation": gettext_lazy("Organisations"),
    "place": gettext_lazy("Places and hazard sources"),
    "care_tag": gettext_lazy("Care and key groups"),
}


class KindConverter:
    """URL converter: the plural names of the record types."""

    regex = "|".join(SLUGS)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return SLUG_OF.get(value, value)


def require_registry(user: Any, action: str = Action.VIEW) -> None:
    """Refuse the whole page (403) to roles that never reach basic information."""
    require(user, "registry", Action.VIEW, _("Your roles do not include basic information."))
    if action == Action.CHANGE:
        require(user, "registry", Action.CHANGE, _("Your roles do not allow changing records."))


def visible_record(user: Any, kind: str, pk: int) -> Any:
    """A record the user may see, else 404 (out of scope or no such record: the same)."""
    require_registry(user)
    return get_object_or_404(selectors.visible(kind, user), pk=pk)


def changeable_record(user: Any, kind: str, pk: int) -> Any:
    """A record the user may change: 404 when out of sight, 403 when only readable."""
    obj = visible_record(user, kind, pk)
    if not can(user, obj, Action.CHANGE):
        raise PermissionDenied(_("Your roles do not allow changing this record."))
    return obj


def may_change(user: Any, obj: Model) -> bool:
    return can(user, obj, Action.CHANGE)


def record_url(obj: Record) -> str:
    from ..actions import kind_of

    if isinstance(obj, CareTag):
        return reverse("registry:record", args=["residents", obj.resident_id]) + "#care"
    return reverse("registry:record", args=[SLUG_OF[kind_of(obj)], obj.pk])


def safe_next(request: HttpRequest, fallback: str) -> str:
    """Where to go back to after a form: a local URL the form named, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


# --- the user's area --------------------------------------------------------------------------
def area_paths(user: Any, action: str = Action.VIEW) -> list[str] | None:
    """Division paths whose subtrees hold the records the user may see (None: everywhere)."""
    paths = user.scope_paths("registry", str(action))
    return None if paths is None else list(paths)


def roots(user: Any) -> list[Division]:
    """Where browsing starts: the highest divisions of the user's registry area."""
    paths = area_paths(user)
    qs = Division.objects.filter(is_active=True)
    if paths is None:
        return list(qs.filter(parent__isnull=True).order_by("code"))
    return list(qs.filter(path__in=paths).order_by("path"))


def in_area(user: Any, division: Division, action: str = Action.VIEW) -> bool:
    paths = area_paths(user, action)
    return paths is None or any(is_under(division.path, p) for p in paths)


def area_division(user: Any, pk: int) -> Division:
    division = get_object_or_404(Division.objects.select_related("parent"), pk=pk, is_active=True)
    if not in_area(user, division):
        raise Http404
    return division


def division_by_code(user: Any, code: str) -> Division | None:
    """An active division of the user's area by its code; None when there is none."""
    division = Division.objects.filter(code=code.strip(), is_active=True).first()
    if division is None or not in_area(user, division):
        return None
    return division


def crumbs(user: Any, division: Division) -> list[dict[str, Any]]:
    """The path from the top of the user's area down to `division`."""
    chain = [d for d in [*division.ancestors(), division] if in_area(user, d)]
    items = [{"name": _("Basic information"), "url": reverse("registry:home")}]
    items += [{"name": d.name, "url": reverse("registry:area", args=[d.pk])} for d in chain]
    return items


def grids_for(user: Any, action: str = Action.CHANGE) -> QuerySet[Division]:
    """Active grids in which the user may file (or see) records."""
    qs = Division.objects.filter(level=Level.GRID, is_active=True)
    paths = area_paths(user, action)
    if paths is None:
        return qs.order_by("path")
    q = any_subtree_q("path", paths)
    return qs.none() if q is None else qs.filter(q).order_by("path")


MAX_GRID_OPTIONS = 400


def grid_choices(user: Any, action: str = Action.CHANGE) -> list[tuple[str, str]] | None:
    """(code, name) of the user's grids for a select; None when there are too many to list
    (a city-wide account types the grid's code instead)."""
    grids = grids_for(user, action)
    rows = list(grids.values_list("code", "name")[: MAX_GRID_OPTIONS + 1])
    if len(rows) > MAX_GRID_OPTIONS:
        return None
    return [(code, f"{name} ({code})") for code, name in rows]


def area_choices(user: Any) -> list[tuple[str, str]] | None:
    """(code, indented name) of the divisions of the user's area, for a filter's select;
    None when there are too many to list (the filter is then a code box)."""
    paths = area_paths(user)
    qs = Division.objects.filter(is_active=True, level__gte=Level.TOWNSHIP)
    if paths is not None:
        q = any_subtree_q("path", paths)
        qs = qs.none() if q is None else qs.filter(q)
    rows = list(qs.order_by("path").values_list("code", "name", "level")[: MAX_GRID_OPTIONS + 1])
    if len(rows) > MAX_GRID_OPTIONS:
        return None
    top = min((level for _c, _n, level in rows), default=0)
    return [(code, "\u2003" * (level - top) + name) for code, name, level in rows]


def echo(query: str) -> tuple[str, str]:
    """What a page may show of a search query: (the box's value, the query as shown). An ID
    or phone number is never put back into a page: it shows masked and the box stays empty."""
    from civicgrid.core.validators import compact

    from .. import protect

    number = compact(query)
    if not any(c.isdigit() for c in number):
        return query, query
    if selectors._ID_LIKE.fullmatch(number):
        return "", protect.mask_id(number)
    if selectors._PHONE_LIKE.fullmatch(number):
        return "", protect.mask_phone(number)
    return query, query


# --- counts for browsing ----------------------------------------------------------------------
def counts_under(user: Any, division: Division, lengths: list[int]) -> dict[str, dict[str, int]]:
    """Current residents, households and care-group members beneath `division`, summed per
    path prefix of the given lengths (the children's path lengths)."""
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    sources = {
        "residents": selectors.visible("resident", user),
        "households": selectors.visible("household", user),
        "care": selectors.visible("care_tag", user),
    }
    for key, qs in sources.items():
        rows = (
            qs.filter(subtree_q("division_path", division.path), is_active=True)
            .order_by()
            .values_list("division_path")
            .annotate(n=Count("pk"))
        )
        for path, n in rows:
            for length in lengths:
                totals[path[:length]][key] += n
    return totals


def area_summary(user: Any, division: Division) -> dict[str, int]:
    totals = counts_under(user, division, [len(division.path)])
    return dict(totals.get(division.path, {}))


def household_count(house_ids: list[int]) -> dict[int, int]:
    rows = (
        Household.objects.filter(house_id__in=house_ids, is_active=True)
        .order_by()
        .values_list("house_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def resident_count(house_ids: list[int]) -> dict[int, int]:
    rows = (
        Resident.objects.filter(house_id__in=house_ids, is_active=True)
        .order_by()
        .values_list("house_id")
        .annotate(n=Count("pk"))
    )
    return dict(rows)
