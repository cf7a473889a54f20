from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Count
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from civicgrid.core.context import work_context
from civicgrid.core.paths import subtree_q
from civicgrid.geo import coverage
from civicgrid.geo.choices import CoverageKind, Level
from civicgrid.geo.models import CoverageIssue, Division

from ._support import find_division


class Command(BaseCommand):
    help = (
        "Re-check gaps and overlaps between grids now and print the counts.\n"
        "Checks, synchronously, every community under a division for gaps between "
        "its grids, overlapping grids and grids without a boundary; store the findings (which "
        "replace the previous ones) and print their counts. Findings are not errors: the "
        "command exits 0 whatever it finds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--under",
            metavar="CODE",
            help="Only the communities under this division (default: all).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        issues = CoverageIssue.objects.all()
        if options["under"]:
            division = find_division(options["under"], option="--under")
            if division.level == Level.GRID:
                ids = [division.parent_id] if division.parent_id else []
                issues = issues.filter(parent_id__in=ids)
            else:
                ids = coverage.communities_under(division.path)
                issues = issues.filter(subtree_q("division_path", division.path))
            where = f"{division.name} ({division.code})"
        else:
            ids = list(
                Division.objects.filter(level=Level.COMMUNITY, is_active=True).values_list(
                    "id", flat=True
                )
            )
            where = _("all divisions")
        with work_context():
            found = coverage.refresh(ids)
        counts = dict.fromkeys(CoverageKind.values, 0)
        counts.update(issues.order_by().values_list("kind").annotate(n=Count("pk")))
        self.stdout.write(
            ngettext(
                "Checked %(n)d community under %(where)s: %(found)d issue(s).",
                "Checked %(n)d communities under %(where)s: %(found)d issue(s).",
                len(ids),
            )
            % {"n": len(ids), "where": where, "found": found}
        )
        for kind, label in CoverageKind.choices:
            self.stdout.write(f"  {label!s:<24} {counts[kind]:>6}")
