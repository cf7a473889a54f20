"""Forms of the registry pages.

The forms collect what people type and render it; the rules live in registry.cleaning, which
the actions apply (and so the API and imports too). So the fields here do not validate on
their own — a required field is marked for the reader but checked by the cleaner — and every
error the action raises lands on the field it names (web.forms.run_action). Labels are the
models' own field names, so a page and a history row call a field the same.

Where a record is placed — grid, building, house, household — is a cascade of selects: choosing
a grid loads its buildings (htmx, registry:options), a building its houses, and so on.
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, ClassVar

from django import forms
from django.db import models
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from civicgrid.core.validators import DocumentType
from civicgrid.web.forms import StyledForm

from . import selectors
from .choices import (
    BuildingUse,
    CareGroup,
    HazardLevel,
    HouseUse,
    OrganisationKind,
    PlaceKind,
    Relation,
    ResidenceType,
    RiskLevel,
    Sex,
)
from .models import Building, CareTag, House, Household, Organisation, Place, Resident

EMPTY = ("", "—")


class _Loose:
    """Leaves validation to registry.cleaning, which names the field in its error."""

    def validate(self, value: Any) -> None:
        return None


class Text(_Loose, forms.CharField):
    pass


class NoEcho(forms.TextInput):
    """A box for a protected number that is never sent back to the browser: a form shown
    again after an error asks for the number anew rather than putting it in the page."""

    def format_value(self, value: Any) -> str | None:
        return None


class Choice(_Loose, forms.ChoiceField):
    pass


class MultipleChoice(_Loose, forms.MultipleChoiceField):
    pass


def verbose(model: type[models.Model], name: str) -> Any:
    return capfirst(model._meta.get_field(name).verbose_name)  # type: ignore[union-attr]


def text_field(
    model: type[models.Model], name: str, *, required: bool = False, **attrs: Any
) -> Text:
    widget = forms.TextInput(attrs=attrs) if attrs else None
    return Text(label=verbose(model, name), required=required, widget=widget)


def number_field(model: type[models.Model], name: str, *, decimal: bool = False) -> Text:
    mode = "decimal" if decimal else "numeric"
    return Text(
        label=verbose(model, name),
        required=False,
        widget=forms.TextInput(attrs={"inputmode": mode, "autocomplete": "off"}),
    )


def date_field(field_label: Any) -> Text:
    # The browser's date box reads and writes ISO dates, whatever the page's language.
    widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    return Text(label=field_label, required=False, widget=widget)


def choice_field(
    model: type[models.Model],
    name: str,
    choices: type[models.TextChoices],
    *,
    blank: bool = False,
    required: bool = False,
) -> Choice:
    options = [EMPTY, *choices.choices] if blank else list(choices.choices)
    return Choice(label=verbose(model, name), choices=options, required=required)


def phone_field(model: type[models.Model]) -> Text:
    return Text(
        label=verbose(model, "phone_masked"),
        required=False,
        widget=NoEcho(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}),
    )


# --- placement: grid → building → house → household -----------------------------------------
# What each cascade field lists, as the options endpoint names it.
LISTS = {
    "building": "buildings",
    "house": "houses",
    "household": "households",
    "organisation": "organisations",
}
# The request parameter that carries the parent's value, per list.
PARENTS = {
    "buildings": "grid",
    "organisations": "grid",
    "houses": "building",
    "households": "house",
}


def options_for(user: Any, what: str, parent: str) -> list[tuple[str, str]]:
    """The choices of one level of the placement cascade under `parent` (a grid's code or id,
    or a building's or house's id), from the records the user may see."""
    parent = (parent or "").strip()
    if not parent:
        return []
    if what in {"buildings", "organisations"}:
        grid = _grid(parent)
        if grid is None:
            return []
        kind = "building" if what == "buildings" else "organisation"
        qs = selectors.visible(kind, user).filter(division=grid, is_active=True)
        return [(str(o.pk), str(o)) for o in qs[:1000]]
    if not parent.isdigit():
        return []
    if what == "houses":
        houses = selectors.visible("house", user).filter(building_id=int(parent), is_active=True)
        return [(str(h.pk), _house_label(h)) for h in houses.order_by("unit_no", "room")[:2000]]
    if what == "households":
        households = selectors.visible("household", user).filter(
            house_id=int(parent), is_active=True
        )
        return [(str(h.pk), _household_label(h)) for h in households[:200]]
    return []


def _grid(key: str) -> Any:
    """An active grid by its code (or, from a select, its id)."""
    from civicgrid.geo.choices import Level
    from civicgrid.geo.models import Division

    query = models.Q(code=key)
    if key.isdigit() and len(key) < 12:
        query |= models.Q(pk=int(key))
    return Division.objects.filter(query, level=Level.GRID, is_active=True).first()


def _house_label(house: House) -> str:
    unit = f"{house.unit_no}单元" if house.unit_no else ""
    return f"{unit}{house.room}室"


def _household_label(household: Household) -> str:
    parts = [household.head_name or "", household.number and f"({household.number})"]
    return " ".join(p for p in parts if p) or f"#{household.pk}"


def placement_of(obj: Any) -> dict[str, Any]:
    """Initial cascade values that show where a record (or the record a new one is filed
    under) sits: its grid, building, house, household, organisation."""
    from civicgrid.geo.models import Division

    if isinstance(obj, Division):
        return {"grid": obj.code}
    out: dict[str, Any] = {"grid": obj.division.code}
    house: House | None = None
    if isinstance(obj, Household):
        out["household"] = obj.pk
        house = obj.house
    elif isinstance(obj, Resident):
        out["household"] = obj.household_id
        house = obj.house
    elif isinstance(obj, House):
        house = obj
    if house is not None:
        out.update(house=house.pk, building=house.building_id)
    if isinstance(obj, Building):
        out["building"] = obj.pk
    elif isinstance(obj, Organisation) and obj.building_id:
        out["building"] = obj.building_id
    elif isinstance(obj, Place) and obj.organisation_id:
        out["organisation"] = obj.organisation_id
    return out


KEEP_NUMBER = _("Leave empty to keep the number on record.")


class RegistryForm(StyledForm):
    """A record's form. `placement` names the cascade fields it shows, in order; `ui_only`
    those that only narrow the next choice and are not part of the record."""

    placement: ClassVar[tuple[str, ...]] = ()
    ui_only: ClassVar[frozenset[str]] = frozenset()
    version = Text(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, user: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.editing = editing
        if not editing:
            del self.fields["version"]
        elif "phone" in self.fields:
            self.fields["phone"].help_text = KEEP_NUMBER
        self._placement_fields()

    def value_of(self, name: str) -> str:
        if self.is_bound:
            return str(self.data.get(self.add_prefix(name)) or "")
        value = self.initial.get(name)
        return "" if value is None else str(value)

    def _placement_fields(self) -> None:
        if not self.placement:
            return
        from .views.common import grid_choices

        required_grid = self.placement[0] == "grid" and "house" not in self.placement
        url = reverse("registry:options")
        fields: dict[str, forms.Field] = {}
        for position, name in enumerate(self.placement):
            if name == "grid":
                grids = grid_choices(self.user)
                if grids is None:
                    field: forms.Field = Text(
                        label=_("Grid"),
                        required=required_grid,
                        help_text=_("The grid's 15-digit code."),
                        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
                    )
                else:
                    field = Choice(label=_("Grid"), choices=[EMPTY, *grids], required=required_grid)
                    if len(grids) == 1 and not self.is_bound and not self.initial.get("grid"):
                        self.initial["grid"] = grids[0][0]  # a grid worker's one grid
            else:
                parent = self.value_of(self.placement[position - 1])
                field = Choice(
                    label=self._placement_label(name),
                    required=False,
                    choices=[EMPTY, *options_for(self.user, LISTS[name], parent)],
                )
            following = self.placement[position + 1 :]
            if following:
                field.widget.attrs.update(
                    {
                        "hx-get": f"{url}?what={LISTS[following[0]]}"
                        f"&clear={','.join(following[1:])}",
                        "hx-trigger": "change",
                        "hx-target": f"#id_{following[0]}",
                        "hx-swap": "innerHTML",
                    }
                )
            fields[name] = field
        # Put the cascade where the record's placement belongs: after the record's own fields.
        ordered = {k: v for k, v in self.fields.items() if k not in fields}
        anchor = "relation" if "relation" in ordered else None
        result: dict[str, forms.Field] = {}
        for key, value in ordered.items():
            if key == anchor:
                result.update(fields)
            result[key] = value
        if anchor is None:
            result.update(fields)
        self.fields = result
        # StyledFormMixin styled the fields present at its __init__; style the new ones too.
        for name in fields:
            widget = self.fields[name].widget
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    @staticmethod
    def _placement_label(name: str) -> Any:
        model = {
            "building": House,
            "house": Resident,
            "household": Resident,
            "organisation": Place,
        }[name]
        return verbose(model, name)

    def record_data(self) -> dict[str, Any]:
        """What goes to the action: the record's fields as typed, without form bookkeeping."""
        data = {
            name: value
            for name, value in self.cleaned_data.items()
            if name != "version" and name not in self.ui_only
        }
        if self.editing and "phone" in data and not data["phone"]:
            # The full number is never shown, so an empty box means "unchanged".
            del data["phone"]
        return data

    def submitted_version(self) -> int:
        value = str(self.cleaned_data.get("version") or "")
        # A missing or tampered version can only be stale: the action answers with a conflict.
        return int(value) if value.isdigit() else 0


