"""The grid worker's field app: sync throughput through the production server against
PostgreSQL's own INSERT rate, and the app shell in Chromium (first-load size, time to
interactive on a throttled connection, opening offline from the service worker).

Sync. The production server is started as `civicgrid serve` starts it (gunicorn, gthread
workers, CIVICGRID_MODE=production) on 127.0.0.1 and a free port, with one addition for
measuring: CIVICGRID_SERVER_TIMING=1 (core/middleware.py), so every answer carries
`Server-Timing: db;dur=…, app;dur=…` — the milliseconds this request spent in the database
(every statement through `connection.execute_wrapper`, plus the COMMIT) and in all. N devices
(threads, default 200, each a grid worker of the city preset with its own API token and
keep-alive connection) post records back to back: case reports, visits, patrols and check-ins
in the phone's JSON, a fresh client UUID each; a share of the posts replay the device's previous
record (a phone whose answer was lost). After a warm-up a fixed window is measured: records
accepted per second (201), client latency percentiles, and from the headers the server's own
time per request and the share of it spent in the database. Then, in the same run, PostgreSQL
inserts the same rows — each accepted record's row and its receipt, one transaction per record,
read back from the database — from as many connections as the server has threads: the engine's
own rate.

App shell. `civicgrid collectstatic` into a temporary folder (whitenoise's compressed manifest
storage, as deployed), the production server again, and Debian's Chromium through Playwright
with a phone's viewport, logged in as the city preset's grid worker by a session cookie. Cold
first load of /field/ (empty cache, no service worker): every response's transferred bytes from
the DevTools protocol. The same cold load on a throttled connection
(`Network.emulateNetworkConditions`, THROTTLE below) up to the app's readiness marker
(`document.body.dataset.started`, set by the app at the end of its start-up), repeated. Then,
with the service worker installed, the browser context offline (`context.set_offline(True)`)
and /field/ opened in a new tab, up to the same marker, repeated.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from . import intake
from .common import (
    CpuSnapshot,
    cpu_split,
    descendants,
    grid_workers,
    machine,
    machine_markdown,
    markdown_table,
)

TOKEN_NAME = "bench-fieldwork"
TARGET_SHELL_BYTES = 300_000  # "app shell under 300 KB compressed" (KB = 1,000 bytes here)
TARGET_OFFLINE_S = 1.0
# Lighthouse's mobile profile ("Slow 4G"): 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up.
THROTTLE = {
    "offline": False,
    "latency": 150,
    "downloadThroughput": 1_600_000 / 8,
    "uploadThroughput": 750_000 / 8,
}
THROTTLE_LABEL = "1.6 Mbit/s down, 750 kbit/s up, 150 ms round-trip latency (Lighthouse's Slow 4G)"
# The app's own readiness marker: main.js sets it at the end of start(), after the home screen
# is drawn from the stored data and, when online, after bootstrap was fetched and the outbox sent.
READY = "document.body && document.body.dataset.started"
CHROMIUM = os.environ.get("CIVICGRID_CHROMIUM", "/usr/bin/chromium")
# As the browser tests launch it (tests/browser/conftest.py).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
KINDS = ("case", "visit", "patrol", "check_in")
KIND_WEIGHTS = (0.35, 0.30, 0.15, 0.20)
PATHS = {"case": "cases/", "visit": "visits/", "patrol": "patrols/", "check_in": "check-ins/"}
TABLES = {
    "case": "cases_case",
    "visit": "fieldwork_visit",
    "patrol": "fieldwork_patrol",
    "check_in": "fieldwork_checkin",
}
API = "/api/v1/field/"
SERVER_TIMING = re.compile(r'db;dur=([\d.]+)(?:;desc="(\d+) statements")?[^,]*,\s*app;dur=([\d.]+)')
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("fieldwork (field app sync and app shell)")
    group.add_argument(
        "--field-devices", type=int, default=200, help="simulated phones syncing (default 200)"
    )
    group.add_argument(
        "--field-duration", type=float, default=30.0, help="measured seconds of sync (30)"
    )
    group.add_argument(
        "--field-warmup", type=float, default=10.0, help="warm-up seconds before them (10)"
    )
    group.add_argument(
        "--field-server",
        default="3x4",
        metavar="WORKERSxTHREADS",
        help="gunicorn workers × threads (default 3x4, `civicgrid serve`'s default)",
    )
    group.add_argument(
        "--field-replay-share",
        type=float,
        default=0.1,
        help="share of posts that replay the device's previous record (0.1)",
    )
    group.add_argument(
        "--field-baseline-duration",
        type=float,
        default=10.0,
        help="measured seconds of the PostgreSQL INSERT baseline (after 2 s of warm-up)",
    )
    group.add_argument(
        "--field-single-duration",
        type=float,
        default=10.0,
        help="measured seconds of one device alone, for the unloaded server time (10)",
    )
    group.add_argument(
        "--field-browser-runs",
        type=int,
        default=5,
        help="throttled cold loads and offline opens, each (default 5)",
    )
    group.add_argument(
        "--field-parts",
        nargs="+",
        choices=("sync", "shell"),
        default=["sync", "shell"],
        help="what to measure (default both)",
    )


def validate(options: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    if options.field_devices < 1 or options.field_browser_runs < 1:
        parser.error("--field-devices and --field-browser-runs must be positive")
    if options.field_duration <= 0 or options.field_warmup < 0:
        parser.error("--field-duration must be positive, --field-warmup not negative")
    if options.field_baseline_duration <= 0 or options.field_single_duration <= 0:
        parser.error("--field-baseline-duration and --field-single-duration must be positive")
    if not 0 <= options.field_replay_share < 1:
        parser.error("--field-replay-share must lie in [0, 1)")
    if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", options.field_server):
        parser.error(f"--field-server: {options.field_server!r} is not WORKERSxTHREADS")


def _say(message: str) -> None:
    print(f"bench: fieldwork: {message}", file=sys.stderr, flush=True)


# --- the devices' accounts and what they send ---------------------------------------------------
@dataclass
class Device:
    username: str
    key: str
    points: list[tuple[float, float]]  # (lat, lng) inside the worker's grid
    households: list[int]
    care: list[tuple[int, int, int | None]]  # (care tag, resident, household)


def _devices(count: int, seed: int) -> list[Device]:
    """Grid workers of the city preset chosen at random (seeded), each with a fresh API token,
    points inside their own grid and the households and care-group members there, if any."""
    from civicgrid.registry.models import CareTag, Household

    devices = []
    for user, grid, key, points in grid_workers(count, seed, TOKEN_NAME, 200):
        households = list(
            Household.objects.filter(division=grid, is_active=True).values_list("pk", flat=True)[
                :50
            ]
        )
        care = [
            (tag, resident, household)
            for tag, resident, household in CareTag.objects.filter(
                division=grid, is_active=True
            ).values_list("pk", "resident_id", "resident__household_id")[:50]
        ]
        # The field API takes (lat, lng) pairs.
        latlng = [(lat, lng) for lng, lat in points]
        devices.append(Device(user.username, key, latlng, households, care))
    return devices


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def make_body(kind: str, device: Device, rng: random.Random) -> dict[str, Any]:
    """One record as the phone sends it, with a fresh client UUID."""
    now = datetime.now(UTC)
    lat, lng = rng.choice(device.points)
    body: dict[str, Any] = {"uuid": str(uuid.uuid4())}
    if kind == "case":
        code, texts = rng.choice(intake.CATEGORIES)
        body.update(
            category=code,
            description=rng.choice(texts),
            lat=lat,
            lng=lng,
            address=rng.choice(intake.ADDRESSES),
            photos=[],
            self_resolve=False,
            note="",
        )
    elif kind == "visit":
        body.update(
            purpose="information",
            visited_at=_iso(now - timedelta(minutes=rng.randint(5, 600))),
            note=rng.choice(["入户走访，了解家庭情况", "询问近期生活困难", "核实人口信息"]),
            lat=lat,
            lng=lng,
            photos=[],
        )
        roll = rng.random()
        if device.care and roll < 0.4:
            tag, resident, household = rng.choice(device.care)
            body.update(purpose="care", care_tag=tag, resident=resident)
            if household:
                body["household"] = household
        elif device.households and roll < 0.7:
            body.update(purpose="household", household=rng.choice(device.households))
    elif kind == "patrol":
        minutes = rng.randint(10, 90)
        start = now - timedelta(minutes=rng.randint(minutes + 5, 600))
        # A point every 15 s, as the app records them.
        track = []
        for i in range(minutes * 4):
            plat, plng = device.points[i % len(device.points)]
            track.append([plat, plng, int(start.timestamp()) + 15 * i])
        body.update(
            started_at=_iso(start),
            ended_at=_iso(start + timedelta(minutes=minutes)),
            track=track,
            note="日常巡查",
            photos=[],
        )
    else:
        body.update(
            at=_iso(now - timedelta(minutes=rng.randint(0, 120))),
            lat=lat,
            lng=lng,
            accuracy=rng.randint(5, 40),
            note="",
        )
    return body


# --- the server -----------------------------------------------------------------------------------
def _start_server(
    workers: int, threads: int, var_dir: Path, extra: dict[str, str]
) -> intake.Server:
    """gunicorn as `civicgrid serve` starts it, with the production settings of intake.py plus
    `extra` in the environment."""
    port = intake._free_port()
    (var_dir / "static").mkdir(parents=True, exist_ok=True)
    log = var_dir / f"gunicorn-{workers}x{threads}-{port}.log"
    command = intake.gunicorn_command(workers, threads, port)
    env = {**intake.server_environment(var_dir), **extra}
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    server = intake.Server(workers, threads, port, process, log, command)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{intake._tail(log)}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", API + "bootstrap/", headers={"X-Forwarded-Proto": "https"})
            status = conn.getresponse().status
            conn.close()
            if status in (401, 403):
                return server
            intake.stop_server(server)
            raise RuntimeError(f"unexpected answer {status} from the server:\n{intake._tail(log)}")
        time.sleep(0.2)
    intake.stop_server(server)
    raise RuntimeError(f"gunicorn did not answer within 60 s:\n{intake._tail(log)}")


# --- the load -------------------------------------------------------------------------------------
@dataclass
class Sample:
    kind: str  # a record kind, or "replay"
    start: float
    end: float
    status: int
    db_ms: float | None
    app_ms: float | None
    statements: int | None = None


@dataclass
class DeviceLog:
    samples: list[Sample] = field(default_factory=list)
    created: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)


def _device(
    port: int,
    device: Device,
    seed: int,
    replay_share: float,
    keep_alive: bool,
    ramp: float,
    schedule: intake.Schedule,
    log: DeviceLog,
) -> None:
    rng = random.Random(seed)
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Token {device.key}",
        "X-Forwarded-Proto": "https",
    }
    if not keep_alive:
        # A new connection for every request, as a reverse proxy without upstream keep-alive
        # (nginx's default) makes them.
        headers["Connection"] = "close"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    previous: tuple[str, bytes] | None = None
    schedule.gate.wait()
    stop_at = schedule.stop_at
    time.sleep(rng.uniform(0, ramp))  # phones do not all connect in the same instant
    perf = time.perf_counter
    while True:
        started = perf()
        if started >= stop_at:
            break
        if previous is not None and rng.random() < replay_share:
            kind, (record_kind, body) = "replay", previous
        else:
            record_kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
            data = make_body(record_kind, device, rng)
            body = json.dumps(data, ensure_ascii=False).encode()
            kind = record_kind
        try:
            conn.request("POST", API + PATHS[record_kind], body, headers)
            response = conn.getresponse()
            payload = response.read()
            status = response.status
            timing = SERVER_TIMING.search(response.headers.get("Server-Timing", ""))
        except (OSError, http.client.HTTPException) as exc:
            status, payload, timing = 0, repr(exc).encode(), None
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        log.samples.append(
            Sample(
                kind,
                started,
                perf(),
                status,
                float(timing[1]) if timing else None,
                float(timing[3]) if timing else None,
                int(timing[2]) if timing and timing[2] else None,
            )
        )
        expected = 200 if kind == "replay" else 201
        if status == expected:
            if kind != "replay":
                log.created[record_kind].append(json.loads(body)["uuid"])
                previous = (record_kind, body)
        elif len(log.errors) < 5:
            log.errors.append(f"{kind} {status}: {payload[:300].decode(errors='replace')}")
    conn.close()


@dataclass
class SyncResult:
    keep_alive: bool
    per_device: list[int]  # records accepted in the window, per device
    per_device_p50: list[float]  # each device's median latency in the window (s)
    label: str
    devices: int
    seconds: float
    samples: list[Sample]  # completed inside the window
    all_statuses: Counter[tuple[str, int]]
    created: dict[str, list[str]]
    cpu: dict[str, float]
    errors: list[str]
    rows_per_record: list[tuple[str, float, float]]  # table, inserted, updated per record
    found: dict[str, int]  # rows found in the database for the 201s, per kind
    receipts: int
    backends: dict[str, float]  # mean number of the server's backends in each state
    log_tail: str = ""

    def ok(self, kind: str | None = None) -> list[Sample]:
        return [
            s
            for s in self.samples
            if (s.status == 201 and s.kind != "replay" and kind in (None, s.kind))
        ]

    @property
    def rate(self) -> float:
        return len(self.ok()) / self.seconds

    @property
    def share(self) -> float:
        """The share of the server's time per accepted record spent in the database."""
        ok = self.ok()
        app = sum(s.app_ms or 0 for s in ok)
        return sum(s.db_ms or 0 for s in ok) / app if app else float("nan")


