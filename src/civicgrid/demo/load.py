"""Write a planned city through the import actions, then add units, one login per role, the
routing of the default categories to the county departments, and a few weeks of cases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from civicgrid.accounts import actions as accounts
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.defaults import ensure_department_types
from civicgrid.accounts.models import DepartmentType, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.catalog import actions as catalog
from civicgrid.catalog.defaults import ensure_default_catalog
from civicgrid.catalog.models import CaseCategory
from civicgrid.core.importing import ImportReport, ProgressFn
from civicgrid.geo import actions as geo
from civicgrid.geo import coverage
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division
from civicgrid.insights import rollup
from civicgrid.insights.actions import ensure_default_scorecards

from .cases import CaseResult, Cast, generate_cases
from .city import CityPlan
from .fieldwork import FieldResult, generate_fieldwork
from .registry import RegistryResult, budget_for, generate_registry

DEMO_PASSWORD = "civicgrid-demo"
# Departments every county and the city have in the demo (codes of DepartmentType).
DEPARTMENTS = {
    "political_legal": "政法委",
    "urban_management": "城市管理局",
    "health": "卫生健康委员会",
    "public_security": "公安局",
    "civil_affairs": "民政局",
    "emergency": "应急管理局",
    "market_supervision": "市场监督管理局",
    "housing": "住房和城乡建设局",
}
PSYCHOLOGY_ASSOCIATION = "滨州市心理咨询师协会"
# Who handles what in each county (DepartmentType codes): a major class's route covers its
# minor classes unless a minor class has its own. Public opinion has no route on purpose: its
# cases stay with the centre of first contact (the matrix's fallback).
ROUTES = {
    "basic": "civil_affairs",
    "basic.resident": "public_security",
    "basic.house": "housing",
    "basic.organisation": "market_supervision",
    "hazard": "emergency",
    "hazard.building": "housing",
    "hazard.food": "market_supervision",
    "hazard.traffic": "public_security",
    "dispute": "political_legal",
    "psychology": "civil_affairs",
    "psychology.counselling": PSYCHOLOGY_ASSOCIATION,
    "law": "political_legal",
    "service": "civil_affairs",
    "environment": "urban_management",
    "facility": "urban_management",
    "facility.utility": "housing",
}


@dataclass
class Login:
    username: str
    role: str
    where: str


@dataclass
class LoadResult:
    divisions: ImportReport
    boundaries: ImportReport
    units: int = 0
    users: int = 0
    coverage_issues: int = 0
    logins: list[Login] = field(default_factory=list)
    routes: int = 0
    cases: CaseResult = field(default_factory=CaseResult)
    registry: RegistryResult = field(default_factory=RegistryResult)
    fieldwork: FieldResult = field(default_factory=FieldResult)


class DemoLoadError(RuntimeError):
    pass


def load_city(plan: CityPlan, *, progress: ProgressFn | None = None) -> LoadResult:
    divisions = geo.do_import_divisions(plan.divisions_csv(), actor=None, progress=progress)
    if not divisions.written:
        raise DemoLoadError(f"division import refused: {divisions.fatal or divisions.errors[:3]}")
    boundaries = geo.do_import_boundaries(
        [("demo-city.geojson", plan.boundaries_geojson())], actor=None, progress=progress
    )
    if not boundaries.written:
        raise DemoLoadError(f"boundary import refused: {boundaries.errors[:3]}")
    result = LoadResult(divisions, boundaries)
    with transaction.atomic():
        result.units = _units()
        result.logins, result.users = _accounts()
        result.routes = _routes()
        cast = _cast()
        result.users += cast.extra_accounts
    communities = list(
        Division.objects.filter(level=Level.COMMUNITY, is_active=True).values_list("id", flat=True)
    )
    result.coverage_issues = coverage.refresh(communities)
    home = Division.objects.select_related("parent").get(
        pk=User.objects.get(username="gridworker").division_id
    )
    result.registry = generate_registry(
        home, seed=plan.seed, budget=budget_for(plan.count(Level.GRID)), progress=progress
    )
    if plan.cases:
        result.cases = generate_cases(
            cast.cast, count=plan.cases, seed=plan.seed, home_grid=home, progress=progress
        )
    # Visits, patrols and check-ins of the grid workers around the demo login's grid.
    result.fieldwork = generate_fieldwork(home, seed=plan.seed, progress=progress)
    # The figures start up to date (the task worker keeps them so from here on), and the
    # township centres have a scorecard to run.
    rollup.rebuild()
    city = Division.objects.filter(level=Level.CITY, is_active=True).order_by("path").first()
    if city is not None:
        ensure_default_scorecards(city)
    return result


def _units() -> int:
    ensure_department_types(DepartmentType)  # present after migrate; a flushed test DB lacks them
    types = {t.code: t for t in DepartmentType.objects.all()}
    count = 0
    city = Division.objects.get(level=Level.CITY, code="371600")
    for division in Division.objects.filter(
        level__in=[Level.CITY, Level.COUNTY, Level.TOWNSHIP, Level.COMMUNITY]
    ):
        if division.level == Level.COMMUNITY:
            name = f"{division.name}网格化服务管理工作站"
        else:
            name = f"{division.name}网格化服务管理中心"
        accounts.do_create_unit(actor=None, division=division, name=name, kind=UnitKind.CENTRE)
        count += 1
        if division.level in {Level.CITY, Level.COUNTY}:
            prefix = "市" if division.level == Level.CITY else division.name
            for code, suffix in DEPARTMENTS.items():
                accounts.do_create_unit(
                    actor=None,
                    division=division,
                    name=f"{prefix}{suffix}",
                    kind=UnitKind.DEPARTMENT,
                    department_type=types[code],
                )
                count += 1
    accounts.do_create_unit(
        actor=None, division=city, name=PSYCHOLOGY_ASSOCIATION, kind=UnitKind.SOCIAL_ORG
    )
    return count + 1


def _accounts() -> tuple[list[Login], int]:
    city = Division.objects.get(code="371600")
    county = Division.objects.filter(level=Level.COUNTY).order_by("code").first()
    township = Division.objects.filter(parent=county, level=Level.TOWNSHIP).order_by("code").first()
    community = (
        Division.objects.filter(parent=township, level=Level.COMMUNITY, children__isnull=False)
        .order_by("code")
        .first()
    )
    assert county
    assert township
    assert community
    grids = list(Division.objects.filter(level=Level.GRID, is_active=True).order_by("code"))
    first_grid = next(g for g in grids if g.parent_id == community.pk)
    # The demo department login works in the county where the demo's cases are routed.
    urban_bureau = Unit.objects.get(division=county, department_type__code="urban_management")
    specs: list[tuple[str, str, str, Division, Unit | None]] = [
        ("sysadmin", "系统管理员", Role.SYSTEM_ADMIN, city, None),
        ("secadmin", "安全管理员", Role.SECURITY_ADMIN, city, None),
        ("auditor", "审计管理员", Role.AUDIT_ADMIN, city, None),
        ("leader", "市领导", Role.LEADER, city, None),
        ("city", "市中心受理员", Role.CENTRE_STAFF, city, None),
        ("county", "区中心派遣员", Role.CENTRE_STAFF, county, None),
        ("township", "街道中心工作人员", Role.CENTRE_STAFF, township, None),
        ("community", "社区工作站人员", Role.CENTRE_STAFF, community, None),
        ("handler", "城管局处置人员", Role.DEPARTMENT_HANDLER, county, urban_bureau),
        ("gridleader", "网格长", Role.GRID_LEADER, community, None),
    ]
    logins: list[Login] = []
    for username, full_name, role, division, unit in specs:
        user = accounts.do_create_user(
            actor=None,
            username=username,
            password=DEMO_PASSWORD,
            division=division,
            full_name=full_name,
        )
        accounts.do_grant_role(user, actor=None, role=role, division=division, unit=unit)
        logins.append(Login(username, _label(role, division), division.name))
    # Every grid gets its grid worker; the first one is the demo login "gridworker".
    rows: list[dict[str, Any]] = [
        {
            "username": "gridworker" if grid.pk == first_grid.pk else f"gw{grid.code}",
            "full_name": f"{grid.name}网格员",
            "division": grid,
            "role": Role.GRID_WORKER,
        }
        for grid in grids
    ]
    accounts.do_bulk_create_users(rows, actor=None, password=DEMO_PASSWORD)
    logins.append(Login("gridworker", _label(Role.GRID_WORKER, first_grid), first_grid.name))
    return logins, len(specs) + len(rows)


def _routes() -> int:
    """Route the default categories to each county's departments (through the action)."""
    ensure_default_catalog()  # present after migrate; a flushed test DB lacks it
    categories = {c.code: c for c in CaseCategory.objects.filter(code__in=list(ROUTES))}
    association = Unit.objects.get(name=PSYCHOLOGY_ASSOCIATION)
    count = 0
    for county in Division.objects.filter(level=Level.COUNTY, is_active=True).order_by("code"):
        departments = {
            u.department_type.code: u
            for u in Unit.objects.filter(division=county, kind=UnitKind.DEPARTMENT).select_related(
                "department_type"
            )
            if u.department_type
        }
        for code, target in ROUTES.items():
            unit = association if target == PSYCHOLOGY_ASSOCIATION else departments[target]
            catalog.do_set_route(actor=None, category=categories[code], division=county, unit=unit)
            count += 1
    return count


