"""Every write to accounts, units and role assignments, audited.

Separation of the three administrators (三员分立): the system administrator creates and edits
accounts and units; the security administrator grants and revokes roles; the audit
administrator reads the audit trail. Delegation: an administrator can hand their own
administrator role down their subtree, never one they do not hold.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import password_validation
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.core.audit import changed_fields, record_change, snapshot
from civicgrid.core.models import ChangeKind
from civicgrid.core.scoping import Action, can
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from .choices import UnitKind
from .models import ApiToken, DepartmentType, RoleAssignment, Unit, User, hash_token
from .roles import ADMIN_ROLES, ALLOWED_LEVELS, Role, role_label

USERNAME_MAX = 150


def _in_scope(actor: Any, data_class: str, path: str, action: str = Action.CHANGE) -> bool:
    if actor is None:
        return True
    paths = actor.scope_paths(data_class, action)
    return paths is None or any(path.startswith(p) for p in paths)


def _require_division(actor: Any, data_class: str, division: Division | None, field: str) -> None:
    if division is None:
        raise ValidationError({field: _("Choose a division.")})
    if not division.is_active:
        raise ValidationError({field: _("This division is no longer active.")})
    if not _in_scope(actor, data_class, division.path):
        raise PermissionDenied(
            _("%(division)s is outside your area.") % {"division": division.name}
        )


# --- users -----------------------------------------------------------------------------------
def _require_account_change(actor: Any, user: User) -> None:
    """The system administrator of the area changes accounts — except that an account holding an
    administrator role is changed only by someone holding that same role over it (三员分立):
    otherwise a system administrator could reset the audit administrator's password and read
    the audit trail as them."""
    if actor is None:
        return
    if not can(actor, user, Action.CHANGE):
        raise PermissionDenied(_("You may not change this account."))
    if actor.is_superuser:
        return
    held = RoleAssignment.objects.filter(user=user, role__in=ADMIN_ROLES).values_list(
        "role", "division_path"
    )
    if any(not actor.holds_role_over(role, path) for role, path in held):
        raise PermissionDenied(_("You may not change this account."))


def _check_username_shape(username: str) -> None:
    if not username:
        raise ValidationError({"username": _("The user name is empty.")})
    if len(username) > USERNAME_MAX:
        raise ValidationError({"username": _("The user name is too long.")})
    field = User._meta.get_field("username")
    try:
        for validator in field.validators:
            validator(username)
    except ValidationError as exc:
        raise ValidationError({"username": exc.messages}) from exc


def _validate_username(username: str) -> str:
    username = (username or "").strip()
    _check_username_shape(username)
    # Unique regardless of case: "Wang.Fang" and "wang.fang" would be one person to a reader.
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": _("This user name is taken.")})
    return username


def _validate_password(password: str, user: User | None = None) -> None:
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc


def do_create_user(
    *,
    actor: Any,
    username: str,
    password: str,
    division: Division | None,
    full_name: str = "",
    email: str = "",
) -> User:
    _require_division(actor, "account", division, "division")
    assert division is not None
    username = _validate_username(username)
    user = User(
        username=username,
        full_name=(full_name or "").strip()[:100],
        email=(email or "").strip(),
        division=division,
        division_path=division.path,
    )
    if user.email:
        try:
            User._meta.get_field("email").run_validators(user.email)
        except ValidationError as exc:
            raise ValidationError({"email": exc.messages}) from exc
    _validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        try:
            user.save()
        except IntegrityError as exc:
            raise ValidationError({"username": _("This user name is taken.")}) from exc
        record_change(user, ChangeKind.CREATE, actor=actor, action="create")
    return user


def do_update_user(
    user: User,
    *,
    actor: Any,
    full_name: str | None = None,
    email: str | None = None,
    division: Division | None = None,
) -> User:
    _require_account_change(actor, user)
    if division is not None:
        _require_division(actor, "account", division, "division")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = snapshot(user)
        if full_name is not None:
            user.full_name = full_name.strip()[:100]
        if email is not None:
            user.email = email.strip()
            if user.email:
                try:
                    User._meta.get_field("email").run_validators(user.email)
                except ValidationError as exc:
                    raise ValidationError({"email": exc.messages}) from exc
        if division is not None:
            user.division = division
            user.division_path = division.path
        touched = changed_fields(before, snapshot(user))
        if touched:
            user.save(update_fields=touched)
            record_change(user, ChangeKind.UPDATE, actor=actor, action="update", before=before)
    return user


def do_set_active(user: User, *, actor: Any, active: bool) -> User:
    _require_account_change(actor, user)
    if actor is not None and actor.pk == user.pk and not active:
        raise ValidationError({"is_active": _("You cannot deactivate your own account.")})
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if user.is_active == active:
            return user
        before = snapshot(user)
        user.is_active = active
        user.save(update_fields=["is_active"])
        if not active:
            _revoke_all_tokens(user, actor=actor)
        record_change(
            user,
            ChangeKind.UPDATE,
            actor=actor,
            action="activate" if active else "deactivate",
            before=before,
        )
    return user


def do_set_password(
    user: User, *, actor: Any, password: str, old_password: str | None = None
) -> User:
    """A user changes their own password (old password required), or an administrator resets
    it; either way every API token of the account is revoked."""
    own = actor is not None and actor.pk == user.pk
    if own:
        if old_password is None or not user.check_password(old_password):
            raise ValidationError({"old_password": _("The current password is wrong.")})
    else:
        _require_account_change(actor, user)
    _validate_password(password, user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        user.set_password(password)
        user.failed_logins = 0
        user.locked_until = None
        user.save(update_fields=["password", "failed_logins", "locked_until"])
        _revoke_all_tokens(user, actor=actor)
        record_change(
            user,
            ChangeKind.UPDATE,
            actor=actor,
            action="change_password" if own else "reset_password",
        )
    return user


def do_unlock_user(user: User, *, actor: Any) -> User:
    _require_account_change(actor, user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = snapshot(user, ["locked_until"])
        user.failed_logins = 0
        user.locked_until = None
        user.save(update_fields=["failed_logins", "locked_until"])
        record_change(
            user,
            ChangeKind.UPDATE,
            actor=actor,
            action="unlock",
            before=before,
            after=snapshot(user, ["locked_until"]),
        )
    return user


def do_record_login_failure(username: str) -> None:
    """Count a failed login; lock the account for a while after too many in a row."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(username__iexact=username).first()
        if user is None:
            return
        user.failed_logins += 1
        fields = ["failed_logins"]
        if user.failed_logins >= settings.LOGIN_MAX_FAILURES:
            user.locked_until = timezone.now() + dt.timedelta(minutes=settings.LOGIN_LOCK_MINUTES)
            user.failed_logins = 0
            fields.append("locked_until")
            record_change(
                user,
                ChangeKind.UPDATE,
                actor=None,
                action="lock",
                after=snapshot(user, ["locked_until"]),
            )
        user.save(update_fields=fields)


