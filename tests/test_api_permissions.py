"""The permission matrix of the API: every role × every endpoint × where the target lies
relative to the caller's division (own, child, parent, sibling, other county).

What each cell must answer is written down here, from DOMAIN.md §3 and the three-administrator
rule, in `MAY_VIEW` / `MAY_CHANGE` below — deliberately *not* read from accounts.roles.POLICY,
which would make the test agree with whatever the code says.

How a refusal looks (ARCHITECTURE rule 2, "no existence leaks"):

* an object addressed by the URL and outside the caller's area: 404, for reads and writes alike
  — never 403, so a refusal never confirms that something exists;
* an object the caller may see but not change: 403;
* an object *named in the query or the body* (``?under=<code>``, ``"division": <id>``,
  ``"user": <id>``) that lies outside the caller's area: 400 naming that field, word for word the
  answer for an id or code that does not exist at all. A 404 there would say "no such endpoint";
  this keeps rule 7 (bad input names the field) and still leaks nothing — each such cell also
  sends a made-up id and compares the two answers.

Every refused write is followed by a check that no table changed (no ObjectChange row either);
every allowed write by a check of its effect and of its one audit row.

The world is built once per module inside a transaction that is rolled back at the end; each
test runs inside a savepoint of it (pytest-django's `db`), so every test starts from the same
pristine world without paying ~1 100 times for building it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from civicgrid.accounts import actions as accounts
from civicgrid.accounts.choices import UnitKind
from civicgrid.accounts.models import ApiToken, DepartmentType, RoleAssignment, Unit, User
from civicgrid.accounts.roles import Role
from civicgrid.cases.actions import ACTIONS
from civicgrid.core.audit import record_access
from civicgrid.core.models import AccessLog, ImportJob, JobStatus, ObjectChange
from civicgrid.geo import actions as geo
from civicgrid.geo import coverage
from civicgrid.geo.choices import Level
from civicgrid.geo.models import CoverageCheck, CoverageIssue, Division, Grid

from .conftest import login
from .world import GRID_KEYS, ORIGIN, PASSWORD, SIZE, World, build_world, inside

API = "/api/v1"

# --- the expectations: who may do what with which class of data ---------------------------
GEO, ORG, ACCOUNT, ROLE, AUDIT, IMPORT = "geo", "org", "account", "role", "audit", "import"

MAY_VIEW: dict[str, set[str]] = {
    # everybody in the field works from the map and the list of units of their area
    Role.GRID_WORKER: {GEO, ORG},
    Role.DEPARTMENT_HANDLER: {GEO, ORG},
    # people who run an area also see who works in it
    Role.GRID_LEADER: {GEO, ORG, ACCOUNT},
    Role.CENTRE_STAFF: {GEO, ORG, ACCOUNT},
    Role.LEADER: {GEO, ORG, ACCOUNT},
    # the three administrators (三员): none reads residents' data; each sees what they manage
    Role.SYSTEM_ADMIN: {GEO, ORG, ACCOUNT, ROLE, IMPORT},
    Role.SECURITY_ADMIN: {GEO, ORG, ACCOUNT, ROLE},
    Role.AUDIT_ADMIN: {GEO, ORG, ACCOUNT, ROLE, AUDIT},
}
MAY_CHANGE: dict[str, set[str]] = {
    # the system administrator keeps the tree, units, accounts and imports
    Role.SYSTEM_ADMIN: {GEO, ORG, ACCOUNT, IMPORT},
    # the security administrator grants and revokes (business) roles
    Role.SECURITY_ADMIN: {ROLE},
}


def may_view(role: str, data_class: str) -> bool:
    return data_class in MAY_VIEW[role]


def may_change(role: str, data_class: str) -> bool:
    return data_class in MAY_CHANGE.get(role, set())


# --- who is tested where -----------------------------------------------------------------------
@dataclass(frozen=True)
class Actor:
    role: str
    home: str  # world key of the division the role is held at
    unit: str | None = None


ACTORS: dict[str, Actor] = {
    "grid_worker": Actor(Role.GRID_WORKER, "A1a1"),
    "grid_leader": Actor(Role.GRID_LEADER, "A1a"),
    "centre_staff@township": Actor(Role.CENTRE_STAFF, "A1"),
    "centre_staff@community": Actor(Role.CENTRE_STAFF, "A1a"),
    "centre_staff@county": Actor(Role.CENTRE_STAFF, "A"),
    "department_handler": Actor(Role.DEPARTMENT_HANDLER, "A1", unit="urban-A1"),
    "leader": Actor(Role.LEADER, "A1"),
    "system_admin": Actor(Role.SYSTEM_ADMIN, "A1"),
    "security_admin": Actor(Role.SECURITY_ADMIN, "A1"),
    "audit_admin": Actor(Role.AUDIT_ADMIN, "A1"),
}

RELATIONS = ("own", "child", "parent", "sibling", "other_county")
NEAR = {"own", "child"}  # the relations inside the caller's subtree

# The division standing for each relation, by home. None: the relation does not exist there.
RELATIVES: dict[str, dict[str, str | None]] = {
    "A1a1": {
        "own": "A1a1",
        "child": None,
        "parent": "A1a",
        "sibling": "A1a2",
        "other_county": "B1a1",
    },
    "A1a": {"own": "A1a", "child": "A1a1", "parent": "A1", "sibling": "A1b", "other_county": "B1a"},
    "A1": {"own": "A1", "child": "A1a", "parent": "A", "sibling": "A2", "other_county": "B1"},
    # a county's sibling *is* the other county: tested once, as other_county
    "A": {"own": "A", "child": "A1", "parent": "C", "sibling": None, "other_county": "B"},
}
# The grid standing for each relation, for endpoints about grids. Grids exist at the grid level
# only, so a grid "at the parent" does not exist (every grid under the parent outside one's own
# subtree is a sibling's, tested as such).
GRID_RELATIVES: dict[str, dict[str, str | None]] = {
    "A1a1": {
        "own": "A1a1",
        "child": None,
        "parent": None,
        "sibling": "A1a2",
        "other_county": "B1a1",
    },
    "A1a": {
        "own": "A1a2",
        "child": "A1a1",
        "parent": None,
        "sibling": "A1b1",
        "other_county": "B1a1",
    },
    "A1": {
        "own": "A1b1",
        "child": "A1a1",
        "parent": None,
        "sibling": "A2a1",
        "other_county": "B1a1",
    },
    "A": {"own": "A2a1", "child": "A1a1", "parent": None, "sibling": None, "other_county": "B1a1"},
}


# --- the shared world --------------------------------------------------------------------------
@dataclass
class Matrix:
    world: World
    actors: dict[str, int] = field(default_factory=dict)  # actor name → user pk
    homed: dict[str, int] = field(default_factory=dict)  # key → a user whose home is there
    fresh: dict[str, int] = field(default_factory=dict)  # key → a user without roles, for grants
    holders: dict[str, int] = field(default_factory=dict)  # key → an assignment there
    jobs: dict[str, int] = field(default_factory=dict)  # key → an import job there

    def div(self, key: str) -> Division:
        return Division.objects.get(pk=self.world.div[key].pk)

    def actor(self, name: str) -> User:
        return User.objects.get(pk=self.actors[name])


COMMUNITY_GRIDS = {"A1a": ["A1a1", "A1a2"], "A1b": ["A1b1"], "A2a": ["A2a1"], "B1a": ["B1a1"]}


def _community_boundary(grids: list[str]) -> dict[str, Any]:
    """The community's land: its grids' squares and a strip north of them that no grid covers,
    so that the coverage check finds a real gap in every community."""
    indexes = [GRID_KEYS.index(g) for g in grids]
    x0, x1 = ORIGIN[0] + min(indexes) * SIZE, ORIGIN[0] + (max(indexes) + 1) * SIZE
    y0, y1 = ORIGIN[1], ORIGIN[1] + 1.5 * SIZE
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def build_matrix() -> Matrix:
    world = build_world()
    m = Matrix(world)
    urban = DepartmentType.objects.get(code="urban_management")
    world.units["urban-A1"] = accounts.do_create_unit(
        actor=None,
        division=world.div["A1"],
        name="市中街道城管科",
        kind=UnitKind.DEPARTMENT,
        department_type=urban,
    )
    for name, a in ACTORS.items():
        m.actors[name] = world.user(a.role, a.home, unit=a.unit, name=f"actor-{name}").pk
    features = [
        {
            "type": "Feature",
            "properties": {"code": world.div[key].code},
            "geometry": _community_boundary(grids),
        }
        for key, grids in COMMUNITY_GRIDS.items()
    ]
    raw = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    assert geo.do_import_boundaries([("communities.geojson", raw)], actor=None).written
    assert coverage.refresh([world.div[key].pk for key in COMMUNITY_GRIDS]) >= len(COMMUNITY_GRIDS)
    for key, division in world.div.items():
        m.homed[key] = accounts.do_create_user(
            actor=None,
            username=f"homed-{key}",
            password=PASSWORD,
            division=division,
            full_name=f"{division.name}居民工作者",
        ).pk
        m.fresh[key] = accounts.do_create_user(
            actor=None, username=f"fresh-{key}", password=PASSWORD, division=division
        ).pk
        role = Role.GRID_WORKER if division.level == Level.GRID else Role.CENTRE_STAFF
        holder = world.user(role, key, name=f"holder-{key}")
        m.holders[key] = RoleAssignment.objects.get(user=holder).pk
        # Jobs are placed at the importing administrator's division; rows are made directly so
        # that every level has one (administrators themselves sit at township or above).
        m.jobs[key] = ImportJob.objects.create(
            kind="divisions",
            original_name=f"{key}.csv",
            file=f"imports/{key}.csv",
            status=JobStatus.SUCCEEDED,
            created_by=holder,
            division_path=division.path,
        ).pk
        record_access(
            User.objects.get(pk=m.homed[key]),
            actor=None,
            action="view_phone",
            fields=["phone"],
            reason="permission matrix",
        )
    return m


MD5 = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="module")
def shared(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Matrix]:
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            with override_settings(PASSWORD_HASHERS=MD5):
                matrix = build_matrix()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    try:
        yield matrix
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# --- helpers -----------------------------------------------------------------------------------
STATE_MODELS = (
    Division,
    Grid,
    Unit,
    User,
    RoleAssignment,
    ApiToken,
    ImportJob,
    CoverageIssue,
    CoverageCheck,
)
BULKY = {"boundary", "geometry"}  # large JSON no endpoint here writes; left out to stay fast


def db_state() -> dict[str, Any]:
    """Every row of every table a request here could write (audit tables, being append-only,
    by their size and newest id). Raw SQL: it runs twice per write cell."""
    state: dict[str, Any] = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in STATE_MODELS:
            meta = model._meta
            columns = ", ".join(
                quote(f.column) for f in meta.concrete_fields if f.name not in BULKY
            )
            cursor.execute(
                f"SELECT {columns} FROM {quote(meta.db_table)} ORDER BY {quote(meta.pk.column)}"
            )
            state[model.__name__] = cursor.fetchall()
        for model in (ObjectChange, AccessLog):
            cursor.execute(f"SELECT COUNT(*), MAX(id) FROM {quote(model._meta.db_table)}")
            state[model.__name__] = cursor.fetchone()
    return state


def last_change_id() -> int:
    return ObjectChange.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def new_changes(since: int) -> list[ObjectChange]:
    return list(ObjectChange.objects.filter(pk__gt=since).order_by("pk"))


def assert_one_change(since: int, obj: Any, actor: User, kind: str) -> None:
    rows = new_changes(since)
    assert len(rows) == 1, rows
    row = rows[0]
    assert (row.kind, row.object_id, row.actor_id) == (kind, str(obj.pk), actor.pk)
    assert row.content_type.model_class() is type(obj)


def assert_field_error(response: Any, name: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) >= {"detail", "errors"}, body
    assert name in body["errors"], body


MISSING_ID = 987_654_321
MISSING_CODE = "371699999"


def same_as_missing(invisible: Any, missing: Any, field_name: str, real: str, fake: str) -> None:
    """A reference to something out of sight is answered exactly like one to nothing at all."""
    assert missing.status_code == invisible.status_code == 400
    got = json.dumps(invisible.json()["errors"][field_name], ensure_ascii=False)
    want = json.dumps(missing.json()["errors"][field_name], ensure_ascii=False)
    assert got.replace(real, fake) == want


@dataclass
class Cell:
    matrix: Matrix
    actor_name: str
    relation: str
    api: APIClient

    @property
    def spec(self) -> Actor:
        return ACTORS[self.actor_name]

    @property
    def role(self) -> str:
        return self.spec.role

    @property
    def near(self) -> bool:
        return self.relation in NEAR

    def key(self) -> str:
        key = RELATIVES[self.spec.home][self.relation]
        if key is None:
            pytest.skip(f"{self.relation} of {self.spec.home} does not exist in the world")
        return key

    def grid_key(self) -> str:
        key = GRID_RELATIVES[self.spec.home][self.relation]
        if key is None:
            pytest.skip(f"no grid stands for {self.relation} of {self.spec.home}")
        return key

    def division(self) -> Division:
        return self.matrix.div(self.key())

    def unit(self) -> Unit:
        key = self.key()
        if f"centre-{key}" not in self.matrix.world.units:
            pytest.skip("units sit at a community or above, not at a grid")
        return Unit.objects.get(pk=self.matrix.world.units[f"centre-{key}"].pk)


@pytest.fixture
def cell_factory(shared: Matrix, db: Any, api: APIClient) -> Any:
    def make(actor_name: str, relation: str) -> Cell:
        login(api, shared.actor(actor_name))
        return Cell(shared, actor_name, relation, api)

    return make


# --- reads -------------------------------------------------------------------------------------
def read_detail(cell: Cell, url: str, data_class: str, expected_id: Any = None) -> None:
    """An object addressed by URL: 200 iff the role may view its class and it lies in the
    caller's subtree; otherwise 404 — never 403."""
    response = cell.api.get(url)
    expected = 200 if may_view(cell.role, data_class) and cell.near else 404
    assert response.status_code == expected, response.content
    if expected == 200 and expected_id is not None:
        assert response.json()["id"] == expected_id


