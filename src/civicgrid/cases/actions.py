"""Every change of a case (ARCHITECTURE rule 1): one transaction, the case row locked, its
version checked, one timeline step, one audit row, notifications after commit.

Intake is `do_report_case`; each transition of workflow.TRANSITIONS has its own `do_…_case`
function that runs through `_act`, the one engine that enforces the table."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import RoleAssignment, Unit, User
from civicgrid.accounts.roles import ADMIN_ROLES, Role
from civicgrid.catalog.models import CaseCategory
from civicgrid.catalog.selectors import resolve_route
from civicgrid.core import crypto
from civicgrid.core.audit import record_change, snapshot
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import ChangeKind
from civicgrid.core.notify import notify
from civicgrid.core.scoping import Action, can
from civicgrid.core.validators import normalise_phone
from civicgrid.geo.locate import locate
from civicgrid.geo.models import Division
from civicgrid.insights import rollup

from . import attachments as files
from . import rules, sla
from .choices import AttachmentKind, Channel, SlaState, Status
from .models import Case, CaseCounter, CaseStep
from .workflow import RESTARTS_STAGE, TRANSITIONS, stage_of

PHONE_PURPOSE = "case.reporter_phone"
MAX_DESCRIPTION = 4000


# --- intake -----------------------------------------------------------------------------------
def body_fingerprint(body: dict[str, Any]) -> str:
    """A stable hash of a submitted body, to tell a replay from a different use of the same
    client UUID."""
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()


def _finite(value: Any) -> float:
    """A real number: not a boolean, infinity or NaN (which no JSON column stores)."""
    if isinstance(value, bool):
        raise ValueError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _clean_extra(category: CaseCategory, extra: dict[str, Any] | None) -> dict[str, Any]:
    extra = dict(extra or {})
    specs = {spec["name"]: spec for spec in category.field_specs()}
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for name in extra:
        if name not in specs:
            errors[f"extra.{name}"] = _("This category asks for no such detail.")
    for name, spec in specs.items():
        value = extra.get(name)
        if value in (None, ""):
            if spec.get("required"):
                errors[f"extra.{name}"] = _("This detail is required.")
            continue
        kind = spec.get("type", "text")
        try:
            if kind == "number":
                value = _finite(value)
            elif kind == "integer":
                number = _finite(value)
                if not number.is_integer():
                    raise ValueError  # 2.5 workers is a mistake, not 2
                value = int(number)
            elif kind == "boolean":
                value = value if isinstance(value, bool) else str(value).lower() in {"1", "true"}
            elif kind == "choice":
                if value not in spec.get("choices", []):
                    raise ValueError
            else:
                value = str(value)[:500]
        except (TypeError, ValueError):
            errors[f"extra.{name}"] = _("Not a valid value.")
            continue
        cleaned[name] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def _next_number(division_path: str, when: dt.datetime) -> str:
    """Year + county code + sequence, e.g. 2026371602000123."""
    year = timezone.localtime(when).year
    # The county's six-digit code; a case placed at a city or province gets its code (371600).
    prefix = division_path[:6].ljust(6, "0")
    updated = CaseCounter.objects.filter(year=year, prefix=prefix).update(last=F("last") + 1)
    if not updated:
        try:
            with transaction.atomic():
                CaseCounter.objects.create(year=year, prefix=prefix, last=1)
        except IntegrityError:
            CaseCounter.objects.filter(year=year, prefix=prefix).update(last=F("last") + 1)
    last = CaseCounter.objects.get(year=year, prefix=prefix).last
    return f"{year}{prefix}{last:06d}"


def _place(
    actor: Any, lat: float | None, lng: float | None, division: Division | None
) -> tuple[Division, Division | None]:
    """The division a case belongs to (its grid when the point lies in one) and the grid."""
    if (lat is None) != (lng is None):
        raise ValidationError({"lat": _("Give both latitude and longitude, or neither.")})
    grid = None
    if lat is not None and lng is not None:
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValidationError({"lat": _("The point is not a WGS-84 latitude/longitude.")})
        grid_id = locate(lng, lat)
        if grid_id is not None:
            # The boundary (a polygon of many points) is what the index already used.
            grid = Division.objects.defer("boundary").get(pk=grid_id)
    if grid is not None:
        return grid, grid
    if division is None:
        raise ValidationError(
            {"lat": _("The point lies in no grid: give the division (and an address).")}
        )
    if not division.is_active:
        raise ValidationError({"division": _("This division is no longer active.")})
    return division, None


def _reporting_roles(actor: Any) -> set[str]:
    roles = {r for r, _p in actor.assignment_pairs()} if actor is not None else set()
    if actor is not None and not actor.is_superuser and (not roles or roles <= ADMIN_ROLES):
        raise PermissionDenied(_("Only staff who handle cases report them."))
    return roles


def do_report_case(
    *,
    actor: Any,
    category: CaseCategory,
    description: str,
    channel: str,
    title: str = "",
    lat: float | None = None,
    lng: float | None = None,
    address: str = "",
    division: Division | None = None,
    priority: int | None = None,
    reporter_name: str = "",
    reporter_phone: str = "",
    extra: dict[str, Any] | None = None,
    client_uuid: uuid.UUID | None = None,
    body_hash: str = "",
    register: bool = False,
    self_resolve: bool = False,
    note: str = "",
    uploads: Sequence[tuple[str, bytes]] = (),
) -> tuple[Case, bool]:
    """Take in a case. Returns (case, created); a replay of the same client UUID with the same
    body returns the original case, with a different body it is a conflict."""
    if client_uuid is not None:
        existing = Case.objects.filter(client_uuid=client_uuid).first()
        if existing is not None:
            # Someone else's UUID is a conflict too: a replay answers with the case, which only
            # the one who reported it may be shown.
            other_reporter = existing.reporter_id != getattr(actor, "pk", None)
            if other_reporter or (
                existing.body_hash and body_hash and existing.body_hash != body_hash
            ):
                raise Conflict(
                    _("This client UUID was already used for a different case."), code="replay"
                )
            return existing, False
    roles = _reporting_roles(actor)
    errors: dict[str, str] = {}
    description = (description or "").strip()
    if not description:
        errors["description"] = _("Describe what is wrong.")
    elif len(description) > MAX_DESCRIPTION:
        errors["description"] = _("The description is longer than 4,000 characters.")
    if not category.is_active:
        errors["category"] = _("This category is no longer in use.")
    elif category.is_major and category.children.filter(is_active=True).exists():
        errors["category"] = _("Choose a minor class of this category.")
    if channel not in Channel.values:
        errors["channel"] = _("Unknown channel.")
    if self_resolve:
        if Role.GRID_WORKER not in roles and Role.GRID_LEADER not in roles:
            raise PermissionDenied(_("Only grid workers resolve cases on the spot."))
        if not (note or "").strip():
            errors["note"] = _("Say how it was resolved.")
        if not any(files.is_photo(raw) for _name, raw in uploads):
            errors["files"] = _("Attach a photo as evidence.")
    if errors:
        raise ValidationError(errors)
    place, grid = _place(actor, lat, lng, division)
    phone = normalise_phone(reporter_phone, field="reporter_phone")
    cleaned_extra = _clean_extra(category, extra)
    prepared = [files.prepare(raw, name) for name, raw in uploads]
    centre = rules.centre_for(place.path)
    if centre is None:
        raise ValidationError({"division": _("No governance centre serves this place yet.")})
    now = timezone.now()
    try:
        with transaction.atomic():
            case = Case(
                number=_next_number(place.path, now),
                category=category,
                priority=priority or category.default_priority,
                title=(title or description[:30]).strip()[:120],
                description=description,
                extra=cleaned_extra,
                lat=lat,
                lng=lng,
                address=(address or "").strip()[:200],
                grid=grid,
                division=place,
                division_path=place.path,
                channel=channel,
                reporter=actor if getattr(actor, "pk", None) else None,
                reporter_name=(reporter_name or "").strip()[:60],
                reporter_phone_enc=crypto.encrypt(phone, PHONE_PURPOSE) if phone else "",
                reporter_phone_index=crypto.blind_index(phone, PHONE_PURPOSE) if phone else "",
                client_uuid=client_uuid,
                body_hash=body_hash,
                status=Status.REPORTED,
                owner_unit=centre,
                centre=centre,
                reported_at=now,
            )
            case.save()
            step = _step(case, "report", "", Status.REPORTED, actor, "", {}, now, seq=1)
            for item in prepared:
                files.store(case, item, actor=actor, step=step)
            record_change(case, ChangeKind.CREATE, actor=actor, action="report")
            rollup.mark([rollup.keys_of(case)])
            _notify_unit(case, centre, "report", _("New case %(number)s") % {"number": case.number})
            if self_resolve:
                case = do_self_resolve_case(case, actor=actor, version=case.version, note=note)
            elif register:
                case = do_register_case(case, actor=actor, version=case.version)
    except IntegrityError as exc:
        if client_uuid is not None and Case.objects.filter(client_uuid=client_uuid).exists():
            # A concurrent replay of the same submission won the race: answer as a replay.
            return do_report_case(
                actor=actor,
                category=category,
                description=description,
                channel=channel,
                client_uuid=client_uuid,
                body_hash=body_hash,
            )
        raise exc
    return case, True


def reporter_phone(case: Case, *, actor: Any, reason: str) -> str:
    """The caller's full phone number, for calling back: logged with the reason given."""
    from civicgrid.core.audit import record_access

    if not case.reporter_phone_enc:
        return ""
    if not (reason or "").strip():
        raise ValidationError({"reason": _("Say why you need the full number.")})
    if not rules.centre_side(actor, case):
        raise PermissionDenied(_("Only the responsible centre sees the caller's number."))
    record_access(case, actor=actor, action="unmask", fields=["reporter_phone"], reason=reason)
    return crypto.decrypt(case.reporter_phone_enc, PHONE_PURPOSE)


