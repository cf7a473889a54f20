"""Filters shared by every scoped list: `under` (a division code: its whole subtree)."""

from __future__ import annotations

from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError

from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action


def division_path_for_code(code: str, user: Any = None, *, field: str = "under") -> str:
    """The path of the active division with this code. Given the requesting user, only a
    division that user may see counts: a code outside their area gets the very answer a code
    that does not exist gets, so the answer never tells whether a division exists."""
    from civicgrid.geo.models import Division

    divisions = Division.objects.filter(code=str(code).strip(), is_active=True)
    if user is not None:
        divisions = divisions.restrict(user, Action.VIEW)
    path = divisions.values_list("path", flat=True).first()
    if path is None:
        raise ValidationError({field: [_("No division has the code %(code)s.") % {"code": code}]})
    return path


class UnderFilter(django_filters.CharFilter):
    """Rows in the subtree of the division with this code, on the model's path column."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("under division (code)"))
        kwargs.setdefault("help_text", _("A division code: everything in its subtree."))
        super().__init__(*args, **kwargs)

    def filter(self, qs: QuerySet, value: Any) -> QuerySet:
        if not value:
            return qs
        request = getattr(self.parent, "request", None)
        # The error names this filter (`under`, or whatever name a list gives it).
        user = getattr(request, "user", None)
        path = division_path_for_code(str(value), user, field=self.field_name or "under")
        return qs.filter(subtree_q(qs.model.scope_path_field, path))


class ScopedFilterSet(django_filters.FilterSet):
    under = UnderFilter()


class IdFilter(django_filters.NumberFilter):
    """A row id: a whole number a database column can hold (a bigger one is a 400, not an
    overflow inside the database driver)."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)
