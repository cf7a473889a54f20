from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.core.importing import TerminalProgress
from civicgrid.core.jobs import read_files
from civicgrid.geo.actions import do_import_boundaries

from ._support import describe_validation, domain_call, finish_import, read_input

GEOJSON_SUFFIXES = (".geojson", ".json")


def collect_files(paths: list[str]) -> list[tuple[str, bytes]]:
    """(name, bytes) of every GeoJSON file named, found in a directory, or packed in a ZIP."""
    files: list[tuple[str, bytes]] = []
    for path in paths:
        target = Path(path)
        if target.is_dir():
            found = sorted(
                p for p in target.rglob("*") if p.is_file() and p.suffix.lower() in GEOJSON_SUFFIXES
            )
            if not found:
                raise CommandError(
                    _("The directory %(path)s holds no .geojson or .json files.") % {"path": path}
                )
            files += [
                (str(p.relative_to(target)), read_input(str(p), what="GeoJSON")) for p in found
            ]
        elif target.suffix.lower() == ".zip":
            raw = read_input(path, what="ZIP")
            try:
                members = read_files(target.name, raw)
            except ValidationError as exc:
                raise CommandError(f"{path}: {describe_validation(exc)}") from exc
            members = [(n, b) for n, b in members if n.lower().endswith(GEOJSON_SUFFIXES)]
            if not members:
                raise CommandError(
                    _("The archive %(path)s holds no .geojson or .json files.") % {"path": path}
                )
            files += members
        else:
            files.append((target.name, read_input(path, what="GeoJSON")))
    return files


class Command(BaseCommand):
    help = (
        "Import division and grid boundaries from GeoJSON files, directories or ZIPs.\n"
        "Each file is a FeatureCollection whose features "
        "carry a “code” property, or one geometry per file named by its code "
        "(371602001001001.geojson). Give files, directories of such files, or .zip archives. "
        "Polygon and MultiPolygon only, in WGS-84 longitude/latitude (or GCJ-02 with --crs "
        "gcj02). Every feature is checked first: by default any bad feature rejects the whole "
        "import, and each is listed with its file and feature number."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "paths",
            nargs="+",
            metavar="FILE.geojson",
            help="GeoJSON files, directories of them, or ZIP archives of them.",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the good features and list the bad ones (default: reject the import).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the files and report what would change; write nothing.",
        )
        parser.add_argument(
            "--crs",
            choices=["wgs84", "gcj02"],
            default="wgs84",
            help="Datum of the coordinates in the files: wgs84 (GPS, default) or gcj02 (traced "
            "on an AMap/Tencent basemap; converted to WGS-84 on import).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        files = collect_files(options["paths"])
        with work_context():
            report = domain_call(
                lambda: do_import_boundaries(
                    files,
                    actor=None,  # the operator at the console: no scope limit
                    skip_invalid=options["skip_invalid"],
                    dry_run=options["dry_run"],
                    crs=options["crs"],
                    progress=TerminalProgress("boundaries", self.stderr),
                )
            )
        finish_import(self, report, unit="feature", skip_invalid=options["skip_invalid"])
        if report.written and (report.created or report.updated):
            self.stdout.write(
                _("The point→grid index and the coverage check pick up the new boundaries.")
            )