def r_division(cell: Cell) -> None:
    d = cell.division()
    read_detail(cell, f"{API}/divisions/{d.pk}/", GEO, d.pk)


def r_grid(cell: Cell) -> None:
    g = cell.matrix.div(cell.grid_key())
    read_detail(cell, f"{API}/grids/{g.pk}/", GEO, g.pk)


def r_grid_in_list(cell: Cell) -> None:
    g = cell.matrix.div(cell.grid_key())
    response = cell.api.get(f"{API}/grids/?page_size=1000")
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert (g.pk in ids) is (may_view(cell.role, GEO) and cell.near)


def r_grid_geojson(cell: Cell) -> None:
    g = cell.matrix.div(cell.grid_key())
    response = cell.api.get(f"{API}/grids/geojson/")
    assert response.status_code == 200
    ids = {feature["id"] for feature in response.json()["features"]}
    assert (g.pk in ids) is (may_view(cell.role, GEO) and cell.near)


def r_unit(cell: Cell) -> None:
    u = cell.unit()
    read_detail(cell, f"{API}/units/{u.pk}/", ORG, u.pk)


def r_user(cell: Cell) -> None:
    pk = cell.matrix.homed[cell.key()]
    read_detail(cell, f"{API}/users/{pk}/", ACCOUNT, pk)


