"""The grid sizing norm (DOMAIN.md §2), as one SQL expression so that pages, API filters and
reports count the same grids.

- dedicated grids are exempt (a school has no households);
- a grid without a household count is unknown;
- too large: more households than the maximum, or more residents than the maximum;
- too small: fewer households than the minimum — except a rural grid that is its village's only
  general grid, because a village is at least one grid however small it is (a school or an
  industrial park drawn as a dedicated grid inside the village does not make it two).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import Case, Count, IntegerField, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce

from .choices import GridKind, Setting, SizingStatus

if TYPE_CHECKING:
    from .models import GridQuerySet


def norm(setting: str) -> dict[str, int]:
    return dict(settings.GRID_SIZING[setting])


def annotate_sizing(qs: GridQuerySet) -> GridQuerySet:
    from .models import Grid

    siblings = (
        Grid.objects.filter(
            division__parent=OuterRef("division__parent"),
            division__is_active=True,
            kind=GridKind.GENERAL,
        )
        .order_by()
        .values("division__parent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    qs = qs.annotate(
        sibling_grids=Coalesce(Subquery(siblings, output_field=IntegerField()), Value(1))
    )
    urban, rural = norm(Setting.URBAN), norm(Setting.RURAL)

    def over(setting: str, limits: dict[str, int]) -> Q:
        return Q(setting=setting) & (
            Q(households__gt=limits["max_households"]) | Q(residents__gt=limits["max_residents"])
        )

    return qs.annotate(
        sizing=Case(
            When(kind=GridKind.DEDICATED, then=Value(SizingStatus.EXEMPT.value)),
            When(households__isnull=True, then=Value(SizingStatus.UNKNOWN.value)),
            When(over(Setting.URBAN, urban), then=Value(SizingStatus.OVER.value)),
            When(over(Setting.RURAL, rural), then=Value(SizingStatus.OVER.value)),
            When(
                Q(setting=Setting.URBAN, households__lt=urban["min_households"]),
                then=Value(SizingStatus.UNDER.value),
            ),
            When(
                Q(
                    setting=Setting.RURAL,
                    households__lt=rural["min_households"],
                    sibling_grids__gt=1,
                ),
                then=Value(SizingStatus.UNDER.value),
            ),
            default=Value(SizingStatus.OK.value),
        )
    )
