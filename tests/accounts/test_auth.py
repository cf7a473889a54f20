"""Logging in: lockout after repeated failures, API tokens stored as hashes only, expiry,
revocation, and the production password hasher."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import authenticate
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from civicgrid.accounts import actions
from civicgrid.accounts.models import ApiToken, User, hash_token
from civicgrid.accounts.roles import Role
from civicgrid.core.models import ObjectChange

from ..world import PASSWORD, World

TOKEN_URL = "/api/v1/auth/token/"
ME_URL = "/api/v1/me/"
WRONG = "wrong-password-42"


def obtain(client: APIClient, username: str, password: str = PASSWORD) -> Any:
    return client.post(TOKEN_URL, {"username": username, "password": password}, format="json")


def with_key(key: str, keyword: str = "Token") -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{keyword} {key}")
    return client


# --- lockout -----------------------------------------------------------------------------------
def test_lockout_after_max_failures_then_unlock(world: World) -> None:
    user = world.user(Role.CENTRE_STAFF, "A1")
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert authenticate(username=user.username, password=WRONG) is None
    user.refresh_from_db()
    assert user.failed_logins == settings.LOGIN_MAX_FAILURES - 1
    assert not user.is_locked
    assert authenticate(username=user.username, password=WRONG) is None
    user.refresh_from_db()
    assert user.is_locked
    assert ObjectChange.objects.filter(object_id=str(user.pk), action="lock").count() == 1
    # locked: the right password is refused, on every way in
    assert authenticate(username=user.username, password=PASSWORD) is None
    assert obtain(APIClient(), user.username).status_code == 401

    admin = world.user(Role.SYSTEM_ADMIN, "A")
    actions.do_unlock_user(user, actor=admin)
    assert authenticate(username=user.username, password=PASSWORD) is not None
    assert obtain(APIClient(), user.username).status_code == 201


def test_lockout_counts_failures_through_the_token_endpoint(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    client = APIClient()
    for _ in range(settings.LOGIN_MAX_FAILURES):
        response = obtain(client, user.username, WRONG)
        assert response.status_code == 401
        assert "errors" not in response.json()  # one message: wrong, or locked — not which
    assert obtain(client, user.username).status_code == 401
    user.refresh_from_db()
    assert user.is_locked


def test_a_successful_token_login_resets_the_failure_count(world: World) -> None:
    """Failures are counted per run of failures, whichever way the person logs in."""
    user = world.user(Role.GRID_WORKER, "A1a1")
    client = APIClient()
    for _ in range(settings.LOGIN_MAX_FAILURES - 1):
        assert obtain(client, user.username, WRONG).status_code == 401
    assert obtain(client, user.username).status_code == 201
    user.refresh_from_db()
    assert user.failed_logins == 0
    assert obtain(client, user.username, WRONG).status_code == 401
    user.refresh_from_db()
    assert not user.is_locked


def test_an_expired_lock_lets_the_user_in(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    User.objects.filter(pk=user.pk).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert authenticate(username=user.username, password=PASSWORD) is not None


def test_unknown_user_failures_write_nothing(world: World) -> None:
    before = ObjectChange.objects.count()
    for _ in range(settings.LOGIN_MAX_FAILURES + 1):
        assert authenticate(username="nobody-here", password=WRONG) is None
    assert ObjectChange.objects.count() == before


def test_unlock_needs_the_right_to_change_the_account(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    from django.core.exceptions import PermissionDenied

    for role, at in ((Role.SECURITY_ADMIN, "A"), (Role.SYSTEM_ADMIN, "B"), (Role.LEADER, "A")):
        with pytest.raises(PermissionDenied):
            actions.do_unlock_user(user, actor=world.user(role, at))


# --- API tokens --------------------------------------------------------------------------------
def test_token_obtain_use_and_only_a_digest_is_stored(world: World) -> None:
    user = world.user(Role.CENTRE_STAFF, "A1")
    response = obtain(APIClient(), user.username)
    assert response.status_code == 201, response.content
    key = response.json()["token"]
    assert len(key) >= 40
    assert response.json()["prefix"] == key[:8]
    me = with_key(key).get(ME_URL)
    assert me.status_code == 200
    assert me.json()["username"] == user.username

    token = ApiToken.objects.get(user=user)
    assert token.digest == hash_token(key)
    assert len(token.digest) == 64
    table = connection.ops.quote_name(ApiToken._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        rows = cursor.fetchall()
    assert rows
    assert not any(key in str(value) for row in rows for value in row)
    # …nor in the audit trail
    for change in ObjectChange.objects.all():
        text = f"{change.before} {change.after}"
        assert key not in text
        assert token.digest not in text


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "token", "bearer"])
def test_token_and_bearer_keywords(world: World, keyword: str) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    _token, key = actions.do_create_token(user, actor=user)
    assert with_key(key, keyword).get(ME_URL).status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Token", "Token a b", "Token not-a-real-key", "Bearer "],
    ids=["no-key", "two-keys", "unknown", "empty"],
)
def test_malformed_or_unknown_token_is_401(db: Any, header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(ME_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_expired_token_is_401(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    token, key = actions.do_create_token(user, actor=user)
    client = with_key(key)
    assert client.get(ME_URL).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(ME_URL).status_code == 401


def test_token_expiry_follows_the_setting(world: World, settings: Any) -> None:
    settings.API_TOKEN_DAYS = 3
    user = world.user(Role.GRID_WORKER, "A1a1")
    token, _key = actions.do_create_token(user, actor=user)
    assert dt.timedelta(days=3) - (token.expires_at - timezone.now()) < dt.timedelta(minutes=1)


def test_revoke_with_delete(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    _token, key = actions.do_create_token(user, actor=user)
    _other, other_key = actions.do_create_token(user, actor=user, name="laptop")
    client = with_key(key)
    assert client.delete(TOKEN_URL).status_code == 204
    assert client.get(ME_URL).status_code == 401
    assert client.delete(TOKEN_URL).status_code == 401
    assert with_key(other_key).get(ME_URL).status_code == 200  # only the token in use
    revoked = ObjectChange.objects.filter(action="revoke_token", actor=user)
    assert revoked.count() == 1
    assert "digest" not in revoked.get().before


def test_delete_without_a_token_is_refused(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    client = APIClient()
    client.force_login(user)  # a session, not a token
    assert client.delete(TOKEN_URL).status_code in {401, 403}


def test_password_change_revokes_every_token(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    keys = [actions.do_create_token(user, actor=user)[1] for _ in range(2)]
    client = with_key(keys[0])
    response = client.post(
        f"/api/v1/users/{user.pk}/set-password/",
        {"old_password": PASSWORD, "password": "a-brand-new-password-7"},
        format="json",
    )
    assert response.status_code == 204, response.content
    for key in keys:
        assert with_key(key).get(ME_URL).status_code == 401
    assert obtain(APIClient(), user.username, "a-brand-new-password-7").status_code == 201


def test_admin_password_reset_and_deactivation_revoke_tokens(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A")
    user = world.user(Role.GRID_WORKER, "A1a1")
    _t, key = actions.do_create_token(user, actor=user)
    actions.do_set_password(user, actor=admin, password="reset-by-admin-123")
    assert with_key(key).get(ME_URL).status_code == 401
    _t, key = actions.do_create_token(user, actor=user)
    actions.do_set_active(user, actor=admin, active=False)
    assert with_key(key).get(ME_URL).status_code == 401
    assert obtain(APIClient(), user.username, "reset-by-admin-123").status_code == 401


def test_token_of_a_deactivated_account_is_refused_even_if_it_survived(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    _t, key = actions.do_create_token(user, actor=user)
    User.objects.filter(pk=user.pk).update(is_active=False)  # behind the actions' back
    assert with_key(key).get(ME_URL).status_code == 401


def test_token_obtain_validates_its_input(db: Any) -> None:
    response = APIClient().post(TOKEN_URL, {}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username", "password"}


# --- the production hasher ---------------------------------------------------------------------
def test_argon2_is_the_production_password_hasher() -> None:
    # conftest swaps in MD5 for speed through django.conf.settings; the module itself is what
    # production runs with.
    module = importlib.import_module("civicgrid.config.settings")
    assert module.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert not any("MD5" in h or "SHA1" in h for h in module.PASSWORD_HASHERS)
    assert settings.PASSWORD_HASHERS != module.PASSWORD_HASHERS  # the swap is really in place
