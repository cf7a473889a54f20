"""Registry: importing residents from CSV against PostgreSQL's COPY of the same rows, the
importer's memory at two file sizes, and name search over the imported residents.

- Data: `--registry-rows` synthetic residents as one CSV file (valid GB 11643 ID numbers, valid
  mobile numbers, Chinese names of one to three characters, addresses and households in the
  grids of the city preset), and its first `--registry-small` rows as a second file.
- Bare: `COPY … FROM STDIN (FORMAT csv, HEADER)` of the file into a plain table with one text
  column per CSV column (no index), `--repeat` times.
- Ours: `civicgrid.registry.importing.do_import_records("resident", path)` — the
  `import-registry` command's code path — in a fresh process, on an empty registry: every row
  validated (registry.cleaning), numbers encrypted and blind-indexed, buildings, houses and
  households found or created, search terms, history rows and change-feed entries written,
  all in one transaction. Peak memory is the resident set size high-water mark of that
  process and of its worker processes (`getrusage`), at both sizes.
- Search: `registry.selectors.find(Resident.objects.all(), q)` over the imported residents,
  its first page (30 rows) fetched, for a mix of queries drawn from the imported names:
  two- and three-character names, full pinyin, initials.

The measurements run in the database `<benchmark database>_registry`, a clone of the benchmark
database (city preset) made afresh for each run; `--registry-keep` keeps it afterwards.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .common import CpuSnapshot, cpu_split, machine, machine_markdown, markdown_table, mib, rate
from .sweep import _clone, _drop, database_size

TARGET_RATIO = 0.4
TARGET_SEARCH_MS = 50.0
PAGE = 30
RESULT_MARK = "bench-registry "
COLUMNS = [
    "grid",
    "name",
    "id_number",
    "sex",
    "birth_date",
    "residence_type",
    "phone",
    "road",
    "number",
    "building_no",
    "unit_no",
    "room",
    "household_no",
    "relation",
]
COPY_TABLE = "bench_registry_copy"
MOBILE = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152"]
MOBILE += ["153", "155", "156", "157", "158", "159", "180", "181", "182", "186", "187", "188"]
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建国红梅立新文斌宇浩凯健俊"
    "帆帅旭宁琳晨欣怡佳雪婷瑶萱颖倩晶莉丹阳海波晓峰志春云飞成龙亮林瑞祥嘉博思雨涵子轩梓"
)
ROADS = ("黄河", "渤海", "长江", "新立", "东城", "西城", "南海", "北海", "中心", "滨河", "金海")
FIRST_BIRTH = dt.date(1940, 1, 1)
RESIDENCE = ("户籍", "户籍", "户籍", "常住", "流动")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("registry (resident import and name search)")
    group.add_argument(
        "--registry-rows",
        type=int,
        default=1_000_000,
        help="residents in the generated CSV file (default 1,000,000)",
    )
    group.add_argument(
        "--registry-small",
        type=int,
        default=100_000,
        help="residents of the smaller file, for comparing peak memory (default 100,000)",
    )
    group.add_argument(
        "--registry-workers",
        type=int,
        default=None,
        help="cleaning worker processes of the import (default: one per CPU)",
    )
    group.add_argument(
        "--registry-queries",
        type=int,
        default=100,
        help="search queries of each kind (default 100)",
    )
    group.add_argument(
        "--registry-keep",
        action="store_true",
        help="keep the registry database afterwards (by default it is dropped)",
    )


def validate(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if options.registry_rows < 100 or not 10 <= options.registry_small <= options.registry_rows:
        parser.error("--registry-rows must be at least 100, --registry-small 10 to that")
    if options.registry_queries < 1:
        parser.error("--registry-queries must be positive")


def _say(message: str) -> None:
    print(f"bench: registry: {message}", file=sys.stderr, flush=True)


def registry_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise RuntimeError("the registry benchmark runs on PostgreSQL only")
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_registry"))


# --- the parent -----------------------------------------------------------------------------
def _child(step: str, arguments: dict[str, Any], url: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.registry", "--child", step, json.dumps(arguments)]
    done = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the {step} step failed (exit {done.returncode})")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(RESULT_MARK))
    return dict(json.loads(line[len(RESULT_MARK) :]))


RESET_SQL = """
TRUNCATE registry_caretag, registry_resident, registry_household, registry_house,
  registry_place, registry_organisation, registry_building, registry_searchterm,
  exchange_feedentry RESTART IDENTITY CASCADE;
