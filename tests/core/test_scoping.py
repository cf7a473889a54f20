"""`restrict` (the queryset) and `can` (one object) are the same rule, for every kind of caller."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from civicgrid.accounts import actions
from civicgrid.accounts.models import RoleAssignment, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.core.models import ObjectChange
from civicgrid.core.scoping import Action, can
from civicgrid.geo.models import Division, Grid

from ..world import PASSWORD, World

MODELS = [Division, Grid, Unit, User, RoleAssignment, ObjectChange]


def test_restrict_and_can_agree_for_every_role_object_and_action(world: World) -> None:
    callers = [
        world.user(role, at)
        for role, at in (
            (Role.GRID_WORKER, "A1a1"),
            (Role.CENTRE_STAFF, "A1"),
            (Role.SYSTEM_ADMIN, "A"),
            (Role.SECURITY_ADMIN, "B"),
            (Role.AUDIT_ADMIN, "A1"),
            (Role.LEADER, "C"),
        )
    ]
    for caller in callers:
        for model in MODELS:
            rows = list(model._default_manager.all())
            assert rows
            for action in (Action.VIEW, Action.CHANGE):
                visible = set(model.objects.restrict(caller, action).values_list("pk", flat=True))
                assert visible == {r.pk for r in rows if can(caller, r, action)}, (
                    caller.username,
                    model.__name__,
                    action,
                )


def test_nobody_without_an_active_role_sees_anything(world: World) -> None:
    homeless = actions.do_create_user(
        actor=None, username="no.roles", password=PASSWORD, division=world.div["A1"]
    )
    deactivated = world.user(Role.SYSTEM_ADMIN, "P")
    actions.do_set_active(deactivated, actor=None, active=False)
    deactivated.refresh_from_db()
    division = world.div["A1"]
    for caller in (AnonymousUser(), None, homeless, deactivated):
        assert not Division.objects.restrict(caller).exists()
        assert not can(caller, division)


def test_an_inactive_division_takes_its_roles_with_it(world: World) -> None:
    staff = world.user(Role.CENTRE_STAFF, "A2")
    assert Division.objects.restrict(staff).exists()
    Division.objects.filter(pk=world.div["A2"].pk).update(is_active=False)
    staff = User.objects.get(pk=staff.pk)
    assert not Division.objects.restrict(staff).exists()


def test_superuser_sees_everything(world: World) -> None:
    root = User.objects.create_superuser("root", password=PASSWORD)
    assert Division.objects.restrict(root, Action.CHANGE).count() == Division.objects.count()
    assert can(root, world.div["B1a1"], Action.CHANGE)


@pytest.mark.parametrize("role", [Role.CENTRE_STAFF, Role.LEADER])
def test_two_assignments_reach_two_subtrees(world: World, role: str) -> None:
    user = world.user(role, "A1a")
    actions.do_grant_role(user, actor=None, role=role, division=world.div["B1a"])
    user = User.objects.get(pk=user.pk)
    codes = set(Division.objects.restrict(user).values_list("code", flat=True))
    assert codes == {
        d.code
        for d in world.div.values()
        if d.path.startswith((world.div["A1a"].path, world.div["B1a"].path))
    }
