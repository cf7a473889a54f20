"""Every write the field app makes (ARCHITECTURE rule 1), each taken in exactly once through
`receipts.submit`: case reports, visits, patrols, check-ins and fixes of residents.

Case reports and resident records go through the cases and registry actions, which own their
rules; this module adds what the phone's situation needs: the grid worker's own grids as the
only place they submit for, photos taken from finished uploads by UUID, and the receipt that
makes a retry harmless. Everything of one submission — receipt, record, photos, the care tag's
next visit, audit rows — commits together or not at all.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid as uuid_module
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.cases import actions as cases
from civicgrid.cases.choices import Channel
from civicgrid.cases.selectors import haversine_m
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.audit import record_change
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import ChangeKind
from civicgrid.geo.locate import locate
from civicgrid.geo.models import Division
from civicgrid.registry import actions as registry
from civicgrid.registry.models import CareTag, Household, Resident

from . import receipts, selectors, uploads
from .choices import ReceiptKind
from .models import CheckIn, Patrol, Visit

CLOCK_SKEW = dt.timedelta(minutes=5)  # a phone's clock may run this much ahead
OLDEST = dt.timedelta(days=366)  # older than this, the phone's clock is wrong
MAX_PATROL = dt.timedelta(hours=24)
MAX_TRACK_POINTS = 20_000


def require_submitter(user: Any) -> list[Division]:
    """The user's grids; a user with none may not submit anything (403)."""
    grids = selectors.my_grids(user)
    if not grids:
        raise PermissionDenied(
            _("Only grid workers and grid leaders of a grid submit field records.")
        )
    return grids


def _choose_grid(
    grids: Sequence[Division], grid_id: int | None, *, fallback: Division | None = None
) -> Division | None:
    """The grid named (one of the user's, else a 400 naming `grid`), the fallback, the user's
    only grid — or None when the user has several and named none."""
    if grid_id is not None:
        for grid in grids:
            if grid.pk == grid_id:
                return grid
        raise ValidationError({"grid": _("This is not one of your grids.")})
    if fallback is not None:
        return fallback
    return grids[0] if len(grids) == 1 else None


def _several() -> ValidationError:
    return ValidationError({"grid": _("You work in several grids: say which one.")})


def _check_time(name: str, when: dt.datetime, now: dt.datetime, errors: dict[str, str]) -> None:
    if when > now + CLOCK_SKEW:
        errors[name] = _("This time lies in the future: check the phone's clock.")
    elif when < now - OLDEST:
        errors[name] = _("This time lies more than a year back: check the phone's clock.")


def _check_point(lat: float | None, lng: float | None, errors: dict[str, str]) -> None:
    if (lat is None) != (lng is None):
        errors["lat" if lat is None else "lng"] = _("Give both latitude and longitude, or neither.")


def _renamed(exc: ValidationError, names: Mapping[str, str]) -> ValidationError:
    """An error of an action called underneath, keyed by the names the phone sent."""
    if not hasattr(exc, "error_dict"):
        return exc
    return ValidationError(
        {names.get(field, field): errors for field, errors in exc.error_dict.items()}
    )


def _audit(obj: Any, actor: Any, action: str) -> None:
    record_change(obj, ChangeKind.CREATE, actor=actor, action=action)


def _submit(
    actor: Any, kind: str, uuid: uuid_module.UUID, digest: str, write: Callable[[], Any]
) -> receipts.Answer:
    return receipts.submit(user=actor, kind=kind, uuid=uuid, digest=digest, write=write)


# --- case reports ---------------------------------------------------------------------------
CASE_FIELDS = {"files": "photos", "division": "grid"}
VISIT_FIELDS = {"on": "visited_at"}


