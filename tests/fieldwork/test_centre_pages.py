"""The centre side of field work: the duties page (filters, form errors, Excel), a grid worker's
page, the grid card with its tracks, photos, the API and the menu — each scoped so that a
township sees its own subtree and nothing else."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from html import unescape
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.fieldwork.models import DutyPhoto, Patrol

from ..world import World
from .conftest import jpeg
from .test_duties import Field, send, walk, work  # noqa: F401

pytestmark = pytest.mark.django_db

DUTIES = "/field/duties/"


def page(user: User, *, english: bool = True) -> Client:
    client = Client()
    if english:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.force_login(user)
    return client


def rows_of(html: str) -> list[str]:
    """The data-worker of each row of the duties table ('' for a grid with nobody)."""
    body = html[html.index('id="cg-duties"') :]
    body = body[: body.index("</tbody>")]
    return re.findall(r'<tr data-worker="(\d*)"', body)


def figure(html: str, name: str) -> str:
    start = html.index(f'data-figure="{name}"')
    match = re.search(r'class="cg-field-value">(.*?)</div>', html[start:], re.S)
    assert match is not None
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def layers_of(html: str) -> dict[str, Any]:
    """What the page hands centre.js to draw."""
    found = re.search(
        r'<script id="cg-field-layers" type="application/json">(.*?)</script>', html, re.S
    )
    assert found is not None
    return json.loads(found.group(1))


def test_a_township_sees_its_grid_workers_for_a_month(work: Field) -> None:  # noqa: F811
    p = work.people
    response = page(p["township"]).get(DUTIES, {"month": work.month})
    assert response.status_code == 200
    html = response.content.decode()
    assert set(rows_of(html)) == {
        str(p["worker"].pk),
        str(p["worker_a1a2"].pk),
        str(p["community"].pk),  # helping out in A1a1
        "",  # A1b1: nobody assigned
    }
    assert str(p["worker_b"].pk) not in rows_of(html)
    assert figure(html, "workers") == "2"
    assert figure(html, "patrols") == "3"
    assert figure(html, "no_patrol") == "1"
    assert figure(html, "unstaffed") == "1"
    assert "helping out" in html
    # Each worker links to their page for the same month.
    assert f"/field/workers/{p['worker'].pk}/?month={work.month}" in unescape(html)
    # Only the workers who did not patrol.
    html = page(p["township"]).get(DUTIES, {"month": work.month, "show": "no_patrol"})
    assert rows_of(html.content.decode()) == [str(p["worker_a1a2"].pk)]
    html = page(p["township"]).get(DUTIES, {"month": work.month, "show": "unstaffed"})
    assert rows_of(html.content.decode()) == [""]
    # A subtree: one community.
    response = page(p["township"]).get(
        DUTIES, {"month": work.month, "under": work.world.div["A1b"].code}
    )
    assert rows_of(response.content.decode()) == [""]


def test_the_page_speaks_chinese_by_default(work: Field) -> None:  # noqa: F811
    response = page(work.people["township"], english=False).get(
        DUTIES, {"month": work.month, "under": "371699999"}
    )
    html = response.content.decode()
    assert '<html lang="zh-hans">' in html
    assert "您的管辖范围内没有此代码的区划。" in html  # the under field's error, in Chinese


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"month": "2026-13"}, "month"),
        ({"month": "soon"}, "month"),
        ({"under": "A1"}, "under"),
        ({"under": "371699999"}, "under"),
        ({"show": "everything"}, "show"),
    ],
)
def test_bad_filters_are_form_errors_naming_the_field(
    people: dict[str, User],
    world: World,
    params: dict[str, str],
    field: str,
) -> None:
    response = page(people["township"]).get(DUTIES, params)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'data-error="{field}"' in html
    assert 'id="cg-duties"' not in html


def test_a_division_outside_the_area_reads_like_an_unknown_one(
    people: dict[str, User],
    world: World,
) -> None:
    client = page(people["township"])
    outside = client.get(DUTIES, {"under": world.div["B1"].code}).content.decode()
    unknown = client.get(DUTIES, {"under": "371699999"}).content.decode()

    def message(html: str) -> str:
        start = html.index('data-error="under"')
        return html[start : html.index("</div>", start)]

    assert message(outside) == message(unknown)
    assert world.div["B1"].name not in outside


def test_excel_export(work: Field) -> None:  # noqa: F811
    p = work.people
    response = page(p["township"]).get(DUTIES, {"month": work.month, "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert work.month in unescape(response["Content-Disposition"])
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    header = rows[0]
    assert header[:3] == ["Grid code", "Grid", "Grid worker"]
    by_user = {r[3]: dict(zip(header, r, strict=True)) for r in rows[1:-1]}
    mine = by_user["worker"]
    assert (mine["Visits done"], mine["Patrols"], mine["Patrol hours"]) == (2, 3, 2.75)
    assert mine["Check-ins outside the grid"] == 1
    assert by_user["community"]["Visits due"] is None
    total = dict(zip(header, rows[-1], strict=True))
    assert total["Grid code"] == work.world.div["A1"].code
    assert (total["Visits done"], total["Patrols"], total["Check-ins"]) == (3, 3, 3)


def test_roles_without_field_work_are_refused_and_see_no_menu_item(
    people: dict[str, User],
    world: World,
) -> None:
    handler = page(people["handler"])
    assert handler.get(DUTIES).status_code == 403
    assert handler.get(f"/field/workers/{people['worker'].pk}/").status_code == 403
    home = handler.get("/").content.decode()
    assert 'href="/field/duties/"' not in home
    township = page(people["township"]).get("/").content.decode()
    assert 'href="/field/duties/"' in township
    assert 'href="/field/"' not in township  # the app is for those who record field work
    # A grid leader of a community (not of a grid) reads field work but records none.
    leader = page(people["grid_leader"]).get("/").content.decode()
    assert 'href="/field/duties/"' in leader and 'href="/field/"' not in leader
    worker = page(people["worker"]).get(DUTIES).content.decode()
    assert 'href="/field/"' in worker and 'href="/field/duties/"' in worker
    # One active item: the duties page, not the app whose address it begins with.
    assert re.search(r'class="nav-link active" href="/field/duties/"', worker)
    assert not re.search(r'class="nav-link active" href="/field/"', worker)


def test_a_grid_workers_page(work: Field) -> None:  # noqa: F811
    p = work.people
    url = f"/field/workers/{p['worker'].pk}/"
    response = page(p["township"]).get(url, {"month": work.month})
    assert response.status_code == 200
    html = response.content.decode()
    assert "身体状况良好" in html  # a visit's note
    assert "王大爷" in html  # whom the care visits were for
    layers = layers_of(html)
    assert len(layers["tracks"]) == 3
    assert all(len(t["points"]) >= 2 for t in layers["tracks"])
    assert len(layers["checkIns"]) == 2
    assert [g["name"] for g in layers["grids"]] == [work.world.div["A1a1"].name]
    assert 'id="cg-overdue"' in html  # the weekly tag is overdue now
    # The community centre may follow the worker too; the other county may not (404).
    assert page(p["community"]).get(url).status_code == 200
    assert page(p["county_b"]).get(url).status_code == 404
    assert page(p["township_a2"]).get(url).status_code == 404
    # A bad month is a form error; an unknown person a 404.
    bad = page(p["township"]).get(url, {"month": "2026-00"})
    assert bad.status_code == 400 and 'data-error="month"' in bad.content.decode()
    assert page(p["township"]).get("/field/workers/999999/").status_code == 404


def test_the_grid_card_draws_this_months_tracks(work: Field) -> None:  # noqa: F811
    p = work.people
    now = timezone.now()
    month_start = timezone.make_aware(
        dt.datetime.combine(timezone.localdate().replace(day=1), dt.time.min)
    )
    start = max(now - dt.timedelta(minutes=40), month_start + dt.timedelta(seconds=1))
    minutes = max(1, int((now - start).total_seconds() // 60))
    send(
        "patrol",
        p["worker"],
        started_at=start,
        ended_at=start + dt.timedelta(minutes=minutes),
        track=walk("A1a1", start, minutes),
        note="",
    )
    grid = work.world.div["A1a1"]
    response = page(p["township"]).get(f"/divisions/{grid.pk}/")
    html = response.content.decode()
    assert 'id="cg-field-card"' in html
    layers = layers_of(html)
    assert layers["holder"] == "cg-map"
    assert len(layers["tracks"]) == 1
    assert "fieldwork/centre.js" in html
    # Recent records, whatever the month.
    card = html[html.index('id="cg-field-card"') :]
    assert "王大爷" in card  # the last care visits
    # A community (not grid) page has no card; a role without field work sees none.
    assert (
        'id="cg-field-card"'
        not in page(p["township"]).get(f"/divisions/{work.world.div['A1a'].pk}/").content.decode()
    )
    handler = page(p["handler"]).get(f"/divisions/{grid.pk}/")
    assert handler.status_code == 200
    assert 'id="cg-field-card"' not in handler.content.decode()


def test_photos_link_to_the_scoped_file_view(work: Field) -> None:  # noqa: F811
    p = work.people
    patrol = Patrol.objects.filter(worker=p["worker"]).first()
    assert patrol is not None
    data = jpeg()
    photo = DutyPhoto(
        patrol=patrol,
        division_path=patrol.division_path,
        client_uuid=uuid.uuid4(),
        size=len(data),
        sha256="0" * 64,
    )
    photo.file.save("patrol.jpg", ContentFile(data), save=False)
    photo.save()
    url = f"/api/v1/field/photos/{photo.pk}/file/"
    html = page(p["township"]).get(f"/field/workers/{p['worker'].pk}/", {"month": work.month})
    assert f'href="{url}"' in html.content.decode()
    response = page(p["township"]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    assert page(p["county_b"]).get(url).status_code == 404


# --- the API ------------------------------------------------------------------------------------
def api(user: User) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.force_authenticate(user=user)
    return client


def test_the_duties_api(work: Field) -> None:  # noqa: F811
    p = work.people
    response = api(p["township"]).get("/api/v1/field/duties/", {"month": work.month})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["area"]["code"] == work.world.div["A1"].code
    assert body["month"] == work.month
    assert body["total"]["patrol_minutes"] == 165
    assert body["total"]["workers_without_patrol"] == 1
    mine = next(r for r in body["results"] if r["worker"] and r["worker"]["username"] == "worker")
    assert (mine["visits_done"], mine["visits"], mine["patrols"]) == (2, 3, 3)
    assert mine["grid"]["code"] == work.world.div["A1a1"].code
    assert mine["last_activity"].endswith("+08:00")
    assert any(r["worker"] is None for r in body["results"])
    only = api(p["township"]).get(
        "/api/v1/field/duties/", {"month": work.month, "worker": p["worker"].pk}
    )
    assert [r["worker"]["id"] for r in only.json()["results"]] == [p["worker"].pk]


@pytest.mark.parametrize(
    ("params", "fields"),
    [
        ({"month": "2026-13"}, {"month"}),
        ({"under": "371699999"}, {"under"}),
        ({"under": "x", "worker": "me", "month": "13"}, {"under", "worker", "month"}),
    ],
)
def test_the_api_names_bad_parameters(
    people: dict[str, User],
    world: World,
    params: dict[str, str],
    fields: set[str],
) -> None:
    response = api(people["township"]).get("/api/v1/field/duties/", params)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields


def test_the_api_is_scoped_and_documented(
    people: dict[str, User],
    world: World,
) -> None:
    outside = api(people["township"]).get("/api/v1/field/duties/", {"under": world.div["B"].code})
    assert outside.status_code == 400
    assert api(people["handler"]).get("/api/v1/field/duties/").status_code == 403
    assert APIClient().get("/api/v1/field/duties/").status_code in {401, 403}
    schema = api(people["township"]).get("/api/v1/schema/", {"format": "json"}).json()
    assert "/api/v1/field/duties/" in schema["paths"]
