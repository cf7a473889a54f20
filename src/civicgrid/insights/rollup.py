"""Keeping CaseRollup in step with the case table.

Every case action marks the township-months it touched (`mark`, in the action's transaction).
The task worker's refresher (`refresh`, a periodic job; also run before figures are read when
only a few marks wait) recomputes those township-months from the case table with the same
aggregates as the live query and replaces their rows. A rebuild (`rebuild`, the
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

from django.db import transaction
from django.db.models import CharField, DateField, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat, Substr, TruncMonth
from django.utils import timezone

from civicgrid.cases.models import Case

from . import kpis
from .models import CaseRollup, RollupDirty, RollupMark
from .models.rollups import AREA_LENGTH

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


def _rows(grouped: Iterable[dict[str, Any]]) -> Iterator[CaseRollup]:
    for row in grouped:
        yield CaseRollup(
            month=row["r_month"],
            area=row["r_area"],
            category_id=row["r_major"],
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
    start, end = _month_range(month)
    where = Q()
    for area in areas:
        where |= area_q(area)
    cases = Case.objects.filter(where, reported_at__gte=start, reported_at__lt=end)
    CaseRollup.objects.filter(month=month, area__in=areas).delete()
    created = CaseRollup.objects.bulk_create(_rows(bucketed(cases)))
    return len(created)


def refresh(limit: int | None = None) -> int:
    """Recompute the township-months marked since the last refresh; returns how many. Only
    one refresher works at a time (a row lock); another caller returns 0 at once."""
    RollupMark.objects.get_or_create(key=MARK_KEY)
    with transaction.atomic():
        held = list(RollupMark.objects.select_for_update(skip_locked=True).filter(key=MARK_KEY))
        if not held:
            return 0
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
    """Recompute every bucket (from the month of `since` on); returns the rows written."""
    with transaction.atomic():
        RollupMark.objects.get_or_create(key=MARK_KEY)
        list(RollupMark.objects.select_for_update().filter(key=MARK_KEY))
        rollups = CaseRollup.objects.all()
        cases = Case.objects.all()
        marks = RollupDirty.objects.all()
        if since is not None:
            first = since.replace(day=1)
            rollups = rollups.filter(month__gte=first)
            cases = cases.filter(reported_at__gte=_midnight(first))
            marks = marks.filter(month__gte=first)
        rollups.delete()
        marks.delete()
        written = 0
        batch: list[CaseRollup] = []
        for row in _rows(bucketed(cases).iterator(chunk_size=5000)):
            batch.append(row)
            if len(batch) >= 5000:
                written += len(CaseRollup.objects.bulk_create(batch))
                batch = []
        written += len(CaseRollup.objects.bulk_create(batch))
        RollupMark.objects.filter(key=MARK_KEY).update(refreshed_at=timezone.now())
        return written


def renumber_areas(old_path: str, new_path: str) -> None:
    """A division renumbered at township level or above (区划调整): its rollup rows follow
    its cases, whose paths the renumbering rewrote in the same transaction. (Below township
    level the first nine digits, and so the rollup areas, stay as they are.)"""
    for model in (CaseRollup, RollupDirty):
        model.objects.filter(area__startswith=old_path).update(
            area=Concat(
                Value(new_path), Substr("area", len(old_path) + 1), output_field=CharField()
            )
        )


def refreshed_at() -> dt.datetime | None:
    return RollupMark.objects.filter(key=MARK_KEY).values_list("refreshed_at", flat=True).first()
