from __future__ import annotations

from typing import Any, cast

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from civicgrid.core import jobs
from civicgrid.core.models import ImportJob

from .views import ScopedReadOnlyViewSet


class ImportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True)

    class Meta:
        model = ImportJob
        fields = (
            "id",
            "kind",
            "original_name",
            "options",
            "status",
            "progress",
            "total",
            "report",
            "created_by",
            "created_at",
            "finished_at",
        )
        read_only_fields = fields


class ImportJobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[])
    file = serializers.FileField()
    skip_invalid = serializers.BooleanField(
        default=False, help_text=_("Import the good rows and list the bad ones.")
    )
    dry_run = serializers.BooleanField(default=False, help_text=_("Only check; write nothing."))
    crs = serializers.ChoiceField(
        choices=[("wgs84", "WGS-84"), ("gcj02", "GCJ-02")],
        default="wgs84",
        help_text=_("Datum of boundary coordinates."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(serializers.ChoiceField, self.fields["kind"]).choices = jobs.kind_choices()


@extend_schema_view(
    list=extend_schema(summary="Import jobs", tags=["imports"]),
    retrieve=extend_schema(summary="One import job with its report", tags=["imports"]),
)
class ImportJobViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Upload a division table or boundary file; it is imported in the background."""

    queryset = ImportJob.objects.select_related("created_by")
    parser_classes = [MultiPartParser, FormParser]

    def get_serializer_class(self) -> Any:
        return ImportJobCreateSerializer if self.action == "create" else ImportJobSerializer

    @extend_schema(
        tags=["imports"], request=ImportJobCreateSerializer, responses={202: ImportJobSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = ImportJobCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        job = jobs.do_create_import_job(
            actor=request.user,
            kind=values.pop("kind"),
            upload=values.pop("file"),
            options=values,
        )
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)
