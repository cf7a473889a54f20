"""Demo cases: a few weeks of history, written through the real case actions.

Every case is reported by a demo grid worker (or taken in by a centre from a 12345 call) and
moved along by the people who would do it — centre staff register and dispatch, the routed
department's handler accepts and reports back, the grid worker checks on site and evaluates —
so the timeline, audit trail, deadlines and inbox are exactly what the application writes.

Time is the one thing simulated. The actions stamp everything with `timezone.now()`; to give
the demo a past, `simulated_clock` replaces `django.utils.timezone.now` while (and only while)
the generator runs, and sets it to each step's moment before calling the action. Steps of all
cases run in one chronological stream, and the SLA sweep runs along the way as the task worker
would (within a minute of each yellow mark and deadline), so a case that was late at some point
carries the automatic urging it would have received. A last sweep at the real time marks the cases
that are yellow or red now. Because `now` is simulated throughout, audit rows and
notifications of the generated cases carry the simulated times too, consistent with the case
timelines: the demo reads as one story. Nothing but the demo loaders (this one and
demo/fieldwork.py) ever patches the clock.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone
from shapely.geometry import Point, shape

from civicgrid.accounts.models import Unit, User
from civicgrid.cases import actions as cases
from civicgrid.cases import sla
from civicgrid.cases.choices import Channel
from civicgrid.cases.models import Case
from civicgrid.cases.sweep import RUNNING, sweep
from civicgrid.catalog.models import CaseCategory
from civicgrid.catalog.selectors import current_calendar, resolve_route
from civicgrid.core.calendar import WorkCalendar
from civicgrid.core.importing import ProgressFn
from civicgrid.geo.models import Division

# The task worker sweeps every minute or so: a deadline is noticed this long after it passes.
SWEEP_LAG = dt.timedelta(seconds=40)
H = 3600.0

# Scripts: the actions a case goes through, from intake to where it stands now.
_DISPATCH = ["report", "register", "dispatch"]
_WORK = [*_DISPATCH, "accept", "start"]
_FED_BACK = [*_WORK, "feedback"]
SCRIPTS: dict[str, list[str]] = {
    "reported": ["report"],
    "voided": ["report", "void"],
    "registered": ["report", "register"],
    "returned": [*_DISPATCH, "accept", "return"],
    "escalated": ["report", "escalate", "register", "dispatch"],
    "dispatched": _DISPATCH,
    "urged": [*_DISPATCH, "urge"],
    "accepted": [*_DISPATCH, "accept"],
    "in_progress": _WORK,
    "supervised": [*_WORK, "supervise"],
    "suspended": [*_WORK, "suspend"],
    "resumed": [*_WORK, "suspend", "resume"],
    "handled": _FED_BACK,
    "checking": [*_FED_BACK, "start_check"],
    "closed": [*_FED_BACK, "close"],
    "checked": [*_FED_BACK, "start_check", "pass_check"],
    "evaluated": [*_FED_BACK, "start_check", "pass_check", "evaluate"],
    "evaluated_direct": [*_FED_BACK, "close", "evaluate"],
    "reworked": [
        *_FED_BACK,
        "start_check",
        "fail_check",
        "accept",
        "start",
        "feedback",
        "start_check",
        "pass_check",
        "evaluate",
    ],
}
WEIGHTS = {
    "reported": 5,
    "voided": 3,
    "registered": 4,
    "returned": 2,
    "escalated": 2,
    "dispatched": 6,
    "urged": 2,
    "accepted": 5,
    "in_progress": 8,
    "supervised": 2,
    "suspended": 3,
    "resumed": 2,
    "handled": 5,
    "checking": 4,
    "closed": 8,
    "checked": 8,
    "evaluated": 14,
    "evaluated_direct": 6,
    "reworked": 3,
}
# Without a route the centre of first contact handles the case itself; only centres with staff
# of their own in the demo can take it further than filing.
CENTRE_ONLY = ["reported", "voided", "registered"]

# Calendar hours between the previous step and this one: (low, high), drawn log-uniformly.
GAPS: dict[str, tuple[float, float]] = {
    "register": (0.1, 4),
    "void": (0.2, 6),
    "escalate": (0.3, 6),
    "dispatch": (0.05, 2),
    "accept": (0.05, 3),
    "start": (0.05, 2),
    "return": (0.5, 8),
    "suspend": (2, 48),
    "resume": (24, 96),
    "feedback": (1, 120),
    "start_check": (0.2, 8),
    "close": (0.2, 8),
    "pass_check": (1, 24),
    "fail_check": (1, 24),
    "evaluate": (1, 48),
    "urge": (1, 24),
    "supervise": (2, 48),
}
# Calendar hours between the last step and the real now, by the state the case ends in.
TAILS: dict[str, tuple[float, float]] = {
    "reported": (0.1, 20),
    "registered": (0.1, 30),
    "handled": (0.5, 72),
    "suspended": (2, 120),
    "checking": (0.5, 96),
    "working": (1, 200),  # accepted, in progress: the handling clock runs
    "done": (2, 480),  # voided, closed, evaluated
}
NOTES = {
    "void": "经核实不属于受理范围，已向上报人说明。",
    "escalate": "涉及多个部门，本级无法协调，提请上级中心处理。",
    "return": "经现场查看，不属于本单位职责范围，请重新派遣。",
    "suspend": "需等待产权单位提供材料，申请缓办。",
    "resume": "材料已补齐，恢复办理。",
    "progress": "已设置警戒围挡，正在组织抢修。",
    "feedback": "已按要求处置完毕，附处置情况说明。",
    "fail_check": "现场核查仍未整改到位，请继续处置。",
    "urge": "请抓紧办理并及时反馈。",
    "supervise": "群众反映强烈，予以挂牌督办。",
}
REPORTS: dict[str, list[tuple[str, str]]] = {
    "basic.resident": [("新迁入住户未登记", "网格内新迁入一户三口，需核实登记实有人口信息。")],
    "basic.house": [("出租房屋信息变更", "某小区出租房屋承租人变更，需更新房屋信息。")],
    "basic.organisation": [("新开业商户未采集", "沿街新开一家餐饮店，需采集单位信息。")],
    "opinion.suggestion": [("建议增设健身器材", "居民建议在小区广场增设健身器材。")],
    "opinion.appeal": [("反映小区停车难", "多名居民反映小区停车位不足，夜间乱停车严重。")],
    "hazard.fire": [
        ("楼道堆放杂物", "居民楼楼道堆放大量纸箱杂物，堵塞消防通道。"),
        ("电动车楼道充电", "有住户在楼道内私拉电线给电动车充电。"),
    ],
    "hazard.gas": [("闻到燃气异味", "居民反映单元内有明显燃气异味，疑似管道泄漏。")],
    "hazard.building": [("外墙瓷砖脱落", "老旧楼房外墙瓷砖松动脱落，威胁行人安全。")],
    "hazard.traffic": [("路口信号灯损坏", "路口交通信号灯不亮，车辆通行混乱。")],
    "hazard.food": [("无证经营熟食摊点", "集市有无证熟食摊点，卫生条件差。")],
    "dispute.neighbour": [("邻里噪音纠纷", "楼上住户夜间噪音扰民，双方多次争吵。")],
    "dispute.family": [("家庭赡养纠纷", "老人反映子女不履行赡养义务，请求调解。")],
    "dispute.property": [("物业费纠纷", "业主与物业公司因收费和服务质量发生纠纷。")],
    "dispute.labour": [("拖欠农民工工资", "某工地拖欠工人工资，工人聚集讨薪。")],
    "dispute.land": [("宅基地边界纠纷", "两户村民因宅基地边界发生争执。")],
    "psychology.counselling": [("独居老人情绪低落", "独居老人近期情绪低落，需心理疏导。")],
    "psychology.care": [("留守儿童需关爱", "留守儿童学习生活缺乏照料，需关爱帮扶。")],
    "law.publicity": [("开展反诈宣传", "社区计划开展防范电信诈骗宣传活动。")],
    "service.social_insurance": [("代办养老保险认证", "行动不便老人委托代办养老保险资格认证。")],
    "service.certificate": [("代办残疾证换证", "残疾人委托代办残疾证换领。")],
    "service.assistance": [("申请临时救助", "困难家庭因病致贫，申请临时救助。")],
    "environment.rubbish": [
        ("路边垃圾堆积", "路边垃圾桶满溢，垃圾堆积未及时清运。"),
        ("绿化带内垃圾", "绿化带内有大量生活垃圾。"),
    ],
    "environment.dirty_road": [("路面油污", "道路上有大片油污，影响通行安全。")],
    "environment.street_vending": [("占道摆摊", "商户占用人行道摆摊经营。")],
    "environment.posters": [("乱贴小广告", "小区围墙和电线杆上张贴大量小广告。")],
    "environment.illegal_structure": [("楼顶私搭乱建", "住户在楼顶私自搭建彩钢板房。")],
    "facility.manhole": [("井盖缺失", "人行道上井盖缺失，存在安全隐患。")],
    "facility.street_light": [("路灯不亮", "小区主干道多盏路灯不亮。")],
    "facility.burst_main": [("供水管道破裂", "道路下供水管道破裂，路面积水。")],
    "facility.road_damage": [("路面坑洼", "道路出现多处坑洼，雨天积水。")],
    "facility.utility": [("小区停水", "小区整栋楼停水超过半天。")],
}
CALLERS = ["王先生", "李女士", "张先生", "刘女士", "陈先生", "杨女士", "赵先生", "黄女士"]


@dataclass
class Cast:
    """Who acts in the demo, by place and unit."""

    workers: dict[int, User]  # grid id → its grid worker
    centre_staff: dict[str, User]  # centre division path → staff holding the role exactly there
    handlers: dict[int, User]  # unit id → a handler of that unit


@dataclass
class Plan:
    index: int
    script: str
    grid: Division
    category: CaseCategory
    lng: float
    lat: float
    hotline: bool
    times: list[dt.datetime] = field(default_factory=list)


@dataclass
class CaseResult:
    cases: int = 0
    steps: int = 0
    states: Counter[str] = field(default_factory=Counter)
    overdue: int = 0
    seconds: float = 0.0


@contextmanager
def simulated_clock(start: dt.datetime) -> Iterator[list[dt.datetime]]:
    """Replace `django.utils.timezone.now` by a settable clock for the duration (see the module
    docstring for why and what it touches). Yields a one-item list holding the current time."""
    clock = [start]
    original = timezone.now
    timezone.now = lambda: clock[0]
    try:
        yield clock
    finally:
        timezone.now = original


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _snap_back(moment: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
    """The latest working moment at or before `moment` (steps happen in office hours)."""
    local = moment.astimezone(calendar.tz)
    day = local.date()
    for _ in range(60):
        for begin, end in reversed(calendar.periods_on(day)):
            a = dt.datetime.combine(day, begin, calendar.tz)
            b = dt.datetime.combine(day, end, calendar.tz)
            if a <= local:
                return min(local, b - dt.timedelta(minutes=1))
        day -= dt.timedelta(days=1)
    return moment


def _tail_kind(script: str) -> str:
    last = SCRIPTS[script][-1]
    if script in {"reported", "registered", "returned"}:
        return "registered" if script != "reported" else "reported"
    if last in {"dispatch", "urge"}:
        return "dispatched"
    if last in {"void", "close", "pass_check", "evaluate"}:
        return "done"
    if last == "feedback":
        return "handled"
    if last == "suspend":
        return "suspended"
    if last == "start_check":
        return "checking"
    return "working"


def _tail_hours(rng: random.Random, script: str) -> float:
    kind = _tail_kind(script)
    if kind == "dispatched":
        # Most dispatched cases are accepted within the hour; some wait far too long.
        return rng.uniform(0.03, 1.2) if rng.random() < 0.65 else _log_uniform(rng, 3, 96)
    return _log_uniform(rng, *TAILS[kind])


def _schedule(
    rng: random.Random, script: str, now: dt.datetime, calendar: WorkCalendar
) -> list[dt.datetime]:
    """Times of the script's steps, laid backwards from the real now."""
    steps = SCRIPTS[script]
    last = _snap_back(now - dt.timedelta(hours=_tail_hours(rng, script)), calendar)
    times = [last]
    for action in reversed(steps[1:]):
        gap = _log_uniform(rng, *GAPS[action])
        times.append(_snap_back(times[-1] - dt.timedelta(hours=gap), calendar))
    times.reverse()
    # Distinct, increasing moments even where snapping met the start of a working period.
    for i in range(1, len(times)):
        if times[i] <= times[i - 1]:
            times[i] = times[i - 1] + dt.timedelta(minutes=1)
    return times


