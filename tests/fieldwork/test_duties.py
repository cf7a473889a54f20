"""Grid workers' duties per grid and worker (fieldwork/duties.py) on a hand-computed month:
care visits due and done, visits, patrols and minutes, check-ins, last activity — the same
counters as the insights KPIs, and the input checks the page, API and command share.

The cast (`people`) comes from tests/fieldwork/conftest.py. The fixture writes last month's
field work through the field app's actions under a simulated clock (the demo's
`simulated_clock`), so a record made "on the 10th" is stamped the 10th and the month is
complete whatever day the tests run.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from civicgrid.accounts.models import User
from civicgrid.demo.cases import simulated_clock
from civicgrid.fieldwork import actions as field_actions
from civicgrid.fieldwork import duties as d
from civicgrid.fieldwork.models import CheckIn, Patrol
from civicgrid.fieldwork.receipts import body_hash
from civicgrid.insights import query
from civicgrid.insights.query import KpiQuery, Period
from civicgrid.registry import actions as registry
from civicgrid.registry.models import CareTag, Household, Resident

from ..registry.conftest import valid_id
from ..world import World, inside

pytestmark = pytest.mark.django_db

SUBMIT = {
    "visit": field_actions.do_submit_visit,
    "patrol": field_actions.do_submit_patrol,
    "check_in": field_actions.do_submit_check_in,
}


def last_month() -> dt.date:
    return (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def moment(month: dt.date, day: int, hour: float) -> dt.datetime:
    """A local moment: `day` of `month`, at `hour` (decimal)."""
    at = dt.datetime.combine(month, dt.time.min) + dt.timedelta(days=day - 1, hours=hour)
    return timezone.make_aware(at)


def send(kind: str, actor: User, **body: Any) -> dict[str, Any]:
    """Submit as the phone does: a body with a fresh UUID, its hash, the action."""
    body = {"uuid": str(uuid.uuid4()), "photos": [], **body}
    wire = {k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in body.items()}
    args = {k: v for k, v in body.items() if k != "uuid"}
    if kind == "check_in":
        args.pop("photos")
    answer = SUBMIT[kind](actor=actor, uuid=uuid.UUID(body["uuid"]), digest=body_hash(wire), **args)
    assert answer.status == 201, answer
    return answer.data


def walk(key: str, start: dt.datetime, minutes: int) -> list[list[float]]:
    """A track across the middle of a world grid, one fix a minute."""
    lng, lat = inside(key)
    return [
        [
            lat + 0.003 * math.sin(i / 5),
            lng - 0.003 + 0.006 * i / minutes,
            start.timestamp() + 60 * i,
        ]
        for i in range(minutes + 1)
    ]


@dataclass
class Field:
    world: World
    people: dict[str, User]
    month: str
    period: Period
    tags: dict[str, CareTag] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return self.period.days


def _person(actor: User, grid: str, world: World, name: str, seq: str) -> Resident:
    building = registry.do_create_record(
        "building",
        actor=actor,
        data={"grid": world.div[grid].code, "road": "黄河五路", "number": seq, "building_no": "1"},
    )
    house = registry.do_create_record(
        "house", actor=actor, data={"building": building, "unit_no": "1", "room": "101"}
    )
    home = registry.do_create_record("household", actor=actor, data={"house": house})
    person = registry.do_create_record(
        "resident",
        actor=actor,
        data={
            "name": name,
            "id_number": valid_id(seq=seq),
            "household": home,
            "relation": "head",
        },
    )
    assert isinstance(person, Resident)
    return person


@pytest.fixture
def work(world: World, people: dict[str, User]) -> Field:
    """Last month in township A1:

    - A1a1 (grid worker `worker`): a weekly and a 90-day care tag; the worker visits the weekly
      one on the 3rd and the 10th and a household on the 17th, patrols on the 3rd (60 min), the
      10th (45 min) and from 23:30 on the last day into the next (60 min), checks in on the 3rd
      (inside) and the 10th (in B1a1: outside); the community centre records a visit to the
      90-day tag on the 12th from the registry (helping out).
    - A1a2 (`worker-a1a2`): a weekly tag never visited; one household visit on the 5th, one
      check-in on the 6th, no patrol — only one the month before.
    - A1b1: nobody assigned; a weekly tag.
    - B1a1 (`worker-b`, the other county): a patrol on the 4th.
    """
    p = people
    # Computed before the clock is simulated: last_month() follows the clock.
    first = last_month()
    period = Period.of("month", first)
    found = Field(world, p, f"{first:%Y-%m}", period)
    before = (first - dt.timedelta(days=1)).replace(day=1)

    def on(day: int, hour: float, *, month: dt.date = first) -> dt.datetime:
        return moment(month, day, hour)

    with simulated_clock(on(1, 8)) as clock:
        one = _person(p["worker"], "A1a1", world, "王大爷", "101")
        two = _person(p["worker"], "A1a1", world, "李奶奶", "102")
        three = _person(p["worker_a1a2"], "A1a2", world, "赵爷爷", "103")
        four = _person(p["community_a1b"], "A1b1", world, "钱奶奶", "104")
        tag = registry.do_tag_resident
        found.tags["weekly"] = tag(
            one, actor=p["worker"], data={"group": "elderly_alone", "risk_level": "high"}
        )
        found.tags["quarterly"] = tag(
            two, actor=p["worker"], data={"group": "veteran", "risk_level": "low"}
        )
        found.tags["a1a2"] = tag(
            three, actor=p["worker_a1a2"], data={"group": "elderly_alone", "risk_level": "high"}
        )
        found.tags["a1b1"] = tag(
            four, actor=p["community_a1b"], data={"group": "elderly_alone", "risk_level": "high"}
        )
        assert {t.visit_every_days for t in found.tags.values()} == {7, 90}
        # The month before: worker-a1a2's only patrol.
        clock[0] = on(21, 10, month=before)
        start = on(21, 9, month=before)
        send(
            "patrol",
            p["worker_a1a2"],
            started_at=start,
            ended_at=start + dt.timedelta(minutes=50),
            track=walk("A1a2", start, 50),
            note="",
        )
        worker = p["worker"]
        for day, minutes in ((3, 60), (10, 45)):
            clock[0] = on(day, 8.9)
            lng, lat = inside("A1a1" if day == 3 else "B1a1")
            send("check_in", worker, at=on(day, 8.85), lat=lat, lng=lng, accuracy=8, note="")
            clock[0] = on(day, 9) + dt.timedelta(minutes=minutes + 5)
            start = on(day, 9)
            send(
                "patrol",
                worker,
                started_at=start,
                ended_at=start + dt.timedelta(minutes=minutes),
                track=walk("A1a1", start, minutes),
                note="巡查无异常",
            )
            clock[0] = on(day, 15.2)
            send(
                "visit",
                worker,
                purpose="care",
                visited_at=on(day, 15),
                care_tag=found.tags["weekly"].pk,
                note="身体状况良好",
                lat=lat,
                lng=lng,
            )
        clock[0] = on(5, 11)
        lng, lat = inside("A1a2")
        home = Household.objects.get(division=world.div["A1a2"])
        send(
            "visit",
            p["worker_a1a2"],
            purpose="household",
            visited_at=on(5, 10.5),
            household=home.pk,
            note="",
            lat=lat,
            lng=lng,
        )
        clock[0] = on(6, 9)
        send("check_in", p["worker_a1a2"], at=on(6, 9), lat=lat, lng=lng, note="")
        clock[0] = on(12, 16)
        registry.do_record_care_visit(found.tags["quarterly"], actor=p["community"])
        clock[0] = on(17, 10)
        home = Household.objects.filter(division=world.div["A1a1"]).order_by("pk").first()
        assert home is not None
        send(
            "visit",
            worker,
            purpose="household",
            visited_at=on(17, 9.5),
            household=home.pk,
            note="了解家庭近况",
        )
        clock[0] = on(4, 12)
        lng, lat = inside("B1a1")
        start = on(4, 10)
        send(
            "patrol",
            p["worker_b"],
            started_at=start,
            ended_at=start + dt.timedelta(minutes=30),
            track=walk("B1a1", start, 30),
            note="",
        )
        # Begun on the last evening, ended in the next month: it counts where it began.
        start = on(period.days, 23.5)
        clock[0] = start + dt.timedelta(minutes=70)
        send(
            "patrol",
            worker,
            started_at=start,
            ended_at=start + dt.timedelta(minutes=60),
            track=walk("A1a1", start, 60),
            note="夜间巡查",
        )
    for key, tag in found.tags.items():
        found.tags[key] = CareTag.objects.get(pk=tag.pk)
    return found


def _rows(found: d.Duties) -> dict[tuple[str, str], d.DutyRow]:
    return {(r.grid.code, r.worker.username if r.worker else ""): r for r in found.rows}


def test_hand_computed_rows_of_a_township(work: Field) -> None:
    w = work.world
    found = d.duties(w.div["A1"], work.period)
    rows = _rows(found)
    weekly = math.ceil(work.days / 7)
    assert set(rows) == {
        (w.div["A1a1"].code, "worker"),
        (w.div["A1a1"].code, "community"),
        (w.div["A1a2"].code, "worker-a1a2"),
        (w.div["A1b1"].code, ""),
    }
    mine = rows[(w.div["A1a1"].code, "worker")]
    assert mine.assigned
    # Due visits of the grid: the weekly tag ceil(days ÷ 7) times, the 90-day one once.
    assert mine.visits_due == weekly + 1
    assert (mine.visits_done, mine.visits) == (2, 3)
    assert (mine.patrols, mine.patrol_minutes) == (3, 60 + 45 + 60)
    assert mine.patrol_hours == pytest.approx(165 / 60)
    assert (mine.check_ins, mine.check_ins_outside) == (2, 1)
    assert mine.visits_rate == pytest.approx(2 / (weekly + 1))
    last_patrol = Patrol.objects.filter(worker=work.people["worker"]).latest("started_at")
    assert mine.last_activity == last_patrol.ended_at
    assert mine.overdue_members == 1  # the weekly tag: last visit on the 10th
    helper = rows[(w.div["A1a1"].code, "community")]
    assert not helper.assigned
    assert helper.visits_due is None  # due visits belong to the grid's own worker
    assert (helper.visits_done, helper.visits, helper.patrols) == (1, 0, 0)
    other = rows[(w.div["A1a2"].code, "worker-a1a2")]
    assert (other.visits_due, other.visits_done, other.visits) == (weekly, 0, 1)
    assert (other.patrols, other.patrol_minutes, other.check_ins) == (0, 0, 1)
    assert other.behind
    assert other.last_activity == CheckIn.objects.get(worker=work.people["worker_a1a2"]).at
    nobody = rows[(w.div["A1b1"].code, "")]
    assert nobody.worker is None and not nobody.assigned
    assert (nobody.visits_due, nobody.overdue_members) == (weekly, 1)
    t = found.total
    assert (t.workers, t.grids) == (2, 3)
    assert t.visits_due == (weekly + 1) + weekly + weekly  # each grid once
    assert (t.visits_done, t.visits, t.patrols, t.patrol_minutes) == (3, 4, 3, 165)
    assert (t.check_ins, t.check_ins_outside, t.overdue_members) == (3, 1, 3)
    assert (t.workers_without_patrol, t.grids_without_worker) == (1, 1)
    assert found.month == work.month


def test_totals_are_the_insights_kpi_counters(work: Field) -> None:
    """visits done ÷ due and patrol hours of the dashboard are the duties page's totals."""
    for key in ("A1", "A1a", "A", "C"):
        area = work.world.div[key]
        found = d.duties(area, work.period)
        figures = query.figures(None, KpiQuery(area, work.period), compare=False)
        counters = figures.total.counters
        assert counters["visits_done"] == found.total.visits_done
        assert counters["visits_due"] == found.total.visits_due
        assert counters["patrol_minutes"] == found.total.patrol_minutes
        assert figures.total.values["patrol_hours"] == pytest.approx(found.total.patrol_hours)
        assert figures.total.values["visits_rate"] == pytest.approx(found.total.visits_rate)


