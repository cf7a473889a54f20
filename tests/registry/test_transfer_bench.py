"""The registry benchmark's code path at a few hundred rows (bench/registry.py; the benchmark
itself runs with `python -m bench --only registry`, never in the test suite)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from django.db import connection

from civicgrid.registry.models import Resident

from ..world import GRID_KEYS, World

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the registry benchmark runs on PostgreSQL"
)


def test_bench_code_path(world: World, tmp_path: Path) -> None:
    from bench import registry

    grids = [world.div[k].code for k in GRID_KEYS]
    data = registry.write_files(grids, rows=300, small=100, seed=1, folder=str(tmp_path))
    assert len(Path(data["full"]).read_text(encoding="utf-8").splitlines()) == 301
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    copies = [registry._copy_bare(url, data["full"])]
    assert copies[0][2] == 300
    measured = registry.measure_import(data["full"], 0)
    assert measured["created"] == 300 == Resident.objects.count()
    assert measured["written"]["search terms"] > 300
    search = registry.measure_search(5, 1)
    assert search["residents"] == 300 and search["overall"]["p95"] > 0
    measured.update(postgres_cpu=0.0, machine_busy=0.0, profile={"rows": 0, "steps": []})
    options = argparse.Namespace(seed=1)
    context = {
        "command": "python -m bench --only registry",
        "database": "test",
        "city": "test world",
        "caution": "",
        "date": "today",
        "registry_db": "test",
    }
    text = registry._render(data, copies, measured, measured, search, options, context, {})
    assert "## registry: import of 300 residents" in text
    assert "Import target" in text and "Search target" in text
