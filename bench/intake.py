"""Case intake through the HTTP API, against PostgreSQL's own single-row INSERT rate.

The production server is started as `civicgrid serve` starts it (gunicorn, gthread workers,
settings from the environment, CIVICGRID_MODE=production) against the benchmark database, on
127.0.0.1 and a free port. A load generator in this process runs N concurrent clients (threads,
each with its own keep-alive `http.client` connection) posting realistic cases — a few
categories, random points inside the reporting grid worker's own grid, a fresh client UUID
each — with the API tokens of several grid-worker accounts. After a warm-up, a fixed window is
measured: cases per second, latency percentiles, every non-201 answer. Then, in the same run,
the same rows (read back from the database) are inserted by N concurrent psycopg connections,
one row per transaction, into a plain table shaped like the case row: the engine's own rate.

Server, load generator and PostgreSQL share the machine's CPUs; the CPU each used during the
window is read from /proc and reported beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from .common import (
    CpuSnapshot,
    cpu_split,
    descendants,
    grid_workers,
    machine,
    machine_markdown,
    markdown_table,
    quiet_gc,
)

TARGET_RATE = 500.0
TARGET_P95 = 0.100
TOKEN_NAME = "bench-intake"
BASELINE_TABLE = "bench_intake_insert"
# (category code, descriptions): common grid-worker reports with no required details.
CATEGORIES: list[tuple[str, list[str]]] = [
    ("environment.rubbish", ["小区门口垃圾堆积，无人清运", "垃圾桶满溢，周边散落生活垃圾"]),
    ("environment.dirty_road", ["路面油污面积较大，行人易滑倒", "道路有渣土遗撒"]),
    ("environment.street_vending", ["学校门口流动摊贩占道经营", "早市摊点超出划定区域"]),
    ("facility.street_light", ["路灯夜间不亮，已持续三天", "路灯灯杆倾斜"]),
    ("hazard.fire", ["楼道堆放杂物，堵塞消防通道", "电动车在楼道内充电"]),
    ("dispute.neighbour", ["邻里因噪音问题发生争执", "楼上漏水引发邻里纠纷"]),
]
ADDRESSES = ["东门附近", "3号楼南侧", "沿街商铺前", "小区广场", "主路与支路交口"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("intake (case intake through the HTTP API)")
    group.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    group.add_argument(
        "--duration", type=float, default=30.0, help="measured seconds per server configuration"
    )
    group.add_argument(
        "--warmup", type=float, default=10.0, help="warm-up seconds before each measured window"
    )
    group.add_argument(
        "--servers",
        nargs="+",
        default=["3x4", "2x4", "4x4", "2x10"],
        metavar="WORKERSxTHREADS",
        help="gunicorn configurations to measure in turn (default: 3x4, `civicgrid serve`'s "
        "default, then 2x4 4x4 2x10)",
    )
    group.add_argument(
        "--accounts",
        type=int,
        default=20,
        help="grid-worker accounts posting (their tokens are spread over the clients)",
    )
    group.add_argument(
        "--breakdown-requests",
        type=int,
        default=200,
        help="requests timed one at a time in the benchmark process, for the breakdown",
    )
    group.add_argument(
        "--baseline-duration",
        type=float,
        default=10.0,
        help="measured seconds of each PostgreSQL INSERT baseline (after 2 s of warm-up)",
    )


def validate(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if options.clients < 1 or options.accounts < 1 or options.breakdown_requests < 1:
        parser.error("--clients, --accounts and --breakdown-requests must be positive")
    if options.duration <= 0 or options.warmup < 0 or options.baseline_duration <= 0:
        parser.error("--duration and --baseline-duration must be positive, --warmup not negative")
    for spec in options.servers:
        if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", spec):
            parser.error(f"--servers: {spec!r} is not WORKERSxTHREADS, e.g. 3x4")


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


# --- who posts what -------------------------------------------------------------------------------
@dataclass
class Account:
    username: str
    key: str
    points: list[tuple[float, float]]  # (lng, lat) inside the account's own grid


def _accounts(count: int, seed: int, points_each: int = 500) -> list[Account]:
    """Grid workers chosen at random (seeded), each with a fresh API token and random points
    inside their own grid — where a grid worker reports."""
    return [
        Account(user.username, key, points)
        for user, _grid, key, points in grid_workers(count, seed, TOKEN_NAME, points_each)
    ]


def _bodies(account: Account, rng: random.Random) -> Iterator[tuple[str, bytes]]:
    """An endless stream of (client UUID, JSON body) for one account."""
    i = 0
    while True:
        lng, lat = account.points[i % len(account.points)]
        code, texts = rng.choice(CATEGORIES)
        # Fresh on every run (not seeded): a UUID seen before would be answered as a replay.
        client_uuid = str(uuid.uuid4())
        body = {
            "category": code,
            "description": rng.choice(texts),
            "lat": lat,
            "lng": lng,
            "address": rng.choice(ADDRESSES),
            "channel": "grid_app",
            "client_uuid": client_uuid,
        }
        yield client_uuid, json.dumps(body, ensure_ascii=False).encode()
        i += 1


# --- the production server ------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    workers: int
    threads: int
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    command: list[str]

    @property
    def label(self) -> str:
        return f"{self.workers} × {self.threads}"


def gunicorn_command(workers: int, threads: int, port: int) -> list[str]:
    """The web half of `civicgrid serve`, built by the same function."""
    from civicgrid.web.management.commands.serve import gunicorn_command as serve_command

    return serve_command("127.0.0.1", port, workers, threads)


def server_environment(var_dir: Path) -> dict[str, str]:
    """Production settings from the environment, as an operator sets them: behind a reverse
    proxy that terminates TLS (the load generator sends X-Forwarded-Proto like one)."""
    env = dict(os.environ)  # DATABASE_URL is the benchmark database (bench.database)
    env.update(
        {
            "CIVICGRID_MODE": "production",
            "CIVICGRID_DEBUG": "0",
            "CIVICGRID_VAR_DIR": str(var_dir),
            "CIVICGRID_SECRET_KEY": secrets.token_urlsafe(60),
            # A throw-away key: the benchmark's cases carry no encrypted fields.
            "CIVICGRID_ENCRYPTION_KEY": secrets.token_hex(32),
            "CIVICGRID_ALLOWED_HOSTS": "127.0.0.1",
            "CIVICGRID_BEHIND_PROXY": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["DJANGO_SETTINGS_MODULE"] = "civicgrid.config.settings"
    return env


def start_server(workers: int, threads: int, var_dir: Path) -> Server:
    port = _free_port()
    (var_dir / "static").mkdir(parents=True, exist_ok=True)
    log = var_dir / f"gunicorn-{workers}x{threads}.log"
    command = gunicorn_command(workers, threads, port)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            env=server_environment(var_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    server = Server(workers, threads, port, process, log, command)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/v1/cases/", headers={"X-Forwarded-Proto": "https"})
            status = conn.getresponse().status
            conn.close()
            if status == 401:  # up, and answering the API as production does
                return server
            raise RuntimeError(f"unexpected answer {status} from the server:\n{_tail(log)}")
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{_tail(log)}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def _tail(path: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# --- the load generator ---------------------------------------------------------------------------
@dataclass
class Sample:
    start: float
    end: float
    status: int


@dataclass
class ClientLog:
    samples: list[Sample] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # client UUIDs answered with 201
    errors: list[str] = field(default_factory=list)


@dataclass
class Schedule:
    """Set by the main thread before it releases the clients through `gate`."""

    gate: threading.Barrier
    stop_at: float = 0.0


def _client(port: int, account: Account, seed: int, schedule: Schedule, log: ClientLog) -> None:
    rng = random.Random(seed)
    bodies = _bodies(account, rng)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Token {account.key}",
        "X-Forwarded-Proto": "https",
    }
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    schedule.gate.wait()
    stop_at = schedule.stop_at
    perf = time.perf_counter
    while True:
        started = perf()
        if started >= stop_at:
            break
        client_uuid, body = next(bodies)
        try:
            conn.request("POST", "/api/v1/cases/", body, headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status, payload = 0, repr(exc).encode()
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        log.samples.append(Sample(started, perf(), status))
        if status == 201:
            log.created.append(client_uuid)
        elif len(log.errors) < 5:
            log.errors.append(f"{status}: {payload[:300].decode(errors='replace')}")
    conn.close()


@dataclass
class Window:
    """What the clients saw in the measured window, and the CPU everyone used in it."""

    label: str
    seconds: float
    completed: int
    ok: int
    latencies: np.ndarray
    per_second: list[int]
    statuses: Counter[int]
    cpu: dict[str, float]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) if len(self.latencies) else float("nan")


@dataclass
class IntakeRun:
    server: str
    workers: int
    threads: int
    window: Window
    total_created: int
    db_delta: int
    db_uuid_matches: int
    errors: list[str]
    all_statuses: Counter[int]
    log_tail: str = ""


def _window(
    label: str,
    logs: Sequence[ClientLog],
    t0: float,
    t1: float,
    cpu: dict[str, float],
) -> Window:
    """Requests that completed inside [t0, t1): the sustained rate and their latencies."""
    inside = [s for log in logs for s in log.samples if t0 <= s.end < t1]
    ok = [s for s in inside if s.status == 201]
    latencies = np.array([s.end - s.start for s in ok], dtype=float)
    seconds = int(t1 - t0)
    per_second = [0] * max(seconds, 1)
    for s in ok:
        slot = int(s.end - t0)
        if slot < len(per_second):
            per_second[slot] += 1
    statuses = Counter(s.status for s in inside)
    return Window(label, t1 - t0, len(inside), len(ok), latencies, per_second, statuses, cpu)


def _count_cases() -> tuple[int, int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select count(*), coalesce(max(id), 0) from cases_case")
        count, last = cursor.fetchone()
    return int(count), int(last)


def _uuid_matches(created: list[str]) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*) from cases_case where client_uuid = any(%s::uuid[])", [created]
        )
        return int(cursor.fetchone()[0])


def run_load(
    server: Server,
    accounts: Sequence[Account],
    options: argparse.Namespace,
    seed: int,
) -> tuple[Window, list[ClientLog]]:
    clients = options.clients
    logs = [ClientLog() for _ in range(clients)]
    schedule = Schedule(threading.Barrier(clients + 1))
    threads = [
        threading.Thread(
            target=_client,
            args=(server.port, accounts[i % len(accounts)], seed * 1000 + i, schedule, logs[i]),
            name=f"client-{i}",
            daemon=True,
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    t0 = time.perf_counter() + options.warmup
    t1 = t0 + options.duration
    schedule.stop_at = t1
    schedule.gate.wait()
    _sleep_until(t0)
    master = server.process.pid
    snap0 = CpuSnapshot.take()
    _sleep_until(t1)
    snap1 = CpuSnapshot.take()
    for thread in threads:
        thread.join()
    ours = os.getpid()
    server_pids = descendants(snap1.procs, master) | descendants(snap0.procs, master)
    groups: dict[str, Callable[[int, str], bool]] = {
        "load generator": lambda pid, _name: pid == ours,
        "gunicorn": lambda pid, _name: pid in server_pids,
        "PostgreSQL": lambda _pid, name: name.startswith("postgres"),
    }
    cpu = cpu_split(snap0, snap1, groups)
    return _window(server.label, logs, t0, t1, cpu), logs


def _sleep_until(moment: float) -> None:
    while True:
        left = moment - time.perf_counter()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


# --- PostgreSQL's own rate for the same rows ------------------------------------------------------
@dataclass
class Baseline:
    label: str
    window: Window


def _columns_and_rows(after_id: int) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The case rows the API created in this run, every column but the id."""
    import psycopg

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        columns = [
            r[0]
            for r in conn.execute(
                "select column_name from information_schema.columns where table_name = "
                "'cases_case' and table_schema = current_schema() order by ordinal_position"
            )
            if r[0] != "id"
        ]
        listed = ", ".join(f'"{c}"' for c in columns)
        rows = conn.execute(
            f"select {listed} from cases_case where id > %s order by id",
            [after_id],
        ).fetchall()
    return columns, rows


