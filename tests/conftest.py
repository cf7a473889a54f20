from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from civicgrid.geo.locate import reset_index

from .world import World, build_world


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


@pytest.fixture
def world(db: Any) -> World:
    return build_world()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def login(client: APIClient, user: Any) -> APIClient:
    client.force_authenticate(user=user)
    return client