def masked_phone(case: Case) -> str:
    """138****5678 for a Chinese number (stored as +86…), as people are used to reading it."""
    if not case.reporter_phone_enc:
        return ""
    phone = crypto.decrypt(case.reporter_phone_enc, PHONE_PURPOSE)
    return crypto.mask_phone(phone.removeprefix("+86"))


# --- the engine -------------------------------------------------------------------------------
def _step(
    case: Case,
    action: str,
    from_status: str,
    to_status: str,
    actor: Any,
    note: str,
    data: dict[str, Any],
    now: dt.datetime,
    unit: Unit | None = None,
    seq: int | None = None,
) -> CaseStep:
    if seq is None:
        seq = (case.steps.order_by("-seq").values_list("seq", flat=True).first() or 0) + 1
    return CaseStep.objects.create(
        case=case,
        seq=seq,
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor if getattr(actor, "pk", None) else None,
        actor_name=actor.get_username() if getattr(actor, "pk", None) else "system",
        unit=unit if unit is not None else _actor_unit(actor, case),
        note=note,
        data=data,
        time=now,
    )


def _actor_unit(actor: Any, case: Case) -> Unit | None:
    """The unit on whose behalf the actor acts on this case."""
    if not getattr(actor, "pk", None):
        return None
    triples = actor.assignment_triples()
    for role, _path, unit_id in triples:
        if role == Role.DEPARTMENT_HANDLER and unit_id in (case.owner_unit_id,):
            return case.owner_unit
    for role, path, _unit in triples:
        if role == Role.CENTRE_STAFF and case.division_path.startswith(path):
            return rules.centre_for(path)
    return None


