"""Roles and what each may do with each class of data — the one policy table.

A role is always held at a division (role × division); it reaches that division's subtree.
The three administrators (三员) are exclusive: whoever holds one holds no other role, and none of
them reaches residents' data.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from civicgrid.geo.choices import Level


class Role(models.TextChoices):
    GRID_WORKER = "grid_worker", _("grid worker")
    GRID_LEADER = "grid_leader", _("grid leader")
    CENTRE_STAFF = "centre_staff", _("centre staff")
    DEPARTMENT_HANDLER = "department_handler", _("department handler")
    LEADER = "leader", _("leader")
    SYSTEM_ADMIN = "system_admin", _("system administrator")
    SECURITY_ADMIN = "security_admin", _("security administrator")
    AUDIT_ADMIN = "audit_admin", _("audit administrator")


ADMIN_ROLES = frozenset({Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN})
BUSINESS_ROLES = frozenset(set(Role) - ADMIN_ROLES)


class DataClass:
    """Kinds of information, each granted per action by POLICY."""

    GEO = "geo"  # divisions, grids, boundaries, coverage
    ORG = "org"  # units and department types
    ACCOUNT = "account"  # user accounts
    ROLE = "role"  # role assignments
    AUDIT = "audit"  # object changes and access logs
    IMPORT = "import"  # uploaded import jobs
    CASE = "case"  # cases, their timelines and attachments (departments: see Case.extra_scope_q)
    REGISTRY = "registry"  # basic information: people, houses, organisations, places, care
    IDENTITY = "identity"  # full ID and phone numbers ("view" = may unmask, giving a reason)
    # Subscriptions of units to the change feed and their webhook delivery (not the shared data
    # itself: a department reads that through its unit's subscription, exchange/selectors.py).
    EXCHANGE = "exchange"
    # Figures, dashboards and assessment ("change": scorecard templates, runs, publishing).
    INSIGHTS = "insights"
    # Grid workers' duty records from the field app: visits, patrols, check-ins.
    FIELD = "field"


V, C = "view", "change"
POLICY: dict[str, dict[str, frozenset[str]]] = {
    Role.GRID_WORKER: {
        DataClass.GEO: frozenset({V}),
        DataClass.ORG: frozenset({V}),
        DataClass.CASE: frozenset({V, C}),
        DataClass.REGISTRY: frozenset({V, C}),
        DataClass.FIELD: frozenset({V, C}),
    },
    Role.GRID_LEADER: {
        DataClass.GEO: frozenset({V}),
        DataClass.ORG: frozenset({V}),
        DataClass.ACCOUNT: frozenset({V}),
        DataClass.CASE: frozenset({V, C}),
        DataClass.REGISTRY: frozenset({V, C}),
        DataClass.INSIGHTS: frozenset({V}),
        DataClass.FIELD: frozenset({V, C}),
    },
    # Centre staff verify identities (a caller, a dispute's parties): they may unmask.
    Role.CENTRE_STAFF: {
        DataClass.GEO: frozenset({V}),
        DataClass.ORG: frozenset({V}),
        DataClass.ACCOUNT: frozenset({V}),
        DataClass.CASE: frozenset({V, C}),
        DataClass.REGISTRY: frozenset({V, C}),
        DataClass.IDENTITY: frozenset({V}),
        DataClass.INSIGHTS: frozenset({V, C}),
        DataClass.FIELD: frozenset({V}),
    },
    # Departments reach cases through their unit (Case.extra_scope_q), not through a subtree.
    Role.DEPARTMENT_HANDLER: {DataClass.GEO: frozenset({V}), DataClass.ORG: frozenset({V})},
    Role.LEADER: {
        DataClass.GEO: frozenset({V}),
        DataClass.ORG: frozenset({V}),
        DataClass.ACCOUNT: frozenset({V}),
        DataClass.CASE: frozenset({V}),
        DataClass.REGISTRY: frozenset({V}),
        DataClass.INSIGHTS: frozenset({V}),
        DataClass.FIELD: frozenset({V}),
    },
    Role.SYSTEM_ADMIN: {
        DataClass.GEO: frozenset({V, C}),
        DataClass.ORG: frozenset({V, C}),
        DataClass.ACCOUNT: frozenset({V, C}),
        DataClass.ROLE: frozenset({V}),
        DataClass.IMPORT: frozenset({V, C}),
        DataClass.EXCHANGE: frozenset({V, C}),
    },
    Role.SECURITY_ADMIN: {
        DataClass.GEO: frozenset({V}),
        DataClass.ORG: frozenset({V}),
        DataClass.ACCOUNT: frozenset({V}),
        DataClass.ROLE: frozenset({V, C}),
    },
    Role.AUDIT_ADMIN: {
        DataClass.GEO: frozenset({V}),
        DataClass.ORG: frozenset({V}),
        DataClass.ACCOUNT: frozenset({V}),
        DataClass.ROLE: frozenset({V}),
        DataClass.AUDIT: frozenset({V}),
    },
}


def allows(role: str, data_class: str, action: str) -> bool:
    return action in POLICY.get(role, {}).get(data_class, frozenset())


# Levels at which each role may be held.
ALLOWED_LEVELS: dict[str, frozenset[int]] = {
    Role.GRID_WORKER: frozenset({Level.GRID}),
    Role.GRID_LEADER: frozenset({Level.GRID, Level.COMMUNITY}),
    Role.CENTRE_STAFF: frozenset(
        {Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.COMMUNITY}
    ),
    Role.DEPARTMENT_HANDLER: frozenset(
        {Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.COMMUNITY}
    ),
    Role.LEADER: frozenset(
        {Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.COMMUNITY}
    ),
    Role.SYSTEM_ADMIN: frozenset({Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP}),
    Role.SECURITY_ADMIN: frozenset({Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP}),
    Role.AUDIT_ADMIN: frozenset({Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP}),
}

CENTRE_LABELS = {
    Level.PROVINCE: pgettext_lazy("role", "province centre staff"),
    Level.CITY: pgettext_lazy("role", "city centre staff"),
    Level.COUNTY: pgettext_lazy("role", "county centre staff"),
    Level.TOWNSHIP: pgettext_lazy("role", "township centre staff"),
    Level.COMMUNITY: pgettext_lazy("role", "community centre staff"),
}


def role_label(role: str, level: int | None = None) -> str:
    if role == Role.CENTRE_STAFF and level in CENTRE_LABELS:
        return str(CENTRE_LABELS[Level(level)])
    return str(Role(role).label)