DELETE FROM core_objectchange WHERE content_type_id IN
  (SELECT id FROM django_content_type WHERE app_label = 'registry');
UPDATE exchange_feedcounter SET last = 0;
"""


def _reset(url: str) -> None:
    """An empty registry (the clone may hold the city preset's demo records)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(RESET_SQL)
        conn.execute("VACUUM ANALYZE")


def _copy_bare(url: str, path: str) -> tuple[float, float, int]:
    """(wall seconds, PostgreSQL CPU seconds, rows) of one COPY of the file into a fresh plain
    table."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {COPY_TABLE}")
        listed = ", ".join(f"{c} text" for c in COLUMNS)
        conn.execute(f"CREATE TABLE {COPY_TABLE} ({listed})")
        conn.execute("CHECKPOINT")
        before = CpuSnapshot.take()
        start = time.perf_counter()
        statement = f"COPY {COPY_TABLE} FROM STDIN (FORMAT csv, HEADER true)"
        with (
            conn.transaction(),
            conn.cursor() as cursor,
            open(path, "rb") as source,
            cursor.copy(statement) as copy,
        ):
            while block := source.read(1 << 20):
                copy.write(block)
        wall = time.perf_counter() - start
        used = cpu_split(before, CpuSnapshot.take(), {"postgres": _is_postgres})
        rows = int(conn.execute(f"SELECT count(*) FROM {COPY_TABLE}").fetchone()[0])
        conn.execute(f"DROP TABLE {COPY_TABLE}")
    return wall, used["postgres"], rows


def _is_postgres(_pid: int, name: str) -> bool:
    return name.startswith("postgres")


def _import(url: str, path: str, workers: int | None) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
    before = CpuSnapshot.take()
    result = _child("import", {"path": path, "workers": workers}, url)
    used = cpu_split(before, CpuSnapshot.take(), {"postgres": _is_postgres})
    result["postgres_cpu"] = used["postgres"]
    result["machine_busy"] = used["machine busy"]
    return result


def _settings(url: str) -> str:
    """The server settings that bound a bulk load (cache, checkpoints, commit)."""
    import psycopg

    names = ("shared_buffers", "max_wal_size", "checkpoint_timeout", "synchronous_commit")
    with psycopg.connect(url) as conn:
        values = [str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in names]
    return ", ".join(f"{n} = {v}" for n, v in zip(names, values, strict=True))


def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    host = machine()
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    bench = os.environ["DATABASE_URL"]
    target = registry_url(bench)
    _say(f"cloning the benchmark database into {urlsplit(target).path[1:]}")
    _clone(bench, target)
    _reset(target)
    workers = options.registry_workers
    with tempfile.TemporaryDirectory(prefix="civicgrid-bench-registry-") as folder:
        _say(f"generating {options.registry_rows:,} residents")
        data = _child(
            "generate",
            {
                "rows": options.registry_rows,
                "small": options.registry_small,
                "seed": options.seed,
                "folder": folder,
            },
            target,
        )
        copies = []
        for i in range(options.repeat):
            _say(f"COPY of the same rows, {i + 1} of {options.repeat}")
            copies.append(_copy_bare(target, data["full"]))
        _say(f"import of {options.registry_small:,} rows (memory at the small size)")
        small = _import(target, data["small"], workers)
        _reset(target)
        _reset(target)
        _say(f"profile of an import of {min(PROFILE_ROWS, options.registry_small):,} rows")
        profiled = _child("profile", {"path": _head(data["small"], PROFILE_ROWS, folder)}, target)
        _reset(target)
        _say(f"import of {options.registry_rows:,} rows")
        full = _import(target, data["full"], workers)
        import psycopg

        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        _say("name search")
        search = _child(
            "search", {"queries": options.registry_queries, "seed": options.seed}, target
        )
        size = database_size(target)
        host["PostgreSQL settings"] = _settings(target)
    if options.registry_keep:
        kept = "kept (`--registry-keep`)"
    else:
        _drop(target)
        kept = "dropped at the end"
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    caution = ""
    if load > 0.5 * cpus:
        caution = (
            f"Caution: the machine was busy at the start (load average {load:.1f} on {cpus} "
            "CPUs); the CPU seconds beside the wall-clock figures are less disturbed."
        )
    context = {
        **context,
        "date": when,
        "caution": caution,
        "registry_db": f"`{urlsplit(target).path[1:]}` (clone of `{urlsplit(bench).path[1:]}`), "
        f"{size / 2**30:.2f} GiB after the run, {kept}",
    }
    full["profile"] = profiled
    return _render(data, copies, small, full, search, options, context, host)


def _head(path: str, rows: int, folder: str) -> str:
    """The first `rows` rows of a CSV file, as another file."""
    target = Path(folder) / f"head-{rows}.csv"
    with open(path, encoding="utf-8") as source, open(target, "w", encoding="utf-8") as out:
        for i, line in enumerate(source):
            if i > rows:
                break
            out.write(line)
    return str(target)


def _s(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds >= 1 else f"{seconds * 1000:,.0f} ms"


def _render(
    data: dict[str, Any],
    copies: list[tuple[float, float, int]],
    small: dict[str, Any],
    full: dict[str, Any],
    search: dict[str, Any],
    options: argparse.Namespace,
    context: dict[str, str],
    host: dict[str, str],
) -> str:
    rows = full["rows"]
    copy_wall = statistics.median(c[0] for c in copies)
    copy_rate = rows / copy_wall
    ours_rate = rows / full["wall"]
    ratio = ours_rate / copy_rate
    growth = full["peak_rss"] - small["peak_rss"]
    ok_rows = (
        full["created"] == rows
        and small["created"] == small["rows"]
        and all(c[2] == rows for c in copies)
    )
    p95 = search["overall"]["p95"]
    verdicts = []
    if ratio >= TARGET_RATIO:
        verdicts.append(f"Import target met (≥ {TARGET_RATIO} of COPY): **{ratio:.3f}**.")
    else:
        verdicts.append(
            f"**Import target missed** (≥ {TARGET_RATIO} of COPY): ours imports "
            f"**{ours_rate:,.0f} rows/s**, COPY loads the same rows at {copy_rate:,.0f} rows/s: "
            f"**{ratio:.3f}** of COPY ({1 / ratio:.0f}× slower). See *Where the time goes*."
        )
    verdicts.append(
        f"Peak memory {mib(small['peak_rss'])} at {small['rows']:,} rows, "
        f"{mib(full['peak_rss'])} at {rows:,} rows (importing process; workers "
        f"{mib(small['peak_rss_workers'])} and {mib(full['peak_rss_workers'])}): "
        + ("flat." if growth < 0.25 * small["peak_rss"] else f"it grows by {mib(growth)}.")
    )
    if p95 < TARGET_SEARCH_MS:
        verdicts.append(f"Search target met (p95 under {TARGET_SEARCH_MS:g} ms): **{p95:.1f} ms**.")
    else:
        verdicts.append(
            f"**Search target missed** (p95 under {TARGET_SEARCH_MS:g} ms): **{p95:.1f} ms**."
        )
    if not ok_rows:
        verdicts.append("**The row counts did not match what was generated.**")
    verdict = " ".join(verdicts)
    if context["caution"]:
        verdict += "\n\n" + context["caution"]
    quiet = f"; {context['quiet']}" if context.get("quiet") else ""
    import_rows = []
    for label, r in ((f"{small['rows']:,}", small), (f"{rows:,}", full)):
        import_rows.append(
            [
                label,
                f"**{_s(r['wall'])}**",
                rate(r["rows"], r["wall"]),
                _s(r["check_wall"]),
                _s(r["write_wall"]),
                f"{_s(r['cpu_self'])} / {_s(r['cpu_workers'])} / {_s(r['postgres_cpu'])}",
                f"{mib(r['peak_rss'])} / {mib(r['peak_rss_workers'])}",
                mib(r["spool_bytes"]),
                f"{r['created']:,}",
            ]
        )
    copy_rows = [[str(i + 1), _s(w), rate(n, w), _s(cpu)] for i, (w, cpu, n) in enumerate(copies)]
    written = full["written"]
    what_rows = [[k, f"{v:,}"] for k, v in written.items()]
    written_total = sum(written.values())
    per_resident = written_total / max(1, rows)
    search_rows = [
        [
            kind,
            str(v["n"]),
            f"{v['p50']:.1f} ms",
            f"**{v['p95']:.1f} ms**",
            f"{v['max']:.1f} ms",
            f"{v['hits']:.0f}",
            ", ".join(v["examples"]),
        ]
        for kind, v in search["kinds"].items()
    ]
    overall = search["overall"]
    full_size, small_size = mib(data["full_bytes"]), mib(data["small_bytes"])
    import_table = markdown_table(
        [
            "rows",
            "ours: wall",
            "rows/s",
            "checking pass",
            "writing pass",
            "CPU: importer / its workers / PostgreSQL",
            "peak RSS: importer / workers",
            "spool file",
            "residents created",
        ],
        import_rows,
    )
    search_table = markdown_table(
        ["query", "queries", "p50", "p95", "max", "mean rows matched", "examples"], search_rows
    )
    profiled = full.get("profile", {})
    phase_rows = [
        [p["what"], _s(p["seconds"]), f"{p['share']:.0%}"] for p in profiled.get("steps", [])
    ]
    return f"""## registry: import of {rows:,} residents, name search

{verdict}

Command (from the repository root; `make bench BENCH_ARGS="--only registry"` runs the same with
`DATABASE_URL=$(PG_URL)`):

```
{context["command"]}
```

- date: {context["date"]}{quiet}
- benchmark database: `{context["database"]}` — {context["city"]}
- registry database: {context["registry_db"]}
- files: {rows:,} rows, {full_size}; {small["rows"]:,} rows, {small_size}
  (generated in {_s(data["seconds"])}, {data["grids"]:,} grids)
- import worker processes: {full["workers"]}
{machine_markdown(host)}

### Import against COPY

{import_table}

COPY of the {rows:,} rows into a plain table (`{COPY_TABLE}`, {len(COLUMNS)} text columns, no
index), same file, same run:

{markdown_table(["run", "wall", "rows/s", "PostgreSQL CPU"], copy_rows)}

Ratio (ours ÷ COPY, rows/s, median COPY run): **{ratio:.3f}**.

What the import of {rows:,} rows wrote:

{markdown_table(["rows written", "count"], what_rows)}

Reading the figures: COPY stores each CSV line as one unindexed row of text. The import, per
resident, checks the ID number, the phone number and the codes, encrypts two numbers with
SM4-GCM and keys two HMAC-SM3 blind indexes, computes pinyin search terms, looks up (and
creates) the building, house and household, and writes {per_resident:.1f} rows into 7 indexed
tables ({written_total:,} in all: the records, search terms, history, change feed) in one
transaction. In the writing pass PostgreSQL itself used {_s(full["postgres_cpu"])} of CPU for
{rows:,} rows (COPY of the plain rows: {_s(statistics.median(c[1] for c in copies))}); the
server's settings above bound it (a small buffer cache and frequent checkpoints make index
maintenance on a multi-gigabyte load read and write much more).

