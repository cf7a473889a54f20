"""Every write to divisions and grids (ARCHITECTURE rule 1): one transaction, audited."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import CharField, Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core import versioning
from civicgrid.core.audit import (
    bulk_record_changes,
    changed_fields,
    created,
    record_change,
    snapshot,
)
from civicgrid.core.importing import ImportReport, ProgressFn
from civicgrid.core.models import ChangeKind
from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action, can

from . import codes, geometry
from .choices import GridKind, Level, Setting
from .importers import (
    GRID_FIELDS,
    BoundaryRecord,
    DivisionRecord,
    validate_boundaries,
    validate_divisions,
)
from .locate import STAMP
from .models import Division, DivisionCodeChange, Grid
from .validation import clean_grid_values


def _require(actor: Any, obj: Any, action: str = Action.CHANGE) -> None:
    if actor is not None and not can(actor, obj, action):
        raise PermissionDenied(_("You may not change %(object)s.") % {"object": obj})


def _require_any_root(actor: Any, paths: Iterable[str]) -> None:
    """Imports touch many divisions: every one must be inside the actor's change scope."""
    if actor is None:
        return
    allowed = actor.scope_paths("geo", Action.CHANGE)
    if allowed is None:
        return
    outside = sorted({p for p in paths if not any(p.startswith(a) for a in allowed)})
    if outside:
        raise PermissionDenied(
            _("The file touches divisions outside your area: %(codes)s.")
            % {"codes": ", ".join(outside[:5]) + ("…" if len(outside) > 5 else "")}
        )


def default_setting(code: str) -> str:
    community = code[:12]
    return Setting.RURAL if codes.is_rural_community(community) else Setting.URBAN


# --- divisions -------------------------------------------------------------------------------
def do_import_divisions(
    raw: bytes,
    *,
    actor: Any,
    skip_invalid: bool = False,
    dry_run: bool = False,
    progress: ProgressFn | None = None,
) -> ImportReport:
    records, report = validate_divisions(raw)
    report.dry_run = dry_run
    if report.fatal or (report.errors and not skip_invalid and not dry_run):
        return report
    _require_any_root(
        actor,
        [r.path for r in records]
        + [codes.path_of(r.previous_code, r.level) for r in records if r.previous_code],
    )
    with _rolled_back_if(dry_run):
        _apply_divisions(records, report, actor=actor, progress=progress)
    report.written = not dry_run
    return report


class _DryRun(Exception):
    pass


@contextmanager
def _rolled_back_if(dry_run: bool) -> Iterator[None]:
    """One transaction; a dry run goes all the way through it (so that its counts are the
    real ones and every check runs) and is then rolled back, with its on-commit work."""
    try:
        with transaction.atomic():
            yield
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass


def _apply_divisions(
    records: list[DivisionRecord],
    report: ImportReport,
    *,
    actor: Any,
    progress: ProgressFn | None,
) -> None:
    # Renumber top-down, by key: renumbering a county has already moved a renumbered
    # community below it when the community's turn comes.
    renumbered = {
        d.code: d.pk
        for d in Division.objects.filter(
            code__in=[r.previous_code for r in records if r.previous_code], is_active=True
        )
    }
    for record in records:
        if record.previous_code:
            old = Division.objects.select_for_update().get(pk=renumbered[record.previous_code])
            if old.code != record.code:
                do_renumber_division(old, record.code, actor=actor, note=_("import"))
    existing = {d.code: d for d in Division.objects.filter(is_active=True)}
    grids = {g.division_id: g for g in Grid.objects.filter(division__is_active=True)}
    done = 0
    for level in sorted({r.level for r in records}):
        batch = [r for r in records if r.level == level]
        new: list[Division] = []
        new_records: list[DivisionRecord] = []
        for record in batch:
            parent = existing[record.parent_code] if record.parent_code else None
            current = existing.get(record.code)
            if current is None:
                new.append(
                    Division(
                        level=record.level,
                        code=record.code,
                        path=record.path,
                        name=record.name,
                        parent=parent,
                    )
                )
                new_records.append(record)
                continue
            before = snapshot(current)
            current.name = record.name
            current.parent = parent
            touched = changed_fields(before, snapshot(current))
            if touched:
                current.save(update_fields=[*touched, "updated_at"])
                record_change(
                    current,
                    ChangeKind.UPDATE,
                    actor=actor,
                    action="import",
                    before=before,
                    after=snapshot(current),
                )
            grid_changed = False
            if record.level == Level.GRID:
                grid_changed = _update_grid_from_record(
                    current, grids.get(current.pk), record, actor
                )
            if touched or grid_changed:
                report.updated += 1
            else:
                report.unchanged += 1
            done += 1
            if progress:
                progress(done, len(records))
        if new:
            Division.objects.bulk_create(new, batch_size=1000)
            bulk_record_changes(created(new), ChangeKind.CREATE, actor=actor, action="import")
            for division in new:
                existing[division.code] = division
            if level == Level.GRID:
                new_grids = []
                for division, record in zip(new, new_records, strict=True):
                    values = {"setting": default_setting(division.code), **record.grid}
                    clean_grid_values(values)
                    new_grids.append(Grid(division=division, **values))
                Grid.objects.bulk_create(new_grids, batch_size=1000)
                bulk_record_changes(
                    created(new_grids), ChangeKind.CREATE, actor=actor, action="import"
                )
            report.created += len(new)
            done += len(new)
            if progress:
                progress(done, len(records))


def _update_grid_from_record(
    division: Division, grid: Grid | None, record: DivisionRecord, actor: Any
) -> bool:
    if grid is None:
        values = {"setting": default_setting(division.code), **record.grid}
        clean_grid_values(values)
        grid = Grid.objects.create(division=division, **values)
        record_change(grid, ChangeKind.CREATE, actor=actor, action="import")
        return True
    if not record.grid:
        return False
    before = snapshot(grid)
    for name, value in record.grid.items():
        setattr(grid, name, value)
    if grid.kind == GridKind.GENERAL and "dedicated_type" not in record.grid:
        grid.dedicated_type = ""
    clean_grid_values({name: getattr(grid, name) for name in GRID_FIELDS})
    touched = changed_fields(before, snapshot(grid))
    if not touched:
        return False
    grid.save(update_fields=[*touched, "updated_at"])
    record_change(grid, ChangeKind.UPDATE, actor=actor, action="import", before=before)
    return True


def do_create_division(
    *,
    actor: Any,
    parent: Division | None,
    code: str,
    name: str,
    level: int | None = None,
    grid: dict[str, Any] | None = None,
) -> Division:
    """Add one division (with its grid attributes when it is a grid)."""
    if parent is not None:
        _require(actor, parent)
    elif actor is not None and not actor.is_superuser:
        raise PermissionDenied(_("Only the installation administrator adds a top-level division."))
    errors: dict[str, str] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = _("The name is empty.")
    elif len(name) > 100:
        errors["name"] = _("The name is longer than 100 characters.")
    try:
        level = level or codes.infer_level(code)
        code = codes.normalize(code, level)
        codes.check_parent(
            code, level, parent.code if parent else None, parent.level if parent else None
        )
    except ValidationError as exc:
        errors.setdefault("code", exc.messages[0])
    if parent is not None and not parent.is_active:
        errors["parent"] = _("This division is no longer active.")
    if "code" not in errors and Division.objects.filter(code=code, is_active=True).exists():
        errors["code"] = _("Code %(code)s is already in use.") % {"code": code}
    values: dict[str, Any] = {}
    if level == Level.GRID:
        values = {"setting": default_setting(code), **(grid or {})}
        try:
            clean_grid_values(values)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    elif grid:
        errors["kind"] = _("Grid attributes are only allowed on grids.")
    if errors:
        raise ValidationError(errors)
    assert level is not None
    with transaction.atomic():
        division = Division.objects.create(
            level=level, code=code, path=codes.path_of(code, level), name=name, parent=parent
        )
        record_change(division, ChangeKind.CREATE, actor=actor, action="create")
        if level == Level.GRID:
            grid_obj = Grid.objects.create(division=division, **values)
            record_change(grid_obj, ChangeKind.CREATE, actor=actor, action="create")
    return division