def _insert_client(
    url: str,
    statement: str,
    rows: Sequence[tuple[Any, ...]],
    renew: tuple[int, int],
    first: int,
    step: int,
    schedule: Schedule,
    log: ClientLog,
) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    number_at, uuid_at = renew
    prepared = [[Jsonb(v) if isinstance(v, dict | list) else v for v in row] for row in rows]
    perf = time.perf_counter
    with psycopg.connect(url) as conn:
        schedule.gate.wait()
        stop_at = schedule.stop_at
        i = first
        while True:
            started = perf()
            if started >= stop_at:
                break
            values = prepared[i % len(prepared)]
            # The unique keys must differ from the original row's on every pass.
            values[number_at] = f"{str(values[number_at])[:16]}-{i}"
            values[uuid_at] = uuid.uuid4()
            try:
                conn.execute(statement, values, prepare=True)
                conn.commit()
                status = 201
            except psycopg.Error as exc:
                conn.rollback()
                status = 0
                if len(log.errors) < 5:
                    log.errors.append(repr(exc))
            log.samples.append(Sample(started, perf(), status))
            i += step


def run_baseline(
    label: str,
    create: str,
    columns: list[str],
    rows: Sequence[tuple[Any, ...]],
    options: argparse.Namespace,
) -> Baseline:
    import psycopg

    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop table if exists {BASELINE_TABLE}")
        conn.execute(create.format(table=BASELINE_TABLE))
    listed = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(["%s"] * len(columns))
    statement = f"insert into {BASELINE_TABLE} ({listed}) values ({marks})"
    renew = (columns.index("number"), columns.index("client_uuid"))
    clients = options.clients
    logs = [ClientLog() for _ in range(clients)]
    schedule = Schedule(threading.Barrier(clients + 1))
    threads = [
        threading.Thread(
            target=_insert_client,
            args=(url, statement, rows, renew, i, clients, schedule, logs[i]),
            daemon=True,
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    warmup = 2.0
    t0 = time.perf_counter() + warmup
    t1 = t0 + options.baseline_duration
    schedule.stop_at = t1
    schedule.gate.wait()
    _sleep_until(t0)
    snap0 = CpuSnapshot.take()
    _sleep_until(t1)
    snap1 = CpuSnapshot.take()
    for thread in threads:
        thread.join()
    ours = os.getpid()
    cpu = cpu_split(
        snap0,
        snap1,
        {
            "load generator": lambda pid, _name: pid == ours,
            "PostgreSQL": lambda _pid, name: name.startswith("postgres"),
        },
    )
    window = _window(label, logs, t0, t1, cpu)
    errors = [e for log in logs for e in log.errors]
    if errors:
        raise RuntimeError(f"baseline {label}: INSERT failed: {errors[:3]}")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"drop table if exists {BASELINE_TABLE}")
    return Baseline(label, window)


BASELINES = [
    (
        "plain table shaped like the case row (no index)",
        "create table {table} (like cases_case including defaults including identity "
        "including constraints)",
    ),
    (
        "the same with all of cases_case's indexes and unique constraints",
        "create table {table} (like cases_case including defaults including identity "
        "including constraints including indexes)",
    ),
]


# --- where a request's time goes, one at a time in this process -----------------------------------
def _statement(sql: str) -> str:
    """A short name for a captured statement: its verb and first table."""
    text = " ".join(sql.split()).replace('"', "")
    verb = text.split(" ", 1)[0].upper()
    if verb in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}:
        return "BEGIN / COMMIT / savepoints"
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+([\w.]+)", text, re.IGNORECASE)
    return f"{verb} {table.group(1)}" if table else verb


