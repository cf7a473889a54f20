"""The change feed through the API: order, filters (record type, field class, area), masking,
resumable cursors, bad parameters and who may read it."""

from __future__ import annotations

import json
import re

import pytest

from civicgrid.exchange.fields import RecordType
from civicgrid.exchange.models import FeedEntry
from civicgrid.registry import actions as registry
from civicgrid.registry import protect

from .conftest import Share, read_all

FEED = "/api/v1/changes/"


def test_record_types_match_the_registry() -> None:
    assert set(RecordType.values) == set(registry.KINDS)


def test_ordered_and_filtered_by_type_class_and_area(share: Share) -> None:
    share.subscribe(types=["resident"], classes=["basic"], area="A1")
    inside = [share.resident("A1a1"), share.resident("A1b1")]
    share.resident("A2a1")  # county A, other township
    share.resident("B1a1")  # other county
    share.building("A1a1")  # other record type
    registry.do_update_record(inside[0], actor=share.writer, version=None, data={"name": "张三"})

    changes = read_all(share.client(share.handler))
    assert [c["seq"] for c in changes] == sorted(c["seq"] for c in changes)
    assert [(c["object_id"], c["action"]) for c in changes] == [
        (inside[0].pk, "create"),
        (inside[1].pk, "create"),
        (inside[0].pk, "update"),
    ]
    assert {c["record_type"] for c in changes} == {"resident"}
    update = changes[-1]
    assert update["fields"] == ["name"] and update["data"]["name"] == "张三"
    # basic facts only: no identity, contact or location fields, not even the grid
    for change in changes:
        assert change["in_area"] is True
        assert {"id", "name", "version", "is_active"} <= set(change["data"])
        for hidden in ("id_masked", "phone_masked", "sex", "birth_date", "division", "house"):
            assert hidden not in change["data"]
        assert all(f not in change["fields"] for f in ("id_number", "phone", "division"))


def test_types_parameter_narrows_and_multiple_subscriptions_add_up(share: Share) -> None:
    share.subscribe(types=["resident"], classes=["basic"], area="A1")
    share.subscribe(types=["building"], classes=["location"], area="A2")
    share.resident("A1a1")
    share.building("A1a1", "7")  # a building outside the building subscription's area
    building = share.building("A2a1", "8")
    client = share.client(share.handler)
    both = read_all(client)
    assert [c["record_type"] for c in both] == ["resident", "building"]
    assert both[1]["object_id"] == building.pk and "road" in both[1]["data"]
    assert "name" not in both[1]["data"]  # the building's name is a basic fact
    only = read_all(client, types="building")
    assert [c["object_id"] for c in only] == [building.pk]


def test_changes_outside_the_subscribed_classes_are_left_out_but_passed(share: Share) -> None:
    share.subscribe(types=["resident"], classes=["basic"])
    person = share.resident()
    client = share.client(share.handler)
    first = client.get(FEED).json()
    assert [c["action"] for c in first["results"]] == ["create"]
    # a phone change concerns the contact class only: nothing to send, the cursor moves on
    registry.do_update_record(person, actor=share.writer, version=None, data={"phone": ""})
    second = client.get(FEED, {"since": first["next"]}).json()
    phone_change = FeedEntry.objects.latest("seq")
    assert second["results"] == [] and second["has_more"] is False
    assert second["next"] == phone_change.seq == second["head"]
    # ending the record is sent to every subscriber of the type, whatever its classes
    registry.do_end_record(person, actor=share.writer, version=None, reason="moved away")
    third = client.get(FEED, {"since": second["next"]}).json()
    assert [(c["action"], c["fields"]) for c in third["results"]] == [("end", ["is_active"])]
    assert third["results"][0]["data"]["is_active"] is False


def test_masked_numbers_only_never_clear_or_internal_columns(share: Share) -> None:
    share.subscribe(types=["resident"], classes=["basic", "identity", "contact", "location"])
    person = share.resident()
    registry.do_update_record(
        person, actor=share.writer, version=None, data={"phone": "13900001111"}
    )
    response = share.client(share.handler).get(FEED)
    body = response.content.decode()
    changes = response.json()["results"]
    assert changes[0]["data"]["id_masked"] == person.id_masked
    assert changes[1]["data"]["phone_masked"] == "139****1111"
    assert changes[1]["fields"] == ["phone"]
    for clear in ("13900001111", "13800000001", protect.reveal(person, "id_number")):
        assert clear not in body
    assert not re.search(r'"[a-z_]+_(enc|index)"', body)
    assert not re.search(r"\d{17}[\dX]", body)  # no 18-character ID number anywhere


