"""Granting and revoking roles (三员分立): the security administrator grants business roles in
their area; an administrator role is handed down only by someone holding that same role over the
division; the three administrator roles exclude every other role; nobody grants or revokes
their own roles."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from civicgrid.accounts import actions
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import DepartmentType, RoleAssignment, User
from civicgrid.accounts.roles import Role
from civicgrid.core.models import ObjectChange

from ..world import PASSWORD, World


def plain(world: World, at: str, name: str = "plain") -> User:
    """An account without roles, homed at `at`."""
    return actions.do_create_user(
        actor=None, username=f"{name}-{at}".lower(), password=PASSWORD, division=world.div[at]
    )


def grant(user: User, actor: Any, role: str, world: World, at: str, unit: str | None = None) -> Any:
    return actions.do_grant_role(
        user,
        actor=actor,
        role=role,
        division=world.div[at],
        unit=world.units[unit] if unit else None,
    )


def refused(exc_type: type[Exception], fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call `fn`, expect `exc_type`, and check that neither an assignment nor an audit row
    was written."""
    assignments, changes = RoleAssignment.objects.count(), ObjectChange.objects.count()
    with pytest.raises(exc_type) as exc:
        fn(*args, **kwargs)
    assert (RoleAssignment.objects.count(), ObjectChange.objects.count()) == (assignments, changes)
    return exc.value


# --- what may be held where ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("role", "at"),
    [
        (Role.GRID_WORKER, "A1a"),  # grid workers work in a grid
        (Role.GRID_WORKER, "A1"),
        (Role.GRID_LEADER, "A1"),  # grid or community
        (Role.CENTRE_STAFF, "A1a1"),  # centres exist from community up
        (Role.LEADER, "A1a1"),
        (Role.SYSTEM_ADMIN, "A1a"),  # administrators sit at township or above
        (Role.SECURITY_ADMIN, "A1a1"),
        (Role.AUDIT_ADMIN, "A1a"),
    ],
)
def test_wrong_level_for_the_role_names_the_division(world: World, role: str, at: str) -> None:
    user = plain(world, at)
    error = refused(ValidationError, grant, user, None, role, world, at)
    assert list(error.message_dict) == ["division"]


def test_department_handler_needs_a_department_at_the_same_division(world: World) -> None:
    user = plain(world, "A")
    error = refused(ValidationError, grant, user, None, Role.DEPARTMENT_HANDLER, world, "A")
    assert list(error.message_dict) == ["unit"]
    error = refused(
        ValidationError, grant, user, None, Role.DEPARTMENT_HANDLER, world, "A", "centre-A"
    )
    assert list(error.message_dict) == ["unit"]
    error = refused(
        ValidationError, grant, user, None, Role.DEPARTMENT_HANDLER, world, "A", "urban-B"
    )
    assert list(error.message_dict) == ["unit"]
    assignment = grant(user, None, Role.DEPARTMENT_HANDLER, world, "A", "urban-A")
    assert assignment.unit_id == world.units["urban-A"].pk


def test_centre_staff_unit_must_be_a_centre(world: World) -> None:
    user = plain(world, "A")
    error = refused(ValidationError, grant, user, None, Role.CENTRE_STAFF, world, "A", "urban-A")
    assert list(error.message_dict) == ["unit"]
    assert grant(user, None, Role.CENTRE_STAFF, world, "A", "centre-A").pk


def test_inactive_unit_is_refused(world: World) -> None:
    social = actions.do_create_unit(
        actor=None, division=world.div["A"], name="心理咨询协会", kind=UnitKind.SOCIAL_ORG
    )
    actions.do_update_unit(social, actor=None, is_active=False)
    user = plain(world, "A")
    error = refused(
        ValidationError,
        actions.do_grant_role,
        user,
        actor=None,
        role=Role.DEPARTMENT_HANDLER,
        division=world.div["A"],
        unit=social,
    )
    assert list(error.message_dict) == ["unit"]
    assert DepartmentType.objects.exists()


@pytest.mark.parametrize("admin_role", [Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN])
def test_administrators_hold_no_other_role_both_ways(world: World, admin_role: str) -> None:
    staff = world.user(Role.CENTRE_STAFF, "A1")
    error = refused(ValidationError, grant, staff, None, admin_role, world, "A1")
    assert list(error.message_dict) == ["role"]
    admin = world.user(admin_role, "A1")
    for role, at in ((Role.CENTRE_STAFF, "A1"), (Role.LEADER, "A1"), (Role.GRID_WORKER, "A1a1")):
        error = refused(ValidationError, grant, admin, None, role, world, at)
        assert list(error.message_dict) == ["role"]
    for other in {Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN} - {admin_role}:
        error = refused(ValidationError, grant, admin, None, other, world, "A1")
        assert list(error.message_dict) == ["role"]
    # the same administrator role elsewhere is fine: one person may administer two townships
    assert grant(admin, None, admin_role, world, "A2").pk


def test_duplicate_grant_is_refused(world: World) -> None:
    user = world.user(Role.CENTRE_STAFF, "A1")
    error = refused(ValidationError, grant, user, None, Role.CENTRE_STAFF, world, "A1")
    assert list(error.message_dict) == ["role"]
    assert grant(user, None, Role.CENTRE_STAFF, world, "A2").pk  # another place is another role


def test_unknown_role_and_deactivated_account(world: World) -> None:
    user = plain(world, "A1")
    error = refused(ValidationError, grant, user, None, "mayor", world, "A1")
    assert list(error.message_dict) == ["role"]
    actions.do_set_active(user, actor=None, active=False)
    error = refused(ValidationError, grant, user, None, Role.CENTRE_STAFF, world, "A1")
    assert list(error.message_dict) == ["user"]


