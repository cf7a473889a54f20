"""Forms of the catalog pages: the working week, the holiday import, the deadline calculator
and the routing matrix. They check shape and say which field is wrong; the actions decide."""

from __future__ import annotations

import itertools
import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import Unit
from civicgrid.core.calendar import CalendarError, Period, parse_period
from civicgrid.core.importing import decode_text
from civicgrid.core.paths import subtree_q
from civicgrid.core.scoping import Action
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.web.forms import StyledForm

from .choices import LimitUnit
from .models import CaseCategory

WEEKDAYS = [
    gettext_lazy("Monday"),
    gettext_lazy("Tuesday"),
    gettext_lazy("Wednesday"),
    gettext_lazy("Thursday"),
    gettext_lazy("Friday"),
    gettext_lazy("Saturday"),
    gettext_lazy("Sunday"),
]
# Periods are separated by commas (also the Chinese ones), semicolons or spaces.
PERIOD_SEPARATORS = re.compile(r"[,，、;；\s]+")
MAX_CALENDAR_BYTES = 1024 * 1024


def parse_periods(text: str) -> list[Period]:
    """'08:30-12:00, 13:30-17:30' → ordered periods; a localized error names the bad one."""
    periods = []
    for part in PERIOD_SEPARATORS.split((text or "").strip()):
        if not part:
            continue
        try:
            periods.append(parse_period(part.replace("–", "-").replace("—", "-")))
        except CalendarError as exc:
            raise ValidationError(
                _("“%(value)s” is not a working period: use HH:MM-HH:MM, the end after the start.")
                % {"value": part}
            ) from exc
    periods.sort()
    for (_s1, e1), (s2, _e2) in itertools.pairwise(periods):
        if s2 < e1:
            raise ValidationError(_("The periods of this day overlap."))
    return periods


def format_periods(periods: list[str]) -> str:
    return ", ".join(periods)


