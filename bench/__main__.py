"""`python -m bench`: run the benchmarks and refresh their sections of bench/RESULTS.md.

Uses its own database (DATABASE_URL's name + `_bench`, see bench/database.py), creating it,
migrating it and loading the `city` demo preset there when needed.

- locate: point → grid against bare shapely (bench/locate.py);
- intake: case intake through the HTTP API against PostgreSQL's INSERT rate (bench/intake.py);
- sweep: the SLA sweep over a million open cases against its bare UPDATEs (bench/sweep.py);
- registry: importing a million residents against COPY of the same rows, the importer's memory,
  and name search over them (bench/registry.py);
- insights: KPI figures over ten million cases, the rollup against a raw GROUP BY, in a database
  of its own (bench/insights.py);
- fieldwork: the field app's sync from 200 devices against PostgreSQL's INSERT rate, and its app
  shell in Chromium: first-load size, throttled time to interactive, offline open
  (bench/fieldwork.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import sys
from pathlib import Path

from . import database, fieldwork, insights, intake, locate, registry, sweep
from .common import RESULTS, wait_for_quiet, write_section

BENCHMARKS = ("locate", "intake", "sweep", "registry", "insights", "fieldwork")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="civicgrid benchmarks, each measured against the underlying engine in the "
        "same run; results are written to bench/RESULTS.md.",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=BENCHMARKS,
        default=list(BENCHMARKS),
        help="benchmarks to run (default: all)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of each measurement, each side (default 3)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the random points, the province cells and the city",
    )
    parser.add_argument(
        "--database-url",
        help="benchmark database (default: DATABASE_URL with a _bench suffix, or "
        f"{database.DEFAULT_URL})",
    )
    parser.add_argument(
        "--reset-db", action="store_true", help="drop and recreate the benchmark database first"
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each benchmark, wait up to SECONDS for the 1-minute load average to fall "
        "below half the CPU count (a shared machine); the wait is reported",
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help=f"print the results only; leave {RESULTS.name} alone",
    )
    locate.add_arguments(parser)
    intake.add_arguments(parser)
    sweep.add_arguments(parser)
    registry.add_arguments(parser)
    insights.add_arguments(parser)
    fieldwork.add_arguments(parser)
    options = parser.parse_args(argv)
    intake.validate(options, parser)
    sweep.validate(options, parser)
    registry.validate(options, parser)
    insights.validate(options, parser)
    fieldwork.validate(options, parser)
    if options.repeat < 1 or options.points < 1 or options.single_points < 1:
        parser.error("--repeat, --points and --single-points must be positive")
    if options.province_grids < 2:
        parser.error("--province-grids must be at least 2")
    return options


def _command(argv: list[str]) -> str:
    """The command line as typed from the repository root, with the DATABASE_URL it saw."""
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(Path.cwd())
    env = os.environ.get("DATABASE_URL")
    prefix = f"DATABASE_URL={database.display_url(env)} " if env else ""
    return f"{prefix}{python} -m bench {shlex.join(argv)}".rstrip()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    command = _command(argv)
    try:
        if options.database_url:
            url = database.explicit_url(options.database_url)
        else:
            url = database.bench_url(os.environ.get("DATABASE_URL"))
        database.ensure(url, reset=options.reset_db)
        database.setup_django(url)
        # Every benchmark works on the city preset (intake posts as its grid workers, the
        # sweep's cases point at its grids and units).
        # The insights benchmark builds a province of its own and needs no city preset.
        city = (
            database.ensure_city(options.seed)
            if set(options.only) - {"insights"}
            else "city preset not needed (insights only)"
        )
    except database.BenchDatabaseError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(f"bench: database {database.display_url(url)}: {city}", file=sys.stderr)
    context = {"command": command, "database": database.display_url(url), "city": city}
    for name in options.only:
        quiet = wait_for_quiet(options.quiet_wait, (os.cpu_count() or 2) / 2)
        if quiet:
            print(f"bench: {name}: {quiet}", file=sys.stderr)
        context["quiet"] = quiet
        postgres_only = ("intake", "sweep", "registry", "insights", "fieldwork")
        if name in postgres_only and not url.startswith("postgres"):
            print(f"bench: {name} runs on PostgreSQL only; skipped", file=sys.stderr)
            continue
        try:
            if name == "locate":
                section = locate.run(options, context)
            elif name == "intake":
                section = intake.run(options, context)
            elif name == "registry":
                section = registry.run(options, context)
            elif name == "insights":
                section = insights.run(options, context)
            elif name == "fieldwork":
                section = fieldwork.run(options, context)
            else:
                section = sweep.run(options, context)
        except RuntimeError as exc:
            print(f"bench: {name}: {exc}", file=sys.stderr)
            return 1
        print(section)
        if not options.no_write:
            write_section(name, section)
            print(f"bench: wrote the {name} section of {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
