"""The monthly assessment run, queued by the workers' scheduler (core/schedule.py)."""

from __future__ import annotations

from django.conf import settings
from django_tasks import task

from civicgrid.core.context import work_context


def interval_seconds() -> int:
    """How often the workers look for a month to draft (hourly: the first check after midnight
    on the 1st drafts last month's runs; every later check finds them made and does nothing)."""
    return int(getattr(settings, "SCORECARD_SECONDS", 3600))


@task()
def draft_monthly_runs() -> list[int]:
    """Draft last month's run of every active scorecard that has none. Idempotent."""
    from .actions import draft_month_runs

    with work_context():
        return [run.pk for run in draft_month_runs()]
