"""Publishing changes to the feed, from inside the writing transaction (exchange/models.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models, transaction
from django.db.models import F

from civicgrid.core.audit import snapshot

from .fields import NEVER_SHARED, field_class
from .models import FeedCounter, FeedEntry

COUNTER = "registry"


def _reserve(count: int) -> int:
    """The first of `count` new sequence numbers. The counter row stays locked until the
    caller's transaction commits, which is what orders entries by commit."""
    assert transaction.get_connection().in_atomic_block, "publish inside the write transaction"
    FeedCounter.objects.get_or_create(key=COUNTER)
    FeedCounter.objects.filter(key=COUNTER).update(last=F("last") + count)
    last = FeedCounter.objects.values_list("last", flat=True).get(key=COUNTER)
    return last - count + 1


def entry_data(obj: models.Model) -> dict[str, Any]:
    data = snapshot(obj)
    data["id"] = obj.pk
    return {k: v for k, v in data.items() if k not in NEVER_SHARED}


def publish(
    obj: models.Model,
    record_type: str,
    *,
    action: str,
    fields: Sequence[str],
    before: dict[str, Any] | None = None,
) -> FeedEntry:
    first = _reserve(1)
    path = getattr(obj, "division_path", "")
    previous = str((before or {}).get("division_path") or "")
    return FeedEntry.objects.create(
        seq=first,
        record_type=record_type,
        object_id=obj.pk,
        action=action,
        fields=list(fields),
        field_classes=sorted({field_class(record_type, f) for f in fields}),
        division_path=path,
        previous_path=previous if previous != path else "",
        data=entry_data(obj),
    )


def publish_many(
    objs: Sequence[models.Model], record_type: str, *, action: str, fields: Sequence[str]
) -> int:
    """One entry per object for bulk writes (imports), with one counter update."""
    if not objs:
        return 0
    first = _reserve(len(objs))
    classes = sorted({field_class(record_type, f) for f in fields})
    FeedEntry.objects.bulk_create(
        [
            FeedEntry(
                seq=first + i,
                record_type=record_type,
                object_id=obj.pk,
                action=action,
                fields=list(fields),
                field_classes=classes,
                division_path=getattr(obj, "division_path", ""),
                data=entry_data(obj),
            )
            for i, obj in enumerate(objs)
        ],
        batch_size=2000,
    )
    return len(objs)
