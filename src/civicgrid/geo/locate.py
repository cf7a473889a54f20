"""Point → grid: an in-process shapely STRtree over every active grid boundary.

Each process builds the index on first use and rebuilds it when the "geo.boundaries" version
stamp in the database has moved (checked at most every LOCATE_INDEX_CHECK_SECONDS), so web and
worker processes stay consistent without talking to each other. Where grids overlap (a
dedicated grid drawn over a general one), the dedicated grid wins, then the smaller one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from django.conf import settings
from shapely.geometry import shape

from civicgrid.core import versioning

STAMP = "geo.boundaries"


@dataclass(frozen=True)
class IndexEntry:
    grid_id: int
    code: str
    dedicated: bool
    area: float


class GridIndex:
    def __init__(
        self, ids: Sequence[int], geometries: Sequence[object], priority: Sequence[tuple]
    ) -> None:
        order = sorted(range(len(ids)), key=priority.__getitem__)
        self.ids = np.asarray(ids, dtype=np.int64)[order]
        # fromiter stores the objects as they come; asarray would first inspect every geometry
        # while discovering the array's shape (twice as slow for 200,000 grids).
        self.geometries = np.fromiter(
            (geometries[i] for i in order), dtype=object, count=len(order)
        )
        # No shapely.prepare(): STRtree.query prepares the *query* geometry, never the tree's,
        # so preparing the grids only cost build time and memory (bench/RESULTS.md).
        self.tree = shapely.STRtree(self.geometries)
        self.version = 0

    def __len__(self) -> int:
        return len(self.ids)

    def locate(self, lng: float, lat: float) -> int | None:
        # The same Point as shapely.Point(lng, lat) in half the time: Point() goes through
        # squeeze and dtype checks first. float() keeps Point()'s refusal of None and text.
        point = shapely.points(np.array((float(lng), float(lat))))
        # A list: min() and the emptiness test on a handful of hits cost less in Python than
        # the numpy calls (hits.min() alone was ~2 µs of a ~12 µs lookup).
        hits = self.tree.query(point, predicate="intersects").tolist()
        if not hits:
            return None
        # Tree positions follow priority order: the smallest hit is the preferred grid.
        # ids.item() gives a Python int directly (int(ids[i]) makes a numpy scalar first).
        return self.ids.item(min(hits))

    def locate_many(self, lngs: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Grid ids for arrays of points; -1 where a point lies in no grid."""
        points = shapely.points(np.column_stack([lngs, lats]))
        point_idx, tree_idx = self.tree.query(points, predicate="intersects")
        # Per point, the smallest tree position hit (the preferred grid). An unbuffered minimum
        # does it in one pass; sorting all hits to find it cost a fifth of the whole call.
        size = len(self.ids)
        if size == 0:
            return np.full(len(points), -1, dtype=np.int64)
        best = np.full(len(points), size, dtype=np.intp)
        np.minimum.at(best, point_idx, tree_idx)
        return np.where(best < size, self.ids[np.minimum(best, size - 1)], -1)

    @classmethod
    def from_database(cls) -> GridIndex:
        from .models import Grid

        ids: list[int] = []
        geometries: list[object] = []
        priority: list[tuple] = []
        rows = (
            Grid.objects.filter(division__is_active=True, division__boundary__isnull=False)
            .values_list("division_id", "division__boundary", "kind", "division__area_m2")
            .iterator(chunk_size=2000)
        )
        for grid_id, boundary, kind, area in rows:
            ids.append(grid_id)
            geometries.append(shape(boundary))
            priority.append((kind != "dedicated", area or 0.0, grid_id))
        return cls(ids, geometries, priority)


_lock = threading.Lock()
_state: dict[str, object] = {"index": None, "version": -1, "checked": 0.0}


def get_index(*, force_check: bool = False) -> GridIndex:
    """The current process's index, rebuilt when the boundary stamp has moved."""
    now = time.monotonic()
    index = _state["index"]
    interval = settings.LOCATE_INDEX_CHECK_SECONDS
    if index is not None and not force_check and now - float(_state["checked"]) < interval:  # type: ignore[arg-type]
        return index  # type: ignore[return-value]
    with _lock:
        version = versioning.current(STAMP)
        _state["checked"] = time.monotonic()
        if _state["index"] is None or version != _state["version"]:
            fresh = GridIndex.from_database()
            fresh.version = version
            _state["index"] = fresh
            _state["version"] = version
        return _state["index"]  # type: ignore[return-value]


def reset_index() -> None:
    with _lock:
        _state.update(index=None, version=-1, checked=0.0)


def locate(lng: float, lat: float) -> int | None:
    return get_index().locate(lng, lat)
