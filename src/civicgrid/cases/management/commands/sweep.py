from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from civicgrid.cases.sweep import sweep
from civicgrid.catalog.management.commands._support import parse_moment
from civicgrid.core.context import work_context


class Command(BaseCommand):
    help = (
        "Run the SLA sweep once: mark open cases yellow or red as their deadlines pass and urge "
        "the owners of the newly overdue ones and of missed staged limits. Idempotent: a "
        "second run at the same moment changes nothing. The task workers run it every "
        "CIVICGRID_SWEEP_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now",
            metavar="ISO",
            help="Sweep as of this time instead of the clock (e.g. 2026-03-02T09:30; without an "
            "offset it is local time).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = parse_moment(options["now"], option="--now") if options["now"] else None
        with work_context():
            result = sweep(now)
        self.stdout.write(
            _(
                "Sweep: %(yellow)d turned yellow, %(red)d turned red, %(staged)d staged limit(s) "
                "missed, %(urged)d urged."
            )
            % {
                "yellow": result.yellow,
                "red": result.red,
                "staged": result.staged,
                "urged": result.urged,
            }
        )
