"""The change feed of shared data ("collect once, use many").

Every registry write appends a FeedEntry. `seq` is handed out from one counter row that the
writing transaction locks until it commits, so entries become visible in `seq` order: a reader
resuming after cursor N can never miss an entry N' < M that commits after it read M (the gap
that plain auto-increment ids leave under concurrent writers).
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.accounts.roles import Role
from civicgrid.core.scoping import Scoped


class FeedCounter(models.Model):
    key = models.CharField(max_length=20, primary_key=True)
    last = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.key}@{self.last}"


class FeedEntry(models.Model):
    seq = models.BigIntegerField(_("sequence"), unique=True)
    time = models.DateTimeField(_("time"), auto_now_add=True)
    record_type = models.CharField(_("record type"), max_length=20)
    object_id = models.BigIntegerField(_("object id"))
    action = models.CharField(_("action"), max_length=20)
    # Names of the fields that changed and the field classes they belong to (exchange/fields.py).
    fields = models.JSONField(_("fields"), default=list)
    field_classes = models.JSONField(_("field classes"), default=list)
    division_path = models.CharField(_("division path"), max_length=15)
    # Where the record was before a move (empty otherwise): a subscriber whose area it leaves
    # learns that it left, and one whose area it enters receives the whole record.
    previous_path = models.CharField(_("previous division path"), max_length=15, blank=True)
    # The record after the change, masked (never a clear ID or phone number).
    data = models.JSONField(_("data"), default=dict)

    class Meta:
        verbose_name = _("change")
        verbose_name_plural = _("changes")
        ordering: ClassVar = ["seq"]
        indexes: ClassVar = [models.Index(fields=["record_type", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.record_type}:{self.object_id}"


class Subscription(Scoped):
    """A unit's subscription to the change feed (一次采集、多方使用): which record types and
    field classes it receives, from which division subtree, and optionally where they are
    pushed (a webhook, signed with a secret that is stored encrypted and shown only once).

    Placed at the subtree it covers, so the system administrators of that area manage it; the
    handlers of the subscribing unit see it too (read-only), through `extra_scope_q`."""

    scope_data_class = "exchange"
    scope_path_field = "division_path"

    unit = models.ForeignKey(
        "accounts.Unit",
        verbose_name=_("subscribing unit"),
        on_delete=models.PROTECT,
        related_name="subscriptions",
    )
    name = models.CharField(_("name"), max_length=80, blank=True)
    record_types = models.JSONField(_("record types"), default=list)
    field_classes = models.JSONField(_("field classes"), default=list)
    division = models.ForeignKey(
        "geo.Division", verbose_name=_("area"), on_delete=models.PROTECT, related_name="+"
    )
    division_path = models.CharField(_("division path"), max_length=15, db_index=True)
    webhook_url = models.CharField(_("webhook URL"), max_length=500, blank=True)
    secret_enc = models.TextField(blank=True)
    # The first characters of the secret, so that both sides can tell which one is in use.
    secret_hint = models.CharField(_("secret starts with"), max_length=12, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    paused = models.BooleanField(_("delivery paused"), default=False)
    created_by = models.ForeignKey(
        "accounts.User",
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    audit_exclude = ("secret_enc", "updated_at")

    class Meta:
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        ordering: ClassVar = ["division_path", "unit_id", "id"]

    def __str__(self) -> str:
        return self.name or f"#{self.pk}"

    @classmethod
    def extra_scope_q(cls, user: Any, action: str) -> models.Q | None:
        """A department's handlers see their own unit's subscriptions (never change them)."""
        if action != "view":
            return None
        units = [
            u for role, _p, u in user.assignment_triples() if role == Role.DEPARTMENT_HANDLER and u
        ]
        return models.Q(unit_id__in=units) if units else None


class Delivery(models.Model):
    """Where a subscription's webhook stands: the last feed sequence the receiver acknowledged
    with a 2xx, and the retry state of the batch after it. Changed by the delivery worker
    (exchange/webhooks.py) under a short lease, so any number of workers may run."""

    subscription = models.OneToOneField(
        Subscription,
        verbose_name=_("subscription"),
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="delivery",
    )
    delivered_seq = models.BigIntegerField(_("delivered up to"), default=0)
    delivered_total = models.PositiveBigIntegerField(_("changes delivered"), default=0)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last delivered"), null=True, blank=True)
    last_status = models.PositiveSmallIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    stuck = models.BooleanField(_("stuck"), default=False)
    lease = models.CharField(max_length=32, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.subscription_id}@{self.delivered_seq}"
