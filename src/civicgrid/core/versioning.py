"""Version stamps: processes holding derived state in memory (the point→grid index) compare a
stamp in the database instead of assuming they are the only process."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from .models import VersionStamp


def bump(key: str) -> None:
    """Advance the stamp inside the caller's transaction (readers see it after commit)."""
    updated = VersionStamp.objects.filter(key=key).update(version=F("version") + 1)
    if not updated:
        with transaction.atomic():
            _, created = VersionStamp.objects.get_or_create(key=key, defaults={"version": 1})
            if not created:
                VersionStamp.objects.filter(key=key).update(version=F("version") + 1)


def current(key: str) -> int:
    value = VersionStamp.objects.filter(key=key).values_list("version", flat=True).first()
    return int(value or 0)
