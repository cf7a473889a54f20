"""Subscriptions through the API and the actions: managed by the system administrators of the
area, seen read-only by the subscribing unit, validated field by field, audited, with a secret
that is shown once and stored encrypted."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from civicgrid.core.models import ObjectChange
from civicgrid.exchange import actions
from civicgrid.exchange.models import Delivery, Subscription

from .conftest import Share, audit_of

API = "/api/v1/subscriptions/"


def _body(share: Share, **extra) -> dict:
    return {
        "unit": share.world.units["urban-A"].pk,
        "record_types": ["resident", "care_tag"],
        "field_classes": ["basic", "care"],
        "webhook_url": "https://hooks.example.org/civicgrid",
        **extra,
    }


def test_create_shows_the_secret_once_stores_it_encrypted_and_audits(share: Share) -> None:
    client = share.client(share.admin)
    response = client.post(API, _body(share), format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["secret_hint"] == secret[:10]
    assert created["division"]["code"] == share.world.div["A"].code  # the unit's division
    assert created["delivery"]["delivered_seq"] == 0
    subscription = Subscription.objects.get(pk=created["id"])
    assert actions.secret_of(subscription) == secret
    # never again: not in the list, the record, the database in clear, nor the audit trail
    assert secret not in client.get(API).content.decode()
    assert "secret" not in client.get(f"{API}{subscription.pk}/").json()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM exchange_subscription")
        assert secret not in " ".join(str(v) for row in cursor.fetchall() for v in row)
    change = ObjectChange.objects.get(action="create_subscription")
    assert change.actor == share.admin and change.after["secret_set"] is True
    assert secret not in json.dumps(change.after) and "secret_enc" not in change.after
    assert Delivery.objects.filter(pk=subscription.pk).exists()


def test_rotate_retry_pause_resume_are_audited(share: Share) -> None:
    client = share.client(share.admin)
    created = client.post(API, _body(share), format="json").json()
    pk = created["id"]
    rotated = client.post(f"{API}{pk}/rotate-secret/")
    assert rotated.status_code == 200
    new = rotated.json()["secret"]
    assert new != created["secret"]
    assert actions.secret_of(Subscription.objects.get(pk=pk)) == new
    assert client.post(f"{API}{pk}/pause/").json()["paused"] is True
    assert client.post(f"{API}{pk}/resume/").json()["paused"] is False
    assert client.post(f"{API}{pk}/retry/").status_code == 200
    logged = list(audit_of(Subscription.objects.get(pk=pk)).values_list("action", flat=True))
    assert logged == [
        "create_subscription",
        "rotate_secret",
        "pause_delivery",
        "resume_delivery",
        "retry_delivery",
    ]
    assert all(new not in json.dumps([c.before, c.after]) for c in ObjectChange.objects.all())


def test_adding_a_webhook_later_creates_its_secret(share: Share) -> None:
    client = share.client(share.admin)
    created = client.post(API, _body(share, webhook_url=""), format="json").json()
    assert "secret" not in created and created["secret_hint"] == ""
    response = client.patch(
        f"{API}{created['id']}/", {"webhook_url": "http://10.1.2.3:8080/in"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["secret"].startswith("whsec_")
    again = client.patch(f"{API}{created['id']}/", {"name": "城管数据"}, format="json")
    assert "secret" not in again.json()


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"webhook_url": "ftp://example.org/x"}, "webhook_url"),
        ({"webhook_url": "file:///etc/passwd"}, "webhook_url"),
        ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"webhook_url": "https://user:pw@example.org/"}, "webhook_url"),
        ({"webhook_url": "http:///nohost"}, "webhook_url"),
        ({"webhook_url": "http://example.org:99999/"}, "webhook_url"),
        ({"record_types": []}, "record_types"),
        ({"record_types": ["people"]}, "record_types"),
        ({"field_classes": []}, "field_classes"),
        ({"field_classes": ["secret"]}, "field_classes"),
        ({"unit": 99999999}, "unit"),
        ({"name": "x" * 81}, "name"),
    ],
)
def test_bad_input_is_400_naming_the_field(share: Share, extra: dict, field: str) -> None:
    response = share.client(share.admin).post(API, _body(share, **extra), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert (
        not Subscription.objects.exists()
        and not ObjectChange.objects.filter(action="create_subscription").exists()
    )


def test_units_and_areas_outside_the_admins_area_are_refused(share: Share) -> None:
    client = share.client(share.admin)
    # a unit of the other county, as if it did not exist
    other_unit = client.post(API, _body(share, unit=share.world.units["urban-B"].pk), format="json")
    missing_unit = client.post(API, _body(share, unit=987654), format="json")
    assert other_unit.status_code == missing_unit.status_code == 400
    assert set(other_unit.json()["errors"]) == set(missing_unit.json()["errors"]) == {"unit"}
    other_area = client.post(API, _body(share, division=share.world.div["B1"].pk), format="json")
    assert other_area.status_code == 400 and "division" in other_area.json()["errors"]
    # centres do not subscribe; their staff read the registry directly
    centre = client.post(API, _body(share, unit=share.world.units["centre-A1"].pk), format="json")
    assert centre.status_code == 400 and "unit" in centre.json()["errors"]
    # an area the unit's division does not hold is fine if the admin holds it
    narrow = client.post(API, _body(share, division=share.world.div["A1a"].pk), format="json")
    assert narrow.status_code == 201 and narrow.json()["division"]["code"] == "371602001001"


def test_who_sees_and_who_changes_subscriptions(share: Share) -> None:
    mine, _ = share.subscribe(url="http://127.0.0.1:9/")
    theirs, _ = share.subscribe("urban-B", actor=share.admin_b)
    admin, handler = share.client(share.admin), share.client(share.handler)
    assert [s["id"] for s in admin.get(API).json()["results"]] == [mine.pk]
    # the unit's handlers see their own subscription, read-only
    assert [s["id"] for s in handler.get(API).json()["results"]] == [mine.pk]
    assert handler.get(f"{API}{theirs.pk}/").status_code == 404
    assert handler.patch(f"{API}{mine.pk}/", {"name": "x"}, format="json").status_code == 403
    for path in ("rotate-secret", "retry", "pause"):
        assert handler.post(f"{API}{mine.pk}/{path}/").status_code == 403
    assert handler.post(API, _body(share), format="json").status_code == 403
    # another county's admin: not found, for reads and writes alike
    other = share.client(share.admin_b)
    assert other.get(f"{API}{mine.pk}/").status_code == 404
    assert other.post(f"{API}{mine.pk}/retry/").status_code == 404
    # people with no part in sharing
    worker = share.client(share.world.user("grid_worker", "A1a1"))
    assert worker.get(API).json()["results"] == []
    assert worker.post(API, _body(share), format="json").status_code == 403
    assert audit_of(mine).count() == 1


def test_actions_refuse_outsiders(share: Share) -> None:
    subscription, _ = share.subscribe()
    with pytest.raises(PermissionDenied):
        actions.do_rotate_secret(subscription, actor=share.handler)
    with pytest.raises(PermissionDenied):
        actions.do_update_subscription(subscription, actor=share.admin_b, name="x")
    with pytest.raises(PermissionDenied):
        share.subscribe(actor=share.handler)
    with pytest.raises(ValidationError) as error:
        actions.do_retry_delivery(subscription, actor=share.admin)
    assert "webhook_url" in error.value.message_dict  # no webhook, nothing to retry
