"""The division tree (province → … → grid) and grid attributes.

Every division has a stable primary key; its statistical code is an attribute that may change
(区划调整), with the history in DivisionCodeChange. `path` is the code's significant prefix and is
copied onto every row that belongs to a place (`division_path`), so a subtree is one range query.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicgrid.core.scoping import Scoped, ScopedQuerySet

from .choices import CoverageKind, DedicatedType, GridKind, Level, Setting


class Division(Scoped):
    scope_data_class = "geo"
    scope_path_field = "path"

    level = models.PositiveSmallIntegerField(_("level"), choices=Level.choices)
    code = models.CharField(_("code"), max_length=15)
    path = models.CharField(_("path"), max_length=15)
    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    is_active = models.BooleanField(_("active"), default=True)
    # GeoJSON geometry (Polygon or MultiPolygon) in WGS-84, with its bounding box and centroid
    # kept in plain columns so that map windows and spatial prefilters need no geometry engine.
    boundary = models.JSONField(_("boundary"), null=True, blank=True)
    min_lng = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_lng = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)
    centroid_lng = models.FloatField(_("centroid longitude"), null=True, blank=True)
    centroid_lat = models.FloatField(_("centroid latitude"), null=True, blank=True)
    area_m2 = models.FloatField(_("area (m²)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    audit_exclude = ("boundary", "updated_at")

    class Meta:
        verbose_name = _("division")
        verbose_name_plural = _("divisions")
        ordering: ClassVar = ["path"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["code"], condition=Q(is_active=True), name="geo_division_active_code"
            ),
            models.UniqueConstraint(
                fields=["path"], condition=Q(is_active=True), name="geo_division_active_path"
            ),
        ]
        indexes: ClassVar = [
            models.Index(fields=["path"], name="geo_division_path"),
            models.Index(fields=["level", "path"], name="geo_division_level_path"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def is_grid(self) -> bool:
        return self.level == Level.GRID

    def ancestors(self) -> list[Division]:
        """Ancestors from the root down, following parent links (at most five)."""
        chain: list[Division] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))


class DivisionCodeChange(models.Model):
    """A renumbering (区划调整): the division keeps its key, its code and path change."""

    division = models.ForeignKey(
        Division, verbose_name=_("division"), on_delete=models.CASCADE, related_name="code_changes"
    )
    old_code = models.CharField(_("old code"), max_length=15)
    new_code = models.CharField(_("new code"), max_length=15)
    changed_at = models.DateTimeField(_("changed at"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("code change")
        verbose_name_plural = _("code changes")
        ordering: ClassVar = ["-changed_at"]

    def __str__(self) -> str:
        return f"{self.old_code} → {self.new_code}"


class GridQuerySet(ScopedQuerySet):
    def with_sizing(self) -> GridQuerySet:
        from .sizing import annotate_sizing

        return annotate_sizing(self)


class Grid(Scoped):
    """Attributes of a grid-level division (网格)."""

    scope_data_class = "geo"
    scope_path_field = "division__path"

    division = models.OneToOneField(
        Division,
        verbose_name=_("division"),
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="grid",
    )
    kind = models.CharField(
        _("kind"), max_length=10, choices=GridKind.choices, default=GridKind.GENERAL
    )
    dedicated_type = models.CharField(
        _("dedicated type"), max_length=12, choices=DedicatedType.choices, blank=True
    )
    setting = models.CharField(_("setting"), max_length=5, choices=Setting.choices)
    households = models.PositiveIntegerField(_("households"), null=True, blank=True)
    residents = models.PositiveIntegerField(_("residents"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    audit_exclude = ("updated_at",)

    objects = models.Manager.from_queryset(GridQuerySet)()  # type: ignore[misc, assignment]

    class Meta:
        verbose_name = _("grid")
        verbose_name_plural = _("grids")

    def __str__(self) -> str:
        return str(self.division)


class CoverageIssue(Scoped):
    """A gap or overlap among the grids of one community, found by the coverage check."""

    scope_data_class = "geo"

    parent = models.ForeignKey(
        Division, verbose_name=_("community"), on_delete=models.CASCADE, related_name="+"
    )
    division_path = models.CharField(max_length=15, db_index=True)
    kind = models.CharField(_("kind"), max_length=12, choices=CoverageKind.choices)
    grid_a = models.ForeignKey(
        Division, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    grid_b = models.ForeignKey(
        Division, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    area_m2 = models.FloatField(_("area (m²)"), default=0)
    geometry = models.JSONField(_("geometry"), null=True, blank=True)
    found_at = models.DateTimeField(_("found at"), auto_now_add=True)

    class Meta:
        verbose_name = _("coverage issue")
        verbose_name_plural = _("coverage issues")
        ordering: ClassVar = ["division_path", "kind"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} @ {self.parent.code}"


class CoverageCheck(Scoped):
    """When the grids of a community were last checked for gaps and overlaps."""

    scope_data_class = "geo"

    division = models.OneToOneField(
        Division, on_delete=models.CASCADE, primary_key=True, related_name="coverage_check"
    )
    division_path = models.CharField(max_length=15, db_index=True)
    checked_at = models.DateTimeField(_("checked at"))
    boundary_version = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("coverage check")

    def __str__(self) -> str:
        return f"{self.division_id} @ {self.checked_at:%Y-%m-%d %H:%M}"


class Placed(Scoped):
    """Abstract base for rows that belong to a place: scoped by the copied division path."""

    division = models.ForeignKey(
        Division, verbose_name=_("division"), on_delete=models.PROTECT, related_name="+"
    )
    division_path = models.CharField(_("division path"), max_length=15, db_index=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        # The path is derived from the division and must never drift from it.
        if self.division_id and (
            not self.division_path or self.division_path != self.division.path
        ):
            self.division_path = self.division.path
        super().save(*args, **kwargs)
