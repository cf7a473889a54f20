"""The field app's sync API under /api/v1/field/ (docs/fieldwork.md).

Writes: every POST carries the record's client UUID and goes through one action, which takes it
in exactly once (receipts.py); a replay is answered 200 with the stored answer and the header
`Idempotent-Replay: true`. Only grid workers and grid leaders holding the role at a grid submit
(403 otherwise). Photos come first, in resumable chunks (uploads.py).

Reads: visits, patrols and check-ins restricted to the caller (data class `field`): a grid
worker sees their grids', centre staff and leaders their subtree's; roles that never reach
field records get 403.
"""

from __future__ import annotations

import uuid as uuid_module
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.core.api.filters import IdFilter, ScopedFilterSet
from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.core.scoping import Action

from .. import actions, receipts, selectors, uploads
from ..models import CheckIn, DutyPhoto, Patrol, Visit
from . import serializers as s

TAG = "field app"
REPLAY_HEADER = "Idempotent-Replay"
SAFE = {"GET", "HEAD", "OPTIONS"}

CONFLICT = OpenApiResponse(
    s.ConflictSerializer,
    description="replay: the uuid was used for another body or by another user; "
    "photos_pending / photos_used: photos not uploaded completely, or taken by another record",
)
REPLAYED = OpenApiResponse(description="a replay: the stored answer, header Idempotent-Replay")


def _answer(answer: receipts.Answer) -> Response:
    response = Response(answer.data, status=answer.status)
    if answer.replay:
        response[REPLAY_HEADER] = "true"
    return response


def _submission(request: Request, serializer_class: Any) -> tuple[dict[str, Any], str]:
    """The validated values of a submission and the hash of its body (without `uuid`)."""
    data = serializer_class(data=request.data, context={"request": request})
    data.is_valid(raise_exception=True)
    body = request.data if isinstance(request.data, dict) else {}  # a dict once valid
    return dict(data.validated_data), receipts.body_hash(body)


class SubmitView(APIView):
    parser_classes = [JSONParser]


# --- bootstrap ------------------------------------------------------------------------------
class BootstrapView(APIView):
    @extend_schema(
        tags=[TAG],
        summary="Everything the phone keeps for offline work, limited to your grids",
        responses={200: s.BootstrapSerializer},
    )
    def get(self, request: Request) -> Response:
        grids = actions.require_submitter(request.user)
        return Response(selectors.bootstrap(request.user, grids))


# --- uploads --------------------------------------------------------------------------------
class RawParser(BaseParser):
    """A photo chunk: the bytes as they are (the view reads request.body)."""

    media_type = "application/octet-stream"

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return stream.read() if stream is not None else b""


