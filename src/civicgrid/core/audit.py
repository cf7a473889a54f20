"""Writing audit rows. Actions call `record_change` once per object they write; reads of
sensitive personal data call `record_access`. Snapshots leave out fields a model marks as
secret (`audit_exclude`), so no password hash or key ever lands in the audit trail."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils import timezone

from .context import current_request_id
from .models import AccessLog, ChangeKind, ObjectChange
from .scoping import object_path

ALWAYS_EXCLUDED = frozenset({"password"})


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, models.Model):
        return value.pk
    if hasattr(value, "name"):  # files
        return str(value.name)
    return str(value)


def snapshot(obj: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The concrete field values of `obj` as JSON (foreign keys as their ids)."""
    excluded = ALWAYS_EXCLUDED | set(getattr(obj, "audit_exclude", ()))
    wanted = set(fields) if fields is not None else None
    data: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name in excluded or (wanted is not None and field.name not in wanted):
            continue
        data[field.name] = _jsonable(getattr(obj, field.attname))
    return data


def _actor_fields(actor: Any) -> dict[str, Any]:
    if actor is None or not getattr(actor, "pk", None):
        return {"actor": None, "actor_name": "system"}
    return {"actor": actor, "actor_name": actor.get_username()[:150]}


def _path_of(obj: models.Model) -> str:
    try:
        return object_path(obj)
    except AttributeError:
        return ""


def _change_row(
    obj: models.Model,
    kind: str,
    *,
    actor_fields: dict[str, Any],
    action: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> ObjectChange:
    if kind != ChangeKind.DELETE and after is None:
        after = snapshot(obj)
    return ObjectChange(
        kind=kind,
        action=action,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        division_path=_path_of(obj),
        before=before,
        after=after,
        request_id=current_request_id(),
        **actor_fields,
    )


def record_change(
    obj: models.Model,
    kind: str,
    *,
    actor: Any,
    action: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> ObjectChange:
    row = _change_row(
        obj, kind, actor_fields=_actor_fields(actor), action=action, before=before, after=after
    )
    row.save()
    return row


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    return [key for key in after if before.get(key) != after.get(key)]


def bulk_record_changes(
    changes: Iterable[tuple[models.Model, dict[str, Any] | None, dict[str, Any] | None]],
    kind: str,
    *,
    actor: Any,
    action: str = "",
) -> int:
    """Audit for many rows at once (imports, generators): one row per (object, before, after);
    `after` None means the object's current state."""
    actor_fields = _actor_fields(actor)
    rows = [
        _change_row(obj, kind, actor_fields=actor_fields, action=action, before=b, after=a)
        for obj, b, a in changes
    ]
    _insert_many(rows)
    return len(rows)


def _insert_many(rows: list[ObjectChange]) -> None:
    """INSERT with executemany: the ORM's bulk_create spends most of its time preparing values
    field by field, which dominates imports of tens of thousands of rows."""
    if not rows:
        return
    columns = [f for f in ObjectChange._meta.concrete_fields if not f.primary_key]
    table = connection.ops.quote_name(ObjectChange._meta.db_table)
    names = ", ".join(connection.ops.quote_name(str(f.column)) for f in columns)
    marks = ", ".join(["%s"] * len(columns))
    now = timezone.now()
    params = []
    for row in rows:
        row.time = now
        values = []
        for f in columns:
            value = getattr(row, f.attname)
            if isinstance(f, models.JSONField):
                values.append(None if value is None else json.dumps(value, ensure_ascii=False))
            else:
                values.append(f.get_db_prep_save(value, connection))
        params.append(values)
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", params)


def created(objs: Iterable[models.Model]) -> Iterable[tuple[models.Model, None, None]]:
    return ((obj, None, None) for obj in objs)


def record_access(
    obj: models.Model,
    *,
    actor: Any,
    action: str,
    fields: Iterable[str] = (),
    reason: str = "",
) -> AccessLog:
    return AccessLog.objects.create(
        action=action,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        division_path=_path_of(obj),
        fields=list(fields),
        reason=reason[:500],
        request_id=current_request_id(),
        **_actor_fields(actor),
    )
