"""Basic information (基础信息): buildings and houses, households, residents, organisations,
places and hazard sources, and care-group tags — "collected once, used by many".

Every record belongs to a grid (`division`, a grid-level Division) and carries its division
path, so it is scoped like everything else. ID and phone numbers are never stored in clear:
each is SM4-GCM encrypted (`…_enc`), with a keyed blind index (`…_index`) for exact lookup and
its masked form (`…_masked`) for display, so lists never need to decrypt (registry/protect.py).
`version` rises with every change: an update carrying an older version is a conflict.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.core.validators import DocumentType
from civicgrid.geo.models import Placed

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

SECRET_COLUMNS = ("id_enc", "id_index", "phone_enc", "phone_index")


class Record(Placed):
    """What every registry record has: a grid, a version, times and a soft end."""

    scope_data_class = "registry"

    version = models.PositiveIntegerField(_("version"), default=1)
    is_active = models.BooleanField(_("current"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    audit_exclude: ClassVar[tuple[str, ...]] = ("updated_at", *SECRET_COLUMNS)

    class Meta:
        abstract = True


class Building(Record):
    """A building (楼栋) at a structured address."""

    road = models.CharField(_("road or lane"), max_length=60)
    number = models.CharField(_("door number"), max_length=20)
    name = models.CharField(_("estate or building name"), max_length=60, blank=True)
    building_no = models.CharField(_("building"), max_length=20, blank=True)
    use = models.CharField(
        _("use"), max_length=12, choices=BuildingUse.choices, default=BuildingUse.RESIDENTIAL
    )
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering: ClassVar = ["division_path", "road", "number", "building_no"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["division", "road", "number", "building_no"],
                name="registry_building_address",
            )
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        parts = [self.road, self.number and f"{self.number}号", self.name]
        if self.building_no:
            parts.append(f"{self.building_no}幢")
        return "".join(p for p in parts if p)


class House(Record):
    """A dwelling or unit of a building (房屋): building + unit + room."""

    building = models.ForeignKey(
        Building, on_delete=models.PROTECT, related_name="houses", verbose_name=_("building")
    )
    unit_no = models.CharField(_("entrance (unit)"), max_length=10, blank=True)
    room = models.CharField(_("room"), max_length=20)
    use = models.CharField(
        _("use"), max_length=10, choices=HouseUse.choices, default=HouseUse.OWNER
    )
    area_m2 = models.DecimalField(
        _("floor area (m²)"), max_digits=8, decimal_places=2, null=True, blank=True
    )

    class Meta:
        verbose_name = _("house")
        verbose_name_plural = _("houses")
        ordering: ClassVar = ["building_id", "unit_no", "room"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["building", "unit_no", "room"], name="registry_house_address"
            )
        ]

    def __str__(self) -> str:
        return self.address

    @property
    def address(self) -> str:
        unit = f"{self.unit_no}单元" if self.unit_no else ""
        return f"{self.building.address}{unit}{self.room}室"


class Household(Record):
    """A household (户) living in a house; its members are residents."""

    house = models.ForeignKey(
        House,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="households",
        verbose_name=_("house"),
    )
    number = models.CharField(_("household number"), max_length=30, blank=True)
    head_name = models.CharField(_("head of household"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = pgettext_lazy("registry", "households")
        ordering: ClassVar = ["division_path", "id"]

    def __str__(self) -> str:
        return self.head_name or self.number or f"#{self.pk}"


class Resident(Record):
    """A person (人口). One row per document number in the whole installation: moving to
    another grid changes this row (with history), never adds a second one."""

    name = models.CharField(pgettext_lazy("person", "name"), max_length=60)
    document_type = models.CharField(
        _("document type"),
        max_length=16,
        choices=DocumentType.choices,
        default=DocumentType.RESIDENT_ID,
    )
    id_enc = models.TextField(blank=True)
    id_index = models.CharField(max_length=64, blank=True)
    id_masked = models.CharField(_("document number"), max_length=24, blank=True)
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True)
    birth_date = models.DateField(_("date of birth"), null=True, blank=True)
    ethnicity = models.CharField(_("ethnic group"), max_length=20, blank=True)
    residence_type = models.CharField(
        _("residence type"),
        max_length=10,
        choices=ResidenceType.choices,
        default=ResidenceType.REGISTERED,
    )
    phone_enc = models.TextField(blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True)
    house = models.ForeignKey(
        House,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="residents",
        verbose_name=_("house"),
    )
    household = models.ForeignKey(
        Household,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("household"),
    )
    relation = models.CharField(
        _("relation to the head"), max_length=12, choices=Relation.choices, blank=True
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = pgettext_lazy("registry", "residents")
        ordering: ClassVar = ["division_path", "name", "id"]
        constraints: ClassVar = [
            # One person per document in the whole system (the blind index is keyed, so equal
            # numbers have equal indexes and nothing else does).
            models.UniqueConstraint(
                fields=["id_index"], condition=~Q(id_index=""), name="registry_resident_one_id"
            )
        ]
        indexes: ClassVar = [models.Index(fields=["division_path", "name"])]

    def __str__(self) -> str:
        return self.name


class Organisation(Record):
    """An organisation (单位/组织) with its unified social credit code (GB 32100)."""

    name = models.CharField(_("name"), max_length=120)
    uscc = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    kind = models.CharField(
        _("kind"), max_length=12, choices=OrganisationKind.choices, default=OrganisationKind.COMPANY
    )
    legal_rep = models.CharField(_("legal representative"), max_length=60, blank=True)
    phone_enc = models.TextField(blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True)
    address = models.CharField(_("address"), max_length=200, blank=True)
    building = models.ForeignKey(
        Building,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="organisations",
        verbose_name=_("building"),
    )
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering: ClassVar = ["division_path", "name", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["uscc"], condition=~Q(uscc=""), name="registry_organisation_uscc"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Place(Record):
    """A place (场所) or hazard source (危险源) that grid workers inspect."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=14, choices=PlaceKind.choices)
    hazard_level = models.CharField(
        _("hazard level"), max_length=8, choices=HazardLevel.choices, default=HazardLevel.NONE
    )
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="places",
        verbose_name=_("organisation"),
    )
    address = models.CharField(_("address"), max_length=200, blank=True)
    contact = models.CharField(_("contact person"), max_length=60, blank=True)
    phone_enc = models.TextField(blank=True)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True)
    phone_masked = models.CharField(_("phone"), max_length=20, blank=True)
    inspect_every_days = models.PositiveSmallIntegerField(
        _("inspect every (days)"), null=True, blank=True
    )
    lat = models.FloatField(_("latitude"), null=True, blank=True)
    lng = models.FloatField(_("longitude"), null=True, blank=True)

    class Meta:
        verbose_name = _("place")
        verbose_name_plural = _("places")
        ordering: ClassVar = ["division_path", "name", "id"]

    def __str__(self) -> str:
        return self.name


