"""Reads of the field app: the grid worker's own grids, the bootstrap payload the phone keeps
for offline work, and the duty records the centre reads (always restricted to the user)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Prefetch, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.cases.choices import Status
from civicgrid.cases.models import Case
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.audit import record_access
from civicgrid.core.models import AccessLog, Notification
from civicgrid.core.scoping import Action, reaches
from civicgrid.geo.choices import PATH_LENGTH, Level
from civicgrid.geo.models import Division
from civicgrid.registry.choices import SENSITIVE_GROUPS, CareGroup, RiskLevel
from civicgrid.registry.models import CareTag, Household, Resident

from . import uploads
from .choices import FIELD_ROLES, VisitPurpose
from .models import CheckIn, Patrol, Visit

CARE_DUE_DAYS = 7
RECENT_CASES, RECENT_VISITS, RECENT_PATROLS = 20, 20, 10


def field_grid_paths(user: Any) -> set[str]:
    """Paths of the grids where the user holds a field role (no query: the menu asks too)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return set()
    return {
        path
        for role, path in user.assignment_pairs()
        if role in FIELD_ROLES and len(path) == PATH_LENGTH[Level.GRID]
    }


def my_grids(user: Any) -> list[Division]:
    """Grids where the user holds the grid worker or grid leader role at the grid itself: the
    only places they submit field records for, and all the phone keeps."""
    paths = field_grid_paths(user)
    if not paths:
        return []
    return list(
        Division.objects.filter(path__in=paths, level=Level.GRID, is_active=True).order_by("path")
    )


def may_read(user: Any) -> bool:
    return reaches(user, "field", Action.VIEW)


def visible(model: type[Visit | Patrol | CheckIn], user: Any) -> QuerySet[Any]:
    return model.objects.restrict(user, Action.VIEW).select_related("division", "worker")


def _age(born: dt.date | None, today: dt.date) -> int | None:
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def iso(value: dt.datetime | None) -> str | None:
    """A time as the phone and the API read it: ISO 8601 in local time (None stays None)."""
    return timezone.localtime(value).isoformat() if value is not None else None


# --- bootstrap ------------------------------------------------------------------------------
def bootstrap(user: Any, grids: list[Division]) -> dict[str, Any]:
    """Everything the phone keeps for offline work, limited to the user's grids. Numbers are
    masked; nothing here is read in clear."""
    now = timezone.now()
    today = timezone.localdate(now)
    grid_ids = [g.pk for g in grids]
    households = _households(user, grid_ids, today)
    _log_sensitive(user, households, today)
    return {
        "user": {"id": user.pk, "username": user.get_username(), "name": user.display_name},
        "server_time": iso(now),
        "settings": {
            "wipe_hours": settings.FIELD_WIPE_HOURS,
            "chunk_bytes": settings.FIELD_CHUNK_BYTES,
            "max_photo_bytes": uploads.MAX_PHOTO_BYTES,
            "max_photos": uploads.MAX_PHOTOS,
            "track_seconds": settings.FIELD_TRACK_SECONDS,
        },
        "grids": [_grid(g) for g in grids],
        "categories": _categories(),
        "purposes": [
            {"value": value, "label": str(label)} for value, label in VisitPurpose.choices
        ],
        "households": households,
        "care_due": _care_due(user, grid_ids, today),
        "tasks": _tasks(user),
        "recent": _recent(user),
    }


def _grid(grid: Division) -> dict[str, Any]:
    centre = None
    if grid.centroid_lat is not None and grid.centroid_lng is not None:
        centre = [grid.centroid_lat, grid.centroid_lng]
    return {
        "id": grid.pk,
        "code": grid.code,
        "name": grid.name,
        "path": grid.path,
        "boundary": grid.boundary,
        "centre": centre,
    }


def _categories() -> list[dict[str, Any]]:
    """What a case may be reported under: minor classes, and major classes without any."""
    rows = list(CaseCategory.objects.filter(is_active=True).select_related("parent"))
    with_minors = {c.parent_id for c in rows if c.parent_id is not None}
    return [
        {
            "id": c.pk,
            "code": c.code,
            "name": c.label,
            "major": c.parent.label if c.parent is not None else c.label,
            # The workflow lets a grid worker resolve a case of any category on the spot.
            "self_resolvable": True,
        }
        for c in rows
        if c.parent_id is not None or c.pk not in with_minors
    ]


def _households(user: Any, grid_ids: list[int], today: dt.date) -> list[dict[str, Any]]:
    tags = CareTag.objects.filter(is_active=True).order_by("group", "id")
    members = (
        Resident.objects.filter(is_active=True)
        .order_by("relation", "id")
        .prefetch_related(Prefetch("care_tags", queryset=tags, to_attr="active_tags"))
    )
    households = (
        Household.objects.restrict(user, Action.VIEW)
        .filter(division_id__in=grid_ids, is_active=True)
        .select_related("house__building")
        .prefetch_related(Prefetch("members", queryset=members, to_attr="active_members"))
        .order_by("division_id", "id")
    )
    result = []
    for household in households:
        house = household.house
        building = house.building if house is not None else None
        result.append(
            {
                "id": household.pk,
                "grid": household.division_id,
                "address": house.address if house is not None else "",
                "head_name": household.head_name,
                "number": household.number,
                "lat": building.lat if building is not None else None,
                "lng": building.lng if building is not None else None,
                "members": [_member(m, today) for m in household.active_members],
            }
        )
    return result


