"""A property-based state machine over the real case actions on the real database.

Each step takes one transition of the table, by someone who may or may not take it, with the
case's current version or a stale one; after every step the invariants of DOMAIN.md §5 and
ARCHITECTURE.md must hold: only edges of the table are ever walked, exactly one owning unit,
a timeline that tells the story of the status, refusals that change nothing, deadlines that
only move later within a stage, and one audit row per successful action."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any, ClassVar

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import Unit, User
from civicgrid.cases import actions, rules, sla
from civicgrid.cases.choices import SlaState, Status
from civicgrid.cases.models import Case
from civicgrid.cases.workflow import TRANSITIONS
from civicgrid.core.audit import snapshot
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import Notification, ObjectChange

from ..world import World
from .conftest import jpeg, make_cast, report

CENTRE_STATES = {Status.REPORTED, Status.REGISTERED, Status.HANDLED, Status.CHECKING, Status.CLOSED}
UNIT_STATES = {Status.DISPATCHED, Status.ACCEPTED, Status.IN_PROGRESS, Status.SUSPENDED}
STAGE = {
    Status.DISPATCHED: "accept",
    Status.ACCEPTED: "handle",
    Status.IN_PROGRESS: "handle",
    Status.SUSPENDED: "handle",
    Status.CHECKING: "check",
}
NAMES = sorted(TRANSITIONS)
ENDINGS = {"void", "merge", "self_resolve", "evaluate"}
MAIN_PATH = {
    "register",
    "dispatch",
    "accept",
    "start",
    "feedback",
    "start_check",
    "close",
    "pass_check",
    "fail_check",
    "resume",
}
PHOTO = jpeg()


class CaseMachine(RuleBasedStateMachine):
    """One case reported by a grid worker in grid A1a1 (community centre A1a), plus a second
    live case to merge into."""

    world: ClassVar[World]
    people: ClassVar[dict[str, User]]
    code: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.case = report(self.people["worker"], code=self.code)
        self.other = report(self.people["worker"], code=self.code)
        self.content_type = ContentType.objects.get_for_model(Case)
        self.row = self._row()
        self.successes = 1  # the report
        self.walked: list[tuple[str, str, str]] = []

    # --- helpers -----------------------------------------------------------------------------
    def _case(self) -> Case:
        return Case.objects.select_related("owner_unit", "centre", "handler_unit").get(
            pk=self.case.pk
        )

    def _row(self) -> dict[str, Any]:
        case = self._case()
        data = snapshot(case)
        data.pop("updated_at", None)
        data["co_units"] = sorted(case.co_units.values_list("pk", flat=True))
        data["steps"] = case.steps.count()
        data["attachments"] = case.attachments.count()
        data["audit"] = ObjectChange.objects.filter(
            content_type=self.content_type, object_id=str(case.pk)
        ).count()
        data["notifications"] = Notification.objects.count()
        return data

    def _arguments(self, name: str, data: st.DataObject) -> dict[str, Any]:
        units = self.world.units
        if name == "dispatch":
            unit = data.draw(st.sampled_from([None, "urban-A", "urban-C", "centre-A1"]))
            co = data.draw(st.sampled_from([[], ["urban-C"], ["urban-A", "urban-C"]]))
            return {"unit": units[unit] if unit else None, "co_units": [units[u] for u in co]}
        if name == "transfer":
            return {"unit": units[data.draw(st.sampled_from(["urban-A", "urban-C", "centre-A1"]))]}
        if name == "merge":
            return {"into": self.other}
        if name == "start_check":
            checker = data.draw(st.sampled_from([None, "worker", "community"]))
            return {"checker": self.people[checker] if checker else None}
        if name == "evaluate":
            return {"satisfaction": data.draw(st.integers(min_value=1, max_value=5))}
        with_photo = {"self_resolve", "progress", "feedback", "pass_check", "fail_check"}
        if name in with_photo and data.draw(st.booleans()):
            return {"uploads": [("result.jpg", PHOTO)]}
        return {}

    def _attempt(self, name: str, who: str, stale: bool, data: st.DataObject) -> None:
        transition = TRANSITIONS[name]
        actor = self.people[who]
        case = self._case()
        version = case.version
        if stale:
            version = version - 1 if version > 1 else version + 1
        kwargs = self._arguments(name, data)
        if transition.note_required or data.draw(st.booleans()):
            kwargs["note"] = f"{name} by {who}"
        in_source = case.status in transition.sources
        permitted = in_source and rules.may(actor, case, transition)
        before = self.row
        refusal: Exception | None = None
        try:
            actions.ACTIONS[name](case, actor=actor, version=version, **kwargs)
        except (Conflict, PermissionDenied, ValidationError) as exc:
            refusal = exc
        if refusal is not None:
            self._check_refusal(refusal, name, who, stale, in_source, permitted, before)
            return
        assert not stale, f"{name} succeeded with a stale version"
        assert permitted, f"{who} may not {name} a {case.status} case, yet it happened"
        self.successes += 1
        after = self._row()
        self.walked.append((name, before["status"], after["status"]))
        assert after["version"] == before["version"] + 1
        assert after["steps"] == before["steps"] + 1
        self._check_deadlines(before, after)
        self.row = after

    def _check_refusal(
        self,
        refusal: Exception,
        name: str,
        who: str,
        stale: bool,
        in_source: bool,
        permitted: bool,
        before: dict[str, Any],
    ) -> None:
        """A refused action changes nothing, and says why it was refused."""
        assert self._row() == before, (name, who, stale, refusal)
        if isinstance(refusal, ValidationError):
            # Bad arguments (a unit that does not serve the place, no higher centre…).
            return
        if stale:
            assert isinstance(refusal, Conflict) and refusal.code == "stale", refusal
        elif not in_source:
            assert isinstance(refusal, Conflict) and refusal.code == "transition", refusal
        elif permitted and not rules.ready(self._case(), TRANSITIONS[name]):
            # Allowed in this state, but nothing to work on (no staged limit pending).
            assert isinstance(refusal, Conflict) and refusal.code == "not_ready", refusal
        else:
            assert isinstance(refusal, PermissionDenied), refusal
            assert not permitted, f"{who} was refused “{name}”: {refusal}"

    def _check_deadlines(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """Within a stage (same start), the due time and the yellow mark never move earlier."""
        if not after["stage_started_at"] or after["stage_started_at"] != before["stage_started_at"]:
            return
        for key in ("stage_due", "warn_at"):
            if before[key] and after[key]:
                old, new = (
                    dt.datetime.fromisoformat(before[key]),
                    dt.datetime.fromisoformat(after[key]),
                )
                assert new >= old, (key, old, new)

    # --- rules -------------------------------------------------------------------------------
    @rule(
        name=st.sampled_from(NAMES),
        who=st.sampled_from(
            [
                "worker",
                "worker_a1a2",
                "worker_b",
                "grid_leader",
                "community",
                "community_a1b",
                "township",
                "township_a2",
                "county",
                "county_b",
                "city",
                "handler",
                "handler_b",
                "handler_city",
                "leader",
                "leader_b",
                "sysadmin",
            ]
        ),
        stale=st.booleans(),
        data=st.data(),
    )
    def anyone_tries_anything(self, name: str, who: str, stale: bool, data: st.DataObject) -> None:
        self._attempt(name, who, stale, data)

    @rule(data=st.data())
    def someone_who_may_acts(self, data: st.DataObject) -> None:
        """Drive the case forward: one of the actions the cast may take now, by one who may
        (what a page would offer as a button)."""
        case = self._case()
        offers = [
            (t.name, who)
            for who, person in sorted(self.people.items())
            for t in rules.available(person, case)
        ]
        if not offers:
            return
        # Ending the case (void, merge, self-resolve, evaluate) only now and then, so that most
        # runs get deep into the workflow.
        onward = [(name, who) for name, who in offers if name not in ENDINGS]
        ahead = [(name, who) for name, who in onward if name in MAIN_PATH]
        roll = data.draw(st.integers(min_value=0, max_value=9))
        if ahead and roll >= 4:
            offers = ahead
        elif onward and roll >= 1:
            offers = onward
        name, who = data.draw(st.sampled_from(offers))
        self._attempt(name, who, False, data)

    # --- invariants --------------------------------------------------------------------------
    @invariant()
    def the_case_is_consistent(self) -> None:
        case = self._case()
        assert case.status in Status.values
        # Exactly one owning unit, and the right kind of unit for the state.
        assert case.owner_unit_id is not None
        if case.status in CENTRE_STATES:
            assert case.owner_unit_id == case.centre_id, case.status
            assert case.owner_unit.kind == UnitKind.CENTRE
        if case.status in UNIT_STATES:
            assert case.handler_unit_id is not None
            assert case.owner_unit_id == case.handler_unit_id, case.status
        assert case.centre.kind == UnitKind.CENTRE
        assert (case.suspended_at is not None) == (case.status == Status.SUSPENDED)
        # The clock that runs is the one of the state's stage (the category has all three).
        assert case.stage == STAGE.get(case.status, ""), (case.status, case.stage)
        assert (case.stage_due is not None) == bool(case.stage)
        assert (case.sla_state == SlaState.NONE) == (case.stage_due is None)
        assert (case.merged_into_id is not None) == (case.status == Status.MERGED)
        # Staged limits belong to the handle stage; the sweep's pointer is the earliest one
        # still pending (nothing is urged here: the sweep is not part of this machine).
        assert not case.steps_due or case.stage == "handle"
        pending = [dt.datetime.fromisoformat(s["due"]) for s in sla.pending_steps(case)]
        assert case.next_step_due == (min(pending) if pending else None)
        # The timeline tells the story of the status, edge by edge of the table.
        steps = list(
            case.steps.order_by("seq").values_list("seq", "action", "from_status", "to_status")
        )
        assert [s[0] for s in steps] == list(range(1, len(steps) + 1))
        assert steps[0][1:] == ("report", "", Status.REPORTED)
        for (_s1, _a1, _f1, to1), (_s2, action, from2, to2) in itertools.pairwise(steps):
            assert from2 == to1, steps
            t = TRANSITIONS[action]
            assert from2 in t.sources, (action, from2)
            assert to2 == (t.target or from2), (action, from2, to2)
        assert steps[-1][3] == case.status
        assert case.version == len(steps)
        # One audit row per successful action (the report included).
        audited = ObjectChange.objects.filter(
            content_type=self.content_type, object_id=str(case.pk)
        ).count()
        assert audited == self.successes == len(steps)
        # The lead unit is never also one of its own co-handlers.
        assert case.handler_unit_id not in set(case.co_units.values_list("pk", flat=True))
        # Units with the case in hand are active units that serve its place.
        for unit in Unit.objects.filter(
            pk__in=[case.owner_unit_id, *case.co_units.values_list("pk", flat=True)]
        ):
            assert unit.is_active and rules.may_dispatch_to(case, unit)


@pytest.mark.parametrize("code", ["environment.rubbish", "facility.burst_main"])
def test_no_sequence_of_actions_breaks_the_invariants(world: World, code: str) -> None:
    """Once with a plain category, once with staged limits in the handle stage."""
    CaseMachine.code = code
    CaseMachine.world = world
    CaseMachine.people = make_cast(world)
    run_state_machine_as_test(
        CaseMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