def _apply(
    case: Case,
    name: str,
    actor: Any,
    note: str,
    now: dt.datetime,
    *,
    target: str | None,
    mutate: Callable[[Case], dict[str, Any] | None] | None = None,
) -> CaseStep:
    """Change the locked case in memory, start/stop clocks, save, and append the step."""
    before = snapshot(case)
    from_status = case.status
    # Whose behalf the actor acts on is decided before the action moves the case elsewhere.
    unit = _actor_unit(actor, case)
    # A stage finished (or moved on) past its limit before the sweep saw it still counts.
    if case.stage_due is not None and case.suspended_at is None and now > case.stage_due:
        case.ever_overdue = True
    data = (mutate(case) if mutate else None) or {}
    if target is not None and (target != from_status or name in RESTARTS_STAGE):
        case.status = target
        if target == Status.SUSPENDED:
            case.suspended_at = now
        elif from_status == Status.SUSPENDED:
            data["suspended_working_seconds"] = sla.suspended_working_seconds(case, now)
            data["resumed_after_seconds"] = sla.resume_clock(case, now)
        elif stage_of(target) != stage_of(from_status) or name in RESTARTS_STAGE:
            sla.start_stage(case, stage_of(target), now)
    if case.status == Status.CLOSED and case.closed_at is None:
        case.closed_at = now
    if case.sla_state == SlaState.RED:
        case.ever_overdue = True
    case.version += 1
    case.save()
    step = _step(case, name, from_status, case.status, actor, note, data, now, unit=unit)
    record_change(case, ChangeKind.UPDATE, actor=actor, action=name, before=before)
    rollup.mark([rollup.keys_of(case)])
    return step