def test_other_months_and_the_other_county(work: Field) -> None:
    w = work.world
    before = Period.of("month", (last_month() - dt.timedelta(days=1)).replace(day=1))
    rows = _rows(d.duties(w.div["A1"], before))
    assert rows[(w.div["A1a2"].code, "worker-a1a2")].patrols == 1
    assert rows[(w.div["A1a1"].code, "worker")].patrols == 0
    county_b = d.duties(w.div["B"], work.period)
    assert {r.worker.username for r in county_b.rows if r.worker} == {"worker-b"}
    assert county_b.total.patrol_minutes == 30
    assert county_b.total.check_ins == 0  # worker's check-in in B1a1 stays with their grid


def test_one_workers_rows(work: Field) -> None:
    w = work.world
    worker = work.people["worker"]
    found = d.duties(w.div["A1"], work.period, worker=worker.pk)
    assert [(r.grid.code, r.worker) for r in found.rows] == [(w.div["A1a1"].code, worker)]
    weekly = math.ceil(work.days / 7)
    assert found.total.visits_due == weekly + 1  # only their grid's
    assert found.total.workers_without_patrol == 0
    rows = d.worker_duties(work.people["township"], worker, work.period)
    assert [r.grid.code for r in rows] == [w.div["A1a1"].code]
    assert d.worker_duties(work.people["county_b"], worker, work.period) == []


