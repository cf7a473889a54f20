"""Assessment (检查考核, DOMAIN.md §8): scorecard templates, monthly runs, scores and the cases
behind each score.

A template names what is assessed (regions at one level of an area, the handling units or the
grid workers in it) and how: weighted indicators against targets, plus deductions per event.
A run applies a template to one month. A draft run may be recomputed; a published run is frozen:
its scores, ranks and the cases that produced them never change again, so a bulletin that
quotes them stays true. Each run keeps a copy of the rules it used (`rules`), so editing the
template later does not rewrite history.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.core.scoping import Scoped


class SubjectKind(models.TextChoices):
    REGION = "region", pgettext_lazy("scorecard subject", "regions")
    UNIT = "unit", pgettext_lazy("scorecard subject", "handling units")
    POST = "post", pgettext_lazy("scorecard subject", "grid workers")


class IndicatorKind(models.TextChoices):
    TARGET = "target", _("figure against a target")
    DEDUCTION = "deduction", _("deduction per event")


class EmptyRule(models.TextChoices):
    # A subject with no cases in a figure's denominator: nothing went wrong, or nothing was done.
    FULL = "full", _("full points")
    ZERO = "zero", _("no points")


class RunStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("scorecard run", "draft")
    PUBLISHED = "published", pgettext_lazy("scorecard run", "published")


class ScorecardTemplate(Scoped):
    scope_data_class = "insights"

    name = models.CharField(_("name"), max_length=100)
    subject = models.CharField(_("assessed"), max_length=8, choices=SubjectKind.choices)
    area = models.ForeignKey(
        "geo.Division",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("area"),
        help_text=_("Whose subtree is assessed."),
    )
    division_path = models.CharField(max_length=15, db_index=True, editable=False)
    level = models.PositiveSmallIntegerField(
        _("level of the regions"),
        null=True,
        blank=True,
        help_text=_("For regions: the divisions of this level inside the area are ranked."),
    )
    list_size = models.PositiveSmallIntegerField(
        _("red and black list size"),
        default=3,
        help_text=_("How many subjects the red list (best) and the black list (worst) name."),
    )
    is_active = models.BooleanField(
        _("active"), default=True, help_text=_("Active templates are run every month.")
    )
    description = models.TextField(_("description"), blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("scorecard template")
        verbose_name_plural = _("scorecard templates")
        ordering: ClassVar = ["division_path", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["area", "name"], name="insights_template_name")
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        # The path scopes the template; it always follows the area.
        self.division_path = self.area.path
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def full_points(self) -> float:
        return float(sum(i.weight for i in self.indicators.all() if i.kind == IndicatorKind.TARGET))


class Indicator(models.Model):
    """One line of a scorecard: a figure scored against a target (on-time closure ≥ 70 % earns
    50 points, 1 point less per percentage point below), or a deduction per counted event
    (0.2 per failed check, at most `cap`)."""

    template = models.ForeignKey(
        ScorecardTemplate, on_delete=models.CASCADE, related_name="indicators"
    )
    position = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(
        _("kind"), max_length=10, choices=IndicatorKind.choices, default=IndicatorKind.TARGET
    )
    kpi = models.CharField(
        _("figure"),
        max_length=40,
        help_text=_("A figure (for a target) or a counter (for a deduction)."),
    )
    weight = models.DecimalField(
        _("points"), max_digits=6, decimal_places=2, default=0, help_text=_("Full points.")
    )
    target = models.DecimalField(
        _("target"),
        max_digits=10,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_(
            "Rates as a fraction (0.70 = 70 %). Without a target a rate earns its share of the "
            "points."
        ),
    )
    penalty = models.DecimalField(
        _("points lost per point short"),
        max_digits=6,
        decimal_places=2,
        default=1,
        help_text=_("Per percentage point for rates, per unit for other figures."),
    )
    per_event = models.DecimalField(
        _("deduction per event"), max_digits=6, decimal_places=2, default=0
    )
    cap = models.DecimalField(
        _("largest deduction"), max_digits=6, decimal_places=2, null=True, blank=True
    )
    when_empty = models.CharField(
        _("without cases"), max_length=4, choices=EmptyRule.choices, default=EmptyRule.FULL
    )

    class Meta:
        verbose_name = _("indicator")
        verbose_name_plural = _("indicators")
        ordering: ClassVar = ["template", "position", "id"]

    def __str__(self) -> str:
        return f"{self.template_id}:{self.kpi}"


class ScorecardRun(Scoped):
    scope_data_class = "insights"

    template = models.ForeignKey(ScorecardTemplate, on_delete=models.PROTECT, related_name="runs")
    month = models.DateField(_("month"), help_text=_("The first day of the month assessed."))
    division_path = models.CharField(max_length=15, db_index=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.DRAFT
    )
    # The template as it was applied: a later edit of the template leaves this run's meaning.
    rules = models.JSONField(default=dict)
    source = models.CharField(max_length=8, blank=True)  # "rollup" or "live"
    computed_at = models.DateTimeField(_("computed at"))
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("published by"),
    )
    version = models.PositiveIntegerField(default=1)

    class Meta:
        verbose_name = _("scorecard run")
        verbose_name_plural = _("scorecard runs")
        ordering: ClassVar = ["-month", "template_id"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["template", "month"], name="insights_run_month")
        ]

    def __str__(self) -> str:
        return f"{self.template} {self.month:%Y-%m}"

    @property
    def month_label(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def is_published(self) -> bool:
        return self.status == RunStatus.PUBLISHED


class Score(Scoped):
    """One subject's result in a run. `details` holds, per indicator, the value, target,
    points and deduction, so the page explains the total without recomputing anything."""

    scope_data_class = "insights"
    scope_path_field = "run__division_path"

    run = models.ForeignKey(ScorecardRun, on_delete=models.CASCADE, related_name="scores")
    subject_key = models.CharField(max_length=40)
    label = models.CharField(_("subject"), max_length=200)
    division = models.ForeignKey(
        "geo.Division", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    unit = models.ForeignKey(
        "accounts.Unit", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    total = models.DecimalField(_("score"), max_digits=8, decimal_places=2)
    rank = models.PositiveIntegerField(_("rank"))
    # Rank counted from the bottom (ties share it too): the black list is rank_from_bottom ≤ N.
    rank_from_bottom = models.PositiveIntegerField()
    counters = models.JSONField(default=dict)
    details = models.JSONField(default=list)

    class Meta:
        verbose_name = _("score")
        verbose_name_plural = _("scores")
        ordering: ClassVar = ["run", "rank", "label"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["run", "subject_key"], name="insights_score_subject")
        ]

    def __str__(self) -> str:
        return f"{self.label}: {self.total}"


class ScoreCase(models.Model):
    """A case behind one indicator of a published score: in the figure's denominator (the cases
    judged) and, if `counted`, in its numerator too. Frozen with the score."""

    score = models.ForeignKey(Score, on_delete=models.CASCADE, related_name="cases")
    case = models.ForeignKey("cases.Case", on_delete=models.CASCADE, related_name="+")
    kpi = models.CharField(max_length=40)
    counted = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("case behind a score")
        verbose_name_plural = _("cases behind scores")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["score", "kpi", "case"], name="insights_score_case")
        ]

    def __str__(self) -> str:
        return f"{self.score_id}:{self.kpi}:{self.case_id}"
