"""The field app's submissions: cases, visits, patrols, check-ins and resident fixes — each
taken in once, with its photos, only in the grid worker's own grids; and the reads of the
records by scope."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone
from PIL import Image

from civicgrid.cases.models import Attachment, Case
from civicgrid.core.models import ObjectChange
from civicgrid.fieldwork import uploads
from civicgrid.fieldwork.models import CheckIn, DutyPhoto, Patrol, Receipt, Upload, Visit
from civicgrid.registry.models import CareTag, Resident

from ..cases.conftest import category
from ..registry.conftest import valid_id
from .conftest import API, Field, client, field_error, jpeg, point, post, upload

pytestmark = pytest.mark.django_db


def now_iso(**delta: Any) -> str:
    return (timezone.now() + dt.timedelta(**delta)).isoformat()


def case_body(**overrides: Any) -> dict[str, Any]:
    lat, lng = point("A1a1")
    return {
        "uuid": str(uuid.uuid4()),
        "category": category("environment.rubbish").pk,
        "description": "楼道堆放杂物",
        "lat": lat,
        "lng": lng,
        "address": "3号楼南侧",
        "photos": [],
        "self_resolve": False,
        "note": "",
        **overrides,
    }


def visit_body(**overrides: Any) -> dict[str, Any]:
    return {
        "uuid": str(uuid.uuid4()),
        "purpose": "household",
        "visited_at": now_iso(minutes=-30),
        "note": "入户走访",
        "photos": [],
        **overrides,
    }


def patrol_body(**overrides: Any) -> dict[str, Any]:
    start = timezone.now() - dt.timedelta(hours=2)
    lat, lng = point("A1a1")
    track = [[lat, lng + i * 0.0001, int(start.timestamp()) + 15 * i] for i in range(11)]
    return {
        "uuid": str(uuid.uuid4()),
        "started_at": start.isoformat(),
        "ended_at": (start + dt.timedelta(minutes=42)).isoformat(),
        "track": track,
        "note": "巡查",
        "photos": [],
        **overrides,
    }


# --- cases ----------------------------------------------------------------------------------
def test_a_case_with_a_photo_is_reported_once_and_replays(
    field: Field, django_capture_on_commit_callbacks: Any
) -> None:
    api = client(field.worker)
    photo = upload(api, jpeg((400, 300), gps=True))
    body = case_body(photos=[photo])
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, "cases/", body)
    assert response.status_code == 201, response.content
    answer = response.json()
    case = Case.objects.get(pk=answer["id"])
    assert answer == {
        "uuid": body["uuid"],
        "kind": "case",
        "id": case.pk,
        "number": case.number,
        "status": "reported",
        "status_label": answer["status_label"],
        "url": f"/cases/{case.pk}/",
        "photos": [photo],
    }
    assert (case.channel, case.reporter, str(case.client_uuid)) == (
        "grid_app",
        field.worker,
        body["uuid"],
    )
    assert case.grid_id == field.world.div["A1a1"].pk
    attachment = Attachment.objects.get(case=case)
    assert str(attachment.client_uuid) == photo
    with attachment.file.open("rb") as f, Image.open(f) as image:
        assert not image.getexif()  # re-encoded: no position, no device
    assert Upload.objects.get(pk=photo).used_at is not None
    assert not uploads.part_path(photo).exists()  # removed after the commit
    # the phone never heard the answer: it sends the same body again
    replay = post(api, "cases/", body)
    assert replay.status_code == 200 and replay["Idempotent-Replay"] == "true"
    assert replay.json() == answer
    assert Case.objects.count() == 1 and Attachment.objects.count() == 1
    # the same uuid with another body is a conflict, and writes nothing
    changed = post(api, "cases/", {**body, "description": "另一件事"})
    assert changed.status_code == 409 and changed.json()["code"] == "replay"
    receipt = Receipt.objects.get(pk=body["uuid"])
    assert (receipt.kind, receipt.object_id, receipt.user) == ("case", case.pk, field.worker)


def test_a_case_resolved_on_the_spot_closes_with_its_evidence(field: Field) -> None:
    api = client(field.worker)
    photo = upload(api)
    response = post(
        api,
        "cases/",
        case_body(photos=[photo], self_resolve=True, note="已清理", category="environment.rubbish"),
    )
    assert response.status_code == 201, response.content
    case = Case.objects.get(pk=response.json()["id"])
    assert case.status == "closed" and case.self_resolved
    assert response.json()["status"] == "closed"
    field_error(post(api, "cases/", case_body(self_resolve=True, note="已清理")), "photos")
    field_error(post(api, "cases/", case_body(self_resolve=True, photos=[upload(api)])), "note")


def test_a_case_outside_the_workers_grids_is_refused(field: Field) -> None:
    api = client(field.worker)
    lat, lng = point("A1a2")
    field_error(post(api, "cases/", case_body(lat=lat, lng=lng)), "lat")
    field_error(post(api, "cases/", case_body(grid=field.world.div["A1a2"].pk)), "grid")
    field_error(post(api, "cases/", case_body(category="no.such")), "category")
    field_error(post(api, "cases/", case_body(lat=None)), "lat")
    assert not Case.objects.exists() and not Receipt.objects.exists()
    # without a point, the case lies in the worker's grid
    response = post(api, "cases/", case_body(lat=None, lng=None))
    assert response.status_code == 201, response.content
    assert Case.objects.get().division_id == field.world.div["A1a1"].pk


# --- visits ---------------------------------------------------------------------------------
def test_a_care_visit_with_a_photo_records_the_tags_visit(field: Field) -> None:
    api = client(field.worker)
    photo = upload(api, jpeg((500, 400), gps=True))
    body = visit_body(purpose="care", care_tag=field.tag.pk, photos=[photo])
    response = post(api, "visits/", body)
    assert response.status_code == 201, response.content
    answer = response.json()
    visit = Visit.objects.get(pk=answer["id"])
    assert answer["kind"] == "visit" and answer["uuid"] == body["uuid"]
    assert (visit.care_tag, visit.resident, visit.household) == (
        field.tag,
        field.elder,
        field.household,
    )
    assert visit.division == field.world.div["A1a1"] and visit.worker == field.worker
    tag = CareTag.objects.get(pk=field.tag.pk)
    assert tag.last_visit_on == timezone.localdate()
    assert tag.next_visit_due == timezone.localdate() + dt.timedelta(days=tag.visit_every_days)
    stored = DutyPhoto.objects.get(visit=visit)
    assert str(stored.client_uuid) == photo and stored.division_path == visit.division_path
    with stored.file.open("rb") as f, Image.open(f) as image:
        assert image.format == "JPEG" and not image.getexif()
    assert ObjectChange.objects.filter(action="field_visit", object_id=str(visit.pk)).count() == 1
    replay = post(api, "visits/", body)
    assert replay.status_code == 200 and replay.json() == answer
    assert Visit.objects.count() == 1 and DutyPhoto.objects.count() == 1
    assert CareTag.objects.get(pk=tag.pk).version == tag.version  # not visited twice


def test_a_visit_names_only_households_and_people_of_the_workers_grids(field: Field) -> None:
    api = client(field.worker)
    field_error(post(api, "visits/", visit_body(household=field.other_household.pk)), "household")
    field_error(post(api, "visits/", visit_body(resident=field.other_resident.pk)), "resident")
    field_error(post(api, "visits/", visit_body(care_tag=987654)), "care_tag")
    field_error(
        post(
            api,
            "visits/",
            visit_body(household=field.household.pk, resident=field.other_resident.pk),
        ),
        "resident",
    )
    field_error(post(api, "visits/", visit_body(visited_at=now_iso(minutes=30))), "visited_at")
    field_error(post(api, "visits/", visit_body(purpose="gossip")), "purpose")
    assert not Visit.objects.exists() and not Receipt.objects.exists()
    response = post(api, "visits/", visit_body(household=field.household.pk))
    assert response.status_code == 201
    assert response.json()["grid"] == field.world.div["A1a1"].pk


def test_photos_must_be_complete_uploads_of_the_same_user_used_once(field: Field) -> None:
    api = client(field.worker)
    pending = str(uuid.uuid4())
    post(api, "uploads/", {"uuid": pending, "size": 1000, "name": "a.jpg"})
    strangers = upload(client(field.people["worker_a1a2"]))
    unknown = str(uuid.uuid4())
    response = post(api, "visits/", visit_body(photos=[pending, strangers, unknown]))
    assert response.status_code == 409
    assert response.json()["code"] == "photos_pending"
    assert sorted(response.json()["photos"]) == sorted([pending, strangers, unknown])
    good = upload(api)
    first = post(api, "visits/", visit_body(photos=[good]))
    assert first.status_code == 201
    again = post(api, "patrols/", patrol_body(photos=[good]))
    assert again.status_code == 409
    assert again.json() == {
        "detail": again.json()["detail"],
        "code": "photos_used",
        "photos": [good],
    }
    assert post(api, "cases/", case_body(photos=[good])).status_code == 409
    # nothing half-written by the refused ones
    assert Visit.objects.count() == 1 and not Patrol.objects.exists()
    assert not Case.objects.exists() and Receipt.objects.count() == 1
    assert Upload.objects.get(pk=strangers).used_at is None
    field_error(post(api, "visits/", visit_body(photos=[good, good])), "photos")
    field_error(post(api, "visits/", visit_body(photos=["not-a-uuid"])), "photos")
    field_error(post(api, "visits/", visit_body(photos="abc")), "photos")


# --- patrols --------------------------------------------------------------------------------
def test_a_patrol_is_measured_by_the_server(field: Field) -> None:
    api = client(field.worker)
    body = patrol_body()
    response = post(api, "patrols/", body)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["kind"] == "patrol" and answer["minutes"] == 42
    # ten steps of 0.0001° of longitude at 37.005° N: about 89 m
    assert 85 <= answer["distance_m"] <= 92
    patrol = Patrol.objects.get(pk=answer["id"])
    assert len(patrol.track) == 11 and patrol.division == field.world.div["A1a1"]


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"ended_at": "started"}, "ended_at"),
        ({"ended_at": "-1"}, "ended_at"),
        ({"ended_at": "+25h"}, "ended_at"),
        ({"track": [["37.0", "118.0", "1700000000"]]}, "track"),
        ({"track": [[37.0, 118.0]]}, "track"),
        ({"track": [[95.0, 118.0, 1700000000]]}, "track"),
        ({"track": [[37.0, 118.0, True]]}, "track"),
        ({"track": "37,118"}, "track"),
        ({"track": [[37.0, 118.0, 1700000000]] * 20_001}, "track"),
        ({"started_at": "yesterday"}, "started_at"),
    ],
)
def test_a_bad_patrol_names_the_field(field: Field, change: dict[str, Any], name: str) -> None:
    body = patrol_body()
    start = dt.datetime.fromisoformat(body["started_at"])
    shifts = {"started": 0, "-1": -1, "+25h": 25 * 60}
    if change.get("ended_at") in shifts:
        change = {
            "ended_at": (start + dt.timedelta(minutes=shifts[change["ended_at"]])).isoformat()
        }
    field_error(post(client(field.worker), "patrols/", {**body, **change}), name)
    assert not Patrol.objects.exists() and not Receipt.objects.exists()


# --- check-ins ------------------------------------------------------------------------------
def test_a_check_in_says_whether_it_lies_in_the_workers_grid(field: Field) -> None:
    api = client(field.worker)
    lat, lng = point("A1a1")
    body = {"uuid": str(uuid.uuid4()), "at": now_iso(), "lat": lat, "lng": lng, "accuracy": 12.4}
    response = post(api, "check-ins/", body)
    assert response.status_code == 201
    grid = field.world.div["A1a1"].pk
    assert response.json() == {
        "uuid": body["uuid"],
        "kind": "check_in",
        "id": response.json()["id"],
        "inside_grid": True,
        "grid": grid,
    }
    assert CheckIn.objects.get().accuracy_m == 12
    lat, lng = point("B1a1")
    outside = post(api, "check-ins/", {**body, "uuid": str(uuid.uuid4()), "lat": lat, "lng": lng})
    assert outside.json()["inside_grid"] is False and outside.json()["grid"] == grid


# --- residents ------------------------------------------------------------------------------
def test_a_worker_adds_and_fixes_residents_of_their_grid_through_the_registry(
    field: Field,
) -> None:
    api = client(field.worker)
    body = {
        "uuid": str(uuid.uuid4()),
        "household": field.household.pk,
        "name": "王小明",
        "id_type": "resident_id",
        "id_number": valid_id(birth="20100505", seq="456"),
        "phone": "13700001111",
        "relation": "grandchild",
    }
    response = post(api, "residents/", body)
    assert response.status_code == 201, response.content
    answer = response.json()
    person = Resident.objects.get(pk=answer["id"])
    assert (person.household, person.division) == (field.household, field.household.division)
    assert answer["id_masked"] == person.id_masked and "*" in answer["id_masked"]
    assert answer["phone_masked"] == "137****1111"
    assert post(api, "residents/", body).status_code == 200  # a replay
    fix = {"uuid": str(uuid.uuid4()), "resident": person.pk, "version": 1, "note": "已核实"}
    fixed = post(api, "residents/", fix)
    assert fixed.status_code == 201 and fixed.json()["version"] == 2
    assert Resident.objects.get(pk=person.pk).note == "已核实"
    stale = post(api, "residents/", {**fix, "uuid": str(uuid.uuid4()), "note": "再改"})
    assert stale.status_code == 409 and stale.json()["code"] == "version"
    field_error(
        post(api, "residents/", {**fix, "uuid": str(uuid.uuid4()), "version": None}), "version"
    )
    field_error(
        post(
            api,
            "residents/",
            {**fix, "uuid": str(uuid.uuid4()), "resident": field.other_resident.pk},
        ),
        "resident",
    )
    field_error(
        post(
            api,
            "residents/",
            {**body, "uuid": str(uuid.uuid4()), "household": field.other_household.pk},
        ),
        "household",
    )
    field_error(
        post(api, "residents/", {**body, "uuid": str(uuid.uuid4()), "id_number": "123"}),
        "id_number",
    )
    field_error(
        post(api, "residents/", {**body, "uuid": str(uuid.uuid4()), "id_type": "passport_of_mars"}),
        "id_type",
    )
    field_error(post(api, "residents/", {"uuid": str(uuid.uuid4()), "name": "无户"}), "household")


# --- bad input from a phone -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("visits/", {"uuid": None}, "uuid"),
        ("visits/", {"uuid": "1234"}, "uuid"),
        ("visits/", {"uuid": 5}, "uuid"),
        ("visits/", {"household": "nine"}, "household"),
        ("visits/", {"lat": "north", "lng": 118.0}, "lat"),
        ("visits/", {"lat": 91.0, "lng": 118.0}, "lat"),
        ("visits/", {"lat": 37.0, "lng": -181.0}, "lng"),
        ("visits/", {"lat": 37.0}, "lng"),
        ("visits/", {"lat": True, "lng": 118.0}, "lat"),
        ("visits/", {"note": {"a": 1}}, "note"),
        ("visits/", {"visited_at": 1700000000}, "visited_at"),
        ("visits/", {"grid": 99999999}, "grid"),
        ("visits/", {"household": 2**70}, "household"),
        ("check-ins/", {"lat": None}, "lat"),
        ("check-ins/", {"accuracy": -3}, "accuracy"),
        ("cases/", {"description": ""}, "description"),
        ("cases/", {"extra": "x"}, "extra"),
        ("cases/", {"self_resolve": "perhaps"}, "self_resolve"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    field: Field, path: str, body: dict[str, Any], name: str
) -> None:
    base = {
        "visits/": visit_body(),
        "cases/": case_body(),
        "check-ins/": {"uuid": str(uuid.uuid4()), "at": now_iso(), "lat": 37.005, "lng": 118.005},
    }[path]
    field_error(post(client(field.worker), path, {**base, **body}), name)
    assert not Receipt.objects.exists()
    assert not Visit.objects.exists() and not CheckIn.objects.exists()
    assert not Case.objects.exists()


def test_a_missing_uuid_and_malformed_json_are_400(field: Field) -> None:
    api = client(field.worker)
    body = visit_body()
    del body["uuid"]
    field_error(post(api, "visits/", body), "uuid")
    broken = api.post(API + "visits/", '{"uuid": "x", ', content_type="application/json")
    assert broken.status_code == 400
    assert api.post(API + "visits/", "[1, 2]", content_type="application/json").status_code == 400
    nan = api.post(API + "check-ins/", '{"lat": NaN}', content_type="application/json")
    assert nan.status_code == 400
    form = api.post(API + "visits/", {"uuid": str(uuid.uuid4())})  # multipart: not the app
    assert form.status_code == 415
    assert not Receipt.objects.exists()


def test_a_worker_of_several_grids_says_which(field: Field) -> None:
    from civicgrid.accounts import actions as accounts
    from civicgrid.accounts.roles import Role

    worker = field.worker
    accounts.do_grant_role(
        worker, actor=None, role=Role.GRID_WORKER, division=field.world.div["A1a2"]
    )
    worker.forget_scope()
    api = client(worker)
    field_error(post(api, "visits/", visit_body()), "grid")
    field_error(post(api, "patrols/", patrol_body(track=[])), "grid")
    assert post(api, "visits/", visit_body(grid=field.world.div["A1a2"].pk)).status_code == 201
    # the household or the track tells the grid
    assert post(api, "visits/", visit_body(household=field.other_household.pk)).status_code == 201
    assert post(api, "patrols/", patrol_body()).json()["grid"] == field.world.div["A1a1"].pk
    field_error(
        post(
            api,
            "visits/",
            visit_body(household=field.household.pk, grid=field.world.div["A1a2"].pk),
        ),
        "grid",
    )


# --- who may submit and read ----------------------------------------------------------------
def test_only_grid_workers_and_leaders_of_a_grid_submit(field: Field) -> None:
    for who in ("community", "township", "handler", "leader", "grid_leader", "sysadmin"):
        api = client(field.people[who])
        for path, body in (
            ("visits/", visit_body()),
            ("cases/", case_body()),
            ("patrols/", patrol_body()),
            ("check-ins/", {"uuid": str(uuid.uuid4()), "at": now_iso(), "lat": 37.0, "lng": 118.0}),
            ("residents/", {"uuid": str(uuid.uuid4()), "household": field.household.pk}),
        ):
            assert post(api, path, body).status_code == 403, (who, path)
    assert not Receipt.objects.exists()


def test_reads_are_scoped_by_the_field_data_class(field: Field) -> None:
    mine = post(client(field.worker), "visits/", visit_body(household=field.household.pk))
    theirs_body = visit_body(household=field.other_household.pk)
    theirs = post(client(field.people["worker_a1a2"]), "visits/", theirs_body)
    post(client(field.people["worker_b"]), "patrols/", patrol_body(track=[]))
    mine_id, theirs_id = mine.json()["id"], theirs.json()["id"]

    def ids(who: str, path: str = "visits/", **query: Any) -> set[int]:
        response = client(field.people[who]).get(API + path, query)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids("worker") == {mine_id}
    assert ids("community") == {mine_id, theirs_id}  # the community's subtree
    assert ids("community_a1b") == set()
    assert ids("county") == ids("leader") == {mine_id, theirs_id}
    assert ids("county_b", "patrols/") == {Patrol.objects.get().pk}
    assert ids("county", "patrols/") == set()
    assert client(field.worker).get(f"{API}visits/{theirs_id}/").status_code == 404
    for who in ("handler", "sysadmin", "auditadmin"):
        api = client(field.people[who])
        for path in ("visits/", "patrols/", "check-ins/", f"visits/{mine_id}/"):
            assert api.get(API + path).status_code == 403, (who, path)
    # filters
    a1a2 = field.world.div["A1a2"]
    assert ids("community", grid=a1a2.pk) == {theirs_id}
    assert ids("community", under=a1a2.code) == {theirs_id}
    assert ids("community", worker=field.worker.pk) == {mine_id}
    today = timezone.localdate()
    assert ids("community", since=today.isoformat()) == {mine_id, theirs_id}
    assert ids("community", until=(today - dt.timedelta(days=1)).isoformat()) == set()
    bad = client(field.people["community"]).get(API + "visits/", {"since": "soon"})
    field_error(bad, "since")
    field_error(client(field.people["community"]).get(API + "visits/", {"worker": "x"}), "worker")
    huge = {"grid": "99999999999999999999999"}
    field_error(client(field.people["community"]).get(API + "patrols/", huge), "grid")
    field_error(client(field.people["community"]).get(API + "visits/", {"under": "3716"}), "under")
    assert client(field.worker).get(API + "visits/abc/").status_code == 404


def test_a_patrols_track_shows_on_its_own_page_and_photos_through_the_scope(
    field: Field,
) -> None:
    api = client(field.worker)
    photo = upload(api)
    answer = post(api, "patrols/", patrol_body(photos=[photo])).json()
    community = client(field.people["community"])
    listed = community.get(API + "patrols/").json()["results"][0]
    assert "track" not in listed and listed["minutes"] == 42
    detail = community.get(f"{API}patrols/{answer['id']}/").json()
    assert len(detail["track"]) == 11
    url = detail["photos"][0]["url"]
    served = community.get(url)
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    assert b"".join(served.streaming_content)[:2] == b"\xff\xd8"
    assert client(field.people["community_a1b"]).get(url).status_code == 404
    assert client(field.people["handler"]).get(url).status_code == 403


def test_every_endpoint_is_in_the_schema(field: Field) -> None:
    schema = client(field.people["community"]).get(
        "/api/v1/schema/", HTTP_ACCEPT="application/json"
    )
    paths = set(schema.json()["paths"])
    for path in (
        "bootstrap/",
        "uploads/",
        "uploads/{uuid}/",
        "cases/",
        "visits/",
        "visits/{id}/",
        "patrols/",
        "patrols/{id}/",
        "check-ins/",
        "check-ins/{id}/",
        "residents/",
        "photos/{id}/file/",
    ):
        assert f"/api/v1/field/{path}" in paths, path
    put = schema.json()["paths"]["/api/v1/field/uploads/{uuid}/"]["put"]
    assert "application/octet-stream" in put["requestBody"]["content"]
