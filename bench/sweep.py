"""The SLA sweep over a million open cases, against the raw SQL UPDATEs alone.

The cases live in a database of their own, `<benchmark database>_sweep`, cloned from the
benchmark database (CREATE DATABASE … TEMPLATE) and filled once with PostgreSQL COPY: a million
open cases of the city preset — valid categories, grids, centres and departments, statuses along
the workflow, two timeline steps each — with deadlines set so that a chosen share turns yellow
and another turns red at a fixed moment `now`. It is kept between runs (a later run resets the
colours the previous one changed), so the benchmark database itself never carries the bulk and
stays as the intake benchmark wants it.

Each repetition, from the same state after VACUUM ANALYZE: `civicgrid.cases.sweep.sweep(now)`
twice (the first run changes the cases due, the second must change nothing), and the two UPDATE
statements that are the sweep's SQL core, run bare over psycopg in one transaction.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from .common import machine, machine_markdown, markdown_table, quiet_gc

TARGET_SECONDS = 10.0
RESULT_MARK = "bench-sweep "
META_TABLE = "bench_sweep_meta"
BODY_MARK = "bench-sweep"  # body_hash of every generated case: "bench-sweep:<colour>:<urges>"
# Shares of all generated cases: statuses without a running clock, and clocks stopped.
NO_CLOCK = {"reported": 0.04, "registered": 0.04, "handled": 0.04}
SUSPENDED = 0.03
# Statuses with a running clock (shares among them) and the stage each one's clock belongs to.
CLOCKED = {"dispatched": 0.25, "accepted": 0.25, "in_progress": 0.35, "checking": 0.15}
STAGE = {
    "dispatched": "accept",
    "accepted": "handle",
    "in_progress": "handle",
    "suspended": "handle",
    "checking": "check",
}
# Shares already yellow / already red before the sweep (left alone by it).
STAY_YELLOW = 0.04
STAY_RED = 0.03
# The step that brought a case to its status (its second timeline step).
ENTRY_STEP = {
    "registered": ("register", "reported"),
    "dispatched": ("dispatch", "registered"),
    "accepted": ("accept", "dispatched"),
    "in_progress": ("start", "accepted"),
    "suspended": ("suspend", "in_progress"),
    "handled": ("feedback", "in_progress"),
    "checking": ("start_check", "handled"),
}
WORKING = {"dispatched", "accepted", "in_progress", "suspended"}  # owned by a department
TEXTS = [
    ("垃圾堆积", "小区门口垃圾堆积，无人清运"),
    ("路灯不亮", "路灯夜间不亮，已持续三天"),
    ("占道经营", "学校门口流动摊贩占道经营"),
    ("消防通道堵塞", "楼道堆放杂物，堵塞消防通道"),
    ("井盖缺失", "人行道井盖缺失，存在安全隐患"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sweep (SLA sweep over open cases)")
    group.add_argument(
        "--sweep-cases",
        type=int,
        default=1_000_000,
        help="open cases in the sweep database (default 1,000,000)",
    )
    group.add_argument(
        "--sweep-yellow",
        type=float,
        default=0.05,
        help="share of the cases that turns yellow at the first sweep (default 0.05)",
    )
    group.add_argument(
        "--sweep-red",
        type=float,
        default=0.01,
        help="share of the cases that turns red (and is urged) at the first sweep (default 0.01)",
    )
    group.add_argument(
        "--sweep-rebuild",
        action="store_true",
        help="drop the sweep database and build it again from the benchmark database",
    )
    group.add_argument(
        "--sweep-drop",
        action="store_true",
        help="drop the sweep database at the end (by default it is kept for the next run)",
    )


def validate(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if options.sweep_cases < 1000:
        parser.error("--sweep-cases must be at least 1,000")
    if min(options.sweep_yellow, options.sweep_red) < 0 or (
        options.sweep_yellow + options.sweep_red > 0.7
    ):
        parser.error("--sweep-yellow and --sweep-red must be shares with a sum of at most 0.7")


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def sweep_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise RuntimeError("the sweep benchmark runs on PostgreSQL only")
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_sweep"))


def _spec(options: argparse.Namespace) -> dict[str, Any]:
    return {
        "cases": options.sweep_cases,
        "yellow": options.sweep_yellow,
        "red": options.sweep_red,
        "seed": options.seed,
        "format": 2,  # raise when the generated data or the meta table change shape
    }


# --- the parent: database housekeeping, the child process, the report -----------------------------
def _maintenance(url: str) -> Any:
    import psycopg

    return psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True)


def _existing_spec(url: str) -> dict[str, Any] | None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with _maintenance(url) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            return None
    with psycopg.connect(url) as conn:
        exists = conn.execute("select to_regclass(%s)", [META_TABLE]).fetchone()[0]
        if not exists:
            return None
        row = conn.execute(f"select spec from {META_TABLE}").fetchone()
        return dict(row[0]) if row else None


def _clone(source: str, target: str) -> None:
    """Drop `target` and create it as a copy of `source` (no session may use `source`)."""
    import psycopg
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    src, dst = urlsplit(source).path.lstrip("/"), urlsplit(target).path.lstrip("/")
    with _maintenance(target) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(dst)))
        try:
            conn.execute(
                sql.SQL("create database {} template {}").format(
                    sql.Identifier(dst), sql.Identifier(src)
                )
            )
        except psycopg.errors.ObjectInUse as exc:
            raise RuntimeError(
                f"cannot clone {src} while other sessions use it (a server still running?): {exc}"
            ) from exc


def _drop(url: str) -> None:
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with _maintenance(url) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def database_size(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return int(conn.execute("select pg_database_size(current_database())").fetchone()[0])


def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    host = machine()
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    bench = os.environ["DATABASE_URL"]
    target = sweep_url(bench)
    spec = _spec(options)
    existing = None if options.sweep_rebuild else _existing_spec(target)
    if existing != spec:
        why = "asked to rebuild" if options.sweep_rebuild else "missing or built differently"
        _say(f"sweep: {why}: cloning the benchmark database into {urlsplit(target).path[1:]}")
        _clone(bench, target)
        built = "built in this run"
    else:
        built = "kept from an earlier run (same size, shares and seed), colours reset"
    command = [
        sys.executable,
        "-m",
        "bench.sweep",
        "--child",
        json.dumps({**spec, "repeat": options.repeat}),
    ]
    env = {**os.environ, "DATABASE_URL": target}
    done = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the sweep measurement failed (exit {done.returncode})")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(RESULT_MARK))
    result = json.loads(line[len(RESULT_MARK) :])
    size = database_size(target)
    if options.sweep_drop:
        _drop(target)
        kept = "dropped at the end (`--sweep-drop`)"
    else:
        kept = "kept for the next run; `--sweep-drop` removes it, `--sweep-rebuild` rebuilds it"
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    caution = ""
    if load > 0.5 * cpus:
        caution = (
            f"Caution: the machine was busy at the start (load average {load:.1f} on {cpus} "
            "CPUs); the process CPU times beside the wall-clock figures are less disturbed."
        )
    database = context["database"]
    context = {
        **context,
        "date": when,
        "caution": caution,
        "sweep_db": f"`{urlsplit(target).path[1:]}` (clone of `{urlsplit(bench).path[1:]}`), "
        f"{size / 2**30:.2f} GiB, {built}; {kept}",
        "database": database,
    }
    return _render(result, options, context, host)


def _s(seconds: float) -> str:
    return f"{seconds:,.2f} s" if seconds >= 1 else f"{seconds * 1000:,.0f} ms"


def _render(
    result: dict[str, Any], options: argparse.Namespace, context: dict[str, str], host: dict
) -> str:
    reps = result["repetitions"]
    first = [r["sweep_first"] for r in reps]
    second = [r["sweep_second"] for r in reps]
    bare = [r["bare_total"] for r in reps]
    counts = result["counts"]
    med_first = statistics.median(first)
    ok_counts = all(
        # No generated case has staged limits: nothing is urged for a missed staged step.
        r["first"]
        == {"yellow": counts["yellow"], "red": counts["red"], "staged": 0, "urged": counts["red"]}
        and r["second"] == {"yellow": 0, "red": 0, "staged": 0, "urged": 0}
        and r["steps_added"] == counts["red"]
        and r["left_yellow"] == r["left_red"] == 0
        for r in reps
    )
    target = f"under {TARGET_SECONDS:g} s over {counts['open']:,} open cases"
    if max(first) < TARGET_SECONDS and ok_counts:
        verdict = (
            f"Target met ({target}): the first sweep, which colours "
            f"{counts['yellow']:,} cases yellow and {counts['red']:,} red (urging each), took "
            f"**{_s(med_first)}** (median of {len(reps)}; slowest {_s(max(first))}); the "
            f"second, idempotent run **{_s(statistics.median(second))}**. The two bare UPDATE "
            f"statements alone: {_s(statistics.median(bare))}."
        )
    else:
        verdict = (
            f"**Target missed** ({target}): the first sweep took **{_s(med_first)}** "
            f"(median of {len(reps)}), the second {_s(statistics.median(second))}; the bare "
            f"UPDATEs {_s(statistics.median(bare))}."
            + ("" if ok_counts else " **The counts did not match what was expected.**")
        )
        if statistics.median(bare) >= TARGET_SECONDS:
            hot = sum(r["bare_hot"] for r in reps)
            updated = sum(r["bare_updated"] for r in reps)
            verdict += (
                f" PostgreSQL alone needs more than the target for the two UPDATEs: "
                f"{hot:,} of {updated:,} row updates were heap-only (HOT), so nearly every "
                f"changed row was inserted again into each of the table's "
                f"{result['indexes']} indexes (table options: {result['reloptions']}); see the "
                "plan of the yellow UPDATE below."
            )
    if context["caution"]:
        verdict += "\n\n" + context["caution"]
    rows = []
    for i, r in enumerate(reps, 1):
        rows.append(
            [
                str(i),
                r["order"],
                f"**{_s(r['sweep_first'])}** ({_s(r['sweep_first_cpu'])} CPU)",
                f"{r['first']['yellow']:,} / {r['first']['red']:,} / {r['first']['urged']:,}",
                f"**{_s(r['sweep_second'])}** ({_s(r['sweep_second_cpu'])} CPU)",
                f"{r['second']['yellow']:,} / {r['second']['red']:,}",
                f"{_s(r['bare_yellow'])} + {_s(r['bare_red'])} = **{_s(r['bare_total'])}**",
                f"{r['bare_rows_yellow']:,} / {r['bare_rows_red']:,}",
                f"{r['bare_hot']:,} of {r['bare_updated']:,}",
                f"{r['sweep_first'] / r['bare_total']:.1f}",
            ]
        )
    header = [
        "run",
        "order",
        "sweep(now), 1st",
        "→ yellow / red / urged",
        "sweep(now), 2nd",
        "→ yellow / red",
        "bare UPDATEs: yellow + red",
        "rows",
        "bare: heap-only (HOT) updates",
        "1st sweep ÷ bare",
    ]
    quiet = f"; {context['quiet']}" if context.get("quiet") else ""
    when = "in this run" if result["loaded_now"] else "when the sweep database was built"
    loaded = (
        f"Generating and loading the cases (COPY, then the foreign-key check) took "
        f"{_s(result['load_seconds'])} {when}."
    )
    mix = result["mix"]
    order = [f"status {k}" for k in (*NO_CLOCK, *CLOCKED, "suspended")]
    order += [k for k in mix if k not in order]
    mix_rows = [[k, f"{mix[k]:,}"] for k in order if k in mix]
    phases = result.get("phases", [])
    phase_rows = [[p["what"], f"{p['queries']:,}", _s(p["db_seconds"])] for p in phases]
    instrumented = result.get("instrumented", {})
    plans = result.get("plans", {})
    plan_text = ""
    for title, plan in plans.items():
        plan_text += f"\n{title}:\n\n```\n{plan}\n```\n"
    return f"""## SLA sweep over {counts["open"]:,} open cases

