"""The patrol hours KPI (insights/duties.py): minutes of the patrols started in the period,
counted from the field app's patrols; "—" where no patrol was ever recorded (the field app is
not in use there), a real zero where it is but nobody patrolled this period."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from civicgrid.accounts.models import User
from civicgrid.demo.cases import simulated_clock
from civicgrid.fieldwork import actions
from civicgrid.fieldwork.receipts import body_hash
from civicgrid.insights import duties, query
from civicgrid.insights.query import KpiQuery, Period

from ..world import World, inside
from .conftest import people  # noqa: F401

pytestmark = pytest.mark.django_db


def _patrol(worker: User, key: str, start: dt.datetime, minutes: int) -> None:
    lng, lat = inside(key)
    end = start + dt.timedelta(minutes=minutes)
    track = [[lat, lng + i * 0.0001, start.timestamp() + 60 * i] for i in range(minutes + 1)]
    body = {
        "uuid": str(uuid.uuid4()),
        "started_at": start.isoformat(),
        "ended_at": end.isoformat(),
        "track": track,
        "note": "",
        "photos": [],
    }
    with simulated_clock(end + dt.timedelta(minutes=5)):
        answer = actions.do_submit_patrol(
            actor=worker,
            uuid=uuid.UUID(body["uuid"]),
            digest=body_hash(body),
            started_at=start,
            ended_at=end,
            track=track,
        )
    assert answer.status == 201


def _month_before(day: dt.date) -> dt.date:
    return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


@pytest.fixture
def patrols(world: World, people: dict[str, User]) -> dict[str, Any]:  # noqa: F811
    """Last month: the A1a1 worker patrols 40 min on the 2nd and 65 min from 23:50 on the last
    day (into this month); the A1a2 worker 30 min on the 15th. The month before: 20 min."""
    first = _month_before(timezone.localdate())
    period = Period.of("month", first)

    def at(day: dt.date, hours: float) -> dt.datetime:
        moment = dt.datetime.combine(day, dt.time.min) + dt.timedelta(hours=hours)
        return timezone.make_aware(moment)

    _patrol(people["worker"], "A1a1", at(first + dt.timedelta(days=1), 9), 40)
    _patrol(people["worker"], "A1a1", at(period.end, 23 + 50 / 60), 65)
    _patrol(people["worker_a1a2"], "A1a2", at(first + dt.timedelta(days=14), 14), 30)
    _patrol(people["worker"], "A1a1", at(_month_before(first), 10), 20)
    return {"period": period, "before": Period.of("month", _month_before(first))}


def _values(area: Any, period: Period) -> tuple[dict[str, Any], dict[str, Any]]:
    figures = query.figures(None, KpiQuery(area, period), compare=False)
    return figures.total.counters, figures.total.values


def test_patrol_hours_count_the_patrols_started_in_the_period(
    world: World, patrols: dict[str, Any]
) -> None:
    counters, values = _values(world.div["A1"], patrols["period"])
    assert counters["patrol_minutes"] == 40 + 65 + 30
    assert values["patrol_hours"] == pytest.approx(135 / 60)
    counters, values = _values(world.div["A1a1"], patrols["before"])
    assert counters["patrol_minutes"] == 20
    # This month: the field app is in use in A1, nobody patrolled yet — zero, not "—".
    this_month = Period.of("month", timezone.localdate())
    counters, values = _values(world.div["A1"], this_month)
    assert counters["patrol_minutes"] == 0
    assert values["patrol_hours"] == 0


def test_no_patrol_ever_recorded_reads_dash(world: World, patrols: dict[str, Any]) -> None:
    counters, values = _values(world.div["A2"], patrols["period"])
    assert "patrol_minutes" not in counters or counters["patrol_minutes"] == 0
    assert values["patrol_hours"] is None
    _counters, values = _values(world.div["B"], patrols["period"])
    assert values["patrol_hours"] is None


def test_patrol_minutes_per_subordinate_division(world: World, patrols: dict[str, Any]) -> None:
    by_grid = duties.counters_by(world.div["A1"], patrols["period"], 15)
    assert by_grid[world.div["A1a1"].path]["patrol_minutes"] == 105
    assert by_grid[world.div["A1a2"].path]["patrol_minutes"] == 30
    by_community = duties.counters_by(world.div["A"], patrols["period"], 12)
    assert by_community[world.div["A1a"].path]["patrol_minutes"] == 135


def test_the_dashboard_shows_patrol_hours(
    world: World,
    people: dict[str, User],  # noqa: F811
    patrols: dict[str, Any],
) -> None:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(people["township"])
    day = patrols["period"].start.isoformat()
    response = client.get(f"/insights/?division={world.div['A1'].code}&period=month&date={day}")
    assert response.status_code == 200
    html = response.content.decode()
    tile = html[html.index('data-kpi="patrol_hours"') :][:800]
    assert "2.2" in tile  # 135 min = 2.25 h, shown with one decimal