class CareTag(Record):
    """A resident's membership of a care or key group, with its risk level and how often a
    grid worker must visit. Its grid follows the resident's."""

    resident = models.ForeignKey(
        Resident, on_delete=models.PROTECT, related_name="care_tags", verbose_name=_("resident")
    )
    group = models.CharField(_("group"), max_length=22, choices=CareGroup.choices)
    risk_level = models.CharField(
        _("risk level"), max_length=8, choices=RiskLevel.choices, default=RiskLevel.LOW
    )
    visit_every_days = models.PositiveSmallIntegerField(_("visit every (days)"))
    last_visit_on = models.DateField(_("last visited"), null=True, blank=True)
    next_visit_due = models.DateField(_("next visit due"), null=True, blank=True, db_index=True)
    since = models.DateField(_("since"), null=True, blank=True)
    ended_on = models.DateField(_("ended"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("care-group tag")
        verbose_name_plural = _("care-group tags")
        ordering: ClassVar = ["division_path", "group", "id"]
        constraints: ClassVar = [
            models.UniqueConstraint(
                fields=["resident", "group"],
                condition=Q(is_active=True),
                name="registry_caretag_one_active",
            )
        ]
        indexes: ClassVar = [models.Index(fields=["division_path", "group", "next_visit_due"])]

    def __str__(self) -> str:
        return f"{self.get_group_display()}: {self.resident_id}"


class SearchTerm(models.Model):
    """Search keys of a record (registry/search.py): name characters and character pairs,
    full pinyin from each syllable on, pinyin initials, address pairs. One portable table
    gives the same results on SQLite and PostgreSQL, two-character names included."""

    kind = models.CharField(max_length=12)
    object_id = models.BigIntegerField()
    term = models.CharField(max_length=40)
    division_path = models.CharField(max_length=15)

    class Meta:
        indexes: ClassVar = [
            models.Index(fields=["term", "kind"], name="registry_term_term"),
            models.Index(
                fields=["term"], name="registry_term_prefix", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["kind", "object_id"], name="registry_term_object"),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.object_id} {self.term}"
