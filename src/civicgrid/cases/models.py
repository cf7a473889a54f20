"""Cases (事件), their timeline and attachments.

Every change of a case is an action (actions.py) that appends a CaseStep; the steps are never
rewritten. `version` rises with every action, so two people acting on the same case at once
cannot silently overwrite each other: the second gets a conflict.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.catalog.choices import Priority
from civicgrid.core.models import AppendOnly
from civicgrid.geo.models import Placed

from .choices import AttachmentKind, Channel, SlaState, Status


class Case(Placed):
    scope_data_class = "case"

    number = models.CharField(pgettext_lazy("case", "number"), max_length=24, unique=True)
    category = models.ForeignKey(
        "catalog.CaseCategory",
        on_delete=models.PROTECT,
        related_name="cases",
        verbose_name=_("category"),
    )
    priority = models.PositiveSmallIntegerField(
        _("priority"), choices=Priority.choices, default=Priority.NORMAL
    )
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"))
    extra = models.JSONField(_("category details"), default=dict, blank=True)
    # Where: a point (WGS-84) located in a grid, and/or an address.
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    grid = models.ForeignKey(
        "geo.Division",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("grid"),
    )
    # Who and how it came in.
    channel = models.CharField(_("channel"), max_length=12, choices=Channel.choices)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="reported_cases",
        verbose_name=_("reported by"),
    )
    reporter_name = models.CharField(_("reporter's name"), max_length=60, blank=True)
    # A caller's phone: SM4-GCM encrypted, with a keyed blind index for exact lookup.
    reporter_phone_enc = models.TextField(blank=True)
    reporter_phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    client_uuid = models.UUIDField(_("client UUID"), null=True, blank=True, unique=True)
    body_hash = models.CharField(max_length=64, blank=True)
    # Who has it now: exactly one owning unit; co-handlers in joint handling.
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.REPORTED
    )
    owner_unit = models.ForeignKey(
        "accounts.Unit",
        on_delete=models.PROTECT,
        related_name="owned_cases",
        verbose_name=_("owning unit"),
    )
    centre = models.ForeignKey(
        "accounts.Unit",
        on_delete=models.PROTECT,
        related_name="centre_cases",
        verbose_name=_("responsible centre"),
    )
    handler_unit = models.ForeignKey(
        "accounts.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("lead handling unit"),
    )
    co_units = models.ManyToManyField(
        "accounts.Unit", blank=True, related_name="co_handled_cases", verbose_name=_("co-handlers")
    )
    checker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="checks",
        verbose_name=_("on-site checker"),
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    # Time limits: the current stage's deadline and yellow mark, and each stage's deadline.
    stage = models.CharField(_("stage"), max_length=8, blank=True)
    stage_started_at = models.DateTimeField(null=True, blank=True)
    stage_due = models.DateTimeField(_("due"), null=True, blank=True, db_index=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(
        _("time limit"), max_length=8, choices=SlaState.choices, default=SlaState.NONE
    )
    accept_due = models.DateTimeField(_("accept by"), null=True, blank=True)
    handle_due = models.DateTimeField(_("handle by"), null=True, blank=True)
    check_due = models.DateTimeField(_("check by"), null=True, blank=True)
    steps_due = models.JSONField(_("staged limits"), default=list, blank=True)
    # The earliest staged limit before the stage's last that is neither reported done nor
    # urged yet: what the sweep looks for (few cases have staged limits; see the index).
    next_step_due = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(_("suspended since"), null=True, blank=True)
    # Supervision and history counters.
    supervised = models.BooleanField(_("under formal supervision"), default=False)
    supervised_by = models.ForeignKey(
        "accounts.Unit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("supervised by"),
    )
    urge_count = models.PositiveSmallIntegerField(_("times urged"), default=0)
    return_count = models.PositiveSmallIntegerField(_("times returned"), default=0)
    rework_count = models.PositiveSmallIntegerField(_("failed checks"), default=0)
    self_resolved = models.BooleanField(_("self-resolved on the spot"), default=False)
    # For assessment (insights): whether any stage ran past its limit, and the working time
    # from dispatch to the handling unit's report, less suspensions (set when it reports back).
    ever_overdue = models.BooleanField(_("ran overdue"), default=False)
    handling_minutes = models.PositiveIntegerField(
        _("handling time (working minutes)"), null=True, blank=True
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duplicates",
        verbose_name=_("merged into"),
    )
    satisfaction = models.PositiveSmallIntegerField(_("satisfaction (1–5)"), null=True, blank=True)
    # Milestones.
    reported_at = models.DateTimeField(_("reported at"), db_index=True)
    registered_at = models.DateTimeField(_("registered at"), null=True, blank=True)
    dispatched_at = models.DateTimeField(_("dispatched at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    audit_exclude = ("reporter_phone_enc", "reporter_phone_index", "updated_at", "body_hash")

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering: ClassVar = ["-reported_at", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["division_path", "status"], name="cases_path_status"),
            models.Index(fields=["owner_unit", "status"], name="cases_owner_status"),
            models.Index(fields=["status", "stage_due"], name="cases_status_due"),
            models.Index(fields=["category", "reported_at"], name="cases_category_time"),
            models.Index(fields=["lat", "lng"], name="cases_point"),
            models.Index(
                fields=["next_step_due"],
                name="cases_next_step_due",
                condition=Q(next_step_due__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"

    @classmethod
    def extra_scope_q(cls, user: Any, action: str) -> Q | None:
        """Beyond the subtree: a department sees the cases its unit handles or co-handles,
        and anyone sees the cases they reported."""
        from civicgrid.accounts.roles import Role

        q = Q(reporter=user)
        units = [
            unit_id
            for role, _path, unit_id in user.assignment_triples()
            if role == Role.DEPARTMENT_HANDLER and unit_id
        ]
        if units:
            co_handled = Case.co_units.through.objects.filter(unit_id__in=units).values("case_id")
            # The lead unit keeps seeing a case it handled after handing it back to the centre.
            q |= Q(owner_unit_id__in=units) | Q(handler_unit_id__in=units) | Q(pk__in=co_handled)
        return q


class CaseCounter(models.Model):
    """The last sequence number used for a year and division prefix (readable numbers)."""

    year = models.PositiveSmallIntegerField()
    prefix = models.CharField(max_length=12)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["year", "prefix"], name="cases_counter_unique")
        ]

    def __str__(self) -> str:
        return f"{self.year}{self.prefix}:{self.last}"


class CaseStep(AppendOnly):
    """One accountable step on a case's timeline: who, when, from which state to which."""

    scope_data_class = "case"
    scope_path_field = "case__division_path"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps")
    seq = models.PositiveIntegerField()
    action = models.CharField(_("action"), max_length=20)
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("by"),
    )
    actor_name = models.CharField(_("by"), max_length=150)
    unit = models.ForeignKey(
        "accounts.Unit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("unit"),
    )
    note = models.TextField(_("note"), blank=True)
    data = models.JSONField(default=dict, blank=True)
    time = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        verbose_name = _("case step")
        verbose_name_plural = _("case timeline")
        ordering: ClassVar = ["case", "seq"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["case", "seq"], name="cases_step_seq")
        ]

    def __str__(self) -> str:
        return f"{self.case_id}#{self.seq} {self.action}"


class Attachment(models.Model):
    """A photo (re-encoded, location stripped) or document attached to a case or a step."""

    scope_data_class = "case"
    scope_path_field = "case__division_path"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    step = models.ForeignKey(
        CaseStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=AttachmentKind.choices)
    file = models.FileField(_("file"), upload_to="cases/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(max_length=60)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    client_uuid = models.UUIDField(null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering: ClassVar = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name
