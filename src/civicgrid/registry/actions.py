"""Every write to the registry (ARCHITECTURE rule 1): validate (cleaning.py), check the actor's
scope on the record's grid (before and after a move), lock, write, keep the search terms and
the change history, and publish the change for subscribing departments — in one transaction.

Records are never deleted: a resident who moves away or dies, a closed shop, an ended care
tag is ended (`is_active` false) and stays in history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.audit import record_access, record_change, snapshot
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import ChangeKind
from civicgrid.core.paths import is_under

from . import protect, search
from .choices import SENSITIVE_GROUPS
from .cleaning import CLEANERS
from .models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Record,
    Resident,
)

R = TypeVar("R", bound=Record)

KINDS: dict[str, type[Record]] = {
    "building": Building,
    "house": House,
    "household": Household,
    "resident": Resident,
    "organisation": Organisation,
    "place": Place,
    "care_tag": CareTag,
}
KIND_OF: dict[type[Record], str] = {model: kind for kind, model in KINDS.items()}
PROTECTED_FIELDS = ("id_number", "phone")


def kind_of(obj: Record | type[Record]) -> str:
    return KIND_OF[obj if isinstance(obj, type) else type(obj)]


# --- scope ----------------------------------------------------------------------------------
def _require_scope(actor: Any, path: str, *, data_class: str = "registry") -> None:
    paths = actor.scope_paths(data_class, "change") if actor is not None else None
    if paths is not None and not any(is_under(path, p) for p in paths):
        raise PermissionDenied(_("This record's grid is outside your area."))


def _require_grid_in_scope(actor: Any, path: str) -> None:
    """A new or moved record's grid must be one the actor may change: a ValidationError on
    the grid field (the person chose it), not a refusal of the whole page."""
    paths = actor.scope_paths("registry", "change") if actor is not None else None
    if paths is not None and not any(is_under(path, p) for p in paths):
        raise ValidationError({"grid": _("This grid is outside your area.")})


# --- search terms ---------------------------------------------------------------------------
def terms_of(obj: Record) -> set[str]:
    """The search terms a record is found by (registry/search.py)."""
    if isinstance(obj, Resident):
        return search.terms_for(obj.name)
    if isinstance(obj, Organisation | Place):
        return search.terms_for(obj.name, obj.address)
    if isinstance(obj, Building):
        return search.terms_for(obj.name, f"{obj.road}{obj.number}")
    return set()


SEARCHABLE = ("resident", "organisation", "place", "building")


def _reindex(obj: Record) -> None:
    kind = kind_of(obj)
    if kind in SEARCHABLE:
        search.reindex(kind, obj.pk, obj.division_path, terms_of(obj))


# --- the engine -----------------------------------------------------------------------------
def _after_write(
    obj: Record,
    kind: str,
    *,
    actor: Any,
    action: str,
    before: dict[str, Any] | None,
    touched: set[str],
) -> None:
    """What every registry write does after saving: history, search terms, the change feed."""
    after = snapshot(obj)
    # A change of a protected number shows in history as "changed", never with its value.
    for name in set(PROTECTED_FIELDS) & touched:
        after[f"{name}_changed"] = True
    record_change(obj, kind, actor=actor, action=action, before=before, after=after)
    _reindex(obj)
    from civicgrid.exchange.feed import publish

    publish(obj, kind_of(obj), action=action, fields=sorted(touched), before=before)


def _apply(obj: Record, values: Mapping[str, Any]) -> set[str]:
    """Set the cleaned values on `obj`; the names of what changed, protected numbers under
    their own names (id_number, phone) rather than their columns."""
    touched: set[str] = set()
    for name, value in values.items():
        if name.startswith("_") or name.endswith("_enc"):
            continue  # clear values are never stored; ciphertexts differ at every encryption
        try:
            current = getattr(obj, name)
        except ObjectDoesNotExist:
            current = None
        if obj.pk is None or current != value:
            touched.add(name)
            setattr(obj, name, value)
    for logical, prefix in (("id_number", "id"), ("phone", "phone")):
        if f"{prefix}_index" in touched:
            setattr(obj, f"{prefix}_enc", values[f"{prefix}_enc"])
            touched -= {f"{prefix}_index", f"{prefix}_masked"}
            touched.add(logical)
    return touched


def _unique_errors(exc: IntegrityError) -> ValidationError:
    text = str(exc)
    if "registry_resident_one_id" in text or "id_index" in text:
        return ValidationError(
            {"id_number": _("A person with this document number is already registered.")}
        )
    if "registry_organisation_uscc" in text or "uscc" in text:
        return ValidationError({"uscc": _("An organisation with this code is already registered.")})
    if "registry_building_address" in text or "registry_building" in text:
        return ValidationError({"number": _("This building is already registered.")})
    if "registry_house_address" in text or "registry_house" in text:
        return ValidationError({"room": _("This house is already registered.")})
    if "registry_caretag_one_active" in text or "registry_caretag" in text:
        return ValidationError({"group": _("The resident already has this tag.")})
    return ValidationError(_("This record conflicts with one already registered."))


def do_create_record(kind: str, *, actor: Any, data: Mapping[str, Any]) -> Record:
    """Register a new record of `kind` from submitted values."""
    model = KINDS.get(kind)
    if model is None:
        raise ValidationError({"kind": _("Unknown record type.")})
    values = CLEANERS[kind](data)
    grid = values["division"]
    _require_grid_in_scope(actor, grid.path)
    obj = model()
    if kind == "resident" and values.get("id_index"):
        existing = Resident.objects.filter(id_index=values["id_index"]).first()
        if existing is not None:
            raise ValidationError(
                {
                    "id_number": _(
                        "A person with this document number is already registered (in %(where)s):"
                        " move them instead of registering them again."
                    )
                    % {"where": existing.division.name}
                }
            )
    touched = _apply(obj, values)
    try:
        with transaction.atomic():
            obj.save()
            _after_write(
                obj, ChangeKind.CREATE, actor=actor, action="create", before=None, touched=touched
            )
            if isinstance(obj, Resident):
                _sync_head(obj)
    except IntegrityError as exc:
        raise _unique_errors(exc) from exc
    return obj


def do_update_record(
    obj: R, *, actor: Any, version: int | None, data: Mapping[str, Any], action: str = "update"
) -> R:
    """Change some fields of a record. `version` is the one the person saw: if anyone changed
    the record since, nothing is written and the answer is a conflict. A change of grid (a
    resident moving house, a shop moving) is a move: allowed when the actor reaches both the
    old grid and the new one, and kept in history like any change."""
    kind = kind_of(obj)
    values = CLEANERS[kind](data, partial=True)
    try:
        with transaction.atomic():
            locked = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
            _require_scope(actor, locked.division_path)
            if version is not None and locked.version != version:
                raise Conflict(
                    _("Someone changed this record in the meantime: reload it and try again."),
                    code="version",
                )
            if not locked.is_active:
                raise Conflict(
                    _("This record has ended and can no longer be changed."), code="ended"
                )
            before = snapshot(locked)
            touched = _apply(locked, values)
            if "division" in touched:
                _require_grid_in_scope(actor, values["division"].path)
                locked.division_path = values["division"].path
                action = "move" if action == "update" else action
            if not touched:
                return locked
            locked.version += 1
            locked.save()
            _after_write(
                locked,
                ChangeKind.UPDATE,
                actor=actor,
                action=action,
                before=before,
                touched=touched,
            )
            if "division" in touched:
                _follow_move(locked, actor=actor)
            if isinstance(locked, Resident):
                _sync_head(locked)
    except IntegrityError as exc:
        raise _unique_errors(exc) from exc
    return locked


def do_end_record(obj: R, *, actor: Any, version: int | None, reason: str) -> R:
    """End a record (moved away, died, closed, tag no longer applies); it stays in history."""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why this record ends.")})
    with transaction.atomic():
        locked = type(obj)._default_manager.select_for_update().get(pk=obj.pk)
        _require_scope(actor, locked.division_path)
        if version is not None and locked.version != version:
            raise Conflict(
                _("Someone changed this record in the meantime: reload it and try again."),
                code="version",
            )
        if not locked.is_active:
            raise Conflict(_("This record has already ended."), code="ended")
        before = snapshot(locked)
        locked.is_active = False
        locked.version += 1
        if isinstance(locked, CareTag):
            locked.ended_on = timezone.localdate()
            locked.note = reason.strip()[:200]
        locked.save()
        _after_write(
            locked,
            ChangeKind.UPDATE,
            actor=actor,
            action="end",
            before=before,
            touched={"is_active"},
        )
        if isinstance(locked, Resident):
            for tag in locked.care_tags.filter(is_active=True):
                do_end_record(tag, actor=actor, version=None, reason=reason)
    return locked


def _follow_move(obj: Record, *, actor: Any) -> None:
    """Records that live inside a moved one move with it: a house's households and
    residents, a resident's care tags."""
    followers: list[Record] = []
    if isinstance(obj, Building):
        followers += list(obj.houses.filter(is_active=True))
    if isinstance(obj, House):
        followers += list(obj.households.filter(is_active=True))
        followers += list(obj.residents.filter(is_active=True))
    if isinstance(obj, Resident):
        followers += list(obj.care_tags.filter(is_active=True))
    for follower in followers:
        if follower.division_id == obj.division_id:
            continue
        before = snapshot(follower)
        follower.division = obj.division
        follower.division_path = obj.division_path
        follower.version += 1
        follower.save(update_fields=["division", "division_path", "version", "updated_at"])
        _after_write(
            follower,
            ChangeKind.UPDATE,
            actor=actor,
            action="move",
            before=before,
            touched={"division"},
        )
        _follow_move(follower, actor=actor)


