"""Kill test of the field app's sync API: the production server is SIGKILLed mid-sync, again and
again, and afterwards no acknowledged record is lost and none exists twice.

    python -m tests.fieldwork.killtest [--sqlite | --database-url URL] [--devices 200] …

What it does (issue 5, "Sync guarantees"):

1. Creates and migrates a database of its own — a SQLite file in a temporary folder, or on
   PostgreSQL a database named after DATABASE_URL's plus `_killtest` (never a `test_…` one,
   never a `civicgrid_bench…` one); dropped again at the end unless `--keep`.
2. Builds the tests' small world (tests/world.py: five grids with boundaries, the default
   catalogue) through the real actions, a household with a care-group member per grid
   (registry actions) and 200 grid-worker accounts, each with an API token (one per device).
3. Starts the production server as `civicgrid serve` starts it — the gunicorn command built by
   `serve.gunicorn_command`, CIVICGRID_MODE=production — on a free loopback port, in a process
   group of its own.
4. 200 simulated devices (threads, each with its own keep-alive connection and token) send
   1,000 submissions: case reports, visits, patrols and check-ins, some with photos uploaded in
   chunks (`POST uploads/`, `PUT uploads/{uuid}/` with Content-Range, resuming from the
   server's `received`). Every submission is replayed 1–3 more times with the same client
   UUID; a share of them is first sent twice at the same moment from two connections (the
   unique key decides). A device counts a submission as acknowledged only on a 2xx answer; on
   a connection error or a 5xx it backs off and retries like the phone does.
5. Meanwhile the server's whole process group (master and workers) is SIGKILLed several times
   and started again on the same port.
6. Afterwards, from the database: every acknowledged UUID exists exactly once with the id its
   answer gave, every replay was answered with the same id, no record exists that was not
   sent, no body was stored twice under two UUIDs, every photo acknowledged complete is
   attached to its record (the stored file present), receipts match. Counts are printed;
   the exit status is 1 on any loss, duplicate or wrong answer (2 on a set-up problem).

tests/fieldwork/test_kill.py runs it in the suite on the suite's database engine.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1/field/"
SUFFIX = "_killtest"
KINDS = ("case", "visit", "patrol", "check_in")
PATHS = {"case": "cases/", "visit": "visits/", "patrol": "patrols/", "check_in": "check-ins/"}
# Share of each kind among the submissions, and of those that carry photos.
KIND_WEIGHTS = (0.35, 0.3, 0.15, 0.2)
CATEGORIES = ["environment.rubbish", "facility.street_light", "hazard.fire", "dispute.neighbour"]


class SetupError(RuntimeError):
    pass


def say(message: str) -> None:
    print(f"killtest: {message}", file=sys.stderr, flush=True)


# --- options and the database -------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fieldwork.killtest",
        description="SIGKILL the production server during field-app sync and check that no "
        "acknowledged record is lost or duplicated.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--database-url",
        help="PostgreSQL server to use: the database is this URL's name + "
        f"{SUFFIX} (default: DATABASE_URL's, or SQLite when it is unset or SQLite)",
    )
    where.add_argument("--sqlite", action="store_true", help="a SQLite file in a temporary folder")
    parser.add_argument("--devices", type=int, default=200, help="simulated phones (default 200)")
    parser.add_argument(
        "--submissions", type=int, default=1000, help="records sent in all (default 1000)"
    )
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of the server (default 5)")
    parser.add_argument("--replays", default="1-3", help="extra sends of each record (default 1-3)")
    parser.add_argument(
        "--photo-share", type=float, default=0.25, help="share of records with photos (0.25)"
    )
    parser.add_argument(
        "--race-share",
        type=float,
        default=0.1,
        help="share of records first sent twice at once from two connections (0.1)",
    )
    parser.add_argument(
        "--chunk-bytes", type=int, default=32768, help="photo chunk size of the devices"
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (serve: 3)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (serve: 4)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--deadline", type=float, default=600, help="seconds before devices give up (600)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the server's folder"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON too")
    options = parser.parse_args(argv)
    low, _, high = options.replays.partition("-")
    try:
        options.replay_range = (int(low), int(high or low))
    except ValueError:
        parser.error("--replays: N or N-M")
    if options.replay_range[0] < 0 or options.replay_range[0] > options.replay_range[1]:
        parser.error("--replays: N-M with 0 <= N <= M")
    if options.devices < 1 or options.submissions < options.devices:
        parser.error("--devices must be positive and --submissions at least --devices")
    if options.kills < 0 or options.chunk_bytes < 1024:
        parser.error("--kills must not be negative, --chunk-bytes at least 1024")
    return options


def database_url(options: argparse.Namespace, var_dir: Path) -> str:
    """The test's own database: never the suite's test database nor a benchmark's."""
    source = None if options.sqlite else (options.database_url or os.environ.get("DATABASE_URL"))
    if not source or not source.startswith("postgres"):
        return f"sqlite:///{var_dir / 'killtest.sqlite3'}"
    parts = urlsplit(source)
    name = (parts.path.lstrip("/") or "civicgrid").removeprefix("test_")
    if not name.endswith(SUFFIX):
        name += SUFFIX
    if name.startswith("civicgrid_bench"):
        raise SetupError(f"refusing to use a benchmark database ({name})")
    return urlunsplit(parts._replace(path="/" + name))


