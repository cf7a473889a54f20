"""Codes of the basic information registry (DOMAIN.md §6)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Sex(models.TextChoices):
    MALE = "M", _("male")
    FEMALE = "F", _("female")


class ResidenceType(models.TextChoices):
    REGISTERED = "registered", _("registered (户籍)")
    RESIDENT = "resident", _("resident, registered elsewhere (常住)")
    FLOATING = "floating", _("floating (流动)")
    FOREIGN = "foreign", _("from outside the mainland (境外)")


class Relation(models.TextChoices):
    HEAD = "head", _("head of household")
    SPOUSE = "spouse", _("spouse")
    CHILD = "child", pgettext_lazy("relation", "child")
    PARENT = "parent", pgettext_lazy("relation", "parent")
    GRANDCHILD = "grandchild", _("grandchild")
    GRANDPARENT = "grandparent", _("grandparent")
    SIBLING = "sibling", _("sibling")
    OTHER = "other", _("other relative")
    TENANT = "tenant", _("tenant")


class BuildingUse(models.TextChoices):
    RESIDENTIAL = "residential", _("residential")
    COMMERCIAL = "commercial", _("commercial")
    MIXED = "mixed", _("mixed use")
    PUBLIC = "public", _("public building")
    INDUSTRIAL = "industrial", _("industrial")
    OTHER = "other", _("other")


class HouseUse(models.TextChoices):
    OWNER = "owner", _("lived in by the owner")
    RENTED = "rented", _("rented out")
    VACANT = "vacant", _("vacant")
    BUSINESS = "business", _("used for business")


class OrganisationKind(models.TextChoices):
    COMPANY = "company", _("enterprise")
    SOLE = "sole", _("individual business")
    PUBLIC = "public", _("public institution")
    SOCIAL = "social", _("social organisation")
    GOVERNMENT = "government", _("government body")
    OTHER = "other", _("other")


class PlaceKind(models.TextChoices):
    SHOP = "shop", _("shop or restaurant")
    MARKET = "market", _("market")
    SCHOOL = "school", _("school or kindergarten")
    CLINIC = "clinic", _("clinic or hospital")
    ENTERTAINMENT = "entertainment", _("entertainment venue")
    RENTAL = "rental", _("rental housing for groups")
    CONSTRUCTION = "construction", _("construction site")
    GAS = "gas", _("gas station or gas supply")
    CHEMICALS = "chemicals", _("hazardous chemicals storage")
    ELDERLY = "elderly", _("care home")
    OTHER = "other", _("other")


class HazardLevel(models.TextChoices):
    NONE = "none", _("not a hazard source")
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")
    MAJOR = "major", _("major hazard source")


class CareGroup(models.TextChoices):
    """Care groups (关爱对象) and key groups (重点人群): tags on a resident."""

    ELDERLY_ALONE = "elderly_alone", _("elderly living alone")
    DISABLED = "disabled", _("person with a disability")
    LEFT_BEHIND_CHILD = "left_behind_child", _("left-behind child")
    LEFT_BEHIND_ELDERLY = "left_behind_elderly", _("left-behind elderly")
    LOW_INCOME = "low_income", _("low-income household")
    VETERAN = "veteran", _("veteran")
    SEVERE_MENTAL = "severe_mental", _("severe mental disorder")
    COMMUNITY_CORRECTION = "community_correction", _("under community correction")
    RELEASED = "released", _("released from prison")
    DRUG_REHAB = "drug_rehab", _("drug rehabilitation")
    PETITIONER = "petitioner", _("frequent petitioner")
    OTHER = "other", _("other")


# Key groups whose membership itself is sensitive: reading such a record is logged.
SENSITIVE_GROUPS = frozenset(
    {
        CareGroup.SEVERE_MENTAL,
        CareGroup.COMMUNITY_CORRECTION,
        CareGroup.RELEASED,
        CareGroup.DRUG_REHAB,
        CareGroup.PETITIONER,
    }
)


class RiskLevel(models.TextChoices):
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")


# Default visit frequency (days between visits) per group and risk level, as grid task lists
# commonly set them; each tag can override it.
DEFAULT_VISIT_DAYS: dict[str, dict[str, int]] = {
    CareGroup.SEVERE_MENTAL: {"low": 90, "medium": 30, "high": 14},
    CareGroup.COMMUNITY_CORRECTION: {"low": 30, "medium": 14, "high": 7},
    CareGroup.DRUG_REHAB: {"low": 30, "medium": 14, "high": 7},
    CareGroup.ELDERLY_ALONE: {"low": 30, "medium": 14, "high": 7},
}
FALLBACK_VISIT_DAYS = {"low": 90, "medium": 30, "high": 14}


def default_visit_days(group: str, risk: str) -> int:
    return DEFAULT_VISIT_DAYS.get(group, FALLBACK_VISIT_DAYS).get(risk, 30)