# --- who may grant -----------------------------------------------------------------------------
def test_nobody_grants_roles_to_themselves(world: World) -> None:
    security = world.user(Role.SECURITY_ADMIN, "A")
    refused(PermissionDenied, grant, security, security, Role.SECURITY_ADMIN, world, "A1")
    system = world.user(Role.SYSTEM_ADMIN, "A")
    refused(PermissionDenied, grant, system, system, Role.SYSTEM_ADMIN, world, "A1")
    root = User.objects.create_superuser("root", password=PASSWORD)
    refused(
        PermissionDenied,
        actions.do_grant_role,
        root,
        actor=root,
        role=Role.CENTRE_STAFF,
        division=world.div["A"],
    )


def test_security_admin_grants_business_roles_in_subtree_only(world: World) -> None:
    security = world.user(Role.SECURITY_ADMIN, "A1")
    inside = plain(world, "A1a")
    for role, at in (
        (Role.CENTRE_STAFF, "A1"),
        (Role.GRID_LEADER, "A1a"),
        (Role.GRID_WORKER, "A1a1"),
        (Role.LEADER, "A1a"),
    ):
        assignment = grant(inside, security, role, world, at)
        assert assignment.granted_by_id == security.pk
    # a division outside the area, even for an account inside it
    refused(
        PermissionDenied, grant, plain(world, "A1b", "p2"), security, Role.CENTRE_STAFF, world, "A2"
    )
    # an account outside the area
    refused(
        PermissionDenied, grant, plain(world, "B1", "p3"), security, Role.CENTRE_STAFF, world, "B1"
    )
    refused(PermissionDenied, grant, plain(world, "A", "p4"), security, Role.LEADER, world, "A")


def test_security_admin_cannot_grant_other_administrator_roles(world: World) -> None:
    security = world.user(Role.SECURITY_ADMIN, "A")
    for role in (Role.SYSTEM_ADMIN, Role.AUDIT_ADMIN):
        refused(PermissionDenied, grant, plain(world, "A1", role), security, role, world, "A1")
    # …but hands their own role down the tree
    assert grant(plain(world, "A1", "sec"), security, Role.SECURITY_ADMIN, world, "A1").pk


@pytest.mark.parametrize("role", [Role.SYSTEM_ADMIN, Role.AUDIT_ADMIN])
def test_other_administrators_grant_no_business_roles(world: World, role: str) -> None:
    admin = world.user(role, "A")
    refused(PermissionDenied, grant, plain(world, "A1"), admin, Role.CENTRE_STAFF, world, "A1")


def test_county_system_admin_delegates_system_admin_below_only(world: World) -> None:
    county = world.user(Role.SYSTEM_ADMIN, "A")
    township = grant(plain(world, "A1", "sys"), county, Role.SYSTEM_ADMIN, world, "A1")
    assert township.granted_by_id == county.pk
    refused(
        PermissionDenied, grant, plain(world, "A1", "sec"), county, Role.SECURITY_ADMIN, world, "A1"
    )
    refused(
        PermissionDenied, grant, plain(world, "A1", "aud"), county, Role.AUDIT_ADMIN, world, "A1"
    )
    refused(
        PermissionDenied, grant, plain(world, "B1", "sys"), county, Role.SYSTEM_ADMIN, world, "B1"
    )
    # a township administrator cannot make a county one
    small = User.objects.get(pk=township.user_id)
    refused(PermissionDenied, grant, plain(world, "A", "sys"), small, Role.SYSTEM_ADMIN, world, "A")


# --- revoking ----------------------------------------------------------------------------------
def test_revoke_rules(world: World) -> None:
    security = world.user(Role.SECURITY_ADMIN, "A1")
    staff = world.user(Role.CENTRE_STAFF, "A1a")
    assignment = RoleAssignment.objects.get(user=staff)
    outside = RoleAssignment.objects.get(user=world.user(Role.CENTRE_STAFF, "A2"))
    refused(PermissionDenied, actions.do_revoke_role, outside, actor=security)
    system = world.user(Role.SYSTEM_ADMIN, "A1")
    refused(PermissionDenied, actions.do_revoke_role, assignment, actor=system)
    own = RoleAssignment.objects.get(user=security)
    refused(PermissionDenied, actions.do_revoke_role, own, actor=security)
    refused(
        PermissionDenied,
        actions.do_revoke_role,
        RoleAssignment.objects.get(user=system),
        actor=security,
    )

    before = ObjectChange.objects.count()
    actions.do_revoke_role(assignment, actor=security)
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
    row = ObjectChange.objects.order_by("-pk").first()
    assert ObjectChange.objects.count() == before + 1
    assert (row.kind, row.actor_id, row.before["role"], row.after) == (
        "delete",
        security.pk,
        Role.CENTRE_STAFF,
        None,
    )


def test_county_system_admin_revokes_a_delegated_system_admin(world: World) -> None:
    county = world.user(Role.SYSTEM_ADMIN, "A")
    township = world.user(Role.SYSTEM_ADMIN, "A1")
    assignment = RoleAssignment.objects.get(user=township)
    refused(
        PermissionDenied,
        actions.do_revoke_role,
        RoleAssignment.objects.get(user=county),
        actor=township,
    )
    actions.do_revoke_role(assignment, actor=county)
    assert not RoleAssignment.objects.filter(user=township).exists()
    township.forget_scope()
    assert township.scope_paths("account", "change") == []