def breakdown(accounts: Sequence[Account], requests: int, seed: int) -> dict[str, Any]:
    """The same POSTs through Django's test client, one at a time: this process's CPU per
    request and the statements each one sends. Development settings in this process (the
    production ones differ in security headers, not in this path)."""
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")
    rng = random.Random(seed)
    streams = [_bodies(a, rng) for a in accounts]

    def post(i: int) -> None:
        account = accounts[i % len(accounts)]
        _uuid, body = next(streams[i % len(accounts)])
        response = client.generic(
            "POST",
            "/api/v1/cases/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {account.key}",
        )
        if response.status_code != 201:
            raise RuntimeError(f"in-process POST answered {response.status_code}")

    for i in range(10):  # the index, the calendar, the first connection
        post(i)
    with quiet_gc():
        cpu, start = time.process_time(), time.perf_counter()
        for i in range(requests):
            post(i)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - start
    statements: Counter[str] = Counter()
    db_time: Counter[str] = Counter()
    sample = min(requests, 20)

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # Django's query log rounds to the millisecond: time each statement here instead.
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            name = _statement(sql)
            statements[name] += 1
            db_time[name] += time.perf_counter() - start

    with connection.execute_wrapper(timed):
        for i in range(sample):
            post(i)
    queries = sum(statements.values())
    return {
        "requests": requests,
        "cpu_ms": cpu * 1000 / requests,
        "wall_ms": wall * 1000 / requests,
        "queries": queries / sample,
        "db_ms": sum(db_time.values()) * 1000 / sample,
        "statements": [
            (name, count / sample, db_time[name] * 1000 / sample)
            for name, count in statements.most_common()
        ],
    }


