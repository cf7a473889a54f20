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

from civicgrid.core.models import ObjectChange
from civicgrid.geo.models import Division
from civicgrid.registry.models import CareTag

if TYPE_CHECKING:
    from .query import Period


def counters(area: Division, period: Period) -> dict[str, int]:
    start, end = period.bounds()
    done = ObjectChange.objects.filter(
        content_type=ContentType.objects.get_for_model(CareTag),
        action="visit",
        division_path__startswith=area.path,
        time__gte=start,
        time__lt=end,
    ).count()
    intervals = (
        CareTag.objects.filter(
            division_path__startswith=area.path, is_active=True, created_at__lt=end
        )
        .values("visit_every_days")
        .annotate(n=Count("pk"))
        .order_by()
    )
    due = sum(
        row["n"] * math.ceil(period.days / max(1, row["visit_every_days"])) for row in intervals
    )
    return {"visits_done": done, "visits_due": due}