def _sync_head(resident: Resident) -> None:
    """A household shows its head's name; keep it when the head is registered or renamed."""
    if resident.household_id and resident.relation == "head" and resident.is_active:
        Household.objects.filter(pk=resident.household_id).exclude(head_name=resident.name).update(
            head_name=resident.name
        )


# --- care groups ----------------------------------------------------------------------------
def do_tag_resident(resident: Resident, *, actor: Any, data: Mapping[str, Any]) -> CareTag:
    tag = do_create_record("care_tag", actor=actor, data={**data, "resident": resident})
    assert isinstance(tag, CareTag)
    if tag.next_visit_due is None:
        CareTag.objects.filter(pk=tag.pk).update(next_visit_due=timezone.localdate())
        tag.next_visit_due = timezone.localdate()
    return tag


def do_record_care_visit(
    tag: CareTag, *, actor: Any, on: dt.date | None = None, note: str = ""
) -> CareTag:
    """A visit to a care-group member: the next one falls due `visit_every_days` later."""
    on = on or timezone.localdate()
    if on > timezone.localdate():
        raise ValidationError({"on": _("A visit cannot lie in the future.")})
    with transaction.atomic():
        locked = CareTag.objects.select_for_update().get(pk=tag.pk)
        _require_scope(actor, locked.division_path)
        if not locked.is_active:
            raise Conflict(_("This tag has ended."), code="ended")
        before = snapshot(locked)
        if locked.last_visit_on is None or on > locked.last_visit_on:
            locked.last_visit_on = on
            locked.next_visit_due = on + dt.timedelta(days=locked.visit_every_days)
        if note.strip():
            locked.note = note.strip()[:200]
        locked.version += 1
        locked.save()
        _after_write(
            locked,
            ChangeKind.UPDATE,
            actor=actor,
            action="visit",
            before=before,
            touched={"last_visit_on", "next_visit_due"},
        )
    return locked


