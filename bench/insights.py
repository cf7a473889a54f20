"""KPIs over ten million cases: the rollup against a hand-written GROUP BY over the case table.

The data live in a database of their own, `<benchmark database>_insights`, filled once with
SQL (it is bench data, not a request path): a province-sized division tree (1 province,
16 cities, 144 counties, ~1,800 townships, ~19,800 communities, ~198,000 grids, no
boundaries), a centre at every level down to the township and an urban-management department
per county, the default catalog, and N cases (default 10,000,000) over three years inserted by
`INSERT … SELECT … FROM generate_series` with the case table's secondary indexes dropped and
rebuilt afterwards. The database is kept between runs as long as it was built with the same
size and seed (`--insights-rebuild` builds it again).

Each run, in a child process set up on that database (`python -m bench.insights --child …`):

1. `civicgrid.insights.rollup.rebuild()`, timed; rollup rows against cases (the shrink), and
   (once, kept with the data) the row counts of other candidate grains;
2. for cities, counties and townships, N queries each (months and years, seeded areas and
   anchors) and three groupings: `query.figures(None, KpiQuery(...))` against a hand-written
   SQL GROUP BY over `cases_case` answering the same figures (the period's counters, grouped,
   plus the previous period's total), interleaved; every answer compared;
3. the same queries through the production server (gunicorn as `civicgrid serve` starts it):
   the KPI API with a centre-staff token, and the dashboard page with a session;
4. rollup maintenance: N real case actions through `civicgrid.cases.actions` (new cases
   reported, registered, dispatched, accepted and started; open ones handled, closed and
   rated), then `rollup.refresh()`, timed, and the rollup checked against the live count.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import random
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .common import machine, machine_markdown, markdown_table, quiet_gc

TARGET_P95_MS = 100.0
TARGET_RATIO = 20.0
RESULT_MARK = "bench-insights "
META_TABLE = "bench_insights_meta"
FORMAT = 1  # raise when the generated data change shape
BODY_MARK = "bench-insights"
START = dt.date(2023, 11, 1)  # first day of the data (local time)
DAYS = 1096  # three years: 2023-11-01 … 2026-10-31
CHUNK = 1_000_000
SCOPES = {2: "city", 3: "county", 4: "township"}
GROUPS = ("", "child", "major")
GROUP_LABEL = {"": "total", "child": "by subordinate division", "major": "by major category"}
CENTRE_USER = "bench-insights-centre"
TOKEN_NAME = "bench-insights"

# Status shares by the case's age at the end of the data: recent cases are still moving.
REGIMES: list[tuple[int | None, dict[str, float]]] = [
    (
        7,
        {
            "voided": 0.03,
            "merged": 0.02,
            "reported": 0.07,
            "registered": 0.08,
            "dispatched": 0.10,
            "accepted": 0.08,
            "in_progress": 0.17,
            "suspended": 0.03,
            "handled": 0.07,
            "checking": 0.05,
            "closed": 0.18,
            "evaluated": 0.12,
        },
    ),
    (
        60,
        {
            "voided": 0.03,
            "merged": 0.02,
            "reported": 0.01,
            "registered": 0.02,
            "dispatched": 0.03,
            "accepted": 0.02,
            "in_progress": 0.07,
            "suspended": 0.02,
            "handled": 0.03,
            "checking": 0.02,
            "closed": 0.28,
            "evaluated": 0.45,
        },
    ),
    (
        None,
        {
            "voided": 0.03,
            "merged": 0.02,
            "suspended": 0.004,
            "in_progress": 0.002,
            "handled": 0.002,
            "checking": 0.002,
            "closed": 0.25,
            "evaluated": 0.69,
        },
    ),
]
CHANNELS = [
    ("grid_app", 0.55),
    ("citizen", 0.15),
    ("hotline", 0.20),
    ("centre", 0.05),
    ("department", 0.03),
    ("sensor", 0.02),
]
OPEN_SQL = (
    "('reported', 'registered', 'dispatched', 'accepted', 'in_progress', 'suspended', "
    "'handled', 'checking')"
)
# The counters of civicgrid.insights.kpis, written out by hand over the raw table.
COUNTER_SQL = {
    "reported": "count(*)",
    "filed": "count(*) filter (where c.status not in ('reported', 'voided', 'merged'))",
    "voided": "count(*) filter (where c.status = 'voided')",
    "merged": "count(*) filter (where c.status = 'merged')",
    "dispatched": "count(*) filter (where c.dispatched_at is not null)",
    "responded": "count(*) filter (where c.accepted_at is not null and "
    "(c.accept_due is null or c.accepted_at <= c.accept_due))",
    "closed": "count(*) filter (where c.status in ('closed', 'evaluated'))",
    "closed_on_time": "count(*) filter (where c.status in ('closed', 'evaluated') "
    "and not c.ever_overdue)",
    "deferred": "count(*) filter (where c.status = 'suspended')",
    "open": f"count(*) filter (where c.status in {OPEN_SQL})",
    "overdue": f"count(*) filter (where c.status in {OPEN_SQL} and c.sla_state = 'red')",
    "returned": "count(*) filter (where c.return_count > 0)",
    "reworked": "count(*) filter (where c.rework_count > 0)",
    "self_resolved": "count(*) filter (where c.self_resolved)",
    "handled": "count(*) filter (where c.handling_minutes is not null)",
    "handling_minutes": "coalesce(sum(c.handling_minutes), 0)",
    "evaluated": "count(*) filter (where c.satisfaction is not null)",
    "satisfied": "count(*) filter (where c.satisfaction >= 4)",
}
# Candidate rollup grains (issue 6: "choose the grain by measurement"): rows each would hold.
LOCAL_DAY = "(c.reported_at at time zone %(tz)s)::date"
LOCAL_MONTH = "date_trunc('month', c.reported_at at time zone %(tz)s)"
MAJOR = "coalesce(k.parent_id, k.id)"
TOWNSHIP = "substr(c.division_path, 1, 9)"
COMMUNITY = "substr(c.division_path, 1, 12)"
GRAINS = [
    ("day × grid × minor category", f"{LOCAL_DAY}, c.division_path, c.category_id"),
    ("day × township × minor category", f"{LOCAL_DAY}, {TOWNSHIP}, c.category_id"),
    ("day × township × major category", f"{LOCAL_DAY}, {TOWNSHIP}, {MAJOR}"),
    ("day × township", f"{LOCAL_DAY}, {TOWNSHIP}"),
    ("month × grid × minor category", f"{LOCAL_MONTH}, c.division_path, c.category_id"),
    ("month × grid", f"{LOCAL_MONTH}, c.division_path"),
    ("month × township × minor category", f"{LOCAL_MONTH}, {TOWNSHIP}, c.category_id"),
    ("month × township × major category", f"{LOCAL_MONTH}, {TOWNSHIP}, {MAJOR}"),
    ("month × community × major category", f"{LOCAL_MONTH}, {COMMUNITY}, {MAJOR}"),
    ("month × community", f"{LOCAL_MONTH}, {COMMUNITY}"),
    ("month × township", f"{LOCAL_MONTH}, {TOWNSHIP}"),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("insights (KPIs over ten million cases)")
    group.add_argument(
        "--insights-cases",
        type=int,
        default=10_000_000,
        help="cases over three years in the insights database (default 10,000,000)",
    )
    group.add_argument(
        "--insights-queries",
        type=int,
        default=20,
        help="queries per scope (city, county, township) and grouping (default 20)",
    )
    group.add_argument(
        "--insights-actions",
        type=int,
        default=1000,
        help="case actions before the timed rollup refresh (default 1,000)",
    )
    group.add_argument(
        "--insights-rebuild",
        action="store_true",
        help="drop the insights database and generate its data again (by default the data of "
        "an earlier run with the same size and seed are reused)",
    )
    group.add_argument(
        "--insights-server",
        default="3x4",
        metavar="WORKERSxTHREADS",
        help="gunicorn configuration for the HTTP measurements (default 3x4, `civicgrid serve`'s)",
    )


def validate(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if options.insights_cases < 10_000:
        parser.error("--insights-cases must be at least 10,000")
    if options.insights_queries < 1 or options.insights_actions < 10:
        parser.error("--insights-queries must be positive and --insights-actions at least 10")
    if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", options.insights_server):
        parser.error(f"--insights-server: {options.insights_server!r} is not WORKERSxTHREADS")


def _say(message: str) -> None:
    print(f"bench: insights: {message}", file=sys.stderr, flush=True)


def insights_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise RuntimeError("the insights benchmark runs on PostgreSQL only")
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_insights"))


def _spec(options: argparse.Namespace) -> dict[str, Any]:
    return {"cases": options.insights_cases, "seed": options.seed, "format": FORMAT}


# --- the parent: the database, the child process, the report ------------------------------------
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
        if not conn.execute("select to_regclass(%s)", [META_TABLE]).fetchone()[0]:
            return None
        row = conn.execute(f"select spec from {META_TABLE}").fetchone()
        return dict(row[0]) if row else None


def _drop(url: str) -> None:
    from psycopg import sql

    name = urlsplit(url).path.lstrip("/")
    with _maintenance(url) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    from . import database

    host = machine()
    target = insights_url(os.environ["DATABASE_URL"])
    spec = _spec(options)
    existing = _existing_spec(target)
    if options.insights_rebuild or existing != spec:
        why = "asked to rebuild" if options.insights_rebuild else "missing or built differently"
        _say(f"{why}: (re)creating {urlsplit(target).path[1:]}")
        _drop(target)
    database.ensure(target)
    arguments = {
        **spec,
        "queries": options.insights_queries,
        "actions": options.insights_actions,
        "server": options.insights_server,
    }
    command = [sys.executable, "-m", "bench.insights", "--child", json.dumps(arguments)]
    done = subprocess.run(
        command,
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DATABASE_URL": target},
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the insights measurement failed (exit {done.returncode})")
    line = next(x for x in reversed(done.stdout.splitlines()) if x.startswith(RESULT_MARK))
    result = json.loads(line[len(RESULT_MARK) :])
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    context = {**context, "date": when, "target": database.display_url(target)}
    return _render(result, options, context, host)


# --- the child: data ------------------------------------------------------------------------------
def _autocommit() -> Any:
    import psycopg

    return psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)


def _meta(write: dict[str, Any] | None = None) -> dict[str, Any]:
    with _autocommit() as conn:
        if write is not None:
            conn.execute(f"create table if not exists {META_TABLE} (spec jsonb, info jsonb)")
            conn.execute(f"delete from {META_TABLE}")
            conn.execute(
                f"insert into {META_TABLE} values (%s::jsonb, %s::jsonb)",
                [json.dumps(write["spec"]), json.dumps(write["info"], default=str)],
            )
        if not conn.execute("select to_regclass(%s)", [META_TABLE]).fetchone()[0]:
            return {}
        row = conn.execute(f"select spec, info from {META_TABLE}").fetchone()
        return {"spec": row[0], "info": row[1]} if row else {}


def _tz() -> str:
    from django.conf import settings

    return str(settings.TIME_ZONE)


def _local(day: dt.date) -> datetime:
    from django.utils import timezone

    return timezone.make_aware(datetime.combine(day, dt.time.min))


TREE_SQL = [
    (
        "province",
        "insert into geo_division (level, code, path, name, parent_id, is_active, created_at, "
        "updated_at) values (1, '370000', '37', '基准省', null, true, now(), now())",
    ),
    (
        "cities",
        "insert into geo_division (level, code, path, name, parent_id, is_active, created_at, "
        "updated_at) select 2, '37' || lpad(c::text, 2, '0') || '00', '37' || lpad(c::text, 2, "
        "'0'), '基准' || c || '市', p.id, true, now(), now() from geo_division p, "
        "generate_series(1, 16) c where p.level = 1",
    ),
    (
        "counties",
        "insert into geo_division (level, code, path, name, parent_id, is_active, created_at, "
        "updated_at) select 3, d.path || lpad(k::text, 2, '0'), d.path || lpad(k::text, 2, '0'), "
        "d.name || k || '区', d.id, true, now(), now() from geo_division d cross join lateral "
        "generate_series(1, 8 + substr(d.path, 3, 2)::int % 3) k where d.level = 2",
    ),
    (
        "townships",
        "insert into geo_division (level, code, path, name, parent_id, is_active, created_at, "
        "updated_at) select 4, d.path || lpad(k::text, 3, '0'), d.path || lpad(k::text, 3, '0'), "
        "d.name || k || '街道', d.id, true, now(), now() from geo_division d cross join lateral "
        "generate_series(1, 11 + (substr(d.path, 3, 2)::int + substr(d.path, 5, 2)::int) % 4) k "
        "where d.level = 3",
    ),
    (
        "communities",
        "insert into geo_division (level, code, path, name, parent_id, is_active, created_at, "
        "updated_at) select 5, d.path || lpad(k::text, 3, '0'), d.path || lpad(k::text, 3, '0'), "
        "d.name || k || '社区', d.id, true, now(), now() from geo_division d cross join lateral "
        "generate_series(1, 10 + substr(d.path, 7, 3)::int % 3) k where d.level = 4",
    ),
    (
        "grids",
        "insert into geo_division (level, code, path, name, parent_id, is_active, created_at, "
        "updated_at) select 6, d.path || lpad(k::text, 3, '0'), d.path || lpad(k::text, 3, '0'), "
        "d.name || k || '网格', d.id, true, now(), now() from geo_division d cross join "
        "generate_series(1, 10) k where d.level = 5",
    ),
    (
        "grid attributes",
        "insert into geo_grid (division_id, kind, dedicated_type, setting, households, residents, "
        "updated_at) select id, 'general', '', case when id % 10 < 7 then 'urban' else 'rural' "
        "end, null, null, now() from geo_division where level = 6",
    ),
    (
        "centres (province to township)",
        "insert into accounts_unit (division_id, division_path, name, kind, phone, is_active, "
        "created_at, updated_at) select id, path, name || '综治中心', 'centre', '', true, now(), "
        "now() from geo_division where level <= 4",
    ),
    (
        "departments (one per county)",
        "insert into accounts_unit (division_id, division_path, name, kind, phone, is_active, "
        "created_at, updated_at) select id, path, name || '城管局', 'department', '', true, "
        "now(), now() from geo_division where level = 3",
    ),
]

LOOKUP_SQL = [
    "drop table if exists bench_g",
    "drop table if exists bench_c",
    "create temp table bench_g as select (row_number() over (order by d.path) - 1)::int as idx, "
    "d.id, d.path, c.id as centre_id, u.id as dept_id from geo_division d "
    "join accounts_unit c on c.kind = 'centre' and c.division_path = substr(d.path, 1, 9) "
    "join accounts_unit u on u.kind = 'department' and u.division_path = substr(d.path, 1, 6) "
    "where d.level = 6",
    "create unique index on bench_g (idx)",
    "create temp table bench_c as select (row_number() over (order by code) - 1)::int as idx, "
    "id, default_priority as priority, name from catalog_casecategory "
    "where parent_id is not null and is_active",
    "create unique index on bench_c (idx)",
    "analyze bench_g",
    "analyze bench_c",
]


def _pick(column: str, shares: Sequence[tuple[str, float]]) -> str:
    """A CASE over a uniform random column choosing among values by their shares."""
    whens, acc = [], 0.0
    for value, share in shares[:-1]:
        acc += share
        whens.append(f"when {column} < {acc:.6f} then '{value}'")
    return f"case {' '.join(whens)} else '{shares[-1][0]}' end"


def _status_sql() -> str:
    parts = [(limit, _pick("x.r_st", list(shares.items()))) for limit, shares in REGIMES]
    whens = " ".join(f"when x.age <= {limit} then {expr}" for limit, expr in parts if limit)
    return f"case {whens} else {parts[-1][1]} end"


TEXTS = ["现场发现，需尽快处理", "群众反映，已核实", "巡查发现", "热线转办", "多次反映"]
VERSION = {
    "reported": 1,
    "registered": 2,
    "voided": 2,
    "merged": 2,
    "dispatched": 3,
    "accepted": 4,
    "in_progress": 5,
    "suspended": 6,
    "handled": 6,
    "checking": 7,
    "closed": 7,
    "evaluated": 8,
}


def _cases_sql() -> str:
    """One chunk of cases, ids %(lo)s … %(hi)s: every column of a case in a consistent state."""
    texts = "array[" + ", ".join(f"'{t}'" for t in TEXTS) + "]"
    version = "case y.status " + " ".join(f"when '{k}' then {v}" for k, v in VERSION.items())
    version += " end"
    rand = ", ".join(
        f"random() as {name}"
        for name in [
            *("r_grid", "r_cat", "r_sec", "r_st", "r_ch", "r_self", "r_reg", "r_dis"),
            *("r_acc", "r_han", "r_clo", "r_sat", "r_ret", "r_rew", "r_sla", "r_txt"),
        ]
    )
    working = "('dispatched', 'accepted', 'in_progress', 'suspended')"
    return f"""
