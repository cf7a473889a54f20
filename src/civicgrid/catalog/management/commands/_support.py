"""What the catalog and case commands share: reading a moment given on the command line.

(The leading underscore keeps Django from offering this module as a command.)
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _


def parse_moment(text: str, *, option: str) -> dt.datetime:
    """An ISO 8601 time; without an offset it is read in the installation's time zone."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise CommandError(
            _("%(option)s: “%(value)s” is not a time (use e.g. 2026-03-02T09:30 or 2026-03-02).")
            % {"option": option, "value": text}
        ) from exc
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment
