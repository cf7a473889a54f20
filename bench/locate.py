"""Point → grid: civicgrid.geo.locate against a bare shapely STRtree on the same polygons.

Two data sets: the `city` demo preset (about 7,800 grids) read from the database the way a
process does at start, and a province-sized tiling (200,000 Voronoi cells) built in memory.
Uniformly random points over each set's bounding box are located three ways — vectorised, one
point at a time on the index, and one point at a time through `locate()` (which also checks
the cross-process version stamp) — each timed beside the bare engine doing the same job.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
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
PROBE_MARK = "bench-probe "


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("locate (point → grid)")
    group.add_argument(
        "--points",
        type=int,
        default=1_000_000,
        help="random points per data set, vectorised mode (default 1,000,000)",
    )
    group.add_argument(
        "--single-points",
        type=int,
        default=100_000,
        help="the first N of them for the one-at-a-time modes (default 100,000)",
    )
    group.add_argument(
        "--province-grids",
        type=int,
        default=200_000,
        help="cells in the province-sized set (default 200,000)",
    )
    group.add_argument(
        "--sets",
        nargs="+",
        choices=SETS,
        default=list(SETS),
        help="data sets to run (default both)",
    )


@dataclass
class Mode:
    name: str
    points: int
    bare: Timing
    ours: Timing

    @property
    def ratio(self) -> float:
        """Ours per second ÷ bare per second: the median over runs of the ratio between the two
        sides' runs made back to back. On a busy machine the best run of each side may come
        from different moments (one lucky quiet second decides it); a pair shares its moment."""
        return statistics.median(b / o for b, o in zip(self.bare.runs, self.ours.runs, strict=True))

    @property
    def best_ratio(self) -> float:
        return self.bare.best / self.ours.best

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(
            b / o for b, o in zip(self.bare.cpu_runs, self.ours.cpu_runs, strict=True)
        )


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
    build_label: str
    grids: int = 0
    ours_build: Timing = field(default_factory=Timing)
    bare_build: Timing = field(default_factory=Timing)
    probe: dict[str, float] = field(default_factory=dict)
    modes: list[Mode] = field(default_factory=list)
    agreement: Agreement | None = None


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _province_inputs(count: int, seed: int) -> tuple[list[int], list[Any], list[tuple]]:
    from civicgrid.demo.tessellation import province_polygons

    polygons = province_polygons(count, seed=seed)
    ids = list(range(1, len(polygons) + 1))
    areas = shapely.area(np.asarray(polygons, dtype=object)).tolist()
    # The key GridIndex.from_database uses: (not dedicated, area, id); all cells are general.
    priority = [(True, area, grid_id) for area, grid_id in zip(areas, ids, strict=True)]
    return ids, polygons, priority


def _city_builder() -> Callable[[], Any]:
    """What a web or worker process does on its first locate(): build from the database."""
    from civicgrid.geo.locate import get_index, reset_index

    def build() -> Any:
        reset_index()
        return get_index(force_check=True)

    return build


def _traced(build: Callable[[], Any]) -> tuple[int, int]:
    """Python-heap bytes (incl. numpy buffers) kept and peak while building. GEOS allocates
    with plain malloc, which tracemalloc cannot see: the RSS figures are the ones to trust."""
    tracemalloc.start()
    try:
        index = build()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del index
    return current, peak


def probe(set_name: str, seed: int, province_grids: int) -> dict[str, float]:
    """Build one index in this fresh process and report time and memory.

    Run in a child so that the memory readings start from a clean heap: in the main process,
    free chunks left by loading the city or by earlier builds get reused and hide the growth."""
    from civicgrid.geo.locate import GridIndex

    if set_name == "city":
        from django.db import connection

        connection.ensure_connection()  # the connection is the process's, not the index's
        build = _city_builder()
    else:
        ids, polygons, priority = _province_inputs(province_grids, seed)

        def build() -> Any:
            return GridIndex(ids, polygons, priority)

    before = rss_bytes()
    elapsed, index = time_once(build)
    after_ours = rss_bytes()
    copies = shapely.from_wkb(shapely.to_wkb(index.geometries))
    after_copies = rss_bytes()
    tree = shapely.STRtree(copies)
    after_tree = rss_bytes()
    del tree, copies
    traced = _traced(build)
    return {
        "grids": len(index),
        "build_seconds": elapsed,
        "ours_rss": after_ours - before,
        "geometry_rss": after_copies - after_ours,
        "bare_tree_rss": after_tree - after_copies,
        "traced_kept": traced[0],
        "traced_peak": traced[1],
    }


def probe_in_child(set_name: str, options: argparse.Namespace) -> dict[str, float]:
    command = [
        sys.executable,
        "-m",
        "bench.locate",
        "--probe",
        set_name,
        "--seed",
        str(options.seed),
        "--province-grids",
        str(options.province_grids),
    ]
    # The child inherits DATABASE_URL, which bench.database.setup_django set to the bench one.
    done = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"memory probe for {set_name} failed:\n{done.stderr[-3000:]}")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(PROBE_MARK))
    return json.loads(line[len(PROBE_MARK) :])


def city_set(options: argparse.Namespace) -> tuple[DataSet, Any, Callable[[float, float], Any]]:
    from civicgrid.geo.locate import locate

    data = DataSet(
        "city",
        "`city` demo preset, read from the database",
        "`get_index()` at process start: DB read, GeoJSON → shapely, tree",
    )
    _say("city: build time and memory in a fresh process")
    data.probe = probe_in_child("city", options)
    _say(f"city: building the index from the database × {options.repeat}")
    build = _city_builder()
    index: Any = None
    for _ in range(options.repeat):
        index = None  # let the previous index go before building the next
        index = time_once(build, data.ours_build)[1]
    data.grids = len(index)
    return data, index, locate


def province_set(options: argparse.Namespace) -> tuple[DataSet, Any, None]:
    from civicgrid.geo.locate import GridIndex

    count = options.province_grids
    data = DataSet(
        "province",
        f"{count:,} Voronoi cells tiling a 6°×6° square, in memory",
        "`GridIndex(ids, polygons, priority)` over polygons in memory",
    )
    _say(f"province: build time and memory in a fresh process ({count:,} cells)")
    data.probe = probe_in_child("province", options)
    _say(f"province: generating {count:,} cells")
    ids, polygons, priority = _province_inputs(count, options.seed)
    _say(f"province: building the index × {options.repeat}")
    index: Any = None
    for _ in range(options.repeat):
        index = None
        index = time_once(lambda: GridIndex(ids, polygons, priority), data.ours_build)[1]
    data.grids = len(index)
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
    # bare tree answers with the same positions, and nothing the index does to its own geometry
    # objects can leak into the reference.
    polygons = shapely.from_wkb(shapely.to_wkb(np.asarray(index.geometries, dtype=object)))
    tree: Any = None
    for _ in range(repeat):
        tree = None
        tree = time_once(lambda: shapely.STRtree(polygons), data.bare_build)[1]

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
        singles.append(
            ("one point at a time: `locate()` (+ version stamp) vs `query(Point)`", public_locate)
        )
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


def _render(
    results: Sequence[DataSet],
    options: argparse.Namespace,
    context: dict[str, str],
    host: dict[str, str],
) -> str:
    r = options.repeat
    throughput = []
    shortfalls = []
    for data in results:
        for mode in data.modes:
            ok = mode.ratio >= TARGET
            if not ok:
                shortfalls.append(f"{data.name} / {mode.name}")
            throughput.append(
                [
                    data.name,
                    mode.name,
                    f"{mode.points:,}",
                    rate(mode.points, mode.bare.best),
                    rate(mode.points, mode.ours.best),
                    f"**{mode.ratio:.2f}**",
                    f"{mode.best_ratio:.2f}",
                    f"{mode.cpu_ratio:.2f}",
                    "yes" if ok else "**no**",
                ]
            )
    header = [
        "data set",
        "mode",
        "points",
        "bare shapely (points/s)",
        "ours (points/s)",
        "ours ÷ bare",
        "(best runs)",
        "(CPU time)",
        f"≥ {TARGET}",
    ]

    def probe(key: str) -> list[str]:
        return [mib(d.probe[key]) for d in results]

    rows: list[list[str]] = [
        ["grids", *(f"{d.grids:,}" for d in results)],
        ["ours: what the build covers", *(d.build_label for d in results)],
        ["ours: build time in a fresh process", *(_ms(d.probe["build_seconds"]) for d in results)],
        [
            f"ours: build time in the benchmark process, best of {r}",
            *(_ms(d.ours_build.best) for d in results),
        ],
        ["ours: memory, RSS growth over the build", *probe("ours_rss")],
        [
            "ours: Python heap (tracemalloc) kept / peak during the build",
            *(f"{mib(d.probe['traced_kept'])} / {mib(d.probe['traced_peak'])}" for d in results),
        ],
        [
            f"bare: `STRtree(polygons)` build, best of {r}",
            *(_ms(d.bare_build.best) for d in results),
        ],
        ["bare: memory, RSS growth for the tree", *probe("bare_tree_rss")],
        ["(the polygons as shapely/GEOS objects, RSS)", *probe("geometry_rss")],
    ]

    checks = []
    for d in results:
        a = d.agreement
        assert a is not None
        checks.append(
            [
                d.name,
                f"{a.points:,}",
                f"{a.in_no_grid:,}",
                f"{a.in_several:,}",
                f"{a.vector_wrong:,} wrong, {a.vector_tied:,} tied",
                f"{a.single_mismatch:,} of {a.single_points:,} × {len(d.modes) - 1} path(s)",
            ]
        )
    check_header = [
        "data set",
        "points",
        "in no grid",
        "in ≥ 2 grids",
        "vectorised: ours ≠ bare",
        "one at a time: ≠ bare or ≠ vectorised",
    ]

    if shortfalls:
        verdict = (
            f"**Target missed** (ours below {TARGET} × bare) in: " + "; ".join(shortfalls) + "."
        )
    else:
        verdict = f"Target met: ours ≥ {TARGET} × bare shapely in every mode."
    sets = "\n".join(f"- {d.name}: {d.description}" for d in results)
    if context["caution"]:
        verdict += "\n\n" + context["caution"]
    return f"""## point → grid

