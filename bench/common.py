"""Shared by every benchmark: timing, memory, machine description and the RESULTS.md writer."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")
RESULTS_HEADER = """# civicgrid benchmarks

Performance claims live here, each measured against the engine underneath in the same run
(ARCHITECTURE.md, rule 11). `python -m bench` (or `make bench`) rewrites only the sections of the
benchmarks it ran; every section names the command, the date and the machine that produced it.
"""


@dataclass
class Timing:
    """Repeated runs of one piece of work: wall-clock seconds, and this process's CPU seconds,
    which other processes on a busy machine disturb far less than the wall clock."""

    runs: list[float] = field(default_factory=list)
    cpu_runs: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best_cpu(self) -> float:
        return min(self.cpu_runs)


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Keep the cyclic collector out of timed sections, as timeit does."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def time_once(fn: Callable[[], Any], timing: Timing | None = None) -> tuple[float, Any]:
    """Run `fn` once; return the wall-clock seconds and its result, recording both clocks."""
    with quiet_gc():
        cpu = time.process_time()
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
    if timing is not None:
        timing.runs.append(elapsed)
        timing.cpu_runs.append(cpu)
    return elapsed, result


def time_pair(
    bare: Callable[[], Any], ours: Callable[[], Any], repeat: int
) -> tuple[Timing, Timing, Any, Any]:
    """Time both sides `repeat` times, interleaved and alternating who goes first, so that
    load from other processes on the machine falls on both sides alike."""
    bare_t, ours_t = Timing(), Timing()
    results: dict[str, Any] = {}
    for run in range(repeat):
        order = [("bare", bare, bare_t), ("ours", ours, ours_t)]
        if run % 2:
            order.reverse()
        for side, fn, timing in order:
            results.pop(side, None)  # free the previous run's answer before timing again
            results[side] = time_once(fn, timing)[1]
    return bare_t, ours_t, results["bare"], results["ours"]


_libc: Any = None
with contextlib.suppress(OSError):
    _libc = ctypes.CDLL("libc.so.6")


def rss_bytes() -> int:
    """Resident set size after a full collection and glibc's malloc_trim, so that memory freed
    by earlier steps is handed back and the difference between two readings is what stayed."""
    gc.collect()
    if _libc is not None:
        _libc.malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


def _cpuinfo() -> tuple[str, int]:
    model, physical = platform.processor() or "unknown", set()
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as info:
        entry: dict[str, str] = {}
        for line in [*info, ""]:
            if not line.strip():
                if "model name" in entry:
                    model = entry["model name"]
                physical.add((entry.get("physical id"), entry.get("core id")))
                entry = {}
                continue
            key, _, value = line.partition(":")
            entry[key.strip()] = value.strip()
    return model, len(physical - {(None, None)})


def _mem_total() -> int:
    with contextlib.suppress(OSError), open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _code_version() -> str:
    """The commit measured, and whether the code outside bench/ had uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "log", "-1", "--format=%h %cd", "--date=format:%Y-%m-%d %H:%M"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (no git)"
    return f"commit {head}" + (" with uncommitted changes in src/" if dirty else "")


def machine() -> dict[str, str]:
    """What the figures depend on: hardware, load at the start, and engine versions."""
    import django
    import numpy
    import shapely
    from django.db import connection

    model, cores = _cpuinfo()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("show server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
    else:
        with connection.cursor() as cursor:
            cursor.execute("select sqlite_version()")
            database = f"SQLite {cursor.fetchone()[0]}"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {
        "code": _code_version(),
        "CPU": f"{model} — {os.cpu_count()} logical CPUs" + (f" ({cores} cores)" if cores else ""),
        "RAM": f"{_mem_total() / 2**30:.1f} GiB",
        "load average at start (1/5/15 min)": load,
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "shapely / GEOS / numpy": f"{shapely.__version__} / {shapely.geos_version_string} / "
        f"{numpy.__version__}",
        "Django": django.get_version(),
        "database": database,
    }


def machine_markdown(info: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in info.items())


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*row) for row in rows]
    return "\n".join(out)


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} begin -->", f"<!-- bench:{name} end -->"


def write_section(name: str, body: str, path: Path = RESULTS) -> None:
    """Replace this benchmark's section of RESULTS.md (or append it), keeping the others."""
    begin, end = _markers(name)
    block = f"{begin}\n{body.strip()}\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


