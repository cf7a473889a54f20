"""Lists of records with filters and paging, and the care-group list with the visits due."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can, reaches
from civicgrid.web.typing import AuthedRequest

from .. import selectors
from ..choices import (
    BuildingUse,
    CareGroup,
    HazardLevel,
    HouseUse,
    OrganisationKind,
    PlaceKind,
    ResidenceType,
    RiskLevel,
)
from .common import LIST_TITLES, SLUGS, area_choices, division_by_code, echo, require_registry

STATES = ("current", "ended", "all")
# Per record type: the choice filters its list offers (parameter, model field, choices).
CHOICE_FILTERS: dict[str, list[tuple[str, str, Any]]] = {
    "resident": [("residence_type", "residence_type", ResidenceType)],
    "household": [],
    "house": [("use", "use", HouseUse)],
    "building": [("use", "use", BuildingUse)],
    "organisation": [("type", "kind", OrganisationKind)],
    "place": [("type", "kind", PlaceKind), ("hazard", "hazard_level", HazardLevel)],
}
RELATED = {
    "resident": ("division", "house__building", "household"),
    "household": ("division", "house__building"),
    "house": ("division", "building"),
    "building": ("division",),
    "organisation": ("division",),
    "place": ("division", "organisation"),
}
PAGE_SIZE = 30


def filtered(
    kind: str, user: Any, get: Any
) -> tuple[QuerySet[Any], dict[str, str], dict[str, str]]:
    """The records of `kind` the user may see, narrowed by the list's filters in `get` (a
    QueryDict); with the filter values and any error per filter. Export uses it too, so a
    file holds exactly the list on the screen."""
    names = ["under", "q", "state", "group"] + [p for p, _f, _c in CHOICE_FILTERS[kind]]
    params = {name: str(get.get(name, "")).strip()[:100] for name in names}
    errors: dict[str, str] = {}
    qs = selectors.visible(kind, user).select_related(*RELATED[kind])
    state = params["state"] if params["state"] in STATES else "current"
    params["state"] = state
    if state != "all":
        qs = qs.filter(is_active=state == "current")
    if params["under"]:
        division = division_by_code(user, params["under"])
        if division is None:
            errors["under"] = _("No division with this code in your area.")
            qs = qs.none()
        else:
            qs = qs.filter(subtree_q("division_path", division.path))
    for param, field, choices in CHOICE_FILTERS[kind]:
        value = params[param]
        if not value:
            continue
        if param == "hazard" and value == "any":
            qs = qs.exclude(hazard_level=HazardLevel.NONE)
        elif value in choices.values:
            qs = qs.filter(**{field: value})
        else:
            errors[param] = _("Unknown value.")
            qs = qs.none()
    if kind == "resident" and params["group"]:
        if params["group"] in CareGroup.values:
            qs = qs.filter(care_tags__group=params["group"], care_tags__is_active=True)
        else:
            errors["group"] = _("Unknown value.")
            qs = qs.none()
    if params["q"]:
        qs = selectors.find(qs, params["q"])
    return qs, params, errors


@login_required
def record_list(request: AuthedRequest, kind: str) -> HttpResponse:
    kind = SLUGS[kind]
    if kind == "care_tag":
        return care_list(request)
    user = request.user
    require_registry(user)
    qs, params, errors = filtered(kind, user, request.GET)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    extra: dict[str, Any] = {}
    if kind in {"house", "building"}:
        extra["counts"] = _counts(kind, [o.pk for o in page])
    if kind == "household":
        extra["members"] = dict(
            selectors.visible("resident", user)
            .filter(household_id__in=[o.pk for o in page], is_active=True)
            .order_by()
            .values_list("household_id")
            .annotate(n=Count("pk"))
        )
    return render(
        request,
        "registry/list.html",
        {
            "kind": kind,
            "title": LIST_TITLES[kind],
            "page_obj": page,
            "params": params,
            "errors": errors,
            "filters": [
                (param, choices.choices, params[param])
                for param, _field, choices in CHOICE_FILTERS[kind]
            ],
            "groups": CareGroup.choices,
            "may_create": reaches(user, "registry", Action.CHANGE),
            "area_choices": area_choices(user),
            "q_box": echo(params["q"])[0],
            **extra,
        },
    )


def _counts(kind: str, ids: list[int]) -> dict[int, dict[str, int]]:
    from ..models import House, Household, Resident

    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if kind == "house":
        for model, key in ((Household, "households"), (Resident, "residents")):
            rows = (
                model.objects.filter(house_id__in=ids, is_active=True)
                .order_by()
                .values_list("house_id")
                .annotate(n=Count("pk"))
            )
            for house_id, n in rows:
                out[house_id][key] = n
    else:
        rows = (
            House.objects.filter(building_id__in=ids, is_active=True)
            .order_by()
            .values_list("building_id")
            .annotate(n=Count("pk"))
        )
        for building_id, n in rows:
            out[building_id]["houses"] = n
    return {k: dict(v) for k, v in out.items()}


# --- care groups ------------------------------------------------------------------------------
DUE_FILTERS = {"week": 7, "month": 30}  # days ahead; "overdue": due before today


@login_required
def care_list(request: AuthedRequest) -> HttpResponse:
    """Current care-group members of the user's area by group and risk level, with the next
    visit's due date (overdue marked), sortable by it; a visit is recorded from the row."""
    user = request.user
    require_registry(user)
    today = timezone.localdate()
    params = {
        k: request.GET.get(k, "").strip()[:40] for k in ("group", "risk", "due", "under", "sort")
    }
    errors: dict[str, str] = {}
    tags = (
        selectors.visible("care_tag", user)
        .filter(is_active=True)
        .select_related("resident", "division", "resident__house__building")
    )
    if params["under"]:
        division = division_by_code(user, params["under"])
        if division is None:
            errors["under"] = _("No division with this code in your area.")
            tags = tags.none()
        else:
            tags = tags.filter(subtree_q("division_path", division.path))
    summary = _summary(tags, today)
    if params["group"]:
        if params["group"] in CareGroup.values:
            tags = tags.filter(group=params["group"])
        else:
            errors["group"] = _("Unknown value.")
            tags = tags.none()
    if params["risk"]:
        if params["risk"] in RiskLevel.values:
            tags = tags.filter(risk_level=params["risk"])
        else:
            errors["risk"] = _("Unknown value.")
            tags = tags.none()
    if params["due"] == "overdue":
        tags = tags.filter(next_visit_due__lt=today)
    elif params["due"] in DUE_FILTERS:
        # Coming up: from today on (the overdue ones are their own filter).
        until = today + dt.timedelta(days=DUE_FILTERS[params["due"]])
        tags = tags.filter(next_visit_due__gte=today, next_visit_due__lte=until)
    elif params["due"]:
        errors["due"] = _("Unknown value.")
        tags = tags.none()
    descending = params["sort"] == "-due"
    params["sort"] = "-due" if descending else "due"
    # A tag never visited and without a due date is due now: first when the soonest come first.
    tags = (
        tags.order_by(F("next_visit_due").desc(nulls_last=True), "-id")
        if descending
        else tags.order_by(F("next_visit_due").asc(nulls_first=True), "id")
    )
    page = Paginator(tags, PAGE_SIZE).get_page(request.GET.get("page"))
    for tag in page:
        # A row's "record visit" shows where the user may write, not only where they read.
        tag.may_visit = can(user, tag, Action.CHANGE)
    return render(
        request,
        "registry/care.html",
        {
            "page_obj": page,
            "params": params,
            "errors": errors,
            "summary": summary,
            "groups": CareGroup.choices,
            "risks": RiskLevel.choices,
            "today": today,
            "soon": today + dt.timedelta(days=7),
            "area_choices": area_choices(user),
        },
    )


def _summary(tags: QuerySet[Any], today: dt.date) -> list[dict[str, Any]]:
    """Members per group and risk level, and how many visits are overdue, per group."""
    rows = (
        tags.order_by()
        .values_list("group", "risk_level")
        .annotate(n=Count("pk"), late=Count("pk", filter=Q(next_visit_due__lt=today)))
    )
    by_group: dict[str, dict[str, Any]] = {}
    for group, risk, n, late in rows:
        entry = by_group.setdefault(
            group, {"group": group, "label": CareGroup(group).label, "total": 0, "overdue": 0}
        )
        entry[risk] = n
        entry["total"] += n
        entry["overdue"] += late
    return [by_group[g] for g in CareGroup.values if g in by_group]
