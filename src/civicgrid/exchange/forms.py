from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy

from civicgrid.accounts.forms import DivisionCodeField, UserScopedForm
from civicgrid.accounts.models import Unit
from civicgrid.core.scoping import Action

from .actions import SUBSCRIBING_KINDS
from .fields import FieldClass, RecordType


class SubscriptionEditForm(UserScopedForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80, required=False)
    record_types = forms.MultipleChoiceField(
        label=gettext_lazy("Record types"),
        choices=RecordType.choices,
        widget=forms.SelectMultiple(attrs={"size": len(RecordType.choices)}),
    )
    field_classes = forms.MultipleChoiceField(
        label=gettext_lazy("Field classes"),
        choices=FieldClass.choices,
        widget=forms.SelectMultiple(attrs={"size": len(FieldClass.choices)}),
        help_text=gettext_lazy(
            "ID and phone numbers are always masked; full numbers are never shared."
        ),
    )
    division = DivisionCodeField(
        label=gettext_lazy("Area (division code)"),
        required=False,
        help_text=gettext_lazy("Records of this division's subtree. Empty: the unit's division."),
    )
    webhook_url = forms.CharField(
        label=gettext_lazy("Webhook URL"),
        max_length=500,
        required=False,
        help_text=gettext_lazy(
            "Optional: changes are also pushed here (http or https), signed with a secret "
            "shown once."
        ),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)


class SubscriptionForm(SubscriptionEditForm):
    unit = forms.ModelChoiceField(
        label=gettext_lazy("Subscribing unit"),
        queryset=Unit.objects.none(),
        help_text=gettext_lazy("A department or social organisation; its handlers read the feed."),
    )

    field_order = ("unit",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = (  # type: ignore[attr-defined]
            Unit.objects.restrict(self.user, Action.VIEW)
            .filter(is_active=True, kind__in=SUBSCRIBING_KINDS)
            .select_related("division")
            .order_by("division_path", "name")
        )
