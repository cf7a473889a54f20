"""Exporting registry lists as CSV or Excel, and the import templates.

An export holds exactly a list of the pages: the records the user may see, narrowed by the
same filters (registry.views.lists.filtered; the care-group list's for care tags). Its columns
are the import layout's (registry/transfer/columns.py) plus a few for reading, so an edited
export can be imported again.

ID and phone numbers are masked unless the user may unmask them (actions.may_unmask, per
record) and asks for clear numbers with a reason. Every export is an AccessLog row (action
"export", the filter, the clear fields if any, the reason). Up to EXPORT_THRESHOLD rows stream
straight to the browser; longer lists are written by a background task (core ExportJob) and
downloaded by their requester when ready.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from civicgrid.core.context import current_request_id
from civicgrid.core.models import AccessLog, ExportJob, JobStatus

from . import protect
from .actions import KINDS, may_unmask
from .importing import KIND_LABELS
from .models import CareTag, Resident
from .transfer import sheets
from .transfer.columns import LAYOUTS, Column

EXPORT_THRESHOLD = 20_000
KEEP_DAYS = 7
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
JOB_PREFIX = "registry."
ITERATE = 2000


class Operator:
    """The operator at the console (a command without --as): reaches every record, as the
    actions' `actor=None` does."""

    pk = None
    is_authenticated = True
    is_active = True
    is_superuser = True

    def scope_paths(self, data_class: str, action: str) -> None:
        return None

    def get_username(self) -> str:
        return "system"


@dataclass(frozen=True)
class ExportRequest:
    kind: str
    params: dict[str, str]
    format: str = "csv"
    unmask: bool = False
    reason: str = ""


# --- what is exported ----------
def records(kind: str, user: Any, params: Mapping[str, Any]) -> QuerySet[Any]:
    """The records of the list with these filters; a ValidationError names a bad filter."""
    if kind == "care_tag":
        qs, errors = _care_tags(user, params)
    else:
        from .views.lists import filtered

        qs, _params, errors = filtered(kind, user, params)
    if errors:
        raise ValidationError(errors)
    related = {
        "resident": ("division", "house__building", "household"),
        "household": ("division", "house__building"),
        "house": ("division", "building"),
        "place": ("division", "organisation"),
        "care_tag": ("division", "resident"),
    }.get(kind, ("division",))
    return qs.select_related(*related).order_by("division_path", "pk")


def _care_tags(user: Any, params: Mapping[str, Any]) -> tuple[QuerySet[Any], dict[str, str]]:
    """The care-group list's filters (group, risk, due, under) and a search by the person."""
    from civicgrid.core.paths import subtree_q

    from . import selectors
    from .choices import CareGroup, RiskLevel
    from .views.common import division_by_code
    from .views.lists import DUE_FILTERS

    get = {
        k: str(params.get(k, "") or "").strip()[:100]
        for k in ("group", "risk", "due", "under", "q", "state")
    }
    errors: dict[str, str] = {}
    tags = selectors.visible("care_tag", user)
    if get["state"] not in ("all", "ended"):
        tags = tags.filter(is_active=True)
    elif get["state"] == "ended":
        tags = tags.filter(is_active=False)
    if get["under"]:
        division = division_by_code(user, get["under"])
        if division is None:
            errors["under"] = _("No division with this code in your area.")
        else:
            tags = tags.filter(subtree_q("division_path", division.path))
    for name, choices, field in (("group", CareGroup, "group"), ("risk", RiskLevel, "risk_level")):
        if get[name]:
            if get[name] in choices.values:
                tags = tags.filter(**{field: get[name]})
            else:
                errors[name] = _("Unknown value.")
    today = timezone.localdate()
    if get["due"] == "overdue":
        tags = tags.filter(next_visit_due__lt=today)
    elif get["due"] in DUE_FILTERS:
        tags = tags.filter(next_visit_due__lte=today + dt.timedelta(days=DUE_FILTERS[get["due"]]))
    elif get["due"]:
        errors["due"] = _("Unknown value.")
    if get["q"]:
        people = selectors.find(Resident.objects.all(), get["q"])
        tags = tags.filter(resident__in=people.values("pk"))
    return tags, errors


def columns(kind: str) -> tuple[Column, ...]:
    layout = LAYOUTS[kind]
    return (*layout.columns, *layout.extra)


def _label(choices: Any, value: str) -> str:
    if not value:
        return ""
    try:
        return str(choices(value).label)
    except ValueError:
        return value


def _number(obj: Any, field: str, clear: bool) -> str:
    if clear:
        return protect.reveal(obj, field)
    return str(getattr(obj, "id_masked" if field == "id_number" else "phone_masked"))


def _address(house: Any) -> dict[str, str]:
    if house is None:
        return {}
    building = house.building
    return {
        "road": building.road,
        "number": building.number,
        "building_no": building.building_no,
        "unit_no": house.unit_no,
        "room": house.room,
    }


