"""Catalog pages: the case categories and SLA policies (read by every staff role), the working
calendar with its editor and a deadline calculator, and the routing matrix of the user's area.
Categories and SLA policies themselves are edited in the admin site (admin.py)."""

from __future__ import annotations

import calendar as pycalendar
import datetime as dt
import re
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext_lazy, ngettext, pgettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from civicgrid.cases.rules import centre_for
from civicgrid.core import calendar as cal
from civicgrid.core.importing import ImportReport
from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can, reaches, require
from civicgrid.geo.choices import Level
from civicgrid.geo.views import division_by_code
from civicgrid.web.forms import run_action
from civicgrid.web.typing import AuthedRequest

from . import actions
from .choices import DayKind, LimitUnit, Stage
from .forms import (
    WEEKDAYS,
    CalendarImportForm,
    DeadlineForm,
    RouteForm,
    WorkingWeekForm,
    format_periods,
)
from .models import CalendarDay, CaseCategory, Route, SlaLimit, SlaPolicy, WorkingCalendar
from .selectors import DEFAULT_CALENDAR, DEFAULT_WEEKLY, build_calendar, current_calendar
from .selectors import resolve_route as find_route

STAGE_SHORT = {
    Stage.ACCEPT: pgettext_lazy("SLA stage", "accept"),
    Stage.HANDLE: pgettext_lazy("SLA stage", "handle"),
    Stage.CHECK: pgettext_lazy("SLA stage", "check"),
}
FIELD_TYPES = {
    "text": gettext_lazy("text"),
    "number": gettext_lazy("number"),
    "integer": gettext_lazy("whole number"),
    "boolean": gettext_lazy("yes or no"),
    "choice": gettext_lazy("choice"),
}
WEEKDAY_INITIALS = [
    pgettext_lazy("weekday initial", "Mo"),
    pgettext_lazy("weekday initial", "Tu"),
    pgettext_lazy("weekday initial", "We"),
    pgettext_lazy("weekday initial", "Th"),
    pgettext_lazy("weekday initial", "Fr"),
    pgettext_lazy("weekday initial", "Sa"),
    pgettext_lazy("weekday initial", "Su"),
]


# --- readable limits --------------------------------------------------------------------------
def amount_text(amount: Decimal | float, unit: str) -> str:
    """'1 working day', '0.5 urgent hours', '15 working days' (localized)."""
    number = Decimal(str(amount))
    shown = f"{number.normalize():f}"
    count = 1 if number == 1 else 2
    if unit == LimitUnit.WORKING_DAYS:
        text = ngettext("%(n)s working day", "%(n)s working days", count)
    elif unit == LimitUnit.URGENT_HOURS:
        text = ngettext("%(n)s urgent hour", "%(n)s urgent hours", count)
    else:
        text = ngettext("%(n)s working hour", "%(n)s working hours", count)
    return text % {"n": shown}


def stage_text(limits: list[SlaLimit], stage: str, *, named: bool = True) -> str:
    """'handle 1 working day', or a staged limit: 'handle 警戒围挡 3 urgent hours → 抢修 …'
    (without the stage's name when `named` is false)."""
    steps = sorted((x for x in limits if x.stage == stage), key=lambda x: x.order)
    if not steps:
        return ""
    parts = [(f"{x.step} " if x.step else "") + amount_text(x.amount, x.unit) for x in steps]
    text = " → ".join(parts)
    return f"{STAGE_SHORT[Stage(stage)]} {text}" if named else text


def policy_summary(policy: SlaPolicy | None) -> str:
    """All stage limits of a policy on one line: 'accept 1 working hour · handle … · check …'."""
    if policy is None:
        return ""
    limits = list(policy.limits.all())
    return " · ".join(t for t in (stage_text(limits, s) for s in Stage.values) if t)


def _field_rows(category: CaseCategory) -> list[dict[str, Any]]:
    english = (get_language() or "").startswith("en")
    rows = []
    for spec in category.field_specs():
        label = spec.get("label") or spec.get("name", "")
        if english and spec.get("label_en"):
            label = spec["label_en"]
        rows.append(
            {
                "label": label,
                "type": FIELD_TYPES.get(spec.get("type", "text"), spec.get("type", "")),
                "required": bool(spec.get("required")),
                "choices": ", ".join(str(c) for c in spec.get("choices", [])),
            }
        )
    return rows