def check_transition(case: Case, name: str, actor: Any, *, version: int | None = None) -> None:
    """Refuse an action on a case changed since the actor saw it (Conflict), a transition the
    case's state does not allow (Conflict) or an actor who may not take it (PermissionDenied).
    The API asks before it reads the arguments, so that a refused request learns nothing from
    how its arguments would have been judged."""
    transition = TRANSITIONS[name]
    if version is not None and case.version != version:
        raise Conflict(
            _(
                "Someone else changed this case in the meantime (now version %(v)d): reload "
                "it and try again."
            )
            % {"v": case.version},
            code="stale",
        )
    if case.status not in transition.sources:
        raise Conflict(
            _("“%(action)s” is not possible while the case is %(status)s.")
            % {"action": transition.label, "status": Status(case.status).label},
            code="transition",
        )
    if actor is not None and not rules.may(actor, case, transition):
        raise PermissionDenied(
            _("You may not “%(action)s” this case.") % {"action": transition.label}
        )
    if not rules.ready(case, transition):
        raise Conflict(
            _("“%(action)s” is not possible: no staged time limit of this case is pending.")
            % {"action": transition.label},
            code="not_ready",
        )


def _act(
    case: Case,
    name: str,
    *,
    actor: Any,
    version: int | None,
    note: str = "",
    mutate: Callable[[Case], dict[str, Any] | None] | None = None,
    uploads: Sequence[tuple[str, bytes]] = (),
    after: Callable[[Case, CaseStep], object] | None = None,
) -> Case:
    transition = TRANSITIONS[name]
    note = (note or "").strip()
    if transition.note_required and not note:
        raise ValidationError({"note": _("Add a note: this action needs a reason.")})
    prepared = [files.prepare(raw, filename) for filename, raw in uploads]
    with transaction.atomic():
        locked = (
            Case.objects.select_for_update(of=("self",))
            .select_related("category", "category__parent", "owner_unit", "centre")
            .get(pk=case.pk)
        )
        check_transition(locked, name, actor, version=version)
        now = timezone.now()
        step = _apply(locked, name, actor, note, now, target=transition.target, mutate=mutate)
        for item in prepared:
            files.store(locked, item, actor=actor, step=step)
        if after is not None:
            after(locked, step)
    return locked


