"""Keeping CaseRollup in step with the case table.

Every case action marks the township-months it touched (`mark`, in the action's transaction).
The task worker's refresher (`refresh`, a periodic job; also run before figures are read when
only a few marks wait) recomputes those township-months from the case table with the same
aggregates as the live query and replaces their rows — in both grains (CaseRollup, and
CommunityRollup for the township's communities). A rebuild (`rebuild`, the
`civicgrid rebuild-rollups` command) recomputes everything, or everything since a month.

Why recompute instead of adding deltas: a township-month holds few cases, so recomputing it
costs about as much as computing a delta, and it cannot drift — whatever happened (a sweep
marking cases red, a fix in the data, a crash between two writes), the next refresh of the
bucket makes it equal to the live count again.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, Max, Min, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, Substr
from django.utils import timezone

from civicgrid.cases.models import Case

from . import kpis
from .models import CaseRollup, CommunityRollup, RollupDirty, RollupMark
from .models.rollups import AREA_LENGTH, COMMUNITY_LENGTH

MARK_KEY = "cases"
BATCH = 200  # township-months recomputed per query


def month_of(when: dt.datetime) -> dt.date:
    local = timezone.localtime(when)
    return local.date().replace(day=1)


def area_of(division_path: str) -> str:
    return division_path[:AREA_LENGTH]


def keys_of(case: Case) -> tuple[dt.date, str]:
    return month_of(case.reported_at), area_of(case.division_path)


def mark(keys: Iterable[tuple[dt.date, str]]) -> None:
    """Note township-months whose counters changed (call inside the changing transaction)."""
    RollupDirty.objects.bulk_create(
        RollupDirty(month=month, area=area) for month, area in set(keys)
    )


def mark_cases(ids: list[int]) -> None:
    """`mark` for cases changed by a bulk UPDATE (the sweep)."""
    if ids:
        rows = Case.objects.filter(pk__in=ids).values_list("reported_at", "division_path")
        mark((month_of(when), area_of(path)) for when, path in rows)


def next_month(day: dt.date) -> dt.date:
    """The first day of the month after `day`'s."""
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def midnight(day: dt.date) -> dt.datetime:
    """The start of a local day, as an aware time."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _month_range(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return midnight(month), midnight(next_month(month))


def area_q(area: str, field: str = "division_path") -> Q:
    """The cases of one bucket area: a township's subtree, or exactly a shorter path (a case
    placed at a county or city belongs to no township)."""
    if len(area) < AREA_LENGTH:
        return Q(**{field: area})
    return Q(**{f"{field}__startswith": area})


def _recompute(month: dt.date, areas: list[str] | None = None) -> int:
    """Replace both grains' rows of a month, for these township areas or (None) all of them;
    returns the rows written. One scan of the cases, grouped by community × major class and
    summed here into each grain: every counter is a count or a sum, so the parts add up, and
    the month's cases are read once, not once per grain."""
    start, end = _month_range(month)
    cases = Case.objects.filter(reported_at__gte=start, reported_at__lt=end)
    stale_townships = CaseRollup.objects.filter(month=month)
    stale_communities = CommunityRollup.objects.filter(month=month)
    if areas is not None:
        where = Q()
        for area in areas:
            where |= area_q(area)
        cases = cases.filter(where)
        stale_townships = stale_townships.filter(area__in=areas)
        stale_communities = stale_communities.alias(township=Substr("area", 1, AREA_LENGTH)).filter(
            township__in=areas
        )
    townships: dict[tuple[str, int], dict[str, int]] = defaultdict(kpis.empty)
    communities: dict[str, dict[str, int]] = defaultdict(kpis.empty)
    fine = (
        cases.annotate(
            r_area=Substr("division_path", 1, COMMUNITY_LENGTH),
            r_major=Coalesce("category__parent_id", "category_id"),
        )
        .values("r_area", "r_major")
        .annotate(**kpis.aggregates())
        .order_by()
    )
    for row in fine.iterator(chunk_size=5000):
        area = row["r_area"]
        for target in (townships[area[:AREA_LENGTH], row["r_major"]], communities[area]):
            for name in kpis.COUNTERS:
                target[name] += row[name] or 0
    stale_townships.delete()
    stale_communities.delete()
    made = CaseRollup.objects.bulk_create(
        (
            CaseRollup(month=month, area=area, category_id=major, **counters)
            for (area, major), counters in townships.items()
        ),
        batch_size=5000,
    )
    more = CommunityRollup.objects.bulk_create(
        (
            CommunityRollup(month=month, area=area, **counters)
            for area, counters in communities.items()
        ),
        batch_size=5000,
    )
    return len(made) + len(more)


