"""Point → grid: civicgrid.geo.locate against a bare shapely STRtree on the same polygons.

Two data sets: the `city` demo preset (about 7,800 grids) read from the database the way a
process does at start, and a province-sized tiling (200,000 Voronoi cells) built in memory.
Uniformly random points over each set's bounding box are located three ways — vectorised, one
point at a time on the index, and one point at a time through `locate()` (which also checks
the cross-process version stamp) — each timed beside the bare engine doing the same job.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from .common import (
    Timing,
    machine,
    machine_markdown,
    markdown_table,
    mib,
    rate,
    rss_bytes,
    time_once,
    time_pair,
)

TARGET = 0.8
SETS = ("city", "province")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("locate (point → grid)")
    group.add_argument("--points", type=int, default=1_000_000,
                       help="random points per data set for the vectorised mode (default 1,000,000)")  # fmt: skip
    group.add_argument("--single-points", type=int, default=100_000,
                       help="the first N of those points for the one-at-a-time modes (default 100,000)")  # fmt: skip
    group.add_argument("--province-grids", type=int, default=200_000,
                       help="cells in the province-sized set (default 200,000)")  # fmt: skip
    group.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS),
                       help="data sets to run (default both)")  # fmt: skip


@dataclass
class Mode:
    name: str
    points: int
    bare: Timing
    ours: Timing

    @property
    def ratio(self) -> float:
        """Ours per second ÷ bare per second, from the best runs."""
        return self.bare.best / self.ours.best

    @property
    def median_ratio(self) -> float:
        return self.bare.median / self.ours.median


@dataclass
class Agreement:
    points: int
    in_no_grid: int = 0
    in_several: int = 0
    # Points where ours names another grid than the bare tree's preferred hit; "tied" ones are
    # still among the bare tree's hits (a shared edge), "wrong" ones are not.
    vector_tied: int = 0
    vector_wrong: int = 0
    single_points: int = 0
    single_mismatch: int = 0


@dataclass
class DataSet:
    name: str
    description: str
    grids: int = 0
    build_label: str = ""
    ours_build: Timing = field(default_factory=Timing)
    ours_rss: int = 0
    ours_traced: tuple[int, int] = (0, 0)
    bare_build: Timing = field(default_factory=Timing)
    bare_tree_rss: int = 0
    geometry_rss: int = 0
    prepare_seconds: float = 0.0
    modes: list[Mode] = field(default_factory=list)
    agreement: Agreement | None = None


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _traced(build: Callable[[], Any]) -> tuple[int, int]:
    """Python-heap bytes (incl. numpy buffers) kept and peak while building. GEOS allocates
    with plain malloc, which tracemalloc cannot see: the RSS figure is the one to trust."""
    tracemalloc.start()
    try:
        index = build()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del index
    return current, peak


def _build_ours(data: DataSet, first: Callable[[], Any], again: Callable[[], Any], repeat: int) -> Any:
    before = rss_bytes()
    elapsed, index = time_once(first)
    data.ours_rss = rss_bytes() - before
    data.ours_build.runs.append(elapsed)
    for _ in range(repeat - 1):
        elapsed, extra = time_once(again)
        data.ours_build.runs.append(elapsed)
        del extra
    data.ours_traced = _traced(again)
    data.grids = len(index)
    return index


def city_set(options: argparse.Namespace) -> tuple[DataSet, Any, Callable[[float, float], Any]]:
    from civicgrid.geo.locate import GridIndex, get_index, locate, reset_index  # noqa: PLC0415

    data = DataSet("city", "`city` demo preset, read from the database")
    data.build_label = "`get_index()` at process start (DB read + GeoJSON parse + tree)"
    reset_index()
    _say("city: building the index from the database")
    index = _build_ours(
        data, lambda: get_index(force_check=True), GridIndex.from_database, options.repeat
    )
    return data, index, locate


def province_set(options: argparse.Namespace) -> tuple[DataSet, Any, None]:
    from civicgrid.demo.tessellation import province_polygons  # noqa: PLC0415
    from civicgrid.geo.locate import GridIndex  # noqa: PLC0415

    count = options.province_grids
    data = DataSet("province", f"{count:,} Voronoi cells tiling a 6°×6° square, in memory")
    data.build_label = "`GridIndex(ids, polygons, priority)` over polygons in memory"
    _say(f"province: generating {count:,} cells")
    started = time.perf_counter()
    polygons = province_polygons(count, seed=options.seed)
    _say(f"province: generated in {time.perf_counter() - started:.1f} s; building the index")
    ids = list(range(1, len(polygons) + 1))
    areas = shapely.area(np.asarray(polygons, dtype=object)).tolist()
    # The same key GridIndex.from_database uses: (not dedicated, area, id).
    priority = [(True, area, grid_id) for area, grid_id in zip(areas, ids, strict=True)]

    def build() -> Any:
        return GridIndex(ids, polygons, priority)

    index = _build_ours(data, build, build, options.repeat)
    return data, index, None


def _agreement(
    index: Any, bare_hits: np.ndarray, ours: np.ndarray, points: int
) -> tuple[Agreement, np.ndarray]:
    """Compare ours with the bare tree's answer resolved by the documented rule.

    The bare tree holds copies of the index's polygons in the index's order, and the index keeps
    its polygons in priority order, so the bare tree's smallest hit position is the grid the
    rules say should win (dedicated first, then the smaller area)."""
    point_idx, tree_idx = bare_hits
    size = len(index.ids)
    first = np.full(points, size, dtype=np.int64)
    np.minimum.at(first, point_idx, tree_idx)
    found = first < size
    expected = np.where(found, index.ids[np.minimum(first, size - 1)], -1)
    hits_per_point = np.bincount(point_idx, minlength=points)
    result = Agreement(points, int((~found).sum()), int((hits_per_point > 1).sum()))
    position = {int(grid_id): i for i, grid_id in enumerate(index.ids.tolist())}
    for i in np.flatnonzero(ours != expected).tolist():
        hits = tree_idx[point_idx == i].tolist()
        if int(ours[i]) != -1 and position[int(ours[i])] in hits:
            result.vector_tied += 1
        else:
            result.vector_wrong += 1
    return result, expected


def measure(
    data: DataSet,
    index: Any,
    public_locate: Callable[[float, float], Any] | None,
    options: argparse.Namespace,
) -> DataSet:
    repeat = options.repeat
    # Fresh, unprepared copies of the very polygons the index holds, in the index's order: the
    # bare tree answers with the same positions, and nothing the index did to its own geometry
    # objects (preparing them, say) can leak into the reference.
    geometries = np.asarray(index.geometries, dtype=object)
    before = rss_bytes()
    polygons = shapely.from_wkb(shapely.to_wkb(geometries))
    after_copy = rss_bytes()
    data.geometry_rss = after_copy - before
    elapsed, tree = time_once(lambda: shapely.STRtree(polygons))
    data.bare_tree_rss = rss_bytes() - after_copy
    data.bare_build.runs.append(elapsed)
    for _ in range(repeat - 1):
        elapsed, extra = time_once(lambda: shapely.STRtree(polygons))
        data.bare_build.runs.append(elapsed)
        del extra
    # What shapely.prepare would add to a build, for the note on preparing the polygons.
    spare = shapely.from_wkb(shapely.to_wkb(geometries))
    data.prepare_seconds, _ = time_once(lambda: shapely.prepare(spare))
    del spare

    n = options.points
    rng = np.random.default_rng(options.seed)
    min_x, min_y, max_x, max_y = shapely.total_bounds(polygons)
    xs = rng.uniform(min_x, max_x, n)
    ys = rng.uniform(min_y, max_y, n)

    _say(f"{data.name}: vectorised, {n:,} points × {repeat} runs each side")
    bare_t, ours_t, bare_hits, ours_ids = time_pair(
        lambda: tree.query(shapely.points(xs, ys), predicate="intersects"),
        lambda: index.locate_many(xs, ys),
        repeat,
    )
    data.modes.append(Mode("vectorised: `locate_many` vs `query(points)`", n, bare_t, ours_t))
    agreement, expected = _agreement(index, bare_hits, ours_ids, n)
    del bare_hits, ours_ids

    m = min(options.single_points, n)
    sx, sy = xs[:m].tolist(), ys[:m].tolist()
    query, point = tree.query, shapely.Point
    ids_list = index.ids.tolist()

    def bare_single() -> list[np.ndarray]:
        return [query(point(x, y), predicate="intersects") for x, y in zip(sx, sy, strict=True)]

    def ours_single(fn: Callable[[float, float], Any]) -> Callable[[], list[Any]]:
        return lambda: [fn(x, y) for x, y in zip(sx, sy, strict=True)]

    singles: list[tuple[str, Callable[[float, float], Any]]] = [
        ("one point at a time: `GridIndex.locate` vs `query(Point)`", index.locate)
    ]
    if public_locate is not None:
        singles.append(("one point at a time: `locate()` (+ version stamp) vs `query(Point)`",
                        public_locate))  # fmt: skip
    agreement.single_points = m
    for label, fn in singles:
        _say(f"{data.name}: {label.split(':')[1].strip()}, {m:,} points × {repeat} runs each side")
        bare_t, ours_t, bare_res, ours_res = time_pair(bare_single, ours_single(fn), repeat)
        data.modes.append(Mode(label, m, bare_t, ours_t))
        bare_answer = [ids_list[min(h.tolist())] if len(h) else -1 for h in bare_res]
        ours_answer = [-1 if r is None else r for r in ours_res]
        agreement.single_mismatch += sum(
            a != b or a != int(e)
            for a, b, e in zip(ours_answer, bare_answer, expected[:m].tolist(), strict=True)
        )
    data.agreement = agreement
    return data


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def _render(results: Sequence[DataSet], options: argparse.Namespace, context: dict[str, str]) -> str:
    r = options.repeat
    throughput = []
    shortfalls = []
    for data in results:
        for mode in data.modes:
            ok = mode.ratio >= TARGET
            if not ok:
                shortfalls.append(f"{data.name} / {mode.name}")
            throughput.append([
                data.name, mode.name, f"{mode.points:,}",
                rate(mode.points, mode.bare.best), rate(mode.points, mode.ours.best),
                f"**{mode.ratio:.2f}**", f"{mode.median_ratio:.2f}", "yes" if ok else "**no**",
            ])  # fmt: skip
    header = ["data set", "mode", "points", "bare shapely (points/s)", "ours (points/s)",
              "ours ÷ bare (best)", "ours ÷ bare (median)", f"≥ {TARGET}"]  # fmt: skip

    names = [d.name for d in results]
    rows: list[list[str]] = [
        ["grids", *(f"{d.grids:,}" for d in results)],
        ["what “build” covers", *(d.build_label for d in results)],
        [f"ours: build, first run / best of {r}",
         *(f"{_ms(d.ours_build.runs[0])} / {_ms(d.ours_build.best)}" for d in results)],
        ["ours: memory, RSS growth over the build",
         *(mib(d.ours_rss) for d in results)],
        ["ours: Python heap (tracemalloc) kept / peak during the build",
         *(f"{mib(d.ours_traced[0])} / {mib(d.ours_traced[1])}" for d in results)],
        [f"bare: `STRtree(polygons)` build, best of {r}",
         *(_ms(d.bare_build.best) for d in results)],
        ["bare: memory, RSS growth for the tree alone",
         *(mib(d.bare_tree_rss) for d in results)],
        ["(the polygons themselves, as GEOS objects: RSS)",
         *(mib(d.geometry_rss) for d in results)],
        ["(`shapely.prepare` on all polygons would add)",
         *(_ms(d.prepare_seconds) for d in results)],
    ]  # fmt: skip

    checks = []
    for d in results:
        a = d.agreement
        assert a is not None
        checks.append([
            d.name, f"{a.points:,}", f"{a.in_no_grid:,}", f"{a.in_several:,}",
            f"{a.vector_wrong:,} wrong, {a.vector_tied:,} tie(s)",
            f"{a.single_mismatch:,} of {a.single_points:,} (per path)",
        ])  # fmt: skip

    if shortfalls:
        verdict = (f"**Target missed** (ours below {TARGET} × bare, best runs) in: "
                   + "; ".join(shortfalls) + ".")  # fmt: skip
    else:
        verdict = f"Target met: ours ≥ {TARGET} × bare shapely in every mode (best runs)."
    return f"""## point → grid