def values_of(kind: str, obj: Any, *, clear: bool) -> dict[str, Any]:
    """A record's cells by column code; `clear`: full numbers (the caller checked and logged)."""
    from civicgrid.core.validators import DocumentType

    from .choices import (
        BuildingUse,
        CareGroup,
        HazardLevel,
        HouseUse,
        OrganisationKind,
        PlaceKind,
        Relation,
        ResidenceType,
        RiskLevel,
        Sex,
    )

    out: dict[str, Any] = {
        "id": obj.pk,
        "grid": obj.division.code,
        "grid_name": obj.division.name,
        "version": obj.version,
        "is_active": _("yes") if obj.is_active else _("no"),
    }
    if kind == "building":
        out.update(
            road=obj.road,
            number=obj.number,
            building_no=obj.building_no,
            name=obj.name,
            use=_label(BuildingUse, obj.use),
            floors=obj.floors,
            lat=obj.lat,
            lng=obj.lng,
        )
    elif kind == "house":
        out.update(_address(obj), use=_label(HouseUse, obj.use), area_m2=obj.area_m2)
    elif kind == "household":
        out.update(_address(obj.house), household_no=obj.number, head_name=obj.head_name)
    elif kind == "resident":
        out.update(
            _address(obj.house),
            name=obj.name,
            document_type=_label(DocumentType, obj.document_type),
            id_number=_number(obj, "id_number", clear),
            sex=_label(Sex, obj.sex),
            birth_date=obj.birth_date.isoformat() if obj.birth_date else "",
            ethnicity=obj.ethnicity,
            residence_type=_label(ResidenceType, obj.residence_type),
            phone=_number(obj, "phone", clear),
            household_no=obj.household.number if obj.household is not None else "",
            relation=_label(Relation, obj.relation),
            note=obj.note,
        )
    elif kind == "organisation":
        out.update(
            name=obj.name,
            uscc=obj.uscc,
            kind=_label(OrganisationKind, obj.kind),
            legal_rep=obj.legal_rep,
            phone=_number(obj, "phone", clear),
            address=obj.address,
            employees=obj.employees,
            lat=obj.lat,
            lng=obj.lng,
        )
    elif kind == "place":
        out.update(
            name=obj.name,
            kind=_label(PlaceKind, obj.kind),
            hazard_level=_label(HazardLevel, obj.hazard_level),
            organisation_uscc=obj.organisation.uscc if obj.organisation is not None else "",
            address=obj.address,
            contact=obj.contact,
            phone=_number(obj, "phone", clear),
            inspect_every_days=obj.inspect_every_days,
            lat=obj.lat,
            lng=obj.lng,
        )
    elif kind == "care_tag":
        person = obj.resident
        out.update(
            name=person.name,
            document_type=_label(DocumentType, person.document_type),
            id_number=_number(person, "id_number", clear),
            group=_label(CareGroup, obj.group),
            risk_level=_label(RiskLevel, obj.risk_level),
            visit_every_days=obj.visit_every_days,
            since=obj.since.isoformat() if obj.since else "",
            next_visit_due=obj.next_visit_due.isoformat() if obj.next_visit_due else "",
            note=obj.note,
        )
    return out


def rows(
    kind: str, qs: QuerySet[Any], user: Any, *, unmask: bool, progress: Any = None
) -> Iterator[list[Any]]:
    """The export's rows, read in chunks from the database. Numbers are clear only for the
    records the user may unmask."""
    codes = [c.code for c in columns(kind)]
    for done, obj in enumerate(qs.iterator(chunk_size=ITERATE), start=1):
        target = obj.resident if isinstance(obj, CareTag) else obj
        clear = unmask and may_unmask(user, target)
        cells = values_of(kind, obj, clear=clear)
        yield [cells.get(code, "") for code in codes]
        if progress is not None and done % ITERATE == 0:
            progress(done)


# --- checks and the log ----------
def check(request: ExportRequest, user: Any) -> None:
    """Refuse an export the user may not make, naming the field."""
    errors: dict[str, str] = {}
    if request.kind not in KINDS:
        errors["kind"] = _("Unknown record type.")
    if request.format not in FORMATS:
        errors["format"] = _("Choose CSV or Excel (xlsx).")
    if request.unmask and not request.reason.strip():
        errors["reason"] = _("Say why you need the full numbers.")
    if errors:
        raise ValidationError(errors)
    if request.unmask and not _may_unmask_anywhere(user):
        raise PermissionDenied(_("Your roles do not allow seeing full numbers."))


def _may_unmask_anywhere(user: Any) -> bool:
    paths = user.scope_paths("identity", "view")
    return paths is None or bool(paths)


def protected_fields(kind: str) -> list[str]:
    layout = LAYOUTS[kind]
    return [name for name in ("id_number", "phone") if name in layout.by_code]


def describe(request: ExportRequest) -> str:
    """The filter in words for the log, with any ID or phone number in it masked."""
    from .views.common import echo

    parts = []
    for key, value in sorted(request.params.items()):
        if not value or key == "page":
            continue
        shown = echo(str(value))[1] if key == "q" else str(value)
        parts.append(f"{key}={shown}")
    return " ".join(parts) or _("no filter")


