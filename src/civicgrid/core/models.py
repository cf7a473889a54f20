"""Audit rows (append-only), cross-process version stamps and background import jobs."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

from .scoping import Scoped, ScopedQuerySet


class AppendOnlyError(RuntimeError):
    pass


class AppendOnlyQuerySet(ScopedQuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit rows are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit rows are append-only")


class AppendOnly(Scoped):
    """Rows that are written once and never changed or removed through the application."""

    scope_data_class = "audit"
    objects = models.Manager.from_queryset(AppendOnlyQuerySet)()  # type: ignore[assignment, misc]

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding or kwargs.get("update_fields"):
            raise AppendOnlyError("audit rows are append-only")
        # Always an INSERT: a new object carrying an existing id would otherwise make Django
        # try an UPDATE first and silently overwrite that row.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit rows are append-only")


class ChangeKind(models.TextChoices):
    CREATE = "create", _("created")
    UPDATE = "update", _("updated")
    DELETE = "delete", _("deleted")


class AuditRecord(AppendOnly):
    """Who touched which object, when, in which request, and where it sits in the tree."""

    time = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True, db_index=True)
    content_type = models.ForeignKey(
        ContentType, verbose_name=_("object type"), on_delete=models.PROTECT, related_name="+"
    )
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    division_path = models.CharField(_("division path"), max_length=15, blank=True)

    class Meta:
        abstract = True

    @classmethod
    def extra_scope_q(cls, user: Any, action: str) -> models.Q | None:
        """Installation-wide records (the catalog, the calendar) belong to no division: the
        audit administrators of a city or province read them."""
        if any(role == "audit_admin" and len(path) <= 4 for role, path in user.assignment_pairs()):
            return models.Q(division_path="")
        return None


class ObjectChange(AuditRecord):
    """One write made through an action: who, when, in which request, before and after."""

    kind = models.CharField(_("kind"), max_length=10, choices=ChangeKind.choices)
    action = models.CharField(_("action"), max_length=64, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        verbose_name = _("object change")
        verbose_name_plural = _("object changes")
        ordering: ClassVar = ["-time", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["content_type", "object_id"]),
            models.Index(fields=["division_path", "time"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.object_repr}"


class AccessLog(AuditRecord):
    """A read of sensitive personal data, with the reason the reader gave."""

    action = models.CharField(_("action"), max_length=64)
    fields = models.JSONField(_("fields"), default=list, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("access log entry")
        verbose_name_plural = _("access log")
        ordering: ClassVar = ["-time", "-id"]
        indexes: ClassVar = [
            models.Index(fields=["content_type", "object_id"]),
            models.Index(fields=["division_path", "time"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"


class VersionStamp(models.Model):
    """A counter in the database that tells every process when in-memory state is stale."""

    key = models.CharField(max_length=64, primary_key=True)
    version = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("version stamp")

    def __str__(self) -> str:
        return f"{self.key}@{self.version}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    RUNNING = "running", _("running")
    SUCCEEDED = "succeeded", _("succeeded")
    CHECKED = "checked", _("checked (dry run, nothing written)")
    REJECTED = "rejected", _("rejected (bad rows, nothing written)")
    FAILED = "failed", _("failed")


class BackgroundJob(models.Model):
    """What every job the task worker runs for a person has: its kind and options, status,
    progress, who asked and when it ended. Pages and the API poll these."""

    kind = models.CharField(_("kind"), max_length=32)
    options = models.JSONField(_("options"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED
    )
    progress = models.PositiveIntegerField(_("progress"), default=0)
    total = models.PositiveIntegerField(_("total"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering: ClassVar = ["-created_at", "-id"]

    @property
    def finished(self) -> bool:
        return self.status not in {JobStatus.QUEUED, JobStatus.RUNNING}


class ImportJob(Scoped, BackgroundJob):
    """An uploaded file imported in the background."""

    scope_data_class = "import"

    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    report = models.JSONField(_("report"), default=dict, blank=True)
    division_path = models.CharField(_("division path"), max_length=15, db_index=True)

    class Meta(BackgroundJob.Meta):
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")

    def __str__(self) -> str:
        return f"{self.kind} {self.original_name}"


class ExportJob(BackgroundJob):
    """A large export written in the background (a registry list, …); only the person who
    asked for it downloads the file, from a page that checks that (exports/ is not served).
    Its options: the list's filters, whether numbers are unmasked (with the reason, which is
    logged), the page language."""

    format = models.CharField(_("format"), max_length=8)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    class Meta(BackgroundJob.Meta):
        verbose_name = _("export job")
        verbose_name_plural = _("export jobs")

    def __str__(self) -> str:
        return f"{self.kind} {self.format} #{self.pk}"


class Notification(models.Model):
    """An entry in a user's in-app inbox (催办, dispatch, supervision…)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="notifications",
        verbose_name=_("user"),
    )
    kind = models.CharField(_("kind"), max_length=20)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering: ClassVar = ["-created_at", "-id"]
        indexes: ClassVar = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.title


class ScheduledJob(models.Model):
    """When a periodic job (the SLA sweep…) is next due. Any number of worker processes share
    this row: the one whose UPDATE … WHERE next_run_at <= now changes it enqueues the job, so
    the job is queued at most once per interval however many workers run (core/schedule.py)."""

    key = models.CharField(_("job"), max_length=64, primary_key=True)
    interval_seconds = models.PositiveIntegerField(_("interval (seconds)"))
    next_run_at = models.DateTimeField(_("next run at"))
    last_run_at = models.DateTimeField(_("last queued at"), null=True, blank=True)
    last_claimed_by = models.CharField(_("last queued by"), max_length=120, blank=True)
    runs = models.PositiveBigIntegerField(_("times queued"), default=0)

    class Meta:
        verbose_name = _("scheduled job")
        verbose_name_plural = _("scheduled jobs")

    def __str__(self) -> str:
        return f"{self.key} every {self.interval_seconds}s"