def _table_writes() -> dict[str, tuple[int, int]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("select pg_stat_force_next_flush()")
        cursor.execute("select relname, n_tup_ins, n_tup_upd from pg_stat_user_tables")
        return {name: (int(ins), int(upd)) for name, ins, upd in cursor.fetchall()}


def run_sync(
    devices: Sequence[Device],
    options: argparse.Namespace,
    var_dir: Path,
    warmup: float,
    duration: float,
    *,
    keep_alive: bool,
) -> SyncResult:
    workers, threads = (int(x) for x in options.field_server.split("x"))
    writes_before = _table_writes()
    _say(f"starting gunicorn {workers} × {threads} with CIVICGRID_SERVER_TIMING=1")
    server = _start_server(workers, threads, var_dir, {"CIVICGRID_SERVER_TIMING": "1"})
    logs = [DeviceLog() for _ in devices]
    schedule = intake.Schedule(threading.Barrier(len(devices) + 1))
    try:
        pool = [
            threading.Thread(
                target=_device,
                args=(
                    server.port,
                    device,
                    options.seed * 10_000 + i,
                    options.field_replay_share,
                    keep_alive,
                    warmup / 2,
                    schedule,
                    logs[i],
                ),
                name=f"device-{i}",
                daemon=True,
            )
            for i, device in enumerate(devices)
        ]
        for thread in pool:
            thread.start()
        _say(f"{len(devices)} device(s), {warmup:g} s warm-up, {duration:g} s measured")
        t0 = time.perf_counter() + warmup
        t1 = t0 + duration
        schedule.stop_at = t1
        schedule.gate.wait()
        intake._sleep_until(t0)
        snap0 = CpuSnapshot.take()
        sampler = _BackendSampler(t1)
        sampler.start()
        intake._sleep_until(t1)
        snap1 = CpuSnapshot.take()
        sampler.join()
        for thread in pool:
            thread.join()
    finally:
        intake.stop_server(server)
    writes_after = _table_writes()
    ours, master = os.getpid(), server.process.pid
    server_pids = descendants(snap1.procs, master) | descendants(snap0.procs, master)
    groups: dict[str, Callable[[int, str], bool]] = {
        "load generator": lambda pid, _name: pid == ours,
        "gunicorn": lambda pid, _name: pid in server_pids,
        "PostgreSQL": lambda _pid, name: name.startswith("postgres"),
    }
    cpu = cpu_split(snap0, snap1, groups)
    samples = [s for log in logs for s in log.samples if t0 <= s.end < t1]
    created: dict[str, list[str]] = defaultdict(list)
    for log in logs:
        for kind, uuids in log.created.items():
            created[kind] += uuids
    statuses = Counter((s.kind, s.status) for log in logs for s in log.samples)
    accepted = sum(len(u) for u in created.values())
    rows = []
    for table, (ins, upd) in sorted(writes_after.items()):
        ins0, upd0 = writes_before.get(table, (0, 0))
        if (ins - ins0 or upd - upd0) and not table.startswith("bench_"):
            rows.append((table, (ins - ins0) / max(accepted, 1), (upd - upd0) / max(accepted, 1)))
    rows.sort(key=lambda r: -(r[1] + r[2]))
    found, receipts = _found(created)
    errors = [e for log in logs for e in log.errors]
    per_device, per_device_p50 = [], []
    for log in logs:
        mine = [s for s in log.samples if t0 <= s.end < t1]
        per_device.append(sum(1 for s in mine if s.status == 201 and s.kind != "replay"))
        if mine:
            per_device_p50.append(statistics.median(s.end - s.start for s in mine))
    return SyncResult(
        keep_alive,
        per_device,
        per_device_p50,
        server.label,
        len(devices),
        t1 - t0,
        samples,
        statuses,
        dict(created),
        cpu,
        errors[:5],
        rows,
        found,
        receipts,
        sampler.means(),
        intake._tail(server.log, 15) if errors else "",
    )


class _BackendSampler(threading.Thread):
    """What the server's PostgreSQL backends are doing, sampled every 50 ms from
    pg_stat_activity: running, waiting for a lock, for the WAL flush at commit, for the client
    (Django between two statements of a transaction, or idle)."""

    def __init__(self, until: float) -> None:
        super().__init__(daemon=True)
        self.until = until
        self.samples = 0
        self.states: Counter[str] = Counter()

    def run(self) -> None:
        import psycopg

        with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
            while time.perf_counter() < self.until:
                rows = conn.execute(
                    "select state, wait_event_type, wait_event from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid() "
                    "and backend_type = 'client backend'"
                ).fetchall()
                self.samples += 1
                for state, kind, event in rows:
                    self.states[_backend_state(state, kind, event)] += 1
                time.sleep(0.05)

    def means(self) -> dict[str, float]:
        return {k: v / max(self.samples, 1) for k, v in self.states.most_common()}


def _backend_state(state: str | None, kind: str | None, event: str | None) -> str:
    if state == "active":
        if kind is None:
            return "running (CPU)"
        if kind == "Lock":
            return f"waiting for a lock ({event})"
        if kind == "IO" and event and event.startswith("WAL"):
            return f"writing/flushing WAL ({event})"
        if kind == "LWLock" and event and event.startswith("WAL"):
            return f"waiting for the WAL ({event})"
        return f"waiting: {kind} ({event})"
    if state == "idle in transaction":
        return "idle in transaction (Django working between statements)"
    return "idle (between requests)"


def _found(created: dict[str, list[str]]) -> tuple[dict[str, int], int]:
    """Rows in the database for the client UUIDs answered with 201, and their receipts."""
    from django.db import connection

    found = {}
    with connection.cursor() as cursor:
        for kind, uuids in created.items():
            cursor.execute(
                f"select count(*) from {TABLES[kind]} where client_uuid = any(%s::uuid[])",
                [uuids],
            )
            found[kind] = int(cursor.fetchone()[0])
        everything = [u for uuids in created.values() for u in uuids]
        cursor.execute(
            "select count(*) from fieldwork_receipt where uuid = any(%s::uuid[])", [everything]
        )
        receipts = int(cursor.fetchone()[0])
    return found, receipts


# --- PostgreSQL's own rate for the same rows ------------------------------------------------------
@dataclass
class Baseline:
    connections: int
    seconds: float
    latencies: np.ndarray
    done: int
    cpu: dict[str, float]
    pairs: int

    @property
    def rate(self) -> float:
        return self.done / self.seconds


def _columns(conn: Any, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_name = %s and "
            "table_schema = current_schema() order by ordinal_position",
            [table],
        )
        if r[0] != "id"
    ]


