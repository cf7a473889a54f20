"""Assessment in the API: scorecard templates (CRUD for centre staff), monthly runs (compute a
draft, publish), and rankings with the cases behind each score.

Reads are scoped like every list (a township's staff see the scorecards of their subtree);
writes call insights.actions. Rates and targets are fractions (0.70 = 70 %).
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from civicgrid.accounts.api.serializers import ScopedPrimaryKeyField
from civicgrid.accounts.roles import DataClass
from civicgrid.cases.models import Case
from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.core.scoping import Action, can, reaches
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.geo.models import Division

from .. import actions, scoring
from ..models import Score, ScorecardRun, ScorecardTemplate, ScoreCase
from ..models.scorecards import EmptyRule, IndicatorKind, RunStatus, SubjectKind

TAG = "insights"


# Choice sets named in settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]: other `kind` and
# `status` fields of the schema have other choices.
def indicator_kind_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=IndicatorKind.choices, **kwargs)


def run_status_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=RunStatus.choices, **kwargs)


# --- templates --------------------------------------------------------------------------------
class IndicatorSerializer(serializers.Serializer):
    kind = indicator_kind_field(default=IndicatorKind.TARGET)
    kpi = serializers.CharField(
        max_length=40,
        help_text=gettext_lazy(
            "A figure of /insights/definitions/ (target), or a case counter such as "
            "`reworked` (deduction)."
        ),
    )
    weight = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=0,
        help_text=gettext_lazy("Full points (target indicators)."),
    )
    target = serializers.DecimalField(
        max_digits=10,
        decimal_places=4,
        required=False,
        allow_null=True,
        help_text=gettext_lazy("Rates as fractions: 0.70 for 70 %. None: a rate earns its share."),
    )
    penalty = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=0,
        help_text=gettext_lazy("Points lost per percentage point (rates) or unit short."),
    )
    per_event = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=0,
        help_text=gettext_lazy("Deduction per counted case (deduction indicators)."),
    )
    cap = serializers.DecimalField(
        max_digits=6,
        decimal_places=2,
        required=False,
        allow_null=True,
        min_value=0,
        help_text=gettext_lazy("The largest deduction."),
    )
    when_empty = serializers.ChoiceField(choices=EmptyRule.choices, default=EmptyRule.FULL)


class TemplateSerializer(serializers.ModelSerializer):
    area = DivisionRefSerializer(read_only=True)
    indicators = serializers.SerializerMethodField()
    full_points = serializers.FloatField(read_only=True)

    class Meta:
        model = ScorecardTemplate
        fields = (
            "id",
            "name",
            "subject",
            "area",
            "level",
            "list_size",
            "is_active",
            "description",
            "version",
            "full_points",
            "indicators",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    @extend_schema_field(IndicatorSerializer(many=True))
    def get_indicators(self, obj: ScorecardTemplate) -> list[dict[str, Any]]:
        return [
            {
                "kind": i.kind,
                "kpi": i.kpi,
                "weight": str(i.weight),
                "target": None if i.target is None else str(i.target),
                "penalty": str(i.penalty),
                "per_event": str(i.per_event),
                "cap": None if i.cap is None else str(i.cap),
                "when_empty": i.when_empty,
            }
            for i in obj.indicators.all()
        ]


class TemplateWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    subject = serializers.ChoiceField(choices=SubjectKind.choices, required=False)
    area = ScopedPrimaryKeyField(
        Division,
        {"is_active": True},
        required=False,
        help_text=gettext_lazy("The division (id) whose subtree is assessed."),
    )
    level = serializers.IntegerField(
        min_value=1,
        max_value=6,
        required=False,
        allow_null=True,
        help_text=gettext_lazy("For regions: the level of the divisions ranked."),
    )
    list_size = serializers.IntegerField(min_value=0, max_value=50, required=False)
    is_active = serializers.BooleanField(required=False)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    indicators = IndicatorSerializer(many=True, required=False)
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text=gettext_lazy("The version you read (changes: a newer one is a 409)."),
    )


def _rows(values: dict[str, Any]) -> list[dict[str, Any]] | None:
    rows = values.pop("indicators", None)
    return None if rows is None else [dict(r) for r in rows]


@extend_schema_view(
    list=extend_schema(summary="Scorecard templates of your area", tags=[TAG]),
    retrieve=extend_schema(summary="One scorecard template with its indicators", tags=[TAG]),
)
class ScorecardViewSet(
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ScopedReadOnlyViewSet,
):
    """Scorecard templates: what is assessed and how (weighted indicators, targets,
    deductions). Centre staff create and change them."""

    queryset = ScorecardTemplate.objects.select_related("area").prefetch_related("indicators")
    serializer_class = TemplateSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def _out(self, template: ScorecardTemplate, **kwargs: Any) -> Response:
        fresh = self.get_queryset().filter(pk=template.pk).first() or template
        return Response(TemplateSerializer(fresh).data, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Create a scorecard template",
        request=TemplateWriteSerializer,
        responses={201: TemplateSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not reaches(request.user, DataClass.INSIGHTS, Action.CHANGE):
            raise PermissionDenied(_("Your roles do not allow changing scorecards."))
        data = TemplateWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        values.pop("version", None)
        rows = _rows(values)
        template = actions.do_create_template(
            actor=request.user, data=values, indicators=rows if rows is not None else []
        )
        return self._out(template, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=[TAG],
        summary="Change a scorecard template (indicators, when given, replace all)",
        request=TemplateWriteSerializer,
        responses=TemplateSerializer,
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        template = self.get_object()
        data = TemplateWriteSerializer(
            data=request.data, partial=True, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        version = values.pop("version", None)
        rows = _rows(values)
        template = actions.do_update_template(
            template, actor=request.user, version=version, data=values, indicators=rows
        )
        return self._out(template)

    @extend_schema(exclude=True)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(
        tags=[TAG],
        summary="Delete a scorecard template that was never run (else 409: deactivate it)",
    )
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        actions.do_delete_template(self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runs -------------------------------------------------------------------------------------
class ScoreLineSerializer(serializers.Serializer):
    kind = indicator_kind_field()
    kpi = serializers.CharField()
    value = serializers.FloatField(allow_null=True, help_text=gettext_lazy("Rates as fractions."))
    target = serializers.FloatField(allow_null=True)
    weight = serializers.FloatField()
    points = serializers.FloatField()
    deduction = serializers.FloatField()
    events = serializers.IntegerField(allow_null=True, required=False)


class ScoreSerializer(serializers.ModelSerializer):
    run: Any = serializers.PrimaryKeyRelatedField(read_only=True)
    total = serializers.FloatField()
    division = DivisionRefSerializer(read_only=True)
    details = ScoreLineSerializer(many=True)
    red = serializers.SerializerMethodField(help_text=gettext_lazy("On the red list (best)."))
    black = serializers.SerializerMethodField(help_text=gettext_lazy("On the black list (worst)."))

    class Meta:
        model = Score
        fields = (
            "id",
            "run",
            "subject_key",
            "label",
            "division",
            "unit",
            "user",
            "total",
            "rank",
            "rank_from_bottom",
            "red",
            "black",
            "details",
        )
        read_only_fields = fields

    def _lists(self, obj: Score) -> tuple[set[int], set[int]]:
        context: dict[str, Any] = self.context  # type: ignore[assignment]
        cache: dict[int, tuple[set[int], set[int]]] = context.setdefault("lists", {})
        if obj.run_id not in cache:
            scores = list(
                Score.objects.filter(run_id=obj.run_id).only(
                    "pk", "rank", "rank_from_bottom", "label"
                )
            )
            red, black = scoring.red_and_black(scores, _list_size(obj.run))
            cache[obj.run_id] = ({s.pk for s in red}, {s.pk for s in black})
        return cache[obj.run_id]

    def get_red(self, obj: Score) -> bool:
        return obj.pk in self._lists(obj)[0]

    def get_black(self, obj: Score) -> bool:
        return obj.pk in self._lists(obj)[1]


def _list_size(run: ScorecardRun) -> int:
    return int(run.rules.get("list_size", 0) or 0)


class RunSerializer(serializers.ModelSerializer):
    template: Any = serializers.PrimaryKeyRelatedField(read_only=True)
    name = serializers.CharField(source="template.name", read_only=True)
    month = serializers.CharField(source="month_label", read_only=True)
    status = run_status_field(read_only=True)
    published_by: Any = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ScorecardRun
        fields: tuple[str, ...] = (
            "id",
            "template",
            "name",
            "month",
            "status",
            "source",
            "computed_at",
            "published_at",
            "published_by",
            "version",
            "rules",
        )
        read_only_fields: tuple[str, ...] = fields


class RunDetailSerializer(RunSerializer):
    scores = serializers.SerializerMethodField()
    red_list = serializers.SerializerMethodField()
    black_list = serializers.SerializerMethodField()

    class Meta(RunSerializer.Meta):
        fields = (*RunSerializer.Meta.fields, "scores", "red_list", "black_list")
        read_only_fields = fields

    def _scores(self, obj: ScorecardRun) -> list[Score]:
        context: dict[str, Any] = self.context  # type: ignore[assignment]
        if "_scores" not in context:
            context["_scores"] = list(
                obj.scores.select_related("division").order_by("rank", "label")
            )
        return context["_scores"]

    @extend_schema_field(ScoreSerializer(many=True))
    def get_scores(self, obj: ScorecardRun) -> Any:
        return ScoreSerializer(self._scores(obj), many=True, context=self.context).data

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_red_list(self, obj: ScorecardRun) -> list[int]:
        return [s.pk for s in scoring.red_and_black(self._scores(obj), _list_size(obj))[0]]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_black_list(self, obj: ScorecardRun) -> list[int]:
        return [s.pk for s in scoring.red_and_black(self._scores(obj), _list_size(obj))[1]]


class RunRequestSerializer(serializers.Serializer):
    template = ScopedPrimaryKeyField(ScorecardTemplate)
    month = serializers.CharField(
        max_length=10, help_text=gettext_lazy("YYYY-MM (a date in the month also does).")
    )

    def validate_month(self, value: str) -> Any:
        try:
            return actions.parse_month(value)
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict["month"]) from None


class PublishSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        required=False,
        help_text=gettext_lazy("The version you reviewed (a re-run since then is a 409)."),
    )


class RunFilter(django_filters.FilterSet):
    template = django_filters.NumberFilter(field_name="template_id")
    month = django_filters.CharFilter(method="by_month", label=gettext_lazy("YYYY-MM"))
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)

    class Meta:
        model = ScorecardRun
        fields = ("template", "month", "status")

    def by_month(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        try:
            return qs.filter(month=actions.parse_month(value))
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None


@extend_schema_view(
    list=extend_schema(summary="Monthly scorecard runs of your area", tags=[TAG]),
    retrieve=extend_schema(summary="One run with its ranking and red and black lists", tags=[TAG]),
)
class ScorecardRunViewSet(ScopedReadOnlyViewSet):
    """A scorecard applied to one month: a draft may be computed again; a published run is
    frozen with the cases behind every score."""

    queryset = ScorecardRun.objects.select_related("template", "published_by")
    filterset_class = RunFilter

    def get_serializer_class(self) -> Any:
        return RunDetailSerializer if self.action == "retrieve" else RunSerializer

    @extend_schema(
        tags=[TAG],
        summary="Compute (or recompute) a month's draft; 409 when it is published",
        request=RunRequestSerializer,
        responses={201: RunDetailSerializer},
    )
    @action(detail=False, methods=["post"])
    def run(self, request: Request) -> Response:
        data = RunRequestSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        template = data.validated_data["template"]
        if not can(request.user, template, Action.CHANGE):
            raise PermissionDenied(_("Your roles do not allow assessment in this area."))
        run = actions.do_run_scorecard(template, data.validated_data["month"], actor=request.user)
        return Response(
            RunDetailSerializer(run, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        tags=[TAG],
        summary="Publish a draft: recompute it once more and freeze it with its cases",
        request=PublishSerializer,
        responses=RunDetailSerializer,
    )
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str | None = None) -> Response:
        run = self.get_object()
        data = PublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = actions.do_publish_run(
            run, actor=request.user, version=data.validated_data.get("version")
        )
        return Response(RunDetailSerializer(run, context={"request": request}).data)


# --- rankings ---------------------------------------------------------------------------------
class ScoreFilter(django_filters.FilterSet):
    run = django_filters.NumberFilter(field_name="run_id")
    template = django_filters.NumberFilter(field_name="run__template_id")
    month = django_filters.CharFilter(method="by_month", label=gettext_lazy("YYYY-MM"))

    class Meta:
        model = Score
        fields = ("run", "template", "month")

    def by_month(self, qs: QuerySet, name: str, value: str) -> QuerySet:
        try:
            return qs.filter(run__month=actions.parse_month(value))
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None


class ScoreCaseSerializer(serializers.ModelSerializer):
    number = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    status = serializers.CharField(read_only=True)
    reported_at = serializers.DateTimeField(read_only=True)
    counted = serializers.SerializerMethodField(
        help_text=gettext_lazy("In the figure's numerator (else only in its denominator).")
    )

    class Meta:
        model = Case
        fields = ("id", "number", "title", "status", "reported_at", "counted")
        read_only_fields = fields

    def get_counted(self, obj: Case) -> bool:
        return bool(self.context.get("counted", {}).get(obj.pk))


LIST_PARAM = OpenApiParameter(
    "list",
    str,
    enum=["red", "black"],
    required=False,
    description="Only the red list (best) or the black list (worst).",
)


@extend_schema_view(
    list=extend_schema(
        summary="Scores ranked (filter by run; list=red|black)", tags=[TAG], parameters=[LIST_PARAM]
    ),
    retrieve=extend_schema(summary="One score with its lines", tags=[TAG]),
)
class RankingViewSet(ScopedReadOnlyViewSet):
    """Every subject's score in a run, best first; ties share a rank."""

    queryset = Score.objects.select_related("run", "division")
    serializer_class = ScoreSerializer
    filterset_class = ScoreFilter

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().order_by("-run__month", "run_id", "rank", "label")

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        wanted = request.query_params.get("list", "")
        if wanted and wanted not in {"red", "black"}:
            raise serializers.ValidationError({"list": [_("Choose red or black.")]})
        if not wanted:
            return super().list(request, *args, **kwargs)
        scores = list(self.filter_queryset(self.get_queryset()))
        chosen: list[Score] = []
        by_run: dict[int, list[Score]] = {}
        for s in scores:
            by_run.setdefault(s.run_id, []).append(s)
        for group in by_run.values():
            red, black = scoring.red_and_black(group, _list_size(group[0].run))
            chosen += red if wanted == "red" else black
        page = self.paginate_queryset(chosen)
        data = ScoreSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    @extend_schema(
        tags=[TAG],
        summary="The cases behind one indicator of a score",
        parameters=[
            OpenApiParameter(
                "kpi",
                str,
                required=False,
                description="A figure of the score's indicators (default: the first).",
            )
        ],
        responses=ScoreCaseSerializer(many=True),
    )
    @action(detail=True, methods=["get"])
    def cases(self, request: Request, pk: str | None = None) -> Response:
        score = self.get_object()
        run = score.run
        traced: list[str] = []
        for rule in actions.run_rules(run):
            traced += [k for k in actions.traced_kpis(rule) if k not in traced]
        kpi = request.query_params.get("kpi") or (traced[0] if traced else "")
        if kpi not in traced:
            raise serializers.ValidationError(
                {"kpi": [_("Choose one of: %(keys)s.") % {"keys": ", ".join(traced) or "—"}]}
            )
        if run.is_published:
            counted = dict(
                ScoreCase.objects.filter(score=score, kpi=kpi).values_list("case_id", "counted")
            )
        else:
            counted = actions.cases_of(actions.kpi_query(run, run.month), kpi, score.subject_key)
        cases = Case.objects.filter(pk__in=list(counted)).order_by("reported_at", "pk")
        page = self.paginate_queryset(cases)
        data = ScoreCaseSerializer(
            page, many=True, context={**self.get_serializer_context(), "counted": counted}
        ).data
        return self.get_paginated_response(data)


__all__ = ["RankingViewSet", "ScorecardRunViewSet", "ScorecardViewSet"]
