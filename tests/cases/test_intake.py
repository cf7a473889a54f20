"""Intake: bad input named field by field, idempotent replays (also concurrent ones), readable
numbers, the caller's phone encrypted at rest and masked everywhere, and duplicate suggestions."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.cases import actions
from civicgrid.cases.choices import Status
from civicgrid.cases.models import Case
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import AccessLog
from civicgrid.core.validators import normalise_phone

from ..conftest import login
from ..world import World, build_world, inside
from .conftest import act, category, make_cast, report, to_state

LNG, LAT = inside("A1a1")
PHONE = "13912345678"


def payload(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "category": "environment.rubbish",
        "description": "小区门口垃圾堆放",
        "lat": LAT,
        "lng": LNG,
        "channel": "grid_app",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- bad input ------------------------------------------------------------------------------
BAD = [
    ("description", {"description": None}),
    ("description", {"description": "   "}),
    ("category", {"category": "no.such.category"}),
    ("category", {"category": "environment"}),  # a major class that has minor classes
    ("lat", {"lng": None}),  # a latitude without a longitude
    ("lat", {"lat": None}),  # a longitude without a latitude (named by the pair's first)
    ("lat", {"lng": None, "crs": "gcj02"}),
    ("lat", {"lat": None, "crs": "gcj02"}),
    ("lat", {"lat": 91}),
    ("lng", {"lng": 181}),
    ("lat", {"lat": 30.0, "lng": 110.0}),  # in no grid, and no division given
    ("reporter_phone", {"reporter_phone": "12345"}),
    ("reporter_phone", {"reporter_phone": "not a phone"}),
    ("channel", {"channel": "pigeon"}),
    ("extra.workers", {"category": "dispute.labour"}),  # a required detail is missing
    ("extra.workers", {"category": "dispute.labour", "extra": {"workers": "many"}}),
    ("extra.colour", {"extra": {"colour": "green"}}),  # the category asks for no such detail
    ("division", {"lat": 30.0, "lng": 110.0, "division": "999999"}),
]


@pytest.mark.parametrize(("field", "changes"), BAD)
def test_bad_input_is_a_400_naming_the_field(
    field: str, changes: dict[str, Any], world: World, people: dict[str, User], api: APIClient
) -> None:
    data = payload(**changes)  # None: the field is left out
    login(api, people["worker"])
    r = api.post("/api/v1/cases/", data, format="json")
    assert r.status_code == 400, r.content
    errors = r.json()["errors"]
    assert field in errors, errors
    assert all(isinstance(m, str) and m for m in errors[field])
    assert not Case.objects.exists()


def test_the_same_refusals_come_from_the_action(world: World, people: dict[str, User]) -> None:
    worker = people["worker"]
    cases = [
        ("description", {"description": ""}),
        ("category", {"category": category("environment")}),
        ("lat", {"lat": LAT, "lng": None}),
        ("lat", {"lat": 123.0, "lng": LNG}),
        ("lat", {"lat": 30.0, "lng": 110.0}),
        ("reporter_phone", {"reporter_phone": "010"}),
        ("extra.workers", {"category": category("dispute.labour")}),
        ("extra.colour", {"extra": {"colour": "green"}}),
    ]
    for field, changes in cases:
        values: dict[str, Any] = {
            "category": category("environment.rubbish"),
            "description": "垃圾",
            "channel": "grid_app",
            "lat": LAT,
            "lng": LNG,
        }
        values.update(changes)
        with pytest.raises(ValidationError) as exc:
            actions.do_report_case(actor=worker, **values)
        assert field in exc.value.message_dict, (field, exc.value.message_dict)
    assert not Case.objects.exists()


def test_a_case_outside_every_grid_takes_the_division_given(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["community"])
    r = api.post(
        "/api/v1/cases/",
        payload(lat=30.0, lng=110.0, division=world.div["A1a"].code, address="渤海社区广场"),
        format="json",
    )
    assert r.status_code == 201, r.content
    case = Case.objects.get()
    assert case.grid is None and case.division_id == world.div["A1a"].pk
    assert case.centre_id == world.units["centre-A1a"].pk


@pytest.mark.parametrize(
    ("field", "extra"),
    [
        ("extra.workers", '{"workers": 1e400}'),  # JSON that Python reads as infinity
        ("extra.amount", '{"workers": 3, "amount": 1e400}'),  # no database stores it
        ("extra.amount", '{"workers": 3, "amount": -1e999}'),
        ("extra.workers", '{"workers": 2.5}'),  # not silently 2
        ("extra.workers", '{"workers": true}'),
        ("extra.workers", '{"workers": [3]}'),
    ],
)
def test_numbers_in_details_are_finite_and_integers_whole(
    field: str, extra: str, world: World, people: dict[str, User], api: APIClient
) -> None:
    body = json.dumps(payload(category="dispute.labour"))[:-1] + f', "extra": {extra}}}'
    login(api, people["worker"])
    r = api.post("/api/v1/cases/", body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert field in r.json()["errors"]
    assert not Case.objects.exists()


def test_a_point_read_off_a_chinese_basemap_is_stored_in_wgs84(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    from civicgrid.geo.coords import wgs84_to_gcj02

    gcj_lng, gcj_lat = wgs84_to_gcj02(LNG, LAT)
    assert abs(gcj_lng - LNG) > 0.001  # hundreds of metres off
    login(api, people["worker"])
    r = api.post("/api/v1/cases/", payload(lat=gcj_lat, lng=gcj_lng, crs="gcj02"), format="json")
    assert r.status_code == 201, r.content
    assert r.json()["grid"]["code"] == world.div["A1a1"].code
    assert abs(r.json()["lat"] - LAT) < 1e-5 and abs(r.json()["lng"] - LNG) < 1e-5


def test_extra_details_are_typed(world: World, people: dict[str, User], api: APIClient) -> None:
    login(api, people["worker"])
    r = api.post(
        "/api/v1/cases/",
        payload(category="dispute.labour", extra={"workers": "12", "amount": "35000.5"}),
        format="json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["extra"] == {"workers": 12, "amount": 35000.5}


@pytest.mark.parametrize("who", ["sysadmin", "secadmin", "auditadmin"])
def test_administrators_do_not_report_cases(
    who: str, world: World, people: dict[str, User], api: APIClient
) -> None:
    login(api, people[who])
    r = api.post("/api/v1/cases/", payload(), format="json")
    assert r.status_code == 403
    assert not Case.objects.exists()


def test_anonymous_callers_are_refused(world: World, api: APIClient) -> None:
    r = api.post("/api/v1/cases/", payload(), format="json")
    assert r.status_code in (401, 403)
    assert not Case.objects.exists()


# --- idempotency ---------------------------------------------------------------------------
def test_a_replay_returns_the_same_case_and_a_changed_body_is_a_conflict(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    key = str(uuid.uuid4())
    login(api, people["worker"])
    first = api.post("/api/v1/cases/", payload(client_uuid=key), format="json")
    assert first.status_code == 201
    again = api.post("/api/v1/cases/", payload(client_uuid=key), format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert again.json()["number"] == first.json()["number"]
    changed = api.post(
        "/api/v1/cases/", payload(client_uuid=key, description="另一件事"), format="json"
    )
    assert changed.status_code == 409 and changed.json()["code"] == "replay"
    assert Case.objects.count() == 1 and Case.objects.get().steps.count() == 1


def test_someone_elses_client_uuid_is_a_conflict_not_their_case(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    key = str(uuid.uuid4())
    login(api, people["worker"])
    assert api.post("/api/v1/cases/", payload(client_uuid=key), format="json").status_code == 201
    login(api, people["worker_b"])
    r = api.post("/api/v1/cases/", payload(client_uuid=key), format="json")
    assert r.status_code == 409
    assert "number" not in r.json() and "description" not in r.json()
    assert Case.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_make_one_case_per_uuid_and_consecutive_numbers() -> None:
    """Four devices at once: two replay one submission, two send their own. Each thread has
    its own database connection; the barrier lines them up."""
    world = build_world()
    people = make_cast(world)
    shared = uuid.uuid4()
    keys = [shared, shared, uuid.uuid4(), uuid.uuid4()]
    results: list[tuple[int, bool] | None] = [None] * len(keys)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(keys))

    def device(n: int) -> None:
        try:
            worker = User.objects.get(pk=people["worker"].pk)
            rubbish = category("environment.rubbish")
            barrier.wait(timeout=30)
            case, created = actions.do_report_case(
                actor=worker,
                category=rubbish,
                description="同一堆垃圾" if keys[n] == shared else f"垃圾 {n}",
                channel="grid_app",
                lat=LAT,
                lng=LNG,
                client_uuid=keys[n],
                body_hash=f"body-{keys[n]}",
            )
            results[n] = (case.pk, created)
        except BaseException as exc:  # reported in the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=device, args=(n,)) for n in range(len(keys))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(results)
    (a, created_a), (b, created_b) = results[0], results[1]  # type: ignore[misc]
    assert a == b and sorted([created_a, created_b]) == [False, True]
    assert Case.objects.count() == 3
    assert Case.objects.filter(client_uuid=shared).get().steps.count() == 1
    year = timezone.localtime().year
    numbers = sorted(Case.objects.values_list("number", flat=True))
    assert numbers == [f"{year}371602{n:06d}" for n in (1, 2, 3)]


# --- readable numbers ------------------------------------------------------------------------
def test_numbers_are_year_county_and_a_sequence_per_county(
    world: World, people: dict[str, User]
) -> None:
    year = timezone.localtime().year
    a1 = report(people["worker"])
    a2 = report(people["worker_a1a2"], at="A1a2")
    b1 = report(people["worker_b"], at="B1a1")
    a3 = report(people["community"], at="A2a1", channel="centre")
    assert [c.number for c in (a1, a2, a3)] == [
        f"{year}371602000001",
        f"{year}371602000002",
        f"{year}371602000003",
    ]
    assert b1.number == f"{year}371603000001"
    assert all(len(c.number) == 16 for c in (a1, a2, a3, b1))


def test_a_case_placed_above_the_counties_still_has_a_six_digit_code(
    world: World, people: dict[str, User]
) -> None:
    """A case filed at the city (no point, no county) is numbered with the city's code."""
    year = timezone.localtime().year
    case, _created = actions.do_report_case(
        actor=people["city"],
        category=category("environment.rubbish"),
        description="全市范围的问题",
        channel="higher",
        division=world.div["C"],
    )
    assert case.number == f"{year}371600000001"
    county = report(people["community"], channel="centre")
    assert county.number == f"{year}371602000001"


