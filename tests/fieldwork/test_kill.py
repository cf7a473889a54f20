"""The kill test (killtest.py) as part of the suite, on the suite's database engine: the
production server is SIGKILLed several times while 200 devices sync 1,000 submissions with
replays; no acknowledged record may be lost and none may exist twice.

It runs in a process of its own, against a database of its own (SQLite in a temporary folder,
or `<DATABASE_URL's name>_killtest` on PostgreSQL), never the suite's test database."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

from .killtest import ROOT

pytestmark = pytest.mark.slow


def test_killing_the_server_mid_sync_loses_and_duplicates_nothing() -> None:
    command = [sys.executable, "-m", "tests.fieldwork.killtest", "--deadline", "240"]
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        command += ["--database-url", os.environ["DATABASE_URL"]]
    else:
        command += ["--sqlite"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=330, check=False
    )
    report = (
        result.stdout
        + "\n"
        + "\n".join(line for line in result.stderr.splitlines() if line.startswith("killtest:"))
    )
    print(report)
    assert result.returncode == 0, report[-12_000:]
    assert "0 acknowledged records lost, 0 duplicates" in result.stdout
