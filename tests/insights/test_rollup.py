"""The rollup always agrees with the live count: random sequences of real case actions
(reports spread over several months and places, every transition, the SLA sweep), then a
refresh, then every figure read from the rollup equals the same figure counted live."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any, ClassVar

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from civicgrid.accounts.models import User
from civicgrid.cases import actions, sweep
from civicgrid.cases.models import Case
from civicgrid.cases.workflow import TRANSITIONS
from civicgrid.core.exceptions import Conflict
from civicgrid.insights import query, rollup
from civicgrid.insights.models import CaseRollup, CommunityRollup, RollupDirty
from civicgrid.insights.query import KpiQuery, Period

from ..cases.conftest import act, jpeg, make_cast, report
from ..world import GRID_KEYS, World

pytestmark = pytest.mark.django_db

CODES = ["environment.rubbish", "facility.burst_main", "dispute.neighbour"]
ACTORS = ["worker", "worker_b", "community", "township", "county", "county_b", "city", "handler"]
ACTORS += ["handler_b", "handler_city", "leader"]
PHOTO = jpeg()


def _agree(world: World) -> None:
    rollup.refresh()
    assert not RollupDirty.objects.exists()
    today = timezone.localdate()
    first = (today.replace(day=1) - dt.timedelta(days=100)).replace(day=1)
    last = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    period = Period("custom", first, last)
    for at in ["C", "A", "A1", "B", "A1a"]:
        # A township by its communities and a community are CommunityRollup's.
        for group in ["", "month"] + (["major", "child"] if at != "A1a" else []):
            q = KpiQuery(world.div[at], period, group=group)
            assert query.uses_rollup(q), (at, group)
            rolled = query.figures(None, q, compare=False, source="rollup")
            live = query.figures(None, q, compare=False, source="live")
            assert rolled.source == "rollup" and live.source == "live"
            assert rolled.total.counters == live.total.counters, (at, group)
            assert {r.key: r.counters for r in rolled.rows} == {
                r.key: r.counters for r in live.rows
            }, (at, group)


class RollupMachine(RuleBasedStateMachine):
    world: ClassVar[World]
    people: ClassVar[dict[str, User]]

    def __init__(self) -> None:
        super().__init__()
        # Cases of earlier examples stay (the test's transaction holds them): the comparison
        # covers every case in the database either way.
        self.cases: list[int] = []

    @rule(
        at=st.sampled_from(GRID_KEYS),
        code=st.sampled_from(CODES),
        days_back=st.integers(min_value=0, max_value=95),
    )
    def report_a_case(self, at: str, code: str, days_back: int) -> None:
        worker = self.people["worker_b" if at == "B1a1" else "worker"]
        real_now = timezone.now
        when = real_now() - dt.timedelta(days=days_back)
        # The report happens "then": reported_at, the number's year and the first deadlines.
        timezone.now = lambda: when  # type: ignore[assignment]
        try:
            case = report(worker, at=at, code=code, uploads=[("p.jpg", PHOTO)])
        finally:
            timezone.now = real_now  # type: ignore[assignment]
        self.cases.append(case.pk)

    @rule(data=st.data())
    def someone_acts(self, data: st.DataObject) -> None:
        if not self.cases:
            return
        case = Case.objects.get(pk=data.draw(st.sampled_from(self.cases)))
        possible = [t for t in TRANSITIONS.values() if case.status in t.sources]
        if not possible:
            return
        transition = data.draw(st.sampled_from(possible))
        who = [
            self.people[name] for name in ACTORS if _may(case, transition.name, self.people[name])
        ]
        if not who:
            return
        actor = data.draw(st.sampled_from(who))
        # A refusal changes nothing, which the invariant checks as well.
        with contextlib.suppress(Conflict, PermissionDenied, ValidationError):
            act(transition.name, case, actor, **self._arguments(transition.name, case, data))

    def _arguments(self, name: str, case: Case, data: st.DataObject) -> dict[str, Any]:
        units = self.world.units
        if name == "dispatch":
            return {"unit": units[data.draw(st.sampled_from(["urban-A", "urban-C"]))]}
        if name == "transfer":
            return {"unit": units[data.draw(st.sampled_from(["urban-A", "urban-C"]))]}
        if name == "merge":
            others = [pk for pk in self.cases if pk != case.pk]
            if not others:
                raise ValidationError("no other case")
            return {"into": Case.objects.get(pk=data.draw(st.sampled_from(others)))}
        if name == "evaluate":
            return {"satisfaction": data.draw(st.integers(min_value=1, max_value=5))}
        if name in {"self_resolve", "progress"}:
            return {"uploads": [("r.jpg", PHOTO)]}
        return {}

    @rule(hours=st.integers(min_value=1, max_value=400))
    def the_sweep_runs_later(self, hours: int) -> None:
        sweep.sweep(now=timezone.now() + dt.timedelta(hours=hours))

    @invariant()
    def rollup_equals_live(self) -> None:
        _agree(self.world)


def _may(case: Case, name: str, actor: User) -> bool:
    try:
        actions.check_transition(case, name, actor)
    except (Conflict, PermissionDenied):
        return False
    return True


def test_rollup_equals_live_after_any_actions(world: World) -> None:
    RollupMachine.world = world
    RollupMachine.people = make_cast(world)
    run_state_machine_as_test(
        RollupMachine,
        settings=settings(
            max_examples=8,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


def test_a_rebuild_gives_the_same_rows_as_refreshing(world: World) -> None:
    people = make_cast(world)
    for at in GRID_KEYS:
        report(people["worker_b" if at == "B1a1" else "worker"], at=at)
    rollup.refresh()

    def rows() -> tuple[set[Any], set[Any]]:
        return (
            set(CaseRollup.objects.values_list("month", "area", "category_id", "reported")),
            set(CommunityRollup.objects.values_list("month", "area", "reported", "closed")),
        )

    refreshed = rows()
    assert refreshed[0] and refreshed[1]
    # The community grain: one row per community holding cases (five grids, four communities).
    assert {area for _m, area, _r, _c in refreshed[1]} == {
        world.div[k].path for k in ("A1a", "A1b", "A2a", "B1a")
    }
    assert rollup.rebuild() == len(refreshed[0]) + len(refreshed[1])
    assert rows() == refreshed


def test_renumbering_a_county_carries_its_rollup_along(world: World) -> None:
    from civicgrid.geo.actions import do_renumber_division

    people = make_cast(world)
    for at in GRID_KEYS:
        report(people["worker_b" if at == "B1a1" else "worker"], at=at)
    rollup.refresh()
    do_renumber_division(world.div["A"], "371699", actor=None)
    assert not CaseRollup.objects.filter(area__startswith="371602").exists()
    assert not CommunityRollup.objects.filter(area__startswith="371602").exists()
    assert CommunityRollup.objects.filter(area__startswith="371699").exists()
    world.div["A"].refresh_from_db()
    _agree(world)


def test_the_rebuild_command(world: World) -> None:
    from django.core.management import CommandError, call_command

    people = make_cast(world)
    report(people["worker"])
    call_command("rebuild_rollups")
    assert CaseRollup.objects.count() == 1
    call_command("rebuild_rollups", "--pending")
    with pytest.raises(CommandError, match="--since"):
        call_command("rebuild_rollups", "--since", "2026-13")


def test_each_figure_reads_the_rollup_that_holds_it(world: World) -> None:
    from civicgrid.catalog.models import CaseCategory

    month = Period.of("month", timezone.localdate())
    minor = CaseCategory.objects.filter(parent__isnull=False).first()
    major = minor.parent if minor else None

    def picked(at: str, group: str = "", category: Any = None) -> Any:
        return query.rollup_for(KpiQuery(world.div[at], month, group=group, category=category))

    assert picked("A1") is CaseRollup
    assert picked("A1", "major") is CaseRollup
    assert picked("A1", category=major) is CaseRollup
    assert picked("A1", "child") is CommunityRollup  # a township by its communities
    assert picked("A1a") is CommunityRollup
    assert picked("A1a", "month") is CommunityRollup
    assert picked("A1a", "major") is None  # no category in the community grain
    assert picked("A1a", category=major) is None
    assert picked("A1a", "child") is None  # grids: live
    assert picked("A1", category=minor) is None
    assert picked("A1", "category") is None