def do_record_login_success(user: User) -> None:
    if user.failed_logins or user.locked_until:
        User.objects.filter(pk=user.pk).update(failed_logins=0, locked_until=None)


# --- role assignments ------------------------------------------------------------------------
def may_grant(actor: Any, role: str, division: Division) -> bool:
    """Business roles: a security administrator over the division. Administrator roles: only
    someone who holds that same role over the division (delegation down the tree)."""
    if actor is None or actor.is_superuser:
        return True
    if role in ADMIN_ROLES:
        return actor.holds_role_over(role, division.path)
    return _in_scope(actor, "role", division.path)


def do_grant_role(
    user: User,
    *,
    actor: Any,
    role: str,
    division: Division | None,
    unit: Unit | None = None,
) -> RoleAssignment:
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role.")})
    if unit is not None and division is None:
        division = unit.division
    if division is None:
        raise ValidationError({"division": _("Choose a division.")})
    if not division.is_active:
        raise ValidationError({"division": _("This division is no longer active.")})
    if actor is not None and not can(actor, user, Action.VIEW):
        raise PermissionDenied(_("You may not manage this account."))
    if not may_grant(actor, role, division):
        raise PermissionDenied(
            _("You may not grant “%(role)s” at %(division)s.")
            % {"role": role_label(role, division.level), "division": division.name}
        )
    if actor is not None and actor.pk == user.pk:
        raise PermissionDenied(_("Nobody grants roles to themselves."))
    if not user.is_active:
        raise ValidationError({"user": _("The account is deactivated.")})
    if division.level not in ALLOWED_LEVELS[role]:
        raise ValidationError(
            {
                "division": _("“%(role)s” cannot be held at a %(level)s.")
                % {"role": Role(role).label, "level": Level(division.level).label}
            }
        )
    if role == Role.DEPARTMENT_HANDLER:
        if unit is None:
            raise ValidationError({"unit": _("A department handler belongs to a unit.")})
        if unit.kind not in {UnitKind.DEPARTMENT, UnitKind.SOCIAL_ORG}:
            raise ValidationError({"unit": _("Choose a department or social organisation.")})
    if unit is not None:
        if unit.division_id != division.pk:
            raise ValidationError({"unit": _("The unit is not at this division.")})
        if not unit.is_active:
            raise ValidationError({"unit": _("The unit is inactive.")})
        if role == Role.CENTRE_STAFF and unit.kind != UnitKind.CENTRE:
            raise ValidationError({"unit": _("Centre staff belong to a governance centre.")})
    with transaction.atomic():
        # Re-read under a lock: the objects passed in may be stale (deactivated meanwhile).
        locked = User.objects.select_for_update().filter(pk=user.pk).first()
        if locked is None or not locked.is_active:
            raise ValidationError({"user": _("The account is deactivated.")})
        if unit is not None and not Unit.objects.filter(pk=unit.pk, is_active=True).exists():
            raise ValidationError({"unit": _("The unit is inactive.")})
        held = set(RoleAssignment.objects.filter(user=user).values_list("role", flat=True))
        if role in ADMIN_ROLES and held - {role}:
            raise ValidationError(
                {
                    "role": _(
                        "An administrator holds no other role (the three administrators are "
                        "separate)."
                    )
                }
            )
        if role not in ADMIN_ROLES and held & ADMIN_ROLES:
            raise ValidationError(
                {"role": _("This account is an administrator and can hold no other role.")}
            )
        if RoleAssignment.objects.filter(user=user, role=role, division=division).exists():
            raise ValidationError({"role": _("The user already holds this role here.")})
        assignment = RoleAssignment.objects.create(
            user=user,
            role=role,
            division=division,
            division_path=division.path,
            unit=unit,
            granted_by=actor if getattr(actor, "pk", None) else None,
        )
        record_change(assignment, ChangeKind.CREATE, actor=actor, action="grant")
    user.forget_scope()
    return assignment


