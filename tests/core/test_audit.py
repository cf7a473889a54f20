"""The audit trail: one ObjectChange per written object, with actor, request id and before /
after; no secret ever in it; rows are append-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction

from civicgrid.accounts import actions as accounts
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import ApiToken, RoleAssignment, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.core.audit import record_access, record_change, snapshot
from civicgrid.core.context import work_context
from civicgrid.core.models import AccessLog, AppendOnlyError, ChangeKind, ObjectChange
from civicgrid.geo import actions as geo
from civicgrid.geo.models import Division, Grid

from ..world import PASSWORD, World

REQUEST_ID = "req-12345678"


def audited(fn: Callable[[], Any]) -> tuple[Any, list[ObjectChange]]:
    """Run `fn` in a request context; return its result and the audit rows it wrote."""
    last = ObjectChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    with work_context(REQUEST_ID):
        result = fn()
    return result, list(ObjectChange.objects.filter(pk__gt=last).order_by("pk"))


def key(change: ObjectChange) -> tuple[type, str, str]:
    return change.content_type.model_class(), change.object_id, change.kind


# Each case: a function of (world, system admin, security admin) that prepares one action and
# returns ("call", the action) followed by (model, pk or "new", kind) of every object it writes.
def _create_user(w: World, admin: User, sec: User) -> list[Any]:
    return [
        (
            "call",
            lambda: accounts.do_create_user(
                actor=admin,
                username="li.lei",
                password=PASSWORD,
                division=w.div["A1a"],
                email="li@example.cn",
            ),
        ),
        (User, "new", "create"),
    ]


def _update_user(w: World, admin: User, sec: User) -> list[Any]:
    user = w.user(Role.GRID_WORKER, "A1a1")
    return [
        (
            "call",
            lambda: accounts.do_update_user(
                user, actor=admin, full_name="李雷", email="li@example.cn"
            ),
        ),
        (User, user.pk, "update"),
    ]


def _deactivate(w: World, admin: User, sec: User) -> list[Any]:
    user = w.user(Role.GRID_WORKER, "A1a1")
    tokens = [accounts.do_create_token(user, actor=user)[0] for _ in range(2)]
    # the deactivation revokes both tokens, each with its own row
    return [
        ("call", lambda: accounts.do_set_active(user, actor=admin, active=False)),
        (User, user.pk, "update"),
        *((ApiToken, t.pk, "delete") for t in tokens),
    ]


def _reset_password(w: World, admin: User, sec: User) -> list[Any]:
    user = w.user(Role.GRID_WORKER, "A1a1")
    token, _key = accounts.do_create_token(user, actor=user)
    return [
        ("call", lambda: accounts.do_set_password(user, actor=admin, password="a-new-password-99")),
        (User, user.pk, "update"),
        (ApiToken, token.pk, "delete"),
    ]


def _unlock(w: World, admin: User, sec: User) -> list[Any]:
    user = w.user(Role.GRID_WORKER, "A1a1")
    return [("call", lambda: accounts.do_unlock_user(user, actor=admin)), (User, user.pk, "update")]


def _grant(w: World, admin: User, sec: User) -> list[Any]:
    user = accounts.do_create_user(
        actor=None, username="han.meimei", password=PASSWORD, division=w.div["A1a"]
    )
    return [
        (
            "call",
            lambda: accounts.do_grant_role(
                user, actor=sec, role=Role.GRID_LEADER, division=w.div["A1a"]
            ),
        ),
        (RoleAssignment, "new", "create"),
    ]


def _revoke(w: World, admin: User, sec: User) -> list[Any]:
    holder = w.user(Role.CENTRE_STAFF, "A1a")
    assignment = RoleAssignment.objects.get(user=holder)
    return [
        ("call", lambda: accounts.do_revoke_role(assignment, actor=sec)),
        (RoleAssignment, assignment.pk, "delete"),
    ]


def _create_unit(w: World, admin: User, sec: User) -> list[Any]:
    return [
        (
            "call",
            lambda: accounts.do_create_unit(
                actor=admin, division=w.div["A1a"], name="调解室", kind=UnitKind.CENTRE
            ),
        ),
        (Unit, "new", "create"),
    ]


def _update_unit(w: World, admin: User, sec: User) -> list[Any]:
    unit = w.units["centre-A1a"]
    return [
        ("call", lambda: accounts.do_update_unit(unit, actor=admin, phone="0543-7654321")),
        (Unit, unit.pk, "update"),
    ]


def _token(w: World, admin: User, sec: User) -> list[Any]:
    return [
        ("call", lambda: accounts.do_create_token(admin, actor=admin)[0]),
        (ApiToken, "new", "create"),
    ]


def _revoke_token(w: World, admin: User, sec: User) -> list[Any]:
    token, _key = accounts.do_create_token(admin, actor=admin)
    return [
        ("call", lambda: accounts.do_revoke_token(token, actor=admin)),
        (ApiToken, token.pk, "delete"),
    ]


def _create_division(w: World, admin: User, sec: User) -> list[Any]:
    return [
        (
            "call",
            lambda: geo.do_create_division(
                actor=admin, parent=w.div["A1a"], code="371602001001003", name="第三网格"
            ),
        ),
        (Division, "new", "create"),
        (Grid, "new", "create"),
    ]


def _update_division(w: World, admin: User, sec: User) -> list[Any]:
    return [
        ("call", lambda: geo.do_update_division(w.div["A1a"], actor=admin, name="渤海新区")),
        (Division, w.div["A1a"].pk, "update"),
    ]


def _update_grid(w: World, admin: User, sec: User) -> list[Any]:
    grid = Grid.objects.get(pk=w.div["A1a1"].pk)
    return [
        ("call", lambda: geo.do_update_grid(grid, actor=admin, households=480)),
        (Grid, grid.pk, "update"),
    ]


ACTIONS = {
    "create_user": _create_user,
    "update_user": _update_user,
    "deactivate_user": _deactivate,
    "reset_password": _reset_password,
    "unlock_user": _unlock,
    "grant_role": _grant,
    "revoke_role": _revoke,
    "create_unit": _create_unit,
    "update_unit": _update_unit,
    "create_token": _token,
    "revoke_token": _revoke_token,
    "create_division": _create_division,
    "update_division": _update_division,
    "update_grid": _update_grid,
}


@pytest.mark.parametrize("name", ACTIONS)
def test_every_action_writes_one_change_per_object(world: World, name: str) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A1")
    sec = world.user(Role.SECURITY_ADMIN, "A1")
    plan = ACTIONS[name](world, admin, sec)
    _result, rows = audited(plan[0][1])
    expected = []
    for model, pk, kind in plan[1:]:
        if pk == "new":
            pk = next(r.object_id for r in rows if r.content_type.model_class() is model)
        expected.append((model, str(pk), kind))
    assert sorted(map(key, rows), key=str) == sorted(expected, key=str)
    for row in rows:
        assert row.request_id == REQUEST_ID
        assert row.actor_id in {admin.pk, sec.pk}
        assert row.actor_name == User.objects.get(pk=row.actor_id).username
        if row.kind == ChangeKind.CREATE:
            assert row.before is None
            assert row.after
        elif row.kind == ChangeKind.UPDATE:
            assert row.after
        else:
            assert row.before
            assert row.after is None
        assert row.division_path, "every audited object here belongs to a place"


def test_update_rows_show_before_and_after(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A1")
    unit = world.units["centre-A1a"]
    _unit, rows = audited(lambda: accounts.do_update_unit(unit, actor=admin, phone="110"))
    (row,) = rows
    assert (row.before["phone"], row.after["phone"]) == ("", "110")
    assert row.division_path == unit.division_path


def test_unchanged_update_writes_no_row(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A1")
    division = world.div["A1a"]
    _d, rows = audited(lambda: geo.do_update_division(division, actor=admin, name=division.name))
    assert rows == []


def test_no_password_hash_or_token_secret_in_any_change(world: World) -> None:
    admin = world.user(Role.SYSTEM_ADMIN, "A")
    user = accounts.do_create_user(
        actor=admin, username="zhao.lei", password=PASSWORD, division=world.div["A1"]
    )
    accounts.do_set_password(user, actor=admin, password="another-password-5")
    keys = []
    for _ in range(2):
        token, key = accounts.do_create_token(user, actor=user)
        keys.append(key)
    accounts.do_revoke_token(token, actor=user)
    accounts.do_create_token(user, actor=user)
    accounts.do_set_active(user, actor=admin, active=False)
    accounts.do_set_active(user, actor=admin, active=True)
    accounts.do_unlock_user(user, actor=admin)

    secrets = {u.password for u in User.objects.all()} | set(keys)
    secrets |= set(ApiToken.objects.values_list("digest", flat=True))
    secrets |= {accounts.hash_token(k) for k in keys}
    assert all(secrets)
    rows = list(ObjectChange.objects.all())
    assert len(rows) > 50
    for row in rows:
        text = f"{row.before} {row.after}"
        for secret in secrets:
            assert secret not in text, (row.pk, row.action)
        for name in ("password", "digest"):
            assert name not in (row.before or {})
            assert name not in (row.after or {})


# --- append-only -------------------------------------------------------------------------------
@pytest.fixture
def change(world: World) -> ObjectChange:
    return ObjectChange.objects.order_by("pk").first()


@pytest.fixture
def access(world: World) -> AccessLog:
    user = world.user(Role.GRID_WORKER, "A1a1")
    return record_access(user, actor=None, action="view_phone", fields=["phone"], reason="test")


@pytest.mark.parametrize("model_fixture", ["change", "access"])
def test_audit_rows_refuse_update_and_delete(request: Any, model_fixture: str) -> None:
    row = request.getfixturevalue(model_fixture)
    model = type(row)
    original = model.objects.filter(pk=row.pk).values().get()
    row.object_repr = "tampered"
    attempts = {
        "save": lambda: row.save(),
        "save(update_fields)": lambda: row.save(update_fields=["object_repr"]),
        "delete()": lambda: row.delete(),
        "queryset.update": lambda: model.objects.filter(pk=row.pk).update(object_repr="x"),
        "queryset.delete": lambda: model.objects.filter(pk=row.pk).delete(),
        "all().delete": lambda: model.objects.all().delete(),
        "bulk_update": lambda: model.objects.bulk_update([row], ["object_repr"]),
        "update_or_create": lambda: model.objects.update_or_create(
            pk=row.pk, defaults={"object_repr": "x"}
        ),
    }
    for name, attempt in attempts.items():
        # each in its own savepoint: some of these run inside Django's own atomic blocks
        with pytest.raises(AppendOnlyError), transaction.atomic():
            attempt()
        assert model.objects.filter(pk=row.pk).values().get() == original, name
    assert model.objects.filter(pk=row.pk).values().get() == original


@pytest.mark.parametrize("model_fixture", ["change", "access"])
def test_a_new_row_cannot_overwrite_an_old_one_by_reusing_its_id(
    request: Any, model_fixture: str
) -> None:
    row = request.getfixturevalue(model_fixture)
    model = type(row)
    original = model.objects.filter(pk=row.pk).values().get()
    forged = model.objects.get(pk=row.pk)
    forged._state.adding = True  # looks like a brand-new object that happens to carry the id
    forged.object_repr = "forged"
    with pytest.raises(IntegrityError), transaction.atomic():
        forged.save()
    clone = model(**{f.attname: getattr(row, f.attname) for f in model._meta.concrete_fields})
    clone.object_repr = "forged"
    with pytest.raises(IntegrityError), transaction.atomic():
        clone.save()
    assert model.objects.filter(pk=row.pk).values().get() == original


def test_record_change_and_snapshot_leave_secrets_out(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    data = snapshot(user)
    assert "password" not in data
    assert data["username"] == user.username
    row = record_change(user, ChangeKind.UPDATE, actor=None, action="probe")
    assert row.actor_name == "system"
    assert row.content_type == ContentType.objects.get_for_model(User)
    assert "password" not in row.after