insert into cases_case (id, division_id, division_path, grid_id, number, category_id, priority,
  title, description, extra, lat, lng, address, channel, reporter_id, reporter_name,
  reporter_phone_enc, reporter_phone_index, client_uuid, body_hash, status, owner_unit_id,
  centre_id, handler_unit_id, checker_id, version, stage, stage_started_at, stage_due, warn_at,
  sla_state, accept_due, handle_due, check_due, steps_due, next_step_due, suspended_at,
  supervised, supervised_by_id, urge_count, return_count, rework_count, self_resolved,
  ever_overdue, handling_minutes, merged_into_id, satisfaction, reported_at, registered_at,
  dispatched_at, accepted_at, handled_at, closed_at, updated_at)
select y.i, y.grid_id, y.path, y.grid_id, 'BI' || lpad(y.i::text, 10, '0'), y.category_id,
  y.priority, y.cat_name, y.cat_name || '：' || ({texts})[1 + floor(y.r_txt * 5)::int],
  '{{}}'::jsonb, null, null, '', y.channel, null, '', '', '', null, '{BODY_MARK}', y.status,
  case when y.status in {working} then y.dept_id else y.centre_id end, y.centre_id,
  case when d.dispatched_at is not null then y.dept_id end, null,
  case when f.self_res then 2 else {version} end,
  st.stage, st.started, st.started + interval '3 days', st.started + interval '2 days',
  sla.state,
  d.dispatched_at + interval '4 hours', a.accepted_at + interval '5 days',
  case when y.status = 'checking' then h.handled_at + interval '2 days' end,
  '[]'::jsonb, null,
  case when y.status = 'suspended' then a.accepted_at + interval '1 day' end,
  false, null, 0,
  case when d.dispatched_at is not null and y.r_ret < 0.04
    then case when y.r_ret < 0.005 then 2 else 1 end else 0 end,
  case when h.handled_at is not null and y.r_rew < 0.03 then 1 else 0 end,
  f.self_res,
  (f.is_open and y.r_sla < 0.14) or (f.is_closed and y.r_sla < 0.08),
  case when h.handled_at is not null
    then (extract(epoch from h.handled_at - d.dispatched_at) / 60 * 0.35)::int end,
  case when y.status = 'merged' then case when y.i > %(lo)s then y.i - 1 else y.i + 1 end end,
  case when y.status = 'evaluated' then case when y.r_sat < 0.02 then 1 when y.r_sat < 0.05
    then 2 when y.r_sat < 0.12 then 3 when y.r_sat < 0.30 then 4 else 5 end end,
  y.reported_at, r.registered_at, d.dispatched_at, a.accepted_at, h.handled_at, cl.closed_at,
  coalesce(cl.closed_at, h.handled_at, a.accepted_at, d.dispatched_at, r.registered_at,
    y.reported_at)
