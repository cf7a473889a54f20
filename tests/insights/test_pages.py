"""The insight pages: the dashboard for a centre and a leader, form errors, scope (404) and
roles (403), the cases behind a figure, the Excel exports and the big screen's JSON."""

from __future__ import annotations

import io
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import translation
from openpyxl import load_workbook

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.cases.choices import SlaState
from civicgrid.cases.models import Case
from civicgrid.cases.sweep import sweep
from civicgrid.insights import kpis, query
from civicgrid.insights.tables import xlsx_response

from ..cases.conftest import report, to_state
from ..world import World

pytestmark = pytest.mark.django_db

A, A1, A2, B = "371602", "371602001", "371602002", "371603"


@pytest.fixture
def cases(world: World, people: dict[str, User]) -> dict[str, Case]:
    """Cases in both counties, moved along through the real actions."""
    p = people
    worker_a2 = world.user(Role.GRID_WORKER, "A2a1", name="worker-a2")
    found = {
        "closed": to_state(report(p["worker"]), "closed", p, world),
        "evaluated": to_state(report(p["worker"]), "evaluated", p, world),
        "registered": to_state(report(p["worker"]), "registered", p, world),
        "dispatched": to_state(report(p["worker"]), "dispatched", p, world),
        "a2": report(worker_a2, at="A2a1"),
        "b": report(p["worker_b"], at="B1a1"),
    }
    # The dispatched case runs past its accept limit: the sweep turns it red.
    due = Case.objects.get(pk=found["dispatched"].pk).stage_due
    assert due is not None
    sweep(now=due)
    for key, case in found.items():
        found[key] = Case.objects.get(pk=case.pk)
    assert found["dispatched"].sla_state == SlaState.RED
    return found


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def links(html: str, pattern: str) -> list[str]:
    return [unescape(u) for u in re.findall(r'href="(' + pattern + r'[^"]*)"', html)]


def case_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'<tr data-case="(\d+)"', html)}