# --- the whole benchmark --------------------------------------------------------------------------
def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    host = machine()
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    _say(f"intake: {options.accounts} grid-worker accounts, tokens and points")
    accounts = _accounts(options.accounts, options.seed)
    _count, first_id = _count_cases()
    runs: list[IntakeRun] = []
    var_dir = Path(tempfile.mkdtemp(prefix="civicgrid-bench-intake-"))
    commands = []
    try:
        for n, spec in enumerate(options.servers):
            workers, threads = (int(x) for x in spec.split("x"))
            before, _last = _count_cases()
            _say(f"intake: starting gunicorn, {workers} workers × {threads} threads")
            server = start_server(workers, threads, var_dir)
            commands.append(server.command)
            try:
                _say(
                    f"intake: {options.clients} clients, {options.warmup:g} s warm-up, "
                    f"{options.duration:g} s measured"
                )
                window, logs = run_load(server, accounts, options, options.seed + n)
            finally:
                stop_server(server)
            after, _last = _count_cases()
            created = [u for log in logs for u in log.created]
            all_statuses = Counter(s.status for log in logs for s in log.samples)
            errors = [e for log in logs for e in log.errors]
            run_ = IntakeRun(
                server.label,
                workers,
                threads,
                window,
                len(created),
                after - before,
                _uuid_matches(created),
                errors[:5],
                all_statuses,
                _tail(server.log, 15) if errors else "",
            )
            runs.append(run_)
            _say(
                f"intake: {server.label}: {window.rate:,.0f} cases/s, p95 "
                f"{window.pct(95) * 1000:,.0f} ms, {sum(all_statuses.values()) - len(created)} "
                f"non-201; rows +{after - before} for {len(created)} × 201"
            )
        columns, rows = _columns_and_rows(first_id)
        if not rows:
            raise RuntimeError("the API created no case: nothing to insert for the baseline")
        baselines = []
        for label, create in BASELINES:
            _say(f"intake: PostgreSQL baseline, {label}, {options.clients} connections")
            baselines.append(run_baseline(label, create, columns, rows, options))
            w = baselines[-1].window
            _say(f"intake: baseline: {w.rate:,.0f} rows/s, p95 {w.pct(95) * 1000:,.1f} ms")
        _say(f"intake: {options.breakdown_requests} requests one at a time, in this process")
        detail = breakdown(accounts, options.breakdown_requests, options.seed)
    finally:
        import shutil

        shutil.rmtree(var_dir, ignore_errors=True)
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    caution = ""
    if load > 0.5 * cpus:
        caution = (
            f"Caution: the machine was already busy at the start (load average {load:.1f} on "
            f'{cpus} CPUs); see "other" in the CPU columns for what other processes took '
            "during the measured windows."
        )
    context = {**context, "date": when, "caution": caution}
    return _render(runs, baselines, detail, commands, options, context, host, len(rows))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 0.1 else f"{seconds * 1000:,.0f} ms"


