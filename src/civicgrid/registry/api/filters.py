"""List filters of the registry API: where (grid, division subtree), current or ended, the
fields of each record type, and `q`, the one search box (registry.selectors.find)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicgrid.core.api.filters import IdFilter, ScopedFilterSet, UnderFilter
from civicgrid.core.api.filters import division_path_for_code as path_for_code
from civicgrid.core.validators import DocumentType
from civicgrid.registry import selectors
from civicgrid.registry.choices import (
    BuildingUse,
    CareGroup,
    HazardLevel,
    HouseUse,
    OrganisationKind,
    PlaceKind,
    ResidenceType,
    RiskLevel,
    Sex,
)
from civicgrid.registry.models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Resident,
)


class DaysFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


COMMON = ("under", "division", "grid", "is_active", "q")


class RecordFilter(ScopedFilterSet):
    division = UnderFilter(
        label=_("in division (code)"), help_text=_("A division code: records in its subtree.")
    )
    grid = django_filters.CharFilter(
        method="in_grid", label=_("grid (code)"), help_text=_("The 15-digit code of a grid.")
    )
    is_active = django_filters.BooleanFilter(
        label=_("current"), help_text=_("true: current records; false: ended ones.")
    )
    q = django_filters.CharFilter(
        method="search",
        label=_("search"),
        help_text=_(
            "Name (Chinese, pinyin or initials), part of the address, or an exact ID, phone "
            "or social credit code."
        ),
    )

    def in_grid(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        # A code out of sight gets the answer an unknown code gets (no existence leaks).
        user = getattr(self.request, "user", None)
        return qs.filter(division_path=path_for_code(value, user, field="grid"))

    def search(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return selectors.find(qs, value)


class BuildingFilter(RecordFilter):
    use = django_filters.ChoiceFilter(choices=BuildingUse.choices)

    class Meta:
        model = Building
        fields = (*COMMON, "use")


class HouseFilter(RecordFilter):
    building = IdFilter(field_name="building_id")
    use = django_filters.ChoiceFilter(choices=HouseUse.choices)

    class Meta:
        model = House
        fields = (*COMMON, "building", "use")


class HouseholdFilter(RecordFilter):
    house = IdFilter(field_name="house_id")
    building = IdFilter(field_name="house__building_id")

    class Meta:
        model = Household
        fields = (*COMMON, "house", "building")


class ResidentFilter(RecordFilter):
    residence_type = django_filters.ChoiceFilter(choices=ResidenceType.choices)
    document_type = django_filters.ChoiceFilter(choices=DocumentType.choices)
    sex = django_filters.ChoiceFilter(choices=Sex.choices)
    group = django_filters.ChoiceFilter(
        choices=CareGroup.choices, method="in_group", label=_("care group (current tag)")
    )
    house = IdFilter(field_name="house_id")
    household = IdFilter(field_name="household_id")
    building = IdFilter(field_name="house__building_id")

    class Meta:
        model = Resident
        fields = (
            *COMMON,
            "residence_type",
            "document_type",
            "sex",
            "group",
            "house",
            "household",
            "building",
        )

    def in_group(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        tagged = CareTag.objects.filter(group=value, is_active=True).values("resident_id")
        return qs.filter(pk__in=tagged)


class OrganisationFilter(RecordFilter):
    kind = django_filters.ChoiceFilter(choices=OrganisationKind.choices)
    building = IdFilter(field_name="building_id")

    class Meta:
        model = Organisation
        fields = (*COMMON, "kind", "building")


class PlaceFilter(RecordFilter):
    kind = django_filters.ChoiceFilter(choices=PlaceKind.choices)
    hazard_level = django_filters.ChoiceFilter(choices=HazardLevel.choices)
    organisation = IdFilter(field_name="organisation_id")

    class Meta:
        model = Place
        fields = (*COMMON, "kind", "hazard_level", "organisation")


class CareTagFilter(RecordFilter):
    group = django_filters.ChoiceFilter(choices=CareGroup.choices)
    risk_level = django_filters.ChoiceFilter(choices=RiskLevel.choices)
    resident = IdFilter(field_name="resident_id")
    household = IdFilter(field_name="resident__household_id")
    visit_due = DaysFilter(
        method="due_within",
        min_value=0,
        max_value=3650,
        label=_("visit due within (days)"),
        help_text=_(
            "Current tags whose next visit is due within this many days, overdue ones too."
        ),
    )
    overdue = django_filters.BooleanFilter(
        method="by_overdue", label=_("visit overdue"), help_text=_("true: overdue visits only.")
    )

    class Meta:
        model = CareTag
        fields = (*COMMON, "group", "risk_level", "resident", "household", "visit_due", "overdue")

    def search(self, qs: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        # Tags are found by their resident (name, pinyin, ID, phone).
        people = selectors.find(Resident.objects.all(), value)
        return qs.filter(resident__in=people.values("pk"))

    def due_within(self, qs: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        until = timezone.localdate() + dt.timedelta(days=int(value))
        return qs.filter(is_active=True, next_visit_due__lte=until)

    def by_overdue(self, qs: QuerySet[Any], name: str, value: bool | None) -> QuerySet[Any]:
        if value is None:
            return qs
        late = selectors.overdue(qs.filter(is_active=True))
        return late if value else qs.exclude(pk__in=late.values("pk"))
