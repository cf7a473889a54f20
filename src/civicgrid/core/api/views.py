"""Base classes for scoped API views.

Reads start from `restrict(user, view)`, so an object outside the user's subtree is 404. A write
looks the object up among the visible ones (404 if out of scope), then checks the change
permission (403: the user may see it but not change it). Writes call action functions; the
serializers only validate.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.shortcuts import get_object_or_404
from rest_framework import viewsets
from rest_framework.exceptions import PermissionDenied

from civicgrid.core.scoping import Action, can

SAFE = {"GET", "HEAD", "OPTIONS"}


class ScopedViewSetMixin:
    queryset: Any
    request: Any
    kwargs: dict[str, Any]
    lookup_field = "pk"
    # Detail URLs match row ids only: /cases/abc/ is a 404 like any unknown id.
    lookup_value_regex = "[0-9]+"

    def get_queryset(self) -> models.QuerySet:
        return self.queryset.all().restrict(self.request.user, Action.VIEW)

    def get_object(self) -> Any:
        queryset = self.filter_queryset(self.get_queryset())  # type: ignore[attr-defined]
        obj = get_object_or_404(queryset, **{self.lookup_field: self.kwargs[self.lookup_field]})
        if self.request.method not in SAFE:
            self.check_change(obj)
        self.check_object_permissions(self.request, obj)  # type: ignore[attr-defined]
        return obj

    def check_change(self, obj: models.Model) -> None:
        if not can(self.request.user, obj, Action.CHANGE):
            raise PermissionDenied()


class ScopedReadOnlyViewSet(ScopedViewSetMixin, viewsets.ReadOnlyModelViewSet):
    pass


class ScopedModelViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    pass
