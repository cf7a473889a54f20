from django.db import models
from django.utils.translation import gettext_lazy as _


class Stage(models.TextChoices):
    ACCEPT = "accept", _("accept (签收)")
    HANDLE = "handle", _("handle (处置)")
    CHECK = "check", _("check (核查)")


class LimitUnit(models.TextChoices):
    WORKING_HOURS = "working_hours", _("working hours")
    WORKING_DAYS = "working_days", _("working days")
    URGENT_HOURS = "urgent_hours", _("urgent (calendar) hours")


class Priority(models.IntegerChoices):
    LOW = 1, _("low")
    NORMAL = 2, _("normal")
    HIGH = 3, _("high")
    URGENT = 4, _("urgent")


class TaskClass(models.TextChoices):
    """The seven classes of the grid task list (DOMAIN.md §4)."""

    BASIC_INFORMATION = "basic_information", _("basic information collection")
    PUBLIC_OPINION = "public_opinion", _("public-opinion collection")
    SAFETY_HAZARD = "safety_hazard", _("safety-hazard inspection")
    DISPUTE = "dispute", _("conflict and dispute mediation")
    PSYCHOLOGICAL = "psychological", _("social-psychological services")
    LEGAL_PUBLICITY = "legal_publicity", _("legal publicity")
    PUBLIC_SERVICE = "public_service", _("public-service agency")


class DayKind(models.TextChoices):
    HOLIDAY = "holiday", _("public holiday (day off)")
    WORKDAY = "workday", _("swapped working day (调休)")
