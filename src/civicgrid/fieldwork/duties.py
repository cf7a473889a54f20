"""Grid workers' duties for a month, per grid and per grid worker (网格员履职): care-group visits
due and done, all visits, patrols and their hours, check-ins and the last activity.

One computation serves the duties page, the grid card, the worker page, the API
(`GET /api/v1/field/duties/`) and the `civicgrid field-duties` command. It counts with the
functions of insights/duties.py, so "visits done", "visits due" and "patrol minutes" here are
the very counters of the visits-done ÷ due and patrol-hours KPIs:

- visits done: care visits recorded in the month (the registry's "visit" action on a care tag,
  which a visit to a care-group member from the field app also writes), by whoever recorded
  them;
- visits due: what the grid's current care tags call for over the month. Due visits belong to
  the grid: each grid worker assigned there answers for all of them, so a row of someone
  helping out in a grid that is not theirs shows none, and the total counts each grid once;
- patrols and patrol minutes: patrols started in the month.

A row is a (grid, person) pair: every grid worker (or grid leader) assigned at a grid of the
area, anyone else who recorded duties there in the month, and a row without a person for each
grid that has nobody assigned.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.models import RoleAssignment, User
from civicgrid.accounts.roles import DataClass
from civicgrid.core.paths import is_under
from civicgrid.core.scoping import Action
from civicgrid.geo.choices import PATH_LENGTH, Level
from civicgrid.geo.models import Division
from civicgrid.insights import duties as counting
from civicgrid.insights.actions import parse_month
from civicgrid.insights.query import Period
from civicgrid.registry.models import CareTag

from .choices import FIELD_ROLES
from .models import CheckIn, Patrol, Visit

# The roles that record duties at a grid (the field app's "my grids").
# How far back "last activity" looks from the end of the month: far enough to tell a worker
# who stopped a few weeks ago from one never seen, near enough to stay an indexed range scan.
LOOKBACK_DAYS = 92


@dataclass
class DutyRow:
    grid: Division
    worker: User | None
    assigned: bool  # holds a field role at this grid now
    visits_due: int | None  # None: not this person's grid (due visits belong to the assigned)
    visits_done: int = 0
    visits: int = 0
    patrols: int = 0
    patrol_minutes: int = 0
    check_ins: int = 0
    check_ins_outside: int = 0
    last_activity: dt.datetime | None = None
    overdue_members: int = 0  # the grid's care-group members overdue today
    unstaffed: bool = False  # the grid has nobody assigned (this row is the grid's own)

    @property
    def visits_rate(self) -> float | None:
        if not self.visits_due:
            return None
        return self.visits_done / self.visits_due

    @property
    def patrol_hours(self) -> float:
        return self.patrol_minutes / 60

    @property
    def behind(self) -> bool:
        """Fewer visits done than due."""
        return self.visits_due is not None and self.visits_done < self.visits_due

    @property
    def key(self) -> tuple[str, int]:
        return (self.grid.path, self.worker.pk if self.worker else 0)


@dataclass
class Totals:
    workers: int = 0  # assigned grid workers (people helping out elsewhere not counted)
    grids: int = 0
    visits_due: int = 0
    visits_done: int = 0
    visits: int = 0
    patrols: int = 0
    patrol_minutes: int = 0
    check_ins: int = 0
    check_ins_outside: int = 0
    overdue_members: int = 0
    workers_without_patrol: int = 0
    grids_without_worker: int = 0

    @property
    def visits_rate(self) -> float | None:
        return self.visits_done / self.visits_due if self.visits_due else None

    @property
    def patrol_hours(self) -> float:
        return self.patrol_minutes / 60


@dataclass
class Duties:
    area: Division
    period: Period
    rows: list[DutyRow]
    total: Totals
    as_of: dt.datetime = field(default_factory=timezone.now)

    @property
    def month(self) -> str:
        return f"{self.period.start:%Y-%m}"


# --- input --------------------------------------------------------------------------------------
def month_period(value: Any = None) -> Period:
    """The month named by "YYYY-MM" (or the current month when empty); ValidationError naming
    `month` otherwise."""
    text = str(value or "").strip()
    if not text:
        return Period.of("month", timezone.localdate())
    if len(text) != 7:
        # parse_month also takes a whole date; a month filter wants a month.
        message = _("“%(value)s” is not a month: write YYYY-MM, e.g. 2026-03.")
        raise ValidationError({"month": message % {"value": text}})
    return Period.of("month", parse_month(text, field="month"))


def areas_for(user: Any) -> list[Division]:
    """The top divisions whose field work the user may see (outermost first)."""
    if user is None or not getattr(user, "is_authenticated", False):
        return []
    paths = user.scope_paths(DataClass.FIELD, Action.VIEW)
    divisions = Division.objects.filter(is_active=True).defer("boundary")
    if paths is None:
        return list(divisions.filter(parent__isnull=True).order_by("path"))
    found = {d.path: d for d in divisions.filter(path__in=list(paths))}
    return [found[p] for p in sorted(paths) if p in found]


def in_scope(user: Any, path: str) -> bool:
    paths = user.scope_paths(DataClass.FIELD, Action.VIEW)
    return paths is None or any(is_under(path, p) for p in paths)


def area_for(user: Any, code: Any = None) -> Division:
    """The division a user asked for by code (`under`), or their own top area.

    An unknown code and one outside the user's area get the same error, so the answer tells
    nothing about divisions they may not see."""
    text = str(code or "").strip()
    if not text:
        areas = areas_for(user)
        if not areas:
            raise ValidationError({"under": _("Your roles include no area with field work.")})
        return areas[0]
    if not text.isdigit() or len(text) > PATH_LENGTH[Level.GRID]:
        raise ValidationError(
            {"under": _("“%(code)s” is not a division code (digits only).") % {"code": text}}
        )
    division = Division.objects.defer("boundary").filter(code=text, is_active=True).first()
    if division is None or not in_scope(user, division.path):
        raise ValidationError({"under": _("No division with this code in your area.")})
    return division


def worker_id(value: Any) -> int | None:
    text = str(value or "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValidationError({"worker": _("Give the user id of a grid worker (a number).")})
    return int(text)


@dataclass(frozen=True)
class Filters:
    area: Division
    period: Period
    worker: int | None = None


def parse_filters(user: Any, data: Any) -> Filters:
    """`under`, `month` and `worker` of a request; one ValidationError naming every bad one."""
    errors: dict[str, list[str]] = {}
    found: dict[str, Any] = {}
    readers = (
        ("area", lambda: area_for(user, data.get("under"))),
        ("period", lambda: month_period(data.get("month"))),
        ("worker", lambda: worker_id(data.get("worker"))),
    )
    for name, read in readers:
        try:
            found[name] = read()
        except ValidationError as error:
            for key, messages in error.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return Filters(**found)


# --- the computation ----------------------------------------------------------------------------
def duties(area: Division, period: Period, *, worker: int | None = None) -> Duties:
    """Every grid worker's duties in the area for the period (one query per table)."""
    start, end = period.bounds()
    since = start - dt.timedelta(days=LOOKBACK_DAYS)
    path = area.path
    grid_length = PATH_LENGTH[Level.GRID]
    per_grid = counting.counters_by(area, period, grid_length)
    acts: dict[tuple[str, int], dict[str, Any]] = {}

    def act(row: Mapping[str, Any], who: str) -> dict[str, Any]:
        return acts.setdefault((row["division_path"], row[who] or 0), {})

    def mine(q: Q, who: str = "worker_id") -> Q:
        return q & Q(**{who: worker}) if worker is not None else q

    done = (
        counting.care_visits(path, start, end)
        .filter(mine(Q(), "actor_id"))
        .values("division_path", "actor_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in done:
        act(row, "actor_id")["visits_done"] = row["n"]
    in_month = Q(visited_at__gte=start)
    visits = (
        Visit.objects.filter(mine(Q(division_path__startswith=path)))
        .filter(visited_at__gte=since, visited_at__lt=end)
        .values("division_path", "worker_id")
        .annotate(n=Count("pk", filter=in_month), last=Max("visited_at"))
        .order_by()
    )
    for row in visits:
        found = act(row, "worker_id")
        found["visits"] = row["n"]
        found["last"] = row["last"]
    in_month = Q(started_at__gte=start)
    patrols = (
        Patrol.objects.filter(mine(Q(division_path__startswith=path)))
        .filter(started_at__gte=since, started_at__lt=end)
        .values("division_path", "worker_id")
        .annotate(
            n=Count("pk", filter=in_month),
            minutes=Sum("minutes", filter=in_month),
            last=Max("ended_at"),
        )
        .order_by()
    )
    for row in patrols:
        found = act(row, "worker_id")
        found["patrols"] = row["n"]
        found["patrol_minutes"] = row["minutes"] or 0
        found["last"] = _latest(found.get("last"), row["last"])
    in_month = Q(at__gte=start)
    check_ins = (
        CheckIn.objects.filter(mine(Q(division_path__startswith=path)))
        .filter(at__gte=since, at__lt=end)
        .values("division_path", "worker_id")
        .annotate(
            n=Count("pk", filter=in_month),
            outside=Count("pk", filter=in_month & Q(inside_grid=False)),
            last=Max("at"),
        )
        .order_by()
    )
    for row in check_ins:
        found = act(row, "worker_id")
        found["check_ins"] = row["n"]
        found["check_ins_outside"] = row["outside"]
        found["last"] = _latest(found.get("last"), row["last"])

    everyone = set(
        RoleAssignment.objects.filter(
            division_path__startswith=path,
            role__in=FIELD_ROLES,
            division__level=Level.GRID,
            division__is_active=True,
            user__is_active=True,
        ).values_list("division_path", "user_id")
    )
    staffed = {p for p, _w in everyone}
    assigned = {(p, w) for p, w in everyone if worker is None or w == worker}

    grids = {
        d.path: d
        for d in Division.objects.filter(is_active=True, path__startswith=path, level=Level.GRID)
        .defer("boundary")
        .order_by("path")
    }
    # Records may sit at a division that is no longer a grid (renumbered, retired): name it.
    missing = {p for p, _w in [*acts, *assigned] if p not in grids}
    if missing:
        for d in Division.objects.filter(path__in=missing).defer("boundary").order_by("-is_active"):
            grids.setdefault(d.path, d)
    overdue = dict(
        CareTag.objects.filter(
            division_path__startswith=path,
            is_active=True,
            next_visit_due__lt=timezone.localdate(),
        )
        .values("division_path")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("division_path", "n")
    )
    keys = set(assigned) | {k for k, found in acts.items() if _any(found)}
    if worker is None:
        keys |= {(p, 0) for p in grids if p not in staffed}
    users = {u.pk: u for u in User.objects.filter(pk__in={w for _p, w in keys if w})}
    rows: list[DutyRow] = []
    for grid_path, user_id in keys:
        grid = grids.get(grid_path)
        if grid is None:
            continue
        found = acts.get((grid_path, user_id), {})
        is_assigned = (grid_path, user_id) in assigned
        due = per_grid.get(grid_path, {}).get("visits_due", 0)
        unstaffed = not user_id and grid_path not in staffed
        rows.append(
            DutyRow(
                grid=grid,
                worker=users.get(user_id),
                assigned=is_assigned,
                visits_due=due if is_assigned or unstaffed else None,
                visits_done=found.get("visits_done", 0),
                visits=found.get("visits", 0),
                patrols=found.get("patrols", 0),
                patrol_minutes=found.get("patrol_minutes", 0),
                check_ins=found.get("check_ins", 0),
                check_ins_outside=found.get("check_ins_outside", 0),
                last_activity=found.get("last"),
                overdue_members=overdue.get(grid_path, 0),
                unstaffed=unstaffed,
            )
        )
    rows.sort(key=lambda r: (r.grid.path, not r.assigned, _name(r.worker)))
    return Duties(area, period, rows, _totals(rows, per_grid, overdue, worker=worker))


def _totals(
    rows: list[DutyRow],
    per_grid: dict[str, dict[str, int]],
    overdue: dict[str, int],
    *,
    worker: int | None,
) -> Totals:
    total = Totals()
    grids = {r.grid.path for r in rows}
    assigned_people = {r.worker.pk for r in rows if r.worker is not None and r.assigned}
    total.workers = len(assigned_people)
    total.grids = len(grids)
    if worker is None:
        # Each grid's due visits once, however many people work there.
        total.visits_due = sum(per_grid.get(p, {}).get("visits_due", 0) for p in grids)
        total.overdue_members = sum(overdue.get(p, 0) for p in grids)
    else:
        mine = {r.grid.path for r in rows if r.assigned}
        total.visits_due = sum(per_grid.get(p, {}).get("visits_due", 0) for p in mine)
        total.overdue_members = sum(overdue.get(p, 0) for p in mine)
    patrolled: set[int] = set()
    for row in rows:
        total.visits_done += row.visits_done
        total.visits += row.visits
        total.patrols += row.patrols
        total.patrol_minutes += row.patrol_minutes
        total.check_ins += row.check_ins
        total.check_ins_outside += row.check_ins_outside
        if row.worker is not None and row.patrols:
            patrolled.add(row.worker.pk)
    total.workers_without_patrol = len(assigned_people - patrolled)
    total.grids_without_worker = sum(1 for r in rows if r.unstaffed)
    return total


def _any(found: dict[str, Any]) -> bool:
    return any(found.get(k) for k in ("visits_done", "visits", "patrols", "check_ins"))


def _latest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _name(user: User | None) -> str:
    return user.display_name if user is not None else ""


def worker_name(row: DutyRow) -> str:
    """How a row names its person. A row without one is a grid with nobody assigned, or care
    visits recorded by the system (an import, a command) in a grid that has someone."""
    if row.worker is not None:
        return row.worker.display_name
    return _("nobody assigned") if row.unstaffed else _("the system")


# --- one worker ---------------------------------------------------------------------------------
def worker_grids(viewer: Any, worker: User, period: Period) -> list[Division]:
    """The grids where `worker` holds a field role or recorded duties in the period, among
    those the viewer may see."""
    start, end = period.bounds()
    paths = set(
        RoleAssignment.objects.filter(
            user=worker, role__in=FIELD_ROLES, division__is_active=True
        ).values_list("division_path", flat=True)
    )
    for model, moment in ((Visit, "visited_at"), (Patrol, "started_at"), (CheckIn, "at")):
        paths |= set(
            model.objects.filter(worker=worker, **{f"{moment}__gte": start, f"{moment}__lt": end})
            .values_list("division_path", flat=True)
            .distinct()
        )
    paths = {p for p in paths if in_scope(viewer, p)}
    found = {
        d.path: d
        for d in Division.objects.filter(path__in=paths).defer("boundary").order_by("-is_active")
    }
    return [found[p] for p in sorted(found)]


def worker_duties(viewer: Any, worker: User, period: Period) -> list[DutyRow]:
    """The worker's rows in every grid of theirs the viewer may see."""
    rows: list[DutyRow] = []
    for grid in worker_grids(viewer, worker, period):
        rows += duties(grid, period, worker=worker.pk).rows
    return rows