def do_revoke_role(assignment: RoleAssignment, *, actor: Any) -> None:
    if not may_grant(actor, assignment.role, assignment.division):
        raise PermissionDenied(_("You may not revoke this role."))
    if actor is not None and actor.pk == assignment.user_id:
        raise PermissionDenied(_("Nobody revokes their own roles."))
    with transaction.atomic():
        before = snapshot(assignment)
        record_change(assignment, ChangeKind.DELETE, actor=actor, action="revoke", before=before)
        assignment.delete()


# --- units -----------------------------------------------------------------------------------
UNIT_FIELDS = ("name", "kind", "department_type", "phone", "is_active")


def _clean_unit(
    name: str, kind: str, department_type: DepartmentType | None, division: Division
) -> None:
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = _("The name is empty.")
    if kind not in UnitKind.values:
        errors["kind"] = _("Unknown kind of unit.")
    if kind == UnitKind.DEPARTMENT and department_type is None:
        errors["department_type"] = _("A department needs a department type.")
    if kind != UnitKind.DEPARTMENT and department_type is not None:
        errors["department_type"] = _("Only departments have a department type.")
    if division.level == Level.GRID:
        errors["division"] = _("Units sit at a community or above, not at a grid.")
    if errors:
        raise ValidationError(errors)


def do_create_unit(
    *,
    actor: Any,
    division: Division | None,
    name: str,
    kind: str,
    department_type: DepartmentType | None = None,
    phone: str = "",
) -> Unit:
    _require_division(actor, "org", division, "division")
    assert division is not None
    _clean_unit(name, kind, department_type, division)
    name = name.strip()
    if Unit.objects.filter(division=division, name=name).exists():
        raise ValidationError({"name": _("This division already has a unit of that name.")})
    with transaction.atomic():
        unit = Unit.objects.create(
            division=division,
            division_path=division.path,
            name=name,
            kind=kind,
            department_type=department_type,
            phone=(phone or "").strip()[:40],
        )
        record_change(unit, ChangeKind.CREATE, actor=actor, action="create")
    return unit