def _point_in(grid: Division, rng: random.Random) -> tuple[float, float]:
    polygon = shape(grid.boundary) if grid.boundary else None
    if polygon is None or polygon.is_empty:
        raise ValueError(f"grid {grid.code} has no boundary")
    x0, y0, x1, y1 = polygon.bounds
    for _ in range(30):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if polygon.contains(Point(x, y)):
            return round(x, 6), round(y, 6)
    p = polygon.representative_point()
    return round(p.x, 6), round(p.y, 6)


def _pick_grids(
    rng: random.Random, grids: list[Division], home: Division, count: int
) -> list[Division]:
    """Cases all over the city, with a good share in the demo login's own grid and community
    so that the `gridworker` and `community` logins have something to work on."""
    same_community = [g for g in grids if g.parent_id == home.parent_id]
    picks = []
    for i in range(count):
        roll = rng.random()
        if i < 3 or roll < 0.06:
            picks.append(home)
        elif roll < 0.16 and same_community:
            picks.append(rng.choice(same_community))
        else:
            picks.append(rng.choice(grids))
    return picks


def generate_cases(
    cast: Cast,
    *,
    count: int,
    seed: int,
    home_grid: Division,
    progress: ProgressFn | None = None,
) -> CaseResult:
    """Write `count` cases in a spread of states through the case actions (one transaction)."""
    import time

    started = time.monotonic()
    rng = random.Random(seed * 7919 + 11)
    now = timezone.now()
    calendar = current_calendar()
    categories = list(
        CaseCategory.objects.filter(is_active=True, parent__isnull=False)
        .select_related("parent", "sla_policy", "parent__sla_policy")
        .order_by("sort_order", "code")
    )
    categories = [c for c in categories if c.code in REPORTS]
    grids = list(Division.objects.filter(level=6, is_active=True).exclude(boundary=None))
    if not grids or not categories:
        return CaseResult()
    route_cache: dict[tuple[int, str], Unit | None] = {}

    def owner(category: CaseCategory, grid: Division) -> Unit | None:
        key = (category.pk, grid.path[:6])
        if key not in route_cache:
            route = resolve_route(category, grid.path)
            route_cache[key] = route.unit if route is not None else None
        return route_cache[key]

    scripts, weights = zip(*WEIGHTS.items(), strict=True)
    plans: list[Plan] = []
    for index, grid in enumerate(_pick_grids(rng, grids, home_grid, count)):
        category = rng.choice(categories)
        script = rng.choices(scripts, weights)[0]
        unit = owner(category, grid)
        community_path = grid.path[:12]
        if unit is None and community_path not in cast.centre_staff:
            script = rng.choice(CENTRE_ONLY)  # no one but the centre could take it further
        if unit is not None and unit.pk not in cast.handlers:
            script = rng.choice(CENTRE_ONLY)
        lng, lat = _point_in(grid, rng)
        plan = Plan(index, script, grid, category, lng, lat, hotline=rng.random() < 0.15)
        plan.times = _schedule(rng, script, now, calendar)
        plans.append(plan)
    events = sorted(
        ((t, p.index, step) for p in plans for step, t in enumerate(p.times)),
        key=lambda e: (e[0], e[1], e[2]),
    )
    live: dict[int, Case] = {}
    result = CaseResult()
    with transaction.atomic(), simulated_clock(events[0][0] if events else now) as clock:
        sweeper = Sweeper(clock)
        for done, (moment, index, step) in enumerate(events):
            sweeper.until(moment)
            clock[0] = moment
            plan = plans[index]
            action = SCRIPTS[plan.script][step]
            live[index] = _run(action, plan, live.get(index), cast, rng)
            sweeper.watch(index, live[index])
            result.steps += 1
            if progress is not None and (done % 200 == 0 or done == len(events) - 1):
                progress(done + 1, len(events))
        sweeper.until(now)
        clock[0] = now
        sweep(now)
    result.cases = len(live)
    final = Case.objects.filter(pk__in=[c.pk for c in live.values()])
    result.states = Counter(final.values_list("status", flat=True))
    result.overdue = final.filter(sla_state="red").count()
    result.seconds = time.monotonic() - started
    return result