def _log_sensitive(user: Any, households: list[dict[str, Any]], today: dt.date) -> int:
    """Members of sensitive key groups go to the phone (the worker visits them), and that read
    is logged like opening their record in the registry — once per worker, member and day,
    not at every sync, so the access log stays readable."""
    wanted = {
        m["id"]: sorted(t["group"] for t in m["care_tags"] if t["group"] in SENSITIVE_GROUPS)
        for h in households
        for m in h["members"]
        if any(t["group"] in SENSITIVE_GROUPS for t in m["care_tags"])
    }
    if not wanted:
        return 0
    start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    done = set(
        AccessLog.objects.filter(
            content_type=ContentType.objects.get_for_model(Resident),
            object_id__in=[str(pk) for pk in wanted],
            action="sync_care",
            actor_id=user.pk,
            time__gte=start,
        ).values_list("object_id", flat=True)
    )
    missing = [pk for pk in wanted if str(pk) not in done]
    for resident in Resident.objects.filter(pk__in=missing):
        record_access(resident, actor=user, action="sync_care", fields=wanted[resident.pk])
    return len(missing)


def _member(resident: Resident, today: dt.date) -> dict[str, Any]:
    return {
        "id": resident.pk,
        "name": resident.name,
        "sex": resident.sex,
        "sex_label": resident.get_sex_display() if resident.sex else "",
        "age": _age(resident.birth_date, today),
        "id_masked": resident.id_masked,
        "phone_masked": resident.phone_masked,
        "relation": resident.relation,
        "residence_type": resident.residence_type,
        "version": resident.version,
        "care": [str(CareGroup(t.group).label) for t in resident.active_tags],  # type: ignore[attr-defined]
        "care_tags": [
            {"id": t.pk, "group": t.group, "label": str(CareGroup(t.group).label)}
            for t in resident.active_tags  # type: ignore[attr-defined]
        ],
    }


def _care_due(user: Any, grid_ids: list[int], today: dt.date) -> list[dict[str, Any]]:
    tags = (
        CareTag.objects.restrict(user, Action.VIEW)
        .filter(
            division_id__in=grid_ids,
            is_active=True,
            resident__is_active=True,
            next_visit_due__lte=today + dt.timedelta(days=CARE_DUE_DAYS),
        )
        .select_related("resident")
        .order_by("next_visit_due", "id")
    )
    return [
        {
            "care_tag": tag.pk,
            "resident": tag.resident_id,
            "household": tag.resident.household_id,
            "name": tag.resident.name,
            "group": str(CareGroup(tag.group).label),
            "risk": str(RiskLevel(tag.risk_level).label),
            "next_visit_due": tag.next_visit_due.isoformat() if tag.next_visit_due else None,
            "overdue": tag.next_visit_due is not None and tag.next_visit_due < today,
        }
        for tag in tags
    ]


def _tasks(user: Any) -> list[dict[str, Any]]:
    """The grid worker's inbox: cases waiting for them (on-site checks they were assigned,
    closed reports of theirs to evaluate) and unread notices (urging, supervision…)."""
    cases = (
        Case.objects.restrict(user, Action.VIEW)
        .filter(Q(checker=user, status=Status.CHECKING) | Q(reporter=user, status=Status.CLOSED))
        .order_by("stage_due", "-reported_at")[:50]
    )
    tasks: list[dict[str, Any]] = [
        {
            "kind": "case",
            "id": case.pk,
            "number": case.number,
            "title": case.title,
            "status": case.status,
            "status_label": case.get_status_display(),
            "due_at": iso(case.stage_due),
            "url": reverse("cases:case", args=[case.pk]),
        }
        for case in cases
    ]
    notices = Notification.objects.filter(user=user, read_at__isnull=True).order_by(
        "-created_at", "-id"
    )[:30]
    tasks += [
        {
            "kind": "notice",
            "id": note.pk,
            "title": note.title,
            "time": iso(note.created_at),
            "url": note.url or None,
        }
        for note in notices
    ]
    return tasks


def visit_name(visit: Visit) -> str:
    if visit.resident_id and visit.resident is not None:
        return visit.resident.name
    if visit.household_id and visit.household is not None:
        return visit.household.head_name or _("household %(id)s") % {"id": visit.household_id}
    return ""


def _recent(user: Any) -> dict[str, Any]:
    cases = Case.objects.filter(reporter=user).order_by("-reported_at", "-id")[:RECENT_CASES]
    visits = (
        Visit.objects.filter(worker=user)
        .select_related("resident", "household")
        .order_by("-visited_at", "-id")[:RECENT_VISITS]
    )
    patrols = Patrol.objects.filter(worker=user).order_by("-started_at", "-id")[:RECENT_PATROLS]
    return {
        "cases": [
            {
                "id": c.pk,
                "number": c.number,
                "title": c.title,
                "status": c.status,
                "status_label": c.get_status_display(),
                "reported_at": iso(c.reported_at),
            }
            for c in cases
        ],
        "visits": [
            {
                "id": v.pk,
                "purpose": v.purpose,
                "purpose_label": v.get_purpose_display(),
                "visited_at": iso(v.visited_at),
                "name": visit_name(v),
            }
            for v in visits
        ],
        "patrols": [
            {
                "id": p.pk,
                "started_at": iso(p.started_at),
                "minutes": p.minutes,
                "distance_m": p.distance_m,
            }
            for p in patrols
        ],
    }