def _pg(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def create_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    maintenance, name = _pg(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )
        conn.execute(
            sql.SQL(
                "create database {} encoding 'UTF8' lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8' "
                "template template0"
            ).format(sql.Identifier(name))
        )


def drop_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg
    from psycopg import sql

    maintenance, name = _pg(url)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(
            sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        )


def display(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(parts.password, "***")))
    return url


# --- the world: grids, households, 200 grid workers ------------------------------------------
@dataclass
class Device:
    index: int
    username: str
    key: str
    grid: str  # the world's key of its grid (A1a1, …)
    household: int
    resident: int
    care_tag: int


def _valid_id(seq: int) -> str:
    from stdnum.cn import ric

    body = f"371602{1950 + seq % 40}0307{seq % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def build(devices: int) -> tuple[list[Device], dict[str, int]]:
    """The world of tests/world.py, a household with a care-group member per grid and the
    grid-worker accounts with their tokens — all through the actions."""
    from django.test import override_settings

    from civicgrid.accounts.actions import do_create_token
    from civicgrid.accounts.roles import Role
    from civicgrid.catalog.models import CaseCategory
    from civicgrid.core.context import work_context
    from civicgrid.registry import actions as registry
    from tests.world import GRID_KEYS, build_world

    # The server never checks these passwords (the devices use tokens): a fast hasher here.
    with (
        work_context(),
        override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]),
    ):
        world = build_world()
        homes: dict[str, tuple[int, int, int]] = {}
        for n, key in enumerate(GRID_KEYS):
            leader = world.user(Role.GRID_WORKER, key, name=f"kt-setup-{n}")
            building = registry.do_create_record(
                "building",
                actor=leader,
                data={"grid": world.div[key].code, "road": "黄河五路", "number": str(100 + n)},
            )
            house = registry.do_create_record(
                "house", actor=leader, data={"building": building, "room": "301"}
            )
            household = registry.do_create_record("household", actor=leader, data={"house": house})
            resident = registry.do_create_record(
                "resident",
                actor=leader,
                data={
                    "name": f"王{n}",
                    "id_number": _valid_id(n),
                    "household": household,
                    "relation": "head",
                },
            )
            tag = registry.do_tag_resident(resident, actor=leader, data={"group": "elderly_alone"})
            homes[key] = (household.pk, resident.pk, tag.pk)
        found: list[Device] = []
        for i in range(devices):
            key = GRID_KEYS[i % len(GRID_KEYS)]
            user = world.user(Role.GRID_WORKER, key, name=f"kt{i:03d}")
            _token, secret = do_create_token(user, actor=None, name="killtest")
            found.append(Device(i, user.username, secret, key, *homes[key]))
    categories = dict(CaseCategory.objects.filter(code__in=CATEGORIES).values_list("code", "pk"))
    missing = set(CATEGORIES) - set(categories)
    if missing:
        raise SetupError(f"categories missing from the default catalogue: {sorted(missing)}")
    return found, categories


# --- what the devices send ------------------------------------------------------------------------
@dataclass
class Photo:
    uuid: str
    name: str
    data: bytes
    sha256: str
    complete: bool = False  # the server answered complete=true
    resets: int = 0


@dataclass
class Submission:
    uuid: str
    kind: str
    device: int
    marker: str
    body: bytes
    photos: list[Photo]
    replays: int
    race: bool
    acked: bool = False
    status: int = 0  # of the first 2xx answer
    answer_id: int | None = None
    answers: list[tuple[int, int | None, bool]] = field(default_factory=list)  # every 2xx
    rejected: list[str] = field(default_factory=list)  # 4xx answers, with their bodies


def _jpeg(rng: random.Random) -> bytes:
    from PIL import Image

    width, height = rng.choice([(320, 240), (240, 320), (400, 300)])
    noise = rng.randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), noise).save(out, "JPEG", quality=rng.choice([80, 90]))
    return out.getvalue()


