"""Pre-aggregated case counters, kept in step with the case table by the task worker.

Two grains, chosen by measurement (see bench/RESULTS.md), each one row per month a case was
reported (local time) and per area (a prefix of the case's division path; a case placed above
the grain's level keeps its shorter path):

- CaseRollup: township (nine digits) × major category. A day × township grain is nearly as
  large as the case table at a province's density (a township sees a handful of cases a day);
  a month × township × major class is 15–20× smaller and answers every figure of whole months
  for an area at township level or above, by category included.
- CommunityRollup: community (twelve digits), no category. A township's dashboard lists its
  communities, and a community centre reads its own figures; counted live, either read a
  township's cases from the case table on every view (about 90 ms at p95 over 10 M cases).
  Without the category it stays about 14× smaller than the case table.

Days, weeks, the edges of a custom period, minor categories and finer areas (a grid, a person,
a unit) hold few cases and are answered live. Both grains are recomputed together, per
township-month (the dirty mark's grain), so they cannot disagree with each other.

Counters are the ones kpis.COUNTERS defines, computed by the same expressions as the live
query, so a rebuilt bucket and a live count cannot disagree.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

AREA_LENGTH = 9  # a township's path (geo.choices.PATH_LENGTH[TOWNSHIP])
COMMUNITY_LENGTH = 12  # a community's path (geo.choices.PATH_LENGTH[COMMUNITY])


class Counters(models.Model):
    """The counters of kpis.COUNTERS, one column each."""

    reported = models.PositiveIntegerField(default=0)
    filed = models.PositiveIntegerField(default=0)
    voided = models.PositiveIntegerField(default=0)
    merged = models.PositiveIntegerField(default=0)
    dispatched = models.PositiveIntegerField(default=0)
    responded = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    closed_on_time = models.PositiveIntegerField(default=0)
    deferred = models.PositiveIntegerField(default=0)
    open = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    returned = models.PositiveIntegerField(default=0)
    reworked = models.PositiveIntegerField(default=0)
    self_resolved = models.PositiveIntegerField(default=0)
    handled = models.PositiveIntegerField(default=0)
    handling_minutes = models.BigIntegerField(default=0)
    evaluated = models.PositiveIntegerField(default=0)
    satisfied = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class CaseRollup(Counters):
    month = models.DateField(_("month"))  # its first day
    area = models.CharField(_("area"), max_length=AREA_LENGTH)
    category = models.ForeignKey(  # the major class
        "catalog.CaseCategory", on_delete=models.CASCADE, related_name="+"
    )

    class Meta:
        verbose_name = _("case rollup")
        verbose_name_plural = _("case rollups")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["area", "month", "category"], name="insights_bucket")
        ]
        indexes: ClassVar = [
            models.Index(fields=["month", "area"], name="insights_rollup_month"),
            # Figures select a subtree by prefix (`area LIKE '3701%'`). PostgreSQL uses a plain
            # btree for that only under the "C" collation, so without this pattern index a
            # township's year read all 577 k rows of a province (125 ms instead of 1 ms).
            # (SQLite ignores the opclasses.)
            models.Index(
                fields=["area", "month"],
                name="insights_rollup_area_prefix",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.area} {self.category_id}"


class CommunityRollup(Counters):
    month = models.DateField(_("month"))  # its first day
    area = models.CharField(_("area"), max_length=COMMUNITY_LENGTH)

    class Meta:
        verbose_name = _("community rollup")
        verbose_name_plural = _("community rollups")
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["area", "month"], name="insights_community_bucket")
        ]
        indexes: ClassVar = [
            # A refresh replaces a month's rows of some townships (`substr(area, 1, 9) IN …`).
            models.Index(fields=["month", "area"], name="insights_community_month"),
            # The prefix index, as CaseRollup's (a township's communities: `area LIKE …%`).
            models.Index(
                fields=["area", "month"],
                name="insights_community_prefix",
                opclasses=["varchar_pattern_ops", "date_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.area}"


class RollupDirty(models.Model):
    """A township-month whose counters a case action changed and the worker has not
    recomputed yet. Not unique on purpose: the refresher deletes exactly the rows it read, so a
    mark that commits while it works survives for the next run (see rollup.refresh)."""

    month = models.DateField()
    area = models.CharField(max_length=AREA_LENGTH)

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.area}"


class RollupMark(models.Model):
    """One row: held (row lock) by the one refresher at work, and when it last finished."""

    key = models.CharField(max_length=20, primary_key=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.key
