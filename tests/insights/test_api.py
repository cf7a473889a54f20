"""The figures API: the same numbers as the query module, scoped, with field-named errors."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from civicgrid.accounts.models import User

from ..cases.conftest import report, to_state
from ..world import World

pytestmark = pytest.mark.django_db
URL = "/api/v1/insights/kpis/"


def client_for(user: User) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user)
    return client


@pytest.fixture
def cases(world: World, people: dict[str, User]) -> None:
    to_state(report(people["worker"]), "closed", people, world)
    report(people["worker"], at="A2a1")
    report(people["worker_b"], at="B1a1")


def test_county_figures_with_groups(world: World, people: dict[str, User], cases: None) -> None:
    answer = client_for(people["county"]).get(URL, {"division": "371602", "group": "child"})
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["division"] == "371602"
    assert data["total"]["counters"]["reported"] == 2
    # One of the two is filed (and closed); the other still waits to be filed.
    assert data["total"]["counters"]["filed"] == 1
    assert data["total"]["values"]["closure_rate"] == pytest.approx(1.0)
    assert {r["division"]: r["counters"]["reported"] for r in data["rows"]} == {
        "371602001": 1,
        "371602002": 1,
    }
    assert data["previous"]["counters"]["reported"] == 0
    assert data["source"] == "rollup"


def test_township_sees_only_its_own(world: World, people: dict[str, User], cases: None) -> None:
    client = client_for(people["township"])
    data = client.get(URL).json()
    assert data["division"] == "371602001"  # its own area by default
    assert data["total"]["counters"]["reported"] == 1
    assert client.get(URL, {"division": "371602"}).status_code == 404
    assert client.get(URL, {"division": "371603001"}).status_code == 404


def test_roles_without_figures_are_refused(people: dict[str, User]) -> None:
    assert client_for(people["worker"]).get(URL).status_code == 403
    assert client_for(people["handler"]).get(URL).status_code == 403
    assert APIClient().get(URL).status_code in {401, 403}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "fortnight"}, "period"),
        ({"date": "2026-13-01"}, "date"),
        ({"period": "custom", "from": "2026-05-01"}, "to"),
        ({"period": "custom", "from": "2026-05-02", "to": "2026-05-01"}, "to"),
        ({"group": "colour"}, "group"),
        ({"category": "no.such"}, "category"),
        ({"level": "x"}, "level"),
    ],
)
def test_bad_parameters_name_the_field(
    people: dict[str, User], params: dict[str, str], field: str
) -> None:
    answer = client_for(people["county"]).get(URL, params)
    assert answer.status_code == 400
    assert field in answer.json()["errors"]


def test_the_cases_behind_a_figure(world: World, people: dict[str, User], cases: None) -> None:
    client = client_for(people["county"])
    answer = client.get(URL + "cases/", {"kpi": "closure_rate", "part": "denominator"})
    assert answer.status_code == 200
    assert answer.json()["count"] == 1  # the filed one; the other waits to be filed
    assert client.get(URL + "cases/", {"kpi": "reported"}).json()["count"] == 2
    closed = client.get(URL + "cases/", {"kpi": "closed"}).json()
    assert [c["status"] for c in closed["results"]] == ["closed"]
    by_row = client.get(
        URL + "cases/", {"kpi": "reported", "group": "child", "key": "371602002"}
    ).json()
    assert by_row["count"] == 1
    assert client.get(URL + "cases/", {"kpi": "nonsense"}).status_code == 400


def test_definitions_and_schema(people: dict[str, User]) -> None:
    client = client_for(people["leader"])
    keys = {d["key"] for d in client.get("/api/v1/insights/definitions/").json()}
    assert {"closure_rate", "on_time_rate", "three_rates", "visits_rate"} <= keys
    schema = client.get("/api/v1/schema/", {"format": "json"}).json()
    assert "/api/v1/insights/kpis/" in schema["paths"]
    assert "/api/v1/insights/kpis/cases/" in schema["paths"]


def test_a_custom_period_mixes_rollup_months_and_live_edges(
    world: World, people: dict[str, User], cases: None
) -> None:
    today = timezone.localdate()
    params = {"division": "371600", "period": "custom", "to": today.isoformat()}
    params["from"] = today.replace(year=today.year - 1, day=1).isoformat()
    data = client_for(people["city"]).get(URL, params).json()
    assert data["total"]["counters"]["reported"] == 3
