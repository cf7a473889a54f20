"""Periodic work for the task workers (django-tasks has no scheduler of its own).

Each `civicgrid worker` process runs a `Scheduler` thread beside the task loop. Every few
seconds it asks, for each periodic job, whether the job is due; the question is one UPDATE
(`… SET next_run_at = now + interval WHERE key = … AND next_run_at <= now`), and only the
process whose UPDATE changed the row enqueues the job. With any number of workers on one
database, a job is therefore queued at most once per interval; the queued task then runs on
whichever worker picks it up. State lives in the database (`ScheduledJob`), so it survives
restarts and needs no leader election.

The jobs themselves must be idempotent (the SLA sweep is): a worker that dies between claiming
and enqueueing loses one run, never doubles one.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import ScheduledJob

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    key: str
    task: str  # dotted path of a django-tasks Task taking no arguments
    interval: Callable[[], int]  # seconds, read on every check so settings apply at once


def _sweep_seconds() -> int:
    return int(settings.SWEEP_SECONDS)


def _webhook_seconds() -> int:
    from civicgrid.exchange.webhooks import interval_seconds

    return interval_seconds()


def _rollup_seconds() -> int:
    return int(settings.ROLLUP_SECONDS)


def _field_purge_seconds() -> int:
    return int(settings.FIELD_PURGE_SECONDS)


def _scorecard_seconds() -> int:
    from civicgrid.insights.scorecard_tasks import interval_seconds

    return interval_seconds()


JOBS: list[PeriodicJob] = [
    PeriodicJob("cases.sweep", "civicgrid.cases.tasks.run_sweep", _sweep_seconds),
    PeriodicJob("exchange.webhooks", "civicgrid.exchange.tasks.deliver_webhooks", _webhook_seconds),
    PeriodicJob("insights.rollups", "civicgrid.insights.tasks.refresh_rollups", _rollup_seconds),
    PeriodicJob(
        "insights.scorecards",
        "civicgrid.insights.scorecard_tasks.draft_monthly_runs",
        _scorecard_seconds,
    ),
    PeriodicJob(
        "fieldwork.purge_uploads", "civicgrid.fieldwork.tasks.purge_uploads", _field_purge_seconds
    ),
]


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def claim(key: str, interval_seconds: int, *, now: dt.datetime | None = None, by: str = "") -> bool:
    """Whether this caller won the right to run `key` now (and pushed its next run one
    interval ahead). At most one caller wins per interval across every process."""
    if interval_seconds <= 0:
        raise ValueError("a periodic job needs a positive interval")
    now = now or timezone.now()
    following = now + dt.timedelta(seconds=interval_seconds)
    if not ScheduledJob.objects.filter(key=key).exists():
        try:
            with transaction.atomic():
                ScheduledJob.objects.create(
                    key=key, interval_seconds=interval_seconds, next_run_at=now
                )
        except IntegrityError:
            pass  # another worker created it first; the UPDATE below decides who runs
    # Due, or scheduled with a longer interval than the current one (the setting was lowered
    # since): either way exactly one UPDATE changes the row. (Worker clocks are assumed to be
    # NTP-synchronised; a skew only shifts a run by that much.)
    updated = ScheduledJob.objects.filter(
        Q(next_run_at__lte=now) | Q(interval_seconds__gt=interval_seconds), key=key
    ).update(
        next_run_at=following,
        interval_seconds=interval_seconds,
        last_run_at=now,
        last_claimed_by=by or worker_name(),
        runs=F("runs") + 1,
    )
    return updated == 1


def run_due(*, now: dt.datetime | None = None, jobs: list[PeriodicJob] | None = None) -> list[str]:
    """Claim and enqueue every due job; returns the keys this process enqueued."""
    enqueued = []
    for job in JOBS if jobs is None else jobs:
        if claim(job.key, job.interval(), now=now):
            import_string(job.task).enqueue()
            enqueued.append(job.key)
            logger.debug("scheduled job %s queued", job.key)
    return enqueued


class Scheduler(threading.Thread):
    """The loop a worker process runs beside its task loop; `stop()` ends it promptly."""

    def __init__(self, *, tick: float = 5.0, jobs: list[PeriodicJob] | None = None) -> None:
        super().__init__(name="civicgrid-scheduler", daemon=True)
        self.tick = tick
        self.jobs = jobs
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                close_old_connections()
                try:
                    run_due(jobs=self.jobs)
                except Exception:
                    # A database hiccup must not kill the schedule: log it and try next tick.
                    logger.exception("scheduler check failed")
                self._stopping.wait(self.tick)
        finally:
            close_old_connections()
            from django.db import connections

            connections.close_all()