def do_update_division(division: Division, *, actor: Any, name: str) -> Division:
    _require(actor, division)
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("The name is empty.")})
    if len(name) > 100:
        raise ValidationError({"name": _("The name is longer than 100 characters.")})
    with transaction.atomic():
        division = Division.objects.select_for_update().get(pk=division.pk)
        before = snapshot(division)
        division.name = name
        touched = changed_fields(before, snapshot(division))
        if touched:
            division.save(update_fields=[*touched, "updated_at"])
            record_change(division, ChangeKind.UPDATE, actor=actor, action="update", before=before)
    return division


def placed_models() -> list[type[models.Model]]:
    """Concrete models that copy a division path into a `division_path` column."""
    from django.apps import apps

    return [
        model
        for model in apps.get_models()
        if getattr(model, "scope_path_field", None) == "division_path"
        and any(f.name == "division_path" for f in model._meta.concrete_fields)
        and getattr(model, "scope_data_class", "") != "audit"
    ]


def do_renumber_division(
    division: Division, new_code: str, *, actor: Any, note: str = ""
) -> Division:
    """Give a division (and so its whole subtree) a new code: 区划调整 renumbering.

    Keys stay; codes and paths under the division are rewritten, and every row that copied a
    path is moved with it. Audit rows keep the path they were written with.
    """
    _require(actor, division)
    with transaction.atomic():
        # No select_related: PostgreSQL cannot lock the nullable side of an outer join.
        division = Division.objects.select_for_update().get(pk=division.pk)
        if not division.is_active:
            raise ValidationError({"code": _("This division is no longer active.")})
        try:
            new_code = codes.normalize(new_code, division.level)
            parent = division.parent
            codes.check_parent(
                new_code,
                division.level,
                parent.code if parent else None,
                parent.level if parent else None,
            )
        except ValidationError as exc:
            raise ValidationError({"code": exc.messages}) from exc
        if new_code == division.code:
            raise ValidationError(
                {"code": _("The division already has code %(code)s.") % {"code": new_code}}
            )
        if Division.objects.filter(code=new_code, is_active=True).exists():
            raise ValidationError(
                {"code": _("Code %(code)s is already in use.") % {"code": new_code}}
            )
        old_path = division.path
        new_path = codes.path_of(new_code, division.level)
        # The subtree moves as a whole: no other division may already sit at a path under the
        # new one (a county kept directly under the province, say), or two would share a code.
        squatter = (
            Division.objects.filter(subtree_q("path", new_path), is_active=True)
            .order_by("path")
            .first()
        )
        if squatter is not None:
            raise ValidationError(
                {
                    "code": _("%(division)s already lies under %(code)s; choose another code.")
                    % {"division": squatter, "code": new_code}
                }
            )
        subtree = list(
            Division.objects.filter(subtree_q("path", old_path))
            .select_for_update()
            .order_by("path")
        )
        for node in subtree:
            before = snapshot(node, ["code", "path"])
            node.path = new_path + node.path[len(old_path) :]
            node.code = (
                new_path + node.code[len(old_path) :] if node.pk != division.pk else new_code
            )
            node.save(update_fields=["code", "path", "updated_at"])
            record_change(
                node,
                ChangeKind.UPDATE,
                actor=actor,
                action="renumber",
                before=before,
                after=snapshot(node, ["code", "path"]),
            )
            DivisionCodeChange.objects.create(
                division=node, old_code=before["code"], new_code=node.code, note=note
            )
        # One UPDATE per table, whatever the number of rows (cases, residents…) below.
        for model in placed_models():
            model._base_manager.filter(subtree_q("division_path", old_path)).update(
                division_path=Concat(
                    Value(new_path),
                    Substr("division_path", len(old_path) + 1),
                    output_field=CharField(),
                )
            )
        from civicgrid.insights.rollup import renumber_areas

        renumber_areas(old_path, new_path)
        versioning.bump(STAMP)
    division.refresh_from_db()
    return division