# --- recipients -------------------------------------------------------------------------------
def unit_members(unit: Unit) -> list[User]:
    """Who works a unit's queue: a department's handlers, or a centre's staff."""
    return members_by_unit([unit])[unit.pk]


def members_by_unit(units: Iterable[Unit]) -> dict[int, list[User]]:
    """`unit_members` for many units in at most two queries (the sweep urges thousands)."""
    units = list(units)
    found: dict[int, dict[int, User]] = {unit.pk: {} for unit in units}
    centres: dict[str, list[int]] = {}
    for unit in units:
        if unit.kind == UnitKind.CENTRE:
            centres.setdefault(unit.division_path, []).append(unit.pk)
    departments = [unit.pk for unit in units if unit.kind != UnitKind.CENTRE]
    active = RoleAssignment.objects.filter(user__is_active=True).select_related("user")
    if centres:
        for held in active.filter(role=Role.CENTRE_STAFF, division_path__in=list(centres)):
            for unit_id in centres[held.division_path]:
                found[unit_id][held.user_id] = held.user
    if departments:
        for held in active.filter(unit_id__in=departments):
            if held.unit_id is not None:
                found[held.unit_id][held.user_id] = held.user
    return {unit_id: list(users.values()) for unit_id, users in found.items()}


def _case_url(case: Case) -> str:
    return reverse("cases:case", args=[case.pk])


def _notify_unit(case: Case, unit: Unit, kind: str, title: str, body: str = "") -> None:
    notify(
        unit_members(unit),
        kind=kind,
        title=title,
        body=body or case.title,
        url=_case_url(case),
        sms=case.priority >= 4,
    )


def _notify_both(case: Case, kind: str, title: str, body: str) -> None:
    """The unit that has the case and its centre (once, when they are the same)."""
    for unit in {case.owner_unit, case.centre}:
        _notify_unit(case, unit, kind, title, body)


# --- transitions ------------------------------------------------------------------------------
def _stamp(field: str) -> Callable[[Case], dict[str, Any]]:
    """A mutation that records the moment of a milestone (registered_at, accepted_at…)."""

    def mutate(c: Case) -> dict[str, Any]:
        setattr(c, field, timezone.now())
        return {}

    return mutate


def do_register_case(case: Case, *, actor: Any, version: int | None, note: str = "") -> Case:
    return _act(
        case,
        "register",
        actor=actor,
        version=version,
        note=note,
        mutate=_stamp("registered_at"),
    )


def do_void_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    return _act(case, "void", actor=actor, version=version, note=note)


def do_merge_case(case: Case, *, actor: Any, version: int | None, into: Case, note: str) -> Case:
    if into.pk == case.pk:
        raise ValidationError({"into": _("A case cannot be merged into itself.")})
    if into.status in {Status.MERGED, Status.VOIDED} or into.merged_into_id:
        raise ValidationError({"into": _("Merge into a live case.")})
    if actor is not None and not can(actor, into, Action.VIEW):
        raise ValidationError({"into": _("No such case in your area.")})

    def mutate(c: Case) -> dict[str, Any]:
        c.merged_into = into
        return {"into": into.number}

    return _act(case, "merge", actor=actor, version=version, note=note, mutate=mutate)


def do_escalate_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    if rules.parent_centre(case.centre) is None:
        raise ValidationError({"note": _("There is no higher centre to escalate to.")})

    def mutate(c: Case) -> dict[str, Any]:
        # The parent of the locked row's centre: the case may have moved since it was read.
        parent = rules.parent_centre(c.centre)
        if parent is None:
            raise ValidationError({"note": _("There is no higher centre to escalate to.")})
        c.centre = c.owner_unit = parent
        return {"to_unit": parent.pk, "to_unit_name": parent.name}

    return _act(
        case,
        "escalate",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        after=lambda c, _s: _notify_unit(
            c, c.centre, "escalate", _("Case %(n)s escalated to you") % {"n": c.number}
        ),
    )