@dataclass
class _CastResult:
    cast: Cast
    extra_accounts: int


def _cast() -> _CastResult:
    """The people the demo cases need beyond the role logins: staff at every township centre
    and a handler in every unit that cases are routed to. All share the demo password."""
    by_name = {u.username: u for u in User.objects.filter(username__in=["community", "township",
               "county", "city", "handler"])}  # fmt: skip
    centre_staff: dict[str, User] = {}
    for name in ("city", "county", "township", "community"):
        user = by_name[name]
        centre_staff[user.division_path] = user
    rows: list[dict[str, Any]] = []
    for township in Division.objects.filter(level=Level.TOWNSHIP, is_active=True).order_by("code"):
        if township.path not in centre_staff:
            rows.append(
                {
                    "username": f"cs{township.code}",
                    "full_name": f"{township.name}中心工作人员",
                    "division": township,
                    "role": Role.CENTRE_STAFF,
                }
            )
    handlers: dict[int, User] = {}
    demo_handler = by_name["handler"]
    handler_unit = demo_handler.assignments.get().unit_id
    assert handler_unit is not None
    handlers[handler_unit] = demo_handler
    routed = (
        Unit.objects.filter(routes__isnull=False)
        .distinct()
        .select_related("division", "department_type")
    )
    for unit in routed.order_by("division_path", "name"):
        if unit.pk in handlers:
            continue
        label = unit.department_type.code if unit.department_type else unit.kind
        rows.append(
            {
                "username": f"{label.replace('_', '-')}-{unit.division.code}",
                "full_name": f"{unit.name}处置人员",
                "division": unit.division,
                "role": Role.DEPARTMENT_HANDLER,
                "unit": unit,
            }
        )
    created = accounts.do_bulk_create_users(rows, actor=None, password=DEMO_PASSWORD)
    for user, row in zip(created, rows, strict=True):
        if row["role"] == Role.CENTRE_STAFF:
            centre_staff[row["division"].path] = user
        else:
            handlers[row["unit"].pk] = user
    workers = {
        u.division_id: u for u in User.objects.filter(assignments__role=Role.GRID_WORKER).distinct()
    }
    return _CastResult(Cast(workers, centre_staff, handlers), len(rows))


def _label(role: str, division: Division) -> str:
    from civicgrid.accounts.roles import role_label

    return role_label(role, division.level)


def existing_logins() -> list[Login]:
    names = [
        "sysadmin",
        "secadmin",
        "auditor",
        "leader",
        "city",
        "county",
        "township",
        "community",
        "handler",
        "gridleader",
        "gridworker",
    ]
    logins = []
    for user in User.objects.filter(username__in=names).prefetch_related("assignments__division"):
        for assignment in user.assignments.all():
            logins.append(Login(user.username, assignment.label, assignment.division.name))
    order = {n: i for i, n in enumerate(names)}
    return sorted(logins, key=lambda login: order.get(login.username, 99))
