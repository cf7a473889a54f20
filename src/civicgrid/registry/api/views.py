"""The registry API: buildings, houses, households, residents, organisations, places and
care-group tags (DOMAIN.md §6).

Reads start from the records the caller may see (out of scope: 404); every write goes through
registry.actions (bad input: 400 naming the field; a stale `version`: 409). ID and phone
numbers leave the server masked, except in the answer of `unmask`, which states a reason and
is logged.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from civicgrid.core.api.errors import validation_error_dict
from civicgrid.core.api.pagination import Pagination
from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.core.scoping import Action, reaches
from civicgrid.core.validators import compact
from civicgrid.registry import actions, selectors
from civicgrid.registry.cleaning import CLEANERS
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

from . import filters as f
from . import serializers as s

TAGS = ["registry"]
_NUMBER = re.compile(r"\+?[0-9A-Z]{7,}")


class RegistryPagination(Pagination):
    """A search by ID or phone number answers all its matches on one page, so that no
    next/previous link carries the number back in the answer."""

    def get_page_size(self, request: Request) -> int | None:
        query = compact(request.query_params.get("q", "") or "")
        if _NUMBER.fullmatch(query):
            return self.max_page_size
        return super().get_page_size(request)


class RecordViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    """What every record type offers: list, one record, create, change (with the version the
    client saw), end, history."""

    kind: ClassVar[str]
    read_serializer: ClassVar[type[s.serializers.Serializer]]
    detail_serializer: ClassVar[type[s.serializers.Serializer] | None] = None
    create_serializer: ClassVar[type[s.serializers.Serializer]]
    update_serializer: ClassVar[type[s.serializers.Serializer]]
    http_method_names = ["get", "post", "patch", "head", "options"]
    pagination_class = RegistryPagination

    def get_queryset(self) -> QuerySet[Any]:
        return self.related(selectors.visible(self.kind, self.request.user))

    def related(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.select_related("division")

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return self.create_serializer
        if self.action in {"update", "partial_update"}:
            return self.update_serializer
        if self.action == "end":
            return s.EndSerializer
        if self.action == "history":
            return s.ChangeSerializer
        if self.action == "retrieve" and self.detail_serializer is not None:
            return self.detail_serializer
        return self.read_serializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "request": self.request}

    def _answer(self, obj: Record, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().filter(pk=obj.pk).first() or obj
        serializer = self.detail_serializer or self.read_serializer
        return Response(serializer(fresh, context={"request": self.request}).data, status=code)

    def _input(self, serializer_class: Any, request: Request) -> dict[str, Any]:
        data = serializer_class(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def _record_input(self, serializer_class: Any, request: Request, *, partial: bool) -> Any:
        """The values of a record to write. When the shape is wrong (a reference or grid not
        found, a wrong type), the record's cleaner still judges the other fields sent, so that
        one answer names every problem, as a form would."""
        data = serializer_class(data=request.data, context={"request": request})
        if data.is_valid():
            return dict(data.validated_data)
        errors = dict(data.errors)
        sent = request.data if hasattr(request.data, "items") else {}
        rest = {k: v for k, v in sent.items() if k in data.fields and k not in errors}
        try:
            CLEANERS[self.kind](rest, partial=partial)
        except DjangoValidationError as exc:
            for name, messages in validation_error_dict(exc).items():
                if name in sent:
                    errors.setdefault(name, messages)
        raise ValidationError(errors)

    def _require_change_anywhere(self) -> None:
        # A role that never changes basic information is refused outright, before any
        # reference in the body is looked at.
        if not reaches(self.request.user, "registry", Action.CHANGE):
            raise PermissionDenied(_("Your roles do not allow changing basic information."))

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        self._require_change_anywhere()
        values = self._record_input(self.create_serializer, request, partial=False)
        obj = actions.do_create_record(self.kind, actor=request.user, data=values)
        return self._answer(obj, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        values = self._record_input(self.update_serializer, request, partial=True)
        version = values.pop("version")
        obj = actions.do_update_record(obj, actor=request.user, version=version, data=values)
        return self._answer(obj)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @action(detail=True, methods=["post"])
    def end(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        values = self._input(s.EndSerializer, request)
        obj = actions.do_end_record(
            obj, actor=request.user, version=values.get("version"), reason=values["reason"]
        )
        return self._answer(obj)

    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        return Response(s.ChangeSerializer(selectors.history(obj), many=True).data)


class UnmaskableViewSet(RecordViewSet):
    """A record type with protected numbers: their clear values, for a role that may see
    them, with a reason (AccessLog)."""

    protected: ClassVar[tuple[str, ...]] = ("phone",)

    def check_change(self, obj: Any) -> None:
        if self.action == "unmask":
            return  # seeing a full number is the identity permission, checked by the action
        super().check_change(obj)

    @action(detail=True, methods=["post"])
    def unmask(self, request: Request, pk: str | None = None) -> Response:
        obj = self.get_object()
        values = self._input(s.RecordUnmaskSerializer, request)
        wanted = [str(name) for name in values["fields"]]
        if not wanted or any(name not in self.protected for name in wanted):
            raise ValidationError(
                {"fields": [_("Choose among: %(fields)s.") % {"fields": ", ".join(self.protected)}]}
            )
        clear = actions.unmask(obj, actor=request.user, fields=wanted, reason=values["reason"])
        return Response(clear)


def _documented(
    noun: str,
    plural: str,
    viewset: type[RecordViewSet],
) -> dict[str, Any]:
    """The OpenAPI description of one record type's endpoints."""
    read = viewset.detail_serializer or viewset.read_serializer
    schemas: dict[str, Any] = {
        "list": extend_schema(summary=f"{plural.capitalize()} in your area", tags=TAGS),
        "retrieve": extend_schema(summary=f"One {noun}", tags=TAGS),
        "create": extend_schema(
            summary=f"Register a {noun}",
            tags=TAGS,
            request=viewset.create_serializer,
            responses={201: read},
        ),
        "partial_update": extend_schema(
            summary=f"Change a {noun} (give the version you saw: a newer one is a 409)",
            tags=TAGS,
            request=viewset.update_serializer,
            responses=read,
        ),
        "end": extend_schema(
            summary=f"End a {noun}: it stays in history",
            tags=TAGS,
            request=s.EndSerializer,
            responses=read,
        ),
        "history": extend_schema(
            summary=f"The {noun}'s changes, newest first",
            tags=TAGS,
            responses=s.ChangeSerializer(many=True),
        ),
    }
    if issubclass(viewset, UnmaskableViewSet):
        schemas["unmask"] = extend_schema(
            summary=f"The {noun}'s full numbers, with a reason (logged)",
            tags=TAGS,
            request=s.RecordUnmaskSerializer,
            responses=s.RecordUnmaskedSerializer,
        )
    return schemas


