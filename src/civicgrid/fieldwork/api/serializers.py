"""Serializers of the field app's sync API.

Writing: they give a phone's JSON its shape — types, ranges, the track's points — strictly
(a coordinate sent as text is refused, not guessed), and hand the values to the actions, which
judge them against the user's grids and the registry. Reading: the duty records as the centre
and the app's history see them; tracks only on a patrol's own page.
"""

from __future__ import annotations

import math
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from civicgrid.catalog.models import CaseCategory
from civicgrid.core.api.serializers import CachedFieldsMixin
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.registry.choices import Relation, ResidenceType, Sex

from .. import uploads
from ..actions import MAX_TRACK_POINTS
from ..choices import VisitPurpose
from ..models import CheckIn, DutyPhoto, Patrol, Visit
from ..selectors import visit_name

MAX_ID = 2**63 - 1


def _id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_ID, **kwargs
    )


def _note(max_length: int = 2000) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_blank=True, max_length=max_length, default=""
    )


@extend_schema_field({"type": "number", "format": "double"})
class NumberField(serializers.Field):
    """A JSON number: not text, not a boolean, finite, within [minimum, maximum]."""

    default_error_messages = {
        "invalid": _("Send a number."),
        "range": _("Give a number from %(lo)s to %(hi)s."),
    }

    def __init__(self, *, minimum: float, maximum: float, **kwargs: Any) -> None:
        self.minimum, self.maximum = minimum, maximum
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        value = float(data)
        if not math.isfinite(value):
            self.fail("invalid")
        if not self.minimum <= value <= self.maximum:
            self.fail("range", lo=f"{self.minimum:g}", hi=f"{self.maximum:g}")
        return value

    def to_representation(self, value: Any) -> Any:
        return value


def _lat(**kwargs: Any) -> NumberField:
    return NumberField(minimum=-90, maximum=90, **kwargs)


def _lng(**kwargs: Any) -> NumberField:
    return NumberField(minimum=-180, maximum=180, **kwargs)


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_TRACK_POINTS,
        "items": {
            "type": "array",
            "items": {"type": "number"},
            "minItems": 3,
            "maxItems": 3,
            "description": "[latitude, longitude, unix seconds]",
        },
    }
)
class TrackField(serializers.Field):
    """[[lat, lng, unix seconds], …]: numbers only, WGS-84, at most 20,000 points."""

    default_error_messages = {
        "not_a_list": _("Send the track as a list of [latitude, longitude, unix seconds]."),
        "too_long": _("A track has at most 20,000 points."),
        "point": _("Point %(n)d is not [latitude, longitude, unix seconds] as numbers."),
        "range": _("Point %(n)d lies outside the WGS-84 range or has a bad time."),
    }

    def to_internal_value(self, data: Any) -> list[list[float]]:
        if not isinstance(data, list):
            self.fail("not_a_list")
        if len(data) > MAX_TRACK_POINTS:
            self.fail("too_long")
        points: list[list[float]] = []
        for n, point in enumerate(data, start=1):
            if (
                not isinstance(point, list)
                or len(point) != 3
                or any(isinstance(v, bool) or not isinstance(v, int | float) for v in point)
                or not all(math.isfinite(v) for v in point)
            ):
                self.fail("point", n=n)
            lat, lng, seconds = (float(v) for v in point)
            if not (-90 <= lat <= 90 and -180 <= lng <= 180 and 0 <= seconds < 1e11):
                self.fail("range", n=n)
            points.append([lat, lng, int(seconds) if seconds.is_integer() else seconds])
        return points

    def to_representation(self, value: Any) -> Any:
        return value


