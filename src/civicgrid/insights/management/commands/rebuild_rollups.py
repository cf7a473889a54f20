from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.insights import rollup


class Command(BaseCommand):
    help = (
        "Recompute the figures' rollup from the case table: everything, or from a month on "
        "(--since 2026-03). The task workers keep it up to date on their own; run this after "
        "restoring a backup or changing case data outside the application. With --pending, only "
        "bring up to date what case actions marked (what the workers do every "
        "CIVICGRID_ROLLUP_SECONDS)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--since", metavar="YYYY-MM", help="Only this month and later.")
        parser.add_argument(
            "--pending", action="store_true", help="Only the township-months marked by actions."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        with work_context():
            if options["pending"]:
                done = rollup.refresh()
                self.stdout.write(_("%(n)d township-month(s) brought up to date.") % {"n": done})
                return
            since = None
            if options["since"]:
                try:
                    since = dt.date.fromisoformat(options["since"] + "-01")
                except ValueError:
                    raise CommandError(
                        _("--since: give a month as YYYY-MM, not “%(value)s”.")
                        % {"value": options["since"]}
                    ) from None
            rows = rollup.rebuild(since=since)
        self.stdout.write(
            _("Rollup rebuilt: %(rows)d row(s) in %(seconds).1f s.")
            % {"rows": rows, "seconds": time.monotonic() - started}
        )
