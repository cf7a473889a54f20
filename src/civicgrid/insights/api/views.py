"""Figures over the API: the same queries, scopes and tracing as the dashboard pages."""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.cases.api.serializers import CaseListSerializer
from civicgrid.core.api.pagination import Pagination
from civicgrid.insights import kpis, query

from . import serializers as s


def _require(request: Request) -> None:
    if not query.may_view(request.user):
        raise PermissionDenied(_("Your roles include no access to figures."))


class KpiView(APIView):
    @extend_schema(
        tags=["insights"],
        summary="Figures (KPIs) for an area and a period, optionally grouped",
        description=(
            "Every KPI of `/api/v1/insights/definitions/` for the division's subtree and the "
            "period, with the previous period's total for comparison. Rates are fractions "
            "(0–1); a rate without a denominator is null. The cohort of a period is the cases "
            "reported in it. `source` says whether the rollup or the case table answered."
        ),
        parameters=[s.KpiQuerySerializer],
        responses=s.FiguresSerializer,
    )
    def get(self, request: Request) -> Response:
        _require(request)
        found = query.figures(request.user, query.parse_query(request.user, request.query_params))
        return Response(s.figures(found))


class KpiCasesView(APIView):
    @extend_schema(
        tags=["insights"],
        summary="The cases behind a figure",
        description=(
            "Exactly the cases a figure counts: its numerator or denominator, for the whole "
            "query or for one grouped row (`key`)."
        ),
        parameters=[s.TraceQuerySerializer],
        responses=CaseListSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        _require(request)
        params = request.query_params
        q = query.parse_query(request.user, params)
        cases = query.cases_behind(
            request.user,
            q,
            params.get("kpi", ""),
            params.get("part") or "numerator",
            params.get("key", ""),
        ).order_by("-reported_at", "-id")
        paginator = Pagination()
        page = paginator.paginate_queryset(cases, request, view=self)
        data = CaseListSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)


class KpiDefinitionsView(APIView):
    @extend_schema(
        tags=["insights"],
        summary="What each KPI counts",
        responses=s.KpiDefinitionSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        _require(request)
        return Response([s.definition(k) for k in kpis.KPIS.values()])