class Sweeper:
    """Runs the sweep when the task worker would have: shortly after a yellow mark or a
    deadline of an open case passes. The moments come from the cases the actions return, so
    the sweep runs only when it has something to mark (and finds it itself, as always)."""

    def __init__(self, clock: list[dt.datetime]) -> None:
        self.clock = clock
        self.heap: list[tuple[dt.datetime, int]] = []
        self.cases: dict[int, Case] = {}

    def watch(self, index: int, case: Case) -> None:
        self.cases[index] = case
        for moment in _moments(case):
            if case.status in RUNNING and case.suspended_at is None:
                heapq.heappush(self.heap, (moment + SWEEP_LAG, index))

    def _current(self, moment: dt.datetime, index: int) -> bool:
        case = self.cases[index]
        if case.status not in RUNNING or case.suspended_at is not None:
            return False
        return moment - SWEEP_LAG in _moments(case)

    def until(self, moment: dt.datetime) -> None:
        while self.heap and self.heap[0][0] <= moment:
            when, index = heapq.heappop(self.heap)
            if self._current(when, index):
                self.clock[0] = when
                sweep(when)


def _moments(case: Case) -> list[dt.datetime]:
    """When the sweep has something to do for this case: its yellow mark, its deadline and
    each staged limit not reported done."""
    staged = [sla.step_due(step) for step in sla.pending_steps(case)]
    return [m for m in (case.warn_at, case.stage_due, *staged) if m is not None]


