from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    REPORTED = "reported", _("reported")
    REGISTERED = "registered", _("registered (filed)")
    VOIDED = "voided", _("voided (not filed)")
    DISPATCHED = "dispatched", _("dispatched")
    ACCEPTED = "accepted", _("accepted")
    IN_PROGRESS = "in_progress", _("in progress")
    SUSPENDED = "suspended", _("suspended")
    HANDLED = "handled", _("handled (fed back)")
    CHECKING = "checking", _("checking on site")
    CLOSED = "closed", _("closed")
    EVALUATED = "evaluated", _("evaluated")
    MERGED = "merged", _("merged as duplicate")


TERMINAL = frozenset({Status.VOIDED, Status.EVALUATED, Status.MERGED})
# Cases whose clock runs (the sweep looks only at these).
OPEN = frozenset(
    {
        Status.REPORTED,
        Status.REGISTERED,
        Status.DISPATCHED,
        Status.ACCEPTED,
        Status.IN_PROGRESS,
        Status.SUSPENDED,
        Status.HANDLED,
        Status.CHECKING,
    }
)


class Channel(models.TextChoices):
    GRID_APP = "grid_app", _("grid worker")
    CITIZEN = "citizen", _("citizen report")
    HOTLINE = "hotline", _("12345 hotline transfer")
    CENTRE = "centre", _("centre (walk-in or phone)")
    DEPARTMENT = "department", _("department")
    HIGHER = "higher", _("assigned by a higher level")
    SENSOR = "sensor", _("sensor or video")


class SlaState(models.TextChoices):
    NONE = "none", _("no time limit")
    NORMAL = "normal", _("on time")
    YELLOW = "yellow", _("due soon")
    RED = "red", _("overdue")


class AttachmentKind(models.TextChoices):
    PHOTO = "photo", _("photo")
    DOCUMENT = "document", _("document")