from (
  select x.*, g.id as grid_id, g.path, g.centre_id, g.dept_id, k.id as category_id,
    k.priority, k.name as cat_name, {_status_sql()} as status,
    {_pick("x.r_ch", CHANNELS)} as channel,
    %(start)s::timestamptz + (x.dayn * interval '1 day')
      + ((25200 + x.r_sec * 50400) * interval '1 second') as reported_at
  from (
    select i, dayn, {DAYS} - dayn as age, {rand}
    from (select i, floor(random() * {DAYS})::int as dayn
          from generate_series(%(lo)s::bigint, %(hi)s::bigint) i) s
  ) x
  join bench_g g on g.idx = least(%(grids)s - 1, floor(%(grids)s * power(x.r_grid, 1.3))::int)
  join bench_c k on k.idx = least(%(cats)s - 1, floor(%(cats)s * power(x.r_cat, 2))::int)
  offset 0) y
cross join lateral (select
  y.status not in ('reported', 'voided', 'merged') as filed,
  y.status in {OPEN_SQL} as is_open,
  y.status in ('closed', 'evaluated') as is_closed,
  (y.channel = 'grid_app' and y.status in ('closed', 'evaluated') and y.r_self < 0.15)
    as self_res offset 0) f
cross join lateral (select case when f.filed
  then y.reported_at + (5 + y.r_reg * 55) * interval '1 minute' end as registered_at offset 0) r
cross join lateral (select case when f.filed and not f.self_res and y.status <> 'registered'
  then r.registered_at + (5 + y.r_dis * 115) * interval '1 minute' end as dispatched_at offset 0) d
cross join lateral (select case when d.dispatched_at is not null and y.status <> 'dispatched'
  then d.dispatched_at + case when y.r_acc < 0.92 then (y.r_acc / 0.92 * 230) * interval '1 minute'
    else (240 + y.r_acc * 2880) * interval '1 minute' end end as accepted_at offset 0) a
cross join lateral (select case when a.accepted_at is not null
    and y.status in ('handled', 'checking', 'closed', 'evaluated')
  then a.accepted_at + (60 + y.r_han * 5700) * interval '1 minute' end as handled_at offset 0) h
cross join lateral (select case when f.is_closed then case when f.self_res
    then r.registered_at + interval '1 minute'
    else h.handled_at + (30 + y.r_clo * 1400) * interval '1 minute' end end as closed_at
  offset 0) cl
cross join lateral (select
  case when y.status = 'dispatched' then 'accept'
       when y.status in ('accepted', 'in_progress', 'suspended') then 'handle'
       when y.status = 'checking' then 'check' else '' end as stage,
  case when y.status = 'dispatched' then d.dispatched_at
       when y.status in ('accepted', 'in_progress', 'suspended') then a.accepted_at
       when y.status = 'checking' then h.handled_at end as started offset 0) st
cross join lateral (select case when not f.is_open then 'none'
  when y.r_sla < 0.10 then 'red' when y.r_sla < 0.18 then 'yellow' else 'normal' end as state
  offset 0) sla
