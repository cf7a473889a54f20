from django.contrib import admin

from civicgrid.core.admin import ScopedModelAdmin

from .models import CoverageIssue, Division, Grid


@admin.register(Division)
class DivisionAdmin(ScopedModelAdmin):
    list_display = ("code", "name", "level", "parent", "is_active")
    list_filter = ("level", "is_active")
    search_fields = ("code", "name")
    exclude = ("boundary",)


@admin.register(Grid)
class GridAdmin(ScopedModelAdmin):
    list_display = ("division", "kind", "setting", "households", "residents")
    list_filter = ("kind", "setting", "dedicated_type")
    search_fields = ("division__code", "division__name")


@admin.register(CoverageIssue)
class CoverageIssueAdmin(ScopedModelAdmin):
    list_display = ("parent", "kind", "grid_a", "grid_b", "area_m2", "found_at")
    list_filter = ("kind",)
