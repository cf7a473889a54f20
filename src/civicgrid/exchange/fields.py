"""Which class of information each shared field belongs to. A subscription names the record
types and field classes a unit may receive; a change carries only those fields' values."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class RecordType(models.TextChoices):
    """The registry's record types as the feed names them (registry.actions.KINDS)."""

    RESIDENT = "resident", pgettext_lazy("registry", "residents")
    HOUSEHOLD = "household", pgettext_lazy("registry", "households")
    HOUSE = "house", _("houses")
    BUILDING = "building", _("buildings")
    ORGANISATION = "organisation", _("organisations")
    PLACE = "place", _("places and hazard sources")
    CARE_TAG = "care_tag", _("care and key groups")


class FieldClass(models.TextChoices):
    BASIC = "basic", _("basic facts (names, kinds, dates)")
    IDENTITY = "identity", _("identity (document type, masked number, sex, birth date)")
    CONTACT = "contact", _("contact (masked phone)")
    LOCATION = "location", _("location (grid, house, address, coordinates)")
    CARE = "care", _("care and key groups")


IDENTITY_FIELDS = frozenset({"document_type", "id_number", "id_masked", "sex", "birth_date"})
CONTACT_FIELDS = frozenset({"phone", "phone_masked", "legal_rep", "contact"})
LOCATION_FIELDS = frozenset(
    {
        "division",
        "division_path",
        "house",
        "household",
        "building",
        "address",
        "road",
        "number",
        "building_no",
        "unit_no",
        "room",
        "lat",
        "lng",
    }
)
# Internal columns that never leave the system, masked or not.
NEVER_SHARED = frozenset({"id_enc", "id_index", "phone_enc", "phone_index"})


def field_class(record_type: str, field: str) -> str:
    if record_type == "care_tag":
        return FieldClass.CARE
    if field in IDENTITY_FIELDS:
        return FieldClass.IDENTITY
    if field in CONTACT_FIELDS:
        return FieldClass.CONTACT
    if field in LOCATION_FIELDS:
        return FieldClass.LOCATION
    return FieldClass.BASIC


# What every subscriber of a record type receives, whatever its field classes: which record,
# which version, and whether it still exists.
ALWAYS_SHARED = frozenset({"id", "version", "is_active"})


def never_shared(name: str) -> bool:
    # The suffixes catch a protected column added later before anyone lists it above.
    return name in NEVER_SHARED or name.endswith(("_enc", "_index"))


def visible_data(record_type: str, data: dict, classes: set[str] | frozenset[str]) -> dict:
    """The part of a change's data that a subscriber with these field classes may see."""
    return {
        k: v
        for k, v in data.items()
        if not never_shared(k) and (k in ALWAYS_SHARED or field_class(record_type, k) in classes)
    }
