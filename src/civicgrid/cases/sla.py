"""Stage deadlines on a case, computed from its category's SLA policy with the working calendar
(core.calendar does the arithmetic). Deadlines are stored on the case; the sweep only compares
them with the clock."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from civicgrid.catalog.selectors import current_calendar, limits
from civicgrid.core import calendar as cal

from .choices import SlaState
from .models import Case, CaseStep

DUE_FIELD = {"accept": "accept_due", "handle": "handle_due", "check": "check_due"}


def start_stage(case: Case, stage: str, now: dt.datetime) -> None:
    """Start the clock of `stage` (or stop every clock when stage is empty)."""
    case.stage = stage
    case.stage_started_at = now if stage else None
    case.stage_due = case.warn_at = case.next_step_due = None
    case.steps_due = []
    case.sla_state = SlaState.NONE
    if not stage:
        return
    stage_limits = limits(case.category, stage)
    if not stage_limits:
        return
    calendar = current_calendar()
    policy = case.category.policy()
    ratio = float(policy.warn_ratio if policy else Decimal("0.8"))
    steps, dues = [], []
    for limit in stage_limits:
        due = cal.deadline(now, float(limit.amount), limit.unit, calendar)
        dues.append(due)
        steps.append(
            {
                "step": limit.step,
                "due": due.isoformat(),
                "unit": limit.unit,
                "amount": float(limit.amount),
                "done_at": None,
                "urged": False,
            }
        )
    final = stage_limits[-1]
    case.stage_due = max(dues)
    seconds = cal.limit_seconds(float(final.amount), final.unit, calendar)
    case.warn_at = (
        now + dt.timedelta(seconds=seconds * ratio)
        if final.unit == cal.Unit.URGENT_HOURS
        else cal.add_working_seconds(now, seconds * ratio, calendar)
    )
    case.steps_due = steps if len(steps) > 1 else []
    refresh_next_step(case)
    setattr(case, DUE_FIELD[stage], case.stage_due)
    case.sla_state = SlaState.NORMAL


def step_due(step: dict[str, Any]) -> dt.datetime:
    """The deadline of one staged limit (stored as ISO 8601 in `Case.steps_due`)."""
    return dt.datetime.fromisoformat(str(step["due"]))


def pending_steps(case: Case) -> list[dict[str, Any]]:
    """The staged limits before the stage's last that have not been reported done, in order.
    (The last one is the stage's own deadline: the feedback that ends the stage meets it.)"""
    return [step for step in case.steps_due[:-1] if not step.get("done_at")]


def refresh_next_step(case: Case) -> None:
    """Point `next_step_due` at the earliest pending staged limit the sweep has not urged."""
    waiting = [step_due(step) for step in pending_steps(case) if not step.get("urged")]
    case.next_step_due = min(waiting) if waiting else None


def staged_limits(case: Case) -> list[dict[str, Any]]:
    """The staged limits for a page: name, due and done as datetimes, urged, and whether this
    is the stage's last limit (met by the feedback that ends the stage)."""
    return [
        {
            "step": step["step"],
            "due": step_due(step),
            "done_at": dt.datetime.fromisoformat(step["done_at"]) if step.get("done_at") else None,
            "urged": bool(step.get("urged")),
            "last": index == len(case.steps_due) - 1,
        }
        for index, step in enumerate(case.steps_due)
    ]


def complete_step(case: Case, now: dt.datetime) -> dict[str, Any] | None:
    """Report the first pending staged limit done; returns it, or None if none is pending."""
    pending = pending_steps(case)
    if not pending:
        return None
    first = pending[0]
    case.steps_due = [
        {**step, "done_at": now.isoformat()} if step is first else step for step in case.steps_due
    ]
    refresh_next_step(case)
    return first


def resume_clock(case: Case, now: dt.datetime) -> float:
    """After a suspension, push every running deadline back by the time it was stopped.
    Returns the working seconds given back (for the timeline)."""
    if case.suspended_at is None:
        return 0.0
    calendar = current_calendar()
    unit = _stage_unit(case)
    paused = cal.elapsed(case.suspended_at, now, unit, calendar)
    if case.stage_due is not None:
        case.stage_due = cal.shift(case.stage_due, paused, unit, calendar)
        setattr(case, DUE_FIELD[case.stage], case.stage_due)
    if case.warn_at is not None:
        case.warn_at = cal.shift(case.warn_at, paused, unit, calendar)
    shifted = []
    for step in case.steps_due:
        if step.get("done_at"):
            shifted.append(step)
            continue
        step_paused = cal.elapsed(case.suspended_at, now, step["unit"], calendar)
        due = cal.shift(step_due(step), step_paused, step["unit"], calendar)
        shifted.append({**step, "due": due.isoformat()})
    case.steps_due = shifted
    refresh_next_step(case)
    case.suspended_at = None
    case.sla_state = state_at(case, now)
    return paused


def suspended_working_seconds(case: Case, now: dt.datetime) -> int:
    """Working time a suspension ending now lasted (recorded on the resume step)."""
    if case.suspended_at is None:
        return 0
    return round(cal.working_seconds_between(case.suspended_at, now, current_calendar()))


def handling_minutes(case: Case, now: dt.datetime) -> int | None:
    """Working time from the (last) dispatch to now, less the suspensions since: what the
    average handling time of the assessment adds up."""
    if case.dispatched_at is None:
        return None
    total = cal.working_seconds_between(case.dispatched_at, now, current_calendar())
    paused = CaseStep.objects.filter(
        case=case, action="resume", time__gte=case.dispatched_at
    ).values_list("data", flat=True)
    total -= sum(int(data.get("suspended_working_seconds", 0)) for data in paused)
    return max(0, round(total / 60))


def _stage_unit(case: Case) -> str:
    stage_limits = limits(case.category, case.stage) if case.stage else []
    return stage_limits[-1].unit if stage_limits else cal.Unit.WORKING_HOURS


def state_at(case: Case, now: dt.datetime) -> str:
    if case.stage_due is None:
        return SlaState.NONE
    if case.suspended_at is not None:
        return case.sla_state if case.sla_state != SlaState.NONE else SlaState.NORMAL
    if now >= case.stage_due:
        return SlaState.RED
    if case.warn_at is not None and now >= case.warn_at:
        return SlaState.YELLOW
    return SlaState.NORMAL