# --- CPU accounting from /proc: who used the machine's cores during a measured window --------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_stat(pid: int) -> tuple[str, int, float] | None:
    """(command name, parent pid, CPU seconds) of a process, or None if gone. The CPU seconds
    include those of its children that ended and were waited for: PostgreSQL's postmaster thus
    accounts for backends that lived and died between two readings (a connection per request)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    name = text[text.find("(") + 1 : text.rfind(")")]
    fields = text[text.rfind(")") + 2 :].split()
    return name, int(fields[1]), sum(int(x) for x in fields[11:15]) / CLOCK_TICKS


def processes() -> dict[int, tuple[str, int, float]]:
    """Every process on the machine: pid → (name, parent pid, CPU seconds so far)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                found[int(entry)] = stat
    return found


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, summed over its CPUs."""
    with open("/proc/stat") as stat:
        values = [int(x) for x in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class CpuSnapshot:
    """A reading of the machine's CPU counters and of every process's, to subtract later."""

    wall: float
    busy: float
    total: float
    procs: dict[int, tuple[str, int, float]]

    @classmethod
    def take(cls) -> CpuSnapshot:
        busy, total = machine_cpu_seconds()
        return cls(time.perf_counter(), busy, total, processes())


def descendants(procs: dict[int, tuple[str, int, float]], root: int) -> set[int]:
    found, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, (_name, ppid, _cpu) in procs.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                frontier.append(pid)
    return found


def cpu_split(
    start: CpuSnapshot, end: CpuSnapshot, groups: dict[str, Callable[[int, str], bool]]
) -> dict[str, float]:
    """CPU seconds used between two snapshots, per named group of processes (a process counts
    in the first group whose test accepts its pid and name), plus "machine busy" and "other".
    A process that started after `start` counts from zero; one that ended before `end` is lost
    (the benchmarks keep their processes alive across the window)."""
    used: dict[str, float] = dict.fromkeys(groups, 0.0)
    for pid, (name, _ppid, cpu) in end.procs.items():
        before = start.procs.get(pid)
        delta = cpu - (before[2] if before and before[0] == name else 0.0)
        for group, test in groups.items():
            if test(pid, name):
                used[group] += delta
                break
    used["machine busy"] = end.busy - start.busy
    used["other"] = max(0.0, used["machine busy"] - sum(used[g] for g in groups))
    used["wall"] = end.wall - start.wall
    return used


def wait_for_quiet(max_seconds: float, threshold: float) -> str:
    """On a shared machine: wait (up to `max_seconds`) until the 1-minute load average falls
    below `threshold`; say how it went, for the report."""
    if max_seconds <= 0:
        return ""
    start = time.monotonic()
    while os.getloadavg()[0] >= threshold and time.monotonic() - start < max_seconds:
        time.sleep(5)
    waited = time.monotonic() - start
    load = os.getloadavg()[0]
    outcome = "fell below" if load < threshold else "was still above"
    return (
        f"waited {waited:,.0f} s (at most {max_seconds:,.0f}) for a quiet machine: the 1-minute "
        f"load average {outcome} {threshold:g} ({load:.2f})"
    )


# --- grid workers of the city preset, as simulated phones -----------------------------------------
def grid_workers(
    count: int, seed: int, token_name: str, points_each: int
) -> list[tuple[Any, Any, str, list[tuple[float, float]]]]:
    """Grid workers of the city preset chosen at random (seeded): (user, their grid, a fresh API
    token named `token_name`, `points_each` random (lng, lat) points inside the grid, clear of
    its edge so that each lies in this grid and no neighbour)."""
    import random

    import shapely
    from shapely.geometry import shape

    from civicgrid.accounts.actions import do_create_token
    from civicgrid.accounts.models import ApiToken, User
    from civicgrid.accounts.roles import Role
    from civicgrid.geo.models import Division

    # Tokens of earlier runs: they would only pile up in the benchmark database.
    ApiToken.objects.filter(name=token_name).delete()
    workers = list(
        User.objects.filter(
            is_active=True, username__startswith="gw", assignments__role=Role.GRID_WORKER
        )
        .order_by("username")
        .distinct()
    )
    if len(workers) < count:
        raise RuntimeError(f"only {len(workers)} grid-worker accounts in the database")
    rng = random.Random(seed)
    chosen = rng.sample(workers, count)
    grids = {
        d.code: d
        for d in Division.objects.filter(code__in=[u.username[2:] for u in chosen], level=6)
    }
    out = []
    for user in chosen:
        grid = grids[user.username[2:]]
        polygon = shape(grid.boundary)
        shapely.prepare(polygon)
        min_x, min_y, max_x, max_y = polygon.bounds
        points: list[tuple[float, float]] = []
        while len(points) < points_each:
            x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
            point = shapely.Point(x, y)
            if polygon.contains(point) and polygon.exterior.distance(point) > 1e-5:
                points.append((round(x, 6), round(y, 6)))
        _token, key = do_create_token(user, actor=None, name=token_name)
        out.append((user, grid, key, points))
    return out
