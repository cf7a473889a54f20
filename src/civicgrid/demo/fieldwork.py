"""Demo field work: the grid workers' visits, patrols with GPS tracks and check-ins, submitted
through the field app's actions (fieldwork/actions.py) as the phones would have sent them.

Where and when: the demo grid worker's own grid from the first day of last month, the other
grids of their community and two grids of each other community of their township this month —
so the `gridworker`, `community` and `township` logins open a filled duties page and grid
cards, and the build stays quick (a few hundred submissions, whatever the preset).

The story agrees with the demo registry: each care-group member's recorded visits are replayed
on the dates the registry keeps (the last visit, and the earlier ones one interval apart), so the
insights KPI "visits done ÷ due" counts them and the overdue members stay overdue. Patrols walk
inside the grid at a walking pace with a fix every 15 seconds; one grid worker of the township
has not patrolled this month, and a few check-ins lie outside the worker's grid.

Time is simulated as in demo/cases.py (`simulated_clock`): each submission is made at the
moment the phone would have synced it, a little after the visit or patrol (some in a batch in
the evening, as after a day without signal), so receipts, audit rows and the care tags' visit
records carry those times.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from shapely.geometry import LineString, Point, shape
from shapely.geometry.base import BaseGeometry

from civicgrid.accounts.models import RoleAssignment, User
from civicgrid.accounts.roles import Role
from civicgrid.core.importing import ProgressFn
from civicgrid.fieldwork import actions as field
from civicgrid.fieldwork.choices import VisitPurpose
from civicgrid.fieldwork.receipts import body_hash
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.registry.models import CareTag, Household

from .cases import simulated_clock

WALK_M_PER_S = 1.1  # a patrol on foot, with stops
FIX_SECONDS = 15  # the app's track interval (bootstrap settings.track_seconds)
METRES_PER_DEGREE = 111_320.0
# Beyond the home community, at most this many grids of each community (and this many in all):
# enough for a township's page to compare workers, few enough to build in a few seconds.
OTHER_GRIDS_PER_COMMUNITY = 2
CHECK_IN_SHARE = 0.6  # of patrols begun with a check-in
MAX_GRIDS = 16


@dataclass
class FieldResult:
    grids: int = 0
    workers: int = 0
    visits: int = 0
    care_visits: int = 0
    patrols: int = 0
    check_ins: int = 0
    seconds: float = 0.0


@dataclass
class _Event:
    sent: dt.datetime  # when the phone synced it (the simulated clock then)
    kind: str
    worker: User
    body: dict[str, Any]


@dataclass
class _Grid:
    division: Division
    worker: User
    polygon: BaseGeometry
    since: dt.date  # first day with field work
    patrol_share: float  # of working days with a patrol
    strays: bool = False  # the first check-in lies outside the grid (one such worker at least)


def generate_fieldwork(
    home: Division,
    *,
    seed: int,
    progress: ProgressFn | None = None,
    now: dt.datetime | None = None,
) -> FieldResult:
    """Write the demo field work around `home` (the demo grid worker's grid)."""
    started = time.monotonic()
    rng = random.Random(seed * 104_729 + 17)
    now = now or timezone.now()
    today = timezone.localdate(now)
    month_start = today.replace(day=1)
    last_month = (month_start - dt.timedelta(days=1)).replace(day=1)
    grids = _grids(home, rng, month_start, last_month)
    result = FieldResult(grids=len(grids), workers=len({g.worker.pk for g in grids}))
    events: list[_Event] = []
    for grid in grids:
        events += _patrols_and_check_ins(grid, rng, today, now)
        events += _care_visits(grid, rng, today, now)
        events += _household_visits(grid, rng, today, now)
    events = [e for e in events if e.sent < now - dt.timedelta(minutes=1)]
    events.sort(key=lambda e: (e.sent, e.kind))
    submit: dict[str, Callable[..., Any]] = {
        "visit": field.do_submit_visit,
        "patrol": field.do_submit_patrol,
        "check_in": field.do_submit_check_in,
    }
    with transaction.atomic(), simulated_clock(events[0].sent if events else now) as clock:
        for done, event in enumerate(events, start=1):
            clock[0] = event.sent
            body = event.body
            submit[event.kind](
                actor=event.worker,
                uuid=uuid.UUID(body["uuid"]),
                digest=body_hash(body),
                **_arguments(body),
            )
            if event.kind == "visit":
                result.visits += 1
                result.care_visits += body.get("care_tag") is not None
            elif event.kind == "patrol":
                result.patrols += 1
            else:
                result.check_ins += 1
            if progress is not None and (done % 50 == 0 or done == len(events)):
                progress(done, len(events))
    result.seconds = time.monotonic() - started
    return result


def _grids(
    home: Division, rng: random.Random, month_start: dt.date, last_month: dt.date
) -> list[_Grid]:
    """The grids with field work, each with its grid worker: the home grid from last month
    on, the others from this month on."""
    township = home.parent.parent if home.parent is not None else None
    scope = township or home.parent or home
    workers: dict[int, User] = {}
    for assignment in (
        RoleAssignment.objects.filter(
            role=Role.GRID_WORKER,
            division__level=Level.GRID,
            division__is_active=True,
            division_path__startswith=scope.path,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("division_path", "user__username")
    ):
        workers.setdefault(assignment.division_id, assignment.user)
    divisions = Division.objects.filter(
        pk__in=list(workers), boundary__isnull=False, is_active=True
    ).order_by("path")
    # The home community's grids, and a few grids of each other community of the township.
    per_community: dict[int | None, int] = {}
    picked: list[Division] = []
    for division in divisions:
        near = division.parent_id == home.parent_id
        seen = per_community.get(division.parent_id, 0)
        if near or (seen < OTHER_GRIDS_PER_COMMUNITY and len(picked) < MAX_GRIDS):
            picked.append(division)
            per_community[division.parent_id] = seen + 1
    out: list[_Grid] = []
    idle_picked = False
    for division in picked:
        polygon = shape(division.boundary)
        if polygon.is_empty:
            continue
        near = division.parent_id == home.parent_id
        share = rng.uniform(0.45, 0.7) if near else rng.uniform(0.1, 0.25)
        if not near and not idle_picked:
            # One grid worker of the township who has not patrolled this month.
            share, idle_picked = 0.0, True
        out.append(
            _Grid(
                division=division,
                worker=workers[division.pk],
                polygon=polygon,
                since=last_month if division.pk == home.pk else month_start,
                patrol_share=share,
                strays=near and division.pk != home.pk and not any(g.strays for g in out),
            )
        )
    return out


def _at(day: dt.date, hour: float) -> dt.datetime:
    moment = dt.datetime.combine(day, dt.time.min) + dt.timedelta(hours=hour)
    return timezone.make_aware(moment)


def _sync_delay(rng: random.Random, moment: dt.datetime) -> dt.datetime:
    """When the phone sent what was recorded at `moment`: mostly within minutes; sometimes in
    the evening, after a day without signal."""
    if rng.random() < 0.15:
        evening = timezone.localtime(moment).replace(hour=19, minute=0, second=0, microsecond=0)
        return max(evening, moment) + dt.timedelta(minutes=rng.uniform(0, 90))
    return moment + dt.timedelta(minutes=rng.uniform(0.5, 25))


def _days(since: dt.date, today: dt.date) -> list[dt.date]:
    return [since + dt.timedelta(days=i) for i in range((today - since).days + 1)]


def _inside(polygon: BaseGeometry, rng: random.Random) -> tuple[float, float]:
    """A random (lng, lat) inside the polygon."""
    x0, y0, x1, y1 = polygon.bounds
    for _ in range(50):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if polygon.contains(Point(x, y)):
            return x, y
    p = polygon.representative_point()
    return p.x, p.y


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    dx = (b[0] - a[0]) * METRES_PER_DEGREE * math.cos(math.radians(a[1]))
    dy = (b[1] - a[1]) * METRES_PER_DEGREE
    return math.hypot(dx, dy)


def track(
    polygon: BaseGeometry, rng: random.Random, start: dt.datetime, minutes: int
) -> list[list[float]]:
    """A walk inside the polygon from waypoint to waypoint, one fix every FIX_SECONDS, as
    [lat, lng, unix seconds] with a few metres of GPS noise."""
    fixes: list[list[float]] = []
    clock = start.timestamp()
    end = clock + minutes * 60
    here = _inside(polygon, rng)
    step = WALK_M_PER_S * FIX_SECONDS
    while clock <= end:
        there = _next_waypoint(polygon, rng, here)
        legs = max(1, int(_metres(here, there) // step))
        for i in range(legs):
            if clock > end:
                break
            f = i / legs
            lng = here[0] + (there[0] - here[0]) * f
            lat = here[1] + (there[1] - here[1]) * f
            noise = rng.gauss(0, 3) / METRES_PER_DEGREE
            fixes.append([round(lat + noise, 6), round(lng + noise, 6), int(clock)])
            clock += FIX_SECONDS
        here = there
    return fixes


def _next_waypoint(
    polygon: BaseGeometry, rng: random.Random, here: tuple[float, float]
) -> tuple[float, float]:
    """A point inside the polygon reachable in a straight line without leaving it (grids need
    not be convex)."""
    there = _inside(polygon, rng)
    for _ in range(20):
        if polygon.contains(LineString([here, there])):
            break
        there = _inside(polygon, rng)
    return there


def _patrols_and_check_ins(
    grid: _Grid, rng: random.Random, today: dt.date, now: dt.datetime
) -> list[_Event]:
    events: list[_Event] = []
    stray = grid.strays
    for day in _days(grid.since, today):
        weekday = day.weekday() < 5
        if not weekday or rng.random() >= grid.patrol_share:
            continue
        begin = _at(day, rng.uniform(8.5, 10.5) if rng.random() < 0.7 else rng.uniform(14, 16))
        minutes = rng.randint(35, 110)
        end = begin + dt.timedelta(minutes=minutes)
        if end >= now - dt.timedelta(minutes=30):
            continue
        points = track(grid.polygon, rng, begin, minutes)
        sent = _sync_delay(rng, end)
        events.append(
            _Event(
                sent,
                "patrol",
                grid.worker,
                {
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "started_at": begin.isoformat(),
                    "ended_at": end.isoformat(),
                    "track": points,
                    "note": rng.choice(
                        ["", "", "", "巡查无异常", "楼道堆物已提醒清理", "路灯不亮，已上报"]
                    ),
                    "photos": [],
                },
            )
        )
        if not stray and rng.random() >= CHECK_IN_SHARE:
            continue
        lat, lng = points[0][0], points[0][1]
        if stray or rng.random() < 0.08:
            # Checked in a few hundred metres away, outside the grid.
            lat = grid.polygon.bounds[3] + 0.004
            stray = False
        events.append(
            _Event(
                begin + dt.timedelta(seconds=rng.randint(20, 90)),
                "check_in",
                grid.worker,
                {
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "at": (begin - dt.timedelta(minutes=rng.randint(1, 5))).isoformat(),
                    "lat": round(lat, 6),
                    "lng": round(lng, 6),
                    "accuracy": rng.choice([5, 8, 10, 15, 30]),
                    "note": "",
                },
            )
        )
    return events


def _care_visits(grid: _Grid, rng: random.Random, today: dt.date, now: dt.datetime) -> list[_Event]:
    """The visits the registry says each care-group member of the grid had since `since`."""
    events: list[_Event] = []
    tags = CareTag.objects.filter(
        division=grid.division, is_active=True, last_visit_on__isnull=False
    ).select_related("resident__household", "resident__house__building")
    for tag in tags.order_by("id"):
        assert tag.last_visit_on is not None
        day = tag.last_visit_on
        every = max(1, tag.visit_every_days)
        while day >= grid.since and (tag.since is None or day >= tag.since):
            if day < today:
                moment = _at(day, rng.uniform(9, 17))
                lng, lat = _position(tag, grid, rng)
                events.append(
                    _Event(
                        _sync_delay(rng, moment),
                        "visit",
                        grid.worker,
                        {
                            "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                            "purpose": VisitPurpose.CARE.value,
                            "visited_at": moment.isoformat(),
                            "care_tag": tag.pk,
                            "resident": tag.resident_id,
                            "note": rng.choice(
                                [
                                    "",
                                    "身体状况良好",
                                    "已询问近况，生活正常",
                                    "提醒按时服药",
                                    "子女近期来探望",
                                ]
                            ),
                            "lat": round(lat, 6),
                            "lng": round(lng, 6),
                            "photos": [],
                        },
                    )
                )
            day -= dt.timedelta(days=every)
    return events


def _position(tag: CareTag, grid: _Grid, rng: random.Random) -> tuple[float, float]:
    house = tag.resident.house
    building = house.building if house is not None else None
    if building is not None and building.lat is not None and building.lng is not None:
        return building.lng, building.lat
    return _inside(grid.polygon, rng)


def _household_visits(
    grid: _Grid, rng: random.Random, today: dt.date, now: dt.datetime
) -> list[_Event]:
    """A few household visits (入户走访) a week, and now and then a dispute or a collection."""
    households = list(
        Household.objects.filter(division=grid.division, is_active=True)
        .select_related("house__building")
        .order_by("id")
    )
    if not households:
        return []
    events: list[_Event] = []
    purposes = (
        [VisitPurpose.HOUSEHOLD] * 6 + [VisitPurpose.INFORMATION] * 2 + [VisitPurpose.MEDIATION]
    )
    share = 0.25 if grid.patrol_share else 0.1
    for day in _days(grid.since, today - dt.timedelta(days=1)):
        if day.weekday() >= 5 or rng.random() >= share:
            continue
        home = rng.choice(households)
        moment = _at(day, rng.uniform(9, 17.5))
        building = home.house.building if home.house is not None else None
        if building is not None and building.lat is not None and building.lng is not None:
            lng, lat = building.lng, building.lat
        else:
            lng, lat = _inside(grid.polygon, rng)
        purpose = rng.choice(purposes)
        notes = {
            VisitPurpose.HOUSEHOLD: ["", "了解家庭近况", "宣传防诈骗知识"],
            VisitPurpose.INFORMATION: ["核对家庭成员信息", "登记新迁入人员"],
            VisitPurpose.MEDIATION: ["邻里噪音纠纷，已调解", "楼道占用纠纷，双方达成一致"],
        }
        events.append(
            _Event(
                _sync_delay(rng, moment),
                "visit",
                grid.worker,
                {
                    "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "purpose": purpose.value,
                    "visited_at": moment.isoformat(),
                    "household": home.pk,
                    "note": rng.choice(notes[purpose]),
                    "lat": round(lat, 6),
                    "lng": round(lng, 6),
                    "photos": [],
                },
            )
        )
    return events


def _arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The action's keyword arguments from a phone's body (times parsed, uuid left out)."""
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key == "uuid":
            continue
        if key in {"visited_at", "started_at", "ended_at", "at"}:
            value = dt.datetime.fromisoformat(value)
        elif key == "photos":
            value = [uuid.UUID(v) for v in value]
        out[key] = value
    return out
