from __future__ import annotations

from django_tasks import task

from .jobs import run_job


@task()
def run_import(job_id: int) -> str:
    """Run a queued import job."""
    return run_job(job_id).status


@task()
def send_sms(phone: str, text: str) -> None:
    """Deliver one SMS through the configured backend."""
    from .sms import backend

    backend().send(phone, text)
