"""Counters of grid workers' duties that are not cases: care-group visits (registry) and
patrols (the field app). The field work pages (fieldwork/duties.py) count per grid and per grid
worker with the same functions, so their figures and the KPIs cannot drift apart.

visits_done: visits recorded in the period (the registry's "visit" action on a care tag, which a
visit from the field app to a care-group member also writes), by the time they were recorded.
visits_due: for each current care tag of the area, the visits its interval calls for over the
period (ceil(days ÷ interval)); a tag begun within the period counts for the whole period.
patrol_minutes: the minutes of the patrols started in the period. Where no patrol has ever been
recorded in the area (the field app is not in use there), there is no patrol counter and the
patrol hours KPI reads "—" instead of a made-up zero.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Substr

from civicgrid.core.models import ObjectChange
from civicgrid.fieldwork.models import Patrol
from civicgrid.geo.models import Division
from civicgrid.registry.models import CareTag

if TYPE_CHECKING:
    from .query import Period


def counters(area: Division, period: Period, *, in_use: bool | None = None) -> dict[str, int]:
    """The area's duty counters for the period (`in_use`: patrols_recorded, if known)."""
    if in_use is None:
        in_use = patrols_recorded(area.path)
    found = counters_by(area, period, len(area.path), in_use=in_use)
    return found.get(area.path) or _zero(with_patrols=in_use)


def care_visits(path: str, start: dt.datetime, end: dt.datetime) -> QuerySet[ObjectChange]:
    """The audit rows that count as visits done under `path`, recorded in [start, end)."""
    return ObjectChange.objects.filter(
        content_type=ContentType.objects.get_for_model(CareTag),
        action="visit",
        division_path__startswith=path,
        time__gte=start,
        time__lt=end,
    )


def visits_due(tags: int, days: int, every_days: int) -> int:
    """Visits that `tags` care tags visited every `every_days` days call for over `days` days."""
    return tags * math.ceil(days / max(1, every_days))


def care_tags_due(path: str, end: dt.datetime) -> QuerySet[CareTag]:
    """The care tags whose visits fall due in a period ending at `end`, under `path`."""
    return CareTag.objects.filter(
        division_path__startswith=path, is_active=True, created_at__lt=end
    )


def patrols(path: str, start: dt.datetime, end: dt.datetime) -> QuerySet[Patrol]:
    """The patrols that count for a period under `path`: started in [start, end)."""
    return Patrol.objects.filter(
        division_path__startswith=path, started_at__gte=start, started_at__lt=end
    )


def patrols_recorded(path: str) -> bool:
    """Whether any patrol was ever recorded under `path` (the field app is in use there)."""
    return Patrol.objects.filter(division_path__startswith=path).exists()


def counters_by(
    area: Division, period: Period, length: int, *, in_use: bool | None = None
) -> dict[str, dict[str, int]]:
    """Duty counters per subtree of the area, keyed by the first `length` digits of the path
    (one query per table, however many subordinate divisions a table shows). `in_use`:
    patrols_recorded(area.path), when the caller knows it already."""
    start, end = period.bounds()
    key = Substr("division_path", 1, length)
    if in_use is None:
        in_use = patrols_recorded(area.path)
    out: dict[str, dict[str, int]] = {}
    done = (
        care_visits(area.path, start, end)
        .annotate(g=key)
        .values("g")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in done:
        out.setdefault(row["g"], _zero(in_use))["visits_done"] += row["n"]
    intervals = (
        care_tags_due(area.path, end)
        .annotate(g=key)
        .values("g", "visit_every_days")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in intervals:
        due = visits_due(row["n"], period.days, row["visit_every_days"])
        out.setdefault(row["g"], _zero(in_use))["visits_due"] += due
    if in_use:
        minutes = (
            patrols(area.path, start, end)
            .annotate(g=key)
            .values("g")
            .annotate(n=Sum("minutes"))
            .order_by()
        )
        for row in minutes:
            out.setdefault(row["g"], _zero(in_use))["patrol_minutes"] += row["n"] or 0
    return out


def _zero(with_patrols: bool = False) -> dict[str, int]:
    zero = {"visits_done": 0, "visits_due": 0}
    if with_patrols:
        zero["patrol_minutes"] = 0
    return zero
