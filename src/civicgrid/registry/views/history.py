"""A record's history as people read it: when, who, what was done and which fields changed,
in the labels and display values of the page. The rows come from selectors.history (the
audit rows the actions wrote); their snapshots hold masked numbers only, so nothing here can
show a full ID or phone number."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.geo.models import Division

from .. import selectors
from ..models import Building, House, Household, Organisation, Record, Resident

ACTION_LABELS = {
    "create": gettext_lazy("registered"),
    "update": gettext_lazy("changed"),
    "move": gettext_lazy("moved"),
    "end": gettext_lazy("ended"),
    "visit": gettext_lazy("visit recorded"),
    "import": gettext_lazy("imported"),
}
# Bookkeeping columns that change with every write and say nothing to the reader.
QUIET = frozenset({"id", "version", "created_at", "updated_at", "division_path"})
REFERENCES: dict[str, type[models.Model]] = {
    "division": Division,
    "building": Building,
    "house": House,
    "household": Household,
    "organisation": Organisation,
    "resident": Resident,
}


@dataclass
class Change:
    time: Any
    actor: str
    action: str
    label: str
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # label, before, after


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any] | None:
    try:
        f = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return f if isinstance(f, models.Field) else None


def _display(model: type[models.Model], name: str, value: Any, names: dict[Any, str]) -> str:
    if value is None or value == "":
        return "—"
    f = _field(model, name)
    if f is None:
        return str(value)
    if name in REFERENCES:
        return names.get((name, value), f"#{value}")
    if f.choices:
        return str(dict(f.flatchoices).get(value, value))
    if isinstance(f, models.BooleanField):
        if name == "is_active":
            return str(_("current") if value else _("ended"))
        return str(_("yes") if value else _("no"))
    return str(value)


def _label(model: type[models.Model], name: str) -> str:
    f = _field(model, name)
    return name if f is None else str(f.verbose_name)


def _names(rows: list[Any]) -> dict[Any, str]:
    """Display names of the records the snapshots refer to, in one query per type."""
    wanted: dict[str, set[Any]] = {}
    for row in rows:
        for snap in (row.before or {}, row.after or {}):
            for name in REFERENCES:
                if snap.get(name) is not None:
                    wanted.setdefault(name, set()).add(snap[name])
    names: dict[Any, str] = {}
    for name, ids in wanted.items():
        model = REFERENCES[name]
        qs = model._default_manager.filter(pk__in=ids)
        if model is House:
            qs = qs.select_related("building")
        for obj in qs:
            names[(name, obj.pk)] = obj.name if isinstance(obj, Division) else str(obj)
    return names


def history_of(obj: Record, limit: int = 100) -> list[Change]:
    model = type(obj)
    rows = list(selectors.history(obj)[:limit])
    names = _names(rows)
    changes = []
    for row in rows:
        before, after = row.before or {}, row.after or {}
        item = Change(
            time=row.time,
            actor=row.actor_name,
            action=row.action,
            label=str(ACTION_LABELS.get(row.action, row.action or row.get_kind_display())),
        )
        if row.before is not None:
            for name in after:
                if name in QUIET or name.endswith("_changed") or before.get(name) == after[name]:
                    continue
                item.fields.append(
                    (
                        _label(model, name),
                        _display(model, name, before.get(name), names),
                        _display(model, name, after[name], names),
                    )
                )
            # A new number with the same masked form still shows as a change (never its value).
            for logical, column in (("id_number", "id_masked"), ("phone", "phone_masked")):
                if after.get(f"{logical}_changed") and before.get(column) == after.get(column):
                    shown = _display(model, column, after.get(column), names)
                    item.fields.append((_label(model, column), shown, shown))
        changes.append(item)
    return changes
