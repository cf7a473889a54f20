"""Case pages through the Django test client: queues per role, the case page shows exactly the
actions the user may take, actions through the forms, intake with a photo."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.test import Client
from django.utils import timezone
from PIL import Image

from civicgrid.accounts.roles import Role
from civicgrid.cases.models import Case

from ..world import inside


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def people(world):
    return {
        "worker": world.user(Role.GRID_WORKER, "A1a1", name="worker"),
        "community": world.user(Role.CENTRE_STAFF, "A1a", name="community"),
        "other_township": world.user(Role.CENTRE_STAFF, "A2", name="other"),
        "handler": world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A", name="handler"),
        "leader": world.user(Role.LEADER, "A", name="leader"),
        "admin": world.user(Role.SYSTEM_ADMIN, "A", name="admin"),
    }


def _report(client, **extra):
    lng, lat = inside("A1a1")
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {
        "category": "environment.rubbish",
        "description": "楼下垃圾堆放三天了",
        "lat": lat,
        "lng": lng,
        "channel": "grid_app",
        "files": [SimpleUploadedFile("p.jpg", _jpeg(), content_type="image/jpeg")],
        **extra,
    }
    return client.post("/cases/new/", data)


def test_intake_form_and_the_case_page_actions(world, people):
    worker = _client(people["worker"])
    assert worker.get("/cases/new/").status_code == 200
    response = _report(worker)
    assert response.status_code == 302, response.content.decode()[:2000]
    case = Case.objects.get()
    assert case.attachments.count() == 1 and case.grid.code == "371602001001001"
    page = worker.get(f"/cases/{case.pk}/").content.decode()
    assert case.number in page and 'data-action="register"' not in page

    community = _client(people["community"])
    page = community.get(f"/cases/{case.pk}/").content.decode()
    assert 'data-action="register"' in page and 'data-action="accept"' not in page
    r = community.post(f"/cases/{case.pk}/act/register/", {"version": case.version})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.status == "registered"
    # A stale form (old version) is refused with a message, nothing changes.
    r = community.post(
        f"/cases/{case.pk}/act/dispatch/", {"version": case.version - 1}, follow=True
    )
    case.refresh_from_db()
    assert case.status == "registered"
    r = community.post(
        f"/cases/{case.pk}/act/dispatch/",
        {"version": case.version, "unit": world.units["urban-A"].pk},
    )
    case.refresh_from_db()
    assert case.status == "dispatched"

    handler = _client(people["handler"])
    queue = handler.get("/cases/?queue=my_unit").content.decode()
    assert case.number in queue
    # A note is required to return a case: the form shows the error, nothing changes.
    r = handler.post(f"/cases/{case.pk}/act/return/", {"version": case.version, "note": ""})
    assert r.status_code == 200 and "invalid-feedback" in r.content.decode()
    case.refresh_from_db()
    assert case.status == "dispatched"


def test_queues_and_scope(world, people):
    worker = _client(people["worker"])
    _report(worker)
    case = Case.objects.get()
    assert _client(people["other_township"]).get(f"/cases/{case.pk}/").status_code == 404
    assert _client(people["leader"]).get(f"/cases/{case.pk}/").status_code == 200
    assert _client(people["admin"]).get("/cases/").status_code == 403
    assert _client(people["admin"]).get(f"/cases/{case.pk}/").status_code == 404
    for role in ("worker", "community", "handler", "leader"):
        assert _client(people[role]).get("/cases/").status_code == 200, role


def test_bad_intake_is_a_form_error(world, people):
    worker = _client(people["worker"])
    r = worker.post(
        "/cases/new/", {"category": "environment.rubbish", "description": "", "channel": "grid_app"}
    )
    assert r.status_code == 200 and "invalid-feedback" in r.content.decode()
    r = worker.post(
        "/cases/new/",
        {
            "category": "environment.rubbish",
            "description": "x",
            "channel": "grid_app",
            "lat": 30.0,
            "lng": 110.0,
        },
    )
    assert r.status_code == 200 and Case.objects.count() == 0


def test_staged_limits_on_the_case_page_and_reporting_a_step(world, people):
    from civicgrid.cases import actions

    worker, community = _client(people["worker"]), _client(people["community"])
    assert _report(worker, category="facility.burst_main").status_code == 302
    case = Case.objects.get()
    actions.do_register_case(case, actor=people["community"], version=case.version)
    case.refresh_from_db()
    community.post(
        f"/cases/{case.pk}/act/dispatch/",
        {"version": case.version, "unit": world.units["urban-A"].pk},
    )
    handler = _client(people["handler"])
    case.refresh_from_db()
    assert handler.post(f"/cases/{case.pk}/act/accept/", {"version": case.version}).status_code
    case.refresh_from_db()
    assert case.stage == "handle" and len(case.steps_due) == 3

    page = handler.get(f"/cases/{case.pk}/").content.decode()
    staged = page.split('id="cg-staged"')[1].split("</dd>")[0]
    cordon = dt.datetime.fromisoformat(case.steps_due[0]["due"])
    assert "警戒围挡" in staged
    assert timezone.localtime(cordon).strftime("%Y-%m-%d %H:%M") in staged  # local, readable
    assert 'data-action="progress"' in page
    assert 'data-action="progress"' not in community.get(f"/cases/{case.pk}/").content.decode()

    r = handler.post(f"/cases/{case.pk}/act/progress/", {"version": case.version, "note": "已围挡"})
    assert r.status_code == 302
    case.refresh_from_db()
    assert case.steps_due[0]["done_at"] and case.status == "accepted"
    page = handler.get(f"/cases/{case.pk}/").content.decode()
    staged = page.split('id="cg-staged"')[1].split("</dd>")[0]
    assert staged.count("text-bg-success") == 1  # the cordon's "done" badge


@pytest.mark.parametrize("query", ["since=abc", "until=2026-13-40", "since=2026-02-30"])
def test_a_bad_date_filter_is_a_form_error(world, people, query):
    page = _client(people["community"]).get(f"/cases/?queue=open&{query}")
    assert page.status_code == 200
    assert "is-invalid" in page.content.decode() and "invalid-feedback" in page.content.decode()
    assert list(page.context["page_obj"]) == []


def test_a_good_date_filter_narrows_the_list(world, people):
    assert _report(_client(people["worker"])).status_code == 302
    community = _client(people["community"])
    today = timezone.localdate()
    found = community.get(f"/cases/?queue=open&since={today}&until={today}")
    assert len(found.context["page_obj"]) == 1 and "is-invalid" not in found.content.decode()
    later = today + dt.timedelta(days=1)
    assert len(community.get(f"/cases/?queue=open&since={later}").context["page_obj"]) == 0
