from __future__ import annotations

import math
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.geo import coords
from civicgrid.geo.locate import get_index
from civicgrid.geo.models import Grid


class Command(BaseCommand):
    help = (
        "Find the grid a point lies in.\n"
        "Prints the grid with its community, township, county, city "
        "and province. Latitude first, then longitude, in WGS-84 degrees (GPS), or GCJ-02 "
        "(AMap/Tencent) with --crs gcj02. Exits 1 when the point is in no grid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("lat", type=float, metavar="LAT", help="Latitude, e.g. 37.38")
        parser.add_argument("lng", type=float, metavar="LNG", help="Longitude, e.g. 117.97")
        parser.add_argument(
            "--crs",
            choices=["wgs84", "gcj02"],
            default="wgs84",
            help="Datum of the point: wgs84 (GPS, default) or gcj02 (a point "
            "picked on an AMap/Tencent map).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        lat, lng = options["lat"], options["lng"]
        if not (math.isfinite(lat) and math.isfinite(lng)):
            raise CommandError(_("LAT and LNG must be finite numbers."))
        if not -90 <= lat <= 90:
            hint = _(" (did you give LNG LAT? The latitude comes first.)") if abs(lng) <= 90 else ""
            raise CommandError(_("LAT %(lat)s is out of range -90…90.") % {"lat": lat} + hint)
        if not -180 <= lng <= 180:
            raise CommandError(_("LNG %(lng)s is out of range -180…180.") % {"lng": lng})
        if options["crs"] == "gcj02":
            lng, lat = coords.gcj02_to_wgs84(lng, lat)
        grid_id = get_index(force_check=True).locate(lng, lat)
        grid = (
            Grid.objects.select_related("division__parent").filter(pk=grid_id).first()
            if grid_id is not None
            else None
        )
        if grid is None:
            raise CommandError(
                _("The point (%(lat).6f, %(lng).6f) lies in no grid.") % {"lat": lat, "lng": lng}
            )
        division = grid.division
        out = self.stdout.write
        out(f"{division.code}  {division.name}")
        out(
            "  "
            + _("%(kind)s, %(setting)s, households %(h)s, residents %(r)s")
            % {
                "kind": grid.get_kind_display(),
                "setting": grid.get_setting_display(),
                "h": "-" if grid.households is None else grid.households,
                "r": "-" if grid.residents is None else grid.residents,
            }
        )
        for ancestor in reversed(division.ancestors()):
            out(f"  {ancestor.get_level_display()!s:<18} {ancestor.code:<12} {ancestor.name}")
        if options["crs"] == "gcj02":
            out("  " + _("(WGS-84 point: %(lat).6f, %(lng).6f)") % {"lat": lat, "lng": lng})