class UploadStartView(SubmitView):
    @extend_schema(
        tags=[TAG],
        summary="Announce a photo upload (idempotent by uuid)",
        request=s.UploadStartSerializer,
        responses={201: s.UploadStateSerializer, 200: s.UploadStateSerializer, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        actions.require_submitter(request.user)
        data = s.UploadStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        upload, created = uploads.do_start_upload(
            actor=request.user,
            uuid=values["uuid"],
            name=values["name"],
            size=values["size"],
            sha256=values["sha256"],
        )
        if not created:
            upload = uploads.finish(uploads.check_intact(upload))
        response = Response(
            uploads.state(upload), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
        if not created:
            response[REPLAY_HEADER] = "true"
        return response


class UploadView(APIView):
    parser_classes = [RawParser]

    def _upload(self, request: Request, uuid: str) -> Any:
        try:
            key = uuid_module.UUID(uuid)
        except ValueError:
            from django.http import Http404

            raise Http404 from None
        return uploads.get_upload(request.user, key)

    @extend_schema(
        tags=[TAG],
        summary="The state of a photo upload",
        responses={200: s.UploadStateSerializer},
    )
    def get(self, request: Request, uuid: str) -> Response:
        upload = uploads.finish(uploads.check_intact(self._upload(request, uuid)))
        return Response(uploads.state(upload))

    @extend_schema(
        tags=[TAG],
        summary="Send the next chunk of a photo (Content-Range: bytes START-END/TOTAL)",
        request={"application/octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "Content-Range",
                str,
                OpenApiParameter.HEADER,
                required=True,
                description="bytes START-END/TOTAL, END inclusive; START = received",
            )
        ],
        responses={
            200: s.UploadStateSerializer,
            409: OpenApiResponse(
                s.ConflictSerializer,
                description="offset: continue from `received`",
            ),
        },
    )
    def put(self, request: Request, uuid: str) -> Response:
        actions.require_submitter(request.user)
        upload = self._upload(request, uuid)
        header = request.headers.get("Content-Range")
        chunk = uploads.parse_content_range(header)
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) != chunk.length:
            # Refused before the body is read: a phone never sends more than it declares.
            raise ValidationError(
                {
                    "body": _("The body holds %(got)d bytes; the range says %(want)d.")
                    % {"got": int(declared), "want": chunk.length}
                }
            )
        upload = uploads.do_receive_chunk(
            upload, actor=request.user, content_range=header, body=request.body
        )
        return Response(uploads.state(upload))


# --- submissions ----------------------------------------------------------------------------
class CaseSubmitView(SubmitView):
    @extend_schema(
        tags=[TAG],
        summary="Report a case from the field (idempotent by uuid)",
        request=s.CaseSubmitSerializer,
        responses={201: s.CaseAnswerSerializer, 200: REPLAYED, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        actions.require_submitter(request.user)
        values, digest = _submission(request, s.CaseSubmitSerializer)
        return _answer(actions.do_submit_case(actor=request.user, digest=digest, **values))


class ResidentSubmitView(SubmitView):
    @extend_schema(
        tags=[TAG],
        summary="Add a resident to a household of your grid, or fix one (idempotent by uuid)",
        request=s.ResidentSubmitSerializer,
        responses={201: s.ResidentAnswerSerializer, 200: REPLAYED, 409: CONFLICT},
    )
    def post(self, request: Request) -> Response:
        actions.require_submitter(request.user)
        values, digest = _submission(request, s.ResidentSubmitSerializer)
        keys = {"uuid", "resident", "version", "household"}
        return _answer(
            actions.do_submit_resident(
                actor=request.user,
                digest=digest,
                uuid=values["uuid"],
                resident=values.get("resident"),
                version=values.get("version"),
                household=values.get("household"),
                values={k: v for k, v in values.items() if k not in keys},
            )
        )


# --- duty records: submit and read ----------------------------------------------------------
class DutyFilter(ScopedFilterSet):
    grid = IdFilter(field_name="division_id", label=gettext_lazy("grid (division id)"))
    worker = IdFilter(field_name="worker_id", label=gettext_lazy("grid worker (user id)"))
    since = django_filters.DateFilter(method="from_day", label=gettext_lazy("from this day"))
    until = django_filters.DateFilter(method="to_day", label=gettext_lazy("up to this day"))
    time_field = ""

    def from_day(self, qs: QuerySet, name: str, value: Any) -> QuerySet:
        return qs.filter(**{f"{self.time_field}__date__gte": value})

    def to_day(self, qs: QuerySet, name: str, value: Any) -> QuerySet:
        return qs.filter(**{f"{self.time_field}__date__lte": value})


class VisitFilter(DutyFilter):
    time_field = "visited_at"

    class Meta:
        model = Visit
        fields = ("under", "grid", "worker", "since", "until")


class PatrolFilter(DutyFilter):
    time_field = "started_at"

    class Meta:
        model = Patrol
        fields = ("under", "grid", "worker", "since", "until")


class CheckInFilter(DutyFilter):
    time_field = "at"

    class Meta:
        model = CheckIn
        fields = ("under", "grid", "worker", "since", "until")


class DutyViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    parser_classes = [JSONParser]
    submit_serializer: Any = None
    submit: Any = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if request.method in SAFE and not selectors.may_read(request.user):
            raise PermissionDenied(_("Your roles do not include field work records."))

    def get_queryset(self) -> Any:
        return (
            self.queryset.all()
            .restrict(self.request.user, Action.VIEW)
            .select_related("division", "worker")
        )

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        actions.require_submitter(request.user)
        values, digest = _submission(request, self.submit_serializer)
        return _answer(type(self).submit(actor=request.user, digest=digest, **values))


PHOTOS = Prefetch("photos", queryset=DutyPhoto.objects.order_by("created_at", "id"))
FILTER_DOCS = "Filters: grid (division id), under (division code), worker (user id), since/until."


class VisitViewSet(DutyViewSet):
    """Visits (走访) recorded with the field app."""

    queryset = Visit.objects.all()
    serializer_class = s.VisitSerializer
    filterset_class = VisitFilter
    submit_serializer = s.VisitSubmitSerializer
    submit = staticmethod(actions.do_submit_visit)

    def get_queryset(self) -> Any:
        return (
            super().get_queryset().select_related("resident", "household").prefetch_related(PHOTOS)
        )

    @extend_schema(tags=[TAG], summary="Visits in your area", description=FILTER_DOCS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=[TAG], summary="One visit")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Record a visit (idempotent by uuid)",
        request=s.VisitSubmitSerializer,
        responses={201: s.VisitAnswerSerializer, 200: REPLAYED, 409: CONFLICT},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


class PatrolViewSet(DutyViewSet):
    """Patrols (巡查) with their GPS tracks (the track on a patrol's own page only)."""

    queryset = Patrol.objects.all()
    filterset_class = PatrolFilter
    submit_serializer = s.PatrolSubmitSerializer
    submit = staticmethod(actions.do_submit_patrol)

    def get_serializer_class(self) -> Any:
        return s.PatrolDetailSerializer if self.action == "retrieve" else s.PatrolSerializer

    def get_queryset(self) -> Any:
        qs = super().get_queryset().prefetch_related(PHOTOS)
        return qs if self.action == "retrieve" else qs.defer("track")

    @extend_schema(tags=[TAG], summary="Patrols in your area", description=FILTER_DOCS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=[TAG], summary="One patrol, with its track")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Record a patrol with its GPS track (idempotent by uuid)",
        request=s.PatrolSubmitSerializer,
        responses={201: s.PatrolAnswerSerializer, 200: REPLAYED, 409: CONFLICT},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


class CheckInViewSet(DutyViewSet):
    """Check-ins (签到) recorded with the field app."""

    queryset = CheckIn.objects.all()
    serializer_class = s.CheckInSerializer
    filterset_class = CheckInFilter
    submit_serializer = s.CheckInSubmitSerializer
    submit = staticmethod(actions.do_submit_check_in)

    @extend_schema(tags=[TAG], summary="Check-ins in your area", description=FILTER_DOCS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(tags=[TAG], summary="One check-in")
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().retrieve(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Check in at a position (idempotent by uuid)",
        request=s.CheckInSubmitSerializer,
        responses={201: s.CheckInAnswerSerializer, 200: REPLAYED, 409: CONFLICT},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)


class DutyPhotoFileView(APIView):
    """Photos of visits and patrols are served through this view only, after the scope check."""

    @extend_schema(tags=[TAG], summary="A photo of a visit or a patrol", responses={200: bytes})
    def get(self, request: Request, pk: int) -> FileResponse:
        if not selectors.may_read(request.user):
            raise PermissionDenied(_("Your roles do not include field work records."))
        photo = get_object_or_404(DutyPhoto.objects.restrict(request.user, Action.VIEW), pk=pk)
        response = FileResponse(photo.file.open("rb"), content_type="image/jpeg")
        response["Content-Disposition"] = f'inline; filename="{photo.pk}-{photo.sha256[:8]}.jpg"'
        response["X-Content-Type-Options"] = "nosniff"
        return response
