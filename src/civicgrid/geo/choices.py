from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Level(models.IntegerChoices):
    PROVINCE = 1, _("province")
    CITY = 2, _("city")
    COUNTY = 3, _("county/district")
    TOWNSHIP = 4, _("township/street")
    COMMUNITY = 5, _("community/village")
    GRID = 6, _("grid")


# Digits of the canonical code and of the path (its significant prefix) at each level.
CODE_LENGTH = {1: 6, 2: 6, 3: 6, 4: 9, 5: 12, 6: 15}
PATH_LENGTH = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12, 6: 15}


class GridKind(models.TextChoices):
    GENERAL = "general", _("general grid")
    DEDICATED = "dedicated", _("dedicated grid")


class DedicatedType(models.TextChoices):
    SCHOOL = "school", _("school")
    HOSPITAL = "hospital", _("hospital")
    PARK = "park", _("park")
    ENTERPRISE = "enterprise", _("enterprise or industrial zone")
    OTHER = "other", _("other")


class Setting(models.TextChoices):
    URBAN = "urban", _("urban")
    RURAL = "rural", _("rural")


class SizingStatus(models.TextChoices):
    OK = "ok", _("within the norm")
    OVER = "over", _("too large")
    UNDER = "under", _("too small")
    EXEMPT = "exempt", _("dedicated (exempt)")
    UNKNOWN = "unknown", _("no household count")


class CoverageKind(models.TextChoices):
    GAP = "gap", _("gap")
    OVERLAP = "overlap", _("overlap")
    NO_BOUNDARY = "no_boundary", _("grid without boundary")
