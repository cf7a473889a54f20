"""What the registry's import and export commands share: the record type named on the command
line and the account a command acts as.

(The leading underscore keeps Django from offering this module as a command.)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from civicgrid.registry.importing import KIND_LABELS

# The record types by their own names, their page names and a few spellings people type.
TYPE_NAMES = {
    **{kind: kind for kind in KIND_LABELS},
    "residents": "resident",
    "households": "household",
    "houses": "house",
    "buildings": "building",
    "organisations": "organisation",
    "organizations": "organisation",
    "organization": "organisation",
    "places": "place",
    "care-tag": "care_tag",
    "care-tags": "care_tag",
    "care_tags": "care_tag",
    "care": "care_tag",
}


def record_type(name: str) -> str:
    kind = TYPE_NAMES.get(name.strip().lower())
    if kind is None:
        raise CommandError(
            _("Unknown record type “%(name)s”: use one of %(types)s.")
            % {"name": name, "types": ", ".join(KIND_LABELS)}
        )
    return kind


def acting_user(username: str | None) -> Any:
    """The account named by --as (its scope applies), or None: the operator, no scope limit."""
    if not username:
        return None
    from civicgrid.accounts.models import User

    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError(_("--as: no account is named “%(name)s”.") % {"name": username})
    if not user.is_active:
        raise CommandError(_("--as: the account “%(name)s” is disabled.") % {"name": username})
    return user