def _point(grid: str, rng: random.Random) -> tuple[float, float]:
    """(lat, lng) well inside a grid's square of tests/world.py."""
    from tests.world import GRID_KEYS, ORIGIN, SIZE

    x0 = ORIGIN[0] + GRID_KEYS.index(grid) * SIZE
    return (
        round(ORIGIN[1] + rng.uniform(0.1, 0.9) * SIZE, 6),
        round(x0 + rng.uniform(0.1, 0.9) * SIZE, 6),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def plan(
    devices: list[Device], categories: dict[str, int], options: argparse.Namespace
) -> dict[int, list[Submission]]:
    rng = random.Random(options.seed)
    now = datetime.now(UTC)
    per_device: dict[int, list[Submission]] = {d.index: [] for d in devices}
    for n in range(options.submissions):
        device = devices[n % len(devices)]
        kind = rng.choices(KINDS, KIND_WEIGHTS)[0]
        marker = f"kt-{n:05d}-{device.index:03d}"
        photos: list[Photo] = []
        if kind != "check_in" and rng.random() < options.photo_share:
            for _ in range(rng.choice([1, 1, 2])):
                data = _jpeg(rng)
                photos.append(
                    Photo(
                        str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        f"IMG_{n:05d}.jpg",
                        data,
                        hashlib.sha256(data).hexdigest(),
                    )
                )
        lat, lng = _point(device.grid, rng)
        body: dict[str, Any]
        if kind == "case":
            code = rng.choice(CATEGORIES)
            body = {
                "category": categories[code],
                "description": f"{marker} 楼道堆放杂物，垃圾未清运",
                "lat": lat,
                "lng": lng,
                "address": "3号楼南侧",
                "self_resolve": False,
                "note": "",
            }
        elif kind == "visit":
            body = {
                "purpose": "other",
                "visited_at": _iso(now - timedelta(minutes=rng.randint(5, 600))),
                "note": f"{marker} 入户走访",
                "lat": lat,
                "lng": lng,
            }
            roll = rng.random()
            if roll < 0.35:
                body.update(purpose="care", care_tag=device.care_tag, resident=device.resident)
                body["household"] = device.household
            elif roll < 0.7:
                body.update(purpose="household", household=device.household)
        elif kind == "patrol":
            start = now - timedelta(minutes=rng.randint(60, 600))
            minutes = rng.randint(5, 55)
            points = []
            for i in range(rng.randint(10, 120)):
                plat, plng = _point(device.grid, rng)
                points.append([plat, plng, int(start.timestamp()) + i * 15])
            body = {
                "started_at": _iso(start),
                "ended_at": _iso(start + timedelta(minutes=minutes)),
                "track": points,
                "note": f"{marker} 巡查",
            }
        else:
            body = {
                "at": _iso(now - timedelta(minutes=rng.randint(1, 300))),
                "lat": lat,
                "lng": lng,
                "accuracy": rng.randint(5, 40),
                "note": f"{marker} 签到",
            }
        if kind != "check_in":
            body["photos"] = [p.uuid for p in photos]
        client_uuid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        body = {"uuid": client_uuid, **body}
        per_device[device.index].append(
            Submission(
                uuid=client_uuid,
                kind=kind,
                device=device.index,
                marker=marker,
                body=json.dumps(body, ensure_ascii=False).encode(),
                photos=photos,
                replays=rng.randint(*options.replay_range),
                race=rng.random() < options.race_share,
            )
        )
    return per_device


# --- the production server in a process group of its own ------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(var_dir: Path, url: str, encryption_key: str) -> dict[str, str]:
    """Production settings from the environment, as an operator sets them behind a
    TLS-terminating proxy (the devices send X-Forwarded-Proto: https like one)."""
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": url,
            "CIVICGRID_MODE": "production",
            "CIVICGRID_DEBUG": "0",
            "CIVICGRID_VAR_DIR": str(var_dir),
            "CIVICGRID_SECRET_KEY": secrets.token_urlsafe(60),
            "CIVICGRID_ENCRYPTION_KEY": encryption_key,
            "CIVICGRID_ALLOWED_HOSTS": "127.0.0.1",
            "CIVICGRID_BEHIND_PROXY": "1",
            "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class Server:
    """gunicorn as `civicgrid serve` starts it, killed and restarted on the same port."""

    def __init__(self, port: int, env: dict[str, str], var_dir: Path, workers: int, threads: int):
        from civicgrid.web.management.commands.serve import gunicorn_command

        self.port = port
        self.env = env
        self.log = var_dir / "gunicorn.log"
        self.command = gunicorn_command("127.0.0.1", port, workers, threads)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills: list[dict[str, Any]] = []

    def start(self) -> None:
        for attempt in range(5):
            with open(self.log, "ab") as out:
                out.write(f"\n=== killtest: start {self.starts + 1} ===\n".encode())
                out.flush()
                self.process = subprocess.Popen(
                    self.command,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                    start_new_session=True,  # its own process group: master and workers
                )
            self.starts += 1
            if self.wait_ready():
                return
            self.kill_group()  # e.g. the port not yet free: try again
            time.sleep(0.5 * (attempt + 1))
        raise SetupError(f"gunicorn did not come up:\n{self.tail()}")

    def wait_ready(self, seconds: float = 60) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/api/v1/cases/", headers={"X-Forwarded-Proto": "https"})
                status = conn.getresponse().status
                conn.close()
                if status in (401, 403):
                    return True
                raise SetupError(f"unexpected answer {status} from the server:\n{self.tail()}")
            time.sleep(0.1)
        return False

    def group_members(self) -> list[int]:
        assert self.process is not None
        pgid = self.process.pid
        members = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, ValueError, IndexError):
                    text = Path(f"/proc/{entry}/stat").read_text()
                    fields = text[text.rfind(")") + 2 :].split()
                    if int(fields[2]) == pgid and fields[0] != "Z":
                        members.append(int(entry))
        return members

    def kill_group(self) -> int:
        """SIGKILL the master and every worker at once; wait until all are gone."""
        assert self.process is not None
        members = self.group_members()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10
        while self.group_members() and time.monotonic() < deadline:
            time.sleep(0.02)
        left = self.group_members()
        if left:
            raise SetupError(f"processes of the killed server still alive: {left}")
        return len(members)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill_group()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # any worker left behind

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