def suggested_unit(case: Case) -> Unit:
    """The routing matrix's handling unit, or the centre of first contact when none fits."""
    route = resolve_route(case.category, case.division_path)
    return route.unit if route is not None else case.centre


def _check_units(case: Case, unit: Unit, co_units: Iterable[Unit]) -> list[Unit]:
    if not rules.may_dispatch_to(case, unit):
        raise ValidationError({"unit": _("This unit does not serve the case's place.")})
    co = [u for u in co_units if u.pk != unit.pk]
    for u in co:
        if not rules.may_dispatch_to(case, u):
            raise ValidationError(
                {"co_units": _("%(unit)s does not serve the case's place.") % {"unit": u.name}}
            )
    return co


def do_dispatch_case(
    case: Case,
    *,
    actor: Any,
    version: int | None,
    unit: Unit | None = None,
    co_units: Iterable[Unit] = (),
    note: str = "",
) -> Case:
    unit = unit or suggested_unit(case)
    co = _check_units(case, unit, co_units)

    def mutate(c: Case) -> dict[str, Any]:
        c.owner_unit = c.handler_unit = unit
        c.dispatched_at = timezone.now()
        return {"unit": unit.pk, "unit_name": unit.name, "co_units": [u.pk for u in co]}

    def after(c: Case, _step: CaseStep) -> None:
        c.co_units.set(co)
        for u in [unit, *co]:
            _notify_unit(c, u, "dispatch", _("Case %(n)s dispatched to you") % {"n": c.number})

    return _act(
        case, "dispatch", actor=actor, version=version, note=note, mutate=mutate, after=after
    )


def do_accept_case(case: Case, *, actor: Any, version: int | None, note: str = "") -> Case:
    return _act(
        case,
        "accept",
        actor=actor,
        version=version,
        note=note,
        mutate=_stamp("accepted_at"),
    )


def do_start_case(case: Case, *, actor: Any, version: int | None, note: str = "") -> Case:
    return _act(case, "start", actor=actor, version=version, note=note)


def do_return_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    def after(c: Case, _step: CaseStep) -> None:
        c.co_units.clear()
        _notify_unit(c, c.centre, "return", _("Case %(n)s was returned") % {"n": c.number}, note)

    def mutate(c: Case) -> dict[str, Any]:
        returned_by = c.owner_unit
        c.owner_unit = c.centre
        c.return_count += 1
        return {"from_unit": returned_by.pk, "from_unit_name": returned_by.name}

    return _act(
        case,
        "return",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        after=after,
    )


def do_transfer_case(case: Case, *, actor: Any, version: int | None, unit: Unit, note: str) -> Case:
    if unit.pk == case.owner_unit_id:
        raise ValidationError({"unit": _("The case is already with this unit.")})
    _check_units(case, unit, [])

    def mutate(c: Case) -> dict[str, Any]:
        previous = c.owner_unit
        c.owner_unit = c.handler_unit = unit
        c.dispatched_at = timezone.now()
        return {"from_unit": previous.pk, "unit": unit.pk, "unit_name": unit.name}

    def after(c: Case, _step: CaseStep) -> None:
        # A co-handler that becomes the lead is no longer its own co-handler.
        c.co_units.remove(unit)
        _notify_unit(c, unit, "dispatch", _("Case %(n)s transferred to you") % {"n": c.number})

    return _act(
        case, "transfer", actor=actor, version=version, note=note, mutate=mutate, after=after
    )


def do_suspend_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    return _act(case, "suspend", actor=actor, version=version, note=note)


def do_resume_case(case: Case, *, actor: Any, version: int | None, note: str = "") -> Case:
    return _act(case, "resume", actor=actor, version=version, note=note)