def do_update_unit(unit: Unit, *, actor: Any, **values: Any) -> Unit:
    if actor is not None and not can(actor, unit, Action.CHANGE):
        raise PermissionDenied(_("You may not change this unit."))
    unknown = set(values) - set(UNIT_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed.") for name in unknown})
    with transaction.atomic():
        unit = Unit.objects.select_for_update().select_related("division").get(pk=unit.pk)
        before = snapshot(unit)
        for name, value in values.items():
            setattr(unit, name, value.strip() if isinstance(value, str) else value)
        _clean_unit(unit.name, unit.kind, unit.department_type, unit.division)
        if (
            "name" in values
            and Unit.objects.filter(division=unit.division, name=unit.name)
            .exclude(pk=unit.pk)
            .exists()
        ):
            raise ValidationError({"name": _("This division already has a unit of that name.")})
        touched = changed_fields(before, snapshot(unit))
        if touched:
            unit.save(update_fields=[*touched, "updated_at"])
            record_change(unit, ChangeKind.UPDATE, actor=actor, action="update", before=before)
    return unit


# --- API tokens ------------------------------------------------------------------------------
def do_create_token(user: User, *, actor: Any, name: str = "") -> tuple[ApiToken, str]:
    """A new API token for `user`; the key is returned once and only its hash is kept."""
    key = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=(name or "").strip()[:80],
            prefix=key[:8],
            digest=hash_token(key),
            expires_at=timezone.now() + dt.timedelta(days=settings.API_TOKEN_DAYS),
        )
        record_change(token, ChangeKind.CREATE, actor=actor, action="create_token")
    return token, key


def _revoke_all_tokens(user: User, *, actor: Any) -> int:
    """Delete every API token of `user` (inside the caller's transaction), one audit row each:
    a token is a credential, and its end belongs in the trail like its creation."""
    from civicgrid.core.audit import bulk_record_changes

    tokens = list(ApiToken.objects.select_related("user").filter(user=user))
    if tokens:
        bulk_record_changes(
            ((t, snapshot(t), None) for t in tokens),
            ChangeKind.DELETE,
            actor=actor,
            action="revoke_token",
        )
        ApiToken.objects.filter(pk__in=[t.pk for t in tokens]).delete()
    return len(tokens)


def do_revoke_token(token: ApiToken, *, actor: Any) -> None:
    if actor is not None and actor.pk != token.user_id and not actor.is_superuser:
        raise PermissionDenied(_("You may not revoke this token."))
    with transaction.atomic():
        record_change(
            token, ChangeKind.DELETE, actor=actor, action="revoke_token", before=snapshot(token)
        )
        token.delete()


def do_bulk_create_users(rows: list[dict[str, Any]], *, actor: Any, password: str) -> list[User]:
    """Create many accounts sharing one initial password (hashed once), each with one role.

    For onboarding a whole corps of grid workers; each row has username, full_name, division,
    role and optionally unit. Same validation as single creation, all or nothing.
    """
    from civicgrid.core.audit import bulk_record_changes, created

    probe = User(username="probe")
    _validate_password(password, probe)
    probe.set_password(password)
    names = [str(row.get("username") or "").strip() for row in rows]
    # Taken regardless of case, in the database or earlier in the same batch — as for one.
    taken = set(
        User.objects.annotate(lname=Lower("username"))
        .filter(lname__in={n.lower() for n in names})
        .values_list("lname", flat=True)
    )
    errors: dict[str, list[str]] = {}
    for i, (row, name) in enumerate(zip(rows, names, strict=True)):
        division = row["division"]
        try:
            _check_username_shape(name)
        except ValidationError as exc:
            errors.setdefault("username", []).extend(f"{i + 1}: {m}" for m in exc.messages)
        if name.lower() in taken:
            errors.setdefault("username", []).append(f"{i + 1}: {name}")
        taken.add(name.lower())
        if row["role"] in ADMIN_ROLES or division.level not in ALLOWED_LEVELS[row["role"]]:
            errors.setdefault("role", []).append(f"{i + 1}: {row['role']}")
        if not _in_scope(actor, "account", division.path) or not may_grant(
            actor, row["role"], division
        ):
            raise PermissionDenied(_("%(division)s is outside your area.") % {"division": division})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        users = [
            User(
                username=name,
                full_name=row.get("full_name", ""),
                division=row["division"],
                division_path=row["division"].path,
                password=probe.password,
            )
            for row, name in zip(rows, names, strict=True)
        ]
        User.objects.bulk_create(users, batch_size=1000)
        bulk_record_changes(created(users), ChangeKind.CREATE, actor=actor, action="create")
        assignments = [
            RoleAssignment(
                user=user,
                role=row["role"],
                division=row["division"],
                division_path=row["division"].path,
                unit=row.get("unit"),
                granted_by=actor if getattr(actor, "pk", None) else None,
            )
            for user, row in zip(users, rows, strict=True)
        ]
        RoleAssignment.objects.bulk_create(assignments, batch_size=1000)
        bulk_record_changes(created(assignments), ChangeKind.CREATE, actor=actor, action="grant")
    return users
