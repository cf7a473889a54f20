"""The periodic-job schedule shared by every task worker: a job is queued at most once per
interval, however many workers ask at the same moment — threads with their own database
connections here, and real `civicgrid worker` processes below."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from django.db import connection, connections
from django_tasks_db.models import DBTaskResult

from civicgrid.core import schedule
from civicgrid.core.models import ScheduledJob

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.mark.django_db
def test_claim_once_per_interval():
    assert schedule.claim("job", 60, now=NOW)
    assert not schedule.claim("job", 60, now=NOW)
    assert not schedule.claim("job", 60, now=NOW + dt.timedelta(seconds=59))
    assert schedule.claim("job", 60, now=NOW + dt.timedelta(seconds=60))
    row = ScheduledJob.objects.get(key="job")
    assert row.runs == 2 and row.next_run_at == NOW + dt.timedelta(seconds=120)
    # A shorter interval applies at once instead of waiting out the longer one.
    assert schedule.claim("job", 10, now=NOW + dt.timedelta(seconds=61))
    assert ScheduledJob.objects.get(key="job").interval_seconds == 10
    with pytest.raises(ValueError):
        schedule.claim("job", 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_claim_once(workers):
    """Several threads, each on its own database connection, ask at the same instant, many
    times over: exactly one wins each round."""
    rounds = 15
    wins: list[list[int]] = [[] for _ in range(rounds)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(workers)

    def worker(number: int) -> None:
        try:
            for r in range(rounds):
                moment = NOW + dt.timedelta(seconds=60 * r)
                barrier.wait(timeout=30)
                if schedule.claim("race", 60, now=moment, by=f"w{number}"):
                    wins[r].append(number)
        except BaseException as exc:  # reported below, in the test's own thread
            errors.append(exc)
            barrier.abort()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert [len(w) for w in wins] == [1] * rounds, wins
    assert ScheduledJob.objects.get(key="race").runs == rounds


@pytest.mark.django_db
def test_run_due_queues_the_sweep_once(settings):
    # Every periodic job at the same pace (webhooks, rollups and scorecards beside the sweep).
    settings.SWEEP_SECONDS = 60
    settings.WEBHOOK_SECONDS = 60
    settings.ROLLUP_SECONDS = 60
    settings.SCORECARD_SECONDS = 60
    settings.FIELD_PURGE_SECONDS = 60
    every = [
        "cases.sweep",
        "exchange.webhooks",
        "insights.rollups",
        "insights.scorecards",
        "fieldwork.purge_uploads",
    ]
    assert schedule.run_due(now=NOW) == every  # and they ran
    assert schedule.run_due(now=NOW + dt.timedelta(seconds=30)) == []
    assert schedule.run_due(now=NOW + dt.timedelta(seconds=60)) == every


@pytest.mark.django_db(transaction=True)
def test_scheduler_thread_stops_promptly(settings):
    settings.SWEEP_SECONDS = 3600
    scheduler = schedule.Scheduler(tick=30)
    scheduler.start()
    deadline = time.monotonic() + 10
    while not ScheduledJob.objects.filter(key="cases.sweep").exists():
        assert time.monotonic() < deadline, "the scheduler never checked"
        time.sleep(0.05)
    started = time.monotonic()
    scheduler.stop()
    scheduler.join(timeout=5)
    assert not scheduler.is_alive() and time.monotonic() - started < 5


# --- real worker processes --------------------------------------------------------------------
def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    host = s.get("HOST") or "127.0.0.1"
    return f"postgres://{user}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_queue_the_sweep_once_per_interval_and_stop_on_signals():
    interval, seconds = 2, 7
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CIVICGRID_SWEEP_SECONDS": str(interval),
        "CIVICGRID_TASKS": "database",
    }
    command = [sys.executable, "-m", "civicgrid.cli", "worker", "--interval", "0.2"]
    processes = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    try:
        # Wait for the processes to be up (slow on a loaded machine), then watch a window.
        deadline = time.monotonic() + 90
        while not ScheduledJob.objects.filter(key="cases.sweep", runs__gte=1).exists():
            assert time.monotonic() < deadline, "no worker ever queued the sweep"
            time.sleep(0.1)
        first = ScheduledJob.objects.get(key="cases.sweep").runs
        started = time.monotonic()
        time.sleep(seconds)
        runs = ScheduledJob.objects.get(key="cases.sweep").runs - first
        window = time.monotonic() - started
    finally:
        processes[0].send_signal(signal.SIGINT)  # Ctrl-C
        processes[1].send_signal(signal.SIGTERM)  # systemd stop
        outputs = [p.communicate(timeout=30)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    # Queued once per interval across both workers (never twice in one interval)…
    assert 1 <= runs <= window // interval + 1, (runs, window, outputs)
    job = ScheduledJob.objects.get(key="cases.sweep")
    sweeps = DBTaskResult.objects.filter(task_path="civicgrid.cases.tasks.run_sweep")
    assert sweeps.count() == job.runs
    # …and run by whichever worker was free.
    assert set(sweeps.values_list("status", flat=True)) <= {"SUCCESSFUL", "READY"}, outputs
    assert sweeps.filter(status="SUCCESSFUL").exists()
    claimed = sorted(sweeps.values_list("enqueued_at", flat=True))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(claimed)]
    assert all(g >= interval - 0.5 for g in gaps), gaps
