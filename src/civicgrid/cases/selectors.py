"""Reads of cases, always from what the user may see: queues, duplicates, the case page."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.roles import Role
from civicgrid.core.scoping import Action

from .choices import OPEN, SlaState, Status
from .models import Case

EARTH_RADIUS_M = 6_371_000.0


def visible_cases(user: Any) -> QuerySet[Case]:
    return Case.objects.restrict(user, Action.VIEW).select_related(
        "category", "category__parent", "owner_unit", "centre", "division", "grid"
    )


def my_unit_ids(user: Any) -> list[int]:
    return [u for r, _p, u in user.assignment_triples() if r == Role.DEPARTMENT_HANDLER and u]


def centre_paths(user: Any) -> list[str]:
    return [p for r, p in user.assignment_pairs() if r == Role.CENTRE_STAFF]


# Queues: (key, label, filter) — a centre's work lists and a department's.
# The work queues `queue` knows, in the order pages and the API list them.
QUEUES = (
    "to_file",
    "to_dispatch",
    "to_check",
    "overdue",
    "supervised",
    "my_unit",
    "my_reports",
    "my_checks",
    "open",
)


def queue(user: Any, key: str) -> QuerySet[Case]:
    qs = visible_cases(user)
    mine_centre = Q(
        owner_unit__kind=UnitKind.CENTRE, owner_unit__division_path__in=centre_paths(user)
    )
    units = my_unit_ids(user)
    if key == "to_file":
        return qs.filter(mine_centre, status=Status.REPORTED)
    if key == "to_dispatch":
        return qs.filter(mine_centre, status=Status.REGISTERED)
    if key == "to_check":
        return qs.filter(mine_centre, status__in=[Status.HANDLED, Status.CHECKING])
    if key == "overdue":
        return qs.filter(status__in=OPEN, sla_state__in=[SlaState.YELLOW, SlaState.RED])
    if key == "supervised":
        return qs.filter(status__in=OPEN, supervised=True)
    if key == "my_unit":
        return qs.filter(
            Q(owner_unit_id__in=units) | Q(co_units__in=units),
            status__in=[Status.DISPATCHED, Status.ACCEPTED, Status.IN_PROGRESS, Status.SUSPENDED],
        ).distinct()
    if key == "my_reports":
        return qs.filter(reporter=user)
    if key == "my_checks":
        return qs.filter(checker=user, status=Status.CHECKING)
    if key == "open":
        return qs.filter(status__in=OPEN)
    return qs


def possible_duplicates(
    *,
    category_id: int,
    lat: float | None,
    lng: float | None,
    when: dt.datetime | None = None,
    radius_m: float = 150.0,
    hours: float = 72.0,
    exclude: int | None = None,
    user: Any = None,
) -> list[tuple[Case, float]]:
    """Open cases of the same category within `radius_m` and `hours`, nearest first."""
    if lat is None or lng is None:
        return []
    when = when or timezone.now()
    d_lat = radius_m / 111_320.0
    d_lng = radius_m / (111_320.0 * max(0.01, math.cos(math.radians(lat))))
    qs = (visible_cases(user) if user is not None else Case.objects.all()).filter(
        category_id=category_id,
        status__in=OPEN,
        lat__range=(lat - d_lat, lat + d_lat),
        lng__range=(lng - d_lng, lng + d_lng),
        # Both ways: a case reported days after another one is not its duplicate.
        reported_at__gte=when - dt.timedelta(hours=hours),
        reported_at__lte=when + dt.timedelta(hours=hours),
    )
    if exclude:
        qs = qs.exclude(pk=exclude)
    found = []
    for case in qs[:50]:
        distance = haversine_m(lat, lng, case.lat or 0.0, case.lng or 0.0)
        if distance <= radius_m:
            found.append((case, round(distance, 1)))
    return sorted(found, key=lambda pair: pair[1])


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))
