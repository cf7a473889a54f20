"""Case categories, SLA policies, the working calendar and the routing matrix."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from civicgrid.geo.models import Placed

from .choices import DayKind, LimitUnit, Priority, Stage, TaskClass


class Localized(models.Model):
    """Configurable names in Chinese with an English rendering."""

    name = models.CharField(_("name (Chinese)"), max_length=80)
    name_en = models.CharField(_("name (English)"), max_length=120, blank=True)

    class Meta:
        abstract = True

    @property
    def label(self) -> str:
        if (get_language() or "").startswith("en") and self.name_en:
            return self.name_en
        return self.name


class WorkingCalendar(models.Model):
    """The working week and the days that differ from it (holidays, swapped working days)."""

    name = models.CharField(_("name"), max_length=60, unique=True)
    # {"0": ["08:30-12:00", "13:30-17:30"], …, "6": []} — Monday is 0.
    weekly = models.JSONField(_("working periods per weekday"))
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")

    def __str__(self) -> str:
        return self.name


class CalendarDay(models.Model):
    calendar = models.ForeignKey(
        WorkingCalendar, on_delete=models.CASCADE, related_name="days", verbose_name=_("calendar")
    )
    date = models.DateField(_("date"))
    kind = models.CharField(_("kind"), max_length=8, choices=DayKind.choices)
    name = models.CharField(_("name"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("calendar day")
        verbose_name_plural = _("calendar days")
        ordering: ClassVar = ["date"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["calendar", "date"], name="catalog_day_unique")
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.get_kind_display()} {self.name}"


class SlaPolicy(Localized):
    """Time limits per stage (accept, handle, check); the handle stage may be staged
    (e.g. cordon ≤ 3 urgent hours, repair ≤ 8 urgent hours, reinstate ≤ 5 working days)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    warn_ratio = models.DecimalField(
        _("yellow warning at"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.80"),
        validators=[MinValueValidator(Decimal("0.10")), MaxValueValidator(Decimal("0.99"))],
        help_text=_("Share of the allowed time after which a case turns yellow."),
    )

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering: ClassVar = ["code"]

    def __str__(self) -> str:
        return self.label

    def limits_for(self, stage: str) -> list[SlaLimit]:
        return [limit for limit in self.limits.all() if limit.stage == stage]


class SlaLimit(models.Model):
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.CASCADE, related_name="limits", verbose_name=_("policy")
    )
    stage = models.CharField(_("stage"), max_length=8, choices=Stage.choices)
    order = models.PositiveSmallIntegerField(_("order"), default=1)
    step = models.CharField(_("step"), max_length=60, blank=True)
    amount = models.DecimalField(
        _("amount"), max_digits=7, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    unit = models.CharField(_("unit"), max_length=14, choices=LimitUnit.choices)

    class Meta:
        verbose_name = _("time limit")
        verbose_name_plural = _("time limits")
        ordering: ClassVar = ["policy", "stage", "order"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["policy", "stage", "order"], name="catalog_limit_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} {self.step} {self.amount} {self.get_unit_display()}"


class CaseCategory(Localized):
    """A major class (parent empty) or a minor class of cases."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        verbose_name=_("major class"),
    )
    task_class = models.CharField(
        _("grid task class"), max_length=20, choices=TaskClass.choices, blank=True
    )
    filing_criterion = models.TextField(_("filing criterion (立案标准)"), blank=True)
    closing_criterion = models.TextField(_("closing criterion (结案标准)"), blank=True)
    default_priority = models.PositiveSmallIntegerField(
        _("default priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    # [{"name": "area_m2", "label": "面积", "label_en": "area", "type": "number", "required": true}]
    extra_fields = models.JSONField(_("extra fields"), default=list, blank=True)
    sla_policy = models.ForeignKey(
        SlaPolicy,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="categories",
        verbose_name=_("SLA policy"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)

    class Meta:
        verbose_name = _("case category")
        verbose_name_plural = _("case categories")
        ordering: ClassVar = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.label

    @property
    def is_major(self) -> bool:
        return self.parent_id is None

    def policy(self) -> SlaPolicy | None:
        """Its own SLA policy, or its major class's."""
        if self.sla_policy_id:
            return self.sla_policy
        return self.parent.sla_policy if self.parent_id and self.parent else None

    def field_specs(self) -> list[dict[str, Any]]:
        return list(self.extra_fields or [])


class Route(Placed):
    """Routing matrix: cases of this category at or under this division go to this unit.
    A minor class's route beats its major class's; a deeper division beats a higher one."""

    scope_data_class = "org"

    category = models.ForeignKey(
        CaseCategory, on_delete=models.CASCADE, related_name="routes", verbose_name=_("category")
    )
    unit = models.ForeignKey(
        "accounts.Unit",
        on_delete=models.PROTECT,
        related_name="routes",
        verbose_name=_("handling unit"),
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("route")
        verbose_name_plural = _("routing matrix")
        ordering: ClassVar = ["division_path", "category__code"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["category", "division"], name="catalog_route_unique")
        ]

    def __str__(self) -> str:
        return f"{self.category} @ {self.division_id} → {self.unit}"
