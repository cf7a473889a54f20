from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.fieldwork import uploads


class Command(BaseCommand):
    help = (
        "Remove photo uploads from the field app that were never completed or never used by a "
        "record after some days (CIVICGRID_FIELD_UPLOAD_DAYS), with their part files, and part "
        "files no longer needed. Idempotent. The task workers run it every "
        "CIVICGRID_FIELD_PURGE_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--days",
            metavar="N",
            help="Purge uploads begun more than N days ago (default: the setting).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.FIELD_UPLOAD_DAYS
        if options["days"] is not None:
            try:
                days = int(options["days"])
            except ValueError:
                days = -1
            if days < 0:
                raise CommandError(_("--days: give a whole number of days, 0 or more."))
        with work_context():
            result = uploads.purge(days=days)
        self.stdout.write(
            _("Purged %(uploads)d upload(s) older than %(days)d day(s) and %(files)d file(s).")
            % {"uploads": result.uploads, "days": days, "files": result.files}
        )
