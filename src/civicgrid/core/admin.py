"""Django admin, scoped like everything else and read-only for scoped data: writes go through
the actions (pages, API, commands) so that they are validated and audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AccessLog, ImportJob, ObjectChange
from .scoping import Action, can, reaches


class ScopedModelAdmin(admin.ModelAdmin):
    """Shows only rows in the user's subtree; out-of-scope objects are 404 like elsewhere."""

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).restrict(request.user, Action.VIEW)  # type: ignore[attr-defined]

    def _data_class(self) -> str:
        return self.model.scope_data_class

    def has_module_permission(self, request: HttpRequest) -> bool:
        return reaches(request.user, self._data_class(), Action.VIEW)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None:
            return can(request.user, obj, Action.VIEW)
        return reaches(request.user, self._data_class(), Action.VIEW)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ObjectChange)
class ObjectChangeAdmin(ScopedModelAdmin):
    list_display = ("time", "actor_name", "kind", "action", "content_type", "object_repr")
    list_filter = ("kind", "content_type")
    search_fields = ("object_repr", "actor_name", "request_id")
    date_hierarchy = "time"


@admin.register(AccessLog)
class AccessLogAdmin(ScopedModelAdmin):
    list_display = ("time", "actor_name", "action", "content_type", "object_repr", "reason")
    search_fields = ("object_repr", "actor_name", "request_id")
    date_hierarchy = "time"


@admin.register(ImportJob)
class ImportJobAdmin(ScopedModelAdmin):
    list_display = ("created_at", "kind", "original_name", "status", "created_by")
    list_filter = ("kind", "status")
