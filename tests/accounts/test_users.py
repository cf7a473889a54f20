"""Creating and editing accounts (accounts.actions): validation names the field, scope is
enforced, and only the system administrator of an area manages its accounts."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from civicgrid.accounts import actions
from civicgrid.accounts.models import RoleAssignment, User
from civicgrid.accounts.roles import Role
from civicgrid.core.models import ObjectChange

from ..world import PASSWORD, World

GOOD = "a-long-new-password-1"


def create(world: World, actor: Any = None, **values: Any) -> User:
    values.setdefault("username", "wang.fang")
    values.setdefault("password", GOOD)
    values.setdefault("division", world.div["A1a"])
    return actions.do_create_user(actor=actor, **values)


def field_errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


# --- create -------------------------------------------------------------------------------------
def test_create_user_hashes_the_password_and_audits(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A1")
    user = create(world, admin, full_name=" 王芳 ", email="wang@example.cn")
    assert user.full_name == "王芳"
    assert user.division_path == world.div["A1a"].path
    assert user.password != GOOD
    assert user.check_password(GOOD)
    change = ObjectChange.objects.get(object_id=str(user.pk), content_type__model="user")
    assert (change.kind, change.actor_id, change.after["username"]) == (
        "create",
        admin.pk,
        "wang.fang",
    )


@pytest.mark.parametrize(
    "username",
    ["", "   ", "bad name", "no!pe", "x" * 151],
    ids=["empty", "blank", "space", "bang", "long"],
)
def test_bad_username_names_the_field(world: World, username: str) -> None:
    with pytest.raises(ValidationError) as exc:
        create(world, username=username)
    assert list(field_errors(exc)) == ["username"]
    assert not User.objects.filter(division=world.div["A1a"]).exists()


@pytest.mark.parametrize(
    "password",
    ["short", "1234567890123", "password123", "wang.fang.1"],
    ids=["too-short", "numeric", "common", "like-username"],
)
def test_bad_password_names_the_field(world: World, password: str) -> None:
    with pytest.raises(ValidationError) as exc:
        create(world, password=password)
    assert list(field_errors(exc)) == ["password"]
    assert not User.objects.filter(username="wang.fang").exists()


@pytest.mark.parametrize("email", ["not-an-email", "a@", "@b.cn", "a b@c.cn"])
def test_bad_email_names_the_field(world: World, email: str) -> None:
    with pytest.raises(ValidationError) as exc:
        create(world, email=email)
    assert list(field_errors(exc)) == ["email"]
    assert not User.objects.filter(username="wang.fang").exists()


def test_duplicate_username_is_refused_whatever_its_case(world: World) -> None:
    create(world, username="Wang.Fang")
    for name in ("Wang.Fang", "wang.fang", "WANG.FANG", " wang.fang "):
        with pytest.raises(ValidationError) as exc:
            create(world, username=name, division=world.div["A2a"])
        assert list(field_errors(exc)) == ["username"]
    assert User.objects.filter(username__iexact="wang.fang").count() == 1


def test_no_division_or_inactive_division_names_the_field(world: World) -> None:
    with pytest.raises(ValidationError) as exc:
        create(world, division=None)
    assert list(field_errors(exc)) == ["division"]


@pytest.mark.parametrize(
    ("role", "home", "target"),
    [
        (Role.SYSTEM_ADMIN, "A1", "A2"),  # a sibling township
        (Role.SYSTEM_ADMIN, "A1", "A"),  # above
        (Role.SYSTEM_ADMIN, "A", "B1a"),  # the other county
        (Role.SECURITY_ADMIN, "A", "A1"),  # grants roles, does not create accounts
        (Role.AUDIT_ADMIN, "A", "A1"),
        (Role.CENTRE_STAFF, "A", "A1"),
        (Role.LEADER, "A", "A1"),
    ],
)
def test_create_user_outside_change_scope_is_permission_denied(
    world: World, role: str, home: str, target: str
) -> None:
    actor = world.user(role, home)
    before = ObjectChange.objects.count()
    with pytest.raises(PermissionDenied):
        create(world, actor, division=world.div[target])
    assert not User.objects.filter(username="wang.fang").exists()
    assert ObjectChange.objects.count() == before


def test_system_admin_creates_in_own_subtree(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A")
    for key in ("A", "A1", "A1a", "A2a1"):
        assert create(world, admin, username=f"u-{key}", division=world.div[key]).pk


# --- update ------------------------------------------------------------------------------------
def test_update_user_scope_and_validation(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A1")
    user = create(world, admin)
    outsider = world.user(Role.SYSTEM_ADMIN, "A2")
    with pytest.raises(PermissionDenied):
        actions.do_update_user(user, actor=outsider, full_name="x")
    with pytest.raises(ValidationError) as exc:
        actions.do_update_user(user, actor=admin, email="nope")
    assert list(field_errors(exc)) == ["email"]
    with pytest.raises(PermissionDenied):  # moving the account out of the admin's area
        actions.do_update_user(user, actor=admin, division=world.div["A2a"])
    user.refresh_from_db()
    assert (user.full_name, user.email, user.division_id) == ("", "", world.div["A1a"].pk)
    updated = actions.do_update_user(user, actor=admin, full_name="王芳", division=world.div["A1b"])
    assert (updated.full_name, updated.division_path) == ("王芳", world.div["A1b"].path)


def test_deactivate_refuses_self_and_revokes_tokens(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A1")
    with pytest.raises(ValidationError) as exc:
        actions.do_set_active(admin, actor=admin, active=False)
    assert list(field_errors(exc)) == ["is_active"]
    user = create(world, admin)
    actions.do_create_token(user, actor=user)
    actions.do_set_active(user, actor=admin, active=False)
    user.refresh_from_db()
    assert not user.is_active
    assert not user.api_tokens.exists()


def test_own_password_change_needs_the_old_password(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    with pytest.raises(ValidationError) as exc:
        actions.do_set_password(user, actor=user, password=GOOD, old_password="wrong-one-123")
    assert list(field_errors(exc)) == ["old_password"]
    with pytest.raises(ValidationError) as exc:
        actions.do_set_password(user, actor=user, password="short", old_password=PASSWORD)
    assert list(field_errors(exc)) == ["password"]
    actions.do_set_password(user, actor=user, password=GOOD, old_password=PASSWORD)
    user.refresh_from_db()
    assert user.check_password(GOOD)
    other = world.user(Role.CENTRE_STAFF, "A1")  # may see accounts, may not change them
    with pytest.raises(PermissionDenied):
        actions.do_set_password(user, actor=other, password="another-password-9")


# --- bulk onboarding ---------------------------------------------------------------------------
def test_bulk_create_users(world: World) -> None:
    rows = [
        {
            "username": f"gw-{i}",
            "full_name": f"网格员{i}",
            "division": world.div[key],
            "role": Role.GRID_WORKER,
        }
        for i, key in enumerate(["A1a1", "A1a2", "A1b1"])
    ]
    users = actions.do_bulk_create_users(rows, actor=None, password=GOOD)
    assert [u.username for u in users] == ["gw-0", "gw-1", "gw-2"]
    assert RoleAssignment.objects.filter(user__in=users, role=Role.GRID_WORKER).count() == 3
    assert all(User.objects.get(pk=u.pk).check_password(GOOD) for u in users)


@pytest.mark.parametrize(
    "names",
    [["Wang.Fang"], ["gw-1", "GW-1"], ["bad name"], [""]],
    ids=["taken-other-case", "twice-in-file", "invalid", "empty"],
)
def test_bulk_create_users_validates_usernames_like_single_creation(
    world: World, names: list[str]
) -> None:
    create(world, username="wang.fang")
    rows = [
        {"username": name, "division": world.div["A1a1"], "role": Role.GRID_WORKER}
        for name in names
    ]
    users_before = User.objects.count()
    with pytest.raises(ValidationError) as exc:
        actions.do_bulk_create_users(rows, actor=None, password=GOOD)
    assert "username" in field_errors(exc)
    assert User.objects.count() == users_before


# --- administrators' accounts (三员分立) ------------------------------------------------------
@pytest.mark.parametrize("role", [Role.SECURITY_ADMIN, Role.AUDIT_ADMIN])
def test_system_admin_cannot_take_over_another_administrators_account(
    world: World, role: str
) -> None:
    system = world.user(Role.SYSTEM_ADMIN, "A")
    other = world.user(role, "A1")
    attempts = {
        "reset password": lambda: actions.do_set_password(other, actor=system, password=GOOD),
        "edit": lambda: actions.do_update_user(other, actor=system, email="me@evil.example"),
        "deactivate": lambda: actions.do_set_active(other, actor=system, active=False),
        "unlock": lambda: actions.do_unlock_user(other, actor=system),
    }
    changes = ObjectChange.objects.count()
    for name, attempt in attempts.items():
        with pytest.raises(PermissionDenied):
            attempt()
        assert ObjectChange.objects.count() == changes, name
    other.refresh_from_db()
    assert other.check_password(PASSWORD)
    assert other.is_active
    assert other.email == ""
    # …while the same system administrator still manages ordinary accounts
    staff = world.user(Role.CENTRE_STAFF, "A1")
    actions.do_set_password(staff, actor=system, password=GOOD)


def test_system_admin_manages_system_admins_below_but_not_above(world: World) -> None:
    county = world.user(Role.SYSTEM_ADMIN, "A")
    township = world.user(Role.SYSTEM_ADMIN, "A1")
    actions.do_update_user(township, actor=county, full_name="街道系统管理员")
    # an account homed in the township but administering the whole county
    boss = actions.do_create_user(
        actor=None, username="boss", password=PASSWORD, division=world.div["A1"]
    )
    actions.do_grant_role(boss, actor=None, role=Role.SYSTEM_ADMIN, division=world.div["A"])
    with pytest.raises(PermissionDenied):
        actions.do_update_user(boss, actor=township, full_name="x")
    actions.do_update_user(boss, actor=county, full_name="区系统管理员")


def test_an_administrator_changes_their_own_password(world: World) -> None:
    audit = world.user(Role.AUDIT_ADMIN, "A")
    actions.do_set_password(audit, actor=audit, password=GOOD, old_password=PASSWORD)
    audit.refresh_from_db()
    assert audit.check_password(GOOD)
