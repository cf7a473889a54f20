"""The one scoping mechanism: `Model.objects.restrict(user, action)`.

A scoped model names its data class (what kind of information it holds, which the role policy
grants per action) and the field that holds its division path. The user object answers which
subtrees it may reach for a data class and action (`scope_paths`); the queryset turns that into
one indexed range filter per subtree. Out-of-scope objects simply are not in the queryset, so
views that look objects up through it answer 404 — existence never leaks.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

from django.db import models

from .paths import any_subtree_q

if TYPE_CHECKING:
    from collections.abc import Sequence


class Action(StrEnum):
    VIEW = "view"
    CHANGE = "change"


class ScopeHolder(Protocol):
    is_authenticated: bool
    is_active: bool

    def scope_paths(self, data_class: str, action: str) -> Sequence[str] | None:
        """Path prefixes reachable, or None for everything (the installation superuser)."""


class ScopedQuerySet(models.QuerySet):
    def restrict(self, user: Any, action: str = Action.VIEW) -> Self:
        model = self.model
        data_class: str = model.scope_data_class  # type: ignore[attr-defined]
        field: str = model.scope_path_field  # type: ignore[attr-defined]
        if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        paths = user.scope_paths(data_class, str(action))
        if paths is None:
            return self
        q = any_subtree_q(field, paths)
        # A model may widen the subtree rule for some rows (a department's own cases).
        extra = getattr(model, "extra_scope_q", None)
        if extra is not None:
            more = extra(user, str(action))
            if more is not None:
                q = more if q is None else q | more
        return self.none() if q is None else self.filter(q)


class ScopedManager(models.Manager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    pass


class Scoped(models.Model):
    """Mixin for models whose rows belong to a place in the division tree."""

    scope_data_class: ClassVar[str]
    scope_path_field: ClassVar[str] = "division_path"

    objects = ScopedManager()

    class Meta:
        abstract = True


def object_path(obj: models.Model) -> str:
    value: Any = obj
    for part in type(obj).scope_path_field.split("__"):  # type: ignore[attr-defined]
        value = getattr(value, part)
    return str(value or "")


def can(user: Any, obj: models.Model, action: str = Action.VIEW) -> bool:
    """Whether `user` may take `action` on `obj`: the same rule as `restrict`, without a query."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    paths = user.scope_paths(type(obj).scope_data_class, str(action))  # type: ignore[attr-defined]
    if paths is None:
        return True
    if getattr(type(obj), "extra_scope_q", None) is not None:
        # The widened rule is a query; ask the database rather than repeat it in Python.
        manager = type(obj)._default_manager
        return bool(manager.filter(pk=obj.pk).restrict(user, action).exists())  # type: ignore[attr-defined]
    path = object_path(obj)
    return bool(path) and any(path.startswith(prefix) for prefix in paths)


def reaches(user: Any, data_class: str, action: str = Action.VIEW) -> bool:
    """Whether `user` may take `action` on `data_class` anywhere at all (menus, whole pages)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    paths = user.scope_paths(data_class, str(action))
    return paths is None or bool(paths)


def require(user: Any, data_class: str, action: str = Action.VIEW, message: str = "") -> None:
    """Refuse a whole page (403) to a user whose roles never reach this kind of data."""
    if not reaches(user, data_class, action):
        from django.core.exceptions import PermissionDenied
        from django.utils.translation import gettext as _

        raise PermissionDenied(message or _("Your roles do not include this page."))
