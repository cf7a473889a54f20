"""Importing a year's holidays and swapped working days: through the page, the command and
the API alike — a file with bad rows lists every one with its line and writes nothing; a good
file imports, and importing it again changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from civicgrid.accounts.roles import Role
from civicgrid.catalog.models import CalendarDay
from civicgrid.core.models import ObjectChange

from ..conftest import login
from ..geo.helpers import run

pytestmark = pytest.mark.django_db

GOOD = (
    "date,kind,name\n"
    "2027-01-01,holiday,元旦\n"
    "2027-02-06,上班,春节调休\n"
    "2027-02-07,放假,春节\n"
    "\n"
    "2027-02-08,holiday,春节\n"
)
BAD = (
    "date,kind,name\n"
    "2027-01-01,holiday,元旦\n"  # line 2: fine
    "2027-13-01,holiday,x\n"  # line 3: no such date
    "2027-02-06,rest,x\n"  # line 4: unknown kind
    "2027-01-01,workday,again\n"  # line 5: repeated date
    "2026-12-31,holiday,other year\n"  # line 6: outside --year 2027
)
BAD_LINES = [(3, "date"), (4, "kind"), (5, "date"), (6, "date")]


@pytest.fixture
def editor(world):
    return world.user(Role.SYSTEM_ADMIN, "C", name="city-admin")


def _state() -> tuple[int, int]:
    return CalendarDay.objects.count(), ObjectChange.objects.count()


def _page(editor) -> Client:
    client = Client()
    client.force_login(editor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


# --- page -------------------------------------------------------------------------------------
@pytest.mark.parametrize("dry_run", [True, False])
def test_page_lists_every_bad_row_and_writes_nothing(world, editor, dry_run):
    client = _page(editor)
    before = _state()
    upload = SimpleUploadedFile("2027.csv", BAD.encode(), content_type="text/csv")
    data = {"file": upload, "year": "2027", **({"dry_run": "on"} if dry_run else {})}
    response = client.post("/catalog/calendar/import/", data)
    assert response.status_code == 200
    report = response.context["report"]
    assert [(e.line, e.field) for e in report.errors] == BAD_LINES
    page = response.content.decode()
    assert "4 bad rows: nothing was written." in page
    assert "The date appears again (first on line 2)." in page
    assert response.context["pending"] is None  # no "import now" for a bad file
    assert _state() == before


def test_page_checks_then_imports_then_changes_nothing_the_second_time(world, editor):
    client = _page(editor)
    before = _state()
    upload = SimpleUploadedFile("2027.csv", GOOD.encode("gb18030"), content_type="text/csv")
    checked = client.post("/catalog/calendar/import/", {"file": upload, "dry_run": "on"})
    assert checked.status_code == 200
    assert checked.context["report"].ok and _state() == before
    pending = checked.context["pending"]
    assert pending["text"].startswith("date,kind,name") and "春节调休" in pending["text"]
    assert "Import now" in checked.content.decode()

    # "Import now" posts the checked rows back (the hidden text), without the dry-run flag.
    done = client.post("/catalog/calendar/import/", {"text": pending["text"]})
    assert done.status_code == 302 and done["Location"].endswith("?year=2027")
    days = {
        d.date.isoformat(): (d.kind, d.name) for d in CalendarDay.objects.filter(date__year=2027)
    }
    assert days == {
        "2027-01-01": ("holiday", "元旦"),
        "2027-02-06": ("workday", "春节调休"),
        "2027-02-07": ("holiday", "春节"),
        "2027-02-08": ("holiday", "春节"),
    }
    written = _state()
    again = client.post("/catalog/calendar/import/", {"text": pending["text"]}, follow=True)
    assert "0 created, 0 updated, 4 unchanged" in again.content.decode()
    assert _state()[0] == written[0]
    assert ObjectChange.objects.filter(action="import_calendar").count() == 4


def test_page_needs_a_file_or_rows(world, editor):
    response = _page(editor).post("/catalog/calendar/import/", {"dry_run": "on"})
    assert response.context["import_form"].errors == {
        "file": ["Choose a CSV file, or paste its rows below."]
    }
    binary = SimpleUploadedFile("x.xlsx", b"PK\x03\x04\x00\x00binary", content_type="text/csv")
    response = _page(editor).post("/catalog/calendar/import/", {"file": binary})
    assert "binary" in response.context["import_form"].errors["file"][0]


def test_import_replaces_the_year_unless_asked_to_keep(world, editor):
    client = _page(editor)
    client.post("/catalog/calendar/import/", {"text": GOOD})
    client.post("/catalog/calendar/import/", {"text": "2027-10-01,holiday,国庆节", "keep": "on"})
    assert CalendarDay.objects.filter(date__year=2027).count() == 5
    client.post("/catalog/calendar/import/", {"text": "2027-10-01,holiday,国庆节"})
    assert list(CalendarDay.objects.filter(date__year=2027).values_list("date", flat=True)) == [
        dt.date(2027, 10, 1)
    ]
    assert CalendarDay.objects.filter(date__year=2026).exists()  # other years untouched


# --- command ----------------------------------------------------------------------------------
def test_command_lists_every_bad_row_and_exits_non_zero(world, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD, encoding="utf-8")
    before = _state()
    result = run("import_calendar", path, "--year", "2027")
    assert not result.ok
    assert "4 bad row(s) of 5: nothing was written." in result.error
    for line, column in BAD_LINES:
        assert f"line {line} [{column}]" in result.err
    assert _state() == before
    dry = run("import_calendar", path, "--dry-run")
    assert not dry.ok and "line 3 [date]" in dry.err and "line 6" not in dry.err


def test_command_imports_and_is_idempotent(world, tmp_path):
    path = tmp_path / "2027.csv"
    path.write_text(GOOD, encoding="utf-8-sig")
    dry = run("import_calendar", path, "--dry-run")
    assert dry.ok and "all 4 row(s) are valid" in dry.out
    assert not CalendarDay.objects.filter(date__year=2027).exists()
    first = run("import_calendar", path, "--year", "2027")
    assert first.ok, first.text
    assert "Created 4, updated 0, unchanged 0." in first.out
    second = run("import_calendar", path)
    assert second.ok and "Created 0, updated 0, unchanged 4." in second.out
    path.write_text(GOOD.replace("元旦", "元旦节"), encoding="utf-8")
    third = run("import_calendar", path, "--keep")
    assert "Created 0, updated 1, unchanged 3." in third.out


def test_command_refuses_missing_and_empty_files(world, tmp_path):
    assert "No such file" in run("import_calendar", tmp_path / "none.csv").error
    empty = tmp_path / "empty.csv"
    empty.write_text("date,kind,name\n", encoding="utf-8")
    assert run("import_calendar", empty).error == "The file lists no days."


# --- API --------------------------------------------------------------------------------------
def test_api_lists_every_bad_row_and_writes_nothing(world, editor, api):
    login(api, editor)
    before = _state()
    upload = SimpleUploadedFile("bad.csv", BAD.encode(), content_type="text/csv")
    response = api.post(
        "/api/v1/calendar/import/", {"file": upload, "year": 2027}, format="multipart"
    )
    assert response.status_code == 400
    assert [(e["line"], e["field"]) for e in response.json()["errors"]] == BAD_LINES
    assert _state() == before


def test_api_imports_and_is_idempotent(world, editor, api):
    login(api, editor)
    for expected in ({"created": 4, "unchanged": 0}, {"created": 0, "unchanged": 4}):
        upload = SimpleUploadedFile("2027.csv", GOOD.encode(), content_type="text/csv")
        response = api.post("/api/v1/calendar/import/", {"file": upload}, format="multipart")
        assert response.status_code == 200, response.content
        body = response.json()
        assert (body["created"], body["unchanged"]) == (expected["created"], expected["unchanged"])
    assert CalendarDay.objects.filter(date__year=2027).count() == 4


def test_api_refuses_non_editors(world, api):
    login(api, world.user(Role.SYSTEM_ADMIN, "A"))
    upload = SimpleUploadedFile("2027.csv", GOOD.encode(), content_type="text/csv")
    response = api.post("/api/v1/calendar/import/", {"file": upload}, format="multipart")
    assert response.status_code == 403
    assert not CalendarDay.objects.filter(date__year=2027).exists()