def _centre_actor(case: Case, cast: Cast) -> User:
    """Staff of the case's responsible centre, or of the township centre above it."""
    path = case.centre.division_path
    staff = cast.centre_staff.get(path) or cast.centre_staff.get(path[:9])
    if staff is None:
        raise RuntimeError(f"no demo centre staff for {path}")
    return staff


def _unit_actor(case: Case, cast: Cast) -> User:
    owner = case.owner_unit
    if owner.kind == "centre":
        staff = cast.centre_staff.get(owner.division_path)
        if staff is None:
            raise RuntimeError(f"no demo centre staff at {owner.division_path}")
        return staff
    return cast.handlers[owner.pk]


def _run(action: str, plan: Plan, case: Case | None, cast: Cast, rng: random.Random) -> Case:
    worker = cast.workers[plan.grid.pk]
    if action == "report":
        if plan.hotline:
            staff = (
                cast.centre_staff.get(plan.grid.path[:12]) or cast.centre_staff[plan.grid.path[:9]]
            )
            reporter, channel, caller = staff, Channel.HOTLINE, rng.choice(CALLERS)
        else:
            reporter, channel, caller = worker, Channel.GRID_APP, ""
        title, description = rng.choice(REPORTS[plan.category.code])
        extra: dict[str, Any] = {}
        if plan.category.code == "dispute.labour":
            extra = {"workers": rng.randint(3, 40), "amount": rng.randint(2, 60) * 1000}
        if plan.category.code == "environment.illegal_structure" and rng.random() < 0.7:
            extra = {"area_m2": rng.randint(8, 120)}
        created, _ = cases.do_report_case(
            actor=reporter,
            category=plan.category,
            title=title,
            description=description,
            channel=channel,
            lat=plan.lat,
            lng=plan.lng,
            division=plan.grid,
            reporter_name=caller,
            extra=extra,
        )
        return created
    assert case is not None
    version = case.version
    centre = _centre_actor
    calls: dict[str, Callable[[], Case]] = {
        "register": lambda: cases.do_register_case(case, actor=centre(case, cast), version=version),
        "void": lambda: cases.do_void_case(
            case, actor=centre(case, cast), version=version, note=NOTES["void"]
        ),
        "escalate": lambda: cases.do_escalate_case(
            case, actor=centre(case, cast), version=version, note=NOTES["escalate"]
        ),
        "dispatch": lambda: cases.do_dispatch_case(case, actor=centre(case, cast), version=version),
        "accept": lambda: cases.do_accept_case(
            case, actor=_unit_actor(case, cast), version=version
        ),
        "start": lambda: cases.do_start_case(case, actor=_unit_actor(case, cast), version=version),
        "return": lambda: cases.do_return_case(
            case, actor=_unit_actor(case, cast), version=version, note=NOTES["return"]
        ),
        "suspend": lambda: cases.do_suspend_case(
            case, actor=centre(case, cast), version=version, note=NOTES["suspend"]
        ),
        "resume": lambda: cases.do_resume_case(
            case, actor=centre(case, cast), version=version, note=NOTES["resume"]
        ),
        "feedback": lambda: cases.do_feedback_case(
            case, actor=_unit_actor(case, cast), version=version, note=NOTES["feedback"]
        ),
        "start_check": lambda: cases.do_start_check_case(
            case, actor=centre(case, cast), version=version, checker=worker
        ),
        "close": lambda: cases.do_close_case(case, actor=centre(case, cast), version=version),
        "pass_check": lambda: cases.do_pass_check_case(case, actor=worker, version=version),
        "fail_check": lambda: cases.do_fail_check_case(
            case, actor=worker, version=version, note=NOTES["fail_check"]
        ),
        "evaluate": lambda: cases.do_evaluate_case(
            case,
            actor=case.reporter or worker,
            version=version,
            satisfaction=rng.choices([5, 4, 3, 2, 1], [55, 25, 10, 6, 4])[0],
        ),
        "urge": lambda: cases.do_urge_case(
            case, actor=centre(case, cast), version=version, note=NOTES["urge"]
        ),
        "supervise": lambda: cases.do_supervise_case(
            case, actor=_higher_actor(case, cast), version=version, note=NOTES["supervise"]
        ),
    }
    after = calls[action]()
    if action == "start" and sla.pending_steps(after):
        # A burst main: the crew reports the cordon as soon as it is up.
        after = cases.do_progress_case(
            after, actor=_unit_actor(after, cast), version=after.version, note=NOTES["progress"]
        )
    return after


def _higher_actor(case: Case, cast: Cast) -> User:
    """Staff of a centre strictly above the responsible one (formal supervision)."""
    path = case.centre.division_path
    for length in (9, 6, 4):
        if length < len(path) and path[:length] in cast.centre_staff:
            return cast.centre_staff[path[:length]]
    raise RuntimeError(f"no demo centre above {path}")