def _cores(cpu: dict[str, float], key: str) -> str:
    return f"{cpu.get(key, 0.0) / cpu['wall']:.2f}"


def _render(
    runs: Sequence[IntakeRun],
    baselines: Sequence[Baseline],
    detail: dict[str, Any],
    commands: Sequence[list[str]],
    options: argparse.Namespace,
    context: dict[str, str],
    host: dict[str, str],
    distinct_rows: int,
) -> str:
    best = max(runs, key=lambda r: r.window.rate)
    plain = baselines[0].window
    met = [
        r
        for r in runs
        if r.window.rate >= TARGET_RATE
        and r.window.pct(95) < TARGET_P95
        and sum(r.all_statuses.values()) == r.total_created
    ]
    target = f"≥ {TARGET_RATE:,.0f} cases/s with p95 under {TARGET_P95 * 1000:.0f} ms"
    if met:
        top = max(met, key=lambda r: r.window.rate)
        verdict = (
            f"Target met ({target}, {options.clients} clients, no error): gunicorn "
            f"{top.server} sustained **{top.window.rate:,.0f} cases/s**, p95 "
            f"**{_ms(top.window.pct(95))}**."
        )
    else:
        verdict = (
            f"**Target missed** ({target} at {options.clients} clients, load generator on the "
            f"same machine): the best configuration, gunicorn {best.server}, sustained "
            f"**{best.window.rate:,.0f} cases/s** with p95 **{_ms(best.window.pct(95))}** — "
            f"{best.window.rate / TARGET_RATE:.0%} of the target rate; PostgreSQL inserts the "
            f"same rows at {plain.rate:,.0f} rows/s. See *Where one request's time goes* below."
        )
    if context["caution"]:
        verdict += "\n\n" + context["caution"]

    header = [
        "gunicorn workers × threads",
        "cases/s",
        "per second: min / median / max",
        "p50",
        "p95",
        "p99",
        "max",
        "non-201",
        "CPU cores: server / PostgreSQL / load gen. / other",
        "CPU ms per case: server / PostgreSQL",
    ]
    rows = []
    for r in runs:
        w = r.window
        per = sorted(w.per_second)
        non_ok = sum(v for k, v in r.all_statuses.items() if k != 201)
        rows.append(
            [
                r.server,
                f"**{w.rate:,.0f}**",
                f"{per[0]:,} / {per[len(per) // 2]:,} / {per[-1]:,}",
                _ms(w.pct(50)),
                f"**{_ms(w.pct(95))}**",
                _ms(w.pct(99)),
                _ms(float(w.latencies.max())) if len(w.latencies) else "–",
                f"{non_ok:,}",
                " / ".join(
                    _cores(w.cpu, k) for k in ("gunicorn", "PostgreSQL", "load generator", "other")
                ),
                f"{w.cpu['gunicorn'] * 1000 / max(w.ok, 1):,.1f} / "
                f"{w.cpu['PostgreSQL'] * 1000 / max(w.ok, 1):,.1f}",
            ]
        )
    base_rows = []
    for b in baselines:
        w = b.window
        base_rows.append(
            [
                b.label,
                f"**{w.rate:,.0f}**",
                _ms(w.pct(50)),
                _ms(w.pct(95)),
                _ms(w.pct(99)),
                " / ".join(_cores(w.cpu, k) for k in ("PostgreSQL", "load generator", "other")),
                f"{w.cpu['PostgreSQL'] * 1000 / max(w.ok, 1):,.2f}",
                f"{best.window.rate / w.rate:.3f}",
            ]
        )
    base_header = [
        f"PostgreSQL INSERT, one row per transaction, {options.clients} connections",
        "rows/s",
        "p50",
        "p95",
        "p99",
        "CPU cores: PostgreSQL / client / other",
        "PostgreSQL CPU ms per row",
        "best API rate ÷ this",
    ]
    stmt_rows = [[name, f"{count:.1f}", f"{ms:.2f}"] for name, count, ms in detail["statements"]]
    checks = []
    for r in runs:
        answered = sum(r.all_statuses.values())
        ok = r.total_created == r.db_delta == r.db_uuid_matches and answered == r.total_created
        checks.append(
            [
                r.server,
                f"{answered:,}",
                f"{r.total_created:,}",
                f"{r.db_delta:,}",
                f"{r.db_uuid_matches:,}",
                "yes" if ok else "**no**",
            ]
        )
    check_header = [
        "gunicorn",
        "requests (warm-up + window + drain)",
        "201 answers",
        "cases_case rows added",
        "rows with a 201's client UUID",
        "all equal",
    ]
    errors = ""
    for r in runs:
        if r.errors:
            errors += f"\nNon-201 answers with gunicorn {r.server} (first {len(r.errors)}):\n\n"
            errors += "```\n" + "\n".join(r.errors) + "\n```\n"
            if r.log_tail:
                errors += "\nServer log (tail):\n\n```\n" + r.log_tail + "\n```\n"
    quiet = f"; {context['quiet']}" if context.get("quiet") else ""
    connections = _connection_note()
    command = " ".join(commands[0]).replace(commands[0][0], "gunicorn").split(" --bind")[0]
    categories = ", ".join(f"`{c}`" for c, _t in CATEGORIES)
    return f"""## case intake (HTTP API)

{verdict}

Command (from the repository root):

```
{context["command"]}
```

- date: {context["date"]}{quiet}
- benchmark database: `{context["database"]}` — {context["city"]}
{machine_markdown(host)}

The server, the load generator and PostgreSQL share these {os.cpu_count()} CPUs: every figure
below includes the load generator's own CPU use (column "load gen."). "other" is what the rest
of the machine used during the window (other people's tests, for instance).

### Throughput and latency

{options.clients} concurrent clients, {options.duration:g} s measured after {options.warmup:g} s of
warm-up, per gunicorn configuration.

{markdown_table(header, rows)}

### PostgreSQL's own INSERT rate for the same rows, same run

{markdown_table(base_header, base_rows)}

The API rate is judged against the first row; the second shows what the case table's
{_index_count()} indexes cost the engine alone.

### Where one request's time goes

The same POST through Django's test client in the benchmark process, one request at a time
({detail["requests"]:,} requests, after 10 untimed): **{detail["cpu_ms"]:.1f} ms of Python CPU
per case** (this process; wall {detail["wall_ms"]:.1f} ms), **{detail["queries"]:.0f} SQL
statements per case**, {detail["db_ms"]:.1f} ms waiting for them (each statement timed through
`connection.execute_wrapper` over 20 of the requests; COMMIT is not a statement there). On
{os.cpu_count()} cores, {TARGET_RATE:,.0f} cases/s leaves
{os.cpu_count() * 1000 / TARGET_RATE:.1f} ms of CPU per case for everything: server, PostgreSQL
and load generator.

{markdown_table(["statement (verb, first table)", "per case", "ms per case"], stmt_rows)}

### Every request accounted for

{markdown_table(check_header, checks)}
{errors}
### Method

- Server: `{command} --bind 127.0.0.1:<free port> …` — the web half of `civicgrid serve`
  (same worker class, access log to stdout, timeouts), started by the benchmark with the
  settings from the environment: `CIVICGRID_MODE=production`, `DATABASE_URL` = the benchmark
  database, `CIVICGRID_VAR_DIR` = a temporary folder, a fresh secret key and encryption key,
  `CIVICGRID_ALLOWED_HOSTS=127.0.0.1`, `CIVICGRID_BEHIND_PROXY=1` (the clients send
  `X-Forwarded-Proto: https`, as the TLS-terminating reverse proxy of a deployment does).
  {connections} The task worker is not started: these
  categories' priorities send no SMS, so intake enqueues nothing.
- Load: {options.clients} client threads in the benchmark process, each with one keep-alive
  `http.client` connection, posting back to back (closed loop, no think time) to
  `POST /api/v1/cases/` with `Authorization: Token …` of {options.accounts} grid-worker accounts
  (seeded random choice, fresh tokens from `do_create_token`). Each body: one of {categories}
  with a Chinese description, a random point inside the worker's own grid (WGS-84), an address,
  `channel=grid_app`, a fresh `client_uuid`.
- Window: requests that completed inside the measured {options.duration:g} s; "cases/s" is
  their 201s divided by the window, latency is from sending the request to reading the whole
  response on the client. Warm-up requests (first requests of each worker build the point→grid
  index and fill the connection pool) are not counted in the window, but are in the check
  table: every request of the run, and the rows and client UUIDs found in `cases_case` after it.
- CPU: read from /proc at the window's edges — the gunicorn master and workers, every
  `postgres` process of the server (including backends of other databases, if any were busy),
  this process (the load generator), and the machine's total busy time.
- Baseline: after the API runs, the {distinct_rows:,} case rows the API created in this run are
  read back (every column but `id`) and inserted again by {options.clients} psycopg connections,
  each `INSERT … VALUES (…)` as a prepared statement followed by `COMMIT` (one row per
  transaction, `synchronous_commit=on`), cycling through the rows with `number` and
  `client_uuid` renewed on every insert; {options.baseline_duration:g} s measured after 2 s of
  warm-up. Table shapes: `CREATE TABLE … (LIKE cases_case INCLUDING DEFAULTS INCLUDING IDENTITY
  INCLUDING CONSTRAINTS)`, then the same `INCLUDING INDEXES`; dropped afterwards.
"""


def _connection_note() -> str:
    """What the settings make of database connections (the server loads the same module)."""
    from django.conf import settings

    age = settings.DATABASES["default"].get("CONN_MAX_AGE")
    if not age:
        return (
            f"The settings load `CONN_MAX_AGE = {age!r}`: every request opens its own "
            "PostgreSQL connection and closes it at the end."
        )
    return f"The settings load `CONN_MAX_AGE = {age!r}`: persistent connections."


def _index_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select count(*) from pg_indexes where tablename = 'cases_case'")
        return int(cursor.fetchone()[0])
