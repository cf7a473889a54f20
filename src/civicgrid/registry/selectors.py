"""Reads of the registry, always from the records the user may see (rule 2)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from civicgrid.core.models import ObjectChange
from civicgrid.core.validators import compact, normalise_phone

from . import protect, search
from .actions import KINDS, kind_of
from .models import CareTag, Record, Resident

# What people type into one search box: an ID number, a phone number, a name, pinyin, initials
# or part of an address.
_ID_LIKE = re.compile(r"[0-9A-Z]{15,18}")
_PHONE_LIKE = re.compile(r"\+?[0-9]{7,15}")


# Records found by the address terms of their building rather than their own.
ADDRESS_VIA = {
    "resident": ("building", "house__building"),
    "house": ("building", "building"),
    "household": ("building", "house__building"),
}


def visible(kind: str, user: Any, action: str = "view") -> QuerySet[Any]:
    model = KINDS[kind]
    return model.objects.restrict(user, action)


def find(queryset: QuerySet[Any], query: str) -> QuerySet[Any]:
    """Records of `queryset` matching a free-text query (see module doc); nothing for a query
    that gives nothing to search by."""
    text = (query or "").strip()
    if not text:
        return queryset
    model = queryset.model
    number = compact(text)
    fields = {f.name for f in model._meta.concrete_fields}
    if "id_index" in fields and _ID_LIKE.fullmatch(number):
        return queryset.filter(id_index=protect.id_index(number))
    if "phone_index" in fields and _PHONE_LIKE.fullmatch(number):
        try:
            phone = normalise_phone(number)
        except ValidationError:
            return queryset.none()
        return queryset.filter(phone_index=protect.phone_index(phone))
    kind = kind_of(model)
    if "uscc" in fields and len(number) == 18:
        return queryset.filter(uscc=number)
    q = search.match_q(
        kind,
        text,
        name_field="name" if "name" in fields else None,
        address_via=ADDRESS_VIA.get(kind),
    )
    return queryset.none() if q is None else queryset.filter(q)


def history(obj: Record) -> QuerySet[ObjectChange]:
    """The record's changes, newest first (ObjectChange rows written by the actions)."""
    return ObjectChange.objects.filter(
        content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk)
    ).order_by("-time", "-id")


def visits_due(
    user: Any, *, within_days: int = 7, today: dt.date | None = None
) -> QuerySet[CareTag]:
    """Active care tags whose next visit is due within `within_days` (overdue included)."""
    today = today or timezone.localdate()
    return (
        CareTag.objects.restrict(user)
        .filter(is_active=True, next_visit_due__lte=today + dt.timedelta(days=within_days))
        .select_related("resident", "division")
        .order_by("next_visit_due", "id")
    )


def overdue(tags: QuerySet[CareTag], today: dt.date | None = None) -> QuerySet[CareTag]:
    return tags.filter(next_visit_due__lt=today or timezone.localdate())


def household_members(resident: Resident) -> QuerySet[Resident]:
    if not resident.household_id:
        return Resident.objects.none()
    return Resident.objects.filter(household_id=resident.household_id, is_active=True).exclude(
        pk=resident.pk
    )


def in_grid(queryset: QuerySet[Any], path: str) -> QuerySet[Any]:
    from civicgrid.core.paths import subtree_q

    return queryset.filter(subtree_q("division_path", path))
