from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from civicgrid.accounts.models import Unit, User
from civicgrid.cases.choices import Channel
from civicgrid.cases.models import Attachment, Case, CaseStep
from civicgrid.catalog.choices import Priority
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.api.serializers import CachedFieldsMixin
from civicgrid.core.scoping import Action
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.geo.models import Division


class UnitRefSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = Unit
        fields = ("id", "name", "kind")
        read_only_fields = fields


class CategoryRefSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    name = serializers.CharField(source="label", read_only=True)

    class Meta:
        model = CaseCategory
        fields = ("id", "code", "name")
        read_only_fields = fields


class CaseListSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    category = CategoryRefSerializer(read_only=True)
    owner_unit = UnitRefSerializer(read_only=True)
    division = DivisionRefSerializer(read_only=True)
    status_name = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Case
        fields: tuple[str, ...] = (
            "id",
            "number",
            "title",
            "category",
            "status",
            "status_name",
            "priority",
            "sla_state",
            "stage",
            "stage_due",
            "owner_unit",
            "division",
            "channel",
            "reported_at",
            "supervised",
            "version",
        )
        read_only_fields = fields


class AttachmentSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = (
            "id",
            "kind",
            "original_name",
            "content_type",
            "size",
            "width",
            "height",
            "sha256",
            "step",
            "created_at",
            "url",
        )
        read_only_fields = fields

    def get_url(self, obj: Attachment) -> str:
        return reverse("api:case-attachment-file", args=[obj.case_id, obj.pk])


class StepSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    unit = UnitRefSerializer(read_only=True)
    attachments: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = CaseStep
        fields = (
            "seq",
            "action",
            "from_status",
            "to_status",
            "actor",
            "actor_name",
            "unit",
            "note",
            "data",
            "time",
            "attachments",
        )
        read_only_fields = fields


class CaseDetailSerializer(CaseListSerializer):
    centre = UnitRefSerializer(read_only=True)
    co_units = UnitRefSerializer(many=True, read_only=True)
    grid = DivisionRefSerializer(read_only=True)
    reporter = serializers.CharField(source="reporter.username", read_only=True, default=None)
    reporter_phone = serializers.SerializerMethodField()
    checker = serializers.CharField(source="checker.username", read_only=True, default=None)
    merged_into = serializers.CharField(source="merged_into.number", read_only=True, default=None)
    actions = serializers.SerializerMethodField()
    attachments: Any = AttachmentSerializer(many=True, read_only=True)

    class Meta(CaseListSerializer.Meta):
        fields = (
            *CaseListSerializer.Meta.fields,
            "description",
            "extra",
            "lat",
            "lng",
            "address",
            "grid",
            "reporter",
            "reporter_name",
            "reporter_phone",
            "centre",
            "co_units",
            "checker",
            "accept_due",
            "handle_due",
            "check_due",
            "steps_due",
            "warn_at",
            "suspended_at",
            "urge_count",
            "return_count",
            "rework_count",
            "self_resolved",
            "merged_into",
            "satisfaction",
            "registered_at",
            "dispatched_at",
            "accepted_at",
            "handled_at",
            "closed_at",
            "actions",
            "attachments",
        )
        read_only_fields = fields

    def get_reporter_phone(self, obj: Case) -> str:
        from civicgrid.cases.actions import masked_phone

        return masked_phone(obj)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_actions(self, obj: Case) -> list[str]:
        from civicgrid.cases.rules import available

        request = self.context.get("request")
        return [t.name for t in available(request.user, obj)] if request else []


class CaseCreateSerializer(serializers.Serializer):
    category = serializers.SlugRelatedField(
        slug_field="code",
        queryset=CaseCategory.objects.all(),
        help_text=_("Category code, e.g. environment.rubbish"),
    )
    description = serializers.CharField(max_length=4000)
    title = serializers.CharField(max_length=120, required=False, allow_blank=True)
    lat = serializers.FloatField(required=False, allow_null=True, min_value=-90, max_value=90)
    lng = serializers.FloatField(required=False, allow_null=True, min_value=-180, max_value=180)
    crs = serializers.ChoiceField(
        choices=[("wgs84", "WGS-84"), ("gcj02", "GCJ-02")],
        default="wgs84",
        help_text=_("Datum of lat/lng."),
    )
    address = serializers.CharField(max_length=200, required=False, allow_blank=True)
    division = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Division.objects.none(),
        required=False,
        allow_null=True,
        help_text=_("Division code (in your area), when the point lies in no grid."),
    )
    channel = serializers.ChoiceField(choices=Channel.choices)
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    reporter_name = serializers.CharField(max_length=60, required=False, allow_blank=True)
    reporter_phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    extra = serializers.DictField(required=False)
    client_uuid = serializers.UUIDField(required=False, allow_null=True)
    register = serializers.BooleanField(default=False)
    self_resolve = serializers.BooleanField(default=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    files = serializers.ListField(child=serializers.FileField(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:  # a code outside the user's area is answered as unknown
            self.fields["division"].queryset = Division.objects.filter(  # type: ignore[attr-defined]
                is_active=True
            ).restrict(request.user, "view")


class TransitionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1, help_text=_("The case version you saw; a newer one means a conflict.")
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class FilesTransitionSerializer(TransitionSerializer):
    files = serializers.ListField(child=serializers.FileField(), required=False)


class DispatchSerializer(TransitionSerializer):
    unit = serializers.PrimaryKeyRelatedField(
        queryset=Unit.objects.filter(is_active=True),
        required=False,
        allow_null=True,
        help_text=_("Handling unit; empty: the routing matrix's choice."),
    )
    co_units = serializers.PrimaryKeyRelatedField(
        queryset=Unit.objects.filter(is_active=True), many=True, required=False
    )


class TransferSerializer(TransitionSerializer):
    unit = serializers.PrimaryKeyRelatedField(queryset=Unit.objects.filter(is_active=True))


def _visible(queryset: Any, field: serializers.Field) -> Any:
    """What the requesting user may see of `queryset`: anything else is answered as if it did
    not exist, so that an error never tells whether it exists elsewhere."""
    request = field.context.get("request")
    return queryset.restrict(getattr(request, "user", None), Action.VIEW)


class VisibleCaseField(serializers.SlugRelatedField):
    def get_queryset(self) -> Any:
        return _visible(Case.objects.all(), self)


class VisibleUserField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> Any:
        return _visible(User.objects.filter(is_active=True), self)


class MergeSerializer(TransitionSerializer):
    into = VisibleCaseField(slug_field="number", queryset=Case.objects.all())


class CheckSerializer(TransitionSerializer):
    checker = VisibleUserField(
        queryset=User.objects.filter(is_active=True), required=False, allow_null=True
    )


class EvaluateSerializer(TransitionSerializer):
    satisfaction = serializers.IntegerField(min_value=1, max_value=5)


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    client_uuid = serializers.UUIDField(required=False, allow_null=True)


class UnmaskSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500)


class DuplicateSerializer(serializers.Serializer):
    case = CaseListSerializer()
    distance_m = serializers.FloatField()
