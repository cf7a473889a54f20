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
from collections.abc import Iterable, Iterator
from typing import Any

from django.db import connection, transaction
from django.db.models import CharField, DateField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, Substr, TruncMonth
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


def bucketed(cases: QuerySet[Case]) -> QuerySet[Any]:
    """Cases grouped by rollup bucket, with every counter."""
    return (
        cases.annotate(
            r_month=TruncMonth("reported_at", output_field=DateField()),
            r_area=Substr("division_path", 1, AREA_LENGTH),
            r_major=Coalesce("category__parent_id", "category_id"),
        )
        .values("r_month", "r_area", "r_major")
        .annotate(**kpis.aggregates())
        .order_by()
    )


def bucketed_communities(cases: QuerySet[Case]) -> QuerySet[Any]:
    """Cases grouped by community-month (CommunityRollup's grain), with every counter."""
    return (
        cases.annotate(
            r_month=TruncMonth("reported_at", output_field=DateField()),
            r_area=Substr("division_path", 1, COMMUNITY_LENGTH),
        )
        .values("r_month", "r_area")
        .annotate(**kpis.aggregates())
        .order_by()
    )


def _rows(grouped: Iterable[dict[str, Any]]) -> Iterator[CaseRollup]:
    for row in grouped:
        yield CaseRollup(
            month=row["r_month"],
            area=row["r_area"],
            category_id=row["r_major"],
            **{name: row[name] or 0 for name in kpis.COUNTERS},
        )


def _community_rows(grouped: Iterable[dict[str, Any]]) -> Iterator[CommunityRollup]:
    for row in grouped:
        yield CommunityRollup(
            month=row["r_month"],
            area=row["r_area"],
            **{name: row[name] or 0 for name in kpis.COUNTERS},
        )


def _month_range(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    following = (month + dt.timedelta(days=32)).replace(day=1)
    return _midnight(month), _midnight(following)


def _midnight(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def area_q(area: str, field: str = "division_path") -> Q:
    """The cases of one bucket area: a township's subtree, or exactly a shorter path (a case
    placed at a county or city belongs to no township)."""
    if len(area) < AREA_LENGTH:
        return Q(**{field: area})
    return Q(**{f"{field}__startswith": area})


def _recompute(month: dt.date, areas: list[str]) -> int:
    """Replace both grains' rows of these township-months. One scan of the cases, grouped by
    community × major class and summed here into each grain: every counter is a count or a
    sum, so the parts add up, and a refresh reads the month's cases once, not once per
    grain."""
    start, end = _month_range(month)
    where = Q()
    for area in areas:
        where |= area_q(area)
    cases = Case.objects.filter(where, reported_at__gte=start, reported_at__lt=end)
    townships: dict[tuple[str, int], dict[str, int]] = defaultdict(kpis.empty)
    communities: dict[str, dict[str, int]] = defaultdict(kpis.empty)
    fine = cases.annotate(
        r_area=Substr("division_path", 1, COMMUNITY_LENGTH),
        r_major=Coalesce("category__parent_id", "category_id"),
    )
    for row in fine.values("r_area", "r_major").annotate(**kpis.aggregates()).order_by():
        area = row["r_area"]
        for target in (townships[area[:AREA_LENGTH], row["r_major"]], communities[area]):
            for name in kpis.COUNTERS:
                target[name] += row[name] or 0
    CaseRollup.objects.filter(month=month, area__in=areas).delete()
    created = CaseRollup.objects.bulk_create(
        CaseRollup(month=month, area=area, category_id=major, **counters)
        for (area, major), counters in townships.items()
    )
    CommunityRollup.objects.filter(month=month).alias(
        township=Substr("area", 1, AREA_LENGTH)
    ).filter(township__in=areas).delete()
    CommunityRollup.objects.bulk_create(
        CommunityRollup(month=month, area=area, **counters)
        for area, counters in communities.items()
    )
    return len(created)


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
    """Recompute every bucket of both grains (from the month of `since` on); returns the rows
    written."""
    with transaction.atomic():
        RollupMark.objects.get_or_create(key=MARK_KEY)
        list(RollupMark.objects.select_for_update().filter(key=MARK_KEY))
        _roomy()
        rollups = CaseRollup.objects.all()
        community_rollups = CommunityRollup.objects.all()
        cases = Case.objects.all()
        marks = RollupDirty.objects.all()
        if since is not None:
            first = since.replace(day=1)
            rollups = rollups.filter(month__gte=first)
            community_rollups = community_rollups.filter(month__gte=first)
            cases = cases.filter(reported_at__gte=_midnight(first))
            marks = marks.filter(month__gte=first)
        rollups.delete()
        community_rollups.delete()
        marks.delete()
        written = _write(CaseRollup, _rows(bucketed(cases).iterator(chunk_size=5000)))
        written += _write(
            CommunityRollup,
            _community_rows(bucketed_communities(cases).iterator(chunk_size=5000)),
        )
        RollupMark.objects.filter(key=MARK_KEY).update(refreshed_at=timezone.now())
        return written


def _write(model: Any, rows: Iterable[Any], size: int = 5000) -> int:
    written = 0
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            written += len(model.objects.bulk_create(batch))
            batch = []
    return written + len(model.objects.bulk_create(batch))


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
