"""Writing many registry records at once, with everything the actions write for one: the rows
themselves, their history (core.audit.bulk_record_changes), their search terms and the change
feed (exchange.feed.publish_many).

On PostgreSQL rows go in with COPY (psycopg's `cursor.copy`) under ids reserved from the
table's sequence in one query; elsewhere through `bulk_create`. Either way the caller's
transaction holds it all: a failure anywhere undoes every chunk already written.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone

from civicgrid.core.audit import bulk_record_changes, snapshot
from civicgrid.core.models import ChangeKind, ObjectChange

from ..actions import PROTECTED_FIELDS, SEARCHABLE
from ..models import SearchTerm

# SQLite refuses statements with more parameters than this (older builds: 999).
SQLITE_PARAMS = 900
HISTORY_ACTION = "import"


def batches(items: Sequence[Any], size: int = SQLITE_PARAMS) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def _reserve_ids(model: type[models.Model], count: int) -> list[int]:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cursor.fetchall()]


def _copy(table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    # psycopg's own cursor (Django's wrapper has no copy()), its errors turned into Django's.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        with raw.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def _stamp(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    now = timezone.now()
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objs:
                setattr(obj, field.attname, now)


def copy_objects(model: type[models.Model], objs: Sequence[models.Model], *, with_pk: bool) -> None:
    """COPY model instances into their table (PostgreSQL); without their ids, the table's
    identity numbers them."""
    from psycopg.types.json import Jsonb

    fields = [f for f in model._meta.concrete_fields if with_pk or not f.primary_key]
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}

    def value(obj: models.Model, attname: str) -> Any:
        raw = getattr(obj, attname)
        if attname in json_fields and raw is not None:
            return Jsonb(raw, dumps=_json)
        return raw

    attnames = [f.attname for f in fields]
    _copy(
        model._meta.db_table,
        [str(f.column) for f in fields],
        ([value(obj, a) for a in attnames] for obj in objs),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class JsonText(str):
    """A value already serialised as a JSON object (COPY takes it as it is)."""


def _flagged_text(text: str, touched: set[str]) -> JsonText:
    """`_flagged` on a snapshot serialised once (the feed entry reuses the same text)."""
    flags = "".join(f', "{name}_changed": true' for name in sorted(set(PROTECTED_FIELDS) & touched))
    return JsonText(text[:-1] + flags + "}")


def insert(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """Insert new objects and give them their ids."""
    if not objs:
        return
    _stamp(model, objs)
    if not on_postgresql():
        model._default_manager.bulk_create(objs, batch_size=500)
        return
    for obj, pk in zip(objs, _reserve_ids(model, len(objs)), strict=True):
        obj.pk = pk
        obj._state.adding = False
    copy_objects(model, objs, with_pk=True)


def _rows(model: type[models.Model], values: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    """COPY rows of `model` (without its id) from dicts by attname; a column a dict lacks
    gets the field's default, so a column added to the model later does not break this."""
    from psycopg.types.json import Jsonb

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.attname: f.get_default() for f in fields}
    json_fields = {f.attname for f in fields if isinstance(f, models.JSONField)}
    attnames = [f.attname for f in fields]
    for row in values:
        out = []
        for name in attnames:
            value = row[name] if name in row else defaults[name]
            if isinstance(value, JsonText):
                value = Jsonb(value, dumps=str)
            elif name in json_fields and value is not None:
                value = Jsonb(value, dumps=_json)
            out.append(value)
        yield out


def _copy_rows(model: type[models.Model], values: Iterable[dict[str, Any]]) -> None:
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    _copy(model._meta.db_table, [str(f.column) for f in fields], _rows(model, values))


def _history(
    kind: str,
    changes: Sequence[tuple[models.Model, dict[str, Any] | None, dict[str, Any] | JsonText]],
    actor: Any,
) -> None:
    """Audit rows as core.audit writes them (`_change_row`: same columns, same values), built
    as plain rows: on PostgreSQL by COPY, where bulk_record_changes's executemany costs ten
    times more per row. tests/registry/test_import.py compares the two."""
    from django.contrib.contenttypes.models import ContentType

    from civicgrid.core.audit import _actor_fields
    from civicgrid.core.context import current_request_id

    if not changes:
        return
    if not on_postgresql():
        # Off PostgreSQL no snapshot is pre-serialised (_texts): these are dicts.
        dicts = [(o, b, a) for o, b, a in changes if not isinstance(a, JsonText)]
        bulk_record_changes(dicts, kind, actor=actor, action=HISTORY_ACTION)
        return
    who = _actor_fields(actor)
    common = {
        "time": timezone.now(),
        "actor_id": who["actor"].pk if who["actor"] is not None else None,
        "actor_name": who["actor_name"],
        "request_id": current_request_id(),
        "content_type_id": ContentType.objects.get_for_model(changes[0][0]).pk,
        "kind": kind,
        "action": HISTORY_ACTION,
    }
    _copy_rows(
        ObjectChange,
        (
            {
                **common,
                "object_id": str(obj.pk),
                "object_repr": str(obj)[:200],
                "division_path": getattr(obj, "division_path", ""),
                "before": before,
                "after": after,
            }
            for obj, before, after in changes
        ),
    )