def r_role_assignment(cell: Cell) -> None:
    pk = cell.matrix.holders[cell.key()]
    read_detail(cell, f"{API}/role-assignments/{pk}/", ROLE, pk)


def r_audit_change(cell: Cell) -> None:
    d = cell.division()
    change = ObjectChange.objects.filter(division_path=d.path).order_by("pk").first()
    assert change is not None
    read_detail(cell, f"{API}/audit/changes/{change.pk}/", AUDIT, change.pk)


def r_import_job(cell: Cell) -> None:
    pk = cell.matrix.jobs[cell.key()]
    read_detail(cell, f"{API}/imports/{pk}/", IMPORT, pk)


def r_locate(cell: Cell) -> None:
    key = cell.grid_key()
    lng, lat = inside(key)
    response = cell.api.get(f"{API}/locate/?lat={lat}&lng={lng}")
    expected = 200 if may_view(cell.role, GEO) and cell.near else 404
    assert response.status_code == expected, response.content
    if expected == 200:
        assert response.json()["grid"]["code"] == cell.matrix.div(key).code
    else:  # the same answer as for a point in no grid at all
        nowhere = cell.api.get(f"{API}/locate/?lat={lat}&lng=100")
        assert nowhere.status_code == 404
        assert (
            response.json()["detail"].replace(f"{lng:.6f}", f"{100:.6f}")
            == (nowhere.json()["detail"])
        )


def read_under(cell: Cell, url: str) -> Any:
    """A list narrowed by ?under=<code>: the code must name a division the caller can see;
    any other code is answered like one that does not exist."""
    d = cell.division()
    response = cell.api.get(f"{url}?under={d.code}")
    if not cell.near:
        missing = cell.api.get(f"{url}?under={MISSING_CODE}")
        assert_field_error(response, "under")
        same_as_missing(response, missing, "under", d.code, MISSING_CODE)
        return None
    assert response.status_code == 200, response.content
    return response.json()


def r_coverage_issues_under(cell: Cell) -> None:
    d = cell.division()
    body = read_under(cell, f"{API}/coverage-issues/")
    if body is None:
        return
    paths = {CoverageIssue.objects.get(pk=row["id"]).division_path for row in body["results"]}
    assert all(p.startswith(d.path) for p in paths)
    expected = set(
        CoverageIssue.objects.filter(division_path__startswith=d.path).values_list("pk", flat=True)
    )
    assert {row["id"] for row in body["results"]} == expected
    if d.level <= Level.COMMUNITY:
        assert expected, "every community of the world has a gap"


def r_sizing_under(cell: Cell) -> None:
    d = cell.division()
    body = read_under(cell, f"{API}/sizing/")
    if body is not None:
        grids = sum(1 for key in GRID_KEYS if cell.matrix.world.div[key].path.startswith(d.path))
        assert body["total"] == grids


READS = {
    "division": r_division,
    "grid": r_grid,
    "grid-in-list": r_grid_in_list,
    "grid-geojson": r_grid_geojson,
    "unit": r_unit,
    "user": r_user,
    "role-assignment": r_role_assignment,
    "coverage-issues-under": r_coverage_issues_under,
    "audit-change": r_audit_change,
    "import-job": r_import_job,
    "locate": r_locate,
    "sizing-under": r_sizing_under,
}


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", READS)
def test_read(cell_factory: Any, endpoint: str, actor: str, relation: str) -> None:
    cell = cell_factory(actor, relation)
    before = last_change_id()
    READS[endpoint](cell)
    assert new_changes(before) == []  # reads write nothing


# --- writes ------------------------------------------------------------------------------------
def addressed_write(cell: Cell, data_class: str) -> int:
    """The expected status of a write to an object addressed by URL."""
    if not (may_view(cell.role, data_class) and cell.near):
        return 404
    return 200 if may_change(cell.role, data_class) else 403


@dataclass
class Sent:
    response: Any
    since: int  # the newest audit row before the request
    state: dict[str, Any]  # the database before the request


def run_write(cell: Cell, expected: int, send: Any) -> Sent:
    state = db_state()
    sent = Sent(None, last_change_id(), state)
    sent.response = send()
    assert sent.response.status_code == expected, sent.response.content
    if expected in (403, 404):  # a 400 is checked after its twin request, in check_missing
        assert db_state() == state, "a refused write changed the database"
    return sent


def w_patch_division(cell: Cell) -> None:
    d = cell.division()
    expected = addressed_write(cell, GEO)
    sent = run_write(
        cell, expected, lambda: cell.api.patch(f"{API}/divisions/{d.pk}/", {"name": "改名街道"})
    )
    if expected == 200:
        assert Division.objects.get(pk=d.pk).name == "改名街道"
        assert_one_change(sent.since, d, cell.matrix.actor(cell.actor_name), "update")


def w_patch_grid(cell: Cell) -> None:
    g = Grid.objects.get(pk=cell.matrix.div(cell.grid_key()).pk)
    expected = addressed_write(cell, GEO)
    sent = run_write(
        cell, expected, lambda: cell.api.patch(f"{API}/grids/{g.pk}/", {"households": 450})
    )
    if expected == 200:
        assert Grid.objects.get(pk=g.pk).households == 450
        assert_one_change(sent.since, g, cell.matrix.actor(cell.actor_name), "update")


def w_patch_unit(cell: Cell) -> None:
    u = cell.unit()
    expected = addressed_write(cell, ORG)
    sent = run_write(
        cell, expected, lambda: cell.api.patch(f"{API}/units/{u.pk}/", {"phone": "0543-1234567"})
    )
    if expected == 200:
        assert Unit.objects.get(pk=u.pk).phone == "0543-1234567"
        assert_one_change(sent.since, u, cell.matrix.actor(cell.actor_name), "update")


def w_patch_user(cell: Cell) -> None:
    pk = cell.matrix.homed[cell.key()]
    expected = addressed_write(cell, ACCOUNT)
    sent = run_write(
        cell, expected, lambda: cell.api.patch(f"{API}/users/{pk}/", {"full_name": "新名字"})
    )
    if expected == 200:
        user = User.objects.get(pk=pk)
        assert user.full_name == "新名字"
        assert_one_change(sent.since, user, cell.matrix.actor(cell.actor_name), "update")


def w_delete_role_assignment(cell: Cell) -> None:
    pk = cell.matrix.holders[cell.key()]
    assignment = RoleAssignment.objects.get(pk=pk)
    expected = addressed_write(cell, ROLE)
    expected = 204 if expected == 200 else expected
    sent = run_write(cell, expected, lambda: cell.api.delete(f"{API}/role-assignments/{pk}/"))
    if expected == 204:
        assert not RoleAssignment.objects.filter(pk=pk).exists()
        assert_one_change(sent.since, assignment, cell.matrix.actor(cell.actor_name), "delete")


def referenced_write(cell: Cell, data_class: str, *, reference_class: str = GEO) -> int:
    """The expected status of a write whose target is named in the body: out of sight → 400
    (like a missing id), visible but not the caller's to change → 403."""
    if not (may_view(cell.role, reference_class) and cell.near):
        return 400
    return 201 if may_change(cell.role, data_class) else 403