{verdict}

Command (from the repository root):

```
{context["command"]}
```

- date: {context["date"]}{quiet}
- benchmark database: `{context["database"]}` — {context["city"]}
- sweep database: {context["sweep_db"]}
- `now` of every run: {result["now"]} (fixed when the cases were generated)
{machine_markdown(host)}

### Runs

{markdown_table(header, rows)}

Setup of each measurement (not timed): colours and urge counts reset to the generated ones, the
sweep's steps and notifications deleted, `VACUUM ANALYZE cases_case, cases_casestep`, and the
expected counts queried (which also warms the cache). {loaded}

### The cases

{markdown_table(["generated cases", "count"], mix_rows)}

Open cases in the database (statuses whose clock may run): {counts["open"]:,}, of which
{result["generated"]:,} generated (the rest came with the clone: cases the intake benchmark
reported); due to turn yellow at `now`: {counts["yellow"]:,}; due to turn red:
{counts["red"]:,}. Table `cases_case`: {result["indexes"]} indexes, options
{result["reloptions"]}.

### Where the first sweep's time goes (one more, instrumented run)

Statements captured with Django's query log (`CaptureQueriesContext`) during one extra first
sweep from the same state: {instrumented.get("queries", 0):,} queries,
{_s(instrumented.get("db_seconds", 0))} waiting for PostgreSQL out of
{_s(instrumented.get("wall", 0))} in all (the rest is Python: building objects and SQL).

