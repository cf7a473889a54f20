"""Validation of grid attributes, shared by the importer, the forms and the actions."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .choices import DedicatedType, GridKind, Setting

MAX_COUNT = 1_000_000


def clean_grid_values(values: dict[str, Any]) -> None:
    """Raise a ValidationError naming each bad field of a grid's full set of attributes."""
    errors: dict[str, str] = {}
    kind = values.get("kind") or GridKind.GENERAL
    dedicated = values.get("dedicated_type") or ""
    if kind not in GridKind.values:
        errors["kind"] = _("Use general or dedicated.")
    elif kind == GridKind.DEDICATED and not dedicated:
        errors["dedicated_type"] = _("A dedicated grid needs a dedicated type.")
    elif kind == GridKind.GENERAL and dedicated:
        errors["dedicated_type"] = _("Only a dedicated grid has a dedicated type.")
    if dedicated and dedicated not in DedicatedType.values:
        errors["dedicated_type"] = _("Unknown dedicated type.")
    setting = values.get("setting")
    if setting is not None and setting not in Setting.values:
        errors["setting"] = _("Use urban or rural.")
    for name in ("households", "residents"):
        value = values.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT
        ):
            errors[name] = _("Must be a whole number between 0 and 1,000,000.")
    households, residents = values.get("households"), values.get("residents")
    if (
        "households" not in errors
        and "residents" not in errors
        and households
        and (residents is not None and residents < households)
    ):
        errors["residents"] = _("Fewer residents than households: every household has someone.")
    if errors:
        raise ValidationError(errors)
