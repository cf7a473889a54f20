"""Tilings of a rectangle by Voronoi cells, and groupings of cells into larger regions.

All levels come from one Voronoi diagram of grid seeds, so neighbouring grids share their edges
exactly and every parent is the union of its children: no gaps, no overlaps, by construction.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry


def voronoi_cells(seeds: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """One cell per seed (same order), clipped to `bounds` (min_x, min_y, max_x, max_y)."""
    frame = shapely.box(*bounds)
    diagram = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame, ordered=True)
    cells = np.asarray(shapely.get_parts(diagram))
    return shapely.intersection(cells, frame)


def nearest(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Index of the nearest centre for each point (centres are few; points may be many)."""
    tree = shapely.STRtree(shapely.points(centres))
    return tree.query_nearest(shapely.points(points), return_distance=False, all_matches=False)[1]


def union(cells: list[BaseGeometry]) -> BaseGeometry:
    """Union of cells that tile without overlap (exact on shared edges)."""
    return shapely.coverage_union_all(cells)


def province_polygons(
    count: int, *, seed: int, origin: tuple[float, float] = (114.0, 33.0), size: float = 6.0
) -> list[BaseGeometry]:
    """`count` grid-sized cells tiling a square of `size` degrees (for benchmarks)."""
    rng = np.random.default_rng(seed)
    x0, y0 = origin
    seeds = np.column_stack([rng.uniform(x0, x0 + size, count), rng.uniform(y0, y0 + size, count)])
    return list(voronoi_cells(seeds, (x0, y0, x0 + size, y0 + size)))