"""


def _secondary_indexes(cursor: Any) -> tuple[list[str], list[str], list[str]]:
    """(drop statements, create statements, names) of every cases_case index but the key."""
    cursor.execute(
        "select conname, pg_get_constraintdef(oid) from pg_constraint "
        "where conrelid = 'cases_case'::regclass and contype = 'u'"
    )
    unique = cursor.fetchall()
    cursor.execute(
        "select i.indexname, i.indexdef from pg_indexes i where i.tablename = 'cases_case' "
        "and i.schemaname = current_schema() and i.indexname <> 'cases_case_pkey' "
        "and i.indexname not in (select conname from pg_constraint "
        "where conrelid = 'cases_case'::regclass)"
    )
    plain = cursor.fetchall()
    drops = [f'alter table cases_case drop constraint "{n}"' for n, _d in unique]
    drops += [f'drop index "{n}"' for n, _d in plain]
    creates = [f'alter table cases_case add constraint "{n}" {d}' for n, d in unique]
    creates += [d for _n, d in plain]
    return drops, creates, [n for n, _d in unique] + [n for n, _d in plain]


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """The tree, units and cases; returns what was made and how long each step took."""
    from django.db import connection, transaction

    from civicgrid.catalog.defaults import ensure_default_catalog

    steps: list[dict[str, Any]] = []

    def step(what: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - t0
        steps.append({"what": what, "seconds": seconds})
        _say(f"{what}: {seconds:,.1f} s")
        return out

    step("default catalog", ensure_default_catalog)
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from geo_division")
        if cursor.fetchone()[0]:
            raise RuntimeError("the insights database already holds divisions: rebuild it")

        def tree() -> None:
            with transaction.atomic():
                for _what, statement in TREE_SQL:
                    cursor.execute(statement)

        step("division tree, grid attributes, centres and departments (SQL)", tree)
        cursor.execute("select level, count(*) from geo_division group by level order by level")
        levels = {int(k): int(v) for k, v in cursor.fetchall()}
        cursor.execute("analyze geo_division, geo_grid, accounts_unit, catalog_casecategory")
        step(
            "lookup tables: grid → centre, department (temporary)", lambda: _run(cursor, LOOKUP_SQL)
        )
        cursor.execute("select count(*) from bench_g")
        grids = int(cursor.fetchone()[0])
        cursor.execute("select count(*) from bench_c")
        cats = int(cursor.fetchone()[0])
        if grids != levels.get(6) or not cats:
            raise RuntimeError(f"lookup tables incomplete: {grids} grids, {cats} categories")

        drops, creates, names = _secondary_indexes(cursor)
        step(f"drop the case table's {len(names)} secondary indexes", lambda: _run(cursor, drops))
        n = spec["cases"]
        cursor.execute("select coalesce(max(id), 0) from cases_case")
        first = int(cursor.fetchone()[0]) + 1
        statement = _cases_sql()
        t0 = time.perf_counter()
        for chunk, lo in enumerate(range(first, first + n, CHUNK)):
            hi = min(lo + CHUNK, first + n) - 1
            with transaction.atomic():
                # As superuser, skip the per-row foreign-key triggers; every key is checked
                # with one query per column afterwards (as the sweep benchmark does).
                cursor.execute("set local session_replication_role = replica")
                cursor.execute("set local synchronous_commit = off")
                # JIT-compiling this long expression list takes longer than running it.
                cursor.execute("set local jit = off")
                cursor.execute(
                    "select setseed(%s)", [((spec["seed"] * 7919 + chunk) % 1999) / 1000 - 0.999]
                )
                cursor.execute(
                    statement,
                    {"lo": lo, "hi": hi, "start": _local(START), "grids": grids, "cats": cats},
                )
            _say(f"cases {hi - first + 1:,} of {n:,} ({time.perf_counter() - t0:,.0f} s)")
        steps.append(
            {"what": f"INSERT … SELECT of {n:,} cases", "seconds": time.perf_counter() - t0}
        )

        def rebuild_indexes() -> None:
            cursor.execute("set maintenance_work_mem = '1GB'")
            for create in creates:
                t1 = time.perf_counter()
                cursor.execute(create)
                _say(f"  {create[:90]}… {time.perf_counter() - t1:,.1f} s")

        step(f"recreate the {len(names)} secondary indexes", rebuild_indexes)

        def check_keys() -> None:
            from .sweep import _check_foreign_keys

            _check_foreign_keys("cases_case", "id", first, first + n - 1)

        step("foreign keys checked (one anti-join per column)", check_keys)
        cursor.execute(
            "select setval(pg_get_serial_sequence('cases_case', 'id'), "
            "(select max(id) from cases_case))"
        )
    with _autocommit() as conn:
        step("VACUUM ANALYZE", lambda: conn.execute("vacuum analyze"))
    return {"levels": levels, "categories": cats, "steps": steps, "first_id": first}


def _run(cursor: Any, statements: Sequence[str]) -> None:
    for statement in statements:
        cursor.execute(statement)


def describe_data() -> dict[str, Any]:
    """Mix of the generated cases, table sizes."""
    with _autocommit() as conn:
        mix = dict(
            conn.execute(
                "select status, count(*) from cases_case where body_hash = %s group by status "
                "order by count(*) desc",
                [BODY_MARK],
            ).fetchall()
        )
        flags = conn.execute(
            "select count(*) filter (where self_resolved), count(*) filter (where ever_overdue), "
            "count(*) filter (where return_count > 0), count(*) filter (where rework_count > 0), "
            "count(*) filter (where satisfaction >= 4), count(*) filter (where status in "
            f"{OPEN_SQL} and sla_state = 'red'), min(reported_at at time zone %s)::date, "
            "max(reported_at at time zone %s)::date from cases_case where body_hash = %s",
            [_tz(), _tz(), BODY_MARK],
        ).fetchone()
        size = conn.execute(
            "select pg_total_relation_size('cases_case'), pg_relation_size('cases_case'), "
            "pg_database_size(current_database())"
        ).fetchone()
    keys = ["self-resolved", "ran overdue", "returned", "reworked", "satisfied (4–5)", "open, red"]
    return {
        "mix": mix,
        "flags": dict(zip(keys, [int(v) for v in flags[:6]], strict=True)),
        "first": str(flags[6]),
        "last": str(flags[7]),
        "case_table_bytes": int(size[0]),
        "case_heap_bytes": int(size[1]),
        "database_bytes": int(size[2]),
    }


def grains(known: Sequence[dict[str, Any]] = ()) -> list[dict[str, Any]]:
    """Rows each candidate rollup grain would hold over the whole case table (`known`: counts
    kept with the data; only grains added since are counted)."""
    found = {g["grain"]: g for g in known}
    out = []
    with _autocommit() as conn:
        conn.execute("set work_mem = '256MB'")
        for label, key in GRAINS:
            if label in found:
                out.append(found[label])
                continue
            t0 = time.perf_counter()
            join = " join catalog_casecategory k on k.id = c.category_id" if "k." in key else ""
            rows = conn.execute(
                f"select count(*) from (select 1 from cases_case c{join} group by {key}) s",
                {"tz": _tz()},
            ).fetchone()[0]
            out.append({"grain": label, "rows": int(rows)})
            _say(f"grain {label}: {int(rows):,} rows ({time.perf_counter() - t0:,.0f} s)")
    return out


# --- the child: queries ---------------------------------------------------------------------------
@dataclass
class Probe:
    scope: str
    level: int
    code: str
    path: str
    kind: str
    anchor: dt.date
    group: str


def probes(n: int, seed: int) -> list[Probe]:
    from civicgrid.geo.models import Division

    rng = random.Random(seed)
    out = []
    last = START + dt.timedelta(days=DAYS - 1)
    for level, scope in SCOPES.items():
        areas = list(
            Division.objects.filter(level=level, is_active=True)
            .order_by("path")
            .values_list("code", "path")
        )
        for i in range(n):
            code, path = rng.choice(areas)
            kind = "month" if i % 2 == 0 else "year"
            if kind == "month":
                anchor = START + dt.timedelta(days=rng.randrange(DAYS))
            else:  # whole years of data: 2024, 2025 (and 2026 to the end of October)
                first = dt.date(2024, 1, 1)
                anchor = first + dt.timedelta(days=rng.randrange((last - first).days + 1))
            for group in GROUPS:
                out.append(Probe(scope, level, code, path, kind, anchor, group))
    return out


def _raw_statement(group: str, child_length: int) -> str:
    counters = ", ".join(f"{expr} as {name}" for name, expr in COUNTER_SQL.items())
    where = "c.division_path like %s and c.reported_at >= %s and c.reported_at < %s"
    if group == "child":
        key = f"substr(c.division_path, 1, {child_length})"
        return f"select {key} as g, {counters} from cases_case c where {where} group by 1"
    if group == "major":
        return (
            f"select coalesce(k.parent_id, k.id) as g, {counters} from cases_case c "
            f"join catalog_casecategory k on k.id = c.category_id where {where} group by 1"
        )
    return f"select '' as g, {counters} from cases_case c where {where}"


class Raw:
    """The hand-written side: the period grouped, and the previous period's total."""

    def __init__(self, *, jit: bool) -> None:
        from civicgrid.catalog.models import CaseCategory

        self.codes = dict(CaseCategory.objects.values_list("pk", "code"))
        self.jit = jit

    def __call__(self, probe: Probe) -> dict[str, Any]:
        from django.db import connection

        from civicgrid.geo.choices import PATH_LENGTH
        from civicgrid.insights.query import Period

        period = Period.of(probe.kind, probe.anchor)
        before = period.previous()
        child = PATH_LENGTH[min(probe.level + 1, 6)]
        out: dict[str, Any] = {}
        with connection.cursor() as cursor:
            if not self.jit:
                # JIT compilation (on by default, for plans costed above jit_above_cost) costs
                # more than it saves on these scans: the fair baseline runs without it.
                cursor.execute("set jit = off")
            for name, span, group in (("now", period, probe.group), ("before", before, "")):
                start, end = span.bounds()
                cursor.execute(_raw_statement(group, child), [probe.path + "%", start, end])
                names = [c.name for c in cursor.description]
                rows = {}
                for row in cursor.fetchall():
                    record = dict(zip(names, row, strict=True))
                    key = record.pop("g")
                    if group == "major":
                        key = self.codes.get(key, str(key))
                    rows[str(key)] = {k: int(v or 0) for k, v in record.items()}
                out[name] = rows
            if not self.jit:
                cursor.execute("reset jit")
        return out


def ours(probe: Probe, areas: dict[str, Any]) -> Any:
    from civicgrid.insights.query import KpiQuery, Period, figures

    query = KpiQuery(
        area=areas[probe.code], period=Period.of(probe.kind, probe.anchor), group=probe.group
    )
    return figures(None, query)