def do_submit_case(
    *,
    actor: Any,
    uuid: uuid_module.UUID,
    digest: str,
    category: CaseCategory,
    description: str,
    lat: float | None = None,
    lng: float | None = None,
    address: str = "",
    extra: dict[str, Any] | None = None,
    photos: Sequence[uuid_module.UUID] = (),
    self_resolve: bool = False,
    note: str = "",
    grid: int | None = None,
) -> receipts.Answer:
    """Report a case from the field (channel: grid worker) through `cases.actions`; photos are
    attached with their upload UUID as the attachment's client UUID."""
    grids = require_submitter(actor)

    def write() -> receipts.Written:
        errors: dict[str, str] = {}
        chosen = _choose_grid(grids, grid)
        _check_point(lat, lng, errors)
        if lat is not None and lng is not None:
            located = locate(lng, lat)
            if located is not None and located not in {g.pk for g in grids}:
                errors["lat"] = _("This point lies in a grid that is not yours.")
            elif located is None and chosen is None:
                raise _several()
        elif chosen is None and "lat" not in errors and "lng" not in errors:
            raise _several()
        if self_resolve:
            if not (note or "").strip():
                errors["note"] = _("Say how it was resolved.")
            if not photos:
                errors["photos"] = _("Attach a photo as evidence.")
        if errors:
            raise ValidationError(errors)
        taken = uploads.take_photos(actor, photos)
        try:
            case, created = cases.do_report_case(
                actor=actor,
                category=category,
                description=description,
                channel=Channel.GRID_APP,
                lat=lat,
                lng=lng,
                address=address,
                division=chosen,
                extra=extra,
                client_uuid=uuid,
                body_hash=digest,
            )
            if not created:
                # A case with this UUID came in by another way than the field app.
                raise Conflict(
                    _("This uuid was already used for a different record."), code="replay"
                )
            for photo in taken:
                cases.do_attach_to_case(
                    case,
                    actor=actor,
                    name=photo.upload.name,
                    raw=photo.raw,
                    client_uuid=photo.upload.uuid,
                )
            if self_resolve:
                case = cases.do_self_resolve_case(
                    case, actor=actor, version=case.version, note=note
                )
        except ValidationError as exc:
            raise _renamed(exc, CASE_FIELDS) from exc
        return case.pk, {
            "uuid": str(uuid),
            "kind": ReceiptKind.CASE.value,
            "id": case.pk,
            "number": case.number,
            "status": case.status,
            "status_label": case.get_status_display(),
            "url": reverse("cases:case", args=[case.pk]),
            "photos": [str(p.upload.uuid) for p in taken],
        }

    return _submit(actor, ReceiptKind.CASE, uuid, digest, write)


# --- visits ---------------------------------------------------------------------------------
def do_submit_visit(
    *,
    actor: Any,
    uuid: uuid_module.UUID,
    digest: str,
    purpose: str,
    visited_at: dt.datetime,
    household: int | None = None,
    resident: int | None = None,
    care_tag: int | None = None,
    note: str = "",
    lat: float | None = None,
    lng: float | None = None,
    photos: Sequence[uuid_module.UUID] = (),
    grid: int | None = None,
) -> receipts.Answer:
    """A visit (走访) to a household or resident of one of the user's grids. A visit to a
    care-group member (`care_tag`) also records the tag's visit, so the next one falls due."""
    grids = require_submitter(actor)
    grid_ids = [g.pk for g in grids]

    def write() -> receipts.Written:
        now = timezone.now()
        errors: dict[str, str] = {}
        tag = person = home = None
        if care_tag is not None:
            tag = (
                CareTag.objects.select_related("resident")
                .filter(pk=care_tag, division_id__in=grid_ids, is_active=True)
                .first()
            )
            if tag is None:
                errors["care_tag"] = _("No current care-group tag in your grids has this id.")
        if resident is not None:
            person = Resident.objects.filter(
                pk=resident, division_id__in=grid_ids, is_active=True
            ).first()
            if person is None:
                errors["resident"] = _("No current resident of your grids has this id.")
        if household is not None:
            home = Household.objects.filter(
                pk=household, division_id__in=grid_ids, is_active=True
            ).first()
            if home is None:
                errors["household"] = _("No current household of your grids has this id.")
        if tag is not None and person is not None and tag.resident_id != person.pk:
            errors["care_tag"] = _("This tag belongs to another resident.")
        if person is not None and home is not None and person.household_id != home.pk:
            errors["resident"] = _("This resident is not a member of this household.")
        _check_time("visited_at", visited_at, now, errors)
        _check_point(lat, lng, errors)
        if errors:
            raise ValidationError(errors)
        person = person or (tag.resident if tag is not None else None)
        if home is None and person is not None and person.household_id:
            home = Household.objects.filter(
                pk=person.household_id, division_id__in=grid_ids, is_active=True
            ).first()
        anchor = tag or person or home
        chosen = _choose_grid(
            grids, grid, fallback=_grid_of(grids, anchor) if anchor is not None else None
        )
        if chosen is None:
            raise _several()
        if anchor is not None and anchor.division_id != chosen.pk:
            raise ValidationError({"grid": _("The person visited lives in another grid.")})
        taken = uploads.take_photos(actor, photos)
        visit = Visit(
            division=chosen,
            division_path=chosen.path,
            worker=actor,
            client_uuid=uuid,
            note=note,
            purpose=purpose,
            visited_at=visited_at,
            household=home,
            resident=person,
            care_tag=tag,
            lat=lat,
            lng=lng,
        )
        visit.save()
        for photo in taken:
            uploads.store_duty_photo(photo, visit=visit)
        if tag is not None:
            on = min(timezone.localdate(visited_at), timezone.localdate(now))
            try:
                registry.do_record_care_visit(tag, actor=actor, on=on)
            except ValidationError as exc:
                raise _renamed(exc, VISIT_FIELDS) from exc
        _audit(visit, actor, "field_visit")
        return visit.pk, {
            "uuid": str(uuid),
            "kind": ReceiptKind.VISIT.value,
            "id": visit.pk,
            "grid": chosen.pk,
            "purpose": visit.purpose,
            "purpose_label": visit.get_purpose_display(),
            "visited_at": selectors.iso(visited_at),
            "photos": [str(p.upload.uuid) for p in taken],
        }

    return _submit(actor, ReceiptKind.VISIT, uuid, digest, write)


