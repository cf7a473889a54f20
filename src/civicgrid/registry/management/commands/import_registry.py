from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.core.importing import TerminalProgress
from civicgrid.geo.management.commands._support import domain_call, finish_import
from civicgrid.registry.importing import KIND_LABELS, do_import_records

from ._transfer import acting_user, record_type


class Command(BaseCommand):
    help = (
        "Import registry records (residents, households, houses, buildings, organisations, "
        "places, care tags) from a CSV or Excel .xlsx file.\n"
        "TYPE is one of: " + ", ".join(KIND_LABELS) + ". The file has a header row naming its "
        "columns by code (id_number), by Chinese label (公民身份号码) or as the templates write "
        "them (公民身份号码(id_number)); download a template from the import page. CSV may be "
        "UTF-8 (with or without BOM) or GB18030. Every row is checked first: by default a file "
        "with any bad row writes nothing and every bad row is listed with its line, column and "
        "reason. Re-importing a file changes only what differs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", metavar="TYPE", help="Record type, e.g. resident.")
        parser.add_argument("file", metavar="FILE", help="The .csv or .xlsx file.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and report what would be created or updated; write nothing.",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the good rows and list the bad ones (default: a bad row rejects the "
            "whole file).",
        )
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USER",
            help="Import as this account: only grids it may change are accepted, and history "
            "names it (default: the operator, no limit).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            metavar="N",
            help="Processes that check and encrypt rows (default: one per CPU for large files; "
            "0: none).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind = record_type(options["type"])
        path = Path(options["file"])
        if not path.exists():
            raise CommandError(_("No such file: %(path)s") % {"path": path})
        if path.is_dir():
            raise CommandError(
                _("%(path)s is a directory; give a %(what)s file.")
                % {"path": path, "what": "CSV / XLSX"}
            )
        actor = acting_user(options["as_user"])
        label = str(KIND_LABELS[kind])
        with work_context():
            report = domain_call(
                lambda: do_import_records(
                    kind,
                    path,
                    actor=actor,
                    name=path.name,
                    dry_run=options["dry_run"],
                    skip_invalid=options["skip_invalid"],
                    progress=TerminalProgress(label, self.stderr),
                    workers=options["workers"],
                )
            )
        finish_import(self, report, unit="row", skip_invalid=options["skip_invalid"])
