"""Background work of the cases app, run by the task worker (`civicgrid worker`)."""

from __future__ import annotations

from django_tasks import task

from civicgrid.core.context import work_context

from . import sweep


@task()
def run_sweep() -> dict[str, int]:
    """The SLA sweep (yellow, red, urging); queued by the workers' scheduler
    (core/schedule.py) every CIVICGRID_SWEEP_SECONDS. Idempotent."""
    with work_context():
        result = sweep.sweep()
    return {
        "yellow": result.yellow,
        "red": result.red,
        "staged": result.staged,
        "urged": result.urged,
    }