# --- protected numbers ----------------------------------------------------------------------
def may_unmask(actor: Any, obj: Record) -> bool:
    paths = actor.scope_paths("identity", "view") if actor is not None else None
    return paths is None or any(is_under(obj.division_path, p) for p in paths)


def unmask(obj: Record, *, actor: Any, fields: list[str], reason: str) -> dict[str, str]:
    """The full ID and/or phone numbers of a record, for a role that may see them, with the
    reason given; every unmask is an AccessLog row."""
    errors: dict[str, str] = {}
    wanted = [f for f in fields if f in PROTECTED_FIELDS]
    if not wanted or len(wanted) != len(fields):
        errors["fields"] = _("Choose among: %(fields)s.") % {"fields": ", ".join(PROTECTED_FIELDS)}
    if not (reason or "").strip():
        errors["reason"] = _("Say why you need the full number.")
    if errors:
        raise ValidationError(errors)
    if not may_unmask(actor, obj):
        raise PermissionDenied(_("Your roles do not allow seeing full numbers."))
    record_access(obj, actor=actor, action="unmask", fields=wanted, reason=reason.strip())
    return {name: protect.reveal(obj, name) for name in wanted}


def log_sensitive_read(resident: Resident, *, actor: Any) -> None:
    """Reading the record of a member of a key group (severe mental disorder, community
    correction…) is logged, even masked: the membership itself is sensitive."""
    groups = set(resident.care_tags.filter(is_active=True).values_list("group", flat=True)) & set(
        SENSITIVE_GROUPS
    )
    if groups:
        record_access(resident, actor=actor, action="read_care", fields=sorted(groups))
