from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.core.api.filters import IdFilter, ScopedFilterSet, division_path_for_code
from civicgrid.core.api.views import ScopedReadOnlyViewSet, ScopedViewSetMixin
from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can
from civicgrid.geo import actions, coverage, selectors
from civicgrid.geo.choices import CoverageKind, GridKind, Level, Setting, SizingStatus
from civicgrid.geo.locate import locate
from civicgrid.geo.models import CoverageIssue, Division, Grid
from civicgrid.geo.tasks import check_coverage

from . import serializers as s

CRS_PARAMETER = OpenApiParameter(
    "crs", str, enum=["wgs84", "gcj02"], description="Datum of the output (gcj02 for AMap tiles)."
)


def output_crs(request: Request) -> str:
    """The datum geometries are returned in: stored WGS-84, or GCJ-02 for Chinese basemaps."""
    crs = request.query_params.get("crs", "wgs84")
    if crs not in {"wgs84", "gcj02"}:
        raise ValidationError({"crs": [_("Use wgs84 or gcj02.")]})
    return crs


class DivisionFilter(ScopedFilterSet):
    level = django_filters.TypedChoiceFilter(choices=Level.choices, coerce=int)
    parent = IdFilter(field_name="parent_id")
    code = django_filters.CharFilter(field_name="code")
    q = django_filters.CharFilter(method="search", label=_("name or code contains"))
    active = django_filters.BooleanFilter(field_name="is_active")

    class Meta:
        model = Division
        fields = ("under", "level", "parent", "code", "q", "active")

    def search(self, qs: Any, name: str, value: str) -> Any:
        value = value.strip()
        return (
            qs.filter(code__startswith=value)
            if value.isdigit()
            else qs.filter(name__contains=value)
        )


