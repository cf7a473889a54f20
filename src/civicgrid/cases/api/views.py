from __future__ import annotations

import math
from typing import Any

import django_filters
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action, api_view
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from civicgrid.cases import actions, selectors
from civicgrid.cases.choices import Channel, SlaState, Status
from civicgrid.cases.models import Attachment, Case
from civicgrid.cases.workflow import TRANSITIONS
from civicgrid.core.api.filters import IdFilter, ScopedFilterSet
from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.geo.coords import gcj02_to_wgs84

from . import serializers as s


class CaseFilter(ScopedFilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    sla_state = django_filters.MultipleChoiceFilter(choices=SlaState.choices)
    category = django_filters.CharFilter(method="by_category", label=_("category code"))
    channel = django_filters.ChoiceFilter(choices=Channel.choices)
    owner_unit = IdFilter(field_name="owner_unit_id")
    supervised = django_filters.BooleanFilter()
    reported_after = django_filters.IsoDateTimeFilter(field_name="reported_at", lookup_expr="gte")
    reported_before = django_filters.IsoDateTimeFilter(field_name="reported_at", lookup_expr="lt")
    number = django_filters.CharFilter(field_name="number", lookup_expr="startswith")
    q = django_filters.CharFilter(method="search", label=_("text in number, title or description"))

    class Meta:
        model = Case
        fields = (
            "under",
            "status",
            "sla_state",
            "category",
            "channel",
            "owner_unit",
            "supervised",
            "reported_after",
            "reported_before",
            "number",
            "q",
        )

    def by_category(self, qs: Any, name: str, value: str) -> Any:
        return qs.filter(category__code=value) | qs.filter(category__parent__code=value)

    def search(self, qs: Any, name: str, value: str) -> Any:
        from django.db.models import Q

        return qs.filter(
            Q(number__startswith=value) | Q(title__contains=value) | Q(description__contains=value)
        )


@extend_schema_view(
    list=extend_schema(
        summary="Cases in your area (or in one of your queues)",
        tags=["cases"],
        parameters=[OpenApiParameter("queue", str, enum=list(selectors.QUEUES))],
    ),
    retrieve=extend_schema(summary="One case, with the actions you may take now", tags=["cases"]),
)
class CaseViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Cases (事件): intake, the workflow actions, timeline and attachments."""

    queryset = Case.objects.all()
    filterset_class = CaseFilter
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self) -> Any:
        queue = self.request.query_params.get("queue")
        if queue and self.action == "list":
            if queue not in selectors.QUEUES:
                from rest_framework.exceptions import ValidationError

                raise ValidationError({"queue": [_("Unknown queue.")]})
            return selectors.queue(self.request.user, queue).order_by("stage_due", "-reported_at")
        qs = selectors.visible_cases(self.request.user)
        if self.action == "retrieve":
            qs = qs.prefetch_related("co_units", "attachments").select_related(
                "reporter", "checker", "merged_into"
            )
        return qs

    def get_serializer_class(self) -> Any:
        if self.action == "create":
            return s.CaseCreateSerializer
        if self.action == "list":
            return s.CaseListSerializer
        return s.CaseDetailSerializer

    def check_change(self, obj: Any) -> None:
        return None  # the transitions table decides, in the actions

    def _detail(self, case: Case, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().filter(pk=case.pk).first() or case
        return Response(
            s.CaseDetailSerializer(fresh, context={"request": self.request}).data, status=code
        )

    @extend_schema(
        tags=["cases"],
        summary="Report a case (idempotent by client_uuid)",
        request=s.CaseCreateSerializer,
        responses={201: s.CaseDetailSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = s.CaseCreateSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        uploads = [(f.name, f.read()) for f in values.pop("files", [])]
        lat, lng = values.get("lat"), values.get("lng")
        # Half a point is left for the action to refuse, naming the field.
        if values.pop("crs") == "gcj02" and lat is not None and lng is not None:
            values["lng"], values["lat"] = gcj02_to_wgs84(lng, lat)
        fingerprint = actions.body_fingerprint(
            {k: v for k, v in request.data.items() if k != "files"}
            if hasattr(request.data, "items")
            else {}
        )
        case, created = actions.do_report_case(
            actor=request.user, body_hash=fingerprint, uploads=uploads, **values
        )
        if not created:
            return self._detail(case, status.HTTP_200_OK)
        # A new case's relations are all in memory: answer without reading it back.
        return Response(
            s.CaseDetailSerializer(case, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        tags=["cases"], summary="The case's timeline", responses=s.StepSerializer(many=True)
    )
    @action(detail=True, methods=["get"])
    def timeline(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        steps = case.steps.select_related("unit").prefetch_related("attachments")
        return Response(s.StepSerializer(steps, many=True).data)

    @extend_schema(
        tags=["cases"],
        summary="Attach a photo or document",
        request=s.AttachmentUploadSerializer,
        responses={201: s.AttachmentSerializer},
    )
    @action(detail=True, methods=["get", "post"])
    def attachments(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        if request.method == "GET":
            return Response(s.AttachmentSerializer(case.attachments.all(), many=True).data)
        data = s.AttachmentUploadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload = data.validated_data["file"]
        attachment = actions.do_attach_to_case(
            case,
            actor=request.user,
            name=upload.name,
            raw=upload.read(),
            client_uuid=data.validated_data.get("client_uuid"),
        )
        return Response(s.AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["cases"],
        summary="Open cases nearby of the same category",
        responses=s.DuplicateSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def duplicates(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        found = selectors.possible_duplicates(
            category_id=case.category_id,
            lat=case.lat,
            lng=case.lng,
            when=case.reported_at,
            exclude=case.pk,
            user=request.user,
        )
        return Response([{"case": s.CaseListSerializer(c).data, "distance_m": d} for c, d in found])

    @extend_schema(
        tags=["cases"],
        summary="Check for duplicates before reporting",
        parameters=[
            OpenApiParameter("category", str),
            OpenApiParameter("lat", float),
            OpenApiParameter("lng", float),
        ],
        responses=s.DuplicateSerializer(many=True),
    )
    @action(detail=False, methods=["get"], url_path="nearby")
    def nearby(self, request: Request) -> Response:
        from rest_framework.exceptions import ValidationError

        from civicgrid.catalog.models import CaseCategory

        params = request.query_params
        errors: dict[str, list[str]] = {}
        category = CaseCategory.objects.filter(code=params.get("category", "")).first()
        if category is None:
            errors["category"] = [_("Give the code of a case category.")]
        point: dict[str, float] = {}
        for name, limit in (("lat", 90.0), ("lng", 180.0)):
            try:
                value = float(params.get(name, ""))
            except ValueError:
                value = math.nan
            if not -limit <= value <= limit:  # also refuses NaN
                errors[name] = [_("Give a WGS-84 latitude and longitude.")]
            point[name] = value
        if errors or category is None:
            raise ValidationError(errors)
        lat, lng = point["lat"], point["lng"]
        found = selectors.possible_duplicates(
            category_id=category.pk, lat=lat, lng=lng, user=request.user
        )
        return Response([{"case": s.CaseListSerializer(c).data, "distance_m": d} for c, d in found])

    @extend_schema(
        tags=["cases"],
        summary="The caller's full phone number (logged, with reason)",
        request=s.UnmaskSerializer,
        responses={200: dict},
    )
    @action(detail=True, methods=["post"], url_path="unmask-phone")
    def unmask_phone(self, request: Request, pk: str | None = None) -> Response:
        case = self.get_object()
        data = s.UnmaskSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        phone = actions.reporter_phone(
            case, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response({"reporter_phone": phone})

    def _transition(self, request: Request, name: str, serializer_class: Any) -> Response:
        case = self.get_object()
        actions.check_transition(case, name, request.user, version=_version(request))
        data = serializer_class(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "files" in values:
            values["uploads"] = [(f.name, f.read()) for f in values.pop("files") or []]
        case = actions.ACTIONS[name](case, actor=request.user, **values)
        return self._detail(case)


def _version(request: Request) -> int | None:
    """The version the client saw, when it gave a readable one (the serializer judges it)."""
    data = request.data
    value = data.get("version") if hasattr(data, "get") else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


SERIALIZERS = {
    "dispatch": s.DispatchSerializer,
    "transfer": s.TransferSerializer,
    "merge": s.MergeSerializer,
    "start_check": s.CheckSerializer,
    "evaluate": s.EvaluateSerializer,
    "progress": s.FilesTransitionSerializer,
    "feedback": s.FilesTransitionSerializer,
    "pass_check": s.FilesTransitionSerializer,
    "fail_check": s.FilesTransitionSerializer,
    "self_resolve": s.FilesTransitionSerializer,
}


def _transition_endpoint(name: str) -> Any:
    serializer_class = SERIALIZERS.get(name, s.TransitionSerializer)
    transition = TRANSITIONS[name]

    def endpoint(self: CaseViewSet, request: Request, pk: str | None = None) -> Response:
        return self._transition(request, name, serializer_class)

    # Named act_<name>: a method called "dispatch" would replace the view's own dispatch().
    endpoint.__name__ = f"act_{name}"
    endpoint.__doc__ = f"{transition.label}: {', '.join(sorted(transition.sources))} → " + (
        transition.target or "same state"
    )
    endpoint = action(
        detail=True, methods=["post"], url_path=name.replace("_", "-"), url_name=name
    )(endpoint)
    return extend_schema(
        tags=["case actions"],
        summary=str(transition.label),
        request=serializer_class,
        responses={200: s.CaseDetailSerializer},
    )(endpoint)


for _name in actions.ACTIONS:
    setattr(CaseViewSet, f"act_{_name}", _transition_endpoint(_name))


@extend_schema(tags=["cases"], summary="Download an attachment", responses={200: bytes})
@api_view(["GET"])
def attachment_file(request: Request, case_pk: int, pk: int) -> FileResponse:
    """Files are served through this view only, after the same scope check as the case."""
    case = get_object_or_404(selectors.visible_cases(request.user), pk=case_pk)
    attachment = get_object_or_404(Attachment, pk=pk, case=case)
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    response["Content-Disposition"] = f'inline; filename="{attachment.pk}-{attachment.sha256[:8]}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
