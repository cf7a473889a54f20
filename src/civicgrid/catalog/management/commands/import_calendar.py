from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.catalog.actions import do_import_calendar_days
from civicgrid.core.context import work_context
from civicgrid.geo.management.commands._support import domain_call, format_error, read_input


class Command(BaseCommand):
    help = (
        "Import a year's public holidays and swapped working days (调休) into the working "
        "calendar.\nCSV columns date,kind,name (kind: holiday or workday, also 放假 or 上班; "
        "a header row is optional). Every row is checked first: a file with any bad row writes "
        "nothing and every bad row is listed with its line number. By default the years in the "
        "file are replaced (days of those years missing from the file are removed); importing "
        "the same file again changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", metavar="FILE.csv", help="CSV file, UTF-8 (BOM allowed) or GB18030."
        )
        parser.add_argument(
            "--year",
            type=int,
            help="Refuse rows outside this year (a check against importing the wrong notice).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file only; write nothing."
        )
        parser.add_argument(
            "--keep",
            action="store_true",
            help="Keep the days of those years that the file does not list (default: replace).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        raw = read_input(options["file"], what="CSV")
        year = options["year"]
        if year is not None and not 2000 <= year <= 2100:
            raise CommandError(_("--year: give a year between 2000 and 2100."))
        with work_context():
            report = domain_call(
                lambda: do_import_calendar_days(
                    raw,
                    actor=None,  # the operator at the console
                    year=year,
                    replace=not options["keep"],
                    dry_run=options["dry_run"],
                )
            )
        if report.fatal:
            raise CommandError(report.fatal)
        if report.errors:
            self.stderr.write(_("Bad rows:"))
            for error in report.errors:
                self.stderr.write("  " + format_error(error, unit="row"))
            raise CommandError(
                _("%(bad)d bad row(s) of %(total)d: nothing was written.")
                % {"bad": len(report.errors), "total": report.total}
            )
        if report.dry_run:
            self.stdout.write(
                _("Dry run: all %(total)d row(s) are valid; nothing was written.")
                % {"total": report.total}
            )
            return
        self.stdout.write(
            _("Created %(created)d, updated %(updated)d, unchanged %(unchanged)d.")
            % {
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
            }
        )
