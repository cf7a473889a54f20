"""Validation of registry records: one function per record type, used by the actions (and so by
pages, the API, the field app) and by file imports alike.

Each takes the submitted values (text from a form, JSON or a CSV cell, or already resolved
objects for references) and returns the model field values to store, or raises a
ValidationError keyed by the submitted field's name, with every problem of the record at once.
Protected numbers come back as their stored columns (protect.py), never in clear.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _

from civicgrid.core.validators import DocumentType, normalise_phone, parse_identity, validate_uscc
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

from . import protect
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
    default_visit_days,
)
from .models import Building, House, Household, Organisation, Resident

Errors = dict[str, str]


class Cleaner:
    """Collects the cleaned values and the errors of one record."""

    def __init__(self, data: Mapping[str, Any], partial: bool) -> None:
        self.data = data
        self.partial = partial
        self.out: dict[str, Any] = {}
        self.errors: Errors = {}

    def given(self, name: str) -> bool:
        return not self.partial or name in self.data

    def text(self, name: str, max_length: int, *, required: bool = False) -> None:
        if not self.given(name):
            return
        value = self.data.get(name)
        value = "" if value is None else str(value).strip()
        if required and not value:
            self.errors[name] = _("This field is required.")
        elif len(value) > max_length:
            self.errors[name] = _("At most %(n)d characters.") % {"n": max_length}
        else:
            self.out[name] = value

    def choice(self, name: str, choices: type[models.TextChoices], default: str = "") -> None:
        if not self.given(name):
            return
        value = str(self.data.get(name) or "").strip()
        if not value:
            if default or not self.partial:
                self.out[name] = default
            return
        if value in choices.values:
            self.out[name] = value
            return
        # People filling a spreadsheet type the label they see ("男", "rented out").
        for code, label in choices.choices:
            if value.lower() == str(label).lower():
                self.out[name] = code
                return
        self.errors[name] = _("Unknown value “%(value)s”; one of: %(codes)s.") % {
            "value": value[:40],
            "codes": ", ".join(choices.values),
        }

    def integer(self, name: str, *, minimum: int = 0, maximum: int = 2**31 - 1) -> None:
        if not self.given(name):
            return
        value = self.data.get(name)
        if value is None or str(value).strip() == "":
            self.out[name] = None
            return
        try:
            number = int(str(value).strip())
        except ValueError:
            self.errors[name] = _("Enter a whole number.")
            return
        if not minimum <= number <= maximum:
            self.errors[name] = _("Enter a number from %(lo)d to %(hi)d.") % {
                "lo": minimum,
                "hi": maximum,
            }
        else:
            self.out[name] = number

    def decimal(self, name: str, *, maximum: int) -> None:
        if not self.given(name):
            return
        value = self.data.get(name)
        if value is None or str(value).strip() == "":
            self.out[name] = None
            return
        try:
            number = decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            self.errors[name] = _("Enter a number.")
            return
        if not number.is_finite() or not 0 <= number <= maximum:
            self.errors[name] = _("Enter a number from 0 to %(hi)d.") % {"hi": maximum}
        else:
            self.out[name] = number.quantize(decimal.Decimal("0.01"))

    def point(self) -> None:
        if not (self.given("lat") or self.given("lng")):
            return
        values: dict[str, float | None] = {}
        for name, limit in (("lat", 90), ("lng", 180)):
            raw = self.data.get(name)
            if raw is None or str(raw).strip() == "":
                values[name] = None
                continue
            try:
                number = float(str(raw).strip())
            except ValueError:
                self.errors[name] = _("Enter a number.")
                continue
            if not -limit <= number <= limit or number != number:
                self.errors[name] = _("Out of range (±%(n)d°).") % {"n": limit}
            else:
                values[name] = number
        if (values.get("lat") is None) != (values.get("lng") is None) and not self.errors:
            self.errors["lng" if values.get("lng") is None else "lat"] = _(
                "Give both latitude and longitude, or neither."
            )
        self.out.update(values)

    def date(self, name: str) -> None:
        if not self.given(name):
            return
        value = self.data.get(name)
        if value is None or value == "":
            self.out[name] = None
        elif isinstance(value, dt.date):
            self.out[name] = value
        else:
            try:
                self.out[name] = dt.date.fromisoformat(str(value).strip())
            except ValueError:
                self.errors[name] = _("Enter a date as YYYY-MM-DD.")

    def phone(self, name: str = "phone") -> None:
        if not self.given(name):
            return
        try:
            number = normalise_phone(str(self.data.get(name) or ""), field=name)
        except ValidationError as exc:
            self.errors.update({k: v[0] for k, v in exc.message_dict.items()})
            return
        self.out.update(protect.phone_columns(number))
        self.out["_phone"] = number

    def reference(self, name: str, model: type[models.Model], *, required: bool = False) -> None:
        if not self.given(name):
            return
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self.errors[name] = _("This field is required.")
            else:
                self.out[name] = None
            return
        if isinstance(value, model):
            self.out[name] = value
            return
        try:
            self.out[name] = model._default_manager.get(pk=int(str(value)))
        except (ValueError, model.DoesNotExist):  # type: ignore[attr-defined]
            self.errors[name] = _("No such record.")

    def grid(self, name: str = "grid", *, required: bool = True) -> None:
        """A grid given as a Division, its id or its 15-digit code."""
        if not self.given(name):
            return
        value = self.data.get(name)
        if value is None or value == "":
            if required:
                self.errors[name] = _("Choose the grid.")
            return
        grid = value if isinstance(value, Division) else _grid_by_key(str(value).strip())
        if grid is None or grid.level != Level.GRID or not grid.is_active:
            self.errors[name] = _("Not a grid in use: give a grid's code.")
        else:
            self.out["division"] = grid

    def done(self) -> dict[str, Any]:
        if self.errors:
            raise ValidationError(self.errors)
        return self.out


def _grid_by_key(value: str) -> Division | None:
    query = models.Q(code=value)
    if value.isdigit() and len(value) < 12:
        query |= models.Q(pk=int(value))
    return Division.objects.filter(query, level=Level.GRID, is_active=True).first()


# --- record types ---------------------------------------------------------------------------
def clean_building(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.grid()
    c.text("road", 60, required=True)
    c.text("number", 20, required=True)
    c.text("name", 60)
    c.text("building_no", 20)
    c.choice("use", BuildingUse, BuildingUse.RESIDENTIAL)
    c.integer("floors", minimum=1, maximum=300)
    c.point()
    return c.done()


def clean_house(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.reference("building", Building, required=True)
    c.text("unit_no", 10)
    c.text("room", 20, required=True)
    c.choice("use", HouseUse, HouseUse.OWNER)
    c.decimal("area_m2", maximum=100_000)
    out = c.done()
    if out.get("building") is not None:
        out["division"] = out["building"].division
    return out


def clean_household(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.reference("house", House)
    c.text("number", 30)
    c.text("head_name", 60)
    if c.out.get("house") is None and c.given("house"):
        c.grid()
    out = c.done()
    if out.get("house") is not None:
        out["division"] = out["house"].division
    return out


def clean_resident(
    data: Mapping[str, Any], *, partial: bool = False, today: dt.date | None = None
) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.text("name", 60, required=True)
    c.choice("document_type", DocumentType, DocumentType.RESIDENT_ID)
    c.choice("sex", Sex)
    c.date("birth_date")
    c.text("ethnicity", 20)
    c.choice("residence_type", ResidenceType, ResidenceType.REGISTERED)
    c.phone()
    c.reference("house", House)
    c.reference("household", Household)
    c.choice("relation", Relation)
    c.text("note", 200)
    if c.given("id_number") or c.given("document_type"):
        kind = c.out.get("document_type") or str(data.get("document_type") or "")
        kind = kind or DocumentType.RESIDENT_ID
        raw = str(data.get("id_number") or "")
        if "id_number" not in data and partial:
            c.errors["id_number"] = _("Give the document number with its type.")
        elif not raw.strip():
            c.errors["id_number"] = _("Enter the document number.")
        else:
            try:
                identity = parse_identity(kind, raw, today=today)
            except ValidationError as exc:
                c.errors.update({k: v[0] for k, v in exc.message_dict.items()})
            else:
                c.out.update(protect.id_columns(identity.number))
                c.out["_id_number"] = identity.number
                # The number says when and (for the ID card layouts) as what the holder was
                # born; a form that says otherwise is a typing mistake in one of them.
                for name, value in (("birth_date", identity.birth_date), ("sex", identity.sex)):
                    if value is None:
                        continue
                    typed = c.out.get(name)
                    if typed and typed != value:
                        c.errors[name] = _("This does not match the document number.")
                    c.out[name] = value
    house, household = c.out.get("house"), c.out.get("household")
    if household is not None and house is not None and household.house_id not in (None, house.pk):
        c.errors["household"] = _("This household lives in another house.")
    if house is None and household is not None and household.house is not None:
        c.out["house"] = house = household.house
    if house is not None:
        c.out["division"] = house.division
    elif household is not None:
        c.out["division"] = household.division
    elif c.given("grid") or not partial:
        c.grid()
    return c.done()


def clean_organisation(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.text("name", 120, required=True)
    if c.given("uscc"):
        raw = str(data.get("uscc") or "").strip()
        if raw:
            try:
                c.out["uscc"] = validate_uscc(raw)
            except ValidationError as exc:
                c.errors.update({k: v[0] for k, v in exc.message_dict.items()})
        else:
            c.out["uscc"] = ""
    c.choice("kind", OrganisationKind, OrganisationKind.COMPANY)
    c.text("legal_rep", 60)
    c.phone()
    c.text("address", 200)
    c.reference("building", Building)
    c.integer("employees", maximum=10_000_000)
    c.point()
    _place_in_grid(c)
    return c.done()


def clean_place(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.text("name", 120, required=True)
    if c.given("kind"):
        if not str(data.get("kind") or "").strip():
            c.errors["kind"] = _("This field is required.")
        else:
            c.choice("kind", PlaceKind)
    c.choice("hazard_level", HazardLevel, HazardLevel.NONE)
    c.reference("organisation", Organisation)
    c.text("address", 200)
    c.text("contact", 60)
    c.phone()
    c.integer("inspect_every_days", minimum=1, maximum=3650)
    c.point()
    _place_in_grid(c)
    return c.done()


def _place_in_grid(c: Cleaner) -> None:
    building = c.out.get("building")
    if building is not None:
        c.out["division"] = building.division
    elif c.given("grid") or not c.partial:
        c.grid()


def clean_care_tag(data: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    c = Cleaner(data, partial)
    c.reference("resident", Resident, required=True)
    if c.given("group"):
        if not str(data.get("group") or "").strip():
            c.errors["group"] = _("This field is required.")
        else:
            c.choice("group", CareGroup)
    c.choice("risk_level", RiskLevel, RiskLevel.LOW)
    c.integer("visit_every_days", minimum=1, maximum=3650)
    c.date("since")
    c.text("note", 200)
    out = c.done()
    if out.get("visit_every_days") is None and "group" in out:
        out["visit_every_days"] = default_visit_days(out["group"], out.get("risk_level", "low"))
    if out.get("resident") is not None:
        out["division"] = out["resident"].division
    return out


CLEANERS: dict[str, Callable[..., dict[str, Any]]] = {
    "building": clean_building,
    "house": clean_house,
    "household": clean_household,
    "resident": clean_resident,
    "organisation": clean_organisation,
    "place": clean_place,
    "care_tag": clean_care_tag,
}
