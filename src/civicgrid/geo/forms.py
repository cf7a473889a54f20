from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from civicgrid.core import jobs
from civicgrid.web.forms import StyledForm

from .choices import DedicatedType, GridKind, Setting


class DivisionNameForm(StyledForm):
    name = forms.CharField(label=_("Name"), max_length=100)


class GridForm(StyledForm):
    kind = forms.ChoiceField(label=_("Kind"), choices=GridKind.choices)
    dedicated_type = forms.ChoiceField(
        label=_("Dedicated type"), choices=[("", "—"), *DedicatedType.choices], required=False
    )
    setting = forms.ChoiceField(label=_("Setting"), choices=Setting.choices)
    households = forms.IntegerField(
        label=_("Households"), min_value=0, max_value=1_000_000, required=False
    )
    residents = forms.IntegerField(
        label=_("Residents"), min_value=0, max_value=1_000_000, required=False
    )


class ChildForm(StyledForm):
    """Add a division (or a grid) under the current one."""

    code = forms.CharField(
        label=_("Code"),
        max_length=15,
        help_text=_("Statistical code; a grid is its community's 12 digits + 3."),
    )
    name = forms.CharField(label=_("Name"), max_length=100)


class ImportForm(StyledForm):
    kind = forms.ChoiceField(label=_("What the file holds"))
    file = forms.FileField(
        label=_("File"),
        help_text=_(
            "Division table: CSV with columns code,name,parent_code,level (UTF-8 or "
            "GB18030). Boundaries: a GeoJSON FeatureCollection with a code property, or a "
            "ZIP of one GeoJSON per division named by its code."
        ),
    )
    dry_run = forms.BooleanField(
        label=_("Only check the file; write nothing"), required=False, initial=True
    )
    skip_invalid = forms.BooleanField(
        label=_("Import the valid rows even if some rows are bad"), required=False
    )
    crs = forms.ChoiceField(
        label=_("Datum of boundary coordinates"),
        choices=[("wgs84", _("WGS-84 / CGCS2000 (GPS)")), ("gcj02", _("GCJ-02 (AMap, Tencent)"))],
        initial="wgs84",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = jobs.kind_choices()  # type: ignore[attr-defined]