def run_baseline(created: dict[str, list[str]], connections: int, seconds: float) -> Baseline:
    """Each accepted record's row and its receipt row again, one transaction per record, into
    copies of the tables with their indexes and constraints (`LIKE … INCLUDING ALL`)."""
    import psycopg
    from psycopg.types.json import Jsonb

    url = os.environ["DATABASE_URL"]
    statements: dict[str, str] = {}
    work: list[tuple[str, list[Any], list[Any]]] = []  # kind, receipt values, record values
    renew: dict[str, list[int]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ["fieldwork_receipt", *TABLES.values()]:
            copy = f"bench_field_{table}"
            conn.execute(f"drop table if exists {copy}")
            conn.execute(f"create table {copy} (like {table} including all)")
            columns = _columns(conn, table)
            listed = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join(["%s"] * len(columns))
            statements[table] = f"insert into {copy} ({listed}) values ({marks})"
            renew[table] = [
                columns.index(c) for c in ("uuid", "client_uuid", "number") if c in columns
            ]
        receipt_columns = _columns(conn, "fieldwork_receipt")
        listed = ", ".join(f'"{c}"' for c in receipt_columns)
        for kind, uuids in created.items():
            table = TABLES[kind]
            columns = _columns(conn, table)
            record_listed = ", ".join(f'"{c}"' for c in columns)
            records = {
                str(r[0]): list(r[1:])
                for r in conn.execute(
                    f"select client_uuid, {record_listed} from {table} "
                    "where client_uuid = any(%s::uuid[])",
                    [uuids],
                )
            }
            for r in conn.execute(
                f"select uuid, {listed} from fieldwork_receipt where uuid = any(%s::uuid[])",
                [uuids],
            ):
                if str(r[0]) in records:
                    work.append((kind, list(r[1:]), records[str(r[0])]))
    if not work:
        raise RuntimeError("the API created no record: nothing to insert for the baseline")
    work = [
        (
            k,
            [Jsonb(v) if isinstance(v, dict | list) else v for v in rec],
            [Jsonb(v) if isinstance(v, dict | list) else v for v in row],
        )
        for k, rec, row in work
    ]
    logs = [intake.ClientLog() for _ in range(connections)]
    schedule = intake.Schedule(threading.Barrier(connections + 1))

    def client(first: int, log: intake.ClientLog) -> None:
        perf = time.perf_counter
        with psycopg.connect(url) as conn:
            schedule.gate.wait()
            stop_at = schedule.stop_at
            i = first
            while True:
                started = perf()
                if started >= stop_at:
                    break
                kind, receipt, record = work[i % len(work)]
                receipt, record = list(receipt), list(record)
                fresh = uuid.uuid4()
                for at in renew["fieldwork_receipt"]:
                    receipt[at] = fresh
                for at in renew[TABLES[kind]]:
                    record[at] = fresh if isinstance(record[at], uuid.UUID) else f"F{i}-{first}"
                try:
                    conn.execute(statements["fieldwork_receipt"], receipt, prepare=True)
                    conn.execute(statements[TABLES[kind]], record, prepare=True)
                    conn.commit()
                    status = 201
                except psycopg.Error as exc:
                    conn.rollback()
                    status = 0
                    if len(log.errors) < 3:
                        log.errors.append(repr(exc))
                log.samples.append(intake.Sample(started, perf(), status))
                i += connections

    pool = [
        threading.Thread(target=client, args=(i, logs[i]), daemon=True) for i in range(connections)
    ]
    for thread in pool:
        thread.start()
    t0 = time.perf_counter() + 2.0
    t1 = t0 + seconds
    schedule.stop_at = t1
    schedule.gate.wait()
    intake._sleep_until(t0)
    snap0 = CpuSnapshot.take()
    intake._sleep_until(t1)
    snap1 = CpuSnapshot.take()
    for thread in pool:
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
    errors = [e for log in logs for e in log.errors]
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ["fieldwork_receipt", *TABLES.values()]:
            conn.execute(f"drop table if exists bench_field_{table}")
    if errors:
        raise RuntimeError(f"baseline INSERT failed: {errors[:3]}")
    inside = [s for log in logs for s in log.samples if t0 <= s.end < t1 and s.status == 201]
    latencies = np.array([s.end - s.start for s in inside], dtype=float)
    return Baseline(connections, t1 - t0, latencies, len(inside), cpu, len(work))


# --- the app shell in Chromium --------------------------------------------------------------------
@dataclass
class Transfer:
    url: str
    kind: str  # the DevTools resource type
    status: int
    encoding: str
    transferred: int  # bytes on the wire, headers included (encodedDataLength)
    body: int  # decoded bytes
    from_sw: bool = False


@dataclass
class ShellResult:
    user: str
    page: list[Transfer]
    worker: list[tuple[str, int]]  # the service worker's own fetches: url, bytes
    browser: str
    first_ready_s: float | None
    throttled: list[tuple[float, float]]  # (ready, DOMContentLoaded) seconds
    throttled_transfer: list[int]
    offline: list[float]
    offline_network: list[int]  # responses not from the service worker while offline
    offline_failed: list[int]  # requests that failed while offline (the app trying to sync)
    offline_sw: list[int]  # responses the service worker gave
    notes: list[str]


def _collectstatic(var_dir: Path) -> float:
    env = intake.server_environment(var_dir)
    cli = Path(sys.executable).with_name("civicgrid")
    started = time.perf_counter()
    subprocess.run(
        [str(cli), "collectstatic", "--noinput", "-v", "0"],
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return time.perf_counter() - started


def _session_cookie(username: str, secret: str) -> str:
    """A logged-in session for `username`, signed with the server's secret key."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import override_settings

    from civicgrid.accounts.models import User

    user = User.objects.get(username=username)
    with override_settings(SECRET_KEY=secret):
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        assert store.session_key
        return store.session_key


def _grid_worker() -> tuple[str, tuple[float, float]]:
    """The city preset's demo grid worker (its grid has households and care-group members, so
    bootstrap carries a realistic amount of data) and a point inside the grid (lat, lng)."""
    from shapely.geometry import shape

    from civicgrid.accounts.models import User

    user = User.objects.select_related("division").get(username="gridworker")
    boundary = user.division.boundary if user.division else None
    if boundary:
        point = shape(boundary).representative_point()
        return user.username, (point.y, point.x)
    return user.username, (37.38, 117.97)


# Records the moment the readiness marker appears (performance.now(), from navigation start).
READY_PROBE = """
(() => {
  const mark = () => {
    if (document.body && document.body.dataset.started && window.__benchReady === undefined) {
      window.__benchReady = performance.now();
    }
  };
  new MutationObserver(mark).observe(document, {attributes: true, subtree: true,
                                                attributeFilter: ["data-started"]});
  mark();
})();
"""


class _Recorder:
    """Every network response of one page, from the DevTools protocol."""

    def __init__(self, context: Any, page: Any) -> None:
        self.cdp = context.new_cdp_session(page)
        self.responses: dict[str, dict[str, Any]] = {}
        self.finished: dict[str, int] = {}
        self.failed: list[str] = []
        self.cdp.on("Network.responseReceived", self._response)
        self.cdp.on("Network.loadingFinished", self._finished)
        self.cdp.on("Network.loadingFailed", lambda e: self.failed.append(e.get("errorText", "")))
        self.cdp.send("Network.enable")

    def _response(self, event: dict[str, Any]) -> None:
        self.responses[event["requestId"]] = {"type": event.get("type", ""), **event["response"]}

    def _finished(self, event: dict[str, Any]) -> None:
        self.finished[event["requestId"]] = int(event.get("encodedDataLength", 0))

    def throttle(self, conditions: dict[str, Any]) -> None:
        self.cdp.send("Network.emulateNetworkConditions", conditions)

    def transfers(self) -> list[Transfer]:
        out = []
        for rid, resp in self.responses.items():
            headers = {k.lower(): v for k, v in (resp.get("headers") or {}).items()}
            out.append(
                Transfer(
                    resp["url"],
                    resp["type"],
                    int(resp.get("status", 0)),
                    headers.get("content-encoding", ""),
                    self.finished.get(rid, int(resp.get("encodedDataLength", 0))),
                    int(headers.get("content-length", 0) or 0),
                    bool(resp.get("fromServiceWorker")),
                )
            )
        return out


def _wait_ready(page: Any, timeout_ms: float = 60_000) -> float | None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(READY, timeout=timeout_ms)
    except PlaywrightTimeout as exc:
        raise RuntimeError(
            f"the app did not set its readiness marker ({READY}) within {timeout_ms / 1000:g} s"
        ) from exc
    ready = page.evaluate("window.__benchReady")
    return float(ready) / 1000 if ready is not None else None


def run_shell(options: argparse.Namespace, var_dir: Path) -> ShellResult:
    from playwright.sync_api import sync_playwright

    _say("collectstatic for the production server (compressed manifest storage)")
    _collectstatic(var_dir)
    secret = intake.server_environment(var_dir)["CIVICGRID_SECRET_KEY"]
    username, (lat, lng) = _grid_worker()
    # Sessions made before Playwright's event loop runs in this thread (the ORM is sync-only).
    sessions = [_session_cookie(username, secret) for _ in range(options.field_browser_runs + 1)]
    notes: list[str] = []
    # The browser talks to the server directly (no TLS proxy in front): no redirect to https.
    server = _start_server(
        3,
        4,
        var_dir,
        {"CIVICGRID_SECRET_KEY": secret, "CIVICGRID_SSL_REDIRECT": "0"},
    )
    base = f"http://127.0.0.1:{server.port}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)

            def context() -> Any:
                ctx = browser.new_context(
                    **PHONE,
                    geolocation={"latitude": lat, "longitude": lng},
                    permissions=["geolocation"],
                    service_workers="allow",
                )
                ctx.add_cookies([{"name": "sessionid", "value": sessions.pop(), "url": base}])
                ctx.add_init_script(READY_PROBE)
                return ctx

            # 1. Cold first load, full speed: what travels.
            _say("cold first load of /field/")
            ctx = context()
            page = ctx.new_page()
            worker_fetches: list[tuple[str, int]] = []

            def from_worker(request: Any) -> None:
                if request.service_worker is not None:
                    with contextlib.suppress(Exception):
                        sizes = request.sizes()
                        worker_fetches.append(
                            (request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"])
                        )

            ctx.on("requestfinished", from_worker)
            recorder = _Recorder(ctx, page)
            page.goto(base + "/field/")
            first_ready = _wait_ready(page)
            # The service worker installs (precaching the shell) and takes control.
            page.evaluate(
                "navigator.serviceWorker ? navigator.serviceWorker.ready.then(() => true) : false"
            )
            page.wait_for_timeout(1500)
            page_transfers = recorder.transfers()
            browser_version = browser.version
            # 2. Offline opens from the service worker, in the same context.
            _say(f"{options.field_browser_runs} offline opens")
            ctx.set_offline(True)
            offline: list[float] = []
            offline_network: list[int] = []
            offline_failed: list[int] = []
            offline_sw: list[int] = []
            for _ in range(options.field_browser_runs):
                tab = ctx.new_page()
                tab_recorder = _Recorder(ctx, tab)
                tab.goto(base + "/field/")
                ready = _wait_ready(tab, 30_000)
                offline.append(ready if ready is not None else float("nan"))
                served = tab_recorder.transfers()
                offline_network.append(sum(1 for t in served if not t.from_sw))
                offline_failed.append(len(tab_recorder.failed))
                offline_sw.append(sum(1 for t in served if t.from_sw))
                tab.close()
            ctx.close()
            # 3. Cold loads on a throttled connection, each in a fresh context.
            _say(f"{options.field_browser_runs} throttled cold loads ({THROTTLE_LABEL})")
            throttled: list[tuple[float, float]] = []
            throttled_transfer: list[int] = []
            for _ in range(options.field_browser_runs):
                ctx = context()
                page = ctx.new_page()
                recorder = _Recorder(ctx, page)
                recorder.throttle(THROTTLE)
                page.goto(base + "/field/", timeout=120_000)
                ready = _wait_ready(page, 120_000)
                dcl = page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
                )
                throttled.append(
                    (ready if ready is not None else float("nan"), float(dcl or 0) / 1000)
                )
                throttled_transfer.append(sum(t.transferred for t in recorder.transfers()))
                ctx.close()
            browser.close()
    finally:
        intake.stop_server(server)
    return ShellResult(
        username,
        page_transfers,
        worker_fetches,
        browser_version,
        first_ready,
        throttled,
        throttled_transfer,
        offline,
        offline_network,
        offline_failed,
        offline_sw,
        notes,
    )


# --- the whole benchmark --------------------------------------------------------------------------
def run(options: argparse.Namespace, context: dict[str, str]) -> str:
    host = machine()
    load, cpus = os.getloadavg()[0], os.cpu_count() or 1
    var_dir = Path(tempfile.mkdtemp(prefix="civicgrid-bench-fieldwork-"))
    sync: SyncResult | None = None
    kept: SyncResult | None = None
    alone: SyncResult | None = None
    baseline: Baseline | None = None
    shell: ShellResult | None = None
    try:
        if "sync" in options.field_parts:
            _say(f"{options.field_devices} grid-worker accounts, tokens and points")
            devices = _devices(options.field_devices, options.seed)
            _say("devices on a new connection per request (as through a reverse proxy)")
            sync = run_sync(
                devices,
                options,
                var_dir,
                options.field_warmup,
                options.field_duration,
                keep_alive=False,
            )
            _say(
                f"{sync.rate:,.0f} records/s accepted, p95 "
                f"{_pct([s.end - s.start for s in sync.ok()], 95) * 1000:,.0f} ms"
            )
            _say("devices on keep-alive connections straight to gunicorn")
            kept = run_sync(
                devices,
                options,
                var_dir,
                options.field_warmup,
                options.field_duration,
                keep_alive=True,
            )
            _say(
                f"{kept.rate:,.0f} records/s accepted, p95 "
                f"{_pct([s.end - s.start for s in kept.ok()], 95) * 1000:,.0f} ms"
            )
            workers, threads = (int(x) for x in options.field_server.split("x"))
            _say(f"PostgreSQL baseline, {workers * threads} connections")
            baseline = run_baseline(
                sync.created, workers * threads, options.field_baseline_duration
            )
            _say(f"baseline: {baseline.rate:,.0f} records/s")
            _say("one device alone: the server's time per record without queueing")
            alone = run_sync(
                devices[:1], options, var_dir, 3.0, options.field_single_duration, keep_alive=True
            )
        if "shell" in options.field_parts:
            shell = run_shell(options, var_dir)
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    when = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    caution = ""
    if load > 0.5 * cpus:
        caution = (
            f"Caution: the machine was already busy at the start (load average {load:.1f} on "
            f'{cpus} CPUs); see "other" in the CPU columns.'
        )
    return _render(
        sync, kept, alone, baseline, shell, options, {**context, "date": when}, host, caution
    )


# --- the report -----------------------------------------------------------------------------------
def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.array(values, dtype=float), q)) if len(values) else float("nan")


def _ms(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "–"
    return f"{seconds * 1000:,.1f} ms" if seconds < 0.1 else f"{seconds * 1000:,.0f} ms"


def _kb(n: float) -> str:
    return f"{n / 1000:,.1f} KB"


def _cores(cpu: dict[str, float], key: str) -> str:
    return f"{cpu.get(key, 0.0) / cpu['wall']:.2f}"


def _kind_rows(sync: SyncResult) -> list[list[str]]:
    rows = []
    for kind in (*KINDS, "replay", None):
        if kind == "replay":
            chosen = [s for s in sync.samples if s.kind == "replay" and s.status == 200]
        else:
            chosen = sync.ok(kind)
        if not chosen:
            continue
        latency = [s.end - s.start for s in chosen]
        app = [s.app_ms for s in chosen if s.app_ms is not None]
        db = [s.db_ms for s in chosen if s.db_ms is not None]
        share = sum(db) / sum(app) if app and sum(app) else float("nan")
        statements = [s.statements for s in chosen if s.statements is not None]
        label = {None: "**all records**", "replay": "replays (answered 200)"}.get(kind, kind)
        rows.append(
            [
                label,
                f"{len(chosen):,}",
                f"**{len(chosen) / sync.seconds:,.0f}**"
                if kind is None
                else f"{len(chosen) / sync.seconds:,.0f}",
                _ms(_pct(latency, 50)),
                _ms(_pct(latency, 95)),
                f"{statistics.fmean(app):,.1f} ms" if app else "–",
                f"{_pct(app, 95):,.1f} ms" if app else "–",
                f"{statistics.fmean(db):,.1f} ms" if db else "–",
                f"{statistics.fmean(statements):.1f}" if statements else "–",
                f"**{share:.0%}**" if kind is None else f"{share:.0%}",
            ]
        )
    return rows


def _reading(sync: SyncResult, alone: SyncResult) -> str:
    """What the figures say about where the time goes, from this run's numbers."""
    cpu = sync.cpu
    python, postgres = (
        cpu.get("gunicorn", 0.0) / cpu["wall"],
        cpu.get("PostgreSQL", 0.0) / cpu["wall"],
    )
    locks = sum(n for state, n in sync.backends.items() if state.startswith("waiting for a lock"))
    in_tx = sum(n for state, n in sync.backends.items() if state.startswith("idle in transaction"))
    running = sync.backends.get("running (CPU)", 0.0)
    busy = "the CPU spent in Django, not the database" if python > postgres else "the database"
    first = (
        f"Reading: during the window the server's Python processes used {python:.2f} cores and "
        f"PostgreSQL {postgres:.2f} (of {os.cpu_count()}): the bottleneck is {busy}."
    )
    if sync.share <= alone.share:
        return f"{first} One device alone spends {alone.share:.0%} of its time in the database."
    return (
        f"{first} The share "
        f"measured inside database calls under load ({sync.share:.0%}) is larger than with one "
        f"device alone ({alone.share:.0%}, the request's own split) because the time in a call "
        "also counts the worker thread's wait to get a CPU (and the GIL) back after PostgreSQL "
        f"answered (backends idle in transaction, waiting for Django: {in_tx:.2f} on average; "
        f"running: {running:.2f}), and row-lock waits ({locks:.2f} backends on average)."
    )


def _checks(label: str, r: SyncResult) -> list[list[str]]:
    accepted = sum(len(u) for u in r.created.values())
    rows = [
        [
            f"{kind} ({label})",
            f"{len(r.created.get(kind, [])):,}",
            f"{r.found.get(kind, 0):,}",
            "yes" if r.found.get(kind, 0) == len(r.created.get(kind, [])) else "**no**",
        ]
        for kind in KINDS
    ]
    rows.append(
        [
            f"receipts ({label})",
            f"{accepted:,}",
            f"{r.receipts:,}",
            "yes" if r.receipts == accepted else "**no**",
        ]
    )
    return rows


def _mode_row(label: str, r: SyncResult) -> list[str]:
    latency = [s.end - s.start for s in r.ok()]
    per = sorted(r.per_device)
    return [
        label,
        f"**{r.rate:,.0f}**",
        _ms(_pct(latency, 50)),
        _ms(_pct(latency, 95)),
        f"{per[0]:,} / {per[len(per) // 2]:,} / {per[-1]:,}",
        f"{_ms(min(r.per_device_p50))} – {_ms(max(r.per_device_p50))}",
    ]


def _sync_section(
    sync: SyncResult,
    kept: SyncResult,
    alone: SyncResult,
    baseline: Baseline,
    options: argparse.Namespace,
) -> str:
    rows = _kind_rows(sync)
    modes_header = [
        f"{sync.devices} devices' connections, gunicorn {sync.label}",
        "records/s",
        "p50",
        "p95",
        "records per device in the window: min / median / max",
        "devices' median latency: best – worst",
    ]
    modes = [
        _mode_row("a new connection per request", sync),
        _mode_row("one keep-alive connection per device", kept),
    ]
    header = [
        "record",
        "answered in the window",
        "per second",
        "client latency p50",
        "client p95",
        "server time, mean",
        "server p95",
        "of it in the database, mean",
        "SQL statements",
        "database share",
    ]
    cpu = sync.cpu
    cpu_line = " / ".join(
        _cores(cpu, k) for k in ("gunicorn", "PostgreSQL", "load generator", "other")
    )
    non_ok = {
        f"{k} → {s}": n
        for (k, s), n in sorted(sync.all_statuses.items())
        if s != (200 if k == "replay" else 201)
    }
    checks = _checks("new connection per request", sync) + _checks("keep-alive", kept)
    write_rows = [[t, f"{i:.2f}", f"{u:.2f}"] for t, i, u in sync.rows_per_record[:12]]
    b = baseline
    ratio = sync.rate / b.rate if b.rate else float("nan")
    db_ms = [s.db_ms for s in sync.ok() if s.db_ms is not None]
    errors = ""
    if sync.errors:
        errors = "\nUnexpected answers (first 5):\n\n```\n" + "\n".join(sync.errors) + "\n```\n"
        if sync.log_tail:
            errors += "\nServer log (tail):\n\n```\n" + sync.log_tail + "\n```\n"
    latency = [s.end - s.start for s in sync.ok()]
    share = sum(db_ms) / max(sum(s.app_ms or 0 for s in sync.ok()), 1e-9)
    backend_rows = [[state, f"{n:.2f}"] for state, n in sync.backends.items()]
    return f"""### Sync throughput: {sync.devices} devices, gunicorn {sync.label}

**{sync.rate:,.0f} records/s accepted** (201) from {sync.devices} devices posting back to back,
each request on a new connection;
client latency p50 **{_ms(_pct(latency, 50))}**, p95 **{_ms(_pct(latency, 95))}**. Of the
server's own time per record, **{share:.0%} is spent waiting for the database** (statements
and COMMIT, lock waits included). PostgreSQL alone writes the same rows (record + receipt, one
transaction each) at **{b.rate:,.0f} records/s** with {b.connections} connections: the API
reaches **{ratio:.2f}** of the engine's rate.

{markdown_table(header, rows)}

{_reading(sync, alone)}

How the devices connect matters. Above, every request comes on a new connection, as through a
reverse proxy without upstream keep-alive (nginx's default), and the kernel's accept queue
spreads them over the gunicorn workers. Below, the same load with each device on one keep-alive
connection straight to gunicorn (devices connecting over the first {options.field_warmup / 2:g} s):
a connection stays with the worker that accepted it; when the workers took uneven shares of
the {sync.devices} connections, the busy one serves its devices seconds apart while the others
have threads to spare (the per-device columns show how evenly the devices were served).

{markdown_table(modes_header, modes)}

The same records from **one device alone** (back to back, nothing queued; {alone.seconds:g} s
measured after 3 s of warm-up, {alone.rate:,.0f} records/s): the server's time per record and
its database share without the other devices' competition for CPU, locks and the WAL.

{markdown_table(header, _kind_rows(alone))}

- Window: {sync.seconds:g} s after {options.field_warmup:g} s of warm-up. "client latency" is
  from sending the request to reading the whole answer, on the device's thread: with
  {sync.devices} devices and {sync.label.replace(" × ", "×")} = {_threads(sync.label)} server
  threads it is mostly waiting for a free server thread. "server time" and "in the database" come
  from each answer's `Server-Timing` header (CIVICGRID_SERVER_TIMING=1): the whole Django
  request, and the statements plus COMMIT inside it.
- CPU cores used during the window — gunicorn / PostgreSQL / load generator / other:
  {cpu_line} (of {os.cpu_count()}).
- Answers other than 201 (200 for replays), whole run: {non_ok or "none"}.
{errors}
What the server's PostgreSQL backends were doing during the window (mean number of backends in
each state, sampled every 50 ms from `pg_stat_activity`; the server holds up to
{_threads(sync.label)} connections):

{markdown_table(["backend state", "mean backends"], backend_rows)}

Rows written per accepted record (all tables, whole run incl. warm-up, from
`pg_stat_user_tables`):

{markdown_table(["table", "inserted per record", "updated per record"], write_rows)}

Every 201 accounted for (each run, warm-up included):

{markdown_table(["kind", "201 answers", "rows with those client UUIDs", "equal"], checks)}

PostgreSQL baseline, same run: the {b.pairs:,} records accepted above, read back, inserted again
with their receipts into copies of the tables (`CREATE TABLE … (LIKE … INCLUDING ALL)`: same
columns, defaults, constraints and indexes, no foreign keys), each record + receipt as two
prepared `INSERT`s and a `COMMIT` (`synchronous_commit=on`), client UUIDs (and case numbers)
renewed on every insert, {b.connections} psycopg connections (the server's worker threads),
{options.field_baseline_duration:g} s measured after 2 s of warm-up:
**{b.rate:,.0f} records/s**, p50 {_ms(_pct(list(b.latencies), 50))}, p95
{_ms(_pct(list(b.latencies), 95))}; CPU cores PostgreSQL / client / other:
{" / ".join(_cores(b.cpu, k) for k in ("PostgreSQL", "load generator", "other"))}.
"""


def _span(values: Sequence[int]) -> str:
    return (
        f"{min(values)}–{max(values)}"
        if values and min(values) != max(values)
        else (str(values[0]) if values else "–")
    )


def _threads(label: str) -> int:
    workers, threads = (int(x) for x in label.split(" × "))
    return workers * threads


def _shell_section(shell: ShellResult, options: argparse.Namespace) -> str:
    data = [t for t in shell.page if "/api/" in t.url]
    assets = [t for t in shell.page if "/api/" not in t.url]
    page_bytes = sum(t.transferred for t in assets)
    worker_bytes = sum(b for _u, b in shell.worker)
    total = page_bytes + worker_bytes
    rows = [
        [
            f"`{_path(t.url)}`",
            t.kind,
            t.encoding or "none",
            f"{t.transferred:,}",
        ]
        for t in sorted(assets, key=lambda t: -t.transferred)
    ]
    rows += [
        [f"`{_path(t.url)}` (data, not shell)", t.kind, t.encoding or "none", f"{t.transferred:,}"]
        for t in data
    ]
    size_verdict = (
        f"target met (< {_kb(TARGET_SHELL_BYTES)})"
        if total < TARGET_SHELL_BYTES
        else f"**target missed** (< {_kb(TARGET_SHELL_BYTES)})"
    )
    offline_ok = bool(shell.offline) and all(x == x and x < TARGET_OFFLINE_S for x in shell.offline)
    offline_verdict = (
        f"target met (< {TARGET_OFFLINE_S:g} s, every run)"
        if offline_ok
        else f"**target missed** (< {TARGET_OFFLINE_S:g} s)"
    )
    ready = [x for x, _dcl in shell.throttled]
    dcl = [d for _x, d in shell.throttled]
    worker_urls = ", ".join(sorted({f"`{_path(u)}`" for u, _b in shell.worker})[:3])
    return f"""### App shell in Chromium

- **App shell, first load: {_kb(total)} transferred** — {size_verdict}: {_kb(page_bytes)} for the
  page's own requests ({len(assets)} responses: HTML, scripts, styles, Leaflet, icons; bodies as
  served plus headers) and {_kb(worker_bytes)} for the service worker's own fetches while it
  installs and precaches the shell ({len(shell.worker)} requests, most answered from the HTTP
  cache the page had just filled; e.g. {worker_urls}). The grid worker's data (`{shell.user}`'s
  bootstrap, {len(data)} API request(s)) came to {_kb(sum(t.transferred for t in data))} more.
- **Time to interactive on a throttled connection: {_median(ready):.2f} s** (median of
  {len(ready)} cold loads: {", ".join(f"{x:.2f}" for x in ready)} s; DOMContentLoaded
  {_median(dcl):.2f} s; {_kb(statistics.median(shell.throttled_transfer or [0]))} transferred
  each) — profile {THROTTLE_LABEL}, no CPU slow-down.
- **Opening offline from the service worker: {_median(shell.offline):.2f} s** (median of
  {len(shell.offline)}: {", ".join(f"{x:.3f}" for x in shell.offline)} s) — {offline_verdict}.
  Per open: {_span(shell.offline_sw)} responses from the service worker,
  {_span(shell.offline_network)} from anywhere else, {_span(shell.offline_failed)} requests
  failed for want of a network (the app trying to sync).
- Unthrottled cold load, for comparison: {_fmt_s(shell.first_ready_s)} to interactive.

"Interactive" is the moment the app sets its readiness marker (`{READY}`), seen by a
MutationObserver installed before the page's scripts and timed with `performance.now()` from
navigation start. Browser: Debian's Chromium {shell.browser} through Playwright, phone viewport
390×844 (touch, `zh-CN`), logged in as `{shell.user}` by a session cookie; a fresh browser
context (empty cache, no service worker) for every cold load; throttling through the DevTools
protocol (`Network.emulateNetworkConditions`) on the page, so the service worker's own precache
fetches are not slowed. Offline: after the first load had installed the service worker,
`context.set_offline(True)` and /field/ opened in a new tab, each time. Transfer sizes are the
DevTools protocol's `encodedDataLength` per response (compressed body + headers). Compression as
the production server serves it: static files from whitenoise's compressed manifest storage
(`collectstatic`; gzip — brotli files are made only when the `brotli` package is installed, and
it is not; Chromium also asks for `br` over HTTPS only); pages and API answers come from Django
uncompressed (no compressing proxy in front here).

{markdown_table(["first load, page's responses", "type", "encoding", "bytes transferred"], rows)}
"""


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)[:90]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt_s(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "–"


def _render(
    sync: SyncResult | None,
    kept: SyncResult | None,
    alone: SyncResult | None,
    baseline: Baseline | None,
    shell: ShellResult | None,
    options: argparse.Namespace,
    context: dict[str, str],
    host: dict[str, str],
    caution: str,
) -> str:
    parts = []
    verdicts = []
    if sync is not None and kept is not None and baseline is not None and alone is not None:
        verdicts.append(
            f"sync **{sync.rate:,.0f} records/s** from {sync.devices} devices, "
            f"{sync.share:.0%} of the server's time in database calls under that load "
            f"({alone.share:.0%} for one device alone); PostgreSQL alone writes the same rows at "
            f"{baseline.rate:,.0f}/s"
        )
        parts.append(_sync_section(sync, kept, alone, baseline, options))
    if shell is not None:
        assets = sum(t.transferred for t in shell.page if "/api/" not in t.url)
        assets += sum(b for _u, b in shell.worker)
        verdicts.append(
            f"app shell first load **{_kb(assets)}** transferred (target < "
            f"{_kb(TARGET_SHELL_BYTES)}: {'met' if assets < TARGET_SHELL_BYTES else '**missed**'})"
        )
        if shell.throttled:
            ready = _median([x for x, _d in shell.throttled])
            verdicts.append(f"time to interactive **{ready:.2f} s** on Slow 4G")
        if shell.offline:
            offline = statistics.median(shell.offline)
            verdicts.append(
                f"offline open **{offline:.2f} s** (target < {TARGET_OFFLINE_S:g} s: "
                f"{'met' if max(shell.offline) < TARGET_OFFLINE_S else '**missed**'})"
            )
        parts.append(_shell_section(shell, options))
    quiet = f"; {context['quiet']}" if context.get("quiet") else ""
    summary = "; ".join(verdicts) + "."
    if caution:
        summary += "\n\n" + caution
    body = "\n".join(parts)
    workers, threads = (int(x) for x in options.field_server.split("x"))
    argv = intake.gunicorn_command(workers, threads, 0)
    command = shlex.join(["gunicorn", *argv[1:]]).replace("127.0.0.1:0", "127.0.0.1:<free port>")
    return f"""## field app (sync API and app shell)

{summary}

Command (from the repository root):

```
{context["command"]}
```

- date: {context["date"]}{quiet}
- benchmark database: `{context["database"]}` — {context["city"]}
{machine_markdown(host)}

Server: `{command}` — the web half of `civicgrid serve`, with
`CIVICGRID_MODE=production` and the settings of the intake benchmark (a temporary var folder,
fresh secret and encryption keys, `CIVICGRID_BEHIND_PROXY=1` with the devices sending
`X-Forwarded-Proto: https`); server, devices, Chromium and PostgreSQL share the machine's
{os.cpu_count()} CPUs.

{body}"""
