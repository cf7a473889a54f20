"""Reading the catalog: the working calendar (cached per process, invalidated by a version
stamp like the point→grid index), SLA limits and the routing matrix."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

from django.conf import settings

from civicgrid.core import versioning
from civicgrid.core.calendar import WorkCalendar, parse_period
from civicgrid.core.paths import minimal_prefixes

from .choices import DayKind
from .models import CalendarDay, CaseCategory, Route, SlaLimit, WorkingCalendar

CALENDAR_STAMP = "catalog.calendar"
DEFAULT_CALENDAR = "default"
DEFAULT_WEEKLY = {str(d): (["08:30-12:00", "13:30-17:30"] if d < 5 else []) for d in range(7)}

_lock = threading.Lock()
_cache: dict[str, Any] = {"calendar": None, "version": -1, "checked": 0.0}


def build_calendar(weekly: dict[str, list[str]], days: list[tuple[dt.date, str]]) -> WorkCalendar:
    return WorkCalendar(
        zone=settings.TIME_ZONE,
        weekly=tuple(tuple(parse_period(p) for p in weekly.get(str(d), [])) for d in range(7)),
        holidays=frozenset(day for day, kind in days if kind == DayKind.HOLIDAY),
        workdays=frozenset(day for day, kind in days if kind == DayKind.WORKDAY),
    )


def load_calendar() -> WorkCalendar:
    row = WorkingCalendar.objects.filter(name=DEFAULT_CALENDAR).first()
    if row is None:
        return build_calendar(DEFAULT_WEEKLY, [])
    days = list(CalendarDay.objects.filter(calendar=row).values_list("date", "kind"))
    return build_calendar(row.weekly, days)


def current_calendar() -> WorkCalendar:
    """The working calendar, rebuilt when it was edited (checked every few seconds)."""
    now = time.monotonic()
    interval = settings.LOCATE_INDEX_CHECK_SECONDS
    if _cache["calendar"] is not None and now - _cache["checked"] < interval:
        return _cache["calendar"]
    with _lock:
        version = versioning.current(CALENDAR_STAMP)
        _cache["checked"] = time.monotonic()
        if _cache["calendar"] is None or version != _cache["version"]:
            _cache["calendar"] = load_calendar()
            _cache["version"] = version
        return _cache["calendar"]


def reset_calendar_cache() -> None:
    with _lock:
        _cache.update(calendar=None, version=-1, checked=0.0)


def limits(category: CaseCategory, stage: str) -> list[SlaLimit]:
    """The ordered limits of a stage under the category's policy (empty: no limit)."""
    policy = category.policy()
    if policy is None:
        return []
    return sorted(
        (limit for limit in policy.limits.all() if limit.stage == stage), key=lambda x: x.order
    )


def resolve_route(category: CaseCategory, division_path: str) -> Route | None:
    """The most specific route: the deepest division at or above the place, and a minor
    class's route before its major class's."""
    ancestors = [division_path[:n] for n in (2, 4, 6, 9, 12, 15) if n <= len(division_path)]
    candidates = [category.pk] + ([category.parent_id] if category.parent_id else [])
    routes = list(
        Route.objects.filter(
            category_id__in=candidates,
            division_path__in=ancestors,
            unit__is_active=True,
            division__is_active=True,
        ).select_related("unit", "unit__division")
    )
    if not routes:
        return None
    return max(routes, key=lambda r: (len(r.division_path), r.category_id == category.pk))


def visible_route_paths(user: Any) -> list[str] | None:
    paths = user.scope_paths("org", "view")
    return None if paths is None else minimal_prefixes(paths)
