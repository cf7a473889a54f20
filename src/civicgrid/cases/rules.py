"""Who may take which action on a case now: the transitions table plus the case's hands."""

from __future__ import annotations

from typing import Any

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import Unit
from civicgrid.accounts.roles import Role

from .choices import Status
from .models import Case
from .workflow import SIDE_ROLES, TRANSITIONS, Transition


def _holds(user: Any, role: str, path: str) -> bool:
    """Holds `role` at `path` or above it."""
    return any(r == role and path.startswith(p) for r, p in user.assignment_pairs())


def centre_side(user: Any, case: Case) -> bool:
    """Staff of the responsible centre, or of a centre above it."""
    return user.is_superuser or _holds(user, Role.CENTRE_STAFF, case.centre.division_path)


def higher_side(user: Any, case: Case) -> bool:
    """Staff of a centre strictly above the responsible centre."""
    centre_path = case.centre.division_path
    return user.is_superuser or any(
        r == Role.CENTRE_STAFF and centre_path.startswith(p) and p != centre_path
        for r, p in user.assignment_pairs()
    )


def unit_side(user: Any, case: Case) -> bool:
    """A handler of the owning unit; a centre that owns the case handles it with its staff."""
    if user.is_superuser:
        return True
    owner = case.owner_unit
    if owner.kind == UnitKind.CENTRE:
        return any(
            r == Role.CENTRE_STAFF and p == owner.division_path for r, p in user.assignment_pairs()
        )
    return any(
        r == Role.DEPARTMENT_HANDLER and unit_id == owner.pk
        for r, _p, unit_id in user.assignment_triples()
    )


def may(user: Any, case: Case, transition: Transition) -> bool:
    if case.status not in transition.sources:
        return False
    if not user.is_superuser:
        roles = {r for r, _p in user.assignment_pairs()}
        if not roles & SIDE_ROLES[transition.side]:
            return False
    side = transition.side
    if side == "centre":
        return centre_side(user, case)
    if side == "higher":
        return higher_side(user, case) and not case.supervised
    if side == "unit":
        return unit_side(user, case)
    if side == "checker":
        return (case.checker_id is not None and case.checker_id == user.pk) or centre_side(
            user, case
        )
    if side == "reporter":
        return (case.reporter_id is not None and case.reporter_id == user.pk) or centre_side(
            user, case
        )
    if side == "self":
        return case.reporter_id is not None and case.reporter_id == user.pk
    if side == "leader":
        return _holds(user, Role.LEADER, case.division_path)
    return False


def available(user: Any, case: Case) -> list[Transition]:
    """Exactly the actions this user may take on this case now (pages draw these buttons)."""
    if case.status == Status.MERGED:
        return []
    return [t for t in TRANSITIONS.values() if may(user, case, t) and ready(case, t)]


def ready(case: Case, transition: Transition) -> bool:
    """Whether the case offers what the transition works on (beyond its state): reporting a
    staged step done needs a staged limit that is still pending."""
    from .sla import pending_steps

    return transition.name != "progress" or bool(pending_steps(case))


def centre_for(division_path: str) -> Unit | None:
    """The governance centre nearest above a place: its community's, else the township's…"""
    candidates = [division_path[:n] for n in (15, 12, 9, 6, 4, 2) if n <= len(division_path)]
    centres = {
        u.division_path: u
        for u in Unit.objects.filter(
            kind=UnitKind.CENTRE, is_active=True, division_path__in=candidates
        )
        .select_related("division")
        .defer("division__boundary")
    }
    for path in candidates:
        if path in centres:
            return centres[path]
    return None


def parent_centre(centre: Unit) -> Unit | None:
    parent = centre.division.parent
    parent_path = parent.path if parent is not None else None
    return centre_for(parent_path) if parent_path else None


def may_dispatch_to(case: Case, unit: Unit) -> bool:
    """Handling units in line with the place: at the case's division, above it, or below it."""
    if not unit.is_active:
        return False
    return case.division_path.startswith(unit.division_path) or unit.division_path.startswith(
        case.division_path
    )