def _feed(
    kind: str,
    objs: Sequence[models.Model],
    data: Sequence[dict[str, Any] | JsonText],
    *,
    action: str,
    fields: Sequence[str],
) -> None:
    """Feed entries as exchange.feed.publish_many makes them (numbered from its counter,
    inside this transaction), by COPY on PostgreSQL; `data` = each object's snapshot."""
    from civicgrid.exchange import feed
    from civicgrid.exchange.fields import NEVER_SHARED, field_class
    from civicgrid.exchange.models import FeedEntry

    if not objs:
        return
    if not on_postgresql():
        feed.publish_many(objs, kind, action=action, fields=fields)
        return
    first = feed._reserve(len(objs))
    now = timezone.now()
    listed = list(fields)
    classes = sorted({field_class(kind, f) for f in fields})
    _copy_rows(
        FeedEntry,
        (
            {
                "seq": first + i,
                "time": now,
                "record_type": kind,
                "object_id": obj.pk,
                "action": action,
                "fields": listed,
                "field_classes": classes,
                "division_path": getattr(obj, "division_path", ""),
                "data": snap
                if isinstance(snap, JsonText)
                else {**{k: v for k, v in snap.items() if k not in NEVER_SHARED}, "id": obj.pk},
            }
            for i, (obj, snap) in enumerate(zip(objs, data, strict=True))
        ),
    )


def add_terms(kind: str, entries: Iterable[tuple[int, str, Iterable[str]]]) -> None:
    """Search terms of records: (object id, division path, terms) each."""
    rows = [(kind, pk, term, path) for pk, path, terms in entries for term in terms]
    if not rows:
        return
    if on_postgresql():
        _copy(SearchTerm._meta.db_table, ["kind", "object_id", "term", "division_path"], rows)
        return
    table = connection.ops.quote_name(SearchTerm._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (kind, object_id, term, division_path) VALUES (%s, %s, %s, %s)",
            rows,
        )


def drop_terms(kind: str, ids: Sequence[int]) -> None:
    for part in batches(list(ids)):
        SearchTerm.objects.filter(kind=kind, object_id__in=part).delete()


def logical_fields(names: Iterable[str]) -> set[str]:
    """Field names as history and the feed name them: a protected number by its own name
    (id_number, phone), never by its columns."""
    return set(_logical(tuple(names)))


@functools.lru_cache(maxsize=256)
def _logical(names: tuple[str, ...]) -> frozenset[str]:
    out: set[str] = set()
    for name in names:
        if name.startswith("_") or name.endswith("_enc"):
            continue
        if name in ("id_index", "id_masked"):
            out.add("id_number")
        elif name in ("phone_index", "phone_masked"):
            out.add("phone")
        else:
            out.add(name)
    return frozenset(out)


def _texts(snaps: Sequence[dict[str, Any]]) -> list[JsonText | None]:
    """On PostgreSQL, each snapshot serialised once for its history row and feed entry (when
    the entry holds the snapshot as it is: no never-shared column in it, its id in it)."""
    from civicgrid.exchange.fields import NEVER_SHARED

    if not on_postgresql():
        return [None] * len(snaps)
    return [
        JsonText(_json(snap)) if snap and "id" in snap and not NEVER_SHARED & snap.keys() else None
        for snap in snaps
    ]


def _flagged(snap: dict[str, Any], touched: set[str]) -> dict[str, Any]:
    """A snapshot for history: a change of a protected number shows as "changed", never with
    its value (as the actions write it)."""
    after = dict(snap)
    for name in set(PROTECTED_FIELDS) & touched:
        after[f"{name}_changed"] = True
    return after


def created(
    kind: str,
    objs: Sequence[models.Model],
    touched: Sequence[set[str]],
    terms: Sequence[Iterable[str]] | None,
    *,
    actor: Any,
) -> None:
    """History, search terms and feed entries of newly inserted records."""
    if not objs:
        return
    snaps = [snapshot(obj) for obj in objs]
    texts = _texts(snaps)
    _history(
        kind=ChangeKind.CREATE,
        changes=[
            (obj, None, _flagged(snap, t) if text is None else _flagged_text(text, t))
            for obj, snap, text, t in zip(objs, snaps, texts, touched, strict=True)
        ],
        actor=actor,
    )
    if kind in SEARCHABLE and terms is not None:
        add_terms(
            kind,
            (
                (obj.pk, obj.division_path, t)  # type: ignore[attr-defined]
                for obj, t in zip(objs, terms, strict=True)
            ),
        )
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, t in enumerate(touched):
        groups[tuple(sorted(t))].append(i)
    for fields, members in groups.items():
        _feed(
            kind,
            [objs[i] for i in members],
            [texts[i] or snaps[i] for i in members],
            action="create",
            fields=fields,
        )


def updated(
    kind: str,
    changes: Sequence[tuple[models.Model, dict[str, Any], set[str], Iterable[str] | None]],
    *,
    actor: Any,
) -> None:
    """History, search terms and feed entries of changed records: (record after the change,
    its snapshot before, the logical fields changed, its new terms or None if unchanged)."""
    from civicgrid.exchange import feed

    if not changes:
        return
    snaps = [snapshot(obj) for obj, _b, _t, _terms in changes]
    _history(
        kind=ChangeKind.UPDATE,
        changes=[
            (obj, before, _flagged(snap, t))
            for (obj, before, t, _terms), snap in zip(changes, snaps, strict=True)
        ],
        actor=actor,
    )
    reindexed = [(obj, terms) for obj, _b, _t, terms in changes if terms is not None]
    if kind in SEARCHABLE and reindexed:
        drop_terms(kind, [obj.pk for obj, _terms in reindexed])
        add_terms(kind, ((obj.pk, obj.division_path, t) for obj, t in reindexed))  # type: ignore[attr-defined]
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for i, (obj, before, t, _terms) in enumerate(changes):
        if "division" in t:
            # A move names the grid it left (exchange.feed.publish does); moves are few.
            feed.publish(obj, kind, action="move", fields=sorted(t), before=before)
        else:
            groups[tuple(sorted(t))].append(i)
    for fields, members in groups.items():
        _feed(
            kind,
            [changes[i][0] for i in members],
            [snaps[i] for i in members],
            action="update",
            fields=fields,
        )