{markdown_table(["statement", "times", "time in PostgreSQL"], phase_rows)}
{plan_text}
### Method

- Cases: {options.sweep_cases:,} generated with `numpy.random.default_rng({options.seed})` and
  loaded with psycopg `cursor.copy` (`COPY cases_case … FROM STDIN`, then the same for two
  timeline steps per case) into the sweep database: categories of the default catalog with an
  SLA policy, the city's grids (division, grid, point at the grid's centroid), the centre
  `rules.centre_for` gives each grid, a department as owner and handler for dispatched,
  accepted, in-progress and suspended cases (the centre for the others), the grid's worker as
  reporter. Statuses: {", ".join(f"{k} {v:.0%}" for k, v in NO_CLOCK.items())} (no clock),
  suspended {SUSPENDED:.0%} (clock stopped), the rest with a running clock, split
  {", ".join(f"{k} {v:.0%}" for k, v in CLOCKED.items())}. Of all cases,
  {options.sweep_yellow:.0%} pass their yellow mark but not their deadline at `now`,
  {options.sweep_red:.0%} pass their deadline while not yet red (half of them already
  yellow), {STAY_YELLOW:.0%} are already yellow and {STAY_RED:.0%} already red; the rest are
  on time.
- Ours: `civicgrid.cases.sweep.sweep(now)` in a process set up like a worker (Django settings
  from the environment, the sweep database), wall clock and process CPU, garbage collector
  paused; then again at the same `now`, which must change nothing.
- Bare: the two UPDATE statements that are the sweep's SQL core, over psycopg in one
  transaction, committed: `UPDATE cases_case SET sla_state = 'yellow' WHERE status IN
  (running) AND stage_due IS NOT NULL AND suspended_at IS NULL AND sla_state = 'normal' AND
  warn_at <= now AND stage_due > now` and `UPDATE cases_case SET sla_state = 'red',
  urge_count = urge_count + 1 WHERE status IN (running) AND stage_due <= now AND
  suspended_at IS NULL AND sla_state <> 'red'` — without the timeline steps and notifications
  that the sweep also writes for each case turning red.
