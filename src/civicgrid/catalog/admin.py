"""Case categories and SLA policies: installation-wide configuration, edited in the admin site
by the installation superuser and audited like every other write. (The calendar and the
routing matrix have their own pages and actions.) The admin saves a form and its inlines in
one transaction, so a refused inline leaves nothing half-written."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _

from civicgrid.core.audit import record_change, snapshot
from civicgrid.core.models import ChangeKind

from .models import CaseCategory, SlaLimit, SlaPolicy

FIELD_TYPES = {"text", "number", "integer", "boolean", "choice"}
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def check_extra_fields(value: Any) -> list[dict[str, Any]]:
    """The extra fields a category asks for: a list of {name, label, label_en, type,
    required, choices}; every problem names the field it is about."""
    if value in (None, ""):
        return []
    if not isinstance(value, list):
        raise ValidationError(_('A list of fields: [{"name": …, "label": …, "type": …}].'))
    seen: set[str] = set()
    for index, spec in enumerate(value, start=1):
        where = _("Field %(n)d") % {"n": index}
        if not isinstance(spec, dict):
            raise ValidationError(_("%(where)s: not an object.") % {"where": where})
        unknown = set(spec) - {"name", "label", "label_en", "type", "required", "choices"}
        if unknown:
            raise ValidationError(
                _("%(where)s: unknown keys %(keys)s.")
                % {"where": where, "keys": ", ".join(sorted(unknown))}
            )
        name = spec.get("name")
        if not isinstance(name, str) or not FIELD_NAME.match(name):
            raise ValidationError(
                _("%(where)s: name must be lower-case letters, digits and _ (e.g. area_m2).")
                % {"where": where}
            )
        if name in seen:
            raise ValidationError(_("%(where)s: the name %(name)s is used twice.") % {
                "where": where, "name": name})  # fmt: skip
        seen.add(name)
        if not str(spec.get("label") or "").strip():
            raise ValidationError(_("%(where)s: give a label.") % {"where": where})
        kind = spec.get("type", "text")
        if kind not in FIELD_TYPES:
            raise ValidationError(
                _("%(where)s: type must be one of %(types)s.")
                % {"where": where, "types": ", ".join(sorted(FIELD_TYPES))}
            )
        if "required" in spec and not isinstance(spec["required"], bool):
            raise ValidationError(_("%(where)s: required is true or false.") % {"where": where})
        choices = spec.get("choices")
        if kind == "choice" and (not isinstance(choices, list) or not choices):
            raise ValidationError(_("%(where)s: a choice field lists its choices.") % {
                "where": where})  # fmt: skip
    return value


class CaseCategoryForm(forms.ModelForm):
    class Meta:
        model = CaseCategory
        fields = (
            "code",
            "name",
            "name_en",
            "parent",
            "task_class",
            "is_active",
            "default_priority",
            "sla_policy",
            "filing_criterion",
            "closing_criterion",
            "extra_fields",
            "sort_order",
        )

    def clean_extra_fields(self) -> list[dict[str, Any]]:
        return check_extra_fields(self.cleaned_data.get("extra_fields"))

    def clean_parent(self) -> CaseCategory | None:
        parent = self.cleaned_data.get("parent")
        if parent is None:
            return None
        if self.instance.pk and parent.pk == self.instance.pk:
            raise ValidationError(_("A category cannot be its own major class."))
        if parent.parent_id is not None:
            raise ValidationError(_("Choose a major class: categories have two levels."))
        if self.instance.pk and self.instance.children.exists():
            raise ValidationError(_("This category has minor classes, so it stays a major class."))
        return parent


class SuperuserOnly(admin.ModelAdmin):
    """Configuration shared by the whole installation: the installation superuser edits it."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Cases keep pointing at their category and policy: retire a category instead.
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)
        record_change(
            obj,
            ChangeKind.UPDATE if change else ChangeKind.CREATE,
            actor=request.user,
            action="admin",
            before=before,
        )


@admin.register(CaseCategory)
class CaseCategoryAdmin(SuperuserOnly):
    form = CaseCategoryForm
    list_display = (
        "code",
        "name",
        "name_en",
        "parent",
        "task_class",
        "default_priority",
        "sla_policy",
        "sort_order",
        "is_active",
    )
    list_filter = ("is_active", "task_class", "parent")
    search_fields = ("code", "name", "name_en")
    list_select_related = ("parent", "sla_policy")
    fieldsets = (
        (None, {"fields": ("code", "name", "name_en", "parent", "task_class", "is_active")}),
        (
            _("Handling"),
            {"fields": ("default_priority", "sla_policy", "filing_criterion", "closing_criterion")},
        ),
        (_("Extra fields and order"), {"fields": ("extra_fields", "sort_order")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Cases, routes and API clients refer to categories by code.
        return ("code",) if obj is not None else ()


class SlaLimitInline(admin.TabularInline):
    model = SlaLimit
    extra = 0
    min_num = 1
    fields = ("stage", "order", "step", "amount", "unit")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


@admin.register(SlaPolicy)
class SlaPolicyAdmin(SuperuserOnly):
    list_display = ("code", "name", "name_en", "warn_ratio")
    search_fields = ("code", "name", "name_en")
    inlines = (SlaLimitInline,)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("code",) if obj is not None else ()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        """Save the limits and audit each created, changed and removed one."""
        befores = {
            f.instance.pk: snapshot(SlaLimit.objects.get(pk=f.instance.pk))
            for f in formset.forms
            if f.instance.pk and f.has_changed()
        }
        instances = formset.save(commit=False)
        for limit in formset.deleted_objects:
            record_change(
                limit, ChangeKind.DELETE, actor=request.user, action="admin", before=snapshot(limit)
            )
            limit.delete()
        for limit in instances:
            is_new = limit.pk is None
            limit.save()
            record_change(
                limit,
                ChangeKind.CREATE if is_new else ChangeKind.UPDATE,
                actor=request.user,
                action="admin",
                before=None if is_new else befores.get(limit.pk),
            )
        formset.save_m2m()
