"""Forms of the scorecard pages: the template with its indicators (a formset), a month to run.

The forms check the shape of the input; the rules (targets within range, the area within the
user's reach) are the action's, whose errors land back on these fields (web.forms.run_action).
Rate targets are typed in per cent on the page (70) and stored as fractions (0.70), as the
figures themselves are.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from civicgrid.core.scoping import Action
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.web.forms import StyledForm, StyledFormMixin

from .kpis import KPIS
from .models import ScorecardTemplate
from .models.scorecards import EmptyRule, IndicatorKind, SubjectKind

# Counters a deduction can count, with what one event is.
DEDUCTION_COUNTERS: dict[str, Any] = {
    "reworked": gettext_lazy("case that failed a check"),
    "returned": gettext_lazy("case returned"),
    "overdue": gettext_lazy("case overdue"),
    "deferred": gettext_lazy("case suspended"),
    "voided": gettext_lazy("report voided"),
}


def measure_label(kind: str, key: str) -> str:
    if kind == IndicatorKind.DEDUCTION:
        return str(DEDUCTION_COUNTERS.get(key, key))
    kpi = KPIS.get(key)
    return str(kpi.label) if kpi is not None else key


def measure_choices() -> list[Any]:
    figures = [(k.key, k.label) for k in KPIS.values() if k.source == "cases"]
    counters = list(DEDUCTION_COUNTERS.items())
    return [
        ("", "—"),
        (_("Figures (against a target)"), figures),
        (_("Events (deductions)"), counters),
    ]


class TemplateForm(StyledForm):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    subject = forms.ChoiceField(label=gettext_lazy("Assessed"), choices=SubjectKind.choices)
    area = forms.CharField(
        label=pgettext_lazy("scorecard", "Area (division code)"),
        max_length=15,
        help_text=gettext_lazy("Whose subtree is assessed, e.g. 371600."),
    )
    level = forms.TypedChoiceField(
        label=gettext_lazy("Level of the regions"),
        choices=[("", "—"), *[(v, label) for v, label in Level.choices if v > Level.CITY]],
        coerce=int,
        empty_value=None,
        required=False,
        help_text=gettext_lazy("For regions: the divisions of this level inside the area."),
    )
    list_size = forms.IntegerField(
        label=gettext_lazy("Red and black list size"), min_value=0, max_value=50, initial=3
    )
    is_active = forms.BooleanField(
        label=gettext_lazy("Run every month"), required=False, initial=True
    )
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_area(self) -> Division:
        code = self.cleaned_data["area"].strip()
        area = (
            Division.objects.filter(code=code, is_active=True)
            .restrict(self.user, Action.VIEW)
            .first()
        )
        if area is None:
            raise ValidationError(_("No division has the code %(code)s.") % {"code": code})
        return area

    def template_data(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k != "version"}


def template_initial(template: ScorecardTemplate) -> dict[str, Any]:
    return {
        "name": template.name,
        "subject": template.subject,
        "area": template.area.code,
        "level": template.level,
        "list_size": template.list_size,
        "is_active": template.is_active,
        "description": template.description,
        "version": template.version,
    }


class IndicatorForm(StyledFormMixin, forms.Form):
    kpi = forms.ChoiceField(label=gettext_lazy("Figure or event"), required=False)
    weight = forms.DecimalField(
        label=gettext_lazy("Points"), required=False, min_value=0, max_digits=6, decimal_places=2
    )
    target = forms.DecimalField(
        label=gettext_lazy("Target (per cent for rates)"),
        required=False,
        max_digits=12,
        decimal_places=4,
    )
    penalty = forms.DecimalField(
        label=gettext_lazy("Points off per point short"),
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=2,
    )
    per_event = forms.DecimalField(
        label=gettext_lazy("Points off per event"),
        required=False,
        min_value=0,
        max_digits=6,
        decimal_places=2,
    )
    cap = forms.DecimalField(
        label=gettext_lazy("At most"), required=False, min_value=0, max_digits=6, decimal_places=2
    )
    when_empty = forms.ChoiceField(
        label=gettext_lazy("Without cases"), choices=EmptyRule.choices, initial=EmptyRule.FULL
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kpi"].choices = measure_choices()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kpi = KPIS.get(data.get("kpi") or "")
        target = data.get("target")
        if kpi is not None and kpi.is_rate and target is not None and not 0 <= target <= 100:
            self.add_error("target", _("A rate's target lies between 0 and 100 %."))
        return data

    def indicator(self) -> dict[str, Any] | None:
        """The row for the action, None for a blank or deleted row."""
        data = self.cleaned_data
        if not data or data.get("DELETE") or not data.get("kpi"):
            return None
        key = data["kpi"]
        kind = IndicatorKind.DEDUCTION if key in DEDUCTION_COUNTERS else IndicatorKind.TARGET
        target = data.get("target")
        kpi = KPIS.get(key)
        if target is not None and kpi is not None and kpi.is_rate:
            target = target / Decimal(100)
        return {
            "kind": kind,
            "kpi": key,
            "weight": data.get("weight"),
            "target": target,
            "penalty": data.get("penalty"),
            "per_event": data.get("per_event"),
            "cap": data.get("cap"),
            "when_empty": data.get("when_empty") or EmptyRule.FULL,
        }


IndicatorFormSet = forms.formset_factory(
    IndicatorForm, extra=2, can_delete=True, max_num=20, validate_max=True
)


def indicator_initial(template: ScorecardTemplate) -> list[dict[str, Any]]:
    rows = []
    for i in template.indicators.all():
        kpi = KPIS.get(i.kpi)
        target = i.target
        if target is not None and kpi is not None and kpi.is_rate:
            target = Decimal(format((target * 100).normalize(), "f"))
        rows.append(
            {
                "kpi": i.kpi,
                "weight": i.weight if i.kind == IndicatorKind.TARGET else None,
                "target": target,
                "penalty": i.penalty if i.kind == IndicatorKind.TARGET else None,
                "per_event": i.per_event if i.kind == IndicatorKind.DEDUCTION else None,
                "cap": i.cap,
                "when_empty": i.when_empty,
            }
        )
    return rows


class RunForm(StyledForm):
    month = forms.CharField(
        label=gettext_lazy("Month"),
        max_length=7,
        widget=forms.TextInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )
