"""A small two-county world for tests, built through the real actions.

    山东省 370000
    └── 滨州市 371600
        ├── 滨城区 371602 (county A)
        │   ├── A1 371602001 ── A1a 371602001001 ── grids A1a1, A1a2 ; A1b 371602001002 ── A1b1
        │   └── A2 371602002 ── A2a 371602002001 ── A2a1
        └── 沾化区 371603 (county B)
            └── B1 371603001 ── B1a 371603001201 (a village) ── B1a1

Grid boundaries are 0.01° squares laid side by side along a parallel, so tests can place a
point inside any grid by its key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from civicgrid.accounts import actions as accounts
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.defaults import ensure_department_types
from civicgrid.accounts.models import DepartmentType, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.catalog.defaults import ensure_default_catalog
from civicgrid.geo import actions as geo
from civicgrid.geo.models import Division

PASSWORD = "test-pass-4711"

TREE = [
    # key, code, name, parent key
    ("P", "370000", "山东省", None),
    ("C", "371600", "滨州市", "P"),
    ("A", "371602", "滨城区", "C"),
    ("B", "371603", "沾化区", "C"),
    ("A1", "371602001", "市中街道", "A"),
    ("A2", "371602002", "市西街道", "A"),
    ("B1", "371603001", "富源街道", "B"),
    ("A1a", "371602001001", "渤海社区", "A1"),
    ("A1b", "371602001002", "黄河社区", "A1"),
    ("A2a", "371602002001", "新立社区", "A2"),
    ("B1a", "371603001201", "李家村", "B1"),
    ("A1a1", "371602001001001", "渤海社区第一网格", "A1a"),
    ("A1a2", "371602001001002", "渤海社区第二网格", "A1a"),
    ("A1b1", "371602001002001", "黄河社区第一网格", "A1b"),
    ("A2a1", "371602002001001", "新立社区第一网格", "A2a"),
    ("B1a1", "371603001201001", "李家村第一网格", "B1a"),
]
GRID_KEYS = ["A1a1", "A1a2", "A1b1", "A2a1", "B1a1"]
ORIGIN = (118.0, 37.0)
SIZE = 0.01


def square(index: int) -> dict[str, Any]:
    x0 = ORIGIN[0] + index * SIZE
    y0 = ORIGIN[1]
    ring = [[x0, y0], [x0 + SIZE, y0], [x0 + SIZE, y0 + SIZE], [x0, y0 + SIZE], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def inside(key: str) -> tuple[float, float]:
    """(lng, lat) of the centre of a grid's square."""
    index = GRID_KEYS.index(key)
    return ORIGIN[0] + (index + 0.5) * SIZE, ORIGIN[1] + SIZE / 2


@dataclass
class World:
    div: dict[str, Division] = field(default_factory=dict)
    units: dict[str, Unit] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    def user(self, role: str, at: str, *, unit: str | None = None, name: str | None = None) -> User:
        """A fresh account holding `role` at division `at` (created through the actions)."""
        username = name or f"{role}-{at}-{len(self.users)}".lower()
        division = self.div[at]
        user = accounts.do_create_user(
            actor=None, username=username, password=PASSWORD, division=division
        )
        accounts.do_grant_role(
            user,
            actor=None,
            role=role,
            division=division,
            unit=self.units[unit] if unit else None,
        )
        self.users[username] = user
        return User.objects.get(pk=user.pk)


def build_world(*, with_boundaries: bool = True) -> World:
    world = World()
    for key, code, name, parent in TREE:
        world.div[key] = geo.do_create_division(
            actor=None,
            parent=world.div[parent] if parent else None,
            code=code,
            name=name,
            grid={"households": 400, "residents": 1100} if len(code) == 15 else None,
        )
    if with_boundaries:
        import json

        features = [
            {"type": "Feature", "properties": {"code": world.div[k].code}, "geometry": square(i)}
            for i, k in enumerate(GRID_KEYS)
        ]
        report = geo.do_import_boundaries(
            [
                (
                    "world.geojson",
                    json.dumps({"type": "FeatureCollection", "features": features}).encode(),
                )
            ],
            actor=None,
        )
        assert report.written, report
    ensure_department_types(DepartmentType)  # transactional tests flush migration data
    ensure_default_catalog()
    urban = DepartmentType.objects.get(code="urban_management")
    for key in ("C", "A", "B", "A1", "A2", "B1", "A1a", "A1b", "A2a", "B1a"):
        world.units[f"centre-{key}"] = accounts.do_create_unit(
            actor=None,
            division=world.div[key],
            name=f"{world.div[key].name}中心",
            kind=UnitKind.CENTRE,
        )
    for key in ("C", "A", "B"):
        world.units[f"urban-{key}"] = accounts.do_create_unit(
            actor=None,
            division=world.div[key],
            name=f"{world.div[key].name}城管局",
            kind=UnitKind.DEPARTMENT,
            department_type=urban,
        )
    for key, division in list(world.div.items()):
        world.div[key] = Division.objects.get(pk=division.pk)
    return world


ROLE_HOME = {
    # where each role naturally sits in the world, for permission tests
    Role.GRID_WORKER: "A1a1",
    Role.GRID_LEADER: "A1a",
    Role.CENTRE_STAFF: "A1",
    Role.DEPARTMENT_HANDLER: "A",
    Role.LEADER: "A",
    Role.SYSTEM_ADMIN: "A",
    Role.SECURITY_ADMIN: "A",
    Role.AUDIT_ADMIN: "A",
}
