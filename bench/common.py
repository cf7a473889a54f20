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
