from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from rest_framework.test import APIClient

from civicgrid.geo.locate import reset_index

from .leakscan import LeakScanner, watch
from .world import World, build_world


def pytest_configure(config: Any) -> None:
    """Remove a stale SQLite test database with its WAL files: Django deletes the database
    file before a run but not a -wal/-shm left by an interrupted run, and SQLite then reports
    a disk I/O error on the fresh file."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if not database["ENGINE"].endswith("sqlite3"):
        return
    name = database.get("TEST", {}).get("NAME")
    if not name:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = f"{name}_{worker}" if worker else name
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(base + suffix)


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings: Any) -> Iterator[None]:
    # Argon2 is the production hasher (checked in test_settings); tests hash hundreds of
    # passwords, so they use a fast one. Tasks run inline unless a test asks for the worker.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    settings.LOCATE_INDEX_CHECK_SECONDS = 0
    # Pages render static URLs without a collected manifest (collectstatic is a deploy step).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    reset_index()
    yield
    reset_index()


@pytest.fixture(autouse=True)
def _english_unless_asked() -> Iterator[None]:
    """Outside a request the default language (Chinese) would apply to messages raised by
    actions and printed by commands; tests read and assert the English source strings, and
    switch to Chinese explicitly where the language is what they test."""
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def leak_scanner(monkeypatch: pytest.MonkeyPatch) -> LeakScanner:
    """Every response of every test is scanned for clear ID and phone numbers (leakscan.py)."""
    return watch(monkeypatch)


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def login(client: APIClient, user: Any) -> APIClient:
    client.force_authenticate(user=user)
    return client