# A township-month's cases are found by AND-ing two bitmaps (the month's reported_at range, the
# townships' path prefixes). A month of a province's cases overflows PostgreSQL's default 4 MB
# work_mem, the bitmap turns lossy and the refresh reads and rechecks ten times the heap it
# needs: 7 s instead of 0.3 s per batch over 10 M cases (bench/RESULTS.md).
WORK_MEM = "64MB"


def _roomy() -> None:
    """Let this transaction's queries use WORK_MEM (PostgreSQL; SQLite has no such limit)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")


def refresh(limit: int | None = None) -> int:
    """Recompute the township-months marked since the last refresh; returns how many. Only
    one refresher works at a time (a row lock); another caller returns 0 at once."""
    RollupMark.objects.get_or_create(key=MARK_KEY)
    with transaction.atomic():
        held = list(RollupMark.objects.select_for_update(skip_locked=True).filter(key=MARK_KEY))
        if not held:
            return 0
        _roomy()
        marks = RollupDirty.objects.order_by("id").values_list("id", "month", "area")
        if limit is not None:
            marks = marks[:limit]
        found = list(marks)
        if not found:
            return 0
        by_month: dict[dt.date, set[str]] = defaultdict(set)
        for _id, month, area in found:
            by_month[month].add(area)
        for month, areas in by_month.items():
            ordered = sorted(areas)
            for start in range(0, len(ordered), BATCH):
                _recompute(month, ordered[start : start + BATCH])
        # Exactly the marks read: one committed meanwhile stays for the next run.
        RollupDirty.objects.filter(id__in=[row[0] for row in found]).delete()
        RollupMark.objects.filter(key=MARK_KEY).update(refreshed_at=timezone.now())
        return sum(len(a) for a in by_month.values())


def pending() -> int:
    return RollupDirty.objects.count()


def rebuild(*, since: dt.date | None = None) -> int:
    """Recompute every bucket of both grains (from the month of `since` on), month by month;
    returns the rows written."""
    with transaction.atomic():
        RollupMark.objects.get_or_create(key=MARK_KEY)
        list(RollupMark.objects.select_for_update().filter(key=MARK_KEY))
        _roomy()
        stale: list[QuerySet[Any]] = [
            CaseRollup.objects.all(),
            CommunityRollup.objects.all(),
            RollupDirty.objects.all(),
        ]
        cases = Case.objects.all()
        if since is not None:
            first = since.replace(day=1)
            stale = [rows.filter(month__gte=first) for rows in stale]
            cases = cases.filter(reported_at__gte=midnight(first))
        for rows in stale:
            rows.delete()
        span = cases.aggregate(first=Min("reported_at"), last=Max("reported_at"))
        written = 0
        if span["first"] is not None:
            month, last = month_of(span["first"]), month_of(span["last"])
            while month <= last:
                written += _recompute(month)
                month = next_month(month)
        RollupMark.objects.filter(key=MARK_KEY).update(refreshed_at=timezone.now())
        return written


def renumber_areas(old_path: str, new_path: str) -> None:
    """A division renumbered (区划调整): the rollup rows of its subtree follow its cases, whose
    paths the renumbering rewrote in the same transaction. (A renumbered community or grid
    leaves CaseRollup's nine-digit areas as they are; only CommunityRollup's, if any, move.)"""
    for model in (CaseRollup, CommunityRollup, RollupDirty):
        model.objects.filter(area__startswith=old_path).update(
            area=Concat(
                Value(new_path), Substr("area", len(old_path) + 1), output_field=CharField()
            )
        )


def refreshed_at() -> dt.datetime | None:
    return RollupMark.objects.filter(key=MARK_KEY).values_list("refreshed_at", flat=True).first()
