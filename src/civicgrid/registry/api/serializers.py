"""Serializers of the registry API.

Reading: records as stored, with ID and phone numbers only in their masked form (`id_masked`,
`phone_masked`); the encrypted columns and blind indexes are never fields. Writing: the
serializers give the input its shape (types, references resolved among the records the caller
may see) and hand it to the actions, whose cleaners (registry/cleaning.py) validate it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from civicgrid.core.api.serializers import CachedFieldsMixin
from civicgrid.core.audit import changed_fields
from civicgrid.core.models import ObjectChange
from civicgrid.core.scoping import Action
from civicgrid.core.validators import DocumentType
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.registry.choices import (
    BuildingUse,
    CareGroup,
    HazardLevel,
    HouseUse,
    OrganisationKind,
    PlaceKind,
    Relation,
    ResidenceType,
    RiskLevel,
    Sex,
)
from civicgrid.registry.models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Record,
    Resident,
)

RECORD_FIELDS = ("id", "grid", "is_active", "version", "created_at", "updated_at")


# --- reading --------------------------------------------------------------------------------
class RecordSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    grid = DivisionRefSerializer(source="division", read_only=True)


class BuildingSerializer(RecordSerializer):
    address = serializers.CharField(read_only=True)

    class Meta:
        model = Building
        fields = (
            *RECORD_FIELDS,
            "address",
            "road",
            "number",
            "name",
            "building_no",
            "use",
            "floors",
            "lat",
            "lng",
        )
        read_only_fields = fields


class HouseSerializer(RecordSerializer):
    address = serializers.CharField(read_only=True)

    class Meta:
        model = House
        fields = (*RECORD_FIELDS, "address", "building", "unit_no", "room", "use", "area_m2")
        read_only_fields = fields


def _house_address(obj: Any) -> str:
    return obj.house.address if obj.house_id else ""


class HouseholdSerializer(RecordSerializer):
    house_address = serializers.SerializerMethodField()

    class Meta:
        model = Household
        fields: tuple[str, ...] = (
            *RECORD_FIELDS,
            "house",
            "house_address",
            "number",
            "head_name",
        )
        read_only_fields = fields

    def get_house_address(self, obj: Household) -> str:
        return _house_address(obj)


class CareTagRefSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    class Meta:
        model = CareTag
        fields = ("id", "group", "risk_level", "visit_every_days", "next_visit_due")
        read_only_fields = fields


class ResidentSerializer(RecordSerializer):
    house_address = serializers.SerializerMethodField()
    care_tags = serializers.SerializerMethodField()

    class Meta:
        model = Resident
        fields = (
            *RECORD_FIELDS,
            "name",
            "document_type",
            "id_masked",
            "sex",
            "birth_date",
            "ethnicity",
            "residence_type",
            "phone_masked",
            "house",
            "house_address",
            "household",
            "relation",
            "note",
            "care_tags",
        )
        read_only_fields = fields

    def get_house_address(self, obj: Resident) -> str:
        return _house_address(obj)

    @extend_schema_field(CareTagRefSerializer(many=True))
    def get_care_tags(self, obj: Resident) -> list[dict[str, Any]]:
        tags = getattr(obj, "active_tags", None)  # prefetched by the views
        if tags is None:
            tags = obj.care_tags.filter(is_active=True).order_by("group", "id")
        return CareTagRefSerializer(tags, many=True).data  # type: ignore[return-value]


class MemberSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """A household member as the household view lists them."""

    class Meta:
        model = Resident
        fields = (
            "id",
            "name",
            "relation",
            "sex",
            "birth_date",
            "residence_type",
            "id_masked",
            "phone_masked",
        )
        read_only_fields = fields


class HouseholdDetailSerializer(HouseholdSerializer):
    members = serializers.SerializerMethodField()

    class Meta(HouseholdSerializer.Meta):
        fields = (*HouseholdSerializer.Meta.fields, "members")
        read_only_fields = fields

    @extend_schema_field(MemberSerializer(many=True))
    def get_members(self, obj: Household) -> list[dict[str, Any]]:
        request = self.context.get("request")
        members = Resident.objects.restrict(getattr(request, "user", None), Action.VIEW).filter(
            household=obj, is_active=True
        )
        return MemberSerializer(members.order_by("id"), many=True).data  # type: ignore[return-value]


class OrganisationSerializer(RecordSerializer):
    class Meta:
        model = Organisation
        fields = (
            *RECORD_FIELDS,
            "name",
            "uscc",
            "kind",
            "legal_rep",
            "phone_masked",
            "address",
            "building",
            "employees",
            "lat",
            "lng",
        )
        read_only_fields = fields


class PlaceSerializer(RecordSerializer):
    class Meta:
        model = Place
        fields = (
            *RECORD_FIELDS,
            "name",
            "kind",
            "hazard_level",
            "organisation",
            "address",
            "contact",
            "phone_masked",
            "inspect_every_days",
            "lat",
            "lng",
        )
        read_only_fields = fields


class CareTagSerializer(RecordSerializer):
    resident_name = serializers.CharField(source="resident.name", read_only=True)

    class Meta:
        model = CareTag
        fields = (
            *RECORD_FIELDS,
            "resident",
            "resident_name",
            "group",
            "risk_level",
            "visit_every_days",
            "last_visit_on",
            "next_visit_due",
            "since",
            "ended_on",
            "note",
        )
        read_only_fields = fields


# Protected numbers are named as they are written (id_number, phone), not by their columns.
LOGICAL = {
    "id_masked": "id_number",
    "id_number_changed": "id_number",
    "phone_masked": "phone",
    "phone_changed": "phone",
}


class ChangeSerializer(CachedFieldsMixin, serializers.ModelSerializer):
    """One entry of a record's history. The snapshots hold masked numbers only; a change of a
    protected number shows as `id_number` / `phone` among the changed fields."""

    changed = serializers.SerializerMethodField()

    class Meta:
        model = ObjectChange
        fields = ("id", "time", "actor_name", "kind", "action", "changed", "before", "after")
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_changed(self, obj: ObjectChange) -> list[str]:
        names = changed_fields(obj.before or {}, obj.after or {})
        return sorted({LOGICAL.get(n, n) for n in names} - {"version"})


# --- writing --------------------------------------------------------------------------------
def _user(field: serializers.Field) -> Any:
    request = field.context.get("request")
    return getattr(request, "user", None)


class RecordRef(serializers.IntegerField):
    """A registry record by id, among those the caller may see: one out of sight gets the
    answer a missing one gets, so an error never tells that it exists elsewhere."""

    default_error_messages = {
        "missing": _("No such record."),
        "ended": _("This record has ended."),
    }

    def __init__(self, model: type[Record], **kwargs: Any) -> None:
        self.model = model
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        # The browsable API fills its change form from the record itself.
        return super().to_representation(getattr(value, "pk", value))

    def run_validation(self, data: Any = serializers.empty) -> Any:
        # The id is validated as a number first (type, range), then looked up.
        pk = super().run_validation(data)
        if pk is None:
            return None
        obj = self.model.objects.restrict(_user(self), Action.VIEW).filter(pk=pk).first()
        if obj is None:
            self.fail("missing")
        if not obj.is_active:
            self.fail("ended")
        return obj


class GridCode(serializers.CharField):
    """A grid by its 15-digit code, among the grids the caller may see."""

    default_error_messages = {"unknown": _("Not a grid in use: give a grid's code.")}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 15)
        kwargs.setdefault("help_text", _("The 15-digit code of the record's grid."))
        super().__init__(**kwargs)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        code = super().run_validation(data)
        grid = (
            Division.objects.filter(code=code, level=Level.GRID, is_active=True)
            .restrict(_user(self), Action.VIEW)
            .first()
        )
        if grid is None:
            self.fail("unknown")
        return grid


def _text(max_length: int, **kwargs: Any) -> serializers.CharField:
    kwargs.setdefault("required", False)
    return serializers.CharField(max_length=max_length, allow_blank=True, **kwargs)


def _choice(choices: Any, **kwargs: Any) -> serializers.ChoiceField:
    kwargs.setdefault("required", False)
    return serializers.ChoiceField(choices=choices, **kwargs)


def _ref(model: type[Record], *, required: bool = False) -> RecordRef:
    return RecordRef(model, required=required, allow_null=not required)


def _number(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(required=False, allow_null=True, **kwargs)


def _coordinate(limit: int) -> serializers.FloatField:
    return serializers.FloatField(
        required=False, allow_null=True, min_value=-limit, max_value=limit
    )


PHONE_HELP = _("Mobile or landline number; stored encrypted, shown masked.")


class BuildingWriteSerializer(serializers.Serializer):
    grid = GridCode()
    road = _text(60, required=True)
    number = _text(20, required=True)
    name = _text(60)
    building_no = _text(20)
    use = _choice(BuildingUse.choices)
    floors = _number()
    lat = _coordinate(90)
    lng = _coordinate(180)


class HouseWriteSerializer(serializers.Serializer):
    building = _ref(Building, required=True)
    unit_no = _text(10)
    room = _text(20, required=True)
    use = _choice(HouseUse.choices)
    area_m2 = serializers.DecimalField(
        max_digits=10, decimal_places=2, required=False, allow_null=True
    )


class HouseholdWriteSerializer(serializers.Serializer):
    house = _ref(House)
    grid = GridCode(required=False, help_text=_("The grid, for a household without a house."))
    number = _text(30)
    head_name = _text(60)


class ResidentWriteSerializer(serializers.Serializer):
    name = _text(60, required=True)
    document_type = _choice(DocumentType.choices)
    id_number = _text(
        40,
        write_only=True,
        help_text=_("Document number, given with its type; stored encrypted, shown masked."),
    )
    sex = _choice(Sex.choices, allow_blank=True)
    birth_date = serializers.DateField(required=False, allow_null=True)
    ethnicity = _text(20)
    residence_type = _choice(ResidenceType.choices)
    phone = _text(30, write_only=True, help_text=PHONE_HELP)
    house = _ref(House)
    household = _ref(Household)
    relation = _choice(Relation.choices, allow_blank=True)
    note = _text(200)
    grid = GridCode(required=False, help_text=_("The grid, for a resident without a house."))


class OrganisationWriteSerializer(serializers.Serializer):
    name = _text(120, required=True)
    uscc = _text(18, help_text=_("Unified social credit code (GB 32100)."))
    kind = _choice(OrganisationKind.choices)
    legal_rep = _text(60)
    phone = _text(30, write_only=True, help_text=PHONE_HELP)
    address = _text(200)
    building = _ref(Building)
    employees = _number()
    lat = _coordinate(90)
    lng = _coordinate(180)
    grid = GridCode(required=False, help_text=_("The grid, when no building is given."))


class PlaceWriteSerializer(serializers.Serializer):
    name = _text(120, required=True)
    kind = _choice(PlaceKind.choices, required=True)
    hazard_level = _choice(HazardLevel.choices)
    organisation = _ref(Organisation)
    address = _text(200)
    contact = _text(60)
    phone = _text(30, write_only=True, help_text=PHONE_HELP)
    inspect_every_days = _number()
    lat = _coordinate(90)
    lng = _coordinate(180)
    grid = GridCode()


class TagWriteSerializer(serializers.Serializer):
    """A care or key group tag on a resident."""

    group = _choice(CareGroup.choices, required=True)
    risk_level = _choice(RiskLevel.choices)
    visit_every_days = _number(help_text=_("Empty: the usual frequency for the group and risk."))
    since = serializers.DateField(required=False, allow_null=True)
    note = _text(200)


class CareTagWriteSerializer(TagWriteSerializer):
    resident = _ref(Resident, required=True)


class CareTagUpdateBase(serializers.Serializer):
    risk_level = _choice(RiskLevel.choices)
    visit_every_days = _number()
    since = serializers.DateField(required=False, allow_null=True)
    note = _text(200)


VERSION_HELP = _("The version you saw; a newer one means someone changed the record: a 409.")


def for_update(create: type[serializers.Serializer], name: str) -> type[serializers.Serializer]:
    """The PATCH variant of a create serializer: every field optional (only the fields given
    change), and the version the client saw required."""
    fields: dict[str, Any] = {}
    declared: dict[str, Any] = create._declared_fields
    for field_name, field in declared.items():
        # A field is rebuilt from the arguments it was declared with (as DRF copies fields).
        kwargs = {**field._kwargs, "required": False}
        fields[field_name] = type(field)(*field._args, **kwargs)
    fields["version"] = serializers.IntegerField(min_value=1, help_text=VERSION_HELP)
    fields["__module__"] = __name__
    return type(name, (serializers.Serializer,), fields)


BuildingUpdateSerializer = for_update(BuildingWriteSerializer, "BuildingUpdateSerializer")
HouseUpdateSerializer = for_update(HouseWriteSerializer, "HouseUpdateSerializer")
HouseholdUpdateSerializer = for_update(HouseholdWriteSerializer, "HouseholdUpdateSerializer")
ResidentUpdateSerializer = for_update(ResidentWriteSerializer, "ResidentUpdateSerializer")
OrganisationUpdateSerializer = for_update(
    OrganisationWriteSerializer, "OrganisationUpdateSerializer"
)
PlaceUpdateSerializer = for_update(PlaceWriteSerializer, "PlaceUpdateSerializer")
CareTagUpdateSerializer = for_update(CareTagUpdateBase, "CareTagUpdateSerializer")


class EndSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500,
        allow_blank=True,
        help_text=_("Why the record ends: moved away, died, closed, no longer applies…"),
    )
    version = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, help_text=VERSION_HELP
    )


class RecordUnmaskSerializer(serializers.Serializer):
    # Named as the action's parameter; DRF takes declared fields off the class, so the
    # serializer's own `fields` stays intact.
    fields = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(max_length=20),
        help_text=_("Which numbers: id_number and/or phone."),
    )
    reason = serializers.CharField(
        max_length=500, allow_blank=True, help_text=_("Why you need the full number (logged).")
    )


class RecordUnmaskedSerializer(serializers.Serializer):
    id_number = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)


class VisitSerializer(serializers.Serializer):
    on = serializers.DateField(required=False, allow_null=True, help_text=_("Empty: today."))
    note = _text(200)