class UUIDTextField(serializers.UUIDField):
    """A UUID as text only: DRF's field would also take a number (5 → 00000000-…-000005)."""

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class PhotosField(serializers.ListField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("child", UUIDTextField())
        kwargs.setdefault("max_length", uploads.MAX_PHOTOS)
        kwargs.setdefault("required", False)
        kwargs.setdefault("default", list)
        kwargs.setdefault("help_text", _("UUIDs of complete photo uploads of yours."))
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        if len(set(value)) != len(value):
            raise serializers.ValidationError(_("A photo is named twice."))
        return value


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class CategoryField(serializers.Field):
    """A case category by its id (as bootstrap gives it) or its code."""

    default_error_messages = {"unknown": _("No case category has this id or code.")}

    def to_internal_value(self, data: Any) -> CaseCategory:
        found = None
        if isinstance(data, int) and not isinstance(data, bool) and 0 < data <= MAX_ID:
            found = CaseCategory.objects.filter(pk=data).select_related("parent").first()
        elif isinstance(data, str) and data.strip():
            found = CaseCategory.objects.filter(code=data.strip()[:60]).first()
        if found is None:
            self.fail("unknown")
        return found

    def to_representation(self, value: Any) -> Any:
        return value.pk


class SubmissionSerializer(serializers.Serializer):
    uuid = UUIDTextField(help_text=_("The record's client UUID, made on the phone."))


# --- writing --------------------------------------------------------------------------------
class CaseSubmitSerializer(SubmissionSerializer):
    category = CategoryField()
    description = serializers.CharField(max_length=4000)
    lat = _lat(required=False, allow_null=True)
    lng = _lng(required=False, allow_null=True)
    address = _note(200)
    extra = serializers.DictField(required=False, allow_null=True)
    photos = PhotosField()
    self_resolve = serializers.BooleanField(default=False)
    note = _note()
    grid = _id(help_text=_("One of your grids (division id), when you have several."))


class VisitSubmitSerializer(SubmissionSerializer):
    purpose = serializers.ChoiceField(choices=VisitPurpose.choices)
    visited_at = serializers.DateTimeField()
    household = _id()
    resident = _id()
    care_tag = _id(help_text=_("A care-group tag: the visit also counts as the tag's visit."))
    note = _note()
    lat = _lat(required=False, allow_null=True)
    lng = _lng(required=False, allow_null=True)
    photos = PhotosField()
    grid = _id()


class PatrolSubmitSerializer(SubmissionSerializer):
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    track = TrackField(required=False, default=list)
    note = _note()
    photos = PhotosField()
    grid = _id()


class CheckInSubmitSerializer(SubmissionSerializer):
    at = serializers.DateTimeField()
    lat = _lat()
    lng = _lng()
    accuracy = NumberField(minimum=0, maximum=100_000, required=False, allow_null=True)
    note = _note(500)
    grid = _id()


class ResidentSubmitSerializer(SubmissionSerializer):
    resident = _id(help_text=_("The resident fixed; empty: a new resident of the household."))
    version = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2**31 - 1
    )
    household = _id()
    name = serializers.CharField(required=False, allow_blank=True, max_length=60)
    sex = serializers.ChoiceField(choices=Sex.choices, required=False, allow_blank=True)
    id_type = serializers.CharField(required=False, allow_blank=True, max_length=16)
    id_number = serializers.CharField(required=False, allow_blank=True, max_length=40)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=30)
    residence_type = serializers.ChoiceField(
        choices=ResidenceType.choices, required=False, allow_blank=True
    )
    relation = serializers.ChoiceField(choices=Relation.choices, required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, max_length=200)


class UploadStartSerializer(SubmissionSerializer):
    name = serializers.CharField(max_length=200, required=False, default="photo.jpg")
    size = serializers.IntegerField(max_value=2**31 - 1, help_text=_("Bytes, at most 20 MB."))
    sha256 = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The photo's sha256 in hex, checked when the last byte is in."),
    )


# --- answers --------------------------------------------------------------------------------
class UploadStateSerializer(serializers.Serializer):
    uuid = serializers.UUIDField()
    received = serializers.IntegerField()
    size = serializers.IntegerField()
    complete = serializers.BooleanField()


class ReceiptAnswerSerializer(serializers.Serializer):
    """The answer to a submission: stored with its receipt and given again on a replay."""

    uuid = serializers.UUIDField()
    kind = serializers.CharField()
    id = serializers.IntegerField()
    grid = serializers.IntegerField(required=False)
    photos = serializers.ListField(child=serializers.UUIDField(), required=False)