def _sum_rows(rows: dict[str, dict[str, int]]) -> dict[str, int]:
    total = dict.fromkeys(COUNTER_SQL, 0)
    for counters in rows.values():
        for name in COUNTER_SQL:
            total[name] += counters.get(name, 0)
    return total


def compare(probe: Probe, figures: Any, raw: dict[str, Any]) -> list[str]:
    """Differences between the figures and the raw answer (empty: they agree)."""
    problems = []

    def case_counters(row: Any) -> dict[str, int]:
        return {name: int(row.counters.get(name, 0)) for name in COUNTER_SQL}

    if case_counters(figures.total) != _sum_rows(raw["now"]):
        problems.append(f"total {case_counters(figures.total)} != raw {_sum_rows(raw['now'])}")
    if figures.previous is None or case_counters(figures.previous) != _sum_rows(raw["before"]):
        problems.append("previous period's total differs")
    if probe.group:
        mine = {r.key: case_counters(r) for r in figures.rows if any(case_counters(r).values())}
        theirs = {k: v for k, v in raw["now"].items() if any(v.values())}
        if mine != theirs:
            differing = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            problems.append(f"{len(differing)} rows differ, e.g. {differing[:3]}")
    return problems


def _ms(seconds: float) -> float:
    return seconds * 1000


def measure_queries(items: list[Probe]) -> dict[str, Any]:
    from civicgrid.geo.models import Division

    areas = {d.code: d for d in Division.objects.filter(code__in={p.code for p in items})}
    sides: dict[str, Callable[[Probe], Any]] = {
        "ours": lambda p: ours(p, areas),
        "raw": Raw(jit=False),
        "raw_jit": Raw(jit=True),
    }
    _say(f"warm-up: {len(items)} queries each side, untimed")
    for probe in items:
        for fn in sides.values():
            fn(probe)
    records = []
    mismatches = []
    names = list(sides)
    for i, probe in enumerate(items):
        order = names[i % 3 :] + names[: i % 3]  # each side goes first in turn
        timing: dict[str, float] = {}
        answers: dict[str, Any] = {}
        for side in order:
            with quiet_gc():
                t0 = time.perf_counter()
                answers[side] = sides[side](probe)
                timing[side] = time.perf_counter() - t0
        problems = compare(probe, answers["ours"], answers["raw"])
        if answers["raw"] != answers["raw_jit"]:
            problems.append("the raw query answered differently with JIT")
        if problems:
            text = f"{probe.scope} {probe.code} {probe.kind} {probe.anchor} group={probe.group!r}: "
            text += "; ".join(problems)
            mismatches.append(text)
            _say("MISMATCH between the rollup and the raw GROUP BY: " + text)
        records.append(
            {
                "scope": probe.scope,
                "group": probe.group,
                "kind": probe.kind,
                "ours_ms": _ms(timing["ours"]),
                "raw_ms": _ms(timing["raw"]),
                "raw_jit_ms": _ms(timing["raw_jit"]),
                "source": answers["ours"].source,
                "cases": answers["ours"].total.counters.get("reported", 0),
            }
        )
    return {"records": records, "mismatches": mismatches}


def explain_raw(probe: Probe) -> str:
    from django.db import connection

    from civicgrid.geo.choices import PATH_LENGTH
    from civicgrid.insights.query import Period

    start, end = Period.of(probe.kind, probe.anchor).bounds()
    statement = _raw_statement(probe.group, PATH_LENGTH[min(probe.level + 1, 6)])
    with connection.cursor() as cursor:
        cursor.execute("explain (analyze, buffers) " + statement, [probe.path + "%", start, end])
        return "\n".join(r[0] for r in cursor.fetchall())


# --- the child: HTTP ------------------------------------------------------------------------------
@dataclass
class Server:
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def start_server(workers: int, threads: int, var_dir: Path) -> Server:
    """`civicgrid serve`'s web half in production mode, with this process's secret key (so that
    a session made here is valid there)."""
    from .intake import _free_port, _tail, gunicorn_command, server_environment

    port = _free_port()
    (var_dir / "static").mkdir(parents=True, exist_ok=True)
    env = server_environment(var_dir)
    env["CIVICGRID_SECRET_KEY"] = os.environ["CIVICGRID_SECRET_KEY"]
    log = var_dir / "gunicorn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            gunicorn_command(workers, threads, port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/cases/", headers={"X-Forwarded-Proto": "https"})
            status = conn.getresponse().status
            conn.close()
            if status == 401:
                return Server(port, process, log)
            raise RuntimeError(f"unexpected answer {status} from the server:\n{_tail(log)}")
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{_tail(log)}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def centre_user() -> Any:
    """A centre-staff account at the province (sees every figure), made once."""
    from civicgrid.accounts.models import RoleAssignment, User
    from civicgrid.accounts.roles import Role
    from civicgrid.geo.models import Division

    province = Division.objects.get(level=1, is_active=True)
    user = User.objects.filter(username=CENTRE_USER).first()
    if user is None:
        user = User(username=CENTRE_USER, full_name="基准中心", division=province)
        user.division_path = province.path
        user.set_unusable_password()
        user.save()
        RoleAssignment.objects.create(
            user=user, role=Role.CENTRE_STAFF, division=province, division_path=province.path
        )
    return user


def measure_http(items: list[Probe], server_spec: str) -> dict[str, Any]:
    from django.test import Client

    from civicgrid.accounts.actions import do_create_token
    from civicgrid.accounts.models import ApiToken

    user = centre_user()
    ApiToken.objects.filter(name=TOKEN_NAME).delete()
    _token, key = do_create_token(user, actor=None, name=TOKEN_NAME)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    workers, threads = (int(x) for x in server_spec.split("x"))
    out: dict[str, Any] = {"server": f"{workers} × {threads}", "api": [], "page": [], "errors": []}
    with tempfile.TemporaryDirectory(prefix="bench-insights-") as folder:
        collect_static(Path(folder))
        server = start_server(workers, threads, Path(folder))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            targets = []
            for probe in items:
                params = {"division": probe.code, "period": probe.kind}
                params["date"] = probe.anchor.isoformat()
                if probe.group:
                    params["group"] = probe.group
                query = urlencode(params)
                targets.append(("api", probe, f"/api/v1/insights/kpis/?{query}"))
                if probe.group == "":  # the page draws every grouping itself
                    targets.append(("page", probe, f"/insights/?{query}"))
            headers = {
                "api": {"Authorization": f"Token {key}", "Accept": "application/json"},
                "page": {"Cookie": f"sessionid={session}", "Accept": "text/html"},
            }

            def get(kind: str, path: str) -> tuple[int, bytes, float]:
                nonlocal conn
                t0 = time.perf_counter()
                try:
                    conn.request(
                        "GET", path, headers={**headers[kind], "X-Forwarded-Proto": "https"}
                    )
                    response = conn.getresponse()
                    body = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
                    status, body = 0, repr(exc).encode()
                return status, body, time.perf_counter() - t0

            _say(f"HTTP warm-up: {len(targets)} requests, untimed")
            for kind, _probe, path in targets:
                get(kind, path)
            for kind, probe, path in targets:
                status, body, seconds = get(kind, path)
                out[kind].append(
                    {
                        "scope": probe.scope,
                        "group": probe.group,
                        "status": status,
                        "ms": _ms(seconds),
                    }
                )
                if status != 200 and len(out["errors"]) < 6:
                    out["errors"].append(f"{status} {path}: {body[:300].decode(errors='replace')}")
            conn.close()
        finally:
            stop_server(server)
            if out["errors"]:
                from .intake import _tail

                out["errors"].append("server log (tail):\n" + _tail(server.log, 40))
    return out


def collect_static(var_dir: Path) -> None:
    """Production serves hashed static files (the pages' templates ask for them): collect
    them as an operator does before `civicgrid serve`."""
    from .intake import server_environment

    done = subprocess.run(
        [
            os.path.join(os.path.dirname(sys.executable), "civicgrid"),
            "collectstatic",
            "--noinput",
            "-v0",
        ],
        env=server_environment(var_dir),
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"collectstatic failed: {done.stderr[-2000:]}")


