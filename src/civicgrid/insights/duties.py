"""Counters of grid workers' duties that are not cases: care-group visits (registry) and
patrols (the field app, not built yet — so no patrol counter, and the patrol hours KPI reads
"—" instead of a made-up zero).

visits_done: visits recorded in the period (the registry's "visit" action on a care tag).
visits_due: for each current care tag of the area, the visits its interval calls for over the
period (ceil(days ÷ interval)); a tag begun within the period counts for the whole period.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count
from django.db.models.functions import Substr

from civicgrid.core.models import ObjectChange
from civicgrid.geo.models import Division
from civicgrid.registry.models import CareTag

if TYPE_CHECKING:
    from .query import Period


def counters(area: Division, period: Period) -> dict[str, int]:
    """The area's duty counters for the period."""
    return counters_by(area, period, len(area.path)).get(area.path, _zero())


def counters_by(area: Division, period: Period, length: int) -> dict[str, dict[str, int]]:
    """Duty counters per subtree of the area, keyed by the first `length` digits of the path
    (one query per table, however many subordinate divisions a table shows)."""
    start, end = period.bounds()
    key = Substr("division_path", 1, length)
    out: dict[str, dict[str, int]] = {}
    done = (
        ObjectChange.objects.filter(
            content_type=ContentType.objects.get_for_model(CareTag),
            action="visit",
            division_path__startswith=area.path,
            time__gte=start,
            time__lt=end,
        )
        .annotate(g=key)
        .values("g")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in done:
        out.setdefault(row["g"], _zero())["visits_done"] += row["n"]
    intervals = (
        CareTag.objects.filter(
            division_path__startswith=area.path, is_active=True, created_at__lt=end
        )
        .annotate(g=key)
        .values("g", "visit_every_days")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in intervals:
        due = row["n"] * math.ceil(period.days / max(1, row["visit_every_days"]))
        out.setdefault(row["g"], _zero())["visits_due"] += due
    return out


def _zero() -> dict[str, int]:
    return {"visits_done": 0, "visits_due": 0}