def do_feedback_case(
    case: Case,
    *,
    actor: Any,
    version: int | None,
    note: str,
    uploads: Sequence[tuple[str, bytes]] = (),
) -> Case:
    def mutate(c: Case) -> dict[str, Any]:
        c.handled_at = timezone.now()
        c.handling_minutes = sla.handling_minutes(c, c.handled_at)
        c.owner_unit = c.centre
        return {}

    return _act(
        case,
        "feedback",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        uploads=uploads,
        after=lambda c, _s: _notify_unit(
            c, c.centre, "feedback", _("Case %(n)s was handled") % {"n": c.number}, note
        ),
    )


def do_start_check_case(
    case: Case, *, actor: Any, version: int | None, checker: User | None = None, note: str = ""
) -> Case:
    checker = checker or (actor if getattr(actor, "pk", None) else None)
    if checker is None:
        raise ValidationError({"checker": _("Choose who checks on site.")})
    place_path = case.division_path
    fit = any(
        r in {Role.GRID_WORKER, Role.GRID_LEADER, Role.CENTRE_STAFF} and place_path.startswith(p)
        for r, p in checker.assignment_pairs()
    )
    if not (checker.is_active and fit):
        raise ValidationError({"checker": _("The checker must work in the case's area.")})

    def mutate(c: Case) -> dict[str, Any]:
        c.checker = checker
        return {"checker": checker.pk, "checker_name": checker.display_name}

    return _act(
        case,
        "start_check",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        after=lambda c, _s: notify(
            [checker],
            kind="check",
            url=_case_url(c),
            title=_("Please check case %(n)s on site") % {"n": c.number},
        ),
    )


def do_close_case(case: Case, *, actor: Any, version: int | None, note: str = "") -> Case:
    return _act(case, "close", actor=actor, version=version, note=note)


def do_pass_check_case(
    case: Case,
    *,
    actor: Any,
    version: int | None,
    note: str = "",
    uploads: Sequence[tuple[str, bytes]] = (),
) -> Case:
    return _act(case, "pass_check", actor=actor, version=version, note=note, uploads=uploads)


def do_fail_check_case(
    case: Case,
    *,
    actor: Any,
    version: int | None,
    note: str,
    uploads: Sequence[tuple[str, bytes]] = (),
) -> Case:
    def mutate(c: Case) -> dict[str, Any]:
        c.owner_unit = c.handler_unit or c.centre
        c.rework_count += 1
        c.handled_at = None
        return {"unit": c.owner_unit.pk, "unit_name": c.owner_unit.name}

    return _act(
        case,
        "fail_check",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        uploads=uploads,
        after=lambda c, _s: _notify_unit(
            c,
            c.owner_unit,
            "rework",
            _("Case %(n)s failed its check: rework") % {"n": c.number},
            note,
        ),
    )


def do_self_resolve_case(
    case: Case,
    *,
    actor: Any,
    version: int | None,
    note: str,
    uploads: Sequence[tuple[str, bytes]] = (),
) -> Case:
    """The reporting grid worker fixed it on the spot; a photo of the result is the evidence
    (subject to the centre's spot checks)."""
    if not any(files.is_photo(raw) for _name, raw in uploads) and not (
        case.attachments.filter(kind=AttachmentKind.PHOTO).exists()
    ):
        raise ValidationError({"files": _("Attach a photo as evidence.")})

    def mutate(c: Case) -> dict[str, Any]:
        c.self_resolved = True
        return {}

    return _act(
        case,
        "self_resolve",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        uploads=uploads,
    )


def do_evaluate_case(
    case: Case, *, actor: Any, version: int | None, satisfaction: int, note: str = ""
) -> Case:
    if not isinstance(satisfaction, int) or not 1 <= satisfaction <= 5:
        raise ValidationError({"satisfaction": _("Rate from 1 (very dissatisfied) to 5.")})

    def mutate(c: Case) -> dict[str, Any]:
        c.satisfaction = satisfaction
        return {"satisfaction": satisfaction}

    return _act(case, "evaluate", actor=actor, version=version, note=note, mutate=mutate)


