"""The inbox page: one's own notifications, unread ones marked, opening one marks it read and
follows its link, "mark all read", and tampered forms."""

from __future__ import annotations

import pytest
from django.test import Client

from civicgrid.accounts.roles import Role
from civicgrid.core.models import Notification
from civicgrid.core.notify import notify


@pytest.fixture
def two(world):
    return (
        world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A", name="handler"),
        world.user(Role.CENTRE_STAFF, "A1a", name="community"),
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_inbox_shows_ones_own_notifications_unread_first_marked(two):
    handler, community = two
    notify([handler], kind="urge", title="催办：事件 A", url="/cases/?queue=overdue")
    notify([handler], kind="report", title="事件 B 已派遣至本单位", url="/inbox/")
    notify([community], kind="report", title="someone else's", url="/cases/")
    page = _client(handler).get("/inbox/").content.decode()
    assert "催办：事件 A" in page and "事件 B" in page and "someone else's" not in page
    assert page.count("cg-inbox-unread") == 2

    opened = Notification.objects.get(title="催办：事件 A")
    r = _client(handler).post("/inbox/", {"open": opened.pk})
    assert r.status_code == 302 and r["Location"] == "/cases/?queue=overdue"
    opened.refresh_from_db()
    assert opened.read_at is not None
    assert _client(handler).get("/inbox/").content.decode().count("cg-inbox-unread") == 1

    assert _client(handler).post("/inbox/", {"all": "1"}).status_code == 302
    assert not Notification.objects.filter(user=handler, read_at__isnull=True).exists()
    assert Notification.objects.filter(user=community, read_at__isnull=True).count() == 1


@pytest.mark.parametrize("value", ["", "abc", "1 OR 1=1", "999999"])
def test_a_tampered_open_form_is_not_found(two, value):
    handler, community = two
    notify([community], kind="report", title="not yours", url="/cases/")
    theirs = Notification.objects.get()
    assert _client(handler).post("/inbox/", {"open": value}).status_code == 404
    # Someone else's notification is not found either, and stays unread.
    assert _client(handler).post("/inbox/", {"open": theirs.pk}).status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
