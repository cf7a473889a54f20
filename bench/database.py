"""The benchmarks' own database: derived from DATABASE_URL, created on demand, never a test one.

`make bench` passes the project's PostgreSQL URL; the benchmarks must not load 7,800 grids into
the database a developer (or pytest-django's `test_…` copy) works with, so the name gets a
`_bench` suffix unless it already has one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/civicgrid_bench"
SUFFIX = "_bench"


class BenchDatabaseError(RuntimeError):
    pass


def bench_url(url: str | None) -> str:
    """The benchmark database for a project database URL (or the default one)."""
    if not url:
        return DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres"):
        name = parts.path.lstrip("/") or "civicgrid"
        if name.startswith("test_"):
            raise BenchDatabaseError(f"refusing to benchmark in a test database ({name})")
        if not name.endswith(SUFFIX):
            name += SUFFIX
        return urlunsplit(parts._replace(path="/" + name))
    if parts.scheme == "sqlite":
        import dj_database_url

        path = Path(str(dj_database_url.parse(url)["NAME"]))
        if not path.name or str(path) == ":memory:":
            raise BenchDatabaseError(f"cannot derive a benchmark database from {url!r}")
        if not path.stem.endswith(SUFFIX):
            path = path.with_name(path.stem + SUFFIX + path.suffix)
        return f"sqlite:///{path}"
    raise BenchDatabaseError(f"unsupported database URL scheme {parts.scheme!r}")


def explicit_url(url: str) -> str:
    """A URL given on the command line is used as it is, except for a test database."""
    parts = urlsplit(url)
    if parts.scheme.startswith("postgres") and parts.path.lstrip("/").startswith("test_"):
        raise BenchDatabaseError(f"refusing to benchmark in a test database ({parts.path[1:]})")
    return url


def display_url(url: str) -> str:
    """The URL without a password, for printing and for RESULTS.md."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def ensure(url: str, *, reset: bool = False) -> None:
    """Create the database if it is missing (drop it first with `reset`)."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        import dj_database_url

        path = Path(str(dj_database_url.parse(url)["NAME"]))
        if reset:
            for extra in ("", "-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    import psycopg
    from psycopg import sql

    name = parts.path.lstrip("/")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if reset:
            conn.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
        exists = conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone()
        if not exists:
            # UTF-8 ctype as scripts/ensure-postgres.sh does: text search on Chinese needs it.
            conn.execute(
                sql.SQL(
                    "create database {} encoding 'UTF8' lc_collate 'C.UTF-8' lc_ctype 'C.UTF-8' "
                    "template template0"
                ).format(sql.Identifier(name))
            )
            print(f"bench: created database {name}", file=sys.stderr)


def setup_django(url: str, *, migrate: bool = True) -> None:
    # Set in the environment (not only in settings) so that child processes inherit it.
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "civicgrid.config.settings")
    import django
    from django.core.management import call_command

    django.setup()
    if migrate:
        # Idempotent and quick when nothing is pending; keeps the bench database current.
        call_command("migrate", interactive=False, verbosity=0)


def ensure_city(seed: int) -> str:
    """Load the `city` preset unless it is there already; say which happened."""
    from civicgrid.core.context import work_context
    from civicgrid.core.importing import TerminalProgress
    from civicgrid.demo.city import CITY, plan_city
    from civicgrid.demo.load import load_city
    from civicgrid.geo.models import Division, Grid

    if Division.objects.exists():
        grids = Grid.objects.count()
        # The city preset has one city division 371600 and thousands of grids; the small preset
        # (or anything else) would make the figures meaningless, so refuse rather than guess.
        if not Division.objects.filter(code=CITY[0], is_active=True).exists() or grids < 5000:
            raise BenchDatabaseError(
                f"the benchmark database holds something other than the city preset "
                f"({grids} grids); rerun with --reset-db"
            )
        return f"kept the city preset already in the database ({grids} grids)"
    plan = plan_city("city", seed)
    with work_context():
        load_city(plan, progress=TerminalProgress("bench: loading city preset", sys.stderr))
    return f"loaded the city preset, seed {seed} ({Grid.objects.count()} grids)"