# --- the child: maintenance -----------------------------------------------------------------------
def maintenance(n_actions: int, seed: int) -> dict[str, Any]:
    """Real case actions, then the refresh of the buckets they marked."""
    from django.db import connection

    from civicgrid.accounts.models import RoleAssignment, Unit, User
    from civicgrid.accounts.roles import Role
    from civicgrid.cases import actions
    from civicgrid.cases.models import Case
    from civicgrid.catalog.models import CaseCategory
    from civicgrid.geo.models import Division
    from civicgrid.insights import rollup
    from civicgrid.insights.models import RollupDirty

    rng = random.Random(seed)
    centre = centre_user()
    handlers: dict[int, Any] = {}

    def handler(unit_id: int) -> Any:
        if unit_id not in handlers:
            user = User.objects.filter(username=f"bench-insights-h{unit_id}").first()
            if user is None:
                unit = Unit.objects.get(pk=unit_id)
                user = User(username=f"bench-insights-h{unit_id}", division_id=unit.division_id)
                user.division_path = unit.division_path
                user.set_unusable_password()
                user.save()
                RoleAssignment.objects.create(
                    user=user,
                    role=Role.DEPARTMENT_HANDLER,
                    division_id=unit.division_id,
                    division_path=unit.division_path,
                    unit=unit,
                )
            handlers[unit_id] = user
        return handlers[unit_id]

    # Half the actions on new cases (report, register, dispatch, accept, start), half on open
    # cases of the last weeks of the data (report back, close, rate): both kinds of bucket.
    new_cases = max(1, n_actions // 2 // 5)
    old_cases = max(1, (n_actions - new_cases * 5) // 3 + 1)
    counties = list(Division.objects.filter(level=3).values_list("path", flat=True))
    chosen = rng.sample(counties, min(10, len(counties)))
    grids = list(
        Division.objects.filter(level=6, path__regex=r"^(" + "|".join(chosen) + ")").defer(
            "boundary"
        )
    )
    departments = {
        u.division_path: u for u in Unit.objects.filter(kind="department", division_path__in=chosen)
    }
    categories = [  # those whose details form asks nothing required (hotline text only)
        c
        for c in CaseCategory.objects.filter(parent__isnull=False, is_active=True)
        if not any(spec.get("required") for spec in c.extra_fields or [])
    ]
    last_day = _local(START + dt.timedelta(days=DAYS))
    with connection.cursor() as cursor:
        cursor.execute("select setseed(%s)", [(seed % 1000) / 1000])
        cursor.execute(
            "select id from cases_case where status = 'in_progress' and body_hash = %s and "
            "reported_at >= %s order by random() limit %s",
            [BODY_MARK, last_day - dt.timedelta(days=60), old_cases],
        )
        old_ids = [r[0] for r in cursor.fetchall()]
    for unit_id in {c.handler_unit_id for c in Case.objects.filter(pk__in=old_ids)}:
        handler(unit_id)
    for unit in departments.values():
        handler(unit.pk)

    def act(name: str, actor: Callable[[Any], Any], **kwargs: Any) -> Callable[[Any], Any]:
        def run_action(case: Any) -> Any:
            fresh = Case.objects.get(pk=case.pk)
            return actions.ACTIONS[name](fresh, actor=actor(fresh), version=fresh.version, **kwargs)

        return run_action

    scripts = []
    for _i in range(new_cases):
        grid = rng.choice(grids)
        dept = departments[grid.path[:6]]
        category = rng.choice(categories)

        def report(_case: Any, grid: Any = grid, category: Any = category) -> Any:
            case, _created = actions.do_report_case(
                actor=centre,
                category=category,
                description="基准测试：热线转办，路面破损",
                channel="hotline",
                division=grid,
            )
            return case

        scripts.append(
            [
                ("report", report),
                ("register", act("register", lambda c: centre)),
                ("dispatch", act("dispatch", lambda c: centre, unit=dept)),
                ("accept", act("accept", lambda c: handler(c.owner_unit_id))),
                ("start", act("start", lambda c: handler(c.owner_unit_id))),
            ]
        )
    for case_id in old_ids:
        scripts.append(
            [
                ("load", lambda _c, case_id=case_id: Case.objects.get(pk=case_id)),
                ("feedback", act("feedback", lambda c: handler(c.owner_unit_id), note="已处理")),
                ("close", act("close", lambda c: centre)),
                ("evaluate", act("evaluate", lambda c: centre, satisfaction=rng.choice([3, 4, 5]))),
            ]
        )
    # Time spent inside rollup.mark: what the dirty marking adds to each action.
    original_mark = rollup.mark
    mark_time = [0.0, 0]

    def timed_mark(keys: Any) -> None:
        t0 = time.perf_counter()
        original_mark(keys)
        mark_time[0] += time.perf_counter() - t0
        mark_time[1] += 1

    durations: list[float] = []
    per_action: dict[str, list[float]] = {}
    before = RollupDirty.objects.count()
    if before:
        rollup.refresh()
    rollup.mark = timed_mark  # type: ignore[assignment]
    touched: set[int] = set()
    try:
        with quiet_gc():
            t_all = time.perf_counter()
            done = 0
            for script in scripts:
                case = None
                for name, fn in script:
                    if done >= n_actions:
                        break
                    t0 = time.perf_counter()
                    case = fn(case)
                    seconds = time.perf_counter() - t0
                    if name == "load":
                        continue
                    durations.append(seconds)
                    per_action.setdefault(name, []).append(seconds)
                    done += 1
                if case is not None:
                    touched.add(case.pk)
                if done >= n_actions:
                    break
            actions_wall = time.perf_counter() - t_all
    finally:
        rollup.mark = original_mark  # type: ignore[assignment]
    marks = RollupDirty.objects.count()
    buckets = RollupDirty.objects.values("month", "area").distinct().count()
    dirty = list(RollupDirty.objects.values_list("month", "area").distinct())
    with quiet_gc():
        t0 = time.perf_counter()
        refreshed = rollup.refresh()
        refresh_seconds = time.perf_counter() - t0
    # The refreshed buckets now equal the live count.
    problems = check_buckets(dirty[:40])
    return {
        "actions": len(durations),
        "cases": len(touched),
        "per_action": {
            k: {"n": len(v), "mean_ms": _ms(statistics.mean(v))} for k, v in per_action.items()
        },
        "actions_wall": actions_wall,
        "action_p50_ms": _ms(statistics.median(durations)),
        "action_p95_ms": _ms(_p95(durations)),
        "mark_seconds": mark_time[0],
        "mark_calls": mark_time[1],
        "marks": marks,
        "buckets": buckets,
        "refreshed": refreshed,
        "refresh_seconds": refresh_seconds,
        "checked_buckets": min(40, len(dirty)),
        "bucket_problems": problems,
    }


def check_buckets(buckets: list[tuple[dt.date, str]]) -> list[str]:
    from civicgrid.geo.models import Division
    from civicgrid.insights.query import KpiQuery, Period, counters

    problems = []
    for month, area in buckets:
        division = Division.objects.filter(path=area, is_active=True).first()
        if division is None:
            continue
        query = KpiQuery(area=division, period=Period.of("month", month))
        rolled, _s = counters(query, query.period, source="rollup")
        live, _s = counters(query, query.period, source="live")
        if rolled.get("", {}) != live.get("", {}):
            problems.append(f"{month:%Y-%m} {area}: rollup {rolled} != live {live}")
            _say(f"MISMATCH after refresh: {problems[-1]}")
    return problems


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# --- the child: the whole run ---------------------------------------------------------------------
def child(arguments: dict[str, Any]) -> dict[str, Any]:
    # Sessions made here must be valid in the server started later: one secret for both.
    os.environ.setdefault("CIVICGRID_SECRET_KEY", secrets.token_urlsafe(60))
    from .database import setup_django

    setup_django(os.environ["DATABASE_URL"])
    from django.db import connection

    from civicgrid.insights import rollup
    from civicgrid.insights.models import CaseRollup, CommunityRollup

    spec = {k: arguments[k] for k in ("cases", "seed", "format")}
    meta = _meta()
    generated_now = False
    if meta.get("spec") != spec:
        if meta:
            raise RuntimeError("the insights database holds other generated data: rebuild it")
        _say(f"generating {spec['cases']:,} cases over {DAYS} days from {START}")
        t0 = time.perf_counter()
        info = generate(spec)
        info["load_seconds"] = time.perf_counter() - t0
        info["grains"] = grains()
        info["data"] = describe_data()
        meta = _meta({"spec": spec, "info": info})
        generated_now = True
    info = meta["info"]
    if {g["grain"] for g in info["grains"]} != {label for label, _key in GRAINS}:
        info["grains"] = grains(info["grains"])
        meta = _meta({"spec": spec, "info": info})
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from cases_case")
        cases = int(cursor.fetchone()[0])

    _say("rollup.rebuild()")
    with quiet_gc():
        t0 = time.perf_counter()
        written = rollup.rebuild()
        rebuild_seconds = time.perf_counter() - t0
    rollup_rows = CaseRollup.objects.count()
    community_rows = CommunityRollup.objects.count()
    with _autocommit() as conn:
        conn.execute("vacuum analyze insights_caserollup")
        conn.execute("vacuum analyze insights_communityrollup")
        rollup_bytes = conn.execute(
            "select pg_total_relation_size('insights_caserollup')"
            " + pg_total_relation_size('insights_communityrollup')"
        ).fetchone()[0]
        settings_rows = conn.execute(
            "select name, setting from pg_settings where name in ('shared_buffers', 'work_mem', "
            "'jit', 'max_parallel_workers_per_gather', 'effective_cache_size') order by name"
        ).fetchall()
    _say(f"rebuild: {written:,} rows in {rebuild_seconds:,.1f} s")

    items = probes(arguments["queries"], arguments["seed"])
    _say(f"measuring {len(items)} queries in-process")
    queries = measure_queries(items)
    slowest = max(
        (p for p in items if p.group == "child"),
        key=lambda p: (p.level == 2, p.kind == "year"),
    )
    plan = explain_raw(slowest)
    _say("measuring the API and the dashboard over HTTP")
    try:
        http_result = measure_http(items, arguments["server"])
    except RuntimeError as exc:
        http_result = {"failed": str(exc)}
        _say(f"HTTP measurement failed: {exc}")
    _say(f"maintenance: {arguments['actions']} case actions, then rollup.refresh()")
    upkeep = maintenance(arguments["actions"], arguments["seed"])
    return {
        "spec": spec,
        "generated_now": generated_now,
        "info": info,
        "cases": cases,
        "rebuild_seconds": rebuild_seconds,
        "rollup_written": written,
        "rollup_rows": rollup_rows + community_rows,
        "township_rows": rollup_rows,
        "community_rows": community_rows,
        "rollup_bytes": int(rollup_bytes),
        "pg_settings": dict(settings_rows),
        "queries": queries,
        "plan": {
            "probe": f"{slowest.scope} {slowest.code}, {slowest.kind} of {slowest.anchor}, "
            f"group {slowest.group!r}",
            "text": plan,
        },
        "http": http_result,
        "maintenance": upkeep,
    }


# --- the report -----------------------------------------------------------------------------------
def _f(ms: float) -> str:
    return f"{ms:,.1f} ms" if ms < 1000 else f"{ms / 1000:,.2f} s"


def _s(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds:,.1f} s" if seconds >= 1 else f"{seconds * 1000:,.0f} ms"


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), _p95(values)


def _render(
    result: dict[str, Any], options: argparse.Namespace, context: dict[str, str], host: dict
) -> str:
    info = result["info"]
    data = info["data"]
    records = result["queries"]["records"]
    mismatches = result["queries"]["mismatches"]
    cases = result["cases"]
    shrink = cases / max(1, result["rollup_rows"])

    # Per scope × grouping, and per scope over all groupings.
    rows, verdict_rows = [], []
    worst_p95, worst_ratio = 0.0, float("inf")
    for scope in SCOPES.values():
        for group in (*GROUPS, None):
            chosen = [
                r for r in records if r["scope"] == scope and (group is None or r["group"] == group)
            ]
            if not chosen:
                continue
            o50, o95 = _stats([r["ours_ms"] for r in chosen])
            r50, r95 = _stats([r["raw_ms"] for r in chosen])
            paired = statistics.median(r["raw_ms"] / r["ours_ms"] for r in chosen)
            sources = sorted({r["source"] for r in chosen})
            label = "**all groupings**" if group is None else GROUP_LABEL[group]
            rows.append(
                [
                    scope if group in ("", None) else "",
                    label,
                    str(len(chosen)),
                    f"{statistics.median(r['cases'] for r in chosen):,.0f}",
                    _f(o50),
                    f"**{_f(o95)}**",
                    _f(r50),
                    _f(r95),
                    f"**{r95 / o95:,.1f}×**",
                    f"{paired:,.1f}×",
                    ", ".join(sources),
                ]
            )
            if group is None:
                worst_p95 = max(worst_p95, o95)
                worst_ratio = min(worst_ratio, r95 / o95)
                verdict_rows.append((scope, o95, r95 / o95))
    header = [
        "scope",
        "figures",
        "queries",
        "cases (median)",
        "ours p50",
        "ours p95",
        "raw p50",
        "raw p95",
        "raw p95 ÷ ours p95",
        "paired median raw ÷ ours",
        "source",
    ]

    http_result = result["http"]
    http_rows: list[list[str]] = []
    api_worst = None
    if "failed" not in http_result:
        for kind, title in (("api", "KPI API"), ("page", "dashboard page")):
            for scope in SCOPES.values():
                for group in (*GROUPS, None) if kind == "api" else ("",):
                    chosen = [
                        r
                        for r in http_result[kind]
                        if r["scope"] == scope and (group is None or r["group"] == group)
                    ]
                    if not chosen:
                        continue
                    ok = sum(1 for r in chosen if r["status"] == 200)
                    p50, p95 = _stats([r["ms"] for r in chosen])
                    if kind == "api" and group is None:
                        api_worst = max(api_worst or 0.0, p95)
                    label = "**all groupings**" if group is None else GROUP_LABEL[group]
                    http_rows.append(
                        [
                            title,
                            scope,
                            label if kind == "api" else "(the page)",
                            str(len(chosen)),
                            f"{ok}",
                            _f(p50),
                            f"**{_f(p95)}**",
                        ]
                    )
    upkeep = result["maintenance"]
    per_thousand = upkeep["refresh_seconds"] * 1000 / max(1, upkeep["actions"])
    mark_share = upkeep["mark_seconds"] / max(1e-9, upkeep["actions_wall"])

    met_p95 = worst_p95 < TARGET_P95_MS and (api_worst is None or api_worst < TARGET_P95_MS)
    met_ratio = worst_ratio >= TARGET_RATIO
    agree = not mismatches and not upkeep["bucket_problems"]
    scope_text = "; ".join(
        f"{scope} p95 {_f(p95)}, {ratio:,.1f}× the raw GROUP BY's"
        for scope, p95, ratio in verdict_rows
    )
    api_text = (
        f"; KPI API over HTTP, worst p95 **{_f(api_worst)}**" if api_worst is not None else ""
    )
    if met_p95 and met_ratio and agree:
        verdict = (
            f"Target met (p95 under {TARGET_P95_MS:g} ms and ≥ {TARGET_RATIO:g}× faster than "
            "the raw GROUP BY): "
        )
    else:
        missed = []
        if not met_p95:
            missed.append(f"p95 under {TARGET_P95_MS:g} ms")
        if not met_ratio:
            missed.append(f"≥ {TARGET_RATIO:g}× the raw GROUP BY")
        if not agree:
            missed.append("rollup = raw answer")
        verdict = f"**Target missed** ({', '.join(missed)}): "
    verdict += f"in-process `figures()`, {scope_text}{api_text}. "
    verdict += (
        f"Rollup: {result['rollup_rows']:,} rows for {cases:,} cases (**{shrink:,.0f}× smaller**), "
        f"rebuilt in {_s(result['rebuild_seconds'])}; maintenance: `refresh()` after "
        f"{upkeep['actions']:,} case actions took **{_s(upkeep['refresh_seconds'])}** "
        f"({per_thousand * 1000:,.0f} ms per 1,000 actions)."
    )
    if mismatches or upkeep["bucket_problems"]:
        verdict += (
            f"\n\n**The rollup disagreed with the raw count** in {len(mismatches)} queries and "
            f"{len(upkeep['bucket_problems'])} refreshed buckets — see *Agreement* below."
        )
    else:
        verdict += (
            f" Every answer ({len(records)} queries, {upkeep['checked_buckets']} refreshed "
            "buckets) equalled the raw count."
        )

    levels = {int(k): int(v) for k, v in info["levels"].items()}
    level_names = {
        1: "province",
        2: "cities",
        3: "counties",
        4: "townships",
        5: "communities",
        6: "grids",
    }
    tree = ", ".join(f"{levels.get(k, 0):,} {v}" for k, v in level_names.items())
    load_rows = [[s["what"], _s(s["seconds"])] for s in info["steps"]]
    load_rows.append(["**all of the data step**", f"**{_s(info['load_seconds'])}**"])
    loaded = (
        "in this run"
        if result["generated_now"]
        else "when the database was built (reused in this run)"
    )
    mix_rows = [
        [k, f"{v:,}", f"{v / max(1, sum(data['mix'].values())):.1%}"]
        for k, v in sorted(data["mix"].items(), key=lambda kv: -kv[1])
    ]
    flag_rows = [[k, f"{v:,}"] for k, v in data["flags"].items()]
    grain_rows = [
        [g["grain"], f"{g['rows']:,}", f"{cases / max(1, g['rows']):,.1f}×"] for g in info["grains"]
    ]
    action_rows = [
        [name, str(v["n"]), _f(v["mean_ms"])] for name, v in upkeep["per_action"].items()
    ]
    http_section = ""
    if "failed" in http_result:
        http_section = f"The HTTP measurement failed: {http_result['failed']}"
    else:
        http_section = markdown_table(
            ["what", "scope", "figures", "requests", "200 answers", "p50", "p95"], http_rows
        )
        if http_result["errors"]:
            http_section += (
                "\n\nNon-200 answers (first few):\n\n```\n"
                + "\n".join(http_result["errors"])
                + "\n```"
            )
    mismatch_text = "none" if not mismatches else "\n\n```\n" + "\n".join(mismatches[:20]) + "\n```"
    bucket_text = (
        "none"
        if not upkeep["bucket_problems"]
        else "\n\n```\n" + "\n".join(upkeep["bucket_problems"][:10]) + "\n```"
    )
    pg = ", ".join(f"{k} {v}" for k, v in result["pg_settings"].items())
    per_mark = upkeep["mark_seconds"] * 1000 / max(1, upkeep["mark_calls"])
    upkeep_table = markdown_table(
        ["", ""],
        [
            [
                "actions, wall clock",
                f"{_s(upkeep['actions_wall'])} (p50 {_f(upkeep['action_p50_ms'])}, "
                f"p95 {_f(upkeep['action_p95_ms'])} per action)",
            ],
            [
                "of which inside `rollup.mark` (the dirty marking)",
                f"{_s(upkeep['mark_seconds'])} over {upkeep['mark_calls']:,} calls "
                f"({mark_share:.1%} of the actions' time, {_f(per_mark)} per call)",
            ],
            [
                "dirty marks written / distinct township-months",
                f"{upkeep['marks']:,} / {upkeep['buckets']:,}",
            ],
            [
                "**`rollup.refresh()`**",
                f"**{_s(upkeep['refresh_seconds'])}** ({upkeep['refreshed']:,} township-months "
                "recomputed)",
            ],
            ["refresh cost per 1,000 actions", f"**{per_thousand * 1000:,.0f} ms**"],
        ],
    )
    quiet = f"; {context['quiet']}" if context.get("quiet") else ""
    return f"""## insights: KPIs over {cases:,} cases

{verdict}

Command (from the repository root):

```
{context["command"]}
```

- date: {context["date"]}{quiet}
- insights database: `{context["target"]}` — {_gib(data["database_bytes"])}; case table
  {_gib(data["case_table_bytes"])} with its indexes ({_gib(data["case_heap_bytes"])} heap)
{machine_markdown(host)}
- PostgreSQL settings (server defaults, untouched): {pg}

### Figures: rollup against a hand-written GROUP BY

{len(records) // (len(SCOPES) * len(GROUPS))} queries per scope and grouping — seeded areas;
months (any of the 36) and calendar years (2024, 2025, 2026 to October) alternating.
"ours" is `civicgrid.insights.query.figures(None, KpiQuery(area, Period.of(kind, date),
group))` in this process (Django ORM, psycopg, the same database connection), with the previous
period's total for comparison as the pages show it; "raw" is the hand-written SQL below over
`cases_case` for the same area and period, grouped the same way, plus the previous period's
total — the same answer. Each query runs once untimed first, then once timed per side,
alternating which side goes first.

{markdown_table(header, rows)}

"source" is what `figures()` reported: `rollup` (whole months from a rollup: `CaseRollup`, or
`CommunityRollup` for a township by its communities) or `live` (the case table).

Why the township ratio stays low: a township's month holds a few hundred cases, which the raw
statement finds through the path and date indexes in 15–35 ms, so 20× would need `figures()` to
answer in about 1–2 ms. It makes 8–11 small queries through the Django ORM (the rollup, the
previous period, the care visits and tags due, the labels), of which about 3 ms is in the
database and the rest is building the queries in Python. The generated cases also lie in the
heap in random date order (`pg_stats` correlation of `reported_at` ≈ 0), so every raw query
reads pages spread over the whole table; in a live system cases arrive in date order and the
raw statement over recent months would be faster still.

### Over HTTP: the KPI API and the dashboard

The production server (`civicgrid serve`'s gunicorn, {http_result.get("server", "?")}
workers × threads, `CIVICGRID_MODE=production`) on this machine, one keep-alive client sending
the requests one after another after an untimed pass: `GET /api/v1/insights/kpis/?division=…
&period=…&date=…&group=…` with a province centre-staff token, and `GET /insights/?…` (the
dashboard page) with that account's session. Latency is from sending the request to reading
the whole answer.

{http_section}

### Rollup maintenance

{upkeep["actions"]:,} real case actions through `civicgrid.cases.actions` on {upkeep["cases"]:,}
cases — new cases reported (centre, hotline channel), registered, dispatched, accepted and
started in 10 counties; open cases of the last 60 days of data reported back, closed and rated
— then `rollup.refresh()` once:

| | |
|---|---|
{upkeep_table}

{markdown_table(["action", "count", "mean"], action_rows)}

### Rollup size and the grain

`rollup.rebuild()`: **{_s(result["rebuild_seconds"])}**, {result["rollup_written"]:,} rows
written ({_gib(result["rollup_bytes"])} with their indexes) for {cases:,} cases: **{shrink:,.1f}×
smaller** than the case table — {result["township_rows"]:,} rows of month × township × major
category (`CaseRollup`) and {result["community_rows"]:,} of month × community
(`CommunityRollup`, which answers a township by its communities and a community's own
figures). Rows each candidate grain would hold over the same cases
(`count(*)` of a GROUP BY over the case table, measured when the data were built):

{markdown_table(["grain", "rows", "cases ÷ rows"], grain_rows)}

### Agreement

Every measured query's total, previous-period total and rows (all {len(COUNTER_SQL)} case
counters) were compared between `figures()` and the raw GROUP BY. Mismatches: {mismatch_text}

After the maintenance refresh, {upkeep["checked_buckets"]} refreshed township-months were
compared between the rollup and the live count: {bucket_text}

### The data

{tree}; one centre per province, city, county and township, one urban-management department
per county; the default catalog ({info["categories"]} minor categories); cases from
{data["first"][:10]} to {data["last"][:10]} (three years, local time {_tz_name()}), spread over
the grids (the first cities heavier: grid index ∝ u^1.3) and categories (a few common ones:
index ∝ u²), reported between 07:00 and 21:00. Statuses by age at the end of the data (older
cases are mostly closed or rated, the last weeks still moving):

{markdown_table(["status", "cases", "share"], mix_rows)}

{markdown_table(["flag", "cases"], flag_rows)}

Timestamps follow the workflow (registered 5–60 min after the report, dispatched 5–120 min
later, 92 % accepted within the 4-hour accept limit, handled 1 h–4 days later, closed within a
day); handling minutes are 35 % of dispatch → report back (working time).

Built {loaded} with SQL (`INSERT … SELECT … FROM generate_series`, chunks of
{CHUNK:,} rows, foreign-key triggers skipped then every key checked with one anti-join per
column, secondary indexes dropped before and rebuilt after):

{markdown_table(["step", "time"], load_rows)}

### The raw GROUP BY

`EXPLAIN (ANALYZE, BUFFERS)` of the raw query for {result["plan"]["probe"]}:

```
{result["plan"]["text"]}
```

(the previous-period total is the same statement without the GROUP BY.)
"""


def _gib(n: float) -> str:
    return f"{n / 2**30:,.2f} GiB" if n >= 2**30 else f"{n / 2**20:,.1f} MiB"


def _tz_name() -> str:
    with contextlib.suppress(Exception):
        return _tz()
    return "Asia/Shanghai"


def _child_main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "--child":
        print("usage: python -m bench.insights --child JSON (started by python -m bench)")
        return 2
    result = child(json.loads(argv[1]))
    print(RESULT_MARK + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
