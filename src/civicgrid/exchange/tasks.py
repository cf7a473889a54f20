"""Background work of the exchange app, run by the task workers (`civicgrid worker`)."""

from __future__ import annotations

from dataclasses import asdict

from django_tasks import task

from civicgrid.core.context import work_context

from . import webhooks


@task()
def deliver_webhooks() -> dict[str, int]:
    """Push pending changes to every due webhook; queued by the workers' scheduler
    (core/schedule.py) every WEBHOOK_SECONDS. Safe to run on several workers at once."""
    with work_context():
        result = webhooks.deliver_due()
    return asdict(result)


@task()
def deliver_subscription(subscription_id: int) -> dict[str, int]:
    """Deliver one subscription's pending changes now ("retry now" on the page)."""
    with work_context():
        result = webhooks.deliver_one(subscription_id, force=True)
    return asdict(result)
