"""The transitions table: the single truth about which action may move a case from which
states to which, and who may take it (DOMAIN.md §5).

`side` says whose hands the case must be in for the actor to act:
- "centre": centre staff of the responsible centre or of any centre above it;
- "higher": centre staff strictly above the responsible centre (supervision);
- "unit": a handler of the owning unit (or, in joint handling, the lead unit);
- "checker": the person assigned to check on site, or centre staff as for "centre";
- "reporter": whoever reported the case, or centre staff as for "centre";
- "self": the grid worker who reported it (resolving it on the spot, with evidence);
- "leader": a leader whose area covers the case.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.accounts.roles import Role

from .choices import OPEN, Status

S = Status


@dataclass(frozen=True)
class Transition:
    name: str
    label: str | Promise
    sources: frozenset[str]
    target: str | None  # None: the status stays (urge, supervise, instruct, progress…)
    side: str
    note_required: bool = False
    style: str = "primary"  # how pages draw the button


def _t(
    name: str,
    label: Promise,
    sources: set[Status] | frozenset[Status] | set[str],
    target: str | None,
    side: str,
    note: bool = False,
    style: str = "primary",
) -> Transition:
    return Transition(name, label, frozenset(sources), target, side, note, style)


WORKING = {S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS}
TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        _t("register", _("Register (file)"), {S.REPORTED}, S.REGISTERED, "centre"),
        _t("void", _("Do not file"), {S.REPORTED}, S.VOIDED, "centre", True, "outline-danger"),
        _t(
            "merge",
            _("Merge as duplicate"),
            {S.REPORTED, S.REGISTERED},
            S.MERGED,
            "centre",
            True,
            "outline-secondary",
        ),
        _t(
            "escalate",
            _("Escalate to the higher centre"),
            {S.REPORTED, S.REGISTERED},
            None,
            "centre",
            True,
            "outline-warning",
        ),
        _t("dispatch", _("Dispatch"), {S.REGISTERED}, S.DISPATCHED, "centre"),
        _t("accept", _("Accept (签收)"), {S.DISPATCHED}, S.ACCEPTED, "unit"),
        _t("return", _("Return: not ours"), WORKING, S.REGISTERED, "unit", True, "outline-danger"),
        _t("start", _("Start work"), {S.ACCEPTED}, S.IN_PROGRESS, "unit", style="outline-primary"),
        _t(
            "progress",
            _("Report a staged step done"),
            {S.ACCEPTED, S.IN_PROGRESS},
            None,
            "unit",
            style="outline-primary",
        ),
        _t(
            "transfer",
            _("Transfer to another unit"),
            WORKING,
            S.DISPATCHED,
            "centre",
            True,
            "outline-warning",
        ),
        _t(
            "suspend",
            _("Suspend (clock stops)"),
            {S.ACCEPTED, S.IN_PROGRESS},
            S.SUSPENDED,
            "centre",
            True,
            "outline-secondary",
        ),
        _t("resume", _("Resume"), {S.SUSPENDED}, S.IN_PROGRESS, "centre"),
        _t(
            "feedback",
            _("Report back: handled"),
            {S.ACCEPTED, S.IN_PROGRESS},
            S.HANDLED,
            "unit",
            True,
        ),
        _t("start_check", _("Send for on-site check"), {S.HANDLED}, S.CHECKING, "centre"),
        _t(
            "close",
            pgettext_lazy("case action", "Close"),
            {S.HANDLED},
            S.CLOSED,
            "centre",
            style="success",
        ),
        _t(
            "pass_check",
            _("Check passed: close"),
            {S.CHECKING},
            S.CLOSED,
            "checker",
            style="success",
        ),
        _t(
            "fail_check",
            _("Check failed: rework"),
            {S.CHECKING},
            S.DISPATCHED,
            "checker",
            True,
            "outline-danger",
        ),
        _t(
            "self_resolve",
            _("Resolved on the spot"),
            {S.REPORTED},
            S.CLOSED,
            "self",
            True,
            "outline-success",
        ),
        _t("evaluate", _("Evaluate"), {S.CLOSED}, S.EVALUATED, "reporter", style="outline-success"),
        _t(
            "urge",
            _("Urge (催办)"),
            OPEN - {S.REPORTED, S.SUSPENDED},
            None,
            "centre",
            True,
            "outline-warning",
        ),
        _t(
            "supervise",
            _("Put under formal supervision (挂牌督办)"),
            set(OPEN),
            None,
            "higher",
            True,
            "outline-danger",
        ),
        _t(
            "instruct",
            _("Leader's instruction (批示)"),
            set(OPEN) | {S.CLOSED},
            None,
            "leader",
            True,
            "outline-dark",
        ),
    ]
}

# Who can hold each side (before the finer owner checks in actions.py).
SIDE_ROLES: dict[str, frozenset[str]] = {
    "centre": frozenset({Role.CENTRE_STAFF}),
    "higher": frozenset({Role.CENTRE_STAFF}),
    "unit": frozenset({Role.DEPARTMENT_HANDLER, Role.CENTRE_STAFF}),
    "checker": frozenset({Role.CENTRE_STAFF, Role.GRID_WORKER, Role.GRID_LEADER}),
    "reporter": frozenset({Role.CENTRE_STAFF, Role.GRID_WORKER, Role.GRID_LEADER}),
    "self": frozenset({Role.GRID_WORKER, Role.GRID_LEADER}),
    "leader": frozenset({Role.LEADER}),
}

# Reaching a state sets the stage whose clock runs from then on.
STAGE_ON_ENTRY: dict[str, str] = {
    S.DISPATCHED: "accept",
    S.ACCEPTED: "handle",
    S.CHECKING: "check",
}
# The stage a state belongs to: moving between states of one stage (accepted → in progress →
# suspended → in progress) keeps its clock; any other state has none.
STAGE_OF: dict[str, str] = {
    S.DISPATCHED: "accept",
    S.ACCEPTED: "handle",
    S.IN_PROGRESS: "handle",
    S.SUSPENDED: "handle",
    S.CHECKING: "check",
}
# Transitions that hand the case to a new unit, which gets its own clock even when the status
# stays the same (a transfer of a dispatched case).
RESTARTS_STAGE = frozenset({"transfer"})


def stage_of(status: str) -> str:
    return STAGE_OF.get(status, "")


def allowed_from(status: str) -> list[Transition]:
    return [t for t in TRANSITIONS.values() if status in t.sources]


def check_table() -> None:
    """The table must only name real states (run by the tests)."""
    names = set(Status.values)
    for t in TRANSITIONS.values():
        assert t.sources <= names, t.name
        assert t.target is None or t.target in names, t.name
        assert t.side in SIDE_ROLES, t.name
