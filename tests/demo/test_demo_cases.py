"""The small demo city comes with a few weeks of cases, written through the case actions by the
demo's own people: many states, timelines that tell how each case got where it is, deadlines
that agree with the clock, and routes to the county departments."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import pytest
from django.utils import timezone

from civicgrid.accounts.roles import Role
from civicgrid.cases import sla
from civicgrid.cases.choices import OPEN, SlaState, Status
from civicgrid.cases.models import Case, CaseStep
from civicgrid.cases.sweep import RUNNING, sweep
from civicgrid.cases.workflow import TRANSITIONS
from civicgrid.catalog.models import Route
from civicgrid.catalog.selectors import resolve_route
from civicgrid.core.models import ObjectChange
from civicgrid.demo.cases import simulated_clock
from civicgrid.demo.city import PRESETS
from civicgrid.demo.load import ROUTES
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from ..geo.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(db):
    started = timezone.now()
    result = run("demo_city", "--preset", "small", "--seed", "3")
    assert result.ok, result.text
    return started


def test_small_demo_has_cases_in_many_states(city):
    cases = Case.objects.all()
    assert cases.count() == PRESETS["small"].cases
    states = Counter(cases.values_list("status", flat=True))
    assert len(states) >= 8, states
    for wanted in (Status.DISPATCHED, Status.IN_PROGRESS, Status.CLOSED, Status.EVALUATED):
        assert states[wanted] > 0, states
    # Some open cases are overdue now, some are on time.
    sla_states = Counter(cases.filter(status__in=OPEN).values_list("sla_state", flat=True))
    assert sla_states[SlaState.RED] > 0 and sla_states[SlaState.NORMAL] > 0, sla_states
    # Reported by the demo grid workers (and centres taking 12345 calls), handled by the
    # routed departments.
    assert cases.filter(reporter__username="gridworker").count() >= 3
    roles = set(cases.values_list("reporter__assignments__role", flat=True))
    assert roles <= {Role.GRID_WORKER, Role.CENTRE_STAFF}
    accepted_by = set(
        CaseStep.objects.filter(action="accept").values_list("actor__assignments__role", flat=True)
    )
    assert Role.DEPARTMENT_HANDLER in accepted_by


def test_every_timeline_is_consistent_with_its_case(city):
    now = timezone.now()
    for case in Case.objects.prefetch_related("steps").select_related("category"):
        steps = sorted(case.steps.all(), key=lambda s: s.seq)
        assert [s.seq for s in steps] == list(range(1, len(steps) + 1)), case.number
        assert steps[0].action == "report" and steps[0].to_status == Status.REPORTED
        assert steps[0].time == case.reported_at
        status = Status.REPORTED
        for previous, step in itertools.pairwise(steps):
            assert step.time >= previous.time, (case.number, step.seq)
            assert step.from_status == status, (case.number, step.seq, step.action)
            if step.action != "urge" or step.actor_id is not None:
                transition = TRANSITIONS[step.action]
                assert step.from_status in transition.sources, (case.number, step.action)
                assert step.to_status == (transition.target or step.from_status)
            status = step.to_status
        assert status == case.status, case.number
        assert steps[-1].time <= now
        # Milestones agree with the timeline.
        times = {s.action: s.time for s in steps}
        if "register" in times:
            assert case.registered_at == times["register"]
        if case.status in {Status.CLOSED, Status.EVALUATED}:
            closing = [s for s in steps if s.to_status == Status.CLOSED]
            assert case.closed_at == closing[-1].time
        # The clock: a running stage has a deadline after its start, and the colour the sweep
        # gives it now.
        if case.status in RUNNING and case.stage_due is not None:
            assert case.stage_started_at is not None
            assert case.stage_due > case.stage_started_at
            if case.suspended_at is None:
                assert case.sla_state == sla.state_at(case, now) or (
                    # deadlines passing during the test itself
                    case.stage_due > now - dt.timedelta(minutes=2)
                    or (case.warn_at or now) > now - dt.timedelta(minutes=2)
                ), case.number
        if case.status not in OPEN:
            assert case.stage_due is None or case.status in {Status.CLOSED, Status.EVALUATED}


def test_the_demo_sweep_urged_what_was_late(city):
    # Every automatic urging happened just after the deadline it reports, and a second sweep
    # now finds nothing new.
    for step in CaseStep.objects.filter(action="urge", actor__isnull=True):
        due = dt.datetime.fromisoformat(step.data["due"])
        assert due <= step.time <= due + dt.timedelta(minutes=2)
    result = sweep()
    assert (result.red, result.urged) == (0, 0)


def test_demo_routes_the_default_categories_to_county_departments(city):
    county = Division.objects.get(level=Level.COUNTY)
    routes = Route.objects.filter(division=county).select_related("category", "unit")
    assert {r.category.code for r in routes} == set(ROUTES)
    by_code = {r.category.code: r.unit for r in routes}
    assert by_code["environment"].department_type.code == "urban_management"
    assert by_code["hazard.building"].department_type.code == "housing"
    assert by_code["hazard.food"].department_type.code == "market_supervision"
    assert by_code["dispute"].department_type.code == "political_legal"
    assert by_code["psychology.counselling"].kind == "social_org"
    grid = Division.objects.filter(level=Level.GRID).first()
    from civicgrid.catalog.models import CaseCategory

    rubbish = CaseCategory.objects.get(code="environment.rubbish")
    assert resolve_route(rubbish, grid.path).unit == by_code["environment"]
    assert resolve_route(CaseCategory.objects.get(code="opinion.appeal"), grid.path) is None
    # Routed cases went to the routed unit, and each routed unit has a handler.
    for case in Case.objects.exclude(handler_unit=None).select_related("category"):
        route = resolve_route(case.category, case.division_path)
        if route is not None and not case.steps.filter(action="transfer").exists():
            assert case.handler_unit_id == route.unit_id
    assert ObjectChange.objects.filter(action="set_route").count() == routes.count()


def test_demo_logins_have_work(city):
    from civicgrid.accounts.models import User

    handler = User.objects.get(username="handler").assignments.get()
    assert handler.unit.department_type.code == "urban_management"
    assert handler.division.level == Level.COUNTY
    assert Case.objects.filter(handler_unit=handler.unit).exists()
    community = User.objects.get(username="community")
    assert Case.objects.filter(centre__division_path=community.division_path).exists()
    assert Case.objects.filter(reporter__username="gridworker").exists()


def test_the_simulated_clock_is_put_back():
    real = timezone.now
    moment = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
    with simulated_clock(moment) as clock:
        assert timezone.now() == moment
        clock[0] = moment + dt.timedelta(hours=1)
        assert timezone.now() == moment + dt.timedelta(hours=1)
    assert timezone.now is real
    with pytest.raises(RuntimeError), simulated_clock(moment):
        raise RuntimeError
    assert timezone.now is real