# --- the devices ----------------------------------------------------------------------------------
class GaveUp(Exception):
    pass


@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests: Counter[str] = field(default_factory=Counter)  # "POST cases/ 201", …
    connection_errors: int = 0
    server_errors: list[str] = field(default_factory=list)
    acked: int = 0
    findings: list[str] = field(default_factory=list)

    def note(self, key: str) -> None:
        with self.lock:
            self.requests[key] += 1

    def finding(self, text: str) -> None:
        with self.lock:
            self.findings.append(text)


class Link:
    """One keep-alive connection of a device; retries connection errors and 5xx answers with
    exponential backoff (capped at 1 s, with jitter), as the phone does."""

    def __init__(self, port: int, key: str, stats: Stats, deadline: float, rng: random.Random):
        self.port = port
        self.stats = stats
        self.deadline = deadline
        self.rng = rng
        self.conn: http.client.HTTPConnection | None = None
        self.retried = 0  # failed tries before the last answer
        self.headers = {
            "Accept": "application/json",
            "Accept-Language": "en",
            "Authorization": f"Token {key}",
            "X-Forwarded-Proto": "https",
        }

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, Any]:
        attempt = 0
        label = f"{method} {path.split('/')[0]}/"
        while True:
            if time.monotonic() > self.deadline:
                raise GaveUp(f"{method} {path}: deadline passed")
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, API + path, body, {**self.headers, **(headers or {})})
                response = self.conn.getresponse()
                raw = response.read()
                status = response.status
                self.stats.note(f"{label} {status}")
                if status < 500:
                    self.retried = attempt
                    try:
                        payload = json.loads(raw) if raw else {}
                    except ValueError:
                        payload = {"raw": raw[:300].decode(errors="replace")}
                    if response.will_close:
                        self.close()
                    return status, response.headers, payload
                with self.stats.lock:
                    if len(self.stats.server_errors) < 20:
                        self.stats.server_errors.append(
                            f"{method} {path} → {status}: {raw[:300].decode(errors='replace')}"
                        )
                self.close()
            except (OSError, http.client.HTTPException):
                with self.stats.lock:
                    self.stats.connection_errors += 1
                self.close()
            time.sleep(min(1.0, 0.05 * 2**attempt) * self.rng.uniform(0.5, 1.5))
            attempt += 1


def _answer_id(payload: Any) -> int | None:
    value = payload.get("id") if isinstance(payload, dict) else None
    return value if isinstance(value, int) else None


