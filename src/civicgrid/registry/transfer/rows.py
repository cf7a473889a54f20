"""A row of an import on its way through the checking and writing passes, and what one
import's chunks share (who imports, the file's columns, the grids met so far)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from ..models import Record

CREATE, UPDATE, UNCHANGED = 1, 2, 3
GRID_FIELDS = ("id", "code", "path", "level", "is_active", "name")


@dataclass(slots=True)
class Row:
    line: int
    raw: dict[str, str]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (column code, message)
    refs: dict[str, Any] = field(default_factory=dict)  # field → natural key of a record
    data: dict[str, Any] = field(default_factory=dict)  # what the cleaner is given
    values: dict[str, Any] = field(default_factory=dict)  # what it returned
    terms: frozenset[str] | None = None
    key: Any = None
    op: int = 0
    target: Any = None  # the stored record the row changes
    touched: set[str] = field(default_factory=set)
    grid_id: int | None = None

    def fail(self, column: str, message: str) -> None:
        if (column, message) not in self.errors:
            self.errors.append((column, message))

    def failed(self, column: str) -> bool:
        return any(c == column for c, _m in self.errors)


class Context:
    """What every chunk of one import shares."""

    def __init__(self, actor: Any, present: set[str]) -> None:
        self.actor = actor
        self.present = present  # the column codes the file has
        self.paths = actor.scope_paths("registry", "change") if actor is not None else None
        self.grids: dict[str, Division | None] = {}
        self.grid_by_id: dict[int, Division] = {}
        self.today = timezone.localdate()

    def may_change(self, path: str) -> bool:
        return self.paths is None or any(path.startswith(p) for p in self.paths)

    def load_grids(self, codes: Iterable[str]) -> None:
        from . import bulk

        wanted = sorted({c for c in codes if c and c not in self.grids})
        for part in bulk.batches(wanted):
            found = Division.objects.filter(code__in=part, level=Level.GRID).only(*GRID_FIELDS)
            by_code = {d.code: d for d in found if d.is_active}
            for code in part:
                self.grids[code] = by_code.get(code)
                if code in by_code:
                    self.grid_by_id[by_code[code].pk] = by_code[code]

    def divisions(self, ids: Iterable[int]) -> dict[int, Division]:
        """Divisions by id (grids met in the file, others looked up once)."""
        missing = sorted(set(ids) - set(self.grid_by_id))
        if missing:
            for division in Division.objects.filter(pk__in=missing).only(*GRID_FIELDS):
                self.grid_by_id[division.pk] = division
        return self.grid_by_id

    def grid(self, row: Row) -> Division | None:
        """The row's grid, or None with the reason on the row when the actor may not change
        records there."""
        code = row.raw.get("grid", "")
        if not code:
            row.fail("grid", _("Choose the grid."))
            return None
        grid = self.grids.get(code)
        if grid is None:
            row.fail("grid", _("Not a grid in use: give a grid's code."))
            return None
        if not self.may_change(grid.path):
            row.fail("grid", _("This grid is outside your area."))
            return None
        row.grid_id = grid.pk
        return grid


def differences(obj: models.Model, values: dict[str, Any], names: Iterable[str]) -> set[str]:
    """The model fields among `names` whose cleaned value differs from the stored one."""
    touched: set[str] = set()
    meta = obj._meta
    for name in names:
        if name not in values:
            continue
        new = values[name]
        model_field = meta.get_field(name)
        if isinstance(model_field, models.ForeignKey):
            # A record this import creates (no id yet) is never the stored one.
            stored = getattr(obj, model_field.attname)
            if (new is not None and new.pk is None) or stored != (new.pk if new else None):
                touched.add(name)
        elif getattr(obj, name) != new:
            touched.add(name)
    return touched


def apply(obj: Record, values: dict[str, Any], touched: set[str]) -> None:
    for name in touched:
        setattr(obj, name, values[name])
        if name.endswith("_index"):
            prefix = name.removesuffix("_index")
            setattr(obj, f"{prefix}_enc", values[f"{prefix}_enc"])
            setattr(obj, f"{prefix}_masked", values[f"{prefix}_masked"])
    if "division" in touched:
        obj.division_path = values["division"].path


def columns_of(touched: set[str]) -> set[str]:
    """The database columns to save for the changed fields."""
    out = set(touched)
    for name in touched:
        if name.endswith("_index"):
            prefix = name.removesuffix("_index")
            out |= {f"{prefix}_enc", f"{prefix}_masked"}
        if name == "division":
            out.add("division_path")
    return out


def stored_values(values: dict[str, Any]) -> dict[str, Any]:
    """Cleaned values without the clear numbers and the references to other records."""
    return {
        k: v for k, v in values.items() if not k.startswith("_") and not isinstance(v, models.Model)
    }