class BuildingForm(RegistryForm):
    placement = ("grid",)
    road = text_field(Building, "road", required=True)
    number = text_field(Building, "number", required=True)
    name = text_field(Building, "name")
    building_no = text_field(Building, "building_no")
    use = choice_field(Building, "use", BuildingUse)
    floors = number_field(Building, "floors")
    lat = number_field(Building, "lat", decimal=True)
    lng = number_field(Building, "lng", decimal=True)


class HouseForm(RegistryForm):
    placement = ("grid", "building")
    ui_only = frozenset({"grid"})
    unit_no = text_field(House, "unit_no")
    room = text_field(House, "room", required=True)
    use = choice_field(House, "use", HouseUse)
    area_m2 = number_field(House, "area_m2", decimal=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.editing:  # a house stays in its building; a new one is registered instead
            for name in self.placement:
                del self.fields[name]
        else:
            self.fields["building"].required = True


class HouseholdForm(RegistryForm):
    placement = ("grid", "building", "house")
    ui_only = frozenset({"building"})
    number = text_field(Household, "number")
    head_name = Text(
        label=verbose(Household, "head_name"),
        required=False,
        help_text=_("Filled in from the resident registered as head of household."),
    )

    def record_data(self) -> dict[str, Any]:
        data = super().record_data()
        if data.get("house"):  # the house decides the grid
            data.pop("grid", None)
        return data


class ResidentForm(RegistryForm):
    placement = ("grid", "building", "house", "household")
    ui_only = frozenset({"building"})
    # A person's name (姓名), not a record's (名称).
    name = Text(
        label=_("Name"), required=True, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    document_type = choice_field(Resident, "document_type", DocumentType)
    id_number = Text(
        label=verbose(Resident, "id_masked"),
        required=True,
        widget=NoEcho(attrs={"autocomplete": "off", "class": "cg-code"}),
    )
    sex = choice_field(Resident, "sex", Sex, blank=True)
    birth_date = date_field(verbose(Resident, "birth_date"))
    ethnicity = text_field(Resident, "ethnicity")
    residence_type = choice_field(Resident, "residence_type", ResidenceType)
    phone = phone_field(Resident)
    relation = choice_field(Resident, "relation", Relation, blank=True)
    note = text_field(Resident, "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.editing:
            # Moving house is its own form (a move, with its own history entry).
            for name in self.placement:
                del self.fields[name]
            self.fields["id_number"].required = False
            self.fields["id_number"].help_text = KEEP_NUMBER

    def record_data(self) -> dict[str, Any]:
        data = super().record_data()
        if self.editing:
            current = self.initial.get("document_type")
            if not data.get("id_number") and data.get("document_type") in ("", current):
                # As for the phone (RegistryForm.record_data): an empty box means "unchanged".
                data.pop("id_number", None)
                data.pop("document_type", None)
        for name in ("house", "household"):
            if name in data and not data[name]:
                data[name] = None
        return data


class MoveForm(RegistryForm):
    """Move a resident to another grid, house or household."""

    placement = ("grid", "building", "house", "household")
    ui_only = frozenset({"building"})
    relation = choice_field(Resident, "relation", Relation, blank=True)

    def record_data(self) -> dict[str, Any]:
        data = super().record_data()
        for name in ("house", "household"):
            data[name] = data.get(name) or None
        if data["house"] or data["household"]:
            data.pop("grid", None)  # the house (or household) decides the grid
        return data


class OrganisationForm(RegistryForm):
    placement = ("grid", "building")
    name = text_field(Organisation, "name", required=True)
    uscc = Text(
        label=verbose(Organisation, "uscc"),
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "cg-code"}),
    )
    kind = choice_field(Organisation, "kind", OrganisationKind)
    legal_rep = text_field(Organisation, "legal_rep")
    phone = phone_field(Organisation)
    address = text_field(Organisation, "address")
    employees = number_field(Organisation, "employees")
    lat = number_field(Organisation, "lat", decimal=True)
    lng = number_field(Organisation, "lng", decimal=True)

    def record_data(self) -> dict[str, Any]:
        data = super().record_data()
        data["building"] = data.get("building") or None
        return data


class PlaceForm(RegistryForm):
    placement = ("grid", "organisation")
    name = text_field(Place, "name", required=True)
    kind = choice_field(Place, "kind", PlaceKind, blank=True, required=True)
    hazard_level = choice_field(Place, "hazard_level", HazardLevel)
    address = text_field(Place, "address")
    contact = text_field(Place, "contact")
    phone = phone_field(Place)
    inspect_every_days = number_field(Place, "inspect_every_days")
    lat = number_field(Place, "lat", decimal=True)
    lng = number_field(Place, "lng", decimal=True)

    def record_data(self) -> dict[str, Any]:
        data = super().record_data()
        data["organisation"] = data.get("organisation") or None
        return data


class CareTagForm(RegistryForm):
    group = choice_field(CareTag, "group", CareGroup, blank=True, required=True)
    risk_level = choice_field(CareTag, "risk_level", RiskLevel)
    visit_every_days = Text(
        label=verbose(CareTag, "visit_every_days"),
        required=False,
        help_text=_("Empty: the usual frequency for the group and risk level."),
        widget=forms.TextInput(attrs={"inputmode": "numeric"}),
    )
    since = date_field(verbose(CareTag, "since"))
    note = text_field(CareTag, "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.editing:
            del self.fields["group"]  # another group is another tag

    def record_data(self) -> dict[str, Any]:
        data = super().record_data()
        if self.editing and not data.get("visit_every_days"):
            data.pop("visit_every_days", None)  # keep the frequency on record
        return data


FORMS: dict[str, type[RegistryForm]] = {
    "building": BuildingForm,
    "house": HouseForm,
    "household": HouseholdForm,
    "resident": ResidentForm,
    "organisation": OrganisationForm,
    "place": PlaceForm,
    "care_tag": CareTagForm,
}


def initial_of(obj: Any, form_class: type[RegistryForm]) -> dict[str, Any]:
    """A form's initial values from a stored record (never a protected number)."""
    initial: dict[str, Any] = {"version": obj.version}
    for name in form_class.base_fields:
        if name in {"version", "id_number", "phone"}:
            continue
        value = getattr(obj, name, None)
        if isinstance(value, models.Model):
            value = value.pk
        elif isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
            value = str(value)  # as typed, not in the page language's number format
        initial[name] = "" if value is None else value
    initial.update(placement_of(obj))
    return initial


class EndForm(StyledForm):
    version = Text(widget=forms.HiddenInput, required=False)
    reason = Text(
        label=_("Why the record ends"),
        required=True,
        help_text=_("e.g. moved away, deceased, closed, no longer in the group."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class VisitForm(StyledForm):
    on = date_field(_("Visited on"))
    note = Text(label=_("Note"), required=False, widget=forms.TextInput())


class UnmaskForm(StyledForm):
    """Which numbers to show, and why: the action checks both and logs the reason."""

    reason = Text(
        label=_("Reason (logged)"),
        required=True,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Named like the action's argument, so that its error lands here ("fields" is also a
        # Form attribute, hence added after the declared fields).
        self.fields["fields"] = MultipleChoice(
            label=_("Show"),
            choices=[("id_number", _("ID number")), ("phone", _("phone number"))],
            required=True,
            widget=forms.CheckboxSelectMultiple,
        )