class CaseAnswerSerializer(ReceiptAnswerSerializer):
    number = serializers.CharField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    url = serializers.CharField()


class VisitAnswerSerializer(ReceiptAnswerSerializer):
    purpose = serializers.CharField()
    purpose_label = serializers.CharField()
    visited_at = serializers.DateTimeField()


class PatrolAnswerSerializer(ReceiptAnswerSerializer):
    minutes = serializers.IntegerField()
    distance_m = serializers.IntegerField()


class CheckInAnswerSerializer(ReceiptAnswerSerializer):
    inside_grid = serializers.BooleanField()


class ResidentAnswerSerializer(ReceiptAnswerSerializer):
    version = serializers.IntegerField()
    household = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    id_masked = serializers.CharField()
    phone_masked = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    received = serializers.IntegerField(required=False)
    photos = serializers.ListField(child=serializers.UUIDField(), required=False)


class BootstrapSerializer(serializers.Serializer):
    """Documented by its keys; see docs/fieldwork.md for each list's fields."""

    user = serializers.DictField()
    server_time = serializers.DateTimeField()
    settings = serializers.DictField()
    grids = serializers.ListField(child=serializers.DictField())
    categories = serializers.ListField(child=serializers.DictField())
    purposes = serializers.ListField(child=serializers.DictField())
    households = serializers.ListField(child=serializers.DictField())
    care_due = serializers.ListField(child=serializers.DictField())
    tasks = serializers.ListField(child=serializers.DictField())
    recent = serializers.DictField()


# --- reading --------------------------------------------------------------------------------
class DutyWorkerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    name = serializers.SerializerMethodField()

    def get_name(self, obj: Any) -> str:
        return str(obj.full_name or obj.get_username())


class DutyPhotoSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    uuid = serializers.UUIDField(source="client_uuid", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = DutyPhoto
        fields = ("id", "uuid", "size", "width", "height", "created_at", "url")
        read_only_fields = fields

    def get_url(self, obj: DutyPhoto) -> str:
        return reverse("api:field-photo-file", args=[obj.pk])


DUTY_FIELDS = ("id", "uuid", "grid", "worker", "note", "created_at")


class DutySerializer(CachedFieldsMixin, serializers.ModelSerializer):
    uuid = serializers.UUIDField(source="client_uuid", read_only=True)
    grid = DivisionRefSerializer(source="division", read_only=True)
    worker = DutyWorkerSerializer(read_only=True)


class VisitSerializer(DutySerializer):
    purpose_label = serializers.CharField(source="get_purpose_display", read_only=True)
    name = serializers.SerializerMethodField()
    photos = DutyPhotoSerializer(many=True, read_only=True)

    class Meta:
        model = Visit
        fields = (
            *DUTY_FIELDS,
            "purpose",
            "purpose_label",
            "visited_at",
            "household",
            "resident",
            "care_tag",
            "name",
            "lat",
            "lng",
            "photos",
        )
        read_only_fields = fields

    def get_name(self, obj: Visit) -> str:
        return visit_name(obj)


class PatrolSerializer(DutySerializer):
    photos = DutyPhotoSerializer(many=True, read_only=True)

    class Meta:
        model = Patrol
        fields: tuple[str, ...] = (
            *DUTY_FIELDS,
            "started_at",
            "ended_at",
            "minutes",
            "distance_m",
            "photos",
        )
        read_only_fields = fields


class PatrolDetailSerializer(PatrolSerializer):
    track = serializers.JSONField(read_only=True)

    class Meta(PatrolSerializer.Meta):
        fields = (*PatrolSerializer.Meta.fields, "track")
        read_only_fields = fields


class CheckInSerializer(DutySerializer):
    class Meta:
        model = CheckIn
        fields = (*DUTY_FIELDS, "at", "lat", "lng", "accuracy_m", "inside_grid")
        read_only_fields = fields
