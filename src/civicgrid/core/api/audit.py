from __future__ import annotations

from typing import Any

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from civicgrid.core.models import AccessLog, AuditRecord, ChangeKind, ObjectChange

from .filters import ScopedFilterSet
from .views import ScopedReadOnlyViewSet


class AuditRecordSerializer(serializers.ModelSerializer):
    object_type = serializers.SerializerMethodField()

    def get_object_type(self, obj: AuditRecord) -> str:
        return f"{obj.content_type.app_label}.{obj.content_type.model}"


class ObjectChangeSerializer(AuditRecordSerializer):
    class Meta:
        model = ObjectChange
        fields = (
            "id",
            "time",
            "actor",
            "actor_name",
            "request_id",
            "kind",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "division_path",
            "before",
            "after",
        )
        read_only_fields = fields


class AccessLogSerializer(AuditRecordSerializer):
    class Meta:
        model = AccessLog
        fields = (
            "id",
            "time",
            "actor",
            "actor_name",
            "request_id",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "division_path",
            "fields",
            "reason",
        )
        read_only_fields = fields


class AuditFilter(ScopedFilterSet):
    object_type = django_filters.CharFilter(method="by_type", label=_("app_label.model"))
    object_id = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_name")
    action = django_filters.CharFilter()
    request_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="lt")

    def by_type(self, qs: Any, name: str, value: str) -> Any:
        app_label, _dot, model = value.partition(".")
        return qs.filter(content_type__app_label=app_label, content_type__model=model)


class ObjectChangeFilter(AuditFilter):
    kind = django_filters.ChoiceFilter(choices=ChangeKind.choices)

    class Meta:
        model = ObjectChange
        fields = (
            "under",
            "object_type",
            "object_id",
            "actor",
            "action",
            "kind",
            "request_id",
            "since",
            "until",
        )


class AccessLogFilter(AuditFilter):
    class Meta:
        model = AccessLog
        fields = (
            "under",
            "object_type",
            "object_id",
            "actor",
            "action",
            "request_id",
            "since",
            "until",
        )


@extend_schema_view(
    list=extend_schema(summary="Audit trail of writes (audit administrator)", tags=["audit"]),
    retrieve=extend_schema(summary="One audited write", tags=["audit"]),
)
class ObjectChangeViewSet(ScopedReadOnlyViewSet):
    queryset = ObjectChange.objects.select_related("content_type")
    serializer_class = ObjectChangeSerializer
    filterset_class = ObjectChangeFilter


@extend_schema_view(
    list=extend_schema(summary="Reads of sensitive data (audit administrator)", tags=["audit"]),
    retrieve=extend_schema(summary="One logged read", tags=["audit"]),
)
class AccessLogViewSet(ScopedReadOnlyViewSet):
    queryset = AccessLog.objects.select_related("content_type")
    serializer_class = AccessLogSerializer
    filterset_class = AccessLogFilter