def _grid_of(grids: Sequence[Division], obj: Any) -> Division | None:
    return next((g for g in grids if g.pk == obj.division_id), None)


# --- patrols --------------------------------------------------------------------------------
def track_distance_m(track: Sequence[Sequence[float]]) -> float:
    return sum(haversine_m(a[0], a[1], b[0], b[1]) for a, b in itertools.pairwise(track))


def do_submit_patrol(
    *,
    actor: Any,
    uuid: uuid_module.UUID,
    digest: str,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    track: Sequence[Sequence[float]] = (),
    note: str = "",
    photos: Sequence[uuid_module.UUID] = (),
    grid: int | None = None,
) -> receipts.Answer:
    """A patrol (巡查) with its GPS track; the server measures its minutes and distance."""
    grids = require_submitter(actor)

    def write() -> receipts.Written:
        now = timezone.now()
        errors: dict[str, str] = {}
        _check_time("started_at", started_at, now, errors)
        _check_time("ended_at", ended_at, now, errors)
        if "ended_at" not in errors:
            if ended_at <= started_at:
                errors["ended_at"] = _("A patrol ends after it starts.")
            elif ended_at - started_at > MAX_PATROL:
                errors["ended_at"] = _("A patrol lasts at most 24 hours.")
        if len(track) > MAX_TRACK_POINTS:
            errors["track"] = _("A track has at most 20,000 points.")
        if errors:
            raise ValidationError(errors)
        fallback = None
        if grid is None and len(grids) > 1 and track:
            first = locate(track[0][1], track[0][0])
            fallback = next((g for g in grids if g.pk == first), None)
        chosen = _choose_grid(grids, grid, fallback=fallback)
        if chosen is None:
            raise _several()
        taken = uploads.take_photos(actor, photos)
        patrol = Patrol(
            division=chosen,
            division_path=chosen.path,
            worker=actor,
            client_uuid=uuid,
            note=note,
            started_at=started_at,
            ended_at=ended_at,
            minutes=round((ended_at - started_at).total_seconds() / 60),
            distance_m=round(track_distance_m(track)),
            track=[list(point) for point in track],
        )
        patrol.save()
        for photo in taken:
            uploads.store_duty_photo(photo, patrol=patrol)
        _audit(patrol, actor, "field_patrol")
        return patrol.pk, {
            "uuid": str(uuid),
            "kind": ReceiptKind.PATROL.value,
            "id": patrol.pk,
            "grid": chosen.pk,
            "minutes": patrol.minutes,
            "distance_m": patrol.distance_m,
            "photos": [str(p.upload.uuid) for p in taken],
        }

    return _submit(actor, ReceiptKind.PATROL, uuid, digest, write)


