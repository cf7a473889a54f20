"""Figures for an area and a period, grouped any way the pages and the API ask.

One entry point, `figures`, answers from a rollup where one holds the figure (whole months; an
area and grouping at township level or above, by major class too, from CaseRollup; down to
communities without a category, from CommunityRollup; a grouping the rollups keep) and live
from the case table for the rest — the days at either edge of a custom period
included. Both sides compute the counters of kpis.py, so the sum is exact; `source` says which
was used. `cases_behind` lists the cases a figure counts, with the same conditions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import DateField, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Substr, TruncDate, TruncMonth, TruncWeek
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.models import Unit, User
from civicgrid.cases.choices import Channel
from civicgrid.cases.models import Case
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.scoping import reaches
from civicgrid.geo.choices import PATH_LENGTH, Level
from civicgrid.geo.models import Division

from . import duties, kpis, rollup
from .models import CaseRollup, CommunityRollup
from .models.rollups import AREA_LENGTH, COMMUNITY_LENGTH

PERIODS = ("day", "week", "month", "year", "custom")
GROUPS: dict[str, Any] = {
    "": gettext_lazy("no grouping"),
    "child": gettext_lazy("subordinate divisions"),
    "grid": gettext_lazy("grids"),
    "major": gettext_lazy("major category"),
    "category": gettext_lazy("minor category"),
    "day": gettext_lazy("day"),
    "week": gettext_lazy("week"),
    "month": gettext_lazy("month"),
    "unit": gettext_lazy("handling unit"),
    "worker": gettext_lazy("reporter (grid worker)"),
    "channel": gettext_lazy("channel"),
}
ROLLUP_GROUPS = frozenset({"", "child", "major", "month"})
MAX_CUSTOM_DAYS = 366 * 3


# --- periods ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date  # inclusive
    end: dt.date  # inclusive

    @classmethod
    def of(cls, kind: str, anchor: dt.date) -> Period:
        if kind == "day":
            return cls(kind, anchor, anchor)
        if kind == "week":
            start = anchor - dt.timedelta(days=anchor.weekday())
            return cls(kind, start, start + dt.timedelta(days=6))
        if kind == "month":
            start = anchor.replace(day=1)
            return cls(kind, start, rollup.next_month(start) - dt.timedelta(days=1))
        if kind == "year":
            return cls(kind, anchor.replace(month=1, day=1), anchor.replace(month=12, day=31))
        raise ValueError(kind)

    def previous(self) -> Period:
        if self.kind in {"day", "week", "month", "year"}:
            return Period.of(self.kind, self.start - dt.timedelta(days=1))
        length = self.end - self.start
        end = self.start - dt.timedelta(days=1)
        return Period(self.kind, end - length, end)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        if self.kind == "day":
            return self.start.isoformat()
        if self.kind == "month":
            return f"{self.start:%Y-%m}"
        if self.kind == "year":
            return f"{self.start:%Y}"
        return f"{self.start.isoformat()} – {self.end.isoformat()}"

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return rollup.midnight(self.start), rollup.midnight(self.end + dt.timedelta(days=1))

    def whole_months(self) -> tuple[dt.date, dt.date] | None:
        """The first days of the first and last whole months inside the period, if any."""
        first = self.start if self.start.day == 1 else rollup.next_month(self.start)
        after = rollup.next_month(self.end.replace(day=1))
        last_day = after - dt.timedelta(days=1)
        last = self.end.replace(day=1) if self.end == last_day else _prev_month(self.end)
        if first > last:
            return None
        return first, last


def _prev_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


# --- queries ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KpiQuery:
    area: Division
    period: Period
    group: str = ""
    category: CaseCategory | None = None
    level: int | None = None

    @property
    def child_level(self) -> int:
        if self.group == "grid":
            return Level.GRID
        return self.level or min(self.area.level + 1, Level.GRID)


@dataclass
class Row:
    key: str
    label: str
    counters: dict[str, int]
    values: dict[str, float | None] = field(default_factory=dict)
    division: Division | None = None


@dataclass
class Figures:
    query: KpiQuery
    total: Row
    previous: Row | None
    rows: list[Row]
    source: str
    as_of: dt.datetime


def may_view(user: Any) -> bool:
    return user is not None and user.is_authenticated and reaches(user, "insights", "view")


def areas_for(user: Any) -> list[Division]:
    """The top divisions whose figures the user may see (their role divisions, outermost)."""
    if not may_view(user):
        return []
    paths = user.scope_paths("insights", "view")
    divisions = Division.objects.filter(is_active=True).defer("boundary")
    if paths is None:  # a superuser: the roots
        return list(divisions.filter(parent__isnull=True))
    outer = sorted(p for p in set(paths) if not any(p != q and p.startswith(q) for q in paths))
    found = {d.path: d for d in divisions.filter(path__in=outer)}
    return [found[p] for p in outer if p in found]


def in_scope(user: Any, area: Division) -> bool:
    if user is None:
        return True
    if not may_view(user):
        return False
    paths = user.scope_paths("insights", "view")
    return paths is None or any(area.path.startswith(p) for p in paths)


def _date(data: Mapping[str, Any], name: str) -> dt.date | None:
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationError({name: _("Enter a date as YYYY-MM-DD.")}) from None


def parse_query(user: Any, data: Mapping[str, Any]) -> KpiQuery:
    """A query from request parameters (division, period, date, from, to, group, category,
    level). Bad values raise ValidationError naming the field; an area the user may not see is
    a 404, as everywhere."""
    errors: dict[str, str] = {}
    code = (data.get("division") or "").strip()
    area: Division | None
    if code:
        area = Division.objects.defer("boundary").filter(code=code, is_active=True).first()
        if area is None:
            raise Http404
    else:
        areas = areas_for(user)
        area = areas[0] if areas else None
        if area is None:
            raise Http404
    if not in_scope(user, area):
        raise Http404
    kind = (data.get("period") or "month").strip()
    if kind not in PERIODS:
        errors["period"] = _("Choose day, week, month, year or custom.")
    group = (data.get("group") or "").strip()
    if group not in GROUPS:
        errors["group"] = _("Not a grouping figures offer.")
    category = None
    category_code = (data.get("category") or "").strip()
    if category_code:
        category = CaseCategory.objects.filter(code=category_code).first()
        if category is None:
            errors["category"] = _("No category has this code.")
    level = None
    raw_level = (data.get("level") or "").strip()
    if raw_level:
        try:
            level = int(raw_level)
        except ValueError:
            level = -1
        if level not in Level.values or level <= area.level:
            errors["level"] = _("Choose a division level below the area's.")
    period = None
    try:
        if kind == "custom":
            start, end = _date(data, "from"), _date(data, "to")
            if start is None:
                errors["from"] = _("Give the first day of the period.")
            if end is None:
                errors["to"] = _("Give the last day of the period.")
            if start and end:
                if end < start:
                    errors["to"] = _("The period ends before it starts.")
                elif (end - start).days >= MAX_CUSTOM_DAYS:
                    errors["to"] = _("A period can span at most three years.")
                else:
                    period = Period("custom", start, end)
        elif kind in PERIODS:
            period = Period.of(kind, _date(data, "date") or timezone.localdate())
    except ValidationError as error:
        errors.update({k: v[0] for k, v in error.message_dict.items()})
    if errors or period is None:
        raise ValidationError(errors or {"period": _("Choose a period.")})
    return KpiQuery(area=area, period=period, group=group, category=category, level=level)


def query_string(query: KpiQuery, **changes: Any) -> str:
    params: dict[str, Any] = {
        "division": query.area.code,
        "period": query.period.kind,
        "group": query.group,
        "category": query.category.code if query.category else "",
        "level": query.level or "",
    }
    if query.period.kind == "custom":
        params.update({"from": query.period.start.isoformat(), "to": query.period.end.isoformat()})
    else:
        params["date"] = query.period.start.isoformat()
    params.update(changes)
    return urlencode({k: v for k, v in params.items() if v not in ("", None)})


# --- the live side ------------------------------------------------------------------------------
def _category_q(category: CaseCategory | None, prefix: str = "") -> Q:
    if category is None:
        return Q()
    if category.parent_id is None:
        return Q(**{f"{prefix}category_id": category.pk}) | Q(
            **{f"{prefix}category__parent_id": category.pk}
        )
    return Q(**{f"{prefix}category_id": category.pk})


def cohort(query: KpiQuery, start: dt.date, end: dt.date) -> QuerySet[Case]:
    """The cases reported in [start, end] (local days) in the query's area and category."""
    return Case.objects.filter(
        _category_q(query.category),
        division_path__startswith=query.area.path,
        reported_at__gte=rollup.midnight(start),
        reported_at__lt=rollup.midnight(end + dt.timedelta(days=1)),
    )


