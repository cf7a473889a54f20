"""Grid workers' duty records from the field app (DOMAIN.md §6): visits (走访), patrols (巡查)
with their GPS track, check-ins (签到), the photos that come with them, and the receipts that
make every submission from a phone idempotent.

A phone gives each record and each photo a client UUID before it leaves the outbox. The server
writes the record and its `Receipt` in one transaction and answers only after the commit, so a
retry after a lost answer — or after the server was killed — finds the receipt and gets the
original answer back, and the same UUID with a different body is a conflict.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from civicgrid.core.scoping import Scoped
from civicgrid.geo.models import Placed

from .choices import ReceiptKind, VisitPurpose


class Receipt(models.Model):
    """One per client UUID taken in: what it was, a hash of its body, and the answer given."""

    uuid = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=12, choices=ReceiptKind.choices)
    body_hash = models.CharField(max_length=64)
    object_id = models.BigIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(default=201)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")

    def __str__(self) -> str:
        return f"{self.kind} {self.uuid}"


class Upload(models.Model):
    """A photo on its way from a phone, sent in chunks that can resume after a broken
    connection. Bytes live in a part file under MEDIA_ROOT until the upload is complete; a
    record then takes the photo (re-encoded, location stripped) by its UUID."""

    uuid = models.UUIDField(primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(_("file name"), max_length=200)
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64, blank=True)
    received = models.PositiveIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("upload")
        verbose_name_plural = _("uploads")

    def __str__(self) -> str:
        return f"{self.name} ({self.received}/{self.size})"


class Duty(Placed):
    """What visits, patrols and check-ins share: the grid worker, their grid, the client UUID."""

    scope_data_class = "field"

    worker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("grid worker"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    client_uuid = models.UUIDField(unique=True)
    note = models.TextField(_("note"), blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        abstract = True


class Visit(Duty):
    """A visit (走访) to a household or a resident, care-group members above all."""

    purpose = models.CharField(_("purpose"), max_length=12, choices=VisitPurpose.choices)
    visited_at = models.DateTimeField(_("visited at"), db_index=True)
    household = models.ForeignKey(
        "registry.Household",
        verbose_name=_("household"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    resident = models.ForeignKey(
        "registry.Resident",
        verbose_name=_("resident"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    care_tag = models.ForeignKey(
        "registry.CareTag",
        verbose_name=_("care group"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering: ClassVar = ["-visited_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["division_path", "visited_at"])]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} {self.visited_at:%Y-%m-%d}"


class Patrol(Duty):
    """A patrol (巡查): start, stop and the GPS track in between, as [lat, lng, unix seconds]."""

    started_at = models.DateTimeField(_("started at"), db_index=True)
    ended_at = models.DateTimeField(_("ended at"))
    minutes = models.PositiveIntegerField(_("minutes"))
    distance_m = models.PositiveIntegerField(_("distance (m)"), default=0)
    track = models.JSONField(_("track"), default=list)

    class Meta:
        verbose_name = _("patrol")
        verbose_name_plural = _("patrols")
        ordering: ClassVar = ["-started_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["division_path", "started_at"])]

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} ({self.minutes} min)"


class CheckIn(Duty):
    """A check-in (签到) at a position: inside the worker's grid or not, as located."""

    at = models.DateTimeField(_("time"), db_index=True)
    lat = models.FloatField(_("latitude"))
    lng = models.FloatField(_("longitude"))
    accuracy_m = models.PositiveIntegerField(_("accuracy (m)"), null=True, blank=True)
    inside_grid = models.BooleanField(_("inside the grid"), default=False)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        ordering: ClassVar = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M}"


class DutyPhoto(Scoped):
    """A photo of a visit or a patrol (case photos are case attachments)."""

    scope_data_class = "field"

    visit = models.ForeignKey(
        Visit, null=True, blank=True, on_delete=models.CASCADE, related_name="photos"
    )
    patrol = models.ForeignKey(
        Patrol, null=True, blank=True, on_delete=models.CASCADE, related_name="photos"
    )
    division_path = models.CharField(max_length=15, db_index=True)
    client_uuid = models.UUIDField(unique=True)
    file = models.FileField(_("file"), upload_to="field/%Y/%m/")
    size = models.PositiveIntegerField(_("size"))
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering: ClassVar = ["created_at", "id"]
        constraints: ClassVar = [
            models.CheckConstraint(
                condition=models.Q(visit__isnull=False) | models.Q(patrol__isnull=False),
                name="fieldwork_photo_has_owner",
            )
        ]

    def __str__(self) -> str:
        return str(self.client_uuid)
