from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from civicgrid.core.admin import ScopedModelAdmin
from civicgrid.core.audit import record_change, snapshot
from civicgrid.core.models import ChangeKind

from .models import DepartmentType, RoleAssignment, Unit, User

# Access comes from role assignments, not Django groups.
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(ScopedModelAdmin):
    list_display = ("username", "full_name", "division", "is_active", "last_login")
    list_filter = ("is_active",)
    search_fields = ("username", "full_name")
    exclude = ("password", "user_permissions", "groups")


@admin.register(Unit)
class UnitAdmin(ScopedModelAdmin):
    list_display = ("name", "kind", "department_type", "division", "is_active")
    list_filter = ("kind", "department_type", "is_active")
    search_fields = ("name",)


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ScopedModelAdmin):
    list_display = ("user", "role", "division", "unit", "granted_at")
    list_filter = ("role",)
    search_fields = ("user__username", "division__code")


@admin.register(DepartmentType)
class DepartmentTypeAdmin(admin.ModelAdmin):
    """Configuration shared by the whole installation: edited by the installation superuser."""

    list_display = ("code", "name", "name_en", "sort_order", "is_active")
    list_editable = ("sort_order", "is_active")

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = snapshot(DepartmentType.objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        record_change(
            obj,
            ChangeKind.UPDATE if change else ChangeKind.CREATE,
            actor=request.user,
            action="admin",
            before=before,
        )
