"""The change feed of shared data ("collect once, use many").

Every registry write appends a FeedEntry. `seq` is handed out from one counter row that the
writing transaction locks until it commits, so entries become visible in `seq` order: a reader
resuming after cursor N can never miss an entry N' < M that commits after it read M (the gap
that plain auto-increment ids leave under concurrent writers).
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _


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
    # The record after the change, masked (never a clear ID or phone number).
    data = models.JSONField(_("data"), default=dict)

    class Meta:
        verbose_name = _("change")
        verbose_name_plural = _("changes")
        ordering: ClassVar = ["seq"]
        indexes: ClassVar = [models.Index(fields=["record_type", "seq"])]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.record_type}:{self.object_id}"
