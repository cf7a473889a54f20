"""Assessment pages: the list, the template form with its indicator rows, a run with its
ranking and red and black lists, a score with the cases behind it, publishing, Excel exports,
scope (404) and roles (403)."""

from __future__ import annotations

import io
import re

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from civicgrid.accounts.models import User
from civicgrid.cases.models import Case
from civicgrid.insights.models import ScorecardRun, ScorecardTemplate
from civicgrid.insights.tables import XLSX

from ..world import World
from .test_scoring import make_template, month_cases, this_month  # noqa: F401

pytestmark = pytest.mark.django_db


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def month() -> str:
    return f"{this_month():%Y-%m}"


def form_body(world: World, **more: str) -> dict[str, str]:
    body = {
        "name": "镇街考核",
        "subject": "region",
        "area": world.div["A"].code,
        "level": "4",
        "list_size": "1",
        "is_active": "on",
        "description": "",
        "ind-TOTAL_FORMS": "3",
        "ind-INITIAL_FORMS": "0",
        "ind-MIN_NUM_FORMS": "0",
        "ind-MAX_NUM_FORMS": "20",
        "ind-0-kpi": "on_time_rate",
        "ind-0-weight": "50",
        "ind-0-target": "70",
        "ind-0-penalty": "1",
        "ind-0-when_empty": "full",
        "ind-1-kpi": "reworked",
        "ind-1-per_event": "0.2",
        "ind-1-when_empty": "full",
        "ind-2-kpi": "",
        "ind-2-when_empty": "full",
    }
    body.update(more)
    return body


def test_create_a_template_through_the_form(world: World, people: dict[str, User]) -> None:
    county = client_for(people["county"])
    page = county.get(reverse("insights:scorecard-new"))
    assert page.status_code == 200 and 'id="cg-scorecard-form"' in page.content.decode()
    answer = county.post(reverse("insights:scorecard-new"), form_body(world))
    assert answer.status_code == 302, answer.content.decode()[:3000]
    template = ScorecardTemplate.objects.get()
    rows = list(template.indicators.values_list("kind", "kpi", "target", "per_event"))
    assert [(k, kpi) for k, kpi, _t, _p in rows] == [
        ("target", "on_time_rate"),
        ("deduction", "reworked"),
    ]
    assert str(rows[0][2]) == "0.7000"  # typed in per cent, stored as a fraction
    # The edit form shows the per cent again, and saves with the version it showed.
    edit = county.get(reverse("insights:scorecard-edit", args=[template.pk])).content.decode()
    target = re.search(r'<input[^>]*name="ind-0-target"[^>]*>', edit)
    assert target is not None and 'value="70"' in target.group(0)
    body = form_body(world, list_size="2", version=str(template.version))
    saved = county.post(reverse("insights:scorecard-edit", args=[template.pk]), body)
    assert saved.status_code == 302, re.findall(
        r"invalid-feedback[^<]*<|alert-danger.*?</div>", saved.content.decode(), re.S
    )
    assert ScorecardTemplate.objects.get().list_size == 2
    stale = county.post(reverse("insights:scorecard-edit", args=[template.pk]), body)
    assert stale.status_code == 409


def test_form_errors_land_on_fields(world: World, people: dict[str, User]) -> None:
    county = client_for(people["county"])
    bad = county.post(
        reverse("insights:scorecard-new"),
        form_body(world, **{"ind-0-target": "170", "area": "999999"}),
    )
    html = bad.content.decode()
    assert bad.status_code == 200
    assert html.count("invalid-feedback") >= 2
    assert not ScorecardTemplate.objects.exists()
    # An error only the action finds (a count without a target) lands on its row.
    bad = county.post(
        reverse("insights:scorecard-new"),
        form_body(world, **{"ind-0-kpi": "avg_handling_hours", "ind-0-target": ""}),
    )
    html = bad.content.decode()
    row = re.search(r'<tr data-row="0">(.*?)</tr>', html, re.S)
    assert row is not None and "invalid-feedback" in row.group(1)
    assert not ScorecardTemplate.objects.exists()