# --- categories and SLA policies --------------------------------------------------------------
@login_required
def index(request: AuthedRequest) -> HttpResponse:
    policies = {p.pk: p for p in SlaPolicy.objects.prefetch_related("limits")}
    categories = list(CaseCategory.objects.select_related("parent").order_by("sort_order", "code"))
    show_retired = request.GET.get("retired") == "1"
    majors = []
    for major in (c for c in categories if c.parent_id is None):
        if not major.is_active and not show_retired:
            continue
        minors = []
        for minor in (c for c in categories if c.parent_id == major.pk):
            if not minor.is_active and not show_retired:
                continue
            own = policies.get(minor.sla_policy_id) if minor.sla_policy_id else None
            effective = own or policies.get(major.sla_policy_id or 0)
            minors.append(
                {
                    "category": minor,
                    "policy": effective,
                    "inherited": own is None and effective is not None,
                    "summary": policy_summary(effective),
                    "fields": _field_rows(minor),
                    "filing": minor.filing_criterion
                    if minor.filing_criterion != major.filing_criterion
                    else "",
                    "closing": minor.closing_criterion
                    if minor.closing_criterion != major.closing_criterion
                    else "",
                }
            )
        policy = policies.get(major.sla_policy_id or 0)
        majors.append(
            {
                "category": major,
                "policy": policy,
                "summary": policy_summary(policy),
                "fields": _field_rows(major),
                "minors": minors,
            }
        )
    used: dict[int, int] = {}
    for c in categories:
        if c.sla_policy_id:
            used[c.sla_policy_id] = used.get(c.sla_policy_id, 0) + 1
    policy_rows = [
        {
            "policy": p,
            "warn_percent": int(p.warn_ratio * 100),
            "stages": [
                {"label": Stage(s).label, "text": stage_text(list(p.limits.all()), s, named=False)}
                for s in Stage.values
            ],
            "categories": used.get(p.pk, 0),
        }
        for p in sorted(policies.values(), key=lambda p: p.code)
    ]
    return render(
        request,
        "catalog/index.html",
        {
            "majors": majors,
            "policies": policy_rows,
            "show_retired": show_retired,
            "calendar_url": reverse("catalog:calendar"),
            "is_superuser": request.user.is_superuser,
            "may_edit_calendar": actions.may_edit_catalog(request.user),
        },
    )


# --- the working calendar ---------------------------------------------------------------------
def _require_editor(user: Any) -> None:
    if not actions.may_edit_catalog(user):
        raise PermissionDenied(_("Only a city-level system administrator edits the catalog."))


def _year(request: AuthedRequest) -> int:
    text = (request.GET.get("year") or "").strip()
    if text.isdigit() and 2000 <= int(text) <= 2100:
        return int(text)
    return timezone.localdate().year


def _month_grids(year: int, weekly: dict[str, list[str]], days: list[CalendarDay]) -> list[Any]:
    by_date = {d.date: d for d in days}
    work = build_calendar(weekly, [(d.date, d.kind) for d in days])
    months = []
    for month in range(1, 13):
        weeks = []
        for week in pycalendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
            cells: list[dict[str, Any] | None] = []
            for day in week:
                if day.month != month:
                    cells.append(None)
                    continue
                entry = by_date.get(day)
                if entry is not None:
                    kind = "holiday" if entry.kind == DayKind.HOLIDAY else "swapped"
                else:
                    kind = "work" if work.is_working_day(day) else "off"
                cells.append({"date": day, "kind": kind, "name": entry.name if entry else ""})
            weeks.append(cells)
        months.append({"name": date_format(dt.date(year, month, 1), "F"), "weeks": weeks})
    return months


def _deadline(form: DeadlineForm) -> dict[str, Any] | None:
    if not form.is_bound or not form.is_valid():
        return None
    data = form.cleaned_data
    calendar = current_calendar()
    try:
        due = cal.deadline(data["start"], float(data["amount"]), data["unit"], calendar)
    except cal.CalendarError as exc:
        form.add_error(None, str(exc))
        return None
    start = timezone.localtime(data["start"], calendar.tz)
    return {
        "start": start,
        "due": timezone.localtime(due, calendar.tz),
        "limit": amount_text(data["amount"], data["unit"]),
        "working": data["unit"] != LimitUnit.URGENT_HOURS,
    }