@extend_schema_view(
    list=extend_schema(summary="List divisions in your area", tags=["divisions"]),
    retrieve=extend_schema(
        summary="One division with its ancestors and boundary", tags=["divisions"]
    ),
)
class DivisionViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    """The division tree: province → city → county → township → community → grid."""

    queryset = Division.objects.select_related("parent")
    filterset_class = DivisionFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        qs = super().get_queryset()
        if self.action == "list":
            qs = qs.defer("boundary")
        return qs.order_by("path")

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return s.DivisionDetailSerializer
        if self.action == "create":
            return s.DivisionCreateSerializer
        if self.action in {"update", "partial_update"}:
            return s.DivisionUpdateSerializer
        return s.DivisionSerializer

    @extend_schema(
        tags=["divisions"],
        request=s.DivisionCreateSerializer,
        responses={201: s.DivisionDetailSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.DivisionCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        division = actions.do_create_division(actor=request.user, **data.validated_data)
        return Response(s.DivisionDetailSerializer(division).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["divisions"], request=s.DivisionUpdateSerializer, responses=s.DivisionDetailSerializer
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        division = self.get_object()
        data = s.DivisionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        division = actions.do_update_division(division, actor=request.user, **data.validated_data)
        return Response(s.DivisionDetailSerializer(division).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)


class GridFilter(ScopedFilterSet):
    sizing = django_filters.ChoiceFilter(choices=SizingStatus.choices)
    kind = django_filters.ChoiceFilter(choices=GridKind.choices)
    setting = django_filters.ChoiceFilter(choices=Setting.choices)
    parent = IdFilter(field_name="division__parent_id")
    code = django_filters.CharFilter(field_name="division__code")

    class Meta:
        model = Grid
        fields = ("under", "sizing", "kind", "setting", "parent", "code")


GEOJSON_LIMIT = 25_000


@extend_schema_view(
    list=extend_schema(summary="List grids with sizing status", tags=["grids"]),
    retrieve=extend_schema(summary="One grid", tags=["grids"]),
)
class GridViewSet(mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    """Grids (网格): kind, households, residents, sizing status and assigned grid workers."""

    queryset = Grid.objects.all()
    filterset_class = GridFilter
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.visible_grids(self.request.user)

    def get_serializer_class(self) -> Any:
        if self.action in {"update", "partial_update"}:
            return s.GridUpdateSerializer
        return s.GridSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        grids = selectors.with_workers(list(page if page is not None else queryset))
        data = s.GridSerializer(grids, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        grid = selectors.with_workers([self.get_object()])[0]
        return Response(s.GridSerializer(grid).data)

    @extend_schema(tags=["grids"], request=s.GridUpdateSerializer, responses=s.GridSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        grid = self.get_object()
        data = s.GridUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        actions.do_update_grid(grid, actor=request.user, **data.validated_data)
        fresh = selectors.with_workers([self.get_queryset().get(pk=grid.pk)])[0]
        return Response(s.GridSerializer(fresh).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(
        tags=["grids"],
        summary="Grids as a GeoJSON FeatureCollection",
        parameters=[
            CRS_PARAMETER,
            OpenApiParameter("simplify", float, description="Simplify edges by this many metres."),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def geojson(self, request: Request) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        crs = output_crs(request)
        try:
            simplify = float(request.query_params.get("simplify") or 0)
        except ValueError as exc:
            raise ValidationError({"simplify": [_("A number of metres.")]}) from exc
        if not 0 <= simplify <= 1000:
            raise ValidationError({"simplify": [_("Between 0 and 1000 metres.")]})
        count = queryset.count()
        if count > GEOJSON_LIMIT:
            raise ValidationError(
                {
                    "under": [
                        _("%(n)d grids is too many for one map: choose a smaller area.")
                        % {"n": count}
                    ]
                }
            )
        collection = selectors.feature_collection(queryset, crs=crs, simplify_m=simplify)
        return Response(collection, content_type="application/geo+json")


class LocateView(APIView):
    """Which grid a point lies in, with the grid's ancestors."""

    @extend_schema(
        tags=["grids"],
        summary="Point → grid",
        parameters=[s.LocateQuerySerializer],
        responses={200: s.LocateResultSerializer},
    )
    def get(self, request: Request) -> Response:
        query = s.LocateQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        lat, lng = query.validated_data["lat"], query.validated_data["lng"]
        if query.validated_data["crs"] == "gcj02":
            from civicgrid.geo.coords import gcj02_to_wgs84

            lng, lat = gcj02_to_wgs84(lng, lat)
        grid_id = locate(lng, lat)
        grid = None
        if grid_id is not None:
            grid = selectors.visible_grids(request.user).filter(pk=grid_id).first()
        if grid is None:
            raise NotFound(
                _("The point (%(lat).6f, %(lng).6f) lies in no grid of your area.")
                % {"lat": lat, "lng": lng}
            )
        grid = selectors.with_workers([grid])[0]
        return Response(
            {
                "grid": s.GridSerializer(grid).data,
                "ancestors": s.DivisionRefSerializer(grid.division.ancestors(), many=True).data,
                "point": {"lat": lat, "lng": lng, "crs": "wgs84"},
            }
        )


class CoverageIssueFilter(ScopedFilterSet):
    kind = django_filters.ChoiceFilter(choices=CoverageKind.choices)

    class Meta:
        model = CoverageIssue
        fields = ("under", "kind")


@extend_schema_view(
    list=extend_schema(
        summary="Gaps and overlaps among sibling grids", tags=["grids"], parameters=[CRS_PARAMETER]
    ),
    retrieve=extend_schema(summary="One coverage issue", tags=["grids"]),
)
class CoverageIssueViewSet(ScopedReadOnlyViewSet):
    queryset = CoverageIssue.objects.select_related("parent", "grid_a", "grid_b")
    serializer_class = s.CoverageIssueSerializer
    filterset_class = CoverageIssueFilter

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "crs": output_crs(self.request)}


class CoverageCheckView(ScopedViewSetMixin, APIView):
    """Queue a fresh coverage check of every community under a division."""

    @extend_schema(
        tags=["grids"],
        summary="Re-check coverage (background)",
        request=s.CoverageCheckRequestSerializer,
        responses={202: OpenApiTypes.OBJECT},
    )
    def post(self, request: Request) -> Response:
        data = s.CoverageCheckRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        # A code outside the caller's area is answered like one that does not exist.
        path = division_path_for_code(data.validated_data["under"], request.user)
        division = Division.objects.get(path=path, is_active=True)
        if not can(request.user, division, Action.CHANGE):
            from rest_framework.exceptions import PermissionDenied

            raise PermissionDenied()
        ids = coverage.communities_under(path)
        result = check_coverage.enqueue(ids)
        return Response(
            {"communities": len(ids), "task": str(result.id)}, status=status.HTTP_202_ACCEPTED
        )


class SizingSummaryView(APIView):
    """Counts of grids by sizing status and of coverage issues, for a subtree."""

    @extend_schema(
        tags=["grids"],
        summary="Sizing and coverage summary",
        parameters=[OpenApiParameter("under", str, description="division code")],
        responses=s.SizingSummarySerializer,
    )
    def get(self, request: Request) -> Response:
        grids = selectors.visible_grids(request.user)
        issues = CoverageIssue.objects.restrict(request.user)
        under = request.query_params.get("under")
        if under:
            path = division_path_for_code(under, request.user)
            grids = grids.filter(subtree_q("division__path", path))
            issues = issues.filter(subtree_q("division_path", path))
        by_status = selectors.sizing_summary(grids)
        return Response(
            {
                "total": sum(by_status.values()),
                "by_status": by_status,
                "coverage_issues": selectors.coverage_summary(issues),
            }
        )