- Order: bare first in odd repetitions, the sweep first in even ones.
"""


# --- the child: generation and measurement, with Django set up on the sweep database --------------
@dataclass
class Reference:
    grids: list[tuple[int, str, str, float, float]]  # id, path, code, lng, lat
    centre_of_grid: list[int]
    reporter_of_grid: list[int | None]
    departments: list[int]
    categories: list[tuple[int, int]]  # id, default priority


def _reference() -> Reference:
    from civicgrid.accounts.choices import UnitKind
    from civicgrid.accounts.models import Unit, User
    from civicgrid.cases.rules import centre_for
    from civicgrid.catalog.models import CaseCategory
    from civicgrid.geo.models import Division

    grids = list(
        Division.objects.filter(level=6, is_active=True)
        .order_by("code")
        .values_list("id", "path", "code", "centroid_lng", "centroid_lat")
    )
    # rules.centre_for, one query per grid, is too slow for 8,000 grids: the same rule over
    # all centres at once (the nearest centre at or above the place), checked on a sample.
    by_path = dict(
        Unit.objects.filter(kind=UnitKind.CENTRE, is_active=True).values_list("division_path", "id")
    )
    centres = []
    for _id, path, _code, _x, _y in grids:
        found = next((by_path[path[:n]] for n in (15, 12, 9, 6, 4, 2) if path[:n] in by_path), None)
        if found is None:
            raise RuntimeError(f"no centre serves grid {path}")
        centres.append(found)
    for i in range(0, len(grids), max(1, len(grids) // 50)):
        centre = centre_for(grids[i][1])
        if centre is None or centre.pk != centres[i]:
            raise RuntimeError(f"centre of grid {grids[i][1]} differs from rules.centre_for")
    workers = dict(User.objects.filter(username__startswith="gw").values_list("username", "id"))
    reporters = [workers.get(f"gw{code}") for _id, _path, code, _x, _y in grids]
    departments = list(
        Unit.objects.filter(kind=UnitKind.DEPARTMENT, is_active=True).values_list("id", flat=True)
    )
    categories = [
        (c.pk, c.default_priority)
        for c in CaseCategory.objects.filter(parent__isnull=False, is_active=True)
        if c.policy() is not None
    ]
    if not grids or not departments or not categories:
        raise RuntimeError("the sweep database lacks grids, departments or categories")
    return Reference(grids, centres, reporters, departments, categories)


CASE_COLUMNS = [
    "id",
    "division_id",
    "division_path",
    "number",
    "category_id",
    "priority",
    "title",
    "description",
    "extra",
    "lat",
    "lng",
    "address",
    "grid_id",
    "channel",
    "reporter_id",
    "reporter_name",
    "reporter_phone_enc",
    "reporter_phone_index",
    "body_hash",
    "status",
    "owner_unit_id",
    "centre_id",
    "handler_unit_id",
    "version",
    "stage",
    "stage_started_at",
    "stage_due",
    "warn_at",
    "sla_state",
    "accept_due",
    "handle_due",
    "check_due",
    "steps_due",
    "suspended_at",
    "supervised",
    "urge_count",
    "return_count",
    "rework_count",
    "self_resolved",
    "reported_at",
    "registered_at",
    "dispatched_at",
    "accepted_at",
    "handled_at",
    "updated_at",
]
STEP_COLUMNS = [
    "case_id",
    "seq",
    "action",
    "from_status",
    "to_status",
    "actor_id",
    "actor_name",
    "unit_id",
    "note",
    "data",
    "time",
]


def _check_columns(cursor: Any, table: str, columns: Sequence[str]) -> None:
    """Every NOT NULL column without a default must be in the COPY, or the schema changed."""
    cursor.execute(
        "select column_name from information_schema.columns where table_name = %s and "
        "table_schema = current_schema() and is_nullable = 'NO' and column_default is null "
        "and is_identity = 'NO'",
        [table],
    )
    missing = {r[0] for r in cursor.fetchall()} - set(columns)
    if missing:
        raise RuntimeError(
            f"{table} has new required columns {sorted(missing)}: teach bench/sweep.py them"
        )


def _timestamps(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds (NaN: none) as COPY text: ISO 8601 in UTC, or \\N."""
    stamps = np.where(np.isnan(seconds), 0, seconds).astype("int64").astype("datetime64[s]")
    text = np.datetime_as_string(stamps, unit="s", timezone="UTC")
    return np.where(np.isnan(seconds), "\\N", text)


@dataclass
class Generated:
    cases: int
    mix: dict[str, int] = field(default_factory=dict)


