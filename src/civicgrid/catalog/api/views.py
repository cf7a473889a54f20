from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from civicgrid.accounts.models import Unit
from civicgrid.catalog import actions
from civicgrid.catalog.models import (
    CalendarDay,
    CaseCategory,
    Route,
    SlaLimit,
    SlaPolicy,
    WorkingCalendar,
)
from civicgrid.catalog.selectors import DEFAULT_CALENDAR, DEFAULT_WEEKLY
from civicgrid.core.api.filters import ScopedFilterSet
from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.geo.models import Division


class SlaLimitSerializer(serializers.ModelSerializer):
    class Meta:
        model = SlaLimit
        fields = ("stage", "order", "step", "amount", "unit")
        read_only_fields = fields


class SlaPolicySerializer(serializers.ModelSerializer):
    limits = SlaLimitSerializer(many=True, read_only=True)
    localized_name = serializers.CharField(source="label", read_only=True)

    class Meta:
        model = SlaPolicy
        fields = ("id", "code", "name", "name_en", "localized_name", "warn_ratio", "limits")
        read_only_fields = fields


class CategorySerializer(serializers.ModelSerializer):
    localized_name = serializers.CharField(source="label", read_only=True)
    parent: Any = serializers.SlugRelatedField(slug_field="code", read_only=True)
    sla_policy: Any = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = CaseCategory
        fields = (
            "id",
            "code",
            "name",
            "name_en",
            "localized_name",
            "parent",
            "task_class",
            "filing_criterion",
            "closing_criterion",
            "default_priority",
            "extra_fields",
            "sla_policy",
            "is_active",
        )
        read_only_fields = fields


@extend_schema_view(
    list=extend_schema(summary="Case categories (major and minor classes)", tags=["catalog"]),
    retrieve=extend_schema(summary="One category", tags=["catalog"]),
)
class CategoryViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = CaseCategory.objects.select_related("parent", "sla_policy").order_by("sort_order")
    serializer_class = CategorySerializer
    pagination_class = None
    lookup_field = "code"
    lookup_value_regex = "[^/]+"  # minor classes are "major.minor"


@extend_schema_view(
    list=extend_schema(summary="SLA policies with their stage limits", tags=["catalog"]),
    retrieve=extend_schema(summary="One SLA policy", tags=["catalog"]),
)
class SlaPolicyViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = SlaPolicy.objects.prefetch_related("limits")
    serializer_class = SlaPolicySerializer
    pagination_class = None
    lookup_field = "code"


class CalendarDaySerializer(serializers.ModelSerializer):
    class Meta:
        model = CalendarDay
        fields = ("date", "kind", "name")
        read_only_fields = fields


class CalendarSerializer(serializers.Serializer):
    weekly = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text=_('Working periods per weekday, "0" = Monday: {"0": ["08:30-12:00"], …}'),
    )
    days = CalendarDaySerializer(many=True, read_only=True)


class CalendarImportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("CSV: date,kind,name (kind: holiday or workday)"))
    year = serializers.IntegerField(required=False, min_value=2000, max_value=2100)
    dry_run = serializers.BooleanField(default=False)


class CalendarViewSet(viewsets.ViewSet):
    """The working calendar: working periods per weekday, holidays, swapped working days."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def _payload(self) -> dict[str, Any]:
        calendar = WorkingCalendar.objects.filter(name=DEFAULT_CALENDAR).first()
        days = CalendarDay.objects.filter(calendar=calendar) if calendar else []
        return {
            "weekly": calendar.weekly if calendar else DEFAULT_WEEKLY,
            "days": CalendarDaySerializer(days, many=True).data,
        }

    @extend_schema(tags=["catalog"], summary="The working calendar", responses=CalendarSerializer)
    def list(self, request: Request) -> Response:
        return Response(self._payload())

    @extend_schema(
        tags=["catalog"],
        summary="Set the working week",
        request=CalendarSerializer,
        responses=CalendarSerializer,
    )
    @action(detail=False, methods=["put"], url_path="week")
    def week(self, request: Request) -> Response:
        data = CalendarSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.do_set_working_week(actor=request.user, weekly=data.validated_data["weekly"])
        return Response(self._payload())

    @extend_schema(
        tags=["catalog"],
        summary="Import a year's holidays and swapped working days",
        request=CalendarImportSerializer,
        responses={200: dict},
    )
    @action(detail=False, methods=["post"], url_path="import")
    def import_days(self, request: Request) -> Response:
        data = CalendarImportSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = actions.do_import_calendar_days(
            data.validated_data["file"].read(),
            actor=request.user,
            year=data.validated_data.get("year"),
            dry_run=data.validated_data["dry_run"],
        )
        code = status.HTTP_200_OK if report.ok else status.HTTP_400_BAD_REQUEST
        return Response(report.as_dict(), status=code)


class RouteSerializer(serializers.ModelSerializer):
    category: Any = serializers.SlugRelatedField(slug_field="code", read_only=True)
    division = DivisionRefSerializer(read_only=True)
    unit = serializers.SerializerMethodField()

    class Meta:
        model = Route
        fields = ("id", "category", "division", "unit", "note")
        read_only_fields = fields

    def get_unit(self, obj: Route) -> dict[str, Any]:
        return {"id": obj.unit_id, "name": obj.unit.name}


class RouteWriteSerializer(serializers.Serializer):
    category = serializers.SlugRelatedField(slug_field="code", queryset=CaseCategory.objects.all())
    division = serializers.SlugRelatedField(
        slug_field="code", queryset=Division.objects.filter(is_active=True)
    )
    unit = serializers.PrimaryKeyRelatedField(queryset=Unit.objects.filter(is_active=True))
    note = serializers.CharField(max_length=200, required=False, allow_blank=True)


class RouteFilter(ScopedFilterSet):
    class Meta:
        model = Route
        fields = ("under",)


@extend_schema_view(
    list=extend_schema(summary="The routing matrix in your area", tags=["catalog"]),
    retrieve=extend_schema(summary="One route", tags=["catalog"]),
)
class RouteViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    queryset = Route.objects.select_related("category", "division", "unit")
    filterset_class = RouteFilter

    def get_serializer_class(self) -> Any:
        return RouteWriteSerializer if self.action == "create" else RouteSerializer

    @extend_schema(
        tags=["catalog"],
        summary="Set a route (replaces the one for that place)",
        request=RouteWriteSerializer,
        responses={201: RouteSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = RouteWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        route = actions.do_set_route(actor=request.user, **data.validated_data)
        return Response(RouteSerializer(route).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=["catalog"], summary="Remove a route", responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        actions.do_delete_route(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
