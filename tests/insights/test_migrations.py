"""The migration that adds CommunityRollup marks every township-month the rollup holds, so
that the task worker fills the new grain (an upgraded installation would otherwise read empty
community figures)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("insights", "0003_rollup_area_prefix")]
AFTER = [("insights", "0004_community_rollup")]


@pytest.mark.django_db(transaction=True)
def test_upgrading_marks_every_bucket_for_the_worker() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        apps = executor.loader.project_state(BEFORE).apps
        category = apps.get_model("catalog", "CaseCategory").objects.filter(parent=None).first()
        if category is None:
            category = apps.get_model("catalog", "CaseCategory").objects.create(
                code="test.major", name="测试", name_en="test"
            )
        rollup = apps.get_model("insights", "CaseRollup")
        months = [dt.date(2026, 9, 1), dt.date(2026, 10, 1)]
        for month in months:
            for area in ("371602001", "371603001", "371602"):
                rollup.objects.create(month=month, area=area, category=category, reported=1)
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        dirty = executor.loader.project_state(AFTER).apps.get_model("insights", "RollupDirty")
        assert sorted(dirty.objects.values_list("month", "area")) == sorted(
            (m, a) for m in months for a in ("371602001", "371603001", "371602")
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
