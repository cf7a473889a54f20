"""Background work of the field app, run by the task worker (`civicgrid worker`)."""

from __future__ import annotations

from django_tasks import task

from civicgrid.core.context import work_context

from . import uploads


@task()
def purge_uploads() -> dict[str, int]:
    """Remove photo uploads never completed or never used after CIVICGRID_FIELD_UPLOAD_DAYS,
    and part files no longer needed; queued by the workers' scheduler (core/schedule.py) every
    CIVICGRID_FIELD_PURGE_SECONDS. Idempotent."""
    with work_context():
        result = uploads.purge()
    return {"uploads": result.uploads, "files": result.files}