def documented(noun: str, plural: str) -> Any:
    def decorate(viewset: type[RecordViewSet]) -> type[RecordViewSet]:
        return extend_schema_view(**_documented(noun, plural, viewset))(viewset)

    return decorate


@documented("building", "buildings")
class BuildingViewSet(RecordViewSet):
    kind = "building"
    queryset = Building.objects.all()
    filterset_class = f.BuildingFilter
    read_serializer = s.BuildingSerializer
    create_serializer = s.BuildingWriteSerializer
    update_serializer = s.BuildingUpdateSerializer


@documented("house", "houses")
class HouseViewSet(RecordViewSet):
    kind = "house"
    queryset = House.objects.all()
    filterset_class = f.HouseFilter
    read_serializer = s.HouseSerializer
    create_serializer = s.HouseWriteSerializer
    update_serializer = s.HouseUpdateSerializer

    def related(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.select_related("division", "building")


@documented("household", "households")
class HouseholdViewSet(RecordViewSet):
    """Households (户); one household's view holds its house's address and its members."""

    kind = "household"
    queryset = Household.objects.all()
    filterset_class = f.HouseholdFilter
    read_serializer = s.HouseholdSerializer
    detail_serializer = s.HouseholdDetailSerializer
    create_serializer = s.HouseholdWriteSerializer
    update_serializer = s.HouseholdUpdateSerializer

    def related(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.select_related("division", "house__building")


def _active_tags() -> Prefetch:
    tags = CareTag.objects.filter(is_active=True).order_by("group", "id")
    return Prefetch("care_tags", queryset=tags, to_attr="active_tags")


@documented("resident", "residents")
class ResidentViewSet(UnmaskableViewSet):
    """Residents (实有人口). Reading a member of a key group is logged (AccessLog)."""

    kind = "resident"
    protected = ("id_number", "phone")
    queryset = Resident.objects.all()
    filterset_class = f.ResidentFilter
    read_serializer = s.ResidentSerializer
    create_serializer = s.ResidentWriteSerializer
    update_serializer = s.ResidentUpdateSerializer

    def related(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.select_related("division", "house__building").prefetch_related(_active_tags())

    def get_serializer_class(self) -> Any:
        if self.action == "tags":
            return s.TagWriteSerializer
        return super().get_serializer_class()

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        resident = self.get_object()
        actions.log_sensitive_read(resident, actor=request.user)
        return Response(self.read_serializer(resident, context={"request": request}).data)

    @extend_schema(
        summary="Tag the resident with a care or key group",
        tags=TAGS,
        request=s.TagWriteSerializer,
        responses={201: s.CareTagSerializer},
    )
    @action(detail=True, methods=["post"])
    def tags(self, request: Request, pk: str | None = None) -> Response:
        resident = self.get_object()
        values = self._input(s.TagWriteSerializer, request)
        tag = actions.do_tag_resident(resident, actor=request.user, data=values)
        return Response(
            s.CareTagSerializer(tag, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


@documented("organisation", "organisations")
class OrganisationViewSet(UnmaskableViewSet):
    kind = "organisation"
    queryset = Organisation.objects.all()
    filterset_class = f.OrganisationFilter
    read_serializer = s.OrganisationSerializer
    create_serializer = s.OrganisationWriteSerializer
    update_serializer = s.OrganisationUpdateSerializer


@documented("place", "places")
class PlaceViewSet(UnmaskableViewSet):
    """Places (场所) and hazard sources (危险源)."""

    kind = "place"
    queryset = Place.objects.all()
    filterset_class = f.PlaceFilter
    read_serializer = s.PlaceSerializer
    create_serializer = s.PlaceWriteSerializer
    update_serializer = s.PlaceUpdateSerializer


@documented("care-group tag", "care-group tags")
class CareTagViewSet(RecordViewSet):
    """Care and key group tags (关爱/重点人群) with their visits: `visit_due`, `overdue`."""

    kind = "care_tag"
    queryset = CareTag.objects.all()
    filterset_class = f.CareTagFilter
    read_serializer = s.CareTagSerializer
    create_serializer = s.CareTagWriteSerializer
    update_serializer = s.CareTagUpdateSerializer

    def related(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        return qs.select_related("division", "resident").order_by("next_visit_due", "id")

    def get_serializer_class(self) -> Any:
        if self.action == "visit":
            return s.VisitSerializer
        return super().get_serializer_class()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # Through do_tag_resident, so that a new tag's first visit falls due at once.
        self._require_change_anywhere()
        values = self._record_input(self.create_serializer, request, partial=False)
        tag = actions.do_tag_resident(values.pop("resident"), actor=request.user, data=values)
        return self._answer(tag, status.HTTP_201_CREATED)

    @extend_schema(
        summary="Record a visit: the next one falls due after the tag's interval",
        tags=TAGS,
        request=s.VisitSerializer,
        responses=s.CareTagSerializer,
    )
    @action(detail=True, methods=["post"])
    def visit(self, request: Request, pk: str | None = None) -> Response:
        tag = self.get_object()
        values = self._input(s.VisitSerializer, request)
        tag = actions.do_record_care_visit(
            tag, actor=request.user, on=values.get("on"), note=values.get("note", "")
        )
        return self._answer(tag)
