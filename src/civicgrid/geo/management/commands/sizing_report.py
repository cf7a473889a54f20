from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils.translation import gettext as _

from civicgrid.core import versioning
from civicgrid.core.context import work_context
from civicgrid.core.paths import subtree_q
from civicgrid.geo import coverage, selectors
from civicgrid.geo.choices import CoverageKind, Level, SizingStatus
from civicgrid.geo.locate import STAMP
from civicgrid.geo.models import CoverageCheck, CoverageIssue, Division, Grid

from ._support import find_division

DEFAULT_STATUSES = [SizingStatus.OVER, SizingStatus.UNDER, SizingStatus.UNKNOWN]
CSV_COLUMNS = [
    "finding",
    "status",
    "code",
    "name",
    "community_code",
    "community",
    "setting",
    "households",
    "residents",
    "other_grid",
    "area_m2",
]


def parse_statuses(value: str) -> list[str]:
    wanted = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in wanted if v not in SizingStatus.values]
    if unknown or not wanted:
        raise CommandError(
            _("--status: use a comma-separated list of %(values)s.")
            % {"values": ", ".join(SizingStatus.values)}
        )
    return wanted


class Command(BaseCommand):
    help = (
        "Report grids outside the sizing norm and gaps/overlaps between grids.\n"
        "The norm comes from the GRID_SIZING setting (by default urban grids 300–500 "
        "households, rural 200–400, at most 2,500 residents; a village's only general grid "
        "is never too small; dedicated grids are exempt; a grid without a household count is "
        "unknown). Gaps and overlaps are those stored by the last coverage check (--refresh "
        "runs it first). Findings are not errors: the command exits 0 whatever it finds."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--under", metavar="CODE", help="Only this division and what lies under it."
        )
        parser.add_argument(
            "--format",
            choices=["text", "csv", "json"],
            default="text",
            help="text for people (default), csv for spreadsheets, json for scripts.",
        )
        parser.add_argument(
            "--status",
            default=",".join(DEFAULT_STATUSES),
            help="Which sizing statuses to list grid by grid, comma-separated (default: "
            "over,under,unknown; also ok, exempt). Counts always cover every status.",
        )
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="Re-check gaps and overlaps of the communities first (otherwise the report "
            "shows the findings of the last check).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = parse_statuses(options["status"])
        division = find_division(options["under"], option="--under") if options["under"] else None
        grids = (
            Grid.objects.filter(division__is_active=True)
            .select_related("division", "division__parent")
            .with_sizing()
            .order_by("division__path")
        )
        issues = CoverageIssue.objects.select_related("parent", "grid_a", "grid_b").order_by(
            "division_path", "kind", "pk"
        )
        communities = Division.objects.filter(level=Level.COMMUNITY, is_active=True)
        if division is not None:
            grids = grids.filter(subtree_q("division__path", division.path))
            if division.level == Level.GRID:
                issues = issues.filter(Q(grid_a=division) | Q(grid_b=division))
                communities = communities.filter(pk=division.parent_id)
            else:
                issues = issues.filter(subtree_q("division_path", division.path))
                communities = communities.filter(subtree_q("path", division.path))
        if options["refresh"]:
            with work_context():
                coverage.refresh(list(communities.values_list("pk", flat=True)))
        data = self.collect(division, grids, issues, communities, statuses)
        {"text": self.write_text, "csv": self.write_csv, "json": self.write_json}[
            options["format"]
        ](data)

    def collect(
        self,
        division: Division | None,
        grids: Any,
        issues: Any,
        communities: Any,
        statuses: list[str],
    ) -> dict[str, Any]:
        version = versioning.current(STAMP)
        checked = CoverageCheck.objects.filter(
            division__in=communities, boundary_version__gte=version
        ).count()
        listed = [
            {
                "status": g.sizing,
                "code": g.division.code,
                "name": g.division.name,
                "community_code": g.division.parent.code if g.division.parent else "",
                "community": g.division.parent.name if g.division.parent else "",
                "kind": g.kind,
                "setting": g.setting,
                "households": g.households,
                "residents": g.residents,
            }
            for g in grids.filter(sizing__in=statuses)
        ]
        coverage_rows = [
            {
                "kind": issue.kind,
                "community_code": issue.parent.code,
                "community": issue.parent.name,
                "grid": issue.grid_a.code if issue.grid_a else "",
                "other_grid": issue.grid_b.code if issue.grid_b else "",
                "area_m2": issue.area_m2,
            }
            for issue in issues
        ]
        by_kind = dict.fromkeys(CoverageKind.values, 0)
        for row in coverage_rows:
            by_kind[row["kind"]] += 1
        return {
            "under": {"code": division.code, "name": division.name} if division else None,
            "sizing": selectors.sizing_summary(grids),
            "listed_statuses": statuses,
            "grids": listed,
            "coverage": by_kind,
            "coverage_issues": coverage_rows,
            "communities": communities.count(),
            "communities_checked_since_last_boundary_change": checked,
        }

    def write_text(self, data: dict[str, Any]) -> None:
        out = self.stdout.write
        where = f"{data['under']['name']} ({data['under']['code']})" if data["under"] else _("all")
        total = sum(data["sizing"].values())
        out(_("Grids (%(where)s): %(n)d") % {"where": where, "n": total})
        for status, label in SizingStatus.choices:
            out(f"  {label!s:<24} {data['sizing'][status]:>7}")
        if data["grids"]:
            out("")
            statuses = ", ".join(data["listed_statuses"])
            out(_("Grids listed (%(statuses)s):") % {"statuses": statuses})
            for g in data["grids"]:
                out(
                    f"  {g['status']:<8} {g['code']}  {g['name']}  {g['setting']}  "
                    + _("households %(h)s, residents %(r)s")
                    % {"h": _none(g["households"]), "r": _none(g["residents"])}
                )
        out("")
        counts = ", ".join(
            f"{label} {data['coverage'][kind]}" for kind, label in CoverageKind.choices
        )
        out(
            _("Coverage issues: %(n)d (%(counts)s)")
            % {"n": len(data["coverage_issues"]), "counts": counts}
        )
        for issue in data["coverage_issues"]:
            grids = " / ".join(c for c in (issue["grid"], issue["other_grid"]) if c)
            out(
                f"  {issue['kind']:<12} {issue['community_code']}  {issue['community']}  "
                f"{grids or '-'}  {issue['area_m2']:.1f} m²"
            )
        stale = data["communities"] - data["communities_checked_since_last_boundary_change"]
        if stale:
            out(
                _(
                    "Note: %(n)d of %(total)d communities have not been checked since boundaries "
                    "last changed; run with --refresh (or civicgrid check-coverage)."
                )
                % {"n": stale, "total": data["communities"]}
            )

    def write_csv(self, data: dict[str, Any]) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for g in data["grids"]:
            writer.writerow(
                [
                    "sizing",
                    g["status"],
                    g["code"],
                    g["name"],
                    g["community_code"],
                    g["community"],
                    g["setting"],
                    _none(g["households"]),
                    _none(g["residents"]),
                    "",
                    "",
                ]
            )
        for issue in data["coverage_issues"]:
            writer.writerow(
                [
                    "coverage",
                    issue["kind"],
                    issue["grid"],
                    "",
                    issue["community_code"],
                    issue["community"],
                    "",
                    "",
                    "",
                    issue["other_grid"],
                    f"{issue['area_m2']:.1f}",
                ]
            )

    def write_json(self, data: dict[str, Any]) -> None:
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))


def _none(value: Any) -> str:
    return "" if value is None else str(value)
