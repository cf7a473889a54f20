"""Writes to the catalog: the working calendar, holidays and the routing matrix (audited).
Categories and SLA policies are edited by the installation's administrators in the admin site."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from civicgrid.accounts.models import Unit
from civicgrid.accounts.roles import Role
from civicgrid.core import versioning
from civicgrid.core.audit import record_change, snapshot
from civicgrid.core.calendar import CalendarError, parse_period
from civicgrid.core.importing import ImportReport, RowError, decode_text
from civicgrid.core.models import ChangeKind
from civicgrid.core.scoping import Action, can
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from .choices import DayKind
from .models import CalendarDay, CaseCategory, Route, WorkingCalendar
from .selectors import CALENDAR_STAMP, DEFAULT_CALENDAR, DEFAULT_WEEKLY

KIND_ALIASES: dict[str, str] = {
    "holiday": DayKind.HOLIDAY,
    "假日": DayKind.HOLIDAY,
    "放假": DayKind.HOLIDAY,
    "节假日": DayKind.HOLIDAY,
    "workday": DayKind.WORKDAY,
    "上班": DayKind.WORKDAY,
    "调休": DayKind.WORKDAY,
    "调休上班": DayKind.WORKDAY,
}


def may_edit_catalog(user: Any) -> bool:
    """Installation-wide configuration: the superuser, or a system administrator at city
    level or above."""
    if user is None or getattr(user, "is_superuser", False):
        return True
    return any(
        role == Role.SYSTEM_ADMIN and len(path) <= 4 for role, path in user.assignment_pairs()
    )


def _require_catalog(actor: Any) -> None:
    if not may_edit_catalog(actor):
        raise PermissionDenied(_("Only a city-level system administrator edits the catalog."))


def _calendar() -> WorkingCalendar:
    calendar, _created = WorkingCalendar.objects.get_or_create(
        name=DEFAULT_CALENDAR, defaults={"weekly": DEFAULT_WEEKLY}
    )
    return calendar


def do_set_working_week(*, actor: Any, weekly: dict[str, list[str]]) -> WorkingCalendar:
    """Set the working periods per weekday ("0" = Monday … "6" = Sunday)."""
    _require_catalog(actor)
    errors: dict[str, str] = {}
    clean: dict[str, list[str]] = {}
    for day in range(7):
        periods = weekly.get(str(day), [])
        if not isinstance(periods, list):
            errors[str(day)] = _("A list of periods like 08:30-12:00.")
            continue
        try:
            parsed = sorted(parse_period(str(p)) for p in periods)
        except CalendarError as exc:
            errors[str(day)] = str(exc)
            continue
        for (_s1, e1), (s2, _e2) in itertools.pairwise(parsed):
            if s2 < e1:
                errors[str(day)] = _("The periods of a day overlap.")
        clean[str(day)] = [f"{a:%H:%M}-{b:%H:%M}" for a, b in parsed]
    if not any(clean.values()) and not errors:
        errors["weekly"] = _("A week needs some working time.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        calendar = WorkingCalendar.objects.select_for_update().get(pk=_calendar().pk)
        before = snapshot(calendar)
        calendar.weekly = clean
        calendar.save(update_fields=["weekly", "updated_at"])
        record_change(calendar, ChangeKind.UPDATE, actor=actor, action="set_week", before=before)
        versioning.bump(CALENDAR_STAMP)
    return calendar


def do_import_calendar_days(
    raw: bytes, *, actor: Any, year: int | None = None, replace: bool = True, dry_run: bool = False
) -> ImportReport:
    """Import a year's holidays and swapped working days: CSV `date,kind,name` (kind: holiday or
    workday, 放假 or 上班). With `replace`, that year's earlier entries are replaced."""
    _require_catalog(actor)
    report = ImportReport(dry_run=dry_run)
    try:
        text = decode_text(raw)
    except ValidationError as exc:
        report.fatal = exc.messages[0]
        return report
    rows: list[tuple[int, dt.date, str, str]] = []
    seen: dict[dt.date, int] = {}
    reader = csv.reader(io.StringIO(text))
    for values in reader:
        line = reader.line_num
        if not values or not any(v.strip() for v in values):
            continue
        if line == 1 and values[0].strip().lower() in {"date", "日期"}:
            continue
        report.total += 1
        try:
            day = dt.date.fromisoformat(values[0].strip())
        except ValueError:
            report.errors.append(RowError(line, "date", _("Not a date (use YYYY-MM-DD).")))
            continue
        kind = KIND_ALIASES.get(values[1].strip().lower() if len(values) > 1 else "")
        if kind is None:
            report.errors.append(RowError(line, "kind", _("Use holiday or workday.")))
            continue
        if year is not None and day.year != year:
            report.errors.append(
                RowError(line, "date", _("The date is not in %(y)d.") % {"y": year})
            )
            continue
        if day in seen:
            report.errors.append(
                RowError(
                    line,
                    "date",
                    _("The date appears again (first on line %(l)d).") % {"l": seen[day]},
                )
            )
            continue
        seen[day] = line
        rows.append((line, day, kind, values[2].strip()[:60] if len(values) > 2 else ""))
    if report.errors or dry_run or not rows:
        if not rows and not report.errors:
            report.fatal = _("The file lists no days.")
        return report
    calendar = _calendar()
    years = {day.year for _l, day, _k, _n in rows}
    with transaction.atomic():
        existing = {
            d.date: d
            for d in CalendarDay.objects.filter(calendar=calendar, date__year__in=list(years))
        }
        wanted = {day for _l, day, _k, _n in rows}
        if replace:
            stale = [d for day, d in existing.items() if day not in wanted]
            for d in stale:
                record_change(
                    d, ChangeKind.DELETE, actor=actor, action="import_calendar", before=snapshot(d)
                )
                d.delete()
        for _line, day, kind, name in rows:
            current = existing.get(day)
            if current is None:
                created = CalendarDay.objects.create(
                    calendar=calendar, date=day, kind=kind, name=name
                )
                record_change(created, ChangeKind.CREATE, actor=actor, action="import_calendar")
                report.created += 1
            elif (current.kind, current.name) != (kind, name):
                before = snapshot(current)
                current.kind, current.name = kind, name
                current.save(update_fields=["kind", "name"])
                record_change(
                    current, ChangeKind.UPDATE, actor=actor, action="import_calendar", before=before
                )
                report.updated += 1
            else:
                report.unchanged += 1
        versioning.bump(CALENDAR_STAMP)
    report.written = True
    return report