def generate(spec: dict[str, Any], now: datetime) -> Generated:
    """COPY the cases and their steps; ids follow the table's current maximum."""
    from django.db import connection

    n = spec["cases"]
    rng = np.random.default_rng(spec["seed"])
    ref = _reference()
    with connection.cursor() as cursor:
        _check_columns(cursor, "cases_case", CASE_COLUMNS)
        _check_columns(cursor, "cases_casestep", STEP_COLUMNS)
        cursor.execute("select coalesce(max(id), 0) from cases_case")
        first_id = int(cursor.fetchone()[0]) + 1
    ids = np.arange(first_id, first_id + n)

    # Statuses and colours.
    statuses = np.empty(n, dtype=object)
    order = rng.permutation(n)
    start = 0
    for status, share in [*NO_CLOCK.items(), ("suspended", SUSPENDED)]:
        count = round(share * n)
        statuses[order[start : start + count]] = status
        start += count
    clocked = order[start:]
    names, shares = zip(*CLOCKED.items(), strict=True)
    statuses[clocked] = rng.choice(np.array(names, dtype=object), size=len(clocked), p=shares)
    outcome = np.full(n, "normal", dtype=object)  # what the sweep should find
    start = 0
    for kind, share in [
        ("turn_yellow", spec["yellow"]),
        ("turn_red", spec["red"]),
        ("stay_yellow", STAY_YELLOW),
        ("stay_red", STAY_RED),
    ]:
        count = round(share * n)
        outcome[clocked[start : start + count]] = kind
        start += count
    no_clock = np.isin(statuses, list(NO_CLOCK))
    outcome[no_clock] = "none"
    outcome[statuses == "suspended"] = "suspended"

    t = now.timestamp()
    minute, hour, day = 60.0, 3600.0, 86400.0
    reported = t - rng.uniform(2 * hour, 30 * day, n)
    started = reported + (t - reported) * rng.uniform(0.1, 0.9, n)
    warn = np.full(n, np.nan)
    due = np.full(n, np.nan)
    normal = (outcome == "normal") | (outcome == "suspended")
    warn[normal] = t + rng.uniform(5 * minute, 3 * day, normal.sum())
    due[normal] = warn[normal] + rng.uniform(30 * minute, 2 * day, normal.sum())
    yellow = (outcome == "turn_yellow") | (outcome == "stay_yellow")
    warn[yellow] = t - rng.uniform(minute, day, yellow.sum())
    due[yellow] = t + rng.uniform(minute, day, yellow.sum())
    red = (outcome == "turn_red") | (outcome == "stay_red")
    due[red] = t - rng.uniform(minute, 5 * day, red.sum())
    warn[red] = due[red] - rng.uniform(30 * minute, 2 * day, red.sum())
    colour = np.full(n, "normal", dtype=object)
    colour[no_clock] = "none"
    colour[outcome == "stay_yellow"] = "yellow"
    colour[outcome == "stay_red"] = "red"
    turn_red = np.flatnonzero(outcome == "turn_red")
    colour[turn_red[rng.random(len(turn_red)) < 0.5]] = "yellow"
    urges = np.where(outcome == "stay_red", 1, 0)
    suspended_at = np.full(n, np.nan)
    is_suspended = statuses == "suspended"
    suspended_at[is_suspended] = t - rng.uniform(hour, 3 * day, is_suspended.sum())
    started[no_clock] = np.nan

    grid_pick = rng.integers(0, len(ref.grids), n)
    category_pick = rng.integers(0, len(ref.categories), n)
    department_pick = rng.integers(0, len(ref.departments), n)
    text_pick = rng.integers(0, len(TEXTS), n)
    jitter = rng.uniform(-0.0004, 0.0004, (n, 2))

    def col(values: np.ndarray) -> list[str]:
        return values.astype(str).tolist()

    stamp = {
        "reported": _timestamps(reported),
        "started": _timestamps(started),
        "warn": _timestamps(warn),
        "due": _timestamps(due),
        "suspended": _timestamps(suspended_at),
    }
    steps_of = {
        "reported": 1,
        "registered": 2,
        "dispatched": 3,
        "accepted": 4,
        "in_progress": 5,
        "suspended": 6,
        "handled": 6,
        "checking": 7,
    }
    milestones = {  # which milestone columns a status has passed
        "registered_at": 2,
        "dispatched_at": 3,
        "accepted_at": 4,
        "handled_at": 6,
    }
    updated = str(_timestamps(np.array([t]))[0])

    # Python lists: indexing numpy arrays one element at a time is several times slower.
    ids_l, grid_l, cat_l = ids.tolist(), grid_pick.tolist(), category_pick.tolist()
    dept_l, text_l, jitter_l = department_pick.tolist(), text_pick.tolist(), jitter.tolist()
    status_l, colour_l, urges_l = statuses.tolist(), colour.tolist(), urges.tolist()
    stamp = {k: v.tolist() for k, v in stamp.items()}

    def case_lines() -> Iterator[str]:
        grids, cats = ref.grids, ref.categories
        for i in range(n):
            g = grid_l[i]
            grid_id, path, _code, lng, lat = grids[g]
            category_id, priority = cats[cat_l[i]]
            status = status_l[i]
            depth = steps_of[status]
            centre = ref.centre_of_grid[g]
            working = status in WORKING
            department = ref.departments[dept_l[i]]
            owner = department if working else centre
            stage = STAGE.get(status, "")
            due_text = stamp["due"][i] if stage else "\\N"
            title, description = TEXTS[text_l[i]]
            reporter = ref.reporter_of_grid[g]
            reported_text = stamp["reported"][i]
            passed = [reported_text if depth >= m else "\\N" for m in milestones.values()]
            yield "\t".join(
                [
                    str(ids_l[i]),
                    str(grid_id),
                    path,
                    f"SWB{ids_l[i]:012d}",
                    str(category_id),
                    str(priority),
                    title,
                    description,
                    "{}",
                    f"{lat + jitter_l[i][1]:.6f}" if lat is not None else "\\N",
                    f"{lng + jitter_l[i][0]:.6f}" if lng is not None else "\\N",
                    "",
                    str(grid_id),
                    "grid_app",
                    str(reporter) if reporter else "\\N",
                    "",
                    "",
                    "",
                    f"{BODY_MARK}:{colour_l[i]}:{urges_l[i]}",
                    status,
                    str(owner),
                    str(centre),
                    str(department) if working else "\\N",
                    str(depth),
                    stage,
                    stamp["started"][i] if stage else "\\N",
                    due_text,
                    stamp["warn"][i] if stage else "\\N",
                    colour_l[i],
                    due_text if stage == "accept" else "\\N",
                    due_text if stage == "handle" else "\\N",
                    due_text if stage == "check" else "\\N",
                    "[]",
                    stamp["suspended"][i],
                    "f",
                    str(urges_l[i]),
                    "0",
                    "0",
                    "f",
                    reported_text,
                    *passed,
                    updated,
                ]
            )

    def step_lines() -> Iterator[str]:
        for i in range(n):
            status = status_l[i]
            reporter = ref.reporter_of_grid[grid_l[i]]
            actor = str(reporter) if reporter else "\\N"
            yield "\t".join(
                [
                    str(ids_l[i]),
                    "1",
                    "report",
                    "",
                    "reported",
                    actor,
                    "gridworker",
                    "\\N",
                    "",
                    "{}",
                    stamp["reported"][i],
                ]
            )
            if status in ENTRY_STEP:
                action, source = ENTRY_STEP[status]
                yield "\t".join(
                    [
                        str(ids_l[i]),
                        "2",
                        action,
                        source,
                        status,
                        "\\N",
                        "system",
                        "\\N",
                        "",
                        "{}",
                        stamp["started"][i] if STAGE.get(status) else stamp["reported"][i],
                    ]
                )

    _copy("cases_case", CASE_COLUMNS, case_lines(), n, "cases")
    _copy("cases_casestep", STEP_COLUMNS, step_lines(), None, "timeline steps")
    _check_foreign_keys("cases_case", "id", first_id, first_id + n - 1)
    _check_foreign_keys("cases_casestep", "case_id", first_id, first_id + n - 1)
    with connection.cursor() as cursor:
        # The ids were given explicitly: move the identity past them for later inserts.
        cursor.execute(
            "select setval(pg_get_serial_sequence('cases_case', 'id'), "
            "(select max(id) from cases_case))"
        )
    mix = {f"status {k}": int((statuses == k).sum()) for k in steps_of}
    mix.update({f"set to {k.replace('_', ' ')}": int((outcome == k).sum()) for k in (
        "turn_yellow", "turn_red", "stay_yellow", "stay_red", "normal")})  # fmt: skip
    return Generated(n, mix)