class WorkingWeekForm(StyledForm):
    """One text field per weekday: the working periods, e.g. 08:30-12:00, 13:30-17:30."""

    def __init__(self, *args: Any, weekly: dict[str, list[str]] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        for day, label in enumerate(WEEKDAYS):
            self.fields[f"day_{day}"] = forms.CharField(
                label=label,
                required=False,
                max_length=200,
                initial=format_periods((weekly or {}).get(str(day), [])),
                # Added after StyledForm styled the declared fields: style these here.
                widget=forms.TextInput(
                    attrs={"placeholder": _("day off"), "class": "form-control"}
                ),
            )
        self.fields["day_0"].help_text = _(
            "Working periods like 08:30-12:00, 13:30-17:30; leave a day empty for a day off. "
            "Swapped working days (调休) use the periods of a normal working day."
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        weekly: dict[str, list[str]] = {}
        for day in range(7):
            name = f"day_{day}"
            if name not in data:  # already refused by the field itself
                continue
            try:
                periods = parse_periods(data[name])
            except ValidationError as exc:
                self.add_error(name, exc)
                continue
            weekly[str(day)] = [f"{a:%H:%M}-{b:%H:%M}" for a, b in periods]
        if len(weekly) == 7 and not any(weekly.values()):
            raise ValidationError(_("A week needs some working time."))
        data["weekly"] = weekly
        return data


class CalendarImportForm(StyledForm):
    """A year's holidays and swapped working days: a CSV file, or the same text pasted."""

    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        required=False,
        help_text=gettext_lazy(
            "Columns date,kind,name — kind is holiday or workday (also 放假 or 上班); "
            "UTF-8 or GB18030; a header row is optional."
        ),
    )
    text = forms.CharField(
        label=gettext_lazy("…or paste the rows"),
        required=False,
        max_length=MAX_CALENDAR_BYTES,
        widget=forms.Textarea(
            attrs={"rows": 5, "placeholder": "2026-10-01,holiday,国庆节\n2026-10-10,workday,调休"}
        ),
    )
    year = forms.IntegerField(
        label=gettext_lazy("Year"),
        required=False,
        min_value=2000,
        max_value=2100,
        help_text=gettext_lazy("Refuse rows outside this year (optional)."),
    )
    keep = forms.BooleanField(
        label=gettext_lazy("Keep the days of that year which the file does not list"),
        required=False,
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Only check the file; write nothing"), required=False, initial=True
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("file")
        text = (data.get("text") or "").strip()
        if upload is not None and text:
            raise ValidationError(_("Upload a file or paste the rows, not both."))
        if upload is not None:
            if upload.size is not None and upload.size > MAX_CALENDAR_BYTES:
                self.add_error("file", _("A calendar file is at most 1 MB."))
                return data
            data["raw"] = upload.read()
            try:
                # Decoded here so that a dry run can hand the same rows to the real import.
                data["decoded"] = decode_text(data["raw"])
            except ValidationError as exc:
                self.add_error("file", exc)
        elif text:
            data["raw"] = text.encode()
            data["decoded"] = text
        elif "text" in data:
            self.add_error("file", _("Choose a CSV file, or paste its rows below."))
        return data


class DeadlineForm(StyledForm):
    """When does a limit that starts now (or at any moment) run out?"""

    start = forms.DateTimeField(
        label=gettext_lazy("Start"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    amount = forms.DecimalField(
        label=gettext_lazy("Amount"),
        min_value=0.01,
        max_value=10000,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.5"}),
    )
    unit = forms.ChoiceField(label=gettext_lazy("Unit"), choices=LimitUnit.choices)


def category_choices() -> list[tuple[str, list[tuple[int, str]]]]:
    """Active categories grouped under their major class (a select's optgroups)."""
    categories = list(CaseCategory.objects.filter(is_active=True).select_related("parent"))
    majors = [c for c in categories if c.parent_id is None]
    groups = []
    for major in majors:
        minors = [(c.pk, c.label) for c in categories if c.parent_id == major.pk]
        groups.append(
            (
                major.label,
                [(major.pk, _("%(name)s (whole class)") % {"name": major.label}), *minors],
            )
        )
    return groups


def units_serving(user: Any, division: Division | None) -> QuerySet[Unit]:
    """Handling units a route at `division` may name: units at it or above it, and
    departments or social organisations below it — of those the user may see."""
    units = Unit.objects.restrict(user, Action.VIEW).filter(is_active=True)
    if division is None:
        return units.none()
    ancestors = [division.path[:n] for n in (2, 4, 6, 9, 12) if n <= len(division.path)]
    below = subtree_q("division_path", division.path) & ~Q(division_path=division.path)
    return (
        units.filter(Q(division_path__in=ancestors) | (below & ~Q(kind=UnitKind.CENTRE)))
        .select_related("division")
        .order_by("division_path", "kind", "name")
    )


class RouteForm(StyledForm):
    category = forms.TypedChoiceField(label=gettext_lazy("Category"), coerce=int)
    division = forms.CharField(
        label=gettext_lazy("Division code"),
        max_length=15,
        help_text=gettext_lazy(
            "Cases at this community, township, county or city and everywhere beneath it."
        ),
    )
    unit = forms.ModelChoiceField(
        label=gettext_lazy("Handling unit"),
        queryset=Unit.objects.none(),
        empty_label="—",
        help_text=gettext_lazy("Units at the division or above it, and departments beneath it."),
    )
    note = forms.CharField(label=gettext_lazy("Note"), max_length=200, required=False)

    def __init__(self, *args: Any, user: Any, division: Division | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["category"].choices = [("", "—"), *category_choices()]  # type: ignore[attr-defined]
        if division is None and self.is_bound:
            division = self.find_division(self.data.get("division", ""))
        self.place = division  # the division the unit list was drawn up for
        self.fields["unit"].queryset = units_serving(user, division)  # type: ignore[attr-defined]
        self.fields["unit"].label_from_instance = lambda u: (  # type: ignore[attr-defined]
            f"{u.name} · {u.get_kind_display()}"
        )

    def find_division(self, code: str) -> Division | None:
        code = (code or "").strip()
        if not code.isdigit():
            return None
        return (
            Division.objects.restrict(self.user, Action.VIEW)
            .filter(code=code, is_active=True)
            .first()
        )

    def clean_category(self) -> CaseCategory:
        category = CaseCategory.objects.filter(pk=self.cleaned_data["category"]).first()
        if category is None:
            raise ValidationError(_("Choose a category."))
        return category

    def clean_division(self) -> Division:
        code = self.cleaned_data["division"].strip()
        if not code.isdigit():
            raise ValidationError(_("A division code has digits only."))
        division = self.find_division(code)
        if division is None:
            raise ValidationError(_("No active division with this code in your area."))
        if division.level == Level.GRID:
            raise ValidationError(_("Route at a community or above."))
        return division
