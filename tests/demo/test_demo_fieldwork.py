"""The demo's field work: visits, patrols and check-ins written through the field app's actions
(each with its receipt), consistent with the demo registry, inside the grids, in the past — and
enough of it for the duties page and the KPIs to show something worth reading."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from shapely.geometry import Point, shape

from civicgrid.accounts.models import User
from civicgrid.core.models import ObjectChange
from civicgrid.fieldwork import duties
from civicgrid.fieldwork.models import CheckIn, Patrol, Receipt, Visit
from civicgrid.geo.models import Division
from civicgrid.insights import query
from civicgrid.insights.query import KpiQuery, Period
from civicgrid.registry.models import CareTag

from ..geo.helpers import run

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(db: None) -> User:
    result = run("demo_city", "--preset", "small", "--seed", "3", "--cases", "0")
    assert result.ok, result.text
    return User.objects.get(username="gridworker")


def test_demo_field_work_is_real_consistent_and_in_the_past(demo: User) -> None:
    now = timezone.now()
    visits, patrols, check_ins = Visit.objects.all(), Patrol.objects.all(), CheckIn.objects.all()
    assert visits.count() > 50 and patrols.count() > 20 and check_ins.count() > 10
    # Everything went through the actions: one receipt per record, by its worker.
    assert Receipt.objects.count() == visits.count() + patrols.count() + check_ins.count()
    for model in (Visit, Patrol, CheckIn):
        for row in model.objects.all()[:50]:
            receipt = Receipt.objects.get(uuid=row.client_uuid)
            assert (receipt.user_id, receipt.object_id) == (row.worker_id, row.pk)
    assert not visits.filter(visited_at__gt=now).exists()
    assert not patrols.filter(ended_at__gt=now).exists()
    assert not check_ins.filter(at__gt=now).exists()
    # Care visits: a tag of the visit's own grid, on the dates the registry keeps.
    latest: dict[int, dt.date] = {}
    for visit in visits.filter(care_tag__isnull=False).select_related("care_tag"):
        assert visit.care_tag.division_id == visit.division_id
        assert visit.resident_id == visit.care_tag.resident_id
        day = timezone.localdate(visit.visited_at)
        latest[visit.care_tag_id] = max(latest.get(visit.care_tag_id, day), day)
    assert latest
    for tag in CareTag.objects.filter(pk__in=list(latest)):
        assert tag.last_visit_on == latest[tag.pk]
    # Each care visit wrote the registry's visit record (what the KPI counts), at sync time.
    recorded = ObjectChange.objects.filter(
        content_type=ContentType.objects.get_for_model(CareTag), action="visit"
    )
    assert recorded.count() == len([v for v in visits if v.care_tag_id])
    assert not recorded.filter(time__gt=now).exists()
    # Tracks walk inside their grid, at a walking pace.
    boundaries = {d.pk: shape(d.boundary) for d in Division.objects.filter(level=6)}
    for patrol in patrols[:40]:
        grid = boundaries[patrol.division_id]
        inside = sum(grid.buffer(0.0005).contains(Point(p[1], p[0])) for p in patrol.track)
        assert inside == len(patrol.track)
        assert 30 <= patrol.minutes <= 120
        assert 0.3 <= patrol.distance_m / (patrol.minutes * 60) <= 2.5
        times = [p[2] for p in patrol.track]
        assert times == sorted(times)
    assert check_ins.filter(inside_grid=False).exists()


def test_the_demo_township_has_a_morning_report(demo: User) -> None:
    home = Division.objects.get(pk=demo.division_id)
    township = home.parent.parent
    assert township is not None
    found = duties.duties(township, duties.month_period())
    t = found.total
    assert t.workers == Division.objects.filter(level=6, path__startswith=township.path).count()
    assert t.visits > 0 and t.patrols > 0 and t.visits_done > 0
    assert t.workers_without_patrol >= 1  # someone to call
    assert t.overdue_members > 0  # the demo registry's overdue members stay overdue
    mine = [r for r in found.rows if r.worker == demo]
    assert mine and mine[0].patrols > 0 and mine[0].last_activity is not None
    # Last month too, for the demo login's own grid.
    last = (timezone.localdate().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    before = duties.duties(home, Period.of("month", last))
    assert before.total.visits > 0
    # The dashboard's duty figures have values.
    figures = query.figures(None, KpiQuery(township, duties.month_period()), compare=False)
    assert figures.total.values["patrol_hours"] is not None
    assert figures.total.values["visits_rate"] is not None


def test_workers_differ(demo: User) -> None:
    """Not one template copied across workers: patrol counts spread."""
    counts: dict[int, int] = defaultdict(int)
    for worker_id in Patrol.objects.values_list("worker_id", flat=True):
        counts[worker_id] += 1
    assert len(set(counts.values())) > 2
