"""Assessment in the API: templates (CRUD for centre staff), runs (compute, publish, 409 once
published), rankings with red and black lists and the cases behind a score; scope and bad
input."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.cases.models import Case
from civicgrid.core.models import ObjectChange
from civicgrid.insights.models import ScorecardRun, ScorecardTemplate

from ..conftest import login
from ..world import World
from .test_scoring import make_template, month_cases, this_month  # noqa: F401

pytestmark = pytest.mark.django_db
API = "/api/v1/insights"
INDICATORS = [
    {"kpi": "on_time_rate", "weight": "50", "target": "0.70", "penalty": "1"},
    {"kpi": "satisfaction_rate", "weight": "20", "target": "0.90"},
    {"kind": "deduction", "kpi": "reworked", "per_event": "0.2", "cap": "5"},
]


def client(user: User) -> APIClient:
    return login(APIClient(), user)


def month() -> str:
    return f"{this_month():%Y-%m}"


def test_centre_staff_create_and_change_a_template(world: World, people: dict[str, User]) -> None:
    api = client(people["county"])
    body = {
        "name": "townships",
        "subject": "region",
        "area": world.div["A"].pk,
        "level": 4,
        "list_size": 1,
        "indicators": INDICATORS,
    }
    created = api.post(f"{API}/scorecards/", body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["area"]["code"] == world.div["A"].code
    assert data["full_points"] == 70.0
    assert [i["kpi"] for i in data["indicators"]] == [
        "on_time_rate",
        "satisfaction_rate",
        "reworked",
    ]
    pk = data["id"]
    changed = api.patch(
        f"{API}/scorecards/{pk}/", {"list_size": 2, "version": data["version"]}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["list_size"] == 2
    stale = api.patch(
        f"{API}/scorecards/{pk}/", {"list_size": 3, "version": data["version"]}, format="json"
    )
    assert stale.status_code == 409
    audit = ObjectChange.objects.filter(content_type__model="scorecardtemplate", object_id=str(pk))
    assert list(audit.order_by("pk").values_list("action", flat=True)) == ["create", "update"]
    assert api.delete(f"{API}/scorecards/{pk}/").status_code == 204
    assert not ScorecardTemplate.objects.filter(pk=pk).exists()


def test_bad_template_input_names_the_field(world: World, people: dict[str, User]) -> None:
    api = client(people["county"])
    api.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    body: dict[str, Any] = {
        "name": "x",
        "subject": "region",
        "area": world.div["A"].pk,
        "level": 4,
        "indicators": [{"kpi": "no_such_figure", "weight": "10"}],
    }
    bad = api.post(f"{API}/scorecards/", body, format="json")
    assert bad.status_code == 400 and "indicators.0.kpi" in bad.json()["errors"]
    bad = api.post(
        f"{API}/scorecards/", {**body, "indicators": INDICATORS, "level": None}, format="json"
    )
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"level"}
    # A division outside the caller's area is "does not exist", like a made-up id.
    outside = api.post(
        f"{API}/scorecards/",
        {**body, "indicators": INDICATORS, "area": world.div["B"].pk},
        format="json",
    )
    made_up = api.post(
        f"{API}/scorecards/", {**body, "indicators": INDICATORS, "area": 99999999}, format="json"
    )
    assert outside.status_code == made_up.status_code == 400
    assert outside.json()["errors"].keys() == made_up.json()["errors"].keys() == {"area"}
    assert not ScorecardTemplate.objects.exists()


def test_only_centre_staff_change(world: World, people: dict[str, User]) -> None:
    template = make_template(world)
    for name in ("leader", "grid_leader", "handler"):
        api = client(people[name])
        body = {
            "name": "x",
            "subject": "region",
            "area": world.div["A"].pk,
            "level": 4,
            "indicators": INDICATORS,
        }
        assert api.post(f"{API}/scorecards/", body, format="json").status_code == 403
    leader = client(people["leader"])
    assert leader.get(f"{API}/scorecards/{template.pk}/").status_code == 200
    assert (
        leader.patch(
            f"{API}/scorecards/{template.pk}/", {"list_size": 1}, format="json"
        ).status_code
        == 403
    )
    assert (
        leader.post(
            f"{API}/scorecard-runs/run/", {"template": template.pk, "month": month()}, format="json"
        ).status_code
        == 403
    )
    assert not ScorecardRun.objects.exists()


def test_run_publish_and_rankings(
    world: World,
    people: dict[str, User],
    month_cases: dict[str, Case],  # noqa: F811
) -> None:
    template = make_template(world)
    api = client(people["county"])
    made = api.post(
        f"{API}/scorecard-runs/run/", {"template": template.pk, "month": month()}, format="json"
    )
    assert made.status_code == 201, made.content
    run = made.json()
    assert run["status"] == "draft" and run["month"] == month()
    scores = {s["subject_key"]: s for s in run["scores"]}
    a1, a2 = scores[world.div["A1"].path], scores[world.div["A2"].path]
    assert (a1["total"], a1["rank"], a2["total"], a2["rank"]) == (66.47, 1, 20.0, 2)
    assert run["red_list"] == [a1["id"]] and run["black_list"] == [a2["id"]]
    assert a1["red"] and a2["black"] and not a1["black"]

    ranked = api.get(f"{API}/rankings/", {"run": run["id"]}).json()["results"]
    assert [r["rank"] for r in ranked] == [1, 2]
    black = api.get(f"{API}/rankings/", {"run": run["id"], "list": "black"}).json()["results"]
    assert [r["id"] for r in black] == [a2["id"]]
    assert api.get(f"{API}/rankings/", {"list": "grey"}).status_code == 400

    # A draft's cases are read now.
    cases = api.get(f"{API}/rankings/{a1['id']}/cases/", {"kpi": "on_time_rate"}).json()
    assert cases["count"] == 3 and sum(c["counted"] for c in cases["results"]) == 2
    assert api.get(f"{API}/rankings/{a1['id']}/cases/", {"kpi": "closure_rate"}).status_code == 400

    published = api.post(
        f"{API}/scorecard-runs/{run['id']}/publish/", {"version": run["version"]}, format="json"
    )
    assert published.status_code == 200, published.content
    assert published.json()["status"] == "published"
    # Published: frozen. A later case changes nothing and the month cannot be run again.
    from ..cases.conftest import report, to_state

    to_state(report(people["worker"]), "registered", people, world)
    again = api.post(
        f"{API}/scorecard-runs/run/", {"template": template.pk, "month": month()}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "published"
    assert (
        api.post(f"{API}/scorecard-runs/{run['id']}/publish/", {}, format="json").status_code == 409
    )
    detail = api.get(f"{API}/scorecard-runs/{run['id']}/").json()
    assert {s["subject_key"]: s["total"] for s in detail["scores"]}[world.div["A1"].path] == 66.47
    cases = api.get(f"{API}/rankings/{a1['id']}/cases/", {"kpi": "on_time_rate"}).json()
    assert cases["count"] == 3


def test_bad_run_input_names_the_field(world: World, people: dict[str, User]) -> None:
    template = make_template(world)
    api = client(people["county"])
    for bad_month in ("2026-13", "March", ""):
        answer = api.post(
            f"{API}/scorecard-runs/run/",
            {"template": template.pk, "month": bad_month},
            format="json",
        )
        assert answer.status_code == 400 and set(answer.json()["errors"]) == {"month"}
    future = api.post(
        f"{API}/scorecard-runs/run/", {"template": template.pk, "month": "2999-01"}, format="json"
    )
    assert future.status_code == 400 and set(future.json()["errors"]) == {"month"}
    missing = api.post(
        f"{API}/scorecard-runs/run/", {"template": 999999, "month": month()}, format="json"
    )
    assert missing.status_code == 400 and set(missing.json()["errors"]) == {"template"}
    assert api.get(f"{API}/scorecard-runs/", {"month": "x"}).status_code == 400


def test_scope_a_township_sees_its_subtree_only(world: World, people: dict[str, User]) -> None:
    county_card = make_template(world)  # area A
    town_card = make_template(world, at="A1", level=5)
    county_run = ScorecardRun.objects.get(
        pk=client(people["county"])
        .post(
            f"{API}/scorecard-runs/run/",
            {"template": county_card.pk, "month": month()},
            format="json",
        )
        .json()["id"]
    )
    town = client(people["township"])
    made = town.post(
        f"{API}/scorecard-runs/run/", {"template": town_card.pk, "month": month()}, format="json"
    )
    assert made.status_code == 201
    assert [t["id"] for t in town.get(f"{API}/scorecards/").json()["results"]] == [town_card.pk]
    assert [r["id"] for r in town.get(f"{API}/scorecard-runs/").json()["results"]] == [
        made.json()["id"]
    ]
    assert town.get(f"{API}/scorecard-runs/{county_run.pk}/").status_code == 404
    assert (
        town.post(f"{API}/scorecard-runs/{county_run.pk}/publish/", {}, format="json").status_code
        == 404
    )
    assert town.get(f"{API}/scorecards/{county_card.pk}/").status_code == 404
    score = county_run.scores.first()
    assert score is not None
    assert town.get(f"{API}/rankings/{score.pk}/").status_code == 404
    assert all(r["run"] != county_run.pk for r in town.get(f"{API}/rankings/").json()["results"])
    # Naming someone else's template in a body is "does not exist" (400 naming it).
    other = town.post(
        f"{API}/scorecard-runs/run/", {"template": county_card.pk, "month": month()}, format="json"
    )
    assert other.status_code == 400 and set(other.json()["errors"]) == {"template"}
    # The county sees both; the other county nothing.
    assert len(client(people["county"]).get(f"{API}/scorecards/").json()["results"]) == 2
    assert client(people["county_b"]).get(f"{API}/scorecard-runs/").json()["results"] == []


def test_in_the_schema(world: World, people: dict[str, User]) -> None:
    schema = client(people["county"]).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/insights/scorecards/",
        "/api/v1/insights/scorecards/{id}/",
        "/api/v1/insights/scorecard-runs/",
        "/api/v1/insights/scorecard-runs/run/",
        "/api/v1/insights/scorecard-runs/{id}/publish/",
        "/api/v1/insights/rankings/",
        "/api/v1/insights/rankings/{id}/cases/",
    ):
        assert path in paths, path
