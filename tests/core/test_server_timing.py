"""The opt-in Server-Timing header (CIVICGRID_SERVER_TIMING) that the benchmarks read."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.db import connections, transaction
from django.http import HttpRequest, HttpResponse
from django.test import Client

from civicgrid.core.middleware import ServerTimingMiddleware

HEADER = re.compile(r'^db;dur=([\d.]+);desc="(\d+) statements", app;dur=([\d.]+)$')


def test_off_by_default(db: Any) -> None:
    from django.conf import settings

    assert settings.SERVER_TIMING is False
    response = Client().get("/api/v1/me/")
    assert "Server-Timing" not in response


def test_on_it_reports_time_in_the_database(db: Any, settings: Any, django_user_model: Any) -> None:
    settings.SERVER_TIMING = True
    user = django_user_model.objects.create_user(username="timed", password="x-long-pass-1")
    client = Client()  # builds its middleware chain with the setting on
    client.force_login(user)
    response = client.get("/api/v1/me/")
    assert response.status_code == 200
    match = HEADER.match(response["Server-Timing"])
    assert match, response["Server-Timing"]
    db_ms, statements, app_ms = float(match[1]), int(match[2]), float(match[3])
    assert statements >= 1  # the session and the user at least
    assert 0 < db_ms <= app_ms
    assert "_commit" not in vars(connections["default"])  # the commit hook is gone afterwards


@pytest.mark.django_db(transaction=True)
def test_commits_count_as_database_time(settings: Any, monkeypatch: Any) -> None:
    settings.SERVER_TIMING = True
    connection = connections["default"]
    plain = type(connection)._commit

    def slow_commit(self: Any) -> Any:
        time.sleep(0.05)
        return plain(self)

    monkeypatch.setattr(type(connection), "_commit", slow_commit)

    def view(request: HttpRequest) -> HttpResponse:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("select 1")
        return HttpResponse("ok")

    response = ServerTimingMiddleware(view)(HttpRequest())
    match = HEADER.match(response["Server-Timing"])
    assert match, response["Server-Timing"]
    assert int(match[2]) >= 1  # (SQLite adds its BEGIN IMMEDIATE)
    assert float(match[1]) >= 50  # the COMMIT's 50 ms are in
    assert "_commit" not in vars(connection)
