from __future__ import annotations

from typing import Any, cast

import django_filters
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.db.models import Prefetch, Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, permissions, status, throttling
from rest_framework.decorators import action
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.accounts import actions
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import ApiToken, DepartmentType, RoleAssignment, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.core.api.filters import IdFilter, ScopedFilterSet
from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.core.paths import any_subtree_q

from . import serializers as s


def visible_assignments(user: Any) -> Any:
    """Assignments shown inside user records: only those placed where the viewer may look."""
    paths = user.scope_paths("account", "view")
    qs = RoleAssignment.objects.select_related("division", "unit")
    if paths is None:
        return qs
    q = any_subtree_q("division_path", paths)
    return qs.filter(q) if q is not None else qs.none()


class UnitFilter(ScopedFilterSet):
    kind = django_filters.ChoiceFilter(choices=UnitKind.choices)
    department_type = django_filters.CharFilter(field_name="department_type__code")
    division = IdFilter(field_name="division_id")
    active = django_filters.BooleanFilter(field_name="is_active")
    q = django_filters.CharFilter(field_name="name", lookup_expr="contains")

    class Meta:
        model = Unit
        fields = ("under", "kind", "department_type", "division", "active", "q")


@extend_schema_view(
    list=extend_schema(summary="Units: centres, departments, social organisations", tags=["units"]),
    retrieve=extend_schema(summary="One unit", tags=["units"]),
)
class UnitViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    queryset = Unit.objects.select_related("division", "department_type")
    filterset_class = UnitFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self) -> Any:
        if self.action in {"create", "update", "partial_update"}:
            return s.UnitWriteSerializer
        return s.UnitSerializer

    @extend_schema(tags=["units"], request=s.UnitWriteSerializer, responses={201: s.UnitSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.UnitWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("is_active", None)
        if "division" not in values:
            from django.core.exceptions import ValidationError

            raise ValidationError({"division": _("Choose a division.")})
        unit = actions.do_create_unit(actor=request.user, **values)
        return Response(s.UnitSerializer(unit).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=["units"], request=s.UnitWriteSerializer, responses=s.UnitSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        unit = self.get_object()
        data = s.UnitWriteSerializer(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "division" in values:
            from django.core.exceptions import ValidationError

            raise ValidationError({"division": _("A unit cannot move to another division.")})
        unit = actions.do_update_unit(unit, actor=request.user, **values)
        return Response(s.UnitSerializer(unit).data)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)


@extend_schema_view(
    list=extend_schema(summary="Department types", tags=["units"]),
    retrieve=extend_schema(summary="One department type", tags=["units"]),
)
class DepartmentTypeViewSet(ScopedReadOnlyViewSet):
    queryset = DepartmentType.objects.filter(is_active=True)
    serializer_class = s.DepartmentTypeSerializer
    pagination_class = None

    def get_queryset(self) -> Any:
        return self.queryset.all()  # configuration, the same for everybody


class UserFilter(ScopedFilterSet):
    q = django_filters.CharFilter(method="search", label=_("name or user name contains"))
    role = django_filters.ChoiceFilter(choices=Role.choices, method="with_role")
    active = django_filters.BooleanFilter(field_name="is_active")

    class Meta:
        model = User
        fields = ("under", "q", "role", "active")

    def search(self, qs: Any, name: str, value: str) -> Any:
        return qs.filter(Q(username__icontains=value) | Q(full_name__contains=value))

    def with_role(self, qs: Any, name: str, value: str) -> Any:
        # Only assignments the requester may see count: a role held outside their area must
        # not show through the filter any more than in the record itself.
        user = getattr(self.request, "user", None)
        held = visible_assignments(user) if user is not None else RoleAssignment.objects.all()
        return qs.filter(pk__in=held.filter(role=value).values("user_id"))


@extend_schema_view(
    list=extend_schema(summary="User accounts in your area", tags=["users"]),
    retrieve=extend_schema(summary="One user account", tags=["users"]),
)
class UserViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    queryset = User.objects.select_related("division")
    filterset_class = UserFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> Any:
        return (
            super()
            .get_queryset()
            .prefetch_related(Prefetch("assignments", visible_assignments(self.request.user)))
        )

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return s.UserCreateSerializer
        if self.action in {"update", "partial_update"}:
            return s.UserUpdateSerializer
        if self.action == "set_password":
            return s.PasswordSerializer
        return s.UserSerializer

    def _fresh(self, user: User) -> dict[str, Any]:
        return s.UserSerializer(self.get_queryset().get(pk=user.pk)).data

    @extend_schema(
        tags=["users"], request=s.UserCreateSerializer, responses={201: s.UserSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.UserCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        user = actions.do_create_user(actor=request.user, **data.validated_data)
        return Response(self._fresh(user), status=status.HTTP_201_CREATED)

    @extend_schema(tags=["users"], request=s.UserUpdateSerializer, responses=s.UserSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = self.get_object()
        data = s.UserUpdateSerializer(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        active = values.pop("is_active", None)
        if values:
            user = actions.do_update_user(user, actor=request.user, **values)
        if active is not None:
            user = actions.do_set_active(user, actor=request.user, active=active)
        return Response(self._fresh(user))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(
        tags=["users"],
        request=s.PasswordSerializer,
        responses={204: None},
        summary="Set a new password (your own: give the old one too)",
    )
    @action(detail=True, methods=["post"], url_path="set-password")
    def set_password(self, request: Request, pk: str | None = None) -> Response:
        user: User = self.get_object() if str(pk) != str(request.user.pk) else request.user  # type: ignore[assignment]
        data = s.PasswordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        actions.do_set_password(user, actor=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        tags=["users"],
        request=None,
        responses=s.UserSerializer,
        summary="Unlock an account locked after failed logins",
    )
    @action(detail=True, methods=["post"])
    def unlock(self, request: Request, pk: str | None = None) -> Response:
        user = actions.do_unlock_user(self.get_object(), actor=request.user)
        return Response(self._fresh(user))


class AssignmentFilter(ScopedFilterSet):
    user = IdFilter(field_name="user_id")
    role = django_filters.ChoiceFilter(choices=Role.choices)
    division = IdFilter(field_name="division_id")

    class Meta:
        model = RoleAssignment
        fields = ("under", "user", "role", "division")


@extend_schema_view(
    list=extend_schema(summary="Role assignments (role × division)", tags=["users"]),
    retrieve=extend_schema(summary="One role assignment", tags=["users"]),
)
class RoleAssignmentViewSet(
    mixins.CreateModelMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet
):
    queryset = RoleAssignment.objects.select_related("user", "division", "unit", "granted_by")
    filterset_class = AssignmentFilter

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return s.RoleAssignmentCreateSerializer
        return s.RoleAssignmentSerializer

    def check_change(self, obj: Any) -> None:
        # Revoking is governed by may_grant (delegation rules), checked in the action.
        return None

    @extend_schema(
        tags=["users"],
        request=s.RoleAssignmentCreateSerializer,
        responses={201: s.RoleAssignmentSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.RoleAssignmentCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        user = values.pop("user")
        assignment = actions.do_grant_role(user, actor=request.user, **values)
        return Response(s.RoleAssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)

    @extend_schema(tags=["users"], summary="Revoke a role", responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        actions.do_revoke_role(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LoginThrottle(throttling.AnonRateThrottle):
    scope = "login"


class TokenView(APIView):
    """Exchange a user name and password for an API token; DELETE revokes the token in use."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.TokenRequestSerializer,
        responses={201: s.TokenResponseSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = s.TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=data.validated_data["username"],
            password=data.validated_data["password"],
        )
        if user is None:
            raise AuthenticationFailed(_("Wrong user name or password, or the account is locked."))
        # Obtaining a token is a login: it ends a run of failures and stamps last_login, the
        # same as the session login does.
        user_logged_in.send(sender=type(user), request=request._request, user=user)
        token, key = actions.do_create_token(
            user, actor=user, name=data.validated_data.get("name", "")
        )
        return Response(
            {"token": key, "prefix": token.prefix, "expires_at": token.expires_at},
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(tags=["auth"], request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, ApiToken):
            raise AuthenticationFailed(_("Send the token to revoke in the Authorization header."))
        actions.do_revoke_token(request.auth, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    """Who you are and which roles you hold where."""

    @extend_schema(tags=["auth"], responses=s.MeSerializer)
    def get(self, request: Request) -> Response:
        user = cast(User, request.user)  # IsAuthenticated: never the anonymous user here
        assignments = RoleAssignment.objects.filter(user=user).select_related("division", "unit")
        return Response(
            {
                "id": user.pk,
                "username": user.username,
                "full_name": user.full_name,
                "is_superuser": user.is_superuser,
                "assignments": s.AssignmentSummarySerializer(assignments, many=True).data,
            }
        )