def _live_key(query: KpiQuery) -> Any:
    group = query.group
    if group in {"child", "grid"}:
        return Substr("division_path", 1, PATH_LENGTH[query.child_level])
    if group == "major":
        return Coalesce("category__parent_id", "category_id")
    if group == "category":
        return F("category_id")
    if group == "day":
        return TruncDate("reported_at")
    if group == "week":
        return TruncWeek("reported_at", output_field=DateField())
    if group == "month":
        return TruncMonth("reported_at", output_field=DateField())
    if group == "unit":
        return F("handler_unit_id")
    if group == "worker":
        return F("reporter_id")
    if group == "channel":
        return F("channel")
    return None


def _live(query: KpiQuery, start: dt.date, end: dt.date) -> dict[Any, dict[str, int]]:
    cases = cohort(query, start, end)
    key = _live_key(query)
    if key is None:
        return {"": {k: v or 0 for k, v in cases.aggregate(**kpis.aggregates()).items()}}
    rows = cases.annotate(g=key).values("g").annotate(**kpis.aggregates()).order_by()
    return _by_key(rows)


def _by_key(rows: Iterable[Any]) -> dict[Any, dict[str, int]]:
    return {row["g"]: {name: row[name] or 0 for name in kpis.COUNTERS} for row in rows}


