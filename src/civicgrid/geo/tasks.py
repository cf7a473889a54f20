"""Background work of the geo app, run by the task worker (`civicgrid worker`)."""

from __future__ import annotations

from django_tasks import task

from . import coverage


@task()
def check_coverage(parent_ids: list[int]) -> int:
    """Re-check gaps and overlaps among the grids of these communities."""
    return coverage.refresh(parent_ids)