# --- the dashboard ------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["county", "leader"])
def test_dashboard_shows_the_subtree_by_subordinate_division(
    cases: dict[str, Case], people: dict[str, User], who: str
) -> None:
    response = client_for(people[who]).get("/insights/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="cg-tiles"' in html and 'data-kpi="closure_rate"' in html
    # One row per township of county A, keyed by its path; none of county B.
    assert f'data-key="{A1}"' in html and f'data-key="{A2}"' in html
    assert f'data-key="{B}' not in html
    # The big screen and the tracing page are linked.
    assert 'id="cg-screen-link"' in html
    assert links(html, "/insights/cases/")


def test_dashboard_figures_match_the_cases_they_link_to(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    """Every count on the page is a link, and the linked page lists exactly that many cases."""
    client = client_for(people["county"])
    html = client.get(f"/insights/?division={A}&group=child").content.decode()
    cells = re.findall(
        r'<td class="text-end[^"]*" data-kpi="(reported|filed|closed|open|overdue)">'
        r'<a href="([^"]+)">([\d,]+)</a>',
        html,
    )
    assert len(cells) >= 10  # two townships and the total, five counts each
    for _kpi, url, number in cells:
        traced = client.get(unescape(url))
        assert traced.status_code == 200
        count = re.search(r'<strong id="cg-count">(\d+)</strong>', traced.content.decode())
        assert count is not None and int(count.group(1)) == int(number.replace(",", ""))
    # By hand: county A reported 5 cases, 2 closed, 3 open, 1 overdue.
    total = dict(
        re.findall(r'<td class="text-end fw-semibold" data-kpi="(\w+)">(?:<a[^>]*>)?([^<]+)', html)
    )
    assert (total["reported"], total["closed"], total["open"], total["overdue"]) == (
        "5",
        "2",
        "3",
        "1",
    )
    assert total["closure_rate"] == "50.0%"  # 2 closed ÷ 4 filed (the A2 report is not filed)


def test_tiles_compare_with_the_previous_period(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    html = client_for(people["county"]).get(f"/insights/?division={A}").content.decode()
    # Nothing was reported last month: more reports is "up" (and, by the KPI's direction, good);
    # more overdue cases is up and bad.
    assert 'data-kpi="reported" data-direction="up" data-tone="good"' in html
    assert 'data-kpi="overdue" data-direction="up" data-tone="bad"' in html


def test_dashboard_out_of_scope_division_is_404(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    client = client_for(people["county"])
    assert client.get(f"/insights/?division={B}").status_code == 404
    assert client.get("/insights/?division=371603001201001").status_code == 404
    assert client.get("/insights/?division=999999").status_code == 404
    # A township centre cannot look at its county or its sibling.
    township = client_for(people["township"])
    assert township.get(f"/insights/?division={A}").status_code == 404
    assert township.get(f"/insights/?division={A2}").status_code == 404
    assert township.get(f"/insights/?division={A1}").status_code == 200


def test_bad_input_shows_form_errors(cases: dict[str, Case], people: dict[str, User]) -> None:
    client = client_for(people["county"])
    response = client.get("/insights/?date=2026-13-40")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-error="date"' in html and "is-invalid" in html
    assert 'id="cg-tiles"' not in html
    html = client.get("/insights/?period=custom&from=2026-03-01").content.decode()
    assert 'data-error="to"' in html
    html = client.get("/insights/?period=fortnight").content.decode()
    assert 'data-error="period"' in html


@pytest.mark.parametrize("who", ["worker", "handler", "sysadmin"])
def test_roles_without_figures_are_refused(people: dict[str, User], who: str) -> None:
    client = client_for(people[who])
    for url in (
        "/insights/",
        "/insights/cases/?kpi=reported",
        "/insights/screen/",
        "/insights/screen/data/",
    ):
        assert client.get(url).status_code == 403, url


def test_grid_leader_sees_the_community(cases: dict[str, Case], people: dict[str, User]) -> None:
    response = client_for(people["grid_leader"]).get("/insights/")
    assert response.status_code == 200
    assert 'data-key="371602001001001"' in response.content.decode()  # its grid A1a1


def test_login_is_required() -> None:
    response = Client().get("/insights/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- tracing ------------------------------------------------------------------------------------
def test_tracing_lists_exactly_the_cases_behind_a_figure(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    client = client_for(people["county"])
    html = client.get(f"/insights/cases/?division={A}&kpi=closed").content.decode()
    assert case_ids(html) == {cases["closed"].pk, cases["evaluated"].pk}
    assert 'data-kpi="closed"' in html and 'id="cg-count">2<' in html
    # The denominator of the closure rate: filed, less deferred.
    html = client.get(
        f"/insights/cases/?division={A}&kpi=closure_rate&part=denominator"
    ).content.decode()
    assert case_ids(html) == {
        cases[k].pk for k in ("closed", "evaluated", "registered", "dispatched")
    }
    # One row of a grouping: township A2 reported one case.
    html = client.get(
        f"/insights/cases/?division={A}&group=child&kpi=reported&key={A2}"
    ).content.decode()
    assert case_ids(html) == {cases["a2"].pk}
    html = client.get(f"/insights/cases/?division={A}&kpi=overdue").content.decode()
    assert case_ids(html) == {cases["dispatched"].pk}
    # The same as the core says, and each number links to its case page.
    q = query.parse_query(people["county"], {"division": A})
    expected = set(query.cases_behind(people["county"], q, "reported").values_list("pk", flat=True))
    html = client.get(f"/insights/cases/?division={A}&kpi=reported").content.decode()
    assert case_ids(html) == expected
    for pk in expected:
        assert f'href="/cases/{pk}/"' in html


def test_tracing_refuses_what_cannot_be_traced(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    client = client_for(people["county"])
    for params in (
        "kpi=nonsense",
        "kpi=three_rates",
        "kpi=closed&part=middle",
        "kpi=reported&part=denominator",
    ):
        response = client.get(f"/insights/cases/?division={A}&{params}")
        assert response.status_code == 400, params
        assert 'id="cg-errors"' in response.content.decode()
    assert client.get(f"/insights/cases/?division={B}&kpi=reported").status_code == 404


def test_tracing_paginates_by_fifty(
    cases: dict[str, Case], people: dict[str, User], monkeypatch: Any
) -> None:
    from civicgrid.insights.views import trace

    assert trace.PER_PAGE == 50
    monkeypatch.setattr(trace, "PER_PAGE", 2)
    client = client_for(people["county"])
    first = client.get(f"/insights/cases/?division={A}&kpi=reported").content.decode()
    second = client.get(f"/insights/cases/?division={A}&kpi=reported&page=2").content.decode()
    assert len(case_ids(first)) == 2 and case_ids(first).isdisjoint(case_ids(second))


# --- Excel --------------------------------------------------------------------------------------
def sheet(response: Any) -> list[tuple[Any, ...]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.content))
    return [tuple(row) for row in book.active.iter_rows(values_only=True)]


def test_dashboard_table_exports_to_excel(cases: dict[str, Case], people: dict[str, User]) -> None:
    client = client_for(people["county"])
    rows = sheet(client.get(f"/insights/?division={A}&group=child&format=xlsx"))
    header, body = rows[0], rows[1:]
    with translation.override("zh-hans"):  # the pages' default language
        reported = header.index(str(kpis.KPIS["reported"].label))
    closure = next(i for i, h in enumerate(header) if str(h).endswith("(%)"))
    by_key = {row[0]: row for row in body}
    assert by_key[A1][reported] == 4 and by_key[A2][reported] == 1
    assert by_key[A][reported] == 5  # the total row, keyed by the area's code
    assert by_key[A][closure] == 50  # per cent, a number Excel can sum


def test_tracing_exports_to_excel(cases: dict[str, Case], people: dict[str, User]) -> None:
    client = client_for(people["county"])
    rows = sheet(client.get(f"/insights/cases/?division={A}&kpi=closed&format=xlsx"))
    assert {row[0] for row in rows[1:]} == {cases["closed"].number, cases["evaluated"].number}


def test_xlsx_response_keeps_types_and_names() -> None:
    response = xlsx_response("统计表", ["a", "b"], [[1, None], [0.5, "x"]])
    assert "filename*=UTF-8''%E7%BB%9F%E8%AE%A1%E8%A1%A8.xlsx" in response["Content-Disposition"]
    assert sheet(response) == [("a", "b"), (1, None), (0.5, "x")]


# --- the big screen -----------------------------------------------------------------------------
KEYS = {
    "area",
    "crumbs",
    "up",
    "period",
    "asOf",
    "source",
    "kpi",
    "tiles",
    "trend",
    "categories",
    "ranking",
    "map",
    "cases",
}


def test_screen_page_renders(cases: dict[str, Case], people: dict[str, User]) -> None:
    response = client_for(people["city"]).get("/insights/screen/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="cg-screen-config"' in html and "vendor/echarts/echarts.min.js" in html
    assert "cdn" not in html.lower()
    assert client_for(people["county"]).get(f"/insights/screen/?division={B}").status_code == 404


def test_screen_data_holds_the_area_and_stays_in_scope(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    client = client_for(people["county"])
    response = client.get("/insights/screen/data/")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == KEYS
    assert data["area"]["code"] == A and data["up"] is None  # the county staff's own top
    tiles = {t["key"]: t["value"] for t in data["tiles"]}
    assert tiles["reported"] == 5 and tiles["overdue"] == 1 and tiles["closure_rate"] == 0.5
    assert [r["code"] for r in data["ranking"]["rows"]] == [A1, A2]  # A2 has no filed case
    assert {f["properties"]["code"] for f in data["map"]["features"]} == {A1, A2}
    assert all(
        f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in data["map"]["features"]
    )
    assert len(data["trend"]["labels"]) == 30 and sum(data["trend"]["series"][0]["data"]) == 5
    assert sum(c["value"] for c in data["categories"]) == 5
    live = {c["id"] for c in data["cases"]["live"]}
    assert live == {cases[k].pk for k in ("registered", "dispatched", "a2")}
    assert [c["id"] for c in data["cases"]["overdue"]] == [cases["dispatched"].pk]
    assert cases["b"].pk not in {c["id"] for c in data["cases"]["new"]}
    # No personal data on a wall screen.
    text = response.content.decode()
    for word in ("reporter", "phone", "address", people["worker"].username):
        assert word not in text
    # Drill down: a township, then a grid (no children; its own outline).
    township = client.get(f"/insights/screen/data/?division={A1}").json()
    assert township["area"]["code"] == A1 and township["up"]["code"] == A
    assert [c["code"] for c in township["crumbs"]] == [A, A1]
    months = client.get(f"/insights/screen/data/?division={A1}&trend=month").json()["trend"]
    assert months["unit"] == "month" and len(months["labels"]) == 12
    assert sum(months["series"][0]["data"]) == 4
    grid = client.get("/insights/screen/data/?division=371602001001001").json()
    assert grid["ranking"]["rows"] == [] and len(grid["map"]["features"]) == 1
    assert grid["map"]["features"][0]["properties"]["drill"] is False


def test_screen_data_refuses_out_of_scope_and_bad_input(
    cases: dict[str, Case], people: dict[str, User]
) -> None:
    client = client_for(people["county"])
    assert client.get(f"/insights/screen/data/?division={B}").status_code == 404
    assert client.get("/insights/screen/data/?division=371600").status_code == 404
    response = client.get("/insights/screen/data/?kpi=nonsense")
    assert response.status_code == 400 and "kpi" in response.json()["errors"]
    assert client.get("/insights/screen/data/?trend=hourly").status_code == 400
    # The city sees both counties, ranked by the chosen figure.
    city = client_for(people["city"]).get("/insights/screen/data/?kpi=reported").json()
    assert city["area"]["code"] == "371600"
    assert [r["code"] for r in city["ranking"]["rows"]] == [A, B]
    assert city["ranking"]["key"] == "reported"