{verdict}

Command (from the repository root; `make bench` runs the same with `DATABASE_URL=$(PG_URL)`):

```
{context["command"]}
```

- date: {context["date"]}
- database: `{context["database"]}` — {context["city"]}
{machine_markdown(machine())}

### Throughput

{markdown_table(header, throughput)}

### Index build and memory

{markdown_table(["", *names], rows)}

### Agreement (ours vs bare on every point of the run)

{markdown_table(["data set", "points", "in no grid", "in ≥ 2 grids (overlap)",
                 "vectorised: ours ≠ bare", "one-at-a-time: ≠ bare or ≠ vectorised"], checks)}

### Method

- Points: `numpy.random.default_rng({options.seed})`, uniform over each set's bounding box;
  the one-at-a-time modes use the first {options.single_points:,} of the same points.
- Bare: `shapely.STRtree` over fresh, unprepared copies (WKB round trip) of the polygons the
  index holds, in the index's order. Vectorised bare = `tree.query(shapely.points(x, y),
  predicate="intersects")`, from the same coordinate arrays ours receives; it returns every
  (point, polygon) hit and does not pick one grid per point, which ours also does.
  One at a time, bare = `tree.query(Point(x, y), predicate="intersects")` in a list
  comprehension; ours = `index.locate(x, y)` or `locate(x, y)` in the same comprehension.
- Timing: wall clock, garbage collector paused, each side run {r} times, bare and ours
  interleaved (alternating which goes first) so that load from other processes falls on both;
  the ratio uses the best run of each side, the median ratio is shown beside it.
- Memory: growth of the resident set size across the build, read after `gc.collect()` and
  glibc `malloc_trim(0)` so that freed memory is not counted. For the city set it includes the
  polygons (the index owns them); for the province set the polygons existed before the build,
  so it is the index structures alone. tracemalloc only sees Python objects and numpy buffers,
  not GEOS geometry or tree memory; it is shown for the transient peak of the database read.
- Agreement: the bare hits are resolved by the index's rule (smallest position in priority
  order) and compared with ours for every point; a "tie" would be a different grid that still
  contains the point (shared edge), "wrong" one that does not.
"""


def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    results = []
    if "city" in options.sets:
        data, index, public = city_set(options)
        results.append(measure(data, index, public, options))
        del index
    if "province" in options.sets:
        data, index, _none = province_set(options)
        results.append(measure(data, index, None, options))
        del index
    context = {**context, "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")}
    return _render(results, options, context)
