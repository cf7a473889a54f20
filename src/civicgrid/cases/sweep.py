"""The SLA sweep: mark cases yellow or red as their deadlines pass, urge the owners of the ones
that just went red. The colour is derived from stored deadlines, so it is not an audited action
and does not bump the case version; the automatic urging is recorded on the case's timeline.
Idempotent — a second run at the same moment changes nothing — and cheap on a large table: two
indexed UPDATEs, then work only for the cases that changed colour."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.notify import notify

from .choices import OPEN, SlaState, Status
from .models import Case, CaseStep

RUNNING = [s for s in OPEN if s != Status.SUSPENDED]
BATCH = 2000


@dataclass
class SweepResult:
    yellow: int = 0
    red: int = 0
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
    for start in range(0, len(newly_red), BATCH):
        result.red += _mark_red(newly_red[start : start + BATCH], now)
    result.urged = result.red
    return result


def _mark_red(ids: list[int], now: dt.datetime) -> int:
    from .actions import members_by_unit

    with transaction.atomic():
        cases = list(
            Case.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, stage_due__lte=now, suspended_at__isnull=True)
            .exclude(sla_state=SlaState.RED)
            .select_related("owner_unit")
        )
        if not cases:
            return 0
        # One UPDATE of unindexed columns: on PostgreSQL it stays heap-only (see the fillfactor
        # migration), so the case table's many indexes are not touched.
        Case.objects.filter(pk__in=[c.pk for c in cases]).update(
            sla_state=SlaState.RED, urge_count=F("urge_count") + 1
        )
        last = dict(
            CaseStep.objects.filter(case_id__in=[c.pk for c in cases])
            .order_by()
            .values("case_id")
            .annotate(m=Max("seq"))
            .values_list("case_id", "m")
        )
        steps = []
        for case in cases:
            steps.append(
                CaseStep(
                    case=case,
                    seq=last.get(case.pk, 0) + 1,
                    action="urge",
                    from_status=case.status,
                    to_status=case.status,
                    actor_name="system",
                    note=_("Overdue: the %(stage)s limit has passed.")
                    % {"stage": _stage_label(case.stage)},
                    data={"automatic": True, "due": case.stage_due.isoformat()},
                    time=now,
                )
            )
        CaseStep.objects.bulk_create(steps)
        by_unit: dict[int, list[Case]] = {}
        for case in cases:
            by_unit.setdefault(case.owner_unit_id, []).append(case)
        members = members_by_unit(group[0].owner_unit for group in by_unit.values())
        for unit_id, group in by_unit.items():
            numbers = ", ".join(c.number for c in group[:5]) + ("…" if len(group) > 5 else "")
            notify(
                members[unit_id],
                kind="overdue",
                title=_("%(n)d case(s) overdue: %(numbers)s")
                % {"n": len(group), "numbers": numbers},
                url="/cases/?queue=overdue",
                sms=any(c.priority >= 4 for c in group),
            )
    return len(cases)


def _stage_label(stage: str) -> str:
    from civicgrid.catalog.choices import Stage

    try:
        return str(Stage(stage).label)
    except ValueError:
        return stage