# --- grids -----------------------------------------------------------------------------------
def do_update_grid(grid: Grid, *, actor: Any, **values: Any) -> Grid:
    _require(actor, grid)
    unknown = set(values) - set(GRID_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in unknown})
    with transaction.atomic():
        grid = Grid.objects.select_for_update().select_related("division").get(pk=grid.pk)
        before = snapshot(grid)
        for name, value in values.items():
            setattr(grid, name, value)
        if grid.kind == GridKind.GENERAL and "dedicated_type" not in values:
            grid.dedicated_type = ""
        clean_grid_values({name: getattr(grid, name) for name in GRID_FIELDS})
        touched = changed_fields(before, snapshot(grid))
        if touched:
            grid.save(update_fields=[*touched, "updated_at"])
            record_change(grid, ChangeKind.UPDATE, actor=actor, action="update", before=before)
    return grid


# --- boundaries ------------------------------------------------------------------------------
def do_import_boundaries(
    files: list[tuple[str, bytes]],
    *,
    actor: Any,
    skip_invalid: bool = False,
    dry_run: bool = False,
    crs: str = "wgs84",
    progress: ProgressFn | None = None,
) -> ImportReport:
    records, report = validate_boundaries(files, crs=crs)
    report.dry_run = dry_run
    if report.fatal or (report.errors and not skip_invalid and not dry_run):
        return report
    by_id = Division.objects.in_bulk([r.division_id for r in records])
    _require_any_root(actor, [d.path for d in by_id.values()])
    with _rolled_back_if(dry_run):
        changed = _apply_boundaries(records, by_id, report, actor=actor, progress=progress)
        if changed:
            versioning.bump(STAMP)
            # A community's coverage changes with its own boundary as well as its grids'.
            communities = {
                d.parent_id if d.level == Level.GRID else d.pk
                for d in changed
                if d.level == Level.COMMUNITY or (d.level == Level.GRID and d.parent_id)
            }
            transaction.on_commit(lambda: _enqueue_coverage(communities))
    report.written = not dry_run
    return report


BOUNDARY_FIELDS = (
    "boundary",
    "min_lng",
    "min_lat",
    "max_lng",
    "max_lat",
    "centroid_lng",
    "centroid_lat",
    "area_m2",
)


def _apply_boundaries(
    records: list[BoundaryRecord],
    by_id: dict[int, Division],
    report: ImportReport,
    *,
    actor: Any,
    progress: ProgressFn | None,
) -> list[Division]:
    changed: list[Division] = []
    befores: list[dict[str, Any]] = []
    for done, record in enumerate(records, start=1):
        division = by_id[record.division_id]
        measured = geometry.measure(record.geometry)
        if division.boundary == measured.geometry:
            report.unchanged += 1
        else:
            befores.append(snapshot(division, BOUNDARY_FIELDS))
            if division.boundary is None:
                report.created += 1
            else:
                report.updated += 1
            for name in BOUNDARY_FIELDS:
                setattr(
                    division,
                    name,
                    measured.geometry if name == "boundary" else getattr(measured, name),
                )
            changed.append(division)
        if progress:
            progress(done, len(records))
    # One UPDATE per row: bulk_update's CASE expressions grow too slow past a few hundred rows.
    now = timezone.now()
    for division in changed:
        Division.objects.filter(pk=division.pk).update(
            updated_at=now, **{name: getattr(division, name) for name in BOUNDARY_FIELDS}
        )
    bulk_record_changes(
        (
            (division, before, snapshot(division, BOUNDARY_FIELDS))
            for division, before in zip(changed, befores, strict=True)
        ),
        ChangeKind.UPDATE,
        actor=actor,
        action="import_boundary",
    )
    return changed


def _enqueue_coverage(parent_ids: set[int | None]) -> None:
    from .tasks import check_coverage

    ids = sorted(i for i in parent_ids if i is not None)
    if ids:
        check_coverage.enqueue(ids)
