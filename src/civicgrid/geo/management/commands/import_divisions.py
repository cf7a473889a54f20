from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from civicgrid.core.context import work_context
from civicgrid.core.importing import TerminalProgress
from civicgrid.geo.actions import do_import_divisions

from ._support import domain_call, finish_import, read_input


class Command(BaseCommand):
    help = (
        "Import or update divisions and grids from a CSV table.\n"
        "Columns code,name,parent_code,level "
        "(the layout of the national statistics division tables; 12-digit zero-padded codes are "
        "accepted, and optional grid columns kind, dedicated_type, setting, households, "
        "residents). Every row is checked first: by default a file with any bad row writes "
        "nothing and every bad row is listed with its line number and reason. Re-importing a "
        "file updates what changed and never duplicates a division."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", metavar="FILE.csv", help="CSV file, UTF-8 (BOM allowed) or GB18030."
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the good rows and list the bad ones (default: a bad row rejects "
            "the whole file).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and report what would be created or updated; write nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        raw = read_input(options["file"], what="CSV")
        with work_context():
            report = domain_call(
                lambda: do_import_divisions(
                    raw,
                    actor=None,  # the operator at the console: no scope limit
                    skip_invalid=options["skip_invalid"],
                    dry_run=options["dry_run"],
                    progress=TerminalProgress("divisions", self.stderr),
                )
            )
        finish_import(self, report, unit="row", skip_invalid=options["skip_invalid"])