# --- check-ins ------------------------------------------------------------------------------
def do_submit_check_in(
    *,
    actor: Any,
    uuid: uuid_module.UUID,
    digest: str,
    at: dt.datetime,
    lat: float,
    lng: float,
    accuracy: float | None = None,
    note: str = "",
    grid: int | None = None,
) -> receipts.Answer:
    """A check-in (签到): kept under the grid the point lies in when it is one of the user's
    (inside_grid), otherwise under the grid named or the user's first one."""
    grids = require_submitter(actor)

    def write() -> receipts.Written:
        errors: dict[str, str] = {}
        _check_time("at", at, timezone.now(), errors)
        if errors:
            raise ValidationError(errors)
        located = locate(lng, lat)
        inside = next((g for g in grids if g.pk == located), None)
        named = _choose_grid(grids, grid)
        chosen = inside or named or grids[0]
        check_in = CheckIn(
            division=chosen,
            division_path=chosen.path,
            worker=actor,
            client_uuid=uuid,
            note=note,
            at=at,
            lat=lat,
            lng=lng,
            accuracy_m=round(accuracy) if accuracy is not None else None,
            inside_grid=inside is not None,
        )
        check_in.save()
        _audit(check_in, actor, "field_check_in")
        return check_in.pk, {
            "uuid": str(uuid),
            "kind": ReceiptKind.CHECK_IN.value,
            "id": check_in.pk,
            "inside_grid": check_in.inside_grid,
            "grid": chosen.pk,
        }

    return _submit(actor, ReceiptKind.CHECK_IN, uuid, digest, write)


# --- residents ------------------------------------------------------------------------------
# The phone's names for the registry's fields.
RESIDENT_FIELDS = {
    "name": "name",
    "sex": "sex",
    "id_type": "document_type",
    "id_number": "id_number",
    "phone": "phone",
    "residence_type": "residence_type",
    "relation": "relation",
    "note": "note",
}
RESIDENT_ERRORS = {"document_type": "id_type", "grid": "household", "house": "household"}


def do_submit_resident(
    *,
    actor: Any,
    uuid: uuid_module.UUID,
    digest: str,
    values: Mapping[str, Any],
    resident: int | None = None,
    version: int | None = None,
    household: int | None = None,
) -> receipts.Answer:
    """Add a resident to a household of the user's grids, or fix one of their residents (with
    the version the phone saw: a stale one is a 409). The registry's actions and cleaners judge
    the values exactly as they do on the registry's own pages."""
    grids = require_submitter(actor)
    grid_ids = [g.pk for g in grids]

    def write() -> receipts.Written:
        errors: dict[str, str] = {}
        data = {RESIDENT_FIELDS[name]: value for name, value in values.items()}
        home = None
        if household is not None:
            home = Household.objects.filter(
                pk=household, division_id__in=grid_ids, is_active=True
            ).first()
            if home is None:
                errors["household"] = _("No current household of your grids has this id.")
            else:
                data["household"] = home
        try:
            if resident is not None:
                person = Resident.objects.filter(
                    pk=resident, division_id__in=grid_ids, is_active=True
                ).first()
                if person is None:
                    errors["resident"] = _("No current resident of your grids has this id.")
                if version is None:
                    errors["version"] = _("Give the version of the record you fixed.")
                if errors:
                    raise ValidationError(errors)
                assert person is not None
                record = registry.do_update_record(
                    person, actor=actor, version=version, data=data, action="field_fix"
                )
            else:
                if household is None:
                    errors["household"] = _("Choose the household the new resident belongs to.")
                if errors:
                    raise ValidationError(errors)
                record = registry.do_create_record("resident", actor=actor, data=data)
        except ValidationError as exc:
            raise _renamed(exc, RESIDENT_ERRORS) from exc
        assert isinstance(record, Resident)
        return record.pk, {
            "uuid": str(uuid),
            "kind": ReceiptKind.RESIDENT.value,
            "id": record.pk,
            "version": record.version,
            "household": record.household_id,
            "name": record.name,
            "id_masked": record.id_masked,
            "phone_masked": record.phone_masked,
        }

    return _submit(actor, ReceiptKind.RESIDENT, uuid, digest, write)
