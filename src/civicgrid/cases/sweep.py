"""The SLA sweep: mark cases yellow or red as their deadlines pass, urge the owners of the ones
that just went red. The colour is derived from stored deadlines, so it is not an audited action
and does not bump the case version; the automatic urging is recorded on the case's timeline.
Staged limits before the stage's last (the cordon of a burst main, say) are urged on their own
when they pass with no report that their step is done. Idempotent — a second run at the same
moment changes nothing — and cheap on a large table: one UPDATE and two indexed SELECTs, then work
only for the cases that changed colour or missed a staged limit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Max
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.notify import notify
from civicgrid.insights import rollup

from . import sla
from .choices import OPEN, SlaState, Status
from .models import Case, CaseStep

RUNNING = [s for s in OPEN if s != Status.SUSPENDED]
BATCH = 2000


@dataclass
class SweepResult:
    yellow: int = 0
    red: int = 0
    staged: int = 0  # staged limits (before the stage's last) passed without a report
    urged: int = 0


def sweep(now: dt.datetime | None = None) -> SweepResult:
    now = now or timezone.now()
    result = SweepResult()
    base = Case.objects.filter(
        status__in=RUNNING, stage_due__isnull=False, suspended_at__isnull=True
    )
    with transaction.atomic():
        result.yellow = base.filter(
            sla_state=SlaState.NORMAL, warn_at__lte=now, stage_due__gt=now
        ).update(sla_state=SlaState.YELLOW)
        newly_red = list(
            base.filter(stage_due__lte=now)
            .exclude(sla_state=SlaState.RED)
            .values_list("pk", flat=True)
        )
        staged = list(base.filter(next_step_due__lte=now).values_list("pk", flat=True))
    for start in range(0, len(newly_red), BATCH):
        result.red += _mark_red(newly_red[start : start + BATCH], now)
    for start in range(0, len(staged), BATCH):
        result.staged += _urge_staged(staged[start : start + BATCH], now)
    result.urged = result.red + result.staged
    return result


def _locked(ids: list[int]) -> Any:
    return (
        Case.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, suspended_at__isnull=True, status__in=RUNNING)
        .select_related("owner_unit")
    )


def _urge_step(case: Case, seq: int, note: str, due: str, now: dt.datetime, **data: Any) -> Any:
    """The automatic urge on the case's timeline (the sweep's record: colours are derived)."""
    return CaseStep(
        case=case,
        seq=seq,
        action="urge",
        from_status=case.status,
        to_status=case.status,
        actor_name="system",
        note=note,
        data={"automatic": True, "due": due, **data},
        time=now,
    )


def _last_seqs(cases: list[Case]) -> dict[int, int]:
    return dict(
        CaseStep.objects.filter(case_id__in=[c.pk for c in cases])
        .order_by()
        .values("case_id")
        .annotate(m=Max("seq"))
        .values_list("case_id", "m")
    )


def _mark_red(ids: list[int], now: dt.datetime) -> int:
    with transaction.atomic():
        cases = list(_locked(ids).filter(stage_due__lte=now).exclude(sla_state=SlaState.RED))
        if not cases:
            return 0
        # One UPDATE of unindexed columns: on PostgreSQL it stays heap-only (see the fillfactor
        # migration), so the case table's many indexes are not touched.
        Case.objects.filter(pk__in=[c.pk for c in cases]).update(
            sla_state=SlaState.RED, urge_count=F("urge_count") + 1, ever_overdue=True
        )
        rollup.mark(rollup.keys_of(case) for case in cases)
        last = _last_seqs(cases)
        CaseStep.objects.bulk_create(
            _urge_step(
                case,
                last.get(case.pk, 0) + 1,
                _("Overdue: the %(stage)s limit has passed.") % {"stage": _stage_label(case.stage)},
                case.stage_due.isoformat(),
                now,
            )
            for case in cases
        )
        _notify_owners(cases, _("%(n)d case(s) overdue: %(numbers)s"))
    return len(cases)


def _urge_staged(ids: list[int], now: dt.datetime) -> int:
    """Urge each staged limit that has passed with no report that its step is done."""
    urged = 0
    with transaction.atomic():
        cases = list(_locked(ids).filter(next_step_due__lte=now))
        if not cases:
            return 0
        last = _last_seqs(cases)
        steps = []
        for case in cases:
            seq = last.get(case.pk, 0)
            for step in sla.pending_steps(case):
                if step.get("urged") or sla.step_due(step) > now:
                    continue
                step["urged"] = True  # the dicts of case.steps_due, changed in place
                seq += 1
                steps.append(
                    _urge_step(
                        case,
                        seq,
                        _("Overdue: the staged limit “%(step)s” has passed.")
                        % {"step": step["step"]},
                        str(step["due"]),
                        now,
                        step=step["step"],
                    )
                )
                case.urge_count += 1
                urged += 1
            sla.refresh_next_step(case)
        CaseStep.objects.bulk_create(steps)
        Case.objects.bulk_update(cases, ["steps_due", "next_step_due", "urge_count"])
        _notify_owners(cases, _("%(n)d case(s) missed a staged limit: %(numbers)s"))
    return urged


def _notify_owners(cases: list[Case], title: str) -> None:
    """One notice per person of each owning unit, naming its cases (SMS if any is urgent)."""
    from .actions import members_by_unit

    by_unit: dict[int, list[Case]] = {}
    for case in cases:
        by_unit.setdefault(case.owner_unit_id, []).append(case)
    members = members_by_unit(group[0].owner_unit for group in by_unit.values())
    for unit_id, group in by_unit.items():
        numbers = ", ".join(c.number for c in group[:5]) + ("…" if len(group) > 5 else "")
        notify(
            members[unit_id],
            kind="overdue",
            title=title % {"n": len(group), "numbers": numbers},
            # One case: straight to it; several: the unit's overdue queue.
            url=reverse("cases:case", args=[group[0].pk])
            if len(group) == 1
            else reverse("cases:list") + "?queue=overdue",
            sms=any(c.priority >= 4 for c in group),
        )


def _stage_label(stage: str) -> str:
    from civicgrid.catalog.choices import Stage

    try:
        return str(Stage(stage).label)
    except ValueError:
        return stage
