"""Users, units (centres, departments, social organisations) and role assignments."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicgrid.core.paths import minimal_prefixes
from civicgrid.core.scoping import ScopedQuerySet
from civicgrid.geo.models import Division, Placed

from .choices import UnitKind
from .roles import Role, allows, role_label


class UserManager(DjangoUserManager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    pass


class User(AbstractUser):
    """A staff account. Its home division places it in the tree (who may administer it);
    what it may see comes from its role assignments."""

    scope_data_class = "account"
    scope_path_field = "division_path"

    full_name = models.CharField(_("full name"), max_length=100, blank=True)
    division = models.ForeignKey(
        Division,
        verbose_name=_("home division"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    division_path = models.CharField(_("division path"), max_length=15, blank=True, db_index=True)
    mobile = models.CharField(
        _("work mobile"), max_length=20, blank=True, help_text=_("For SMS notices of urgent cases.")
    )
    failed_logins = models.PositiveSmallIntegerField(_("failed logins"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)

    audit_exclude = ("password", "last_login", "failed_logins")

    objects: ClassVar[UserManager] = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering: ClassVar = ["username"]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.username})" if self.full_name else self.username

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    @property
    def is_locked(self) -> bool:
        return self.locked_until is not None and self.locked_until > timezone.now()

    # --- scope ---------------------------------------------------------------------------
    def assignment_triples(self) -> list[tuple[str, str, int | None]]:
        """(role, division path, unit id) of this user's assignments, read once per object."""
        cached: list[tuple[str, str, int | None]] | None = self.__dict__.get("_assignments")
        if cached is None:
            cached = list(
                RoleAssignment.objects.filter(user=self, division__is_active=True).values_list(
                    "role", "division_path", "unit_id"
                )
            )
            self.__dict__["_assignments"] = cached
        return cached

    def assignment_pairs(self) -> list[tuple[str, str]]:
        """(role, division path) of this user's assignments."""
        return [(role, path) for role, path, _unit in self.assignment_triples()]

    def forget_scope(self) -> None:
        self.__dict__.pop("_assignments", None)

    def scope_paths(self, data_class: str, action: str) -> Sequence[str] | None:
        if self.is_superuser:
            return None
        return minimal_prefixes(
            path for role, path in self.assignment_pairs() if allows(role, data_class, action)
        )

    def roles(self) -> set[str]:
        return {role for role, _path in self.assignment_pairs()}

    def has_role(self, *roles: str) -> bool:
        return self.is_superuser or bool(self.roles() & set(roles))

    def holds_role_over(self, role: str, path: str) -> bool:
        """Holds `role` at `path` or at one of its ancestors."""
        return any(r == role and path.startswith(p) for r, p in self.assignment_pairs())


class DepartmentType(models.Model):
    """Configurable list of department kinds (政法、城管、卫健、公安…)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name (Chinese)"), max_length=60)
    name_en = models.CharField(_("name (English)"), max_length=80, blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("department type")
        verbose_name_plural = _("department types")
        ordering: ClassVar = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.localized_name

    @property
    def localized_name(self) -> str:
        from django.utils.translation import get_language

        if (get_language() or "").startswith("en") and self.name_en:
            return self.name_en
        return self.name


class Unit(Placed):
    """A governance centre, department or social organisation at a division."""

    scope_data_class = "org"

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12, choices=UnitKind.choices)
    department_type = models.ForeignKey(
        DepartmentType,
        verbose_name=_("department type"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="units",
    )
    phone = models.CharField(_("duty phone"), max_length=40, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    audit_exclude = ("updated_at",)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering: ClassVar = ["division_path", "kind", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["division", "name"], name="accounts_unit_name")
        ]

    def __str__(self) -> str:
        return self.name


class RoleAssignment(Placed):
    """A role held at a division (and, for handlers, in a unit)."""

    scope_data_class = "role"

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="assignments"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    unit = models.ForeignKey(
        Unit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    granted_by = models.ForeignKey(
        User,
        verbose_name=_("granted by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    granted_at = models.DateTimeField(_("granted at"), auto_now_add=True)

    class Meta:
        verbose_name = _("role assignment")
        verbose_name_plural = _("role assignments")
        ordering: ClassVar = ["division_path", "role"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["user", "role", "division"], name="accounts_assignment_unique"
            )
        ]
        indexes: ClassVar = [models.Index(fields=["role", "division_path"])]

    def __str__(self) -> str:
        return f"{self.user} · {self.label} · {self.division.name}"

    @property
    def label(self) -> str:
        return role_label(self.role, self.division.level)


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """An API token. Only its SHA-256 is stored; the key is shown once, at creation."""

    scope_path_field = "user__division_path"  # where its audit rows belong

    user = models.ForeignKey(
        User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=80, blank=True)
    prefix = models.CharField(_("prefix"), max_length=8)
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    audit_exclude = ("digest", "last_used_at")

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering: ClassVar = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user.username})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


def token_lifetime() -> Any:
    return dt.timedelta(days=settings.API_TOKEN_DAYS)