def check_missing(
    cell: Cell, url: str, body: dict[str, Any], sent: Sent, name: str, real: Any, fake: Any
) -> None:
    """The refused request's twin naming nothing that exists gets the same answer; neither
    changed the database."""
    assert_field_error(sent.response, name)
    missing = cell.api.post(url, {**body, name: fake}, format="json")
    assert db_state() == sent.state, "a refused write changed the database"
    same_as_missing(sent.response, missing, name, str(real), str(fake))


def w_post_unit(cell: Cell) -> None:
    d = cell.division()
    url = f"{API}/units/"
    body = {"division": d.pk, "name": "矛盾调解中心", "kind": UnitKind.CENTRE}
    expected = referenced_write(cell, ORG)
    sent = run_write(cell, expected, lambda: cell.api.post(url, body, format="json"))
    if expected == 201:
        unit = Unit.objects.get(pk=sent.response.json()["id"])
        assert (unit.division_id, unit.name) == (d.pk, "矛盾调解中心")
        assert_one_change(sent.since, unit, cell.matrix.actor(cell.actor_name), "create")
    elif expected == 400:
        check_missing(cell, url, body, sent, "division", d.pk, MISSING_ID)


def w_post_user(cell: Cell) -> None:
    d = cell.division()
    url = f"{API}/users/"
    body = {"username": "newcomer", "password": "a-long-new-password-1", "division": d.pk}
    expected = referenced_write(cell, ACCOUNT)
    sent = run_write(cell, expected, lambda: cell.api.post(url, body, format="json"))
    if expected == 201:
        user = User.objects.get(username="newcomer")
        assert user.division_id == d.pk
        assert user.check_password("a-long-new-password-1")
        assert_one_change(sent.since, user, cell.matrix.actor(cell.actor_name), "create")
    elif expected == 400:
        check_missing(cell, url, body, sent, "division", d.pk, MISSING_ID)


def w_post_role_assignment(cell: Cell) -> None:
    d = cell.division()
    user_pk = cell.matrix.fresh[cell.key()]
    url = f"{API}/role-assignments/"
    body = {"user": user_pk, "role": Role.CENTRE_STAFF, "division": d.pk}
    # the grantee is an account: out of sight when accounts are, or when it is out of the area
    expected = referenced_write(cell, ROLE, reference_class=ACCOUNT)
    sent = run_write(cell, expected, lambda: cell.api.post(url, body, format="json"))
    if expected == 201:
        assignment = RoleAssignment.objects.get(pk=sent.response.json()["id"])
        assert (assignment.user_id, assignment.role, assignment.division_id) == (
            user_pk,
            Role.CENTRE_STAFF,
            d.pk,
        )
        assert_one_change(sent.since, assignment, cell.matrix.actor(cell.actor_name), "create")
    elif expected == 400:
        check_missing(cell, url, body, sent, "user", user_pk, MISSING_ID)


def w_post_coverage_check(cell: Cell) -> None:
    d = cell.division()
    url = f"{API}/coverage-checks/"
    expected = referenced_write(cell, GEO)
    expected = 202 if expected == 201 else expected
    sent = run_write(cell, expected, lambda: cell.api.post(url, {"under": d.code}, format="json"))
    if expected == 202:
        communities = [
            k for k in COMMUNITY_GRIDS if cell.matrix.world.div[k].path.startswith(d.path)
        ]
        assert sent.response.json()["communities"] == len(communities)
        assert new_changes(sent.since) == []  # coverage findings are derived data, not audited
    elif expected == 400:
        check_missing(cell, url, {"under": d.code}, sent, "under", d.code, MISSING_CODE)


WRITES = {
    "patch-division": w_patch_division,
    "patch-grid": w_patch_grid,
    "patch-unit": w_patch_unit,
    "post-unit": w_post_unit,
    "post-user": w_post_user,
    "patch-user": w_patch_user,
    "post-role-assignment": w_post_role_assignment,
    "delete-role-assignment": w_delete_role_assignment,
    "post-coverage-check": w_post_coverage_check,
}


@pytest.mark.parametrize("relation", RELATIONS)
@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", WRITES)
def test_write(cell_factory: Any, endpoint: str, actor: str, relation: str) -> None:
    WRITES[endpoint](cell_factory(actor, relation))


