"""Background work of the registry (django-tasks): large exports. Imports run as core import
jobs (core.tasks.run_import), with the registry's importers registered in apps.py."""

from __future__ import annotations

from django_tasks import task

from .exporting import run_export_job


@task()
def run_export(job_id: int) -> str:
    """Write a queued export's file."""
    return run_export_job(job_id).status