def _copy(table: str, columns: list[str], lines: Iterator[str], total: int | None, what: str):
    from django.db import connection, transaction

    listed = ", ".join(columns)
    written = 0
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        # The foreign keys are deferred triggers: a million rows would queue ten million
        # checks. As superuser, skip them here and check every key with one query afterwards
        # (_check_foreign_keys); otherwise COPY checks them itself, only slower.
        with contextlib.suppress(Exception), transaction.atomic():
            cursor.execute("set local session_replication_role = replica")
        with cursor.copy(f"copy {table} ({listed}) from stdin") as copy:
            chunk: list[str] = []
            for line in lines:
                chunk.append(line)
                if len(chunk) == 20_000:
                    copy.write("\n".join(chunk) + "\n")
                    written += len(chunk)
                    chunk = []
                    if written % 200_000 == 0:
                        of = f" of {total:,}" if total else ""
                        _say(f"sweep: COPY {what}: {written:,}{of}")
            if chunk:
                copy.write("\n".join(chunk) + "\n")
                written += len(chunk)
    _say(f"sweep: COPY {what}: {written:,} rows in {time.perf_counter() - started:,.1f} s")


def _check_foreign_keys(table: str, key: str, low: int, high: int) -> None:
    """Every foreign key of the rows with `key` in [low, high] points at an existing row."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select a.attname, c.confrelid::regclass::text, b.attname from pg_constraint c "
            "join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1] "
            "join pg_attribute b on b.attrelid = c.confrelid and b.attnum = c.confkey[1] "
            "where c.contype = 'f' and c.conrelid = %s::regclass",
            [table],
        )
        for column, target, target_column in cursor.fetchall():
            cursor.execute(
                f'select count(*) from {table} t where t."{key}" between %s and %s '
                f'and t."{column}" is not null and not exists (select 1 from {target} r '
                f'where r."{target_column}" = t."{column}")',
                [low, high],
            )
            broken = cursor.fetchone()[0]
            if broken:
                raise RuntimeError(f"{broken} generated {table}.{column} point nowhere")


RUNNING_SQL = "status = any(%(running)s) and stage_due is not null and suspended_at is null"
YELLOW_WHERE = (
    f"{RUNNING_SQL} and sla_state = 'normal' and warn_at <= %(now)s and stage_due > %(now)s"
)
RED_WHERE = f"{RUNNING_SQL} and stage_due <= %(now)s and sla_state <> 'red'"


def _params(now: datetime) -> dict[str, Any]:
    from civicgrid.cases.sweep import RUNNING

    return {"running": [str(s) for s in RUNNING], "now": now}


def _autocommit() -> Any:
    import psycopg

    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)


def reset(now: datetime) -> dict[str, int]:
    """Back to the generated colours: undo what a sweep or the bare UPDATEs changed."""
    with _autocommit() as conn:
        changed = conn.execute(
            "update cases_case set sla_state = split_part(body_hash, ':', 2), "
            "urge_count = split_part(body_hash, ':', 3)::int "
            "where body_hash like %s and (sla_state <> split_part(body_hash, ':', 2) "
            "or urge_count <> split_part(body_hash, ':', 3)::int)",
            [f"{BODY_MARK}:%"],
        ).rowcount
        steps = conn.execute(
            "delete from cases_casestep where action = 'urge' and actor_name = 'system' "
            "and time = %s",
            [now],
        ).rowcount
        notes = conn.execute("delete from core_notification where kind = 'overdue'").rowcount
        tasks = conn.execute(
            "delete from django_tasks_database_dbtaskresult where task_path like %s",
            ["%send_sms%"],
        ).rowcount
        conn.execute("vacuum analyze cases_case, cases_casestep, core_notification")
    return {"cases": changed, "steps": steps, "notifications": notes, "tasks": tasks}


def expected(now: datetime) -> dict[str, int]:
    from civicgrid.cases.choices import OPEN

    params = _params(now)
    with _autocommit() as conn:
        yellow = conn.execute(f"select count(*) from cases_case where {YELLOW_WHERE}", params)
        red = conn.execute(f"select count(*) from cases_case where {RED_WHERE}", params)
        counts = {"yellow": int(yellow.fetchone()[0]), "red": int(red.fetchone()[0])}
        row = conn.execute(
            "select count(*) from cases_case where status = any(%s)", [[str(s) for s in OPEN]]
        ).fetchone()
        counts["open"] = int(row[0])
        row = conn.execute(
            "select count(*) from cases_casestep where action = 'urge' and time = %s", [now]
        ).fetchone()
        counts["urge_steps"] = int(row[0])
    return counts


def bare(now: datetime) -> dict[str, float]:
    """The sweep's two UPDATEs over psycopg, in one committed transaction."""
    params = _params(now)
    with _autocommit() as conn, quiet_gc():
        cpu = time.process_time()
        t0 = time.perf_counter()
        with conn.transaction():
            yellow = conn.execute(
                f"update cases_case set sla_state = 'yellow' where {YELLOW_WHERE}", params
            ).rowcount
            t1 = time.perf_counter()
            red = conn.execute(
                "update cases_case set sla_state = 'red', urge_count = urge_count + 1 "
                f"where {RED_WHERE}",
                params,
            ).rowcount
            # Heap-only updates touch no index; the others insert into every index of the table.
            updated, hot = conn.execute(
                "select n_tup_upd, n_tup_hot_upd from pg_stat_xact_user_tables "
                "where relname = 'cases_case'"
            ).fetchone()
        t2 = time.perf_counter()  # after COMMIT, as the sweep's figure is
        cpu = time.process_time() - cpu
    return {
        "bare_yellow": t1 - t0,
        "bare_red": t2 - t1,
        "bare_total": t2 - t0,
        "bare_cpu": cpu,
        "bare_rows_yellow": yellow,
        "bare_rows_red": red,
        "bare_updated": int(updated),
        "bare_hot": int(hot),
    }