# --- lists never hold a row from outside the caller's area --------------------------------------
# list endpoint → (data class, the model listed, how a row's division path is found)
LISTS: dict[str, tuple[str, Any, str]] = {
    "divisions": (GEO, Division, "path"),
    "grids": (GEO, Grid, "division__path"),
    "units": (ORG, Unit, "division_path"),
    "users": (ACCOUNT, User, "division_path"),
    "role-assignments": (ROLE, RoleAssignment, "division_path"),
    "coverage-issues": (GEO, CoverageIssue, "division_path"),
    "imports": (IMPORT, ImportJob, "division_path"),
    "audit/changes": (AUDIT, ObjectChange, "division_path"),
    "audit/access": (AUDIT, AccessLog, "division_path"),
}


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("endpoint", LISTS)
def test_list_holds_only_rows_of_the_area(cell_factory: Any, endpoint: str, actor: str) -> None:
    cell = cell_factory(actor, "own")
    data_class, model, path_field = LISTS[endpoint]
    me = cell.matrix.actor(actor)
    prefixes = list(RoleAssignment.objects.filter(user=me).values_list("division_path", flat=True))
    assert prefixes
    response = cell.api.get(f"{API}/{endpoint}/?page_size=1000")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["results"]) <= 1000
    returned = {row["id"] for row in body["results"]}
    path_of = dict(model._default_manager.values_list("pk", path_field))
    outside = {pk for pk in returned if not any(path_of[pk].startswith(p) for p in prefixes)}
    assert outside == set(), f"rows from outside the area: {sorted(outside)[:10]}"
    # …and exactly the rows of the area when the role may see this class of data at all,
    # which also proves the world holds rows the list had to leave out.
    inside_area = {pk for pk, path in path_of.items() if any(path.startswith(p) for p in prefixes)}
    assert returned == (inside_area if may_view(cell.role, data_class) else set())
    assert len(path_of) > len(inside_area), "the world holds rows outside the area"
    if ACTORS[actor].home != "A1a1":  # a grid holds no units and no coverage issues
        assert inside_area, "the area holds rows of this kind"


# --- anonymous callers -------------------------------------------------------------------------
# Every API endpoint refuses anonymous callers with 401 (and a WWW-Authenticate challenge),
# except obtaining a token and the API description. The OpenAPI schema and its Swagger page
# are public on purpose: they describe the interface, hold no data, and a client needs them
# before it has a token (drf-spectacular's default SERVE_PERMISSIONS, AllowAny).
PUBLIC = {("POST", "auth/token/"), ("GET", "schema/"), ("GET", "docs/")}
ANONYMOUS: list[tuple[str, str]] = [
    *[
        ("GET", f"{name}/")
        for name in (
            "divisions",
            "grids",
            "coverage-issues",
            "units",
            "department-types",
            "users",
            "role-assignments",
            "imports",
            "audit/changes",
            "audit/access",
        )
    ],
    *[
        ("GET", f"{name}/1/")
        for name in (
            "divisions",
            "grids",
            "coverage-issues",
            "units",
            "department-types",
            "users",
            "role-assignments",
            "imports",
            "audit/changes",
            "audit/access",
        )
    ],
    ("POST", "divisions/"),
    ("PATCH", "divisions/1/"),
    ("PATCH", "grids/1/"),
    ("GET", "grids/geojson/"),
    ("POST", "units/"),
    ("PATCH", "units/1/"),
    ("POST", "users/"),
    ("PATCH", "users/1/"),
    ("POST", "users/1/set-password/"),
    ("POST", "users/1/unlock/"),
    ("POST", "role-assignments/"),
    ("DELETE", "role-assignments/1/"),
    ("POST", "imports/"),
    ("GET", "locate/?lat=37&lng=118"),
    ("GET", "sizing/"),
    ("POST", "coverage-checks/"),
    ("GET", "me/"),
    ("DELETE", "auth/token/"),
    # cases and the catalog
    *[
        ("GET", f"{name}/")
        for name in ("cases", "categories", "sla-policies", "calendar", "routes", "notifications")
    ],
    *[
        ("GET", f"{name}/1/")
        for name in ("cases", "categories", "sla-policies", "routes", "notifications")
    ],
    ("POST", "cases/"),
    ("GET", "cases/nearby/"),
    *[("GET", f"cases/1/{sub}/") for sub in ("timeline", "attachments", "duplicates")],
    ("POST", "cases/1/attachments/"),
    ("POST", "cases/1/unmask-phone/"),
    ("GET", "cases/1/attachments/1/file/"),
    *[("POST", f"cases/1/{name.replace('_', '-')}/") for name in ACTIONS],
    ("PUT", "calendar/week/"),
    ("POST", "calendar/import/"),
    ("POST", "routes/"),
    ("DELETE", "routes/1/"),
    ("POST", "notifications/1/read/"),
    ("POST", "notifications/read-all/"),
    # basic information (registry)
    *[
        (method, f"registry/{kind}/{tail}")
        for kind in (
            "buildings",
            "houses",
            "households",
            "residents",
            "organisations",
            "places",
            "care-tags",
        )
        for method, tail in (
            ("GET", ""),
            ("POST", ""),
            ("GET", "1/"),
            ("PATCH", "1/"),
            ("POST", "1/end/"),
            ("GET", "1/history/"),
        )
    ],
    *[("POST", f"registry/{kind}/1/unmask/") for kind in ("residents", "organisations", "places")],
    ("POST", "registry/residents/1/tags/"),
    ("POST", "registry/care-tags/1/visit/"),
    # data sharing (exchange)
    ("GET", "changes/?since=0"),
    ("GET", "subscriptions/"),
    ("GET", "subscriptions/1/"),
    ("POST", "subscriptions/"),
    ("PATCH", "subscriptions/1/"),
    *[("POST", f"subscriptions/1/{sub}/") for sub in ("rotate-secret", "retry", "pause", "resume")],
    # assessment (insights scorecards)
    *[("GET", f"insights/{name}/") for name in ("scorecards", "scorecard-runs", "rankings")],
    *[("GET", f"insights/{name}/1/") for name in ("scorecards", "scorecard-runs", "rankings")],
    ("POST", "insights/scorecards/"),
    ("PATCH", "insights/scorecards/1/"),
    ("DELETE", "insights/scorecards/1/"),
    ("POST", "insights/scorecard-runs/run/"),
    ("POST", "insights/scorecard-runs/1/publish/"),
    ("GET", "insights/rankings/1/cases/"),
    # the field app (fieldwork)
    ("GET", "field/bootstrap/"),
    ("POST", "field/uploads/"),
    ("GET", "field/uploads/1/"),
    ("PUT", "field/uploads/1/"),
    ("POST", "field/cases/"),
    ("POST", "field/residents/"),
    *[
        (m, f"field/{name}/")
        for name in ("visits", "patrols", "check-ins")
        for m in ("GET", "POST")
    ],
    *[("GET", f"field/{name}/1/") for name in ("visits", "patrols", "check-ins")],
    ("GET", "field/photos/1/file/"),
    ("GET", "field/duties/"),
    # figures
    ("GET", "insights/kpis/"),
    ("GET", "insights/kpis/cases/"),
    ("GET", "insights/definitions/"),
]