def do_progress_case(
    case: Case,
    *,
    actor: Any,
    version: int | None,
    note: str = "",
    uploads: Sequence[tuple[str, bytes]] = (),
) -> Case:
    """The handling unit reports the next staged step (e.g. the cordon of a burst main) done:
    the sweep no longer urges it; the stage's own deadline runs on."""

    def mutate(c: Case) -> dict[str, Any]:
        now = timezone.now()
        done = sla.complete_step(c, now)
        if done is None:  # check_transition made sure one is pending, under the row lock
            raise Conflict(_("No staged time limit of this case is pending."), code="not_ready")
        return {
            "step": done["step"],
            "due": done["due"],
            "late": now > sla.step_due(done),
        }

    return _act(
        case, "progress", actor=actor, version=version, note=note, mutate=mutate, uploads=uploads
    )


def do_urge_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    def mutate(c: Case) -> dict[str, Any]:
        c.urge_count += 1
        return {"count": c.urge_count}

    return _act(
        case,
        "urge",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        after=lambda c, _s: _notify_unit(
            c, c.owner_unit, "urge", _("Urged: case %(n)s") % {"n": c.number}, note
        ),
    )


def do_supervise_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    def mutate(c: Case) -> dict[str, Any]:
        c.supervised = True
        c.supervised_by = _actor_unit(actor, c)
        return {"by_unit": c.supervised_by.pk if c.supervised_by else None}

    return _act(
        case,
        "supervise",
        actor=actor,
        version=version,
        note=note,
        mutate=mutate,
        after=lambda c, _s: _notify_both(
            c, "supervise", _("Case %(n)s is under formal supervision") % {"n": c.number}, note
        ),
    )


def do_instruct_case(case: Case, *, actor: Any, version: int | None, note: str) -> Case:
    return _act(
        case,
        "instruct",
        actor=actor,
        version=version,
        note=note,
        after=lambda c, _s: _notify_both(
            c, "instruct", _("Leader's instruction on case %(n)s") % {"n": c.number}, note
        ),
    )


def do_attach_to_case(
    case: Case, *, actor: Any, name: str, raw: bytes, client_uuid: uuid.UUID | None = None
) -> Any:
    """Attach a photo or document to a case (not a transition: the timeline is untouched)."""
    from .models import Attachment

    if client_uuid is not None:
        existing = Attachment.objects.filter(client_uuid=client_uuid).first()
        if existing is not None:
            if existing.case_id != case.pk:
                raise Conflict(_("This client UUID was already used for another file."))
            return existing
    if actor is not None and not can(actor, case, Action.CHANGE):
        raise PermissionDenied(_("You may not add files to this case."))
    prepared = files.prepare(raw, name)
    with transaction.atomic():
        attachment = files.store(case, prepared, actor=actor, client_uuid=client_uuid)
        record_change(attachment, ChangeKind.CREATE, actor=actor, action="attach")
    return attachment


ACTIONS: dict[str, Callable[..., Case]] = {
    "register": do_register_case,
    "void": do_void_case,
    "merge": do_merge_case,
    "escalate": do_escalate_case,
    "dispatch": do_dispatch_case,
    "accept": do_accept_case,
    "start": do_start_case,
    "progress": do_progress_case,
    "return": do_return_case,
    "transfer": do_transfer_case,
    "suspend": do_suspend_case,
    "resume": do_resume_case,
    "feedback": do_feedback_case,
    "start_check": do_start_check_case,
    "close": do_close_case,
    "pass_check": do_pass_check_case,
    "fail_check": do_fail_check_case,
    "self_resolve": do_self_resolve_case,
    "evaluate": do_evaluate_case,
    "urge": do_urge_case,
    "supervise": do_supervise_case,
    "instruct": do_instruct_case,
}