### Where the time goes

One more import, of the first {profiled.get("rows", 0):,} rows, in one process (no workers),
under `cProfile`: cumulative time of the main steps ("…" are parts of the step above;
profiling slows Python down, so the shares matter, not the seconds):

{markdown_table(["step", "time (profiled)", "share"], phase_rows)}

### Name search over {search["residents"]:,} residents

`selectors.find(Resident.objects.all(), q)`, first page of {PAGE} rows in list order, each query
once after one untimed pass over all of them (warm cache):

{search_table}

Overall p95: **{p95:.1f} ms** (p50 {overall["p50"]:.1f} ms, max {overall["max"]:.1f} ms).

`EXPLAIN (ANALYZE, BUFFERS)` of the first query of the slowest kind ({search["plan"]["kind"]},
“{search["plan"]["query"]}”):

```
{search["plan"]["text"]}
```

### Method

- Generated rows (`random.Random({options.seed})`): households of one to five people in
  buildings of the city's {data["grids"]:,} grids (road, door number, building, entrance, room,
  household number, relation to the head); ID numbers with regions of Shandong, birth dates
  1940–2015, sequence and GB 11643 check digit, unique; 90% with a mobile number; names of one
  surname and one or two given-name characters.
- The ratio compares wall-clock rows per second of the {rows:,}-row import with the median of
  {len(copies)} COPY runs. Both read the same file from the page cache; CPU seconds are read from
  /proc (the importer's own, its workers', and every `postgres` process's).
- Before each import the registry tables, their history rows and the change feed are emptied
  (`TRUNCATE`, `VACUUM ANALYZE`), and a `CHECKPOINT` is taken.
"""


# --- the children -----------------------------------------------------------------------------
def _setup() -> None:
    from .database import setup_django

    setup_django(os.environ["DATABASE_URL"], migrate=False)


def generate(arguments: dict[str, Any]) -> dict[str, Any]:
    _setup()
    from civicgrid.geo.choices import Level
    from civicgrid.geo.models import Division

    grids = list(
        Division.objects.filter(level=Level.GRID, is_active=True)
        .order_by("code")
        .values_list("code", flat=True)
    )
    return write_files(grids, **arguments)


def write_files(
    grids: list[str], *, rows: int, small: int, seed: int, folder: str
) -> dict[str, Any]:
    """The residents' CSV file and its first `small` rows as another file."""
    from stdnum.cn import ric

    from civicgrid.demo.names import SURNAMES

    start = time.perf_counter()
    rng = random.Random(seed)
    regions = ["370102", "370202", "370303", "370402", "370502", "370602", "370702", "371602"]
    regions += ["371603", "371621", "371622", "371623", "371625", "371681", "370811", "370902"]
    total, cut = rows, small
    full_path = Path(folder) / "residents.csv"
    small_path = Path(folder) / "residents-small.csv"
    serial = 0
    written = 0
    household = 0
    with (
        open(full_path, "w", newline="", encoding="utf-8") as out,
        open(small_path, "w", newline="", encoding="utf-8") as out_small,
    ):
        writers = [csv.writer(out), csv.writer(out_small)]
        for w in writers:
            w.writerow(COLUMNS)
        while written < total:
            household += 1
            grid_index = rng.randrange(len(grids))
            grid = grids[grid_index]
            # Each grid has a few residential buildings on two roads (a building is shared by
            # about twenty households, as in a city's estates).
            road = ROADS[grid_index % len(ROADS)] + "一二"[rng.randrange(2)] + "路"
            number = str(10 + grid_index % 90 + 2 * rng.randrange(3))
            building = str(rng.randrange(1, 4))
            unit = str(rng.randrange(1, 4))
            room = f"{rng.randrange(1, 7)}{rng.randrange(1, 3):02d}"
            surname = rng.choice(SURNAMES)
            size = min(rng.choice((1, 2, 2, 3, 3, 3, 4, 5)), total - written)
            for member in range(size):
                serial += 1
                # Unique by construction: the serial picks region, day and sequence.
                region = regions[serial % len(regions)]
                day = (serial // len(regions)) % 27_000
                seq = (serial // (len(regions) * 27_000)) % 1000
                born = FIRST_BIRTH + dt.timedelta(days=day)
                sex = "M" if rng.random() < 0.5 else "F"
                seq = seq * 2 % 1000 + (1 if sex == "M" else 0)  # odd for men (GB 11643)
                body = f"{region}{born:%Y%m%d}{seq:03d}"
                number_id = body + ric.calc_check_digit(body + "0")
                given = "".join(rng.choice(GIVEN) for _ in range(1 if rng.random() < 0.3 else 2))
                name = (
                    surname if member < 2 or rng.random() < 0.8 else rng.choice(SURNAMES)
                ) + given
                phone = (
                    rng.choice(MOBILE) + f"{rng.randrange(10**8):08d}" if rng.random() < 0.9 else ""
                )
                relation = "户主" if member == 0 else ("配偶" if member == 1 else "子女")
                row = [
                    grid,
                    name,
                    number_id,
                    "",
                    "",
                    rng.choice(RESIDENCE),
                    phone,
                    road,
                    number,
                    building,
                    unit,
                    room,
                    f"{grid[6:]}{household:07d}",
                    relation,
                ]
                writers[0].writerow(row)
                if written < cut:
                    writers[1].writerow(row)
                written += 1
    return {
        "full": str(full_path),
        "small": str(small_path),
        "full_bytes": full_path.stat().st_size,
        "small_bytes": small_path.stat().st_size,
        "grids": len(grids),
        "seconds": time.perf_counter() - start,
    }


def _written() -> dict[str, int]:
    from django.db import connection

    tables = {
        "residents": "registry_resident",
        "buildings": "registry_building",
        "houses": "registry_house",
        "households": "registry_household",
        "search terms": "registry_searchterm",
        "history rows (registry)": None,
        "change-feed entries": "exchange_feedentry",
    }
    out = {}
    with connection.cursor() as cursor:
        for label, table in tables.items():
            if table is None:
                cursor.execute(
                    "SELECT count(*) FROM core_objectchange WHERE content_type_id IN "
                    "(SELECT id FROM django_content_type WHERE app_label = 'registry')"
                )
            else:
                cursor.execute(f"SELECT count(*) FROM {table}")
            out[label] = int(cursor.fetchone()[0])
    return out


def do_import(arguments: dict[str, Any]) -> dict[str, Any]:
    _setup()
    return measure_import(arguments["path"], arguments["workers"])


def measure_import(path: str, workers: int | None) -> dict[str, Any]:
    """One import of the file, timed, with this process's and its workers' CPU and memory."""
    from civicgrid.core.importing import TerminalProgress
    from civicgrid.registry import importing

    bar = TerminalProgress("bench: registry: import", sys.stderr)
    marks: dict[str, float] = {}
    spool: list[int] = []
    original_write = importing._Import._write

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        marks["write"] = time.perf_counter()
        assert self.spool is not None
        spool.append(self.spool.seek(0, os.SEEK_END))
        return original_write(self, *args, **kwargs)

    importing._Import._write = write  # type: ignore[method-assign]
    try:
        report, wall, cpu, start, end = _timed_import(importing, path, workers, bar)
    finally:
        importing._Import._write = original_write  # type: ignore[method-assign]
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    if not report.written:
        raise RuntimeError(f"the import wrote nothing: {report.fatal or report.errors[:5]}")
    rows = report.created + report.updated + report.unchanged
    return {
        "rows": rows,
        "created": report.created,
        "wall": wall,
        "check_wall": marks.get("write", end) - start,
        "write_wall": end - marks.get("write", end),
        "cpu_self": own.ru_utime + own.ru_stime - cpu.ru_utime - cpu.ru_stime,
        "cpu_workers": children.ru_utime + children.ru_stime,
        "peak_rss": own.ru_maxrss * 1024,
        "peak_rss_workers": children.ru_maxrss * 1024,
        "spool_bytes": spool[0] if spool else 0,
        "workers": "none" if workers == 0 else (workers or f"{os.cpu_count()} (one per CPU)"),
        "written": _written(),
    }


def _timed_import(importing: Any, path: str, workers: int | None, bar: Any) -> tuple[Any, ...]:
    from civicgrid.core.context import work_context

    with work_context():
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        report = importing.do_import_records(
            "resident", path, actor=None, workers=workers, progress=bar
        )
        end = time.perf_counter()
    return report, end - start, cpu, start, end


def search(arguments: dict[str, Any]) -> dict[str, Any]:
    _setup()
    return measure_search(int(arguments["queries"]), int(arguments["seed"]))


def measure_search(n: int, seed: int) -> dict[str, Any]:
    """Name search over the stored residents, with queries drawn from their names."""
    from pypinyin import Style, lazy_pinyin

    from civicgrid.registry import selectors
    from civicgrid.registry.models import Resident

    rng = random.Random(seed)
    count = Resident.objects.count()
    ids = Resident.objects.order_by("id").values_list("id", flat=True)
    low, top = (ids.first() or 0), (ids.last() or 0)
    names: list[str] = []
    for _attempt in range(20):  # ids are dense after an import into an empty table
        if len(names) >= 4000 or top < low:
            break
        pick = rng.sample(range(low, top + 1), min(500, top - low + 1))
        names += list(Resident.objects.filter(pk__in=pick).values_list("name", flat=True))
    two = [x for x in names if len(x) == 2]
    three = [x for x in names if len(x) == 3]
    queries: dict[str, list[str]] = {
        "2-character name": rng.sample(two, min(n, len(two))),
        "3-character name": rng.sample(three, min(n, len(three))),
        "full pinyin": ["".join(lazy_pinyin(q)) for q in rng.sample(three, min(n, len(three)))],
        "initials": [
            "".join(lazy_pinyin(q, style=Style.FIRST_LETTER))
            for q in rng.sample(three, min(n, len(three)))
        ],
    }
    base = Resident.objects.all()

    def once(q: str) -> tuple[float, int]:
        start = time.perf_counter()
        page = list(selectors.find(base, q)[:PAGE])
        return (time.perf_counter() - start) * 1000, len(page)

    for qs in queries.values():  # warm up
        for q in qs:
            once(q)
    kinds = {}
    everything: list[float] = []
    for kind, qs in queries.items():
        times, hits = [], []
        for q in qs:
            ms, found = once(q)
            times.append(ms)
            hits.append(found)
        everything += times
        kinds[kind] = {
            "n": len(times),
            "p50": statistics.median(times),
            "p95": _p95(times),
            "max": max(times),
            "hits": statistics.mean(hits),
            "examples": qs[:3],
        }
    slowest_kind = max(kinds, key=lambda k: kinds[k]["p95"])
    example = queries[slowest_kind][0]
    plan = selectors.find(base, example)[:PAGE].explain(analyze=True, buffers=True)
    return {
        "residents": count,
        "plan": {"query": example, "kind": slowest_kind, "text": plan},
        "kinds": kinds,
        "overall": {
            "p50": statistics.median(everything),
            "p95": _p95(everything),
            "max": max(everything),
        },
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


PROFILE_ROWS = 20_000


def profile(arguments: dict[str, Any]) -> dict[str, Any]:
    """One import in one process under cProfile: cumulative seconds of its main steps."""
    import cProfile
    import pstats

    _setup()
    from civicgrid.core.context import work_context
    from civicgrid.registry import importing

    profiler = cProfile.Profile()
    with work_context():
        profiler.enable()
        report = importing.do_import_records("resident", arguments["path"], actor=None, workers=0)
        profiler.disable()
    if not report.written:
        raise RuntimeError(f"the profiled import wrote nothing: {report.fatal}")
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    cumulative: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.items():
        key = f"{Path(filename).stem}.{function}"
        cumulative[key] = max(cumulative.get(key, 0.0), ct)
    total = cumulative.get("importing.do_import_records", 1.0)
    steps = [
        ("checking pass (all)", "importing._check"),
        ("… reading and parsing the file", "importing._chunks"),
        ("… batch lookups: grids, addresses (prepare)", "plans.prepare"),
        ("… cleaning (registry.cleaning, all)", "importing._clean_items"),
        ("… … ID number checks (parse_identity)", "validators.parse_identity"),
        ("… … phone numbers (phonenumbers)", "validators.normalise_phone"),
        ("… … SM4-GCM encryption", "crypto.encrypt"),
        ("… … HMAC-SM3 blind indexes", "crypto.blind_index"),
        ("… … search terms (pinyin)", "search.terms_for"),
        ("… stored records compared (classify)", "plans.classify"),
        ("writing pass (all)", "importing._write"),
        ("… buildings, houses, households found or created", "plans.resolve"),
        ("… residents inserted (COPY)", "bulk.insert"),
        ("… history rows (COPY)", "bulk._history"),
        ("… change-feed entries (COPY)", "bulk._feed"),
        ("… search terms (COPY)", "bulk.add_terms"),
    ]
    return {
        "rows": report.created,
        "total": total,
        "steps": [
            {
                "what": what,
                "seconds": cumulative.get(key, 0.0),
                "share": cumulative.get(key, 0.0) / total,
            }
            for what, key in steps
        ],
    }


STEPS = {
    "profile": profile,
    "generate": generate,
    "import": do_import,
    "search": search,
}


def _child_main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "--child" or argv[1] not in STEPS:
        print("usage: python -m bench.registry --child STEP JSON (started by python -m bench)")
        return 2
    result = STEPS[argv[1]](json.loads(argv[2]))
    print(RESULT_MARK + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