{verdict}

Command (from the repository root; `make bench` runs the same with `DATABASE_URL=$(PG_URL)`):

```
{context["command"]}
```

- date: {context["date"]}
- benchmark database: `{context["database"]}` — {context["city"]}
{machine_markdown(host)}

Data sets:

{sets}

### Throughput

{markdown_table(header, throughput)}

### Index build and memory

{markdown_table(["", *(d.name for d in results)], rows)}

### Agreement (ours vs bare, every point of the run)

{markdown_table(check_header, checks)}

### Method

- Points: `numpy.random.default_rng({options.seed})`, {options.points:,} uniform over each set's
  bounding box; the one-at-a-time modes use the first {options.single_points:,} of them.
- Bare: `shapely.STRtree` over fresh copies (WKB round trip) of the polygons the index holds,
  in the index's order. Vectorised, bare = `tree.query(shapely.points(x, y),
  predicate="intersects")` from the same coordinate arrays ours receives; it returns every
  (point, polygon) hit, while ours also picks one grid per point. One at a time, bare =
  `tree.query(Point(x, y), predicate="intersects")` and ours = `index.locate(x, y)` or
  `locate(x, y)`, each in the same list comprehension.
- Timing: each side runs {r} times, bare and ours interleaved (alternating which goes first)
  with the garbage collector paused. "ours ÷ bare", the figure the {TARGET} target is judged
  on, is the median over the {r} back-to-back pairs of bare time ÷ ours time (wall clock): a
  pair shares the machine's load of the moment. Beside it, the ratio of each side's best run
  (what the points/s columns show) and the paired median of process CPU time; where they
  disagree, other processes on the machine moved the figures.
- Build and memory: measured in a fresh child process per data set (`python -m bench.locate
  --probe SET`), so the heap starts clean. Memory is the growth of the resident set size
  across the step, read after `gc.collect()` and glibc `malloc_trim(0)`. For the city set the
  index's figure includes the polygons (it owns them); for the province set the polygons
  existed before the build, so it is the index structures alone. tracemalloc sees only Python
  objects and numpy buffers, not GEOS geometries or the tree; it is there for the transient peak
  of reading the database.
- Why ours can beat bare: one at a time, `GridIndex.locate` builds its point with
  `shapely.points(array)` instead of `shapely.Point(x, y)` (same geometry, half the Python
  work) and picks the winner from the hits as a Python list; vectorised, it does more than bare
  (one grid per point) with one unbuffered `np.minimum.at` pass over the hits.
- Agreement: the bare hits, resolved by the index's rule (smallest position in priority order:
  dedicated grids first, then smaller area), against ours for every point; "tied" would be a
  different grid that still contains the point (a shared edge), "wrong" one that does not.
"""


def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    # Read now: the load average at the start says how busy the machine was during the run.
    host = machine()
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    caution = ""
    if load > 0.75 * cpus:
        caution = (
            f"Caution: the machine was busy (load average {load:.1f} on {cpus} CPUs at the start), "
            "so the absolute points per second are low and move from run to run; the ratios, "
            "measured side by side and interleaved, are the figures to read."
        )
    results = []
    if "city" in options.sets:
        data, index, public = city_set(options)
        results.append(measure(data, index, public, options))
        del index
    if "province" in options.sets:
        data, index, _none = province_set(options)
        results.append(measure(data, index, None, options))
        del index
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    context = {**context, "date": when, "caution": caution}
    return _render(results, options, context, host)


def _probe_main() -> int:
    """Entry point of the child process started by `probe_in_child`."""
    parser = argparse.ArgumentParser(prog="python -m bench.locate")
    parser.add_argument("--probe", choices=SETS, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--province-grids", type=int, default=200_000)
    args = parser.parse_args()
    from .database import setup_django

    # civicgrid.geo.locate imports models, so even the in-memory set needs Django set up.
    setup_django(os.environ["DATABASE_URL"], migrate=False)
    print(PROBE_MARK + json.dumps(probe(args.probe, args.seed, args.province_grids)))
    return 0


if __name__ == "__main__":
    sys.exit(_probe_main())
