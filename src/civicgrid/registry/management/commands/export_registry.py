from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.core.context import work_context
from civicgrid.core.importing import TerminalProgress
from civicgrid.geo.management.commands._support import domain_call
from civicgrid.registry import exporting
from civicgrid.registry.importing import KIND_LABELS

from ._transfer import acting_user, record_type


class Command(BaseCommand):
    help = (
        "Export a filtered list of registry records as CSV (UTF-8 with BOM, for Excel) or "
        "Excel .xlsx.\n"
        "TYPE is one of: " + ", ".join(KIND_LABELS) + ". The columns are those of the import "
        "templates (an edited export imports again) plus the record number, grid name, version "
        "and whether the record is current. ID and phone numbers are masked unless --unmask is "
        "given with a --reason; every export is recorded in the access log."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("type", metavar="TYPE", help="Record type, e.g. resident.")
        parser.add_argument(
            "--grid",
            metavar="CODE",
            help="Only records under this division (a grid's 15-digit code, or any division's).",
        )
        parser.add_argument("--q", metavar="TEXT", help="Search as the list pages do.")
        parser.add_argument(
            "--filter",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A filter of the list page (e.g. state=all, residence_type=floating, "
            "group=elderly_alone, due=overdue); repeatable.",
        )
        parser.add_argument("--format", choices=exporting.FORMATS, default="csv")
        parser.add_argument(
            "-o", "--output", metavar="FILE", help="Where to write (default: standard output)."
        )
        parser.add_argument(
            "--unmask", action="store_true", help="Full ID and phone numbers (needs --reason)."
        )
        parser.add_argument("--reason", default="", help="Why the full numbers are needed.")
        parser.add_argument(
            "--as",
            dest="as_user",
            metavar="USER",
            help="Export as this account: its area, its right to unmask (default: the "
            "operator, everything).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind = record_type(options["type"])
        params: dict[str, str] = {}
        for item in options["filter"]:
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                raise CommandError(_("--filter: “%(item)s” is not KEY=VALUE.") % {"item": item})
            params[key.strip()] = value.strip()
        if options["grid"]:
            params["under"] = options["grid"].strip()
        if options["q"]:
            params["q"] = options["q"]
        if options["format"] == "xlsx" and not options["output"]:
            raise CommandError(_("An .xlsx file needs --output FILE."))
        if options["reason"] and not options["unmask"]:
            raise CommandError(_("--reason goes with --unmask."))
        user = acting_user(options["as_user"]) or exporting.Operator()
        request = exporting.ExportRequest(
            kind=kind,
            params=params,
            format=options["format"],
            unmask=options["unmask"],
            reason=options["reason"],
        )
        label = _("export %(type)s") % {"type": KIND_LABELS[kind]}
        with work_context():
            total = domain_call(lambda: exporting.records(kind, user, params).count())
            bar = TerminalProgress(str(label), self.stderr)
            target: Any
            if options["output"]:
                path = Path(options["output"])
                try:
                    target = path.open("wb")
                except OSError as exc:
                    raise CommandError(
                        _("Cannot write %(path)s: %(error)s")
                        % {"path": path, "error": exc.strerror or exc}
                    ) from exc
            else:
                target = getattr(self.stdout, "buffer", None) or sys.stdout.buffer
            try:
                count = domain_call(
                    lambda: exporting.do_export(
                        request, user, target, progress=lambda done: bar(done, total)
                    )
                )
            except BaseException:
                if options["output"]:
                    target.close()
                    path.unlink(missing_ok=True)  # no half-written file is left behind
                raise
            if options["output"]:
                target.close()
        bar(count, count)
        if options["output"]:
            self.stderr.write(
                ngettext(
                    "%(count)d row written to %(path)s.",
                    "%(count)d rows written to %(path)s.",
                    count,
                )
                % {"count": count, "path": options["output"]}
            )