def test_helping_out_shows_in_the_helpers_grid_only(work: Field) -> None:
    community = work.people["community"]
    rows = d.duties(work.world.div["A1"], work.period, worker=community.pk).rows
    assert [(r.grid.code, r.assigned, r.visits_due, r.visits_done) for r in rows] == [
        (work.world.div["A1a1"].code, False, None, 1)
    ]


def test_care_visits_by_the_system_keep_a_row_of_their_own(work: Field) -> None:
    """A visit recorded by no one (an import, a command) in a grid that has a worker: neither
    the worker's nor a grid without one, and still in the totals the KPI counts."""
    w = work.world
    first = last_month()
    with simulated_clock(moment(first, 20, 10)):
        registry.do_record_care_visit(work.tags["weekly"], actor=None)
    found = d.duties(w.div["A1"], work.period)
    row = _rows(found)[(w.div["A1a1"].code, "")]
    assert (row.worker, row.unstaffed, row.assigned) == (None, False, False)
    assert (row.visits_due, row.visits_done) == (None, 1)
    assert d.worker_name(row) == "the system"
    assert d.worker_name(_rows(found)[(w.div["A1b1"].code, "")]) == "nobody assigned"
    assert found.total.grids_without_worker == 1
    figures = query.figures(None, KpiQuery(w.div["A1"], work.period), compare=False)
    assert figures.total.counters["visits_done"] == found.total.visits_done == 4


