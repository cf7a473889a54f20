"""WGS-84 ⇄ GCJ-02 (no database needed)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from civicgrid.geo import coords


@given(st.floats(73.7, 134.5), st.floats(18.2, 53.3))
def test_round_trip_within_a_micro_degree(lng: float, lat: float) -> None:
    g_lng, g_lat = coords.wgs84_to_gcj02(lng, lat)
    w_lng, w_lat = coords.gcj02_to_wgs84(g_lng, g_lat)
    assert abs(w_lng - lng) < 1e-6
    assert abs(w_lat - lat) < 1e-6


def test_beijing_offset_has_the_known_size() -> None:
    # Tiananmen: GCJ-02 lies roughly 0.006° east and 0.001° north of WGS-84 here, some
    # hundreds of metres; the order of magnitude is what matters, not a copied table.
    lng, lat = 116.3912, 39.9073
    g_lng, g_lat = coords.wgs84_to_gcj02(lng, lat)
    d_lng, d_lat = g_lng - lng, g_lat - lat
    assert 0.004 < d_lng < 0.009
    assert 0.0005 < d_lat < 0.003
    metres = math.hypot(d_lng * 111_320 * math.cos(math.radians(lat)), d_lat * 110_574)
    assert 300 < metres < 900


def test_the_offset_is_not_constant() -> None:
    # The datum is a distortion, not a shift: a constant would round-trip trivially.
    a = coords.wgs84_to_gcj02(116.39, 39.90)
    b = coords.wgs84_to_gcj02(121.47, 31.23)
    assert abs((a[0] - 116.39) - (b[0] - 121.47)) > 1e-4


@pytest.mark.parametrize(("lng", "lat"), [(2.35, 48.85), (-74.0, 40.7), (151.2, -33.9)])
def test_outside_china_unchanged(lng: float, lat: float) -> None:
    assert coords.outside_china(lng, lat)
    assert coords.wgs84_to_gcj02(lng, lat) == (lng, lat)
    assert coords.gcj02_to_wgs84(lng, lat) == (lng, lat)


def test_transform_geometry_moves_every_position() -> None:
    polygon = {
        "type": "MultiPolygon",
        "coordinates": [
            [[[118.0, 37.0], [118.01, 37.0], [118.01, 37.01], [118.0, 37.0]]],
            [[[118.02, 37.0], [118.03, 37.0], [118.03, 37.01], [118.02, 37.0]]],
        ],
    }
    moved = coords.transform_geometry(polygon, coords.wgs84_to_gcj02)
    assert moved["type"] == "MultiPolygon"
    for part, original in zip(moved["coordinates"], polygon["coordinates"], strict=True):
        ring, source = part[0], original[0]
        assert ring[0] == ring[-1]  # still closed
        for (x, y), (sx, sy) in zip(ring, source, strict=True):
            assert (x, y) == pytest.approx(coords.wgs84_to_gcj02(sx, sy))
            assert x != sx