@pytest.mark.parametrize(("method", "path"), ANONYMOUS, ids=[f"{m} {p}" for m, p in ANONYMOUS])
def test_anonymous_is_refused_with_401(db: Any, method: str, path: str) -> None:
    response = getattr(APIClient(), method.lower())(f"{API}/{path}", {}, format="json")
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Token"
    assert set(response.json()) == {"detail"}


def test_anonymous_may_obtain_a_token_and_read_the_description(
    shared: Matrix, db: Any, settings: Any
) -> None:
    # the Swagger page links its assets through the static storage; tests run without a
    # collectstatic manifest
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client = APIClient()
    user = shared.actor("centre_staff@township")
    response = client.post(
        f"{API}/auth/token/", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    wrong = client.post(
        f"{API}/auth/token/", {"username": user.username, "password": "x" * 12}, format="json"
    )
    assert wrong.status_code == 401
    assert client.get(f"{API}/schema/").status_code == 200
    assert client.get(f"{API}/docs/").status_code == 200


def _api_routes() -> set[str]:
    """The route of every URL under /api/v1/, from the URL configuration itself."""
    routes: set[str] = set()

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                routes.add(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    return {r for r in routes if r.startswith("api/v1/")}


def test_the_anonymous_list_covers_every_api_route() -> None:
    """A new endpoint must be added to ANONYMOUS (and so to the 401 check) or to PUBLIC."""
    import re

    tested = {p.split("?")[0] for _m, p in ANONYMOUS} | {p for _m, p in PUBLIC}
    for route in _api_routes():
        tail = route.removeprefix("api/v1/").lstrip("^").rstrip("$")
        if "format" in tail or tail in {"", "\\.(?P<format>[a-z0-9]+)/?"}:
            continue  # the router's root view and format suffixes
        sample = re.sub(r"\(\?P<[a-z_]+>[^)]*\)|<[a-z_:]+>", "1", tail)
        assert sample in tested, f"{route} has no anonymous-access check"


# --- a sanity check of the expectation table itself --------------------------------------------
def test_expectation_table_covers_every_role_and_no_admin_reads_another_admins_data() -> None:
    assert set(MAY_VIEW) == set(Role)
    assert all(GEO in classes and ORG in classes for classes in MAY_VIEW.values())
    for role, classes in MAY_CHANGE.items():
        assert classes <= MAY_VIEW[role]
    assert AUDIT not in MAY_VIEW[Role.SYSTEM_ADMIN] | MAY_VIEW[Role.SECURITY_ADMIN]
    assert ROLE not in MAY_CHANGE[Role.SYSTEM_ADMIN]