def ours(now: datetime) -> dict[str, Any]:
    from civicgrid.cases.sweep import sweep

    out: dict[str, Any] = {}
    for label in ("first", "second"):
        with quiet_gc():
            cpu = time.process_time()
            t0 = time.perf_counter()
            result = sweep(now)
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu
        out[f"sweep_{label}"] = elapsed
        out[f"sweep_{label}_cpu"] = cpu
        out[label] = asdict(result)
    return out


def _kind(sql: str) -> str:
    s = " ".join(sql.split()).lower()
    if s.startswith('update "cases_case" set "sla_state" = \'yellow\''):
        return "UPDATE … yellow"
    if "for update" in s:
        return "SELECT … FOR UPDATE (batch)"
    if s.startswith('select "cases_case"."id"'):
        return "SELECT ids of the cases turning red"
    if s.startswith('update "cases_case" set "sla_state" = \'red\''):
        return "UPDATE … red (batch)"
    if s.startswith('update "cases_case" set "urge_count"'):
        return "UPDATE urge_count (batch)"
    if "max(" in s and "cases_casestep" in s:
        return "SELECT max(seq) per case (batch)"
    if s.startswith('insert into "cases_casestep"'):
        return "INSERT timeline steps (batch)"
    if "accounts_user" in s:
        return "SELECT unit members (per owning unit)"
    if s.startswith('insert into "core_notification"'):
        return "INSERT notifications (per owning unit)"
    if s in {"begin", "commit"} or s.startswith(("savepoint", "release savepoint")):
        return "BEGIN / COMMIT / savepoints"
    return "other: " + s[:60]


