"""Background imports: a registry of importers by kind, the action that queues a job and the
runner the task worker calls. Pages and the API poll the job's status and report."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .audit import record_change
from .context import work_context
from .importing import ImportReport, ProgressFn
from .models import ChangeKind, ImportJob, JobStatus

Runner = Callable[[list[tuple[str, bytes]], Any, dict[str, Any], ProgressFn], ImportReport]

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
MAX_ZIP_ENTRIES = 200_000


@dataclass(frozen=True)
class Importer:
    kind: str
    label: Any
    runner: Runner
    extensions: tuple[str, ...]
    data_class: str = "import"


_IMPORTERS: dict[str, Importer] = {}


def register(importer: Importer) -> None:
    _IMPORTERS[importer.kind] = importer


def importers() -> dict[str, Importer]:
    return dict(_IMPORTERS)


def kind_choices(data_class: str = "import") -> list[tuple[str, Any]]:
    """The importers of one data class: the division and boundary page lists those of
    "import", the registry's import page those of "registry"."""
    return [(i.kind, i.label) for i in _IMPORTERS.values() if i.data_class == data_class]


def read_files(name: str, raw: bytes) -> list[tuple[str, bytes]]:
    """A file as (name, bytes) pairs; a ZIP archive yields its members (one file per feature
    set, e.g. one boundary per file named by its code)."""
    if not name.lower().endswith(".zip"):
        return [(name, raw)]
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
    except zipfile.BadZipFile as exc:
        raise ValidationError({"file": _("The ZIP archive is damaged.")}) from exc
    members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__")]
    if len(members) > MAX_ZIP_ENTRIES:
        raise ValidationError({"file": _("The archive holds too many files.")})
    if sum(m.file_size for m in members) > MAX_UPLOAD_BYTES * 4:
        raise ValidationError({"file": _("The archive unpacks to more than the allowed size.")})
    return [(m.filename.rsplit("/", 1)[-1], archive.read(m)) for m in members]


def do_create_import_job(
    *, actor: Any, kind: str, upload: UploadedFile, options: dict[str, Any] | None = None
) -> ImportJob:
    importer = _IMPORTERS.get(kind)
    if importer is None:
        raise ValidationError({"kind": _("Unknown kind of import.")})
    paths = actor.scope_paths(importer.data_class, "change") if actor is not None else None
    if paths is not None and not paths:
        raise PermissionDenied(_("You may not import data."))
    if upload is None:
        raise ValidationError({"file": _("Choose a file.")})
    name = upload.name or "upload"
    if not name.lower().endswith(importer.extensions):
        raise ValidationError(
            {
                "file": _("Expected a file ending in %(ext)s.")
                % {"ext": ", ".join(importer.extensions)}
            }
        )
    if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
        raise ValidationError({"file": _("The file is larger than 200 MB.")})
    with transaction.atomic():
        job = ImportJob(
            kind=kind,
            original_name=name[:255],
            options=dict(options or {}),
            created_by=actor,
            division_path=(paths[0] if paths else ""),
        )
        job.file.save(name, upload, save=False)
        job.save()
        record_change(job, ChangeKind.CREATE, actor=actor, action="queue_import")
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def do_repeat_import_job(job: ImportJob, *, actor: Any, options: dict[str, Any]) -> ImportJob:
    """Run an already uploaded file again with other options (typically: for real, after a
    dry run), without uploading it a second time."""
    importer = _IMPORTERS.get(job.kind)
    if importer is None:
        raise ValidationError({"kind": _("Unknown kind of import.")})
    paths = actor.scope_paths(importer.data_class, "change") if actor is not None else None
    if paths is not None and not any(job.division_path.startswith(p) for p in paths):
        raise PermissionDenied(_("You may not import data."))
    with transaction.atomic():
        again = ImportJob.objects.create(
            kind=job.kind,
            file=job.file.name,
            original_name=job.original_name,
            options={**job.options, **options},
            created_by=actor,
            division_path=job.division_path,
        )
        record_change(again, ChangeKind.CREATE, actor=actor, action="queue_import")
        transaction.on_commit(lambda: _enqueue(again.pk))
    return again


def _enqueue(job_id: int) -> None:
    from .tasks import run_import

    run_import.enqueue(job_id)


def run_job(job_id: int) -> ImportJob:
    """Run a queued job (called by the task worker). Safe to call twice: a finished or running
    job is left alone."""
    with transaction.atomic():
        updated = ImportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING
        )
    job = ImportJob.objects.select_related("created_by").get(pk=job_id)
    if not updated:
        return job
    importer = _IMPORTERS[job.kind]

    def progress(done: int, total: int) -> None:
        # Inside the writing transaction an update would be invisible (and on SQLite would
        # wait for the lock), so progress is reported between phases only.
        if connection.in_atomic_block:
            return
        ImportJob.objects.filter(pk=job.pk).update(progress=done, total=total)

    with work_context():
        try:
            with job.file.open("rb") as handle:
                files = read_files(job.original_name, handle.read())
            report = importer.runner(files, job.created_by, job.options, progress)
        except ValidationError as exc:
            report = ImportReport(fatal="; ".join(exc.messages))
        except Exception as exc:  # the job must end in a state a person can read
            report = ImportReport(fatal=_("The import failed: %(error)s") % {"error": exc})
            _finish(job, JobStatus.FAILED, report)
            raise
    if report.dry_run:
        status = JobStatus.CHECKED
    else:
        status = JobStatus.SUCCEEDED if report.written else JobStatus.REJECTED
    _finish(job, status, report)
    return job


def _finish(job: ImportJob, status: str, report: ImportReport) -> None:
    job.status = status
    job.report = report.as_dict()
    job.progress = job.total = report.total
    job.finished_at = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(
        status=status,
        report=job.report,
        progress=job.progress,
        total=job.total,
        finished_at=job.finished_at,
    )