def test_pages_resume_from_any_cursor_with_no_skips_or_repeats(share: Share) -> None:
    share.subscribe(types=["resident", "care_tag"], classes=["basic", "care"], area="A1")
    for i in range(12):
        person = share.resident("A1a1" if i % 3 else "A2a1")
        if i % 2:
            registry.do_update_record(
                person, actor=share.writer, version=None, data={"phone": ""}
            )  # left out: contact
        if i % 4 == 1:
            registry.do_tag_resident(person, actor=share.writer, data={"group": "veteran"})
    client = share.client(share.handler)
    everything = read_all(client, limit=1000)
    seqs = [c["seq"] for c in everything]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
    assert {c["record_type"] for c in everything} == {"resident", "care_tag"}
    for limit in (1, 2, 3, 5):
        assert read_all(client, limit=limit) == everything
    # from any cursor at all, not only the ones the feed handed out
    head = FeedEntry.objects.latest("seq").seq
    for cursor in range(head + 2):
        assert read_all(client, since=cursor, limit=4) == [
            c for c in everything if c["seq"] > cursor
        ]


def test_a_move_reaches_both_areas_with_in_area_telling_which_side(share: Share) -> None:
    share.subscribe("urban-A", types=["resident"], classes=["basic"], area="A1")
    city_admin = share.world.user("system_admin", "C", name="city-admin")
    share.subscribe(
        "urban-C", types=["resident"], classes=["identity"], area="A2", actor=city_admin
    )
    handler_c = share.world.user("department_handler", "C", unit="urban-C", name="handler-c")
    person = share.resident("A1a1")
    registry.do_update_record(
        person, actor=share.writer, version=None, data={"grid": share.world.div["A2a1"].code}
    )
    left = read_all(share.client(share.handler))
    assert [(c["action"], c["in_area"]) for c in left] == [("create", True), ("move", False)]
    assert "division" not in left[1]["data"]  # no location class: where it went stays unsaid
    arrived = read_all(share.client(handler_c))
    # the record entered the area: the whole of it (in the subscribed classes) arrives
    assert [(c["action"], c["in_area"]) for c in arrived] == [("move", True)]
    assert arrived[0]["data"]["id_masked"] == person.id_masked


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"since": "abc"}, "since"),
        ({"since": "-1"}, "since"),
        ({"since": "1.5"}, "since"),
        ({"since": str(2**64)}, "since"),
        ({"limit": "0"}, "limit"),
        ({"limit": "100000"}, "limit"),
        ({"types": "resident,people"}, "types"),
        ({"types": "house"}, "types"),  # a real type, but not subscribed to
        ({"subscription": "999999"}, "subscription"),
        ({"subscription": "x"}, "subscription"),
    ],
)
def test_bad_parameters_are_400_naming_them(share: Share, params: dict, name: str) -> None:
    share.subscribe()
    response = share.client(share.handler).get(FEED, params)
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == {name}


def test_who_may_read_the_feed(share: Share, api) -> None:
    share.resident()
    assert api.get(FEED).status_code == 401
    # a department without a subscription, and people who are no department at all
    assert share.client(share.handler).get(FEED).status_code == 403
    for role, at in (("grid_worker", "A1a1"), ("centre_staff", "A"), ("system_admin", "A")):
        user = share.world.user(role, at)
        assert share.client(user).get(FEED).status_code == 403, role
    subscription, _ = share.subscribe()
    assert share.client(share.handler).get(FEED).status_code == 200
    # another unit's subscription gives nothing to the handlers of urban-B
    assert share.client(share.handler_b).get(FEED).status_code == 403
    response = share.client(share.admin).patch(
        f"/api/v1/subscriptions/{subscription.pk}/", {"is_active": False}, format="json"
    )
    assert response.status_code == 200, response.content
    assert share.client(share.handler).get(FEED).status_code == 403


def test_the_feed_is_in_the_openapi_schema(share: Share) -> None:
    response = share.client(share.handler).get("/api/v1/schema/", {"format": "json"})
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/changes/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"since", "types", "limit"}
    assert "/api/v1/subscriptions/{id}/rotate-secret/" in schema["paths"]
