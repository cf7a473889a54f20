"""`GET /api/v1/field/duties/`: grid workers' duties for a month, the figures of the duties page
(fieldwork/duties.py), scoped to the caller's area for field work."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts.roles import DataClass
from civicgrid.core.scoping import Action, reaches

from .. import duties as d
from ..selectors import iso


class DutiesQuerySerializer(serializers.Serializer):
    """The parameters (documentation only: fieldwork.duties reads and checks them)."""

    under = serializers.CharField(
        required=False, help_text=gettext_lazy("division code of the area (default: yours)")
    )
    month = serializers.CharField(
        required=False, help_text=gettext_lazy("YYYY-MM (default: this month)")
    )
    worker = serializers.IntegerField(
        required=False, help_text=gettext_lazy("only this grid worker (user id)")
    )


class DutyDivisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class WorkerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.CharField()


class DutyFiguresSerializer(serializers.Serializer):
    visits_due = serializers.IntegerField(
        allow_null=True,
        help_text=gettext_lazy(
            "visits the grid's care tags call for in the month; null on the row of someone "
            "helping out in a grid that is not theirs"
        ),
    )
    visits_done = serializers.IntegerField(
        help_text=gettext_lazy("care visits recorded in the month")
    )
    visits_rate = serializers.FloatField(
        allow_null=True, help_text=gettext_lazy("done ÷ due (0–1); null when nothing was due")
    )
    visits = serializers.IntegerField(help_text=gettext_lazy("all visits in the month"))
    patrols = serializers.IntegerField(help_text=gettext_lazy("patrols started in the month"))
    patrol_minutes = serializers.IntegerField()
    patrol_hours = serializers.FloatField()
    check_ins = serializers.IntegerField()
    check_ins_outside = serializers.IntegerField(
        help_text=gettext_lazy("check-ins outside the worker's grids")
    )
    overdue_members = serializers.IntegerField(
        help_text=gettext_lazy("care-group members of the grid overdue today")
    )


class DutyRowSerializer(DutyFiguresSerializer):
    grid = DutyDivisionSerializer()
    worker = WorkerRefSerializer(allow_null=True)
    assigned = serializers.BooleanField(
        help_text=gettext_lazy("holds the grid worker or grid leader role at this grid")
    )
    unstaffed = serializers.BooleanField(
        help_text=gettext_lazy("the grid's own row: nobody holds a field role there")
    )
    last_activity = serializers.DateTimeField(
        allow_null=True,
        help_text=gettext_lazy("latest visit, patrol or check-in up to the month's end"),
    )


class DutyTotalSerializer(DutyFiguresSerializer):
    workers = serializers.IntegerField()
    grids = serializers.IntegerField()
    workers_without_patrol = serializers.IntegerField()
    grids_without_worker = serializers.IntegerField()


class DutiesSerializer(serializers.Serializer):
    area = DutyDivisionSerializer()
    month = serializers.CharField()
    as_of = serializers.DateTimeField()
    total = DutyTotalSerializer()
    results = DutyRowSerializer(many=True)


def _division(division: Any) -> dict[str, Any]:
    return {"id": division.pk, "code": division.code, "name": division.name}


def _figures(item: d.DutyRow | d.Totals) -> dict[str, Any]:
    return {
        "visits_due": item.visits_due,
        "visits_done": item.visits_done,
        "visits_rate": item.visits_rate,
        "visits": item.visits,
        "patrols": item.patrols,
        "patrol_minutes": item.patrol_minutes,
        "patrol_hours": round(item.patrol_hours, 2),
        "check_ins": item.check_ins,
        "check_ins_outside": item.check_ins_outside,
        "overdue_members": item.overdue_members,
    }


def row(item: d.DutyRow) -> dict[str, Any]:
    worker = item.worker
    return {
        "grid": _division(item.grid),
        "worker": {"id": worker.pk, "username": worker.username, "name": worker.display_name}
        if worker is not None
        else None,
        "assigned": item.assigned,
        "unstaffed": item.unstaffed,
        "last_activity": iso(item.last_activity),
        **_figures(item),
    }


def serialize(found: d.Duties) -> dict[str, Any]:
    t = found.total
    return {
        "area": _division(found.area),
        "month": found.month,
        "as_of": iso(found.as_of),
        "total": {
            "workers": t.workers,
            "grids": t.grids,
            "workers_without_patrol": t.workers_without_patrol,
            "grids_without_worker": t.grids_without_worker,
            **_figures(t),
        },
        "results": [row(r) for r in found.rows],
    }


class DutiesView(APIView):
    @extend_schema(
        tags=["field app"],  # with the rest of /api/v1/field/
        summary="Grid workers' duties for a month",
        description=(
            "Per grid worker and grid of the area (`under`, default: the caller's own area) for "
            "the month: care visits due and done (the insights KPI's counters), all visits, "
            "patrols and their minutes (patrols started in the month), check-ins and the last "
            "activity. A grid with nobody assigned has a row of its own (`unstaffed`, `worker` "
            "null). A bad `under`, `month` or `worker` is a 400 naming it; a code outside the "
            "caller's area gets the same answer as an unknown one."
        ),
        parameters=[DutiesQuerySerializer],
        responses=DutiesSerializer,
    )
    def get(self, request: Request) -> Response:
        user = request.user
        if not reaches(user, DataClass.FIELD, Action.VIEW):
            raise PermissionDenied(_("Your roles do not include field work."))
        found = d.parse_filters(user, request.query_params)
        return Response(serialize(d.duties(found.area, found.period, worker=found.worker)))
