from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.roles import Role

# Who records field work: grid workers and grid leaders, at a grid.
FIELD_ROLES = frozenset({Role.GRID_WORKER, Role.GRID_LEADER})


class ReceiptKind(models.TextChoices):
    """What a client UUID stood for when the server took it in."""

    CASE = "case", _("case report")
    VISIT = "visit", _("visit")
    PATROL = "patrol", _("patrol")
    CHECK_IN = "check_in", _("check-in")
    RESIDENT = "resident", _("resident record")


class VisitPurpose(models.TextChoices):
    CARE = "care", _("care visit")  # 关爱走访: a care-group member
    HOUSEHOLD = "household", _("household visit")  # 入户走访
    MEDIATION = "mediation", _("dispute mediation")  # 矛盾调解
    INFORMATION = "information", _("information collection")  # 信息采集
    OTHER = "other", _("other")