def test_a_refused_report_uses_no_number(world: World, people: dict[str, User]) -> None:
    first = report(people["worker"])
    with pytest.raises(PermissionDenied):
        # Filing on the spot needs a centre's hand: the whole report is undone.
        actions.do_report_case(
            actor=people["worker"],
            category=category("environment.rubbish"),
            description="x",
            channel="grid_app",
            lat=LAT,
            lng=LNG,
            register=True,
        )
    second = report(people["worker"])
    assert int(second.number[-6:]) == int(first.number[-6:]) + 1
    assert Case.objects.count() == 2


def test_a_centre_may_file_at_once(world: World, people: dict[str, User]) -> None:
    case = report(people["community"], channel="hotline", register=True)
    assert case.status == Status.REGISTERED
    assert [s.action for s in case.steps.order_by("seq")] == ["report", "register"]


# --- the caller's phone --------------------------------------------------------------------------
def _table_text(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
        return json.dumps([[str(v) for v in row] for row in cursor.fetchall()], ensure_ascii=False)


def test_the_callers_phone_is_encrypted_at_rest(world: World, people: dict[str, User]) -> None:
    case = report(
        people["community"], channel="hotline", reporter_name="张先生", reporter_phone=PHONE
    )
    case = act("register", case, people["community"])
    assert case.reporter_phone_enc and case.reporter_phone_index
    for table in ("cases_case", "cases_casestep", "core_objectchange"):
        text = _table_text(table)
        assert PHONE not in text, table
        assert PHONE[3:] not in text, table
    # Equality lookup works through the blind index.
    from civicgrid.core import crypto

    index = crypto.blind_index(normalise_phone(PHONE), actions.PHONE_PURPOSE)
    assert list(Case.objects.filter(reporter_phone_index=index)) == [case]


def _walk(value: Any) -> Any:
    if isinstance(value, dict):
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    else:
        yield str(value)


def test_the_phone_is_masked_in_every_api_response(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["community"])
    created = api.post(
        "/api/v1/cases/",
        payload(channel="hotline", reporter_phone=PHONE, reporter_name="张先生"),
        format="json",
    )
    assert created.status_code == 201
    case_id = created.json()["id"]
    assert created.json()["reporter_phone"] == "139****5678"
    version = created.json()["version"]
    responses = [created]
    responses.append(
        api.post(f"/api/v1/cases/{case_id}/register/", {"version": version}, format="json")
    )
    for path in (
        f"/api/v1/cases/{case_id}/",
        "/api/v1/cases/",
        "/api/v1/cases/?queue=to_dispatch",
        "/api/v1/cases/?queue=open",
        f"/api/v1/cases/?q={PHONE}",
        f"/api/v1/cases/{case_id}/timeline/",
        f"/api/v1/cases/{case_id}/duplicates/",
        f"/api/v1/cases/{case_id}/attachments/",
        f"/api/v1/cases/nearby/?category=environment.rubbish&lat={LAT}&lng={LNG}",
    ):
        responses.append(api.get(path))
    for r in responses:
        assert r.status_code in (200, 201), (r.status_code, r.content)
        for text in _walk(r.json()):
            assert PHONE not in text and PHONE[3:7] not in text, text
    assert api.get(f"/api/v1/cases/?q={PHONE}").json()["results"] == []


def test_unmasking_needs_a_reason_is_logged_and_is_for_the_responsible_centre(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    case = report(people["community"], channel="hotline", reporter_phone=PHONE)
    case = to_state(case, "dispatched", people, world)
    path = f"/api/v1/cases/{case.pk}/unmask-phone/"
    login(api, people["community"])
    r = api.post(path, {"reason": ""}, format="json")
    assert r.status_code == 400 and "reason" in r.json()["errors"]
    r = api.post(path, {}, format="json")
    assert r.status_code == 400 and "reason" in r.json()["errors"]
    assert not AccessLog.objects.exists()
    r = api.post(path, {"reason": "回访来电群众"}, format="json")
    assert r.status_code == 200 and r.json()["reporter_phone"] == "+86" + PHONE
    log = AccessLog.objects.get()
    assert log.actor_id == people["community"].pk and log.reason == "回访来电群众"
    assert log.object_id == str(case.pk) and log.fields == ["reporter_phone"]
    # A centre above may too; the handler, the leader and the reporter-less grid worker may
    # not; those who do not see the case get a 404.
    login(api, people["county"])
    assert api.post(path, {"reason": "督办回访"}, format="json").status_code == 200
    for who, code in (
        ("handler", 403),
        ("leader", 403),
        ("worker", 403),
        ("grid_leader", 403),
        ("community_a1b", 404),
        ("county_b", 404),
        ("sysadmin", 404),
    ):
        login(api, people[who])
        r = api.post(path, {"reason": "想知道"}, format="json")
        assert r.status_code == code, (who, r.status_code)
    assert AccessLog.objects.count() == 2


# --- duplicate suggestions -----------------------------------------------------------------------
def _moved(metres_north: float) -> float:
    return LAT + metres_north / 111_195.0


def test_duplicates_same_category_near_recent_open_nearest_first(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    worker = people["worker"]
    near = report(worker, lat=_moved(100), lng=LNG)
    nearer = report(worker, lat=_moved(-40), lng=LNG)
    report(worker, lat=_moved(200), lng=LNG)  # too far
    report(worker, code="environment.dirty_road", lat=LAT, lng=LNG)  # another category
    closed = to_state(report(worker, lat=LAT, lng=LNG), "closed", people, world)
    old = report(worker, lat=_moved(10), lng=LNG)
    Case.objects.filter(pk=old.pk).update(reported_at=timezone.now() - dt.timedelta(hours=73))
    # Just across the grid line (A1a2 starts at 118.01): 20 m away, the other worker's grid.
    lng_edge = 118.01
    across = report(people["worker_a1a2"], at="A1a2", lat=LAT, lng=lng_edge + 0.0001)
    here = {"lat": LAT, "lng": lng_edge - 0.0001}
    login(api, worker)
    r = api.get("/api/v1/cases/nearby/", {"category": "environment.rubbish", **here})
    assert r.status_code == 200
    assert [d["case"]["id"] for d in r.json()] == []  # everything else is too far from the edge
    r = api.get(
        "/api/v1/cases/nearby/", {"category": "environment.rubbish", "lat": LAT, "lng": LNG}
    )
    found = r.json()
    assert [d["case"]["id"] for d in found] == [nearer.pk, near.pk]
    assert 35 < found[0]["distance_m"] < 45 and 95 < found[1]["distance_m"] < 105
    assert closed.pk not in [d["case"]["id"] for d in found]
    # Scoped: the case across the grid line is the other worker's, out of this worker's sight…
    r = api.get("/api/v1/cases/nearby/", {"category": "environment.rubbish", **here})
    assert across.pk not in [d["case"]["id"] for d in r.json()]
    # …but the community centre sees it.
    login(api, people["community"])
    r = api.get("/api/v1/cases/nearby/", {"category": "environment.rubbish", **here})
    assert [d["case"]["id"] for d in r.json()] == [across.pk]
    # A case's own duplicates leave it out.
    r = api.get(f"/api/v1/cases/{near.pk}/duplicates/")
    assert near.pk not in [d["case"]["id"] for d in r.json()]
    assert nearer.pk in [d["case"]["id"] for d in r.json()]


def test_duplicates_of_an_old_case_are_its_contemporaries(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    """The time window runs both ways: a case reported a week after another one is not its
    duplicate."""
    worker = people["worker"]
    old = report(worker)
    week_ago = timezone.now() - dt.timedelta(days=7)
    Case.objects.filter(pk=old.pk).update(reported_at=week_ago)
    neighbour = report(worker)
    Case.objects.filter(pk=neighbour.pk).update(reported_at=week_ago + dt.timedelta(hours=5))
    report(worker)  # today
    login(api, worker)
    r = api.get(f"/api/v1/cases/{old.pk}/duplicates/")
    assert [d["case"]["id"] for d in r.json()] == [neighbour.pk]


def test_nearby_needs_a_category_and_a_point(
    world: World, people: dict[str, User], api: APIClient
) -> None:
    login(api, people["worker"])
    for field, params in (
        ("category", {"lat": LAT, "lng": LNG}),
        ("category", {"category": "nope", "lat": LAT, "lng": LNG}),
        ("lat", {"category": "environment.rubbish", "lat": "x", "lng": LNG}),
        ("lat", {"category": "environment.rubbish", "lng": LNG}),
        ("lat", {"category": "environment.rubbish", "lat": "nan", "lng": LNG}),
        ("lng", {"category": "environment.rubbish", "lat": LAT, "lng": "200"}),
    ):
        r = api.get("/api/v1/cases/nearby/", params)
        assert r.status_code == 400, params
        assert field in r.json()["errors"], (field, r.json())


def test_a_replay_through_the_action_without_a_body_hash(
    world: World, people: dict[str, User]
) -> None:
    key = uuid.uuid4()
    case = report(people["worker"], client_uuid=key)
    again, created = actions.do_report_case(
        actor=people["worker"],
        category=category("environment.rubbish"),
        description="x",
        channel="grid_app",
        lat=LAT,
        lng=LNG,
        client_uuid=key,
    )
    assert again.pk == case.pk and not created
    with pytest.raises(Conflict):
        actions.do_report_case(
            actor=people["community"],
            category=category("environment.rubbish"),
            description="x",
            channel="grid_app",
            lat=LAT,
            lng=LNG,
            client_uuid=key,
        )
