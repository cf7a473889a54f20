"""Background work through the real task backend: the database queue and a `civicgrid worker`
process, the way `civicgrid serve` and production run it (no immediate backend here)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django_tasks_db.models import DBTaskResult

from civicgrid.core import jobs
from civicgrid.core.models import ImportJob, JobStatus
from civicgrid.geo.models import Division

from .world import build_world

pytestmark = pytest.mark.django_db(transaction=True)

CSV = "code,name,parent_code,level\n371602001003,新建社区,371602001,5\n"


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


def test_import_job_runs_in_a_worker_process(settings, tmp_path):
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    settings.MEDIA_ROOT = str(tmp_path)
    build_world(with_boundaries=False)
    from civicgrid.accounts.models import User

    actor = User.objects.create_superuser("root", password="root-pass-12345")
    job = jobs.do_create_import_job(
        actor=actor,
        kind="divisions",
        upload=SimpleUploadedFile("new.csv", CSV.encode(), content_type="text/csv"),
    )
    # Queued in the database, not run: nothing has happened yet.
    assert DBTaskResult.objects.count() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    assert not Division.objects.filter(code="371602001003").exists()

    env = {**os.environ, "DATABASE_URL": _database_url(), "CIVICGRID_MEDIA_ROOT": str(tmp_path)}
    env.pop("CIVICGRID_TASKS", None)
    result = subprocess.run(
        [sys.executable, "-m", "civicgrid.cli", "db_worker", "--batch", "--no-startup-delay"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    job = ImportJob.objects.get(pk=job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.report
    assert job.report["created"] == 1
    assert Division.objects.filter(code="371602001003", name="新建社区").exists()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"