def upload_photo(link: Link, photo: Photo, chunk: int, stats: Stats, who: str) -> bool:
    """Announce, then send chunks from the server's `received` until it says complete."""
    announce = json.dumps(
        {"uuid": photo.uuid, "name": photo.name, "size": len(photo.data), "sha256": photo.sha256}
    ).encode()
    status, _h, state = link.call(
        "POST", "uploads/", announce, {"Content-Type": "application/json"}
    )
    if status not in (200, 201):
        stats.finding(f"{who}: POST uploads/ {photo.uuid} answered {status}: {state}")
        return False
    size = len(photo.data)
    received = int(state.get("received", 0))
    rounds = 0
    while not state.get("complete"):
        rounds += 1
        if rounds > 10_000 or received > size:
            stats.finding(f"{who}: upload {photo.uuid} does not progress: {state}")
            return False
        end = min(received + chunk, size) - 1
        status, _h, state = link.call(
            "PUT",
            f"uploads/{photo.uuid}/",
            photo.data[received : end + 1],
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes {received}-{end}/{size}",
            },
        )
        if status == 409 and state.get("code") == "offset":
            received = int(state["received"])
            continue
        if status == 200 or status == 201:
            received = int(state.get("received", received))
            continue
        # 400: checksum or content refused — the upload was reset to 0. Our bytes are good, so
        # this means the server assembled them wrongly (e.g. bytes left by a killed worker).
        stats.finding(
            f"{who}: PUT uploads/{photo.uuid}/ {received}-{end} answered {status}: {state}"
        )
        photo.resets += 1
        if photo.resets > 3:
            return False
        status, _h, state = link.call("GET", f"uploads/{photo.uuid}/")
        received = int(state.get("received", 0)) if status == 200 else 0
    photo.complete = True
    return True


def send_record(link: Link, sub: Submission) -> tuple[int, Any, bool]:
    status, headers, payload = link.call(
        "POST", PATHS[sub.kind], sub.body, {"Content-Type": "application/json"}
    )
    replay = headers.get("Idempotent-Replay", "").lower() == "true"
    if link.retried and not sub.acked:
        # The first send failed at least once (server killed or down) before this answer: 201
        # means nothing had been committed, a replay means the commit happened and its answer
        # was lost — the case the receipts exist for.
        link.stats.note(f"first send retried → {'replay' if replay else status}")
    return status, payload, replay


def record_answer(
    sub: Submission, status: int, payload: Any, replay: bool, stats: Stats, first: bool
) -> None:
    who = f"device {sub.device} {sub.kind} {sub.uuid} ({sub.marker})"
    if 200 <= status < 300:
        answer = _answer_id(payload)
        with stats.lock:
            sub.answers.append((status, answer, replay))
            if not sub.acked:
                sub.acked, sub.status, sub.answer_id = True, status, answer
                stats.acked += 1
        if answer is None:
            stats.finding(f"{who}: {status} answer without an id: {payload}")
        elif answer != sub.answer_id:
            stats.finding(f"{who}: answered id {answer} after id {sub.answer_id} for the same UUID")
        if not first and (status != 200 or not replay):
            stats.finding(
                f"{who}: a replay after the acknowledgment was answered {status} "
                f"(Idempotent-Replay: {replay}), not 200 with Idempotent-Replay: true"
            )
        if status == 200 and not replay:
            stats.finding(f"{who}: 200 without Idempotent-Replay: true")
        return
    sub.rejected.append(f"{status} {json.dumps(payload, ensure_ascii=False)[:300]}")
    stats.finding(f"{who}: answered {status}: {json.dumps(payload, ensure_ascii=False)[:300]}")


def run_device(
    device: Device,
    subs: list[Submission],
    port: int,
    options: argparse.Namespace,
    stats: Stats,
    deadline: float,
    gate: threading.Barrier,
) -> None:
    rng = random.Random(options.seed * 100_003 + device.index)
    link = Link(port, device.key, stats, deadline, rng)
    gate.wait()
    time.sleep(rng.uniform(0, 1.0))  # not all phones at the same instant
    try:
        for sub in subs:
            who = f"device {device.index} {sub.kind} {sub.uuid}"
            if not all(upload_photo(link, p, options.chunk_bytes, stats, who) for p in sub.photos):
                sub.rejected.append("a photo upload failed (see the findings)")
                continue
            if sub.race:
                # The same record from two connections at the same moment (two tabs, or a retry
                # racing a slow first attempt): the unique key decides, both must agree.
                twin = Link(port, device.key, stats, deadline, random.Random(rng.random()))
                meet = threading.Barrier(2)
                results: list[tuple[int, Any, bool]] = []

                def other(
                    twin: Link = twin,
                    meet: threading.Barrier = meet,
                    sub: Submission = sub,
                    results: list[tuple[int, Any, bool]] = results,
                ) -> None:
                    meet.wait()
                    with contextlib.suppress(GaveUp):
                        results.append(send_record(twin, sub))
                    twin.close()

                helper = threading.Thread(target=other, daemon=True)
                helper.start()
                meet.wait()
                mine = send_record(link, sub)
                helper.join()
                for n, (status, payload, replay) in enumerate([mine, *results]):
                    record_answer(sub, status, payload, replay, stats, first=True)
                    both_ok = n and 200 <= status < 300 and 200 <= mine[0] < 300
                    # exactly one may create (201) — or both replay an earlier commit
                    if both_ok and {mine[0], status} != {200, 201} and not (mine[2] and replay):
                        stats.finding(
                            f"{who}: the two concurrent sends were answered {mine[0]} and {status}"
                        )
            else:
                status, payload, replay = send_record(link, sub)
                record_answer(sub, status, payload, replay, stats, first=True)
            if not sub.acked:
                continue
            for _ in range(sub.replays):
                status, payload, replay = send_record(link, sub)
                record_answer(sub, status, payload, replay, stats, first=False)
    except GaveUp as exc:
        stats.finding(f"device {device.index} gave up: {exc}")
    finally:
        link.close()


