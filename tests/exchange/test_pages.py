"""The data-sharing page: subscriptions with their delivery state for the administrators who
manage them, read-only for the subscribing unit's staff, refused to everybody else."""

from __future__ import annotations

import re

from django.test import Client

from civicgrid.core.models import ObjectChange
from civicgrid.exchange import actions
from civicgrid.exchange.models import Delivery, Subscription

from .conftest import Share, audit_of

PAGE = "/exchange/subscriptions/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_list_shows_delivery_state_and_highlights_stuck(share: Share) -> None:
    ok, _ = share.subscribe(url="http://127.0.0.1:9/ok")
    stuck, _ = share.subscribe(url="http://127.0.0.1:9/stuck", area="A1")
    pulled, _ = share.subscribe(area="A2")
    share.resident()
    Delivery.objects.filter(pk=stuck.pk).update(
        attempts=10, stuck=True, last_error="connection refused"
    )
    Delivery.objects.filter(pk=ok.pk).update(delivered_seq=1)
    response = _client(share.admin).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-subscription="{stuck.pk}"' in html
    stuck_row = re.search(rf'<tr data-subscription="{stuck.pk}"[^>]*>', html).group(0)
    assert "table-danger" in stuck_row and 'data-stuck="1"' in stuck_row
    ok_row = re.search(rf'<tr data-subscription="{ok.pk}"[^>]*>', html).group(0)
    assert "data-stuck" not in ok_row
    assert f'data-subscription="{pulled.pk}"' in html
    assert "connection refused" in html
    assert 'data-delivered="1"' in html and 'data-attempts="10"' in html
    assert 'data-action="retry"' in html and 'data-action="rotate"' in html
    only_stuck = _client(share.admin).get(PAGE, {"state": "stuck"}).content.decode()
    assert f'data-subscription="{stuck.pk}"' in only_stuck
    assert f'data-subscription="{ok.pk}"' not in only_stuck


def test_create_through_the_form_shows_the_secret_once(share: Share) -> None:
    client = _client(share.admin)
    assert client.get(f"{PAGE}new/").status_code == 200
    response = client.post(
        f"{PAGE}new/",
        {
            "unit": share.world.units["urban-A"].pk,
            "record_types": ["resident", "house"],
            "field_classes": ["basic", "location"],
            "division": share.world.div["A1"].code,
            "webhook_url": "https://hooks.example.org/in",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    subscription = Subscription.objects.get()
    secret = actions.secret_of(subscription)
    assert secret in response.content.decode()
    assert subscription.division_path == share.world.div["A1"].path
    assert secret not in client.get(PAGE).content.decode()
    # a bad URL is a form error on the field, nothing is written
    bad = client.post(
        f"{PAGE}new/",
        {
            "unit": share.world.units["urban-A"].pk,
            "record_types": ["resident"],
            "field_classes": ["basic"],
            "webhook_url": "ftp://example.org/",
        },
    )
    assert bad.status_code == 200 and 'id="id_webhook_url"' in bad.content.decode()
    field = re.search(r'<input[^>]*id="id_webhook_url"[^>]*>', bad.content.decode()).group(0)
    assert 'aria-invalid="true"' in field
    assert Subscription.objects.count() == 1


def test_edit_rotate_retry_pause_through_the_page(share: Share) -> None:
    subscription, first = share.subscribe(url="http://127.0.0.1:9/in")
    client = _client(share.admin)
    edit = f"{PAGE}{subscription.pk}/edit/"
    assert client.get(edit).status_code == 200
    response = client.post(
        edit,
        {
            "record_types": ["resident"],
            "field_classes": ["basic", "contact"],
            "division": share.world.div["A"].code,
            "webhook_url": "http://127.0.0.1:9/in",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.field_classes == ["basic", "contact"]
    rotated = client.post(f"{PAGE}{subscription.pk}/rotate-secret/")
    new = actions.secret_of(Subscription.objects.get(pk=subscription.pk))
    assert new != first and new in rotated.content.decode()
    assert client.post(f"{PAGE}{subscription.pk}/pause/", {"do": "pause"}).status_code == 302
    assert Subscription.objects.get(pk=subscription.pk).paused
    assert client.post(f"{PAGE}{subscription.pk}/retry/").status_code == 302
    assert set(audit_of(subscription).values_list("action", flat=True)) == {
        "create_subscription",
        "update_subscription",
        "rotate_secret",
        "pause_delivery",
        "retry_delivery",
    }


def test_the_units_staff_read_only_and_others_refused(share: Share) -> None:
    mine, _ = share.subscribe(url="http://127.0.0.1:9/in")
    theirs, _ = share.subscribe("urban-B", actor=share.admin_b)
    handler = _client(share.handler)
    html = handler.get(PAGE).content.decode()
    assert f'data-subscription="{mine.pk}"' in html
    assert f'data-subscription="{theirs.pk}"' not in html
    assert "data-action=" not in html and 'id="cg-new-subscription"' not in html
    before = ObjectChange.objects.count()
    for path in ("edit/", "rotate-secret/", "retry/", "pause/"):
        assert handler.post(f"{PAGE}{mine.pk}/{path}", {"do": "pause"}).status_code == 403
        assert handler.post(f"{PAGE}{theirs.pk}/{path}", {"do": "pause"}).status_code == 404
    assert handler.get(f"{PAGE}new/").status_code == 403
    assert ObjectChange.objects.count() == before
    # the other county's administrator: not found
    assert _client(share.admin_b).get(f"{PAGE}{mine.pk}/edit/").status_code == 404
    # no part in sharing at all: the page is refused, and not in the menu
    worker = _client(share.world.user("grid_worker", "A1a1"))
    assert worker.get(PAGE).status_code == 403
    assert PAGE not in worker.get("/").content.decode()
    assert PAGE in _client(share.admin).get("/").content.decode()