def _render_calendar(
    request: AuthedRequest,
    *,
    week_form: WorkingWeekForm | None = None,
    import_form: CalendarImportForm | None = None,
    report: ImportReport | None = None,
    pending: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    year = _year(request)
    row = WorkingCalendar.objects.filter(name=DEFAULT_CALENDAR).first()
    weekly = row.weekly if row else DEFAULT_WEEKLY
    all_days = CalendarDay.objects.filter(calendar=row) if row else CalendarDay.objects.none()
    days = list(all_days.filter(date__year=year))
    years = sorted({d.year for d in all_days.dates("date", "year")} | {year})
    editor = actions.may_edit_catalog(request.user)
    now = timezone.localtime().replace(second=0, microsecond=0)
    deadline_form = DeadlineForm(
        request.GET if "amount" in request.GET else None,
        initial={"start": now, "amount": 1, "unit": LimitUnit.WORKING_DAYS},
    )
    week_rows = []
    for day, label in enumerate(WEEKDAYS):
        periods = weekly.get(str(day), [])
        seconds = 0.0
        for text in periods:
            begin, end = cal.parse_period(text)
            base = dt.date(2000, 1, 1)
            seconds += (dt.datetime.combine(base, end) - dt.datetime.combine(base, begin)).seconds
        week_rows.append(
            {"label": label, "periods": format_periods(periods), "hours": seconds / 3600}
        )
    context = {
        "year": year,
        "years": years,
        "previous_year": year - 1 if year > 2000 else None,
        "next_year": year + 1 if year < 2100 else None,
        "week": week_rows,
        "days": days,
        "months": _month_grids(year, weekly, days),
        "weekday_initials": WEEKDAY_INITIALS,
        "holidays": sum(1 for d in days if d.kind == DayKind.HOLIDAY),
        "swapped": sum(1 for d in days if d.kind == DayKind.WORKDAY),
        "updated_at": row.updated_at if row else None,
        "editor": editor,
        "week_form": week_form or (WorkingWeekForm(weekly=weekly) if editor else None),
        "import_form": import_form or (CalendarImportForm() if editor else None),
        "report": report,
        "pending": pending,
        "deadline_form": deadline_form,
        "deadline": _deadline(deadline_form),
        "zone": current_calendar().zone,
    }
    return render(request, "catalog/calendar.html", context, status=status)


@login_required
def calendar_page(request: AuthedRequest) -> HttpResponse:
    return _render_calendar(request)


def _set_week(actor: Any, weekly: dict[str, list[str]]) -> WorkingCalendar:
    """The action, with its per-weekday errors ("0" … "6") put on the form's day fields."""
    try:
        return actions.do_set_working_week(actor=actor, weekly=weekly)
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise
        raise ValidationError(
            {
                (f"day_{key}" if key.isdigit() else NON_FIELD_ERRORS): errors
                for key, errors in exc.error_dict.items()
            }
        ) from exc


@login_required
@require_POST
def calendar_week(request: AuthedRequest) -> HttpResponse:
    _require_editor(request.user)
    form = WorkingWeekForm(request.POST)
    if form.is_valid():
        weekly = form.cleaned_data["weekly"]
        done = run_action(form, lambda: _set_week(request.user, weekly))
        if done is not None:
            messages.success(request, _("The working week is saved."))
            return redirect("catalog:calendar")
    return _render_calendar(request, week_form=form)


@login_required
@require_POST
def calendar_import(request: AuthedRequest) -> HttpResponse:
    _require_editor(request.user)
    form = CalendarImportForm(request.POST, request.FILES)
    report = None
    pending = None
    if form.is_valid() and "raw" in form.cleaned_data:
        data = form.cleaned_data
        report = run_action(
            form,
            lambda: actions.do_import_calendar_days(
                data["raw"],
                actor=request.user,
                year=data["year"],
                replace=not data["keep"],
                dry_run=data["dry_run"],
            ),
        )
        if report is not None and report.fatal:
            form.add_error("file" if data.get("file") else "text", report.fatal)
        elif report is not None and report.written:
            messages.success(
                request,
                _("Imported: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
                % {
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                },
            )
            first = re.search(r"(20\d\d|2100)-\d\d-\d\d", data["decoded"])
            year = data["year"] or (int(first.group(1)) if first else None)
            url = reverse("catalog:calendar")
            return redirect(f"{url}?year={year}" if year else url)
        elif report is not None and report.ok and report.dry_run:
            pending = {"text": data["decoded"], "year": data["year"], "keep": data["keep"]}
    return _render_calendar(request, import_form=form, report=report, pending=pending)


# --- the routing matrix -----------------------------------------------------------------------
def _may_route(user: Any) -> bool:
    return reaches(user, "org", Action.CHANGE)


def _route_tests(division: Any) -> list[dict[str, Any]]:
    """For each category in use: where a case at `division` would go, and why."""
    categories = list(
        CaseCategory.objects.filter(is_active=True)
        .select_related("parent")
        .order_by("sort_order", "code")
    )
    majors_with_minors = {c.parent_id for c in categories if c.parent_id}
    centre = centre_for(division.path)
    rows = []
    for category in categories:
        if category.parent_id is None and category.pk in majors_with_minors:
            continue  # cases are reported under a minor class
        route = find_route(category, division.path)
        rows.append(
            {
                "category": category,
                "route": route,
                "via_major": route is not None and route.category_id != category.pk,
                "inherited": route is not None and route.division_path != division.path,
                "fallback": centre,
            }
        )
    return rows


@login_required
def routes(request: AuthedRequest) -> HttpResponse:
    user = request.user
    qs = Route.objects.restrict(user, Action.VIEW).select_related(
        "category", "category__parent", "division", "unit"
    )
    under = division_by_code(user, request.GET.get("under"))
    if under is not None:
        qs = qs.filter(subtree_q("division_path", under.path))
    category_code = (request.GET.get("category") or "").strip()
    category = CaseCategory.objects.filter(code=category_code).first() if category_code else None
    if category is not None:
        qs = qs.filter(Q(category=category) | Q(category__parent=category))
    page = Paginator(qs.order_by("division_path", "category__sort_order", "pk"), 50).get_page(
        request.GET.get("page")
    )
    test = division_by_code(user, request.GET.get("test"))
    may_change = _may_route(user)
    return render(
        request,
        "catalog/routes.html",
        {
            "page_obj": page,
            "under": under,
            "category": category,
            "category_code": category_code,
            "categories": CaseCategory.objects.filter(is_active=True).order_by(
                "sort_order", "code"
            ),
            "test": test,
            "tests": _route_tests(test) if test is not None else None,
            "test_is_grid": test is not None and test.level == Level.GRID,
            "may_change": may_change,
            "deletable": {r.pk for r in page if may_change and can(user, r, Action.CHANGE)},
        },
    )


@login_required
def route_add(request: AuthedRequest) -> HttpResponse:
    """Add a route, or replace the one set for that category at that division."""
    user = request.user
    require(user, "org", Action.CHANGE, _("Only a system administrator changes the routing."))
    initial: dict[str, Any] = {}
    division = None
    if request.method != "POST":
        probe = RouteForm(user=user)
        division = probe.find_division(request.GET.get("division", ""))
        if division is not None:
            initial["division"] = division.code
        code = request.GET.get("category", "")
        category = CaseCategory.objects.filter(code=code).first() if code else None
        if category is not None:
            initial["category"] = category.pk
    form = RouteForm(request.POST or None, user=user, division=division, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        route = run_action(
            form,
            lambda: actions.do_set_route(
                actor=user,
                category=data["category"],
                division=data["division"],
                unit=data["unit"],
                note=data["note"],
            ),
        )
        if route is not None:
            messages.success(
                request,
                _("Cases of %(category)s at %(division)s now go to %(unit)s.")
                % {
                    "category": route.category.label,
                    "division": route.division.name,
                    "unit": route.unit.name,
                },
            )
            return redirect(f"{reverse('catalog:routes')}?under={route.division.code}")
    template = "catalog/includes/route_unit.html" if request.htmx else "catalog/route_form.html"  # type: ignore[attr-defined]
    return render(request, template, {"form": form, "division": form.place})


@login_required
@require_POST
def route_delete(request: AuthedRequest, pk: int) -> HttpResponse:
    user = request.user
    route = get_object_or_404(
        Route.objects.restrict(user, Action.VIEW).select_related("division"),
        pk=pk,
    )
    if not can(user, route, Action.CHANGE):
        raise PermissionDenied(_("You may not change routing here."))
    code = route.division.code
    actions.do_delete_route(route, actor=user)
    messages.success(request, _("The route is removed."))
    return redirect(f"{reverse('catalog:routes')}?under={code}")