def test_run_page_ranking_lists_and_publish(
    world: World,
    people: dict[str, User],
    month_cases: dict[str, Case],  # noqa: F811
) -> None:
    template = make_template(world)
    county = client_for(people["county"])
    detail = county.get(reverse("insights:scorecard", args=[template.pk]))
    assert detail.status_code == 200 and 'id="cg-run-form"' in detail.content.decode()
    answer = county.post(
        reverse("insights:scorecard-compute", args=[template.pk]), {"month": month()}
    )
    run = ScorecardRun.objects.get()
    assert answer.status_code == 302 and answer["Location"] == reverse(
        "insights:scorecard-run", args=[run.pk]
    )
    html = county.get(answer["Location"]).content.decode()
    a1, a2 = world.div["A1"].path, world.div["A2"].path
    red = re.search(r'id="cg-red-list">(.*?)</ol>', html, re.S)
    black = re.search(r'id="cg-black-list">(.*?)</ol>', html, re.S)
    assert red and f'data-subject="{a1}"' in red.group(1) and a2 not in red.group(1)
    assert black and f'data-subject="{a2}"' in black.group(1)
    ranking = re.findall(r'data-subject="(\d+)" data-rank="(\d+)" data-total="([\d.]+)"', html)
    assert ranking == [(a1, "1", "66.47"), (a2, "2", "20.00")]
    assert 'data-action="publish"' in html

    # Every table exports.
    for table in ("ranking", "red", "black"):
        sheet = county.get(reverse("insights:scorecard-run", args=[run.pk]), {"export": table})
        assert sheet["Content-Type"] == XLSX
    book = load_workbook(
        io.BytesIO(
            county.get(
                reverse("insights:scorecard-run", args=[run.pk]), {"export": "ranking"}
            ).content
        )
    )
    rows = list(book.active.iter_rows(values_only=True))
    assert [r[:3] for r in rows[1:]] == [(1, "市中街道", 66.47), (2, "市西街道", 20.0)]

    # A score and the cases behind it.
    score = run.scores.get(subject_key=a1)
    page = county.get(reverse("insights:scorecard-score", args=[score.pk]), {"kpi": "on_time_rate"})
    html = page.content.decode()
    shown = dict(re.findall(r'data-case="(\d+)" data-counted="(\d)"', html))
    c = month_cases
    assert shown == {
        str(c["evaluated"].pk): "1",
        str(c["closed"].pk): "1",
        str(c["reworked"].pk): "0",
    }
    for export in ("details", "cases"):
        sheet = county.get(reverse("insights:scorecard-score", args=[score.pk]), {"export": export})
        assert sheet["Content-Type"] == XLSX

    # Publish: frozen, no more buttons, the month cannot be run again.
    published = county.post(
        reverse("insights:scorecard-publish", args=[run.pk]), {"version": run.version}
    )
    assert published.status_code == 302
    run.refresh_from_db()
    assert run.status == "published"
    html = county.get(reverse("insights:scorecard-run", args=[run.pk])).content.decode()
    assert 'data-action="publish"' not in html and 'data-status="published"' in html
    county.post(reverse("insights:scorecard-compute", args=[template.pk]), {"month": month()})
    assert ScorecardRun.objects.get().version == run.version  # refused, unchanged
    page = county.get(reverse("insights:scorecard-score", args=[score.pk]), {"kpi": "on_time_rate"})
    assert len(re.findall(r'data-case="\d+"', page.content.decode())) == 3


def test_scope_and_roles(world: World, people: dict[str, User]) -> None:
    county_card = make_template(world)
    town_card = make_template(world, at="A1", level=5)
    from civicgrid.insights import actions

    county_run = actions.do_run_scorecard(county_card, this_month(), actor=None)
    town_run = actions.do_run_scorecard(town_card, this_month(), actor=None)
    township = client_for(people["township"])
    html = township.get(reverse("insights:scorecards")).content.decode()
    assert f'data-template="{town_card.pk}"' in html
    assert f'data-template="{county_card.pk}"' not in html
    assert f'data-run="{town_run.pk}"' in html and f'data-run="{county_run.pk}"' not in html
    for name, pk in (
        ("insights:scorecard", county_card.pk),
        ("insights:scorecard-edit", county_card.pk),
        ("insights:scorecard-run", county_run.pk),
    ):
        assert township.get(reverse(name, args=[pk])).status_code == 404
    assert (
        township.post(reverse("insights:scorecard-publish", args=[county_run.pk])).status_code
        == 404
    )
    score = county_run.scores.first()
    assert score is not None
    assert township.get(reverse("insights:scorecard-score", args=[score.pk])).status_code == 404
    # Leaders and grid leaders read; only centre staff change.
    leader = client_for(people["leader"])
    assert leader.get(reverse("insights:scorecard-run", args=[county_run.pk])).status_code == 200
    assert leader.get(reverse("insights:scorecard-new")).status_code == 403
    assert (
        leader.post(reverse("insights:scorecard-publish", args=[county_run.pk])).status_code == 403
    )
    assert (
        leader.post(
            reverse("insights:scorecard-compute", args=[county_card.pk]), {"month": month()}
        ).status_code
        == 403
    )
    assert client_for(people["grid_leader"]).get(reverse("insights:scorecards")).status_code == 200
    # Roles without figures: the whole page is refused.
    for name in ("handler", "worker", "sysadmin"):
        assert client_for(people[name]).get(reverse("insights:scorecards")).status_code == 403
    assert ScorecardRun.objects.get(pk=county_run.pk).status == "draft"


def test_bad_month_filter_is_a_form_error(world: World, people: dict[str, User]) -> None:
    page = client_for(people["county"]).get(reverse("insights:scorecards"), {"month": "2026-13"})
    assert page.status_code == 200 and 'data-error="month"' in page.content.decode()
    sheet = client_for(people["county"]).get(reverse("insights:scorecards"), {"export": "runs"})
    assert sheet["Content-Type"] == XLSX