@pytest.mark.parametrize("bad", ["2026-13", "2026-3", "26-03", "March", "2026-03-15", "2026/03"])
def test_a_bad_month_names_the_field(bad: str) -> None:
    with pytest.raises(ValidationError) as error:
        d.month_period(bad)
    assert list(error.value.message_dict) == ["month"]
    assert "YYYY-MM" in error.value.message_dict["month"][0]


def test_a_month_and_the_default() -> None:
    period = d.month_period("2024-02")
    assert (period.start, period.end, period.days) == (
        dt.date(2024, 2, 1),
        dt.date(2024, 2, 29),
        29,
    )
    today = timezone.localdate()
    assert d.month_period("").start == today.replace(day=1)


def test_area_is_the_users_own_and_never_beyond(world: World, people: dict[str, User]) -> None:
    township = people["township"]
    assert d.area_for(township, "") == world.div["A1"]
    assert d.area_for(township, world.div["A1a1"].code) == world.div["A1a1"]
    messages = {}
    for code in (world.div["B1"].code, world.div["A"].code, "371699999"):
        with pytest.raises(ValidationError) as error:
            d.area_for(township, code)
        messages[code] = error.value.message_dict["under"]
    # Outside the user's area and unknown read the same: nothing leaks.
    assert len({tuple(m) for m in messages.values()}) == 1
    with pytest.raises(ValidationError) as error:
        d.area_for(township, "A1'; --")
    assert "digits" in error.value.message_dict["under"][0]
    with pytest.raises(ValidationError) as error:
        d.area_for(people["handler"], "")
    assert "under" in error.value.message_dict


def test_filters_name_every_bad_parameter(world: World, people: dict[str, User]) -> None:
    with pytest.raises(ValidationError) as error:
        d.parse_filters(people["township"], {"under": "x", "month": "13", "worker": "me"})
    assert set(error.value.message_dict) == {"under", "month", "worker"}
    found = d.parse_filters(people["township"], {"month": "2026-01", "worker": "7"})
    assert (found.area, found.period.start, found.worker) == (
        world.div["A1"],
        dt.date(2026, 1, 1),
        7,
    )