def log_export(request: ExportRequest, user: Any, count: int) -> AccessLog:
    """The AccessLog row of an export: what (type, filter, format, rows), clear fields, why."""
    model = KINDS[request.kind]
    paths = user.scope_paths("registry", "view")
    where = _under_path(user, request.params.get("under", "")) or (
        paths[0] if paths and len(paths) == 1 else ""
    )
    who = (
        {"actor": user, "actor_name": user.get_username()[:150]}
        if user.pk
        else {
            "actor": None,
            "actor_name": "system",
        }
    )
    return AccessLog.objects.create(
        action="export",
        content_type=ContentType.objects.get_for_model(model),
        object_id="",
        object_repr=f"{count} · {request.format} · {describe(request)}"[:200],
        division_path=where,
        fields=protected_fields(request.kind) if request.unmask else [],
        reason=request.reason.strip()[:500],
        request_id=current_request_id(),
        **who,
    )


def _under_path(user: Any, code: str) -> str:
    from .views.common import division_by_code

    if not code:
        return ""
    division = division_by_code(user, str(code))
    return division.path if division is not None else ""


def file_name(request: ExportRequest) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{request.kind}-{stamp}.{request.format}"


# --- exporting now or in the background ----------
def do_export(
    request: ExportRequest, user: Any, target: io.BufferedIOBase | Any, *, progress: Any = None
) -> int:
    """Write the whole export to a binary file now (commands, background jobs), logged; the
    number of rows."""
    check(request, user)
    qs = records(request.kind, user, request.params)
    count = qs.count()
    log_export(request, user, count)
    data = rows(request.kind, qs, user, unmask=request.unmask, progress=progress)
    write(request, data, target)
    return count


def write(request: ExportRequest, data: Iterator[list[Any]], target: Any) -> None:
    if request.format == "csv":
        for chunk in sheets.csv_chunks(columns(request.kind), data):
            target.write(chunk)
    else:
        title = str(KIND_LABELS[request.kind])
        sheets.write_xlsx(target, columns(request.kind), data, title=title)


def do_create_export_job(request: ExportRequest, user: Any) -> ExportJob:
    """Queue a large export; its requester downloads the file when the job has finished."""
    check(request, user)
    records(request.kind, user, request.params)  # a bad filter is refused now, not later
    _forget_old_files(user)
    with transaction.atomic():
        job = ExportJob.objects.create(
            kind=JOB_PREFIX + request.kind,
            format=request.format,
            options={
                "params": dict(request.params),
                "unmask": request.unmask,
                "reason": request.reason.strip(),
                "language": translation.get_language() or "zh-hans",
            },
            created_by=user,
            file_name=file_name(request),
        )
        transaction.on_commit(lambda: _enqueue(job.pk))
    return job


def _forget_old_files(user: Any) -> None:
    """Export files hold personal data: a user's files older than KEEP_DAYS are deleted when
    they ask for a new one (the job rows stay, as a record of the export)."""
    cutoff = timezone.now() - dt.timedelta(days=KEEP_DAYS)
    for job in ExportJob.objects.filter(created_by=user, created_at__lt=cutoff).exclude(file=""):
        job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(file="")


def _enqueue(job_id: int) -> None:
    from .tasks import run_export

    run_export.enqueue(job_id)


def run_export_job(job_id: int) -> ExportJob:
    """Run a queued export (the task worker calls this). Safe to call twice."""
    from civicgrid.core.context import work_context

    with transaction.atomic():
        claimed = ExportJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING
        )
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    if not claimed:
        return job
    options = job.options
    request = ExportRequest(
        kind=job.kind.removeprefix(JOB_PREFIX),
        params={str(k): str(v) for k, v in (options.get("params") or {}).items()},
        format=job.format,
        unmask=bool(options.get("unmask")),
        reason=str(options.get("reason") or ""),
    )
    user = job.created_by

    def progress(done: int) -> None:
        ExportJob.objects.filter(pk=job_id).update(progress=done)

    with (
        work_context(),
        translation.override(options.get("language") or "zh-hans"),
        tempfile.TemporaryFile(prefix="civicgrid-export-") as spool,
    ):
        try:
            count = records(request.kind, user, request.params).count()
            ExportJob.objects.filter(pk=job_id).update(total=count)
            count = do_export(request, user, spool, progress=progress)
            spool.seek(0)
            job.file.save(job.file_name, File(spool, name=job.file_name), save=False)
            job.status = JobStatus.SUCCEEDED
            job.total = job.progress = count
        except (ValidationError, PermissionDenied) as exc:
            job.status = JobStatus.FAILED
            job.error = "; ".join(getattr(exc, "messages", [str(exc)]))[:500]
        except Exception as exc:
            job.status = JobStatus.FAILED
            job.error = (_("The export failed: %(error)s") % {"error": type(exc).__name__})[:500]
            _finish(job)
            raise
    _finish(job)
    return job


def _finish(job: ExportJob) -> None:
    job.finished_at = timezone.now()
    ExportJob.objects.filter(pk=job.pk).update(
        status=job.status,
        error=job.error,
        file=job.file.name or "",
        progress=job.progress,
        total=job.total,
        finished_at=job.finished_at,
    )
