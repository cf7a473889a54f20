"""Sending notifications: an inbox row per user, and an SMS for the urgent ones (background
task, after the writing transaction has committed)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from .models import Notification


def notify(
    users: Iterable[Any], *, kind: str, title: str, body: str = "", url: str = "", sms: bool = False
) -> int:
    """Queue an inbox entry for each distinct active user (and an SMS when asked and the user
    has a mobile number). Call inside the action's transaction: nothing is sent if it rolls
    back."""
    recipients = {u.pk: u for u in users if u is not None and u.is_active}
    rows = [
        Notification(user_id=pk, kind=kind, title=title[:200], body=body, url=url)
        for pk in recipients
    ]
    Notification.objects.bulk_create(rows)
    if sms:
        phones = [u.mobile for u in recipients.values() if getattr(u, "mobile", "")]
        if phones:
            text = f"{title} {url}".strip()
            transaction.on_commit(lambda: _send_sms(phones, text))
    return len(rows)


def _send_sms(phones: list[str], text: str) -> None:
    from .tasks import send_sms

    for phone in phones:
        send_sms.enqueue(phone, text)