def instrumented(now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from civicgrid.cases.sweep import sweep

    with CaptureQueriesContext(connection) as captured:
        t0 = time.perf_counter()
        sweep(now)
        wall = time.perf_counter() - t0
    phases: dict[str, dict[str, Any]] = {}
    for q in captured.captured_queries:
        entry = phases.setdefault(_kind(q["sql"]), {"queries": 0, "db_seconds": 0.0})
        entry["queries"] += 1
        entry["db_seconds"] += float(q["time"])
    rows = [{"what": k, **v} for k, v in phases.items()]
    rows.sort(key=lambda r: -r["db_seconds"])
    total = sum(r["db_seconds"] for r in rows)
    return {"queries": len(captured.captured_queries), "db_seconds": total, "wall": wall}, rows


def explain(now: datetime) -> dict[str, str]:
    """Plans of the sweep's two scans over the whole table, run and rolled back."""
    params = _params(now)
    plans = {}
    with _autocommit() as conn:
        for title, statement in [
            (
                "`EXPLAIN (ANALYZE, BUFFERS)` of the yellow UPDATE (rolled back)",
                f"update cases_case set sla_state = 'yellow' where {YELLOW_WHERE}",
            ),
            (
                "`EXPLAIN (ANALYZE, BUFFERS)` of the SELECT of the cases turning red",
                f"select id from cases_case where {RED_WHERE}",
            ),
        ]:
            with conn.transaction(force_rollback=True):
                rows = conn.execute(f"explain (analyze, buffers) {statement}", params)
                plans[title] = "\n".join(r[0] for r in rows)
    return plans


def _meta(write: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the sweep database was built with: {"spec", "mix", "now", "load_seconds"}, or {}
    before the build."""
    with _autocommit() as conn:
        if write is not None:
            conn.execute(
                f"create table if not exists {META_TABLE} (spec jsonb, mix jsonb, "
                "now timestamptz, load_seconds float8)"
            )
            conn.execute(f"delete from {META_TABLE}")
            conn.execute(
                f"insert into {META_TABLE} values (%s::jsonb, %s::jsonb, %s, %s)",
                [
                    json.dumps(write["spec"]),
                    json.dumps(write["mix"]),
                    write["now"],
                    write["load_seconds"],
                ],
            )
        if not conn.execute("select to_regclass(%s)", [META_TABLE]).fetchone()[0]:
            return {}
        row = conn.execute(f"select spec, mix, now, load_seconds from {META_TABLE}").fetchone()
        if not row:
            return {}
        return {"spec": row[0], "mix": row[1], "now": row[2], "load_seconds": row[3]}


def child(arguments: dict[str, Any]) -> dict[str, Any]:
    from .database import setup_django

    setup_django(os.environ["DATABASE_URL"])
    repeat = int(arguments.pop("repeat"))
    spec = arguments
    meta = _meta()
    load_seconds = 0.0
    if meta.get("spec") != spec:
        if meta:
            raise RuntimeError("the sweep database holds other generated cases: rebuild it")
        now = datetime.now(UTC).replace(microsecond=0)
        _say(f"sweep: generating {spec['cases']:,} open cases (now = {now.isoformat()})")
        t0 = time.perf_counter()
        generated = generate(spec, now)
        load_seconds = time.perf_counter() - t0
        meta = _meta({"spec": spec, "mix": generated.mix, "now": now, "load_seconds": load_seconds})
    now, mix = meta["now"], meta["mix"]
    repetitions = []
    counts: dict[str, int] = {}
    for r in range(repeat):
        order = ["bare", "ours"] if r % 2 == 0 else ["ours", "bare"]
        record: dict[str, Any] = {"order": " then ".join(order)}
        for side in order:
            _say(f"sweep: run {r + 1} of {repeat}: reset, VACUUM ANALYZE, then {side}")
            reset(now)
            counts = expected(now)
            if counts["urge_steps"]:
                raise RuntimeError("the reset left urge steps behind")
            if side == "bare":
                record.update(bare(now))
            else:
                record.update(ours(now))
                after = expected(now)
                record["steps_added"] = after["urge_steps"]
                record["left_yellow"], record["left_red"] = after["yellow"], after["red"]
        _say(
            f"sweep: run {r + 1}: sweep {record['sweep_first']:.2f} s "
            f"({record['first']}), again {record['sweep_second']:.2f} s, bare "
            f"{record['bare_total']:.2f} s"
        )
        repetitions.append(record)
    _say("sweep: one more, instrumented run, and the plans")
    reset(now)
    info, phases = instrumented(now)
    reset(now)
    plans = explain(now)
    reset(now)
    with _autocommit() as conn:
        indexes = conn.execute(
            "select count(*) from pg_indexes where tablename = 'cases_case'"
        ).fetchone()[0]
        options = conn.execute(
            "select coalesce(array_to_string(reloptions, ', '), '') from pg_class "
            "where relname = 'cases_case'"
        ).fetchone()[0]
    return {
        "indexes": int(indexes),
        "reloptions": options or "none (fillfactor 100)",
        "generated": int(meta["spec"]["cases"]),
        "now": now.isoformat(),
        "counts": counts,
        "mix": mix,
        "repetitions": repetitions,
        "instrumented": info,
        "phases": phases,
        "plans": plans,
        "load_seconds": meta["load_seconds"],
        "loaded_now": bool(load_seconds),
    }


def _child_main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "--child":
        print("usage: python -m bench.sweep --child SPEC_JSON (started by python -m bench)")
        return 2
    result = child(json.loads(argv[1]))
    print(RESULT_MARK + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
