"""The admin site: open to the installation superuser and the three administrators only.

Kept in its own module: the module that defines the default site must not register models,
or the registrations land on a second site object created while the first is being built."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest


class CivicgridAdminSite(admin.AdminSite):
    site_header = "civicgrid"
    site_title = "civicgrid"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        if not user.is_active:
            return False
        if user.is_superuser:
            return True
        from civicgrid.accounts.roles import ADMIN_ROLES

        return bool(getattr(user, "roles", lambda: set())() & ADMIN_ROLES)