# --- the rollup side ----------------------------------------------------------------------------
def _rollup_key(query: KpiQuery) -> Any:
    if query.group == "child":
        return Substr("area", 1, PATH_LENGTH[query.child_level])
    if query.group == "major":
        return F("category_id")
    if query.group == "month":
        return F("month")
    return None


Rollup = type[CaseRollup] | type[CommunityRollup]


def rollup_for(query: KpiQuery) -> Rollup | None:
    """The rollup that holds the query's figures for whole months, if one does: CaseRollup
    down to townships (by major class too), CommunityRollup down to communities (no
    category)."""
    if query.group not in ROLLUP_GROUPS:
        return None
    depth = len(query.area.path)
    if query.group == "child":
        depth = max(depth, PATH_LENGTH[query.child_level])
    if query.category is None or query.category.parent_id is None:
        if depth <= AREA_LENGTH:
            return CaseRollup
        if depth <= COMMUNITY_LENGTH and query.category is None and query.group != "major":
            return CommunityRollup
    return None


def _rolled(query: KpiQuery, first: dt.date, last: dt.date) -> dict[Any, dict[str, int]]:
    model = rollup_for(query) or CaseRollup
    rows: QuerySet[Any] = model.objects.filter(
        area__startswith=query.area.path, month__gte=first, month__lte=last
    )
    if query.category is not None:  # only CaseRollup has one (rollup_for)
        rows = rows.filter(category_id=query.category.pk)
    sums = {name: Sum(name) for name in kpis.COUNTERS}
    key = _rollup_key(query)
    if key is None:
        found = rows.aggregate(**sums)
        if found["reported"] is None:
            return {}
        return {"": {k: v or 0 for k, v in found.items()}}
    return _by_key(rows.annotate(g=key).values("g").annotate(**sums).order_by())


def uses_rollup(query: KpiQuery) -> bool:
    return query.period.whole_months() is not None and rollup_for(query) is not None


def _merge(into: dict[Any, dict[str, int]], more: Mapping[Any, Mapping[str, int]]) -> None:
    for key, counters in more.items():
        target = into.setdefault(key, kpis.empty())
        for name, number in counters.items():
            target[name] = target.get(name, 0) + (number or 0)


