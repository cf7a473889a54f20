from __future__ import annotations

import csv
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.fieldwork import duties as d
from civicgrid.geo.management.commands._support import find_division
from civicgrid.geo.models import Division

CSV_COLUMNS = [
    "grid_code",
    "grid",
    "worker_id",
    "username",
    "worker",
    "assigned",
    "visits_due",
    "visits_done",
    "visits_rate",
    "visits",
    "patrols",
    "patrol_minutes",
    "check_ins",
    "check_ins_outside",
    "last_activity",
    "overdue_members",
]


class Command(BaseCommand):
    help = (
        "Grid workers' duties for a month: care visits due and done, all visits, patrols and "
        "patrol hours, check-ins and the last activity, per grid worker and grid (the figures "
        "of the field work page and of the visits and patrol-hours KPIs). Grids with nobody "
        "assigned are listed too."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--under",
            metavar="CODE",
            help="Only this division and what lies under it (default: the whole installation).",
        )
        parser.add_argument("--month", metavar="YYYY-MM", help="The month (default: this one).")
        parser.add_argument(
            "--csv",
            action="store_true",
            help="CSV for spreadsheets and scripts instead of a table.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            period = d.month_period(options["month"])
        except ValidationError as exc:
            raise CommandError("--month: " + " ".join(exc.message_dict["month"])) from None
        if options["under"] is not None:
            areas = [find_division(options["under"], option="--under")]
        else:
            areas = list(
                Division.objects.filter(parent__isnull=True, is_active=True)
                .defer("boundary")
                .order_by("path")
            )
            if not areas:
                raise CommandError(_("There are no divisions yet: import or generate some first."))
        results = [d.duties(area, period) for area in areas]
        if options["csv"]:
            self._csv(results)
        else:
            for found in results:
                self._table(found)

    def _csv(self, results: list[d.Duties]) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for found in results:
            for r in found.rows:
                rate = r.visits_rate
                writer.writerow(
                    [
                        r.grid.code,
                        r.grid.name,
                        r.worker.pk if r.worker else "",
                        r.worker.username if r.worker else "",
                        r.worker.display_name if r.worker else "",
                        int(r.assigned),
                        "" if r.visits_due is None else r.visits_due,
                        r.visits_done,
                        "" if rate is None else f"{rate:.4f}",
                        r.visits,
                        r.patrols,
                        r.patrol_minutes,
                        r.check_ins,
                        r.check_ins_outside,
                        timezone.localtime(r.last_activity).isoformat() if r.last_activity else "",
                        r.overdue_members,
                    ]
                )

    def _table(self, found: d.Duties) -> None:
        t = found.total
        rate = "—" if t.visits_rate is None else f"{t.visits_rate * 100:.0f}%"
        self.stdout.write(f"{found.area.name} ({found.area.code}) · {found.month}")
        self.stdout.write(
            _(
                "%(workers)d grid workers in %(grids)d grids; care visits %(done)d of %(due)d "
                "due (%(rate)s); %(visits)d visits; %(patrols)d patrols, %(hours).1f h; "
                "%(check_ins)d check-ins; %(idle)d grid workers without a patrol; "
                "%(overdue)d care members overdue now."
            )
            % {
                "workers": t.workers,
                "grids": t.grids,
                "done": t.visits_done,
                "due": t.visits_due,
                "rate": rate,
                "visits": t.visits,
                "patrols": t.patrols,
                "hours": t.patrol_hours,
                "check_ins": t.check_ins,
                "idle": t.workers_without_patrol,
                "overdue": t.overdue_members,
            }
        )
        if not found.rows:
            self.stdout.write("  " + _("No grid in this area."))
            return
        header = [
            _("Grid code"),
            _("Grid"),
            _("Grid worker"),
            _("Visits due"),
            _("Visits done"),
            _("Done ÷ due"),
            _("Visits (all)"),
            _("Patrols"),
            _("Patrol hours"),
            _("Check-ins"),
            _("Last activity"),
        ]
        lines = [header]
        for r in found.rows:
            name = d.worker_name(r)
            if r.worker is not None and not r.assigned:
                name += " *"
            rate = "—" if r.visits_rate is None else f"{r.visits_rate * 100:.0f}%"
            last = timezone.localtime(r.last_activity) if r.last_activity else None
            lines.append(
                [
                    r.grid.code,
                    r.grid.name,
                    name,
                    "—" if r.visits_due is None else str(r.visits_due),
                    str(r.visits_done),
                    rate,
                    str(r.visits),
                    str(r.patrols),
                    f"{r.patrol_hours:.1f}",
                    str(r.check_ins),
                    f"{last:%Y-%m-%d %H:%M}" if last else "—",
                ]
            )
        numeric = {3, 4, 5, 6, 7, 8, 9}
        widths = [max(_width(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            cells = [
                _pad(cell, widths[i], right=i in numeric and line is not header)
                for i, cell in enumerate(line)
            ]
            self.stdout.write("  " + "  ".join(cells).rstrip())
        if any(r.worker is not None and not r.assigned for r in found.rows):
            self.stdout.write("  * " + _("recorded work in a grid that is not theirs"))


def _width(text: str) -> int:
    """Columns a terminal gives the text: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, *, right: bool) -> str:
    space = " " * (width - _width(text))
    return space + text if right else text + space
