"""Validating and measuring GeoJSON boundaries (WGS-84) with shapely.

Areas use a local equal-area approximation (metres per degree scaled by the cosine of the
latitude at the polygon's centre), good to well under 1 % at grid and community size, which is
what sizing and coverage reports need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import shapely
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

# Seven decimals of a degree is about a centimetre: finer digits are noise.
PRECISION = 7
M_PER_DEG = 111_319.49079327357


@dataclass(frozen=True)
class Measured:
    geometry: dict[str, Any]
    min_lng: float
    min_lat: float
    max_lng: float
    max_lat: float
    centroid_lng: float
    centroid_lat: float
    area_m2: float


def _check_positions(coords: Any, depth: int) -> None:
    if depth == 0:
        if not isinstance(coords, list | tuple) or len(coords) < 2:
            raise ValidationError(_("A position must be [longitude, latitude]."))
        lng, lat = coords[0], coords[1]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lng, lat)):
            raise ValidationError(_("Coordinates must be numbers."))
        if not (math.isfinite(lng) and math.isfinite(lat)):
            raise ValidationError(_("Coordinates must be finite numbers."))
        if not -180 <= lng <= 180:
            raise ValidationError(
                _(
                    "Longitude %(value)s is out of range (coordinates are [longitude, latitude] "
                    "in WGS-84 degrees)."
                )
                % {"value": lng}
            )
        if not -90 <= lat <= 90:
            if -90 <= lng <= 90:
                raise ValidationError(
                    _(
                        "Latitude %(value)s is out of range: longitude and latitude look swapped "
                        "(GeoJSON positions are [longitude, latitude])."
                    )
                    % {"value": lat}
                )
            raise ValidationError(
                _(
                    "Latitude %(value)s is out of range (coordinates are [longitude, latitude] "
                    "in WGS-84 degrees)."
                )
                % {"value": lat}
            )
        return
    if not isinstance(coords, list | tuple) or not coords:
        raise ValidationError(_("The coordinates are empty or nested wrongly."))
    for item in coords:
        _check_positions(item, depth - 1)


def _check_rings(polygon: Any) -> None:
    for ring in polygon:
        if len(ring) < 4:
            raise ValidationError(_("A polygon ring needs at least four positions."))
        if list(ring[0][:2]) != list(ring[-1][:2]):
            raise ValidationError(_("A polygon ring must end where it starts."))


def parse_geometry(raw: Any) -> BaseGeometry:
    """A validated shapely geometry from a GeoJSON Polygon/MultiPolygon (or a Feature)."""
    if isinstance(raw, dict) and raw.get("type") == "Feature":
        raw = raw.get("geometry")
    if not isinstance(raw, dict):
        raise ValidationError(_("The geometry must be a GeoJSON object."))
    kind = raw.get("type")
    coords = raw.get("coordinates")
    if kind == "Polygon":
        _check_positions(coords, 2)
        _check_rings(coords)
    elif kind == "MultiPolygon":
        _check_positions(coords, 3)
        for polygon in coords:  # type: ignore[union-attr]
            _check_rings(polygon)
    else:
        raise ValidationError(
            _("Geometry type “%(kind)s” is not supported: use Polygon or MultiPolygon.")
            % {"kind": kind}
        )
    try:
        geom = shape(raw)
    except (ValueError, TypeError, shapely.errors.ShapelyError) as exc:
        raise ValidationError(_("The geometry cannot be read: %(error)s") % {"error": exc}) from exc
    # Validity first: a self-intersecting bowtie has zero signed area, and "no area" would hide
    # the real fault.
    if not geom.is_empty and not geom.is_valid:
        raise ValidationError(
            _("The polygon is invalid: %(reason)s") % {"reason": shapely.is_valid_reason(geom)}
        )
    if geom.is_empty or geom.area == 0:
        raise ValidationError(_("The polygon has no area."))
    return geom


def area_m2(geom: BaseGeometry) -> float:
    lat = geom.centroid.y
    return float(geom.area * M_PER_DEG * M_PER_DEG * math.cos(math.radians(lat)))


def measure(geom: BaseGeometry) -> Measured:
    rounded = _round_mapping(geom)
    if not shape(rounded).is_valid:  # rounding folded a sliver: keep full precision
        rounded = _round_mapping(geom, None)
    min_lng, min_lat, max_lng, max_lat = geom.bounds
    centroid = geom.centroid
    return Measured(
        geometry=dict(rounded),
        min_lng=min_lng,
        min_lat=min_lat,
        max_lng=max_lng,
        max_lat=max_lat,
        centroid_lng=round(centroid.x, PRECISION),
        centroid_lat=round(centroid.y, PRECISION),
        area_m2=round(area_m2(geom), 1),
    )


def _round_mapping(geom: BaseGeometry, precision: int | None = PRECISION) -> dict[str, Any]:
    """GeoJSON of `geom` in lists (as it reads back from a JSON column, so that a stored
    boundary compares equal to a freshly measured one), rounded unless precision is None."""

    def walk(coords: Any) -> Any:
        if coords and isinstance(coords[0], int | float):
            if precision is None:
                return [float(coords[0]), float(coords[1])]
            return [round(coords[0], precision), round(coords[1], precision)]
        return [walk(c) for c in coords]

    data = mapping(geom)
    return {"type": data["type"], "coordinates": walk(data["coordinates"])}


def to_shape(geometry: dict[str, Any]) -> BaseGeometry:
    """A stored (already validated) boundary as a shapely geometry."""
    return shape(geometry)