def counters(
    query: KpiQuery, period: Period, *, source: str = "auto", checked: bool = False
) -> tuple[dict[Any, dict[str, int]], str]:
    """Counters per group key for a period; `source` "auto", "live" or "rollup" (the latter
    two for tests and the benchmark). `checked`: the caller brought the rollup up to date
    (`up_to_date`) already."""
    months = period.whole_months()
    if not _reads_rollup(replace(query, period=period), source) or months is None:
        return _live(query, period.start, period.end), "live"
    if not checked:
        up_to_date()
    first, last = months
    found: dict[Any, dict[str, int]] = {}
    _merge(found, _rolled(query, first, last))
    if period.start < first:
        _merge(found, _live(query, period.start, first - dt.timedelta(days=1)))
    after_last = rollup.next_month(last)
    if period.end >= after_last:
        _merge(found, _live(query, after_last, period.end))
    return found, "rollup"


def _reads_rollup(query: KpiQuery, source: str) -> bool:
    return source == "rollup" or (source == "auto" and uses_rollup(query))


def up_to_date() -> int:
    """Refresh the rollup before reading it when only a few changes wait; returns how many
    township-months still wait (too many to refresh on reading, or another refresher is at
    work)."""
    waiting = rollup.pending()
    if waiting and waiting <= settings.ROLLUP_READ_REFRESH and rollup.refresh():
        return 0  # what committed after the refresh read its marks is newer than this read
    return waiting


# --- labels -------------------------------------------------------------------------------------
def _labels(query: KpiQuery, keys: Iterable[Any]) -> dict[Any, tuple[str, str, Division | None]]:
    """Each group key as (stable key, label, division)."""
    keys = [k for k in keys if k not in (None, "")] if query.group else list(keys)
    out: dict[Any, tuple[str, str, Division | None]] = {}
    group = query.group
    if group in {"child", "grid"}:
        found = {
            d.path: d
            for d in Division.objects.defer("boundary").filter(path__in=keys, is_active=True)
        }
        for key in keys:
            division = found.get(key)
            if division is not None and division.path != query.area.path:
                out[key] = (key, division.name, division)
            else:
                label = _("placed at %(area)s itself") % {"area": (division or query.area).name}
                out[key] = (key, label, division)
    elif group in {"major", "category"}:
        cats = {c.pk: c for c in CaseCategory.objects.filter(pk__in=keys)}
        for key in keys:
            cat = cats.get(key)
            out[key] = (cat.code, str(cat), None) if cat else (str(key), str(key), None)
    elif group in {"day", "week", "month"}:
        for key in keys:
            day = key.date() if isinstance(key, dt.datetime) else key
            text = f"{day:%Y-%m}" if group == "month" else day.isoformat()
            out[key] = (day.isoformat(), text, None)
    elif group == "unit":
        units = dict(Unit.objects.filter(pk__in=keys).values_list("pk", "name"))
        for key in keys:
            out[key] = (str(key), units.get(key, str(key)), None)
    elif group == "worker":
        users = {u.pk: u for u in User.objects.filter(pk__in=keys)}
        for key in keys:
            user = users.get(key)
            out[key] = (str(key), (user.get_full_name() or user.username) if user else "", None)
    elif group == "channel":
        for key in keys:
            out[key] = (key, str(Channel(key).label) if key in Channel.values else key, None)
    return out


def _none_label(group: str) -> str:
    if group == "unit":
        return _("not dispatched")
    return _("none")


def _row(key: str, label: str, counters: dict[str, int], division: Division | None = None) -> Row:
    full = {**kpis.empty(), **counters}
    return Row(key=key, label=label, counters=full, values=kpis.values(full), division=division)


def _summed(grouped: Mapping[Any, Mapping[str, int]]) -> dict[str, int]:
    total = kpis.empty()
    for part in grouped.values():
        for name, number in part.items():
            total[name] += number
    return total


