"""Background work of the insights app, run by the task worker (`civicgrid worker`)."""

from __future__ import annotations

from django_tasks import task

from civicgrid.core.context import work_context

from . import rollup


@task()
def refresh_rollups() -> int:
    """Recompute the township-months case actions marked; queued by the workers' scheduler
    (core/schedule.py) every CIVICGRID_ROLLUP_SECONDS. Idempotent."""
    with work_context():
        return rollup.refresh()
