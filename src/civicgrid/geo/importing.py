"""The geo importers, registered with the background import jobs (core.jobs)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from civicgrid.core.importing import ImportReport, ProgressFn
from civicgrid.core.jobs import Importer, register

from .actions import do_import_boundaries, do_import_divisions


def run_divisions(
    files: list[tuple[str, bytes]], actor: Any, options: dict[str, Any], progress: ProgressFn
) -> ImportReport:
    if len(files) != 1:
        return ImportReport(fatal=str(_("Upload one CSV file.")))
    return do_import_divisions(
        files[0][1],
        actor=actor,
        skip_invalid=bool(options.get("skip_invalid")),
        dry_run=bool(options.get("dry_run")),
        progress=progress,
    )


def run_boundaries(
    files: list[tuple[str, bytes]], actor: Any, options: dict[str, Any], progress: ProgressFn
) -> ImportReport:
    return do_import_boundaries(
        files,
        actor=actor,
        skip_invalid=bool(options.get("skip_invalid")),
        dry_run=bool(options.get("dry_run")),
        crs=str(options.get("crs") or "wgs84"),
        progress=progress,
    )


def register_importers() -> None:
    register(Importer("divisions", _("division table (CSV)"), run_divisions, (".csv", ".txt")))
    register(
        Importer(
            "boundaries",
            _("grid and division boundaries (GeoJSON or ZIP)"),
            run_boundaries,
            (".geojson", ".json", ".zip"),
        )
    )