def do_set_route(
    *, actor: Any, category: CaseCategory, division: Division, unit: Unit, note: str = ""
) -> Route:
    """Route cases of `category` at or under `division` to `unit` (replacing an earlier route)."""
    if actor is not None and not can(actor, division, Action.VIEW):
        raise ValidationError({"division": _("No such division in your area.")})
    paths = actor.scope_paths("org", Action.CHANGE) if actor is not None else None
    if paths is not None and not any(division.path.startswith(p) for p in paths):
        raise PermissionDenied(_("You may not change routing here."))
    errors: dict[str, str] = {}
    if division.level == Level.GRID:
        errors["division"] = _("Route at a community or above.")
    if not unit.is_active:
        errors["unit"] = _("The unit is inactive.")
    elif not (
        division.path.startswith(unit.division_path) or unit.division_path.startswith(division.path)
    ):
        errors["unit"] = _("The unit does not serve this division.")
    if not category.is_active:
        errors["category"] = _("This category is no longer in use.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        route = (
            Route.objects.select_for_update().filter(category=category, division=division).first()
        )
        if route is None:
            route = Route.objects.create(
                category=category,
                division=division,
                division_path=division.path,
                unit=unit,
                note=note,
            )
            record_change(route, ChangeKind.CREATE, actor=actor, action="set_route")
        else:
            before = snapshot(route)
            route.unit, route.note = unit, note
            route.save(update_fields=["unit", "note"])
            record_change(route, ChangeKind.UPDATE, actor=actor, action="set_route", before=before)
    return route


def do_delete_route(route: Route, *, actor: Any) -> None:
    if actor is not None and not can(actor, route, Action.CHANGE):
        raise PermissionDenied(_("You may not change routing here."))
    with transaction.atomic():
        record_change(
            route, ChangeKind.DELETE, actor=actor, action="delete_route", before=snapshot(route)
        )
        route.delete()
