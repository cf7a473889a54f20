"""What the phone keeps for offline work: the worker's grids and nothing else, numbers masked
(the leak scanner of tests/conftest.py reads every response for clear ones)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from civicgrid.cases.models import Case
from civicgrid.core.models import AccessLog, Notification

from ..cases.conftest import report, to_state
from .conftest import API, Field, client, post
from .test_sync_api import patrol_body, visit_body

pytestmark = pytest.mark.django_db


def bootstrap(user: Any) -> dict[str, Any]:
    response = client(user).get(API + "bootstrap/")
    assert response.status_code == 200, response.content
    return response.json()


def test_bootstrap_holds_the_workers_grid_and_its_people_masked(field: Field, settings) -> None:
    settings.FIELD_WIPE_HOURS = 48
    api = client(field.worker)
    post(api, "visits/", visit_body(household=field.household.pk))
    post(api, "patrols/", patrol_body())
    accessed = AccessLog.objects.count()
    data = bootstrap(field.worker)
    assert AccessLog.objects.count() == accessed  # reading it logs nothing special
    assert data["user"] == {
        "id": field.worker.pk,
        "username": field.worker.username,
        "name": field.worker.username,
    }
    assert dt.datetime.fromisoformat(data["server_time"]).utcoffset() == dt.timedelta(hours=8)
    assert data["settings"]["wipe_hours"] == 48
    assert data["settings"]["chunk_bytes"] == settings.FIELD_CHUNK_BYTES
    assert data["settings"]["max_photo_bytes"] == 20 * 1024 * 1024
    grid = field.world.div["A1a1"]
    assert [g["id"] for g in data["grids"]] == [grid.pk]
    assert data["grids"][0]["code"] == grid.code
    assert data["grids"][0]["boundary"]["type"] == "Polygon"
    lat, lng = data["grids"][0]["centre"]
    assert 37.0 < lat < 37.01 and 118.0 < lng < 118.01
    assert [h["id"] for h in data["households"]] == [field.household.pk]
    member = data["households"][0]["members"][0]
    assert member["id"] == field.elder.pk and member["name"] == "王秀英"
    assert member["id_masked"] == field.elder.id_masked and "*" in member["id_masked"]
    assert member["phone_masked"] == "138****5678"
    assert member["age"] >= 80 and member["version"] == field.elder.version
    assert member["care"] == ["elderly living alone"] or member["care"] == ["独居老人"]
    assert member["care_tags"][0]["id"] == field.tag.pk
    assert "id_enc" not in str(data) and "phone_enc" not in str(data)
    [due] = data["care_due"]
    assert (due["care_tag"], due["resident"], due["household"]) == (
        field.tag.pk,
        field.elder.pk,
        field.household.pk,
    )
    assert due["overdue"] is False and due["next_visit_due"] == timezone.localdate().isoformat()
    codes = {c["code"] for c in data["categories"]}
    assert "environment.rubbish" in codes and "environment" not in codes  # minor classes
    assert {p["value"] for p in data["purposes"]} >= {"care", "household", "other"}
    assert len(data["recent"]["visits"]) == 1 and len(data["recent"]["patrols"]) == 1
    assert data["recent"]["visits"][0]["name"] == "王秀英"


def test_bootstrap_lists_the_workers_tasks_and_reports(field: Field, people) -> None:
    worker = field.worker
    mine = report(worker)
    checking = to_state(report(people["community"]), "checking", people, field.world)
    Notification.objects.create(user=worker, kind="urge", title="请尽快核查", url="/cases/1/")
    Notification.objects.create(user=worker, kind="urge", title="已读", read_at=timezone.now())
    data = bootstrap(worker)
    case_tasks = [t for t in data["tasks"] if t["kind"] == "case"]
    assert [t["id"] for t in case_tasks] == [checking.pk]
    assert case_tasks[0]["url"] == f"/cases/{checking.pk}/"
    notices = [t for t in data["tasks"] if t["kind"] == "notice"]
    titles = [n["title"] for n in notices]
    assert titles[0] == "请尽快核查" and "已读" not in titles  # unread only, newest first
    assert any(checking.number in t for t in titles)  # the check assigned to the worker
    assert [c["id"] for c in data["recent"]["cases"]] == [mine.pk]
    assert Case.objects.count() == 2


def test_bootstrap_is_for_grid_workers_and_leaders_of_a_grid(field: Field) -> None:
    for who in ("community", "handler", "leader", "grid_leader", "sysadmin"):
        assert client(field.people[who]).get(API + "bootstrap/").status_code == 403, who
    assert client(field.people["worker_b"]).get(API + "bootstrap/").status_code == 200
    other = bootstrap(field.people["worker_a1a2"])
    assert [h["id"] for h in other["households"]] == [field.other_household.pk]
    assert other["care_due"] == []


def test_members_of_sensitive_key_groups_sent_to_the_phone_are_logged_once_a_day(
    field: Field,
) -> None:
    from civicgrid.registry import actions as registry

    registry.do_tag_resident(
        field.elder, actor=field.worker, data={"group": "community_correction"}
    )
    bootstrap(field.worker)
    bootstrap(field.worker)
    logged = AccessLog.objects.filter(action="sync_care")
    assert [(log.object_id, log.fields, log.actor_id) for log in logged] == [
        (str(field.elder.pk), ["community_correction"], field.worker.pk)
    ]
