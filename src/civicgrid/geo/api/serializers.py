from __future__ import annotations

from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from civicgrid.core.api.serializers import CachedFieldsMixin
from civicgrid.geo.choices import DedicatedType, GridKind, Level, Setting, SizingStatus
from civicgrid.geo.coords import transform_geometry, wgs84_to_gcj02
from civicgrid.geo.models import CoverageIssue, Division, Grid


class DivisionRefSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Division
        fields = ("id", "code", "name", "level")


class DivisionSerializer(serializers.ModelSerializer):
    level_name = serializers.CharField(source="get_level_display", read_only=True)
    parent = DivisionRefSerializer(read_only=True)
    has_boundary = serializers.SerializerMethodField()
    bbox = serializers.SerializerMethodField()
    centroid = serializers.SerializerMethodField()

    class Meta:
        model = Division
        fields: tuple[str, ...] = (
            "id",
            "code",
            "name",
            "level",
            "level_name",
            "path",
            "parent",
            "is_active",
            "has_boundary",
            "bbox",
            "centroid",
            "area_m2",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_has_boundary(self, obj: Division) -> bool:
        return obj.min_lng is not None

    @extend_schema_field(serializers.ListField(child=serializers.FloatField(), allow_null=True))
    def get_bbox(self, obj: Division) -> list[float] | None:
        if obj.min_lng is None:
            return None
        return [obj.min_lng, obj.min_lat, obj.max_lng, obj.max_lat]  # type: ignore[list-item]

    @extend_schema_field(serializers.ListField(child=serializers.FloatField(), allow_null=True))
    def get_centroid(self, obj: Division) -> list[float] | None:
        if obj.centroid_lng is None:
            return None
        return [obj.centroid_lng, obj.centroid_lat]  # type: ignore[list-item]


class DivisionDetailSerializer(DivisionSerializer):
    ancestors = serializers.SerializerMethodField()
    children_count = serializers.SerializerMethodField()
    boundary = serializers.JSONField(read_only=True)

    class Meta(DivisionSerializer.Meta):
        fields: tuple[str, ...] = (
            *DivisionSerializer.Meta.fields,
            "ancestors",
            "children_count",
            "boundary",
        )
        read_only_fields: tuple[str, ...] = fields

    @extend_schema_field(DivisionRefSerializer(many=True))
    def get_ancestors(self, obj: Division) -> list[dict[str, Any]]:
        return DivisionRefSerializer(obj.ancestors(), many=True).data  # type: ignore[return-value]

    def get_children_count(self, obj: Division) -> int:
        return obj.children.filter(is_active=True).count()


class DivisionCreateSerializer(serializers.Serializer):
    # (DRF pops declared fields off the class: no clash with Field.parent at run time)
    parent = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]
        queryset=Division.objects.none(), allow_null=True
    )
    code = serializers.CharField(max_length=15)
    name = serializers.CharField(max_length=100)
    level = serializers.ChoiceField(choices=Level.choices, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            visible = Division.objects.filter(is_active=True).restrict(request.user, "view")
            cast(Any, self.fields["parent"]).queryset = visible


class DivisionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


class WorkerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField()


class GridSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="division_id", read_only=True)
    code = serializers.CharField(source="division.code", read_only=True)
    name = serializers.CharField(source="division.name", read_only=True)
    parent = DivisionRefSerializer(source="division.parent", read_only=True)
    sizing = serializers.ChoiceField(choices=SizingStatus.choices, read_only=True)
    workers = serializers.SerializerMethodField()
    centroid = serializers.SerializerMethodField()
    area_m2 = serializers.FloatField(source="division.area_m2", read_only=True)

    class Meta:
        model = Grid
        fields = (
            "id",
            "code",
            "name",
            "parent",
            "kind",
            "dedicated_type",
            "setting",
            "households",
            "residents",
            "sizing",
            "workers",
            "centroid",
            "area_m2",
        )
        read_only_fields = fields

    @extend_schema_field(WorkerSerializer(many=True))
    def get_workers(self, obj: Grid) -> list[dict[str, Any]]:
        workers = getattr(obj, "worker_list", None)
        if workers is None:
            return []
        return [{"id": u.pk, "username": u.username, "full_name": u.full_name} for u in workers]

    @extend_schema_field(serializers.ListField(child=serializers.FloatField(), allow_null=True))
    def get_centroid(self, obj: Grid) -> list[float] | None:
        d = obj.division
        return None if d.centroid_lng is None else [d.centroid_lng, d.centroid_lat]  # type: ignore[list-item]


class GridUpdateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=GridKind.choices, required=False)
    dedicated_type = serializers.ChoiceField(
        choices=[("", "—"), *DedicatedType.choices], required=False, allow_blank=True
    )
    setting = serializers.ChoiceField(choices=Setting.choices, required=False)
    households = serializers.IntegerField(
        min_value=0, max_value=1_000_000, required=False, allow_null=True
    )
    residents = serializers.IntegerField(
        min_value=0, max_value=1_000_000, required=False, allow_null=True
    )


class GridCreateSerializer(DivisionCreateSerializer, GridUpdateSerializer):
    level = None  # type: ignore[assignment]


class LocateQuerySerializer(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, label=_("latitude"))
    lng = serializers.FloatField(min_value=-180, max_value=180, label=_("longitude"))
    crs = serializers.ChoiceField(
        choices=[("wgs84", "WGS-84"), ("gcj02", "GCJ-02")],
        default="wgs84",
        label=_("datum of the point"),
    )


class LocateResultSerializer(serializers.Serializer):
    grid = GridSerializer()
    ancestors = DivisionRefSerializer(many=True)
    point = serializers.DictField()


class CoverageIssueSerializer(serializers.ModelSerializer):
    parent = DivisionRefSerializer(read_only=True)
    grid_a = DivisionRefSerializer(read_only=True)
    grid_b = DivisionRefSerializer(read_only=True)
    geometry = serializers.SerializerMethodField()

    class Meta:
        model = CoverageIssue
        fields = ("id", "parent", "kind", "grid_a", "grid_b", "area_m2", "geometry", "found_at")
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_geometry(self, obj: CoverageIssue) -> dict[str, Any] | None:
        if obj.geometry is None or self.context.get("crs") != "gcj02":
            return obj.geometry
        return transform_geometry(obj.geometry, wgs84_to_gcj02)


class CoverageCheckRequestSerializer(serializers.Serializer):
    under = serializers.CharField(help_text=_("Code of the division whose communities to check."))


class SizingSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_status = serializers.DictField(child=serializers.IntegerField())
    coverage_issues = serializers.DictField(child=serializers.IntegerField())