def killer(
    server: Server,
    stats: Stats,
    total: int,
    options: argparse.Namespace,
    done: threading.Event,
) -> None:
    """SIGKILL the server at evenly spread points of the run (a random moment after each), and
    start it again after a short outage."""
    rng = random.Random(options.seed + 7)
    for k in range(1, options.kills + 1):
        threshold = total * k / (options.kills + 1)
        while stats.acked < threshold and not done.is_set():
            time.sleep(0.02)
        if done.is_set():
            return
        time.sleep(rng.uniform(0, 0.4))
        t = time.monotonic()
        killed = server.kill_group()
        outage = rng.uniform(0.2, 1.0)
        time.sleep(outage)
        server.start()
        server.kills.append(
            {
                "at_acked": stats.acked,
                "processes": killed,
                "down_s": round(time.monotonic() - t, 2),
            }
        )
        say(
            f"kill {k}: SIGKILL to {killed} processes at {stats.acked}/{total} acknowledged; "
            f"up again after {time.monotonic() - t:.1f} s"
        )


# --- afterwards: what the database says -----------------------------------------------------------
def verify(subs: list[Submission], var_dir: Path) -> tuple[dict[str, Any], list[str]]:
    from django.core.files.storage import default_storage
    from django.db import connection

    from civicgrid.cases.models import Attachment, Case
    from civicgrid.fieldwork.models import CheckIn, DutyPhoto, Patrol, Receipt, Upload, Visit

    connection.close()  # a fresh connection: the server wrote everything since
    models: dict[str, Any] = {"case": Case, "visit": Visit, "patrol": Patrol, "check_in": CheckIn}
    text_field = {"case": "description", "visit": "note", "patrol": "note", "check_in": "note"}
    problems: list[str] = []
    by_uuid = {s.uuid: s for s in subs}
    counts: dict[str, Any] = {}
    for kind, model in models.items():
        mine = [s for s in subs if s.kind == kind]
        rows = list(model.objects.values_list("id", "client_uuid", text_field[kind]))
        stored: dict[str, list[int]] = {}
        markers: Counter[str] = Counter()
        for pk, client_uuid, text in rows:
            stored.setdefault(str(client_uuid), []).append(pk)
            markers[(text or "").split(" ", 1)[0]] += 1
        acked = [s for s in mine if s.acked]
        lost = [s for s in acked if s.uuid not in stored]
        wrong = [s for s in acked if s.uuid in stored and stored[s.uuid] != [s.answer_id]]
        twice = {u: ids for u, ids in stored.items() if len(ids) > 1}
        strangers = [u for u in stored if u not in by_uuid]
        same_body = {m: c for m, c in markers.items() if c > 1}
        counts[kind] = {
            "sent": len(mine),
            "acknowledged": len(acked),
            "rows": len(rows),
            "lost": len(lost),
            "wrong id": len(wrong),
            "duplicate uuid": len(twice),
            "duplicate body": len(same_body),
            "unknown uuid": len(strangers),
        }
        for s in lost:
            problems.append(
                f"LOST: {kind} {s.uuid} ({s.marker}) acknowledged {s.status} "
                f"id {s.answer_id}, not in the database"
            )
        for s in wrong:
            problems.append(
                f"WRONG ID: {kind} {s.uuid} answered id {s.answer_id}, stored as {stored[s.uuid]}"
            )
        for u, ids in twice.items():
            problems.append(f"DUPLICATE: {kind} client UUID {u} stored {len(ids)} times: {ids}")
        for m, c in same_body.items():
            problems.append(f"DUPLICATE BODY: {kind} {m} stored {c} times under different UUIDs")
        for u in strangers:
            problems.append(f"UNKNOWN: {kind} with client UUID {u} that no device sent")
    # Receipts: one per acknowledged submission, naming the record the answer named.
    receipts = {
        str(u): (k, o) for u, k, o in Receipt.objects.values_list("uuid", "kind", "object_id")
    }
    for s in subs:
        if s.acked:
            got = receipts.get(s.uuid)
            if got is None:
                problems.append(f"NO RECEIPT: {s.kind} {s.uuid} ({s.marker}) acknowledged")
            elif got != (s.kind, s.answer_id):
                problems.append(f"RECEIPT MISMATCH: {s.uuid}: {got} vs {(s.kind, s.answer_id)}")
    # Photos: every photo acknowledged complete whose record was acknowledged is attached to it.
    attached: dict[str, tuple[str, int, str]] = {}
    for u, case_id, name in Attachment.objects.filter(client_uuid__isnull=False).values_list(
        "client_uuid", "case_id", "file"
    ):
        attached[str(u)] = ("case", case_id, name)
    for u, visit_id, patrol_id, name in DutyPhoto.objects.values_list(
        "client_uuid", "visit_id", "patrol_id", "file"
    ):
        attached[str(u)] = ("visit", visit_id, name) if visit_id else ("patrol", patrol_id, name)
    uploads = {str(u): used for u, used in Upload.objects.values_list("uuid", "used_at")}
    photo_counts = Counter()
    for s in subs:
        for p in s.photos:
            photo_counts["planned"] += 1
            photo_counts["acknowledged complete"] += p.complete
            if not (p.complete and s.acked):
                continue
            photo_counts["to check"] += 1
            got = attached.get(p.uuid)
            if got is None:
                problems.append(f"PHOTO LOST: {p.uuid} of {s.kind} {s.uuid} (id {s.answer_id})")
                continue
            if got[:2] != (s.kind, s.answer_id):
                problems.append(
                    f"PHOTO MISPLACED: {p.uuid} on {got[:2]}, not {s.kind} {s.answer_id}"
                )
                continue
            if not default_storage.exists(got[2]) or default_storage.size(got[2]) == 0:
                problems.append(f"PHOTO FILE MISSING: {p.uuid} → {got[2]}")
                continue
            if uploads.get(p.uuid) is None:
                problems.append(f"UPLOAD NOT MARKED USED: {p.uuid}")
            photo_counts["attached"] += 1
    photo_uuids = {p.uuid for s in subs for p in s.photos}
    for u in attached:
        if u not in photo_uuids:
            problems.append(f"UNKNOWN PHOTO: attachment with client UUID {u}")
    # Part files of used uploads are the server's to remove; one left behind (a kill between
    # the commit and the unlink) is litter for `civicgrid purge-uploads`, not a loss: noted.
    leftovers = sorted((Path(var_dir) / "media" / "field-uploads").glob("*.part"))
    states = {
        str(u): (r, z, c is not None, used is not None)
        for u, r, z, c, used in Upload.objects.values_list(
            "uuid", "received", "size", "completed_at", "used_at"
        )
    }
    notes = []
    for part in leftovers:
        got = states.get(part.stem)
        what = (
            f"received {got[0]}/{got[1]}, complete {got[2]}, used {got[3]}"
            if got
            else "no upload row"
        )
        notes.append(f"part file left: {part.name} ({part.stat().st_size} bytes; {what})")
    counts["photos"] = {**dict(photo_counts), "part files left": len(leftovers)}
    counts["notes"] = notes
    return counts, problems