def figures(user: Any, query: KpiQuery, *, compare: bool = True, source: str = "auto") -> Figures:
    """Every KPI for the query's area and period, in total and per group, with the previous
    period's total for comparison. `user` None is the system (scorecard runs, benchmarks)."""
    if not in_scope(user, query.area):
        raise Http404
    before = query.period.previous()
    past_query = replace(query, group="", period=before)
    waiting = 0
    if _reads_rollup(query, source) or (compare and _reads_rollup(past_query, source)):
        waiting = up_to_date()
    grouped, used = counters(query, query.period, source=source, checked=True)
    in_use = duties.patrols_recorded(query.area.path)
    extra = duties.counters(query.area, query.period, in_use=in_use)
    total = _row("", query.area.name, {**_summed(grouped), **extra})
    rows: list[Row] = []
    if query.group:
        labels = _labels(query, grouped)
        by_division = {}
        if query.group in {"child", "grid"}:
            length = PATH_LENGTH[query.child_level]
            by_division = duties.counters_by(query.area, query.period, length, in_use=in_use)
        for key, part in grouped.items():
            if key in (None, ""):
                rows.append(_row("-", _none_label(query.group), part))
                continue
            stable, label, division = labels[key]
            if division is not None and key in by_division:
                part = {**part, **by_division[key]}
            rows.append(_row(stable, label, part, division))
        rows.sort(key=lambda r: r.key)
    previous = None
    if compare:
        past, _used = counters(past_query, before, source=source, checked=True)
        past_duties = duties.counters(query.area, before, in_use=in_use)
        previous = _row("", before.label(), {**_summed(past), **past_duties})
    as_of = timezone.now()
    if used == "rollup" and waiting:
        # Too many changes waited to refresh on reading: the figures are as of the last run.
        as_of = rollup.refreshed_at() or as_of
    return Figures(query, total, previous, rows, used, as_of)


# --- tracing ------------------------------------------------------------------------------------
def _key_q(query: KpiQuery, key: str) -> Q:
    """The cases of one row of a grouped figure."""
    group = query.group
    if not group or not key:
        return Q()
    if key == "-":
        field_name = {"unit": "handler_unit", "worker": "reporter"}.get(group)
        return Q(**{f"{field_name}__isnull": True}) if field_name else Q(pk__in=[])
    if group in {"child", "grid"}:
        if len(key) < PATH_LENGTH[query.child_level]:
            return Q(division_path=key)
        return Q(division_path__startswith=key)
    if group in {"major", "category"}:
        cat = CaseCategory.objects.filter(code=key).first()
        return _category_q(cat) if cat else Q(pk__in=[])
    if group in {"day", "week", "month"}:
        try:
            day = dt.date.fromisoformat(key)
        except ValueError:
            return Q(pk__in=[])
        span = Period.of(group, day) if group != "day" else Period("day", day, day)
        start, end = span.bounds()
        return Q(reported_at__gte=start, reported_at__lt=end)
    if group in {"unit", "worker"}:
        if not key.isdigit():
            return Q(pk__in=[])
        return Q(**{("handler_unit_id" if group == "unit" else "reporter_id"): int(key)})
    if group == "channel":
        return Q(channel=key)
    return Q()


def _terms_q(terms: tuple[str, ...]) -> Q:
    wanted = Q(pk__in=[])
    excluded = Q()
    for term in terms:
        if term.startswith("-"):
            excluded &= ~kpis.condition(term[1:])
        elif kpis.CONDITIONS.get(term, True) is None:
            wanted = Q(pk__isnull=False)  # every case of the cohort
        else:
            wanted |= kpis.condition(term)
    return wanted & excluded


def cases_behind(
    user: Any, query: KpiQuery, kpi: str, part: str = "numerator", key: str = ""
) -> QuerySet[Case]:
    """Exactly the cases a figure counts. Raises ValidationError for an unknown KPI or part."""
    if kpi not in kpis.KPIS:
        raise ValidationError({"kpi": _("No such indicator.")})
    if part not in {"numerator", "denominator"}:
        raise ValidationError({"part": _("Choose numerator or denominator.")})
    if not in_scope(user, query.area):
        raise Http404
    definition = kpis.KPIS[kpi]
    cases = cohort(query, query.period.start, query.period.end).filter(_key_q(query, key))
    if definition.source != "cases":
        return cases.none()
    if definition.kind == "index":
        return cases  # the composite rests on the whole cohort
    terms = definition.numerator if part == "numerator" else definition.denominator
    if not terms:
        terms = ("reported",) if part == "denominator" else definition.numerator
    return cases.filter(_terms_q(terms)).select_related("category", "owner_unit")
