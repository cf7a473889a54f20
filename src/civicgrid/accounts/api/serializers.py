from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import DepartmentType, RoleAssignment, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.geo.models import Division


def _visible_divisions(context: dict[str, Any]) -> Any:
    request = context.get("request")
    qs = Division.objects.filter(is_active=True)
    return qs.restrict(request.user, "view") if request is not None else qs.none()


@extend_schema_field(OpenApiTypes.INT)
class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A reference to an object the requester may see; anything else is 'does not exist'."""

    def __init__(self, model: Any, data_class_filter: Any = None, **kwargs: Any) -> None:
        self.model = model
        self.extra = data_class_filter or {}
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        request = self.context.get("request")
        qs = self.model.objects.filter(**self.extra)
        return qs.restrict(request.user, "view") if request is not None else qs.none()


class DepartmentTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = DepartmentType
        fields = ("id", "code", "name", "name_en", "sort_order", "is_active")
        read_only_fields = fields


class UnitSerializer(serializers.ModelSerializer):
    division = DivisionRefSerializer(read_only=True)
    department_type = DepartmentTypeSerializer(read_only=True)
    kind_name = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Unit
        fields = (
            "id",
            "name",
            "kind",
            "kind_name",
            "department_type",
            "division",
            "phone",
            "is_active",
            "created_at",
        )
        read_only_fields = fields


class UnitWriteSerializer(serializers.Serializer):
    division = ScopedPrimaryKeyField(Division, {"is_active": True}, required=False)
    name = serializers.CharField(max_length=120, required=False)
    kind = serializers.ChoiceField(choices=UnitKind.choices, required=False)
    department_type = serializers.SlugRelatedField(
        slug_field="code",
        queryset=DepartmentType.objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class AssignmentSummarySerializer(serializers.ModelSerializer):
    division = DivisionRefSerializer(read_only=True)
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    unit = serializers.CharField(source="unit.name", read_only=True, default=None)

    class Meta:
        model = RoleAssignment
        fields = ("id", "role", "label", "division", "unit")
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    division = DivisionRefSerializer(read_only=True)
    assignments = AssignmentSummarySerializer(many=True, read_only=True)
    is_locked = serializers.BooleanField(read_only=True)

    class Meta:
        model = User
        fields = (
            "id",
            "username",
            "full_name",
            "email",
            "division",
            "is_active",
            "is_locked",
            "last_login",
            "date_joined",
            "assignments",
        )
        read_only_fields = fields


class UserCreateSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    full_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    division = ScopedPrimaryKeyField(Division, {"is_active": True})


class UserUpdateSerializer(serializers.Serializer):
    full_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    email = serializers.EmailField(required=False, allow_blank=True)
    division = ScopedPrimaryKeyField(Division, {"is_active": True}, required=False)
    is_active = serializers.BooleanField(required=False)


class PasswordSerializer(serializers.Serializer):
    password = serializers.CharField(write_only=True, style={"input_type": "password"})
    old_password = serializers.CharField(
        write_only=True,
        required=False,
        style={"input_type": "password"},
        help_text=_("Required when changing your own password."),
    )


class RoleAssignmentSerializer(serializers.ModelSerializer):
    user: serializers.PrimaryKeyRelatedField[User] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    username = serializers.CharField(source="user.username", read_only=True)
    division = DivisionRefSerializer(read_only=True)
    unit: serializers.PrimaryKeyRelatedField[Unit] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    granted_by = serializers.CharField(source="granted_by.username", read_only=True, default=None)

    class Meta:
        model = RoleAssignment
        fields = (
            "id",
            "user",
            "username",
            "role",
            "label",
            "division",
            "unit",
            "granted_by",
            "granted_at",
        )
        read_only_fields = fields


class RoleAssignmentCreateSerializer(serializers.Serializer):
    user = ScopedPrimaryKeyField(User)
    role = serializers.ChoiceField(choices=Role.choices)
    division = ScopedPrimaryKeyField(Division, {"is_active": True}, required=False, allow_null=True)
    unit = ScopedPrimaryKeyField(Unit, {"is_active": True}, required=False, allow_null=True)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})
    name = serializers.CharField(required=False, allow_blank=True, max_length=80)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    prefix = serializers.CharField()
    expires_at = serializers.DateTimeField()


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    full_name = serializers.CharField()
    is_superuser = serializers.BooleanField()
    assignments = AssignmentSummarySerializer(many=True)