# --- the whole run --------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="civicgrid-killtest-"))
    url = ""
    server: Server | None = None
    created = False
    try:
        url = database_url(options, var_dir)
        say(f"database {display(url)}, server folder {var_dir}")
        create_database(url)
        created = True
        encryption_key = secrets.token_hex(32)
        os.environ.update(
            {
                "DATABASE_URL": url,
                "CIVICGRID_VAR_DIR": str(var_dir),
                "CIVICGRID_ENCRYPTION_KEY": encryption_key,
                "DJANGO_SETTINGS_MODULE": "civicgrid.config.settings",
            }
        )
        os.environ.pop("CIVICGRID_MODE", None)
        sys.path.insert(0, str(ROOT))  # `tests.world` when run as a file
        import django
        from django.core.management import call_command

        django.setup()
        t0 = time.monotonic()
        call_command("migrate", interactive=False, verbosity=0)
        say(f"migrated in {time.monotonic() - t0:.1f} s")
        t0 = time.monotonic()
        devices, categories = build(options.devices)
        per_device = plan(devices, categories, options)
        subs = [s for d in devices for s in per_device[d.index]]
        say(
            f"{len(devices)} devices, {len(subs)} submissions "
            f"({', '.join(f'{k} {v}' for k, v in Counter(s.kind for s in subs).items())}), "
            f"{sum(len(s.photos) for s in subs)} photos, {sum(s.replays for s in subs)} replays, "
            f"{sum(s.race for s in subs)} sent twice at once; set up in "
            f"{time.monotonic() - t0:.1f} s"
        )
        from django.db import connection

        connection.close()
        (var_dir / "static").mkdir(exist_ok=True)  # whitenoise's STATIC_ROOT (API only here)
        port = free_port()
        server = Server(
            port,
            server_environment(var_dir, url, encryption_key),
            var_dir,
            options.workers,
            options.threads,
        )
        t0 = time.monotonic()
        server.start()
        say(
            f"gunicorn {options.workers}×{options.threads} up on port {port} in "
            f"{time.monotonic() - t0:.1f} s"
        )
        stats = Stats()
        done = threading.Event()
        deadline = time.monotonic() + options.deadline
        gate = threading.Barrier(len(devices) + 1)
        threads = [
            threading.Thread(
                target=run_device,
                args=(d, per_device[d.index], port, options, stats, deadline, gate),
                name=f"device-{d.index}",
                daemon=True,
            )
            for d in devices
        ]
        for thread in threads:
            thread.start()

        def kill_and_restart() -> None:
            try:
                killer(server, stats, len(subs), options, done)
            except Exception as exc:  # the devices would wait for a server that never returns
                stats.finding(f"the server could not be killed or restarted: {exc!r}")

        kill_thread = threading.Thread(target=kill_and_restart, daemon=True)
        started = time.monotonic()
        gate.wait()
        kill_thread.start()
        for thread in threads:
            thread.join()
        done.set()
        kill_thread.join()
        elapsed = time.monotonic() - started
        server.stop()
        counts, problems = verify(subs, var_dir)
        findings = stats.findings
        not_acked = [s for s in subs if not s.acked]
        requests = sum(v for k, v in stats.requests.items() if not k.startswith("first send"))
        summary = {
            "database": display(url).split("://")[0],
            "devices": len(devices),
            "submissions": len(subs),
            "acknowledged": sum(s.acked for s in subs),
            "not acknowledged": len(not_acked),
            "kills": len(server.kills),
            "kill log": server.kills,
            "seconds": round(elapsed, 1),
            "requests answered": requests,
            "answers": dict(sorted(stats.requests.items())),
            "connection errors (retried)": stats.connection_errors,
            "5xx answers (retried)": len(stats.server_errors),
            "counts": counts,
            "problems": len(problems),
            "findings": len(findings),
        }
        print(json.dumps(summary, ensure_ascii=False, indent=1) if options.json else "")
        print(
            f"killtest: {len(subs)} submissions from {len(devices)} devices, "
            f"{summary['acknowledged']} acknowledged, {len(server.kills)} SIGKILLs, "
            f"{requests} answers in {elapsed:.1f} s, {stats.connection_errors} connection "
            f"errors retried"
        )
        for kind in (*KINDS, "photos"):
            print(f"  {kind}: " + ", ".join(f"{k} {v}" for k, v in counts[kind].items()))
        retried = {k: v for k, v in stats.requests.items() if k.startswith("first send")}
        print(
            "  answers: "
            + ", ".join(f"{k} {v}" for k, v in sorted(stats.requests.items()) if k not in retried)
        )
        print(
            "  records whose first send was cut off and retried: "
            + (", ".join(f"{k.split('→ ')[1]} {v}" for k, v in sorted(retried.items())) or "none")
        )
        for text in counts["notes"]:
            print(f"  note: {text}")
        for s in not_acked[:20]:
            problems.append(
                f"NOT ACKNOWLEDGED: {s.kind} {s.uuid} ({s.marker}): "
                f"{'; '.join(s.rejected) or 'no 2xx answer before the deadline'}"
            )
        for text in stats.server_errors[:10]:
            print(f"  5xx (retried): {text}")
        for text in findings[:40]:
            print(f"  FINDING: {text}")
        for text in problems[:60]:
            print(f"  {text}")
        failed = bool(problems or findings or not_acked)
        if failed:
            print("killtest: FAILED — server log tail:\n" + server.tail(30))
        else:
            print("killtest: OK — 0 acknowledged records lost, 0 duplicates")
        return 1 if failed else 0
    except SetupError as exc:
        say(f"set-up failed: {exc}")
        return 2
    finally:
        if server is not None:
            with contextlib.suppress(Exception):
                server.stop()
        if options.keep:
            say(f"kept {display(url)} and {var_dir}")
        else:
            if created:
                with contextlib.suppress(Exception):
                    from django.db import connection

                    connection.close()
                drop_database(url)
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
