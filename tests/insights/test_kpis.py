"""KPI formulas on hand-computed fixtures: cases walked through the real actions, including
deferred (suspended), reopened (failed check), transferred, returned, merged, voided and
self-resolved ones, then every figure checked against numbers worked out by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from civicgrid.accounts.models import User
from civicgrid.cases.models import Case
from civicgrid.insights import kpis, query, rollup
from civicgrid.insights.query import KpiQuery, Period

from ..cases.conftest import act, fresh, jpeg, report, to_state
from ..world import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def cohort(world: World, people: dict[str, User]) -> dict[str, Case]:
    p = people
    cases: dict[str, Case] = {}
    # 1. Closed and rated very satisfied.
    cases["evaluated"] = to_state(report(p["worker"]), "evaluated", p, world)
    # 2. Closed after one failed check (reopened, rework), rated 2 (dissatisfied).
    c = to_state(report(p["worker"]), "checking", p, world)
    c = act("fail_check", c, p["worker"])
    for name, who in [("accept", "handler"), ("feedback", "handler"), ("close", "community")]:
        c = act(name, c, p[who])
    cases["reworked"] = act("evaluate", c, p["worker"], satisfaction=2)
    # 3. Suspended (deferred): out of the closure denominators.
    cases["deferred"] = to_state(report(p["worker"]), "suspended", p, world)
    # 4. Returned once, then dispatched again and still in progress.
    c = to_state(report(p["worker"]), "accepted", p, world)
    c = act("return", c, p["handler"])
    c = act("dispatch", c, p["community"], unit=world.units["urban-A"])
    cases["returned"] = act("accept", c, p["handler"])
    # 5. Transferred sideways and closed.
    c = to_state(report(p["worker"]), "dispatched", p, world)
    c = act("transfer", c, p["community"], unit=world.units["urban-C"])
    c = act("accept", c, p["handler_city"])
    c = act("feedback", c, p["handler_city"])
    cases["transferred"] = act("close", c, p["community"])
    # 6. Self-resolved on the spot.
    c = report(p["worker"], uploads=[("fixed.jpg", jpeg())])
    cases["self"] = act("self_resolve", c, p["worker"])
    # 7. Voided (not filed) and 8. merged as a duplicate of case 4.
    cases["voided"] = act("void", report(p["worker"]), p["community"])
    cases["merged"] = act("merge", report(p["worker"]), p["community"], into=cases["returned"])
    # 9. Registered, waiting for dispatch.
    cases["registered"] = to_state(report(p["worker"]), "registered", p, world)
    return cases


def _month(world: World, at: str = "A") -> KpiQuery:
    return KpiQuery(world.div[at], Period.of("month", timezone.localdate()))


def test_hand_computed_figures(world: World, cohort: dict[str, Case]) -> None:
    figures = query.figures(None, _month(world))
    c = figures.total.counters
    v = figures.total.values
    assert c["reported"] == 9
    # Filed: all but the voided and the merged one (the self-resolved one counts as filed).
    assert c["filed"] == 7
    assert (c["closed"], c["deferred"], c["open"]) == (4, 1, 3)
    # closure rate = closed ÷ (filed − deferred) = 4 ÷ 6
    assert v["closure_rate"] == pytest.approx(4 / 6)
    assert v["resolution_rate"] == v["closure_rate"]
    # Nothing ran overdue in the test's minutes: every closed case was on time.
    assert v["on_time_rate"] == pytest.approx(4 / 6)
    # Dispatched: evaluated, reworked, deferred, returned, transferred = 5; one returned.
    assert c["dispatched"] == 5
    assert v["return_rate"] == pytest.approx(1 / 5)
    assert v["rework_rate"] == pytest.approx(1 / 7)
    assert v["self_resolution_rate"] == pytest.approx(1 / 7)
    # Rated: 5 and 2 → one satisfied of two.
    assert (c["evaluated"], c["satisfied"]) == (2, 1)
    assert v["satisfaction_rate"] == pytest.approx(0.5)
    # All five dispatched cases were accepted within their accept limit.
    assert v["response_rate"] == pytest.approx(c["responded"] / 5)
    assert c["responded"] == 5
    three = 0.30 * v["response_rate"] + 0.35 * v["closure_rate"] + 0.35 * 0.5
    assert v["three_rates"] == pytest.approx(three)
    # Handled: evaluated, reworked (twice, counted once), transferred.
    assert c["handled"] == 3
    assert v["avg_handling_hours"] == pytest.approx(c["handling_minutes"] / 3 / 60)
    # No patrols exist yet: "—", not zero.
    assert v["patrol_hours"] is None


def test_the_other_county_sees_none_of_it(world: World, cohort: dict[str, Case]) -> None:
    figures = query.figures(None, _month(world, "B"))
    assert figures.total.counters["reported"] == 0
    assert figures.total.values["closure_rate"] is None


def test_an_overdue_stage_spoils_on_time_closure(
    world: World, people: dict[str, User], cohort: dict[str, Case]
) -> None:
    late = cohort["transferred"]
    Case.objects.filter(pk=late.pk).update(ever_overdue=True)
    rollup.mark([rollup.keys_of(late)])
    v = query.figures(None, _month(world)).total.values
    assert v["on_time_rate"] == pytest.approx(3 / 6)
    assert v["closure_rate"] == pytest.approx(4 / 6)


def test_a_stage_finished_late_is_marked_even_before_the_sweep(
    world: World, people: dict[str, User]
) -> None:
    case = to_state(report(people["worker"]), "accepted", people, world)
    Case.objects.filter(pk=case.pk).update(stage_due=timezone.now() - dt.timedelta(minutes=1))
    case = act("start", case, people["handler"])
    assert fresh(case).ever_overdue


def test_handling_time_leaves_out_suspensions(world: World, people: dict[str, User]) -> None:
    case = to_state(report(people["worker"]), "in_progress", people, world)
    case = act("suspend", case, people["community"])
    case = act("resume", case, people["community"])
    case = act("feedback", case, people["handler"])
    resume = case.steps.get(action="resume")
    assert "suspended_working_seconds" in resume.data
    assert fresh(case).handling_minutes is not None


@pytest.mark.parametrize("group", ["child", "major", "category", "day", "unit", "worker"])
def test_groups_add_up_to_the_total(world: World, cohort: dict[str, Case], group: str) -> None:
    q = KpiQuery(world.div["C"], Period.of("month", timezone.localdate()), group=group)
    figures = query.figures(None, q)
    for name in kpis.COUNTERS:
        assert sum(r.counters[name] for r in figures.rows) == figures.total.counters[name]


@pytest.mark.parametrize(
    ("kpi", "part", "expected"),
    [
        ("closure_rate", "numerator", {"evaluated", "reworked", "transferred", "self"}),
        (
            "closure_rate",
            "denominator",
            {"evaluated", "reworked", "returned", "transferred", "self", "registered"},
        ),
        ("return_rate", "numerator", {"returned"}),
        ("reported", "numerator", None),
    ],
)
def test_every_figure_traces_to_its_cases(
    world: World, cohort: dict[str, Case], kpi: str, part: str, expected: Any
) -> None:
    q = _month(world)
    behind = set(query.cases_behind(None, q, kpi, part).values_list("pk", flat=True))
    wanted = (
        {c.pk for c in cohort.values()} if expected is None else {cohort[k].pk for k in expected}
    )
    assert behind == wanted
