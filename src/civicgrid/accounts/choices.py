from django.db import models
from django.utils.translation import gettext_lazy as _


class UnitKind(models.TextChoices):
    CENTRE = "centre", _("governance centre")
    DEPARTMENT = "department", _("department")
    SOCIAL_ORG = "social_org", _("social organisation")
