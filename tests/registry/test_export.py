"""Exporting registry lists (registry/exporting.py) and the import and export pages."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client

from civicgrid.accounts.roles import Role
from civicgrid.core.models import AccessLog, ExportJob, ImportJob, JobStatus
from civicgrid.registry import exporting
from civicgrid.registry.models import Resident

from ..world import PASSWORD, World
from .conftest import valid_id
from .test_import import people, run

NUMBER = valid_id(seq="101")


@pytest.fixture
def loaded(world: World) -> dict[str, Any]:
    worker = world.user(Role.GRID_WORKER, "A1a1")
    staff = world.user(Role.CENTRE_STAFF, "A")
    assert run("resident", people(world, 4), worker).written
    return {"worker": worker, "staff": staff}


def export(user: Any, fmt: str = "csv", **params: str) -> tuple[bytes, int]:
    target = io.BytesIO()
    request = exporting.ExportRequest("resident", params, fmt)
    count = exporting.do_export(request, user, target)
    return target.getvalue(), count


def csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs for UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_masked_csv(world: World, loaded: dict[str, Any]) -> None:
    body, count = export(loaded["worker"])
    assert count == 4
    rows = csv_rows(body)
    header = rows[0]
    assert header[:4] == [
        "*grid code(grid)",
        "*name(name)",
        "document type(document_type)",
        "*document number(id_number)",
    ]
    zhang = next(r for r in rows if r[1] == "张小明")
    position = header.index("*document number(id_number)")
    # A tab keeps Excel from turning the number into 3.7E+17; an import strips it again.
    assert zhang[position] == "\t" + NUMBER[:4] + "*" * 10 + NUMBER[-4:]
    assert zhang[header.index("phone(phone)")] == "\t138****5678"
    assert zhang[header.index("household number(household_no)")] == "\tH1"
    assert NUMBER.encode() not in body and b"13812345678" not in body
    log = AccessLog.objects.get(action="export")
    assert log.actor == loaded["worker"] and log.fields == [] and log.reason == ""
    assert log.object_repr.startswith("4 · csv") and log.content_type.model == "resident"


def test_masked_xlsx_numbers_are_text(world: World, loaded: dict[str, Any]) -> None:
    body, _count = export(loaded["worker"], "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    header = [c.value for c in sheet[1]]
    column = header.index("*document number(id_number)") + 1
    cells = [sheet.cell(row=r, column=column) for r in range(2, 6)]
    assert all(c.data_type == "s" and c.number_format == "@" for c in cells)
    assert {c.value for c in cells} == {
        Resident.objects.get(name=n).id_masked for n in ("张小明", "李梅", "王芳", "赵强")
    }
    grid = sheet.cell(row=2, column=1)
    assert grid.value == world.div["A1a1"].code and grid.data_type == "s"


def test_filters_of_the_list(world: World, loaded: dict[str, Any]) -> None:
    _body, count = export(loaded["worker"], q="张小明")
    assert count == 1
    _body, count = export(loaded["staff"], under=world.div["A1b1"].code)
    assert count == 0
    with pytest.raises(ValidationError) as error:
        export(loaded["worker"], under=world.div["B1a1"].code)
    assert "under" in error.value.message_dict
    log = AccessLog.objects.filter(action="export").latest("id")
    assert "under=" + world.div["A1b1"].code in log.object_repr


def test_a_searched_number_is_masked_in_the_log(world: World, loaded: dict[str, Any]) -> None:
    _body, count = export(loaded["worker"], q=NUMBER)
    assert count == 1
    log = AccessLog.objects.get(action="export")
    assert NUMBER not in log.object_repr and NUMBER[:4] in log.object_repr


def test_unmasked_export_is_logged_with_its_reason(world: World, loaded: dict[str, Any]) -> None:
    staff = loaded["staff"]
    request = exporting.ExportRequest("resident", {}, "csv", unmask=True, reason="核对低保名单")
    target = io.BytesIO()
    exporting.do_export(request, staff, target)
    assert NUMBER.encode() in target.getvalue() and b"+8613812345678" in target.getvalue()
    log = AccessLog.objects.get(action="export")
    assert log.fields == ["id_number", "phone"] and log.reason == "核对低保名单"
    with pytest.raises(ValidationError):
        exporting.do_export(
            exporting.ExportRequest("resident", {}, "csv", unmask=True), staff, io.BytesIO()
        )
    with pytest.raises(PermissionDenied):
        exporting.do_export(request, loaded["worker"], io.BytesIO())  # no right to unmask
    assert AccessLog.objects.filter(action="export").count() == 1


def test_an_edited_export_imports_again(world: World, loaded: dict[str, Any]) -> None:
    request = exporting.ExportRequest("resident", {}, "csv", unmask=True, reason="更新电话")
    target = io.BytesIO()
    exporting.do_export(request, loaded["staff"], target)
    edited = target.getvalue().replace(b"+8613900001111", b"13700002222")
    report = run("resident", edited, loaded["staff"])
    assert (report.created, report.updated, report.unchanged) == (0, 1, 3), report
    assert Resident.objects.get(name="李梅").phone_masked == "137****2222"


def test_background_export(
    world: World, loaded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    request = exporting.ExportRequest("resident", {"q": "张"}, "xlsx")
    with django_capture_on_commit_callbacks(execute=True):
        job = exporting.do_create_export_job(request, loaded["worker"])
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.total == 1
    with job.file.open("rb") as handle:
        sheet = openpyxl.load_workbook(handle).worksheets[0]
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["张小明"]
    assert AccessLog.objects.filter(action="export", actor=loaded["worker"]).count() == 1


# --- pages ------------------------------------------------------------------------------------
def client_for(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_export_page_downloads_a_short_list(world: World, loaded: dict[str, Any]) -> None:
    client = client_for(loaded["worker"])
    page = client.get("/registry/residents/export/?q=张")
    assert page.status_code == 200 and b'data-count="1"' in page.content
    assert b'name="unmask"' not in page.content  # a grid worker may not unmask
    response = client.post("/registry/residents/export/?q=张", {"format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = csv_rows(b"".join(response.streaming_content))
    assert [r[1] for r in rows[1:]] == ["张小明"]


def test_export_page_unmasks_with_a_reason(
    world: World, loaded: dict[str, Any], leak_scanner: Any
) -> None:
    client = client_for(loaded["staff"])
    refused = client.post("/registry/residents/export/", {"format": "csv", "unmask": "on"})
    assert refused.status_code == 200 and b"is-invalid" in refused.content
    with leak_scanner.allowing():
        response = client.post(
            "/registry/residents/export/", {"format": "xlsx", "unmask": "on", "reason": "入户核查"}
        )
        body = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(body)).worksheets[0]
    numbers = {row[3] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert NUMBER in numbers
    log = AccessLog.objects.get(action="export")
    assert log.reason == "入户核查" and log.fields == ["id_number", "phone"]


def test_long_lists_export_in_the_background(
    world: World,
    loaded: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(exporting, "EXPORT_THRESHOLD", 2)
    client = client_for(loaded["worker"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/registry/residents/export/", {"format": "csv"})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/registry/exports/{job.pk}/"
    page = client.get(response["Location"])
    assert b'data-status="succeeded"' in page.content and b"cg-download" in page.content
    download = client.get(f"/registry/exports/{job.pk}/download/")
    assert len(csv_rows(b"".join(download.streaming_content))) == 5
    # Nobody else sees the job or its file.
    other = client_for(loaded["staff"])
    assert other.get(f"/registry/exports/{job.pk}/").status_code == 404
    assert other.get(f"/registry/exports/{job.pk}/download/").status_code == 404


def test_import_pages(world: World, django_capture_on_commit_callbacks: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    worker = world.user(Role.GRID_WORKER, "A1a1")
    client = client_for(worker)
    page = client.get("/registry/import/")
    assert page.status_code == 200 and b'value="registry.resident"' in page.content
    template = client.get("/registry/residents/template.xlsx")
    assert template.status_code == 200
    assert (
        openpyxl.load_workbook(io.BytesIO(template.content)).worksheets[0]["A2"].value
        == world.div["A1a1"].code
    )
    bad = people(world, 2) + f"{world.div['B1a1'].code},外人,{valid_id(seq='777')},,,,,,,,\n"
    upload = SimpleUploadedFile("people.csv", bad.encode())
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/registry/import/", {"kind": "registry.resident", "file": upload, "dry_run": "on"}
        )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/registry/import/{job.pk}/"
    page = client.get(response["Location"])
    assert b'data-status="checked"' in page.content and b'data-line="4"' in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/registry/import/{job.pk}/repeat/", {"skip_invalid": "1"})
    again = ImportJob.objects.latest("id")
    assert again.status == JobStatus.SUCCEEDED and Resident.objects.count() == 2
    # Another area's worker does not see these jobs; a leader may not import.
    stranger = client_for(world.user(Role.GRID_WORKER, "B1a1"))
    assert stranger.get(f"/registry/import/{job.pk}/").status_code == 404
    leader = client_for(world.user(Role.LEADER, "A"))
    assert leader.get("/registry/import/").status_code == 403


def test_care_tags_export_with_the_care_list_filters(world: World, loaded: dict[str, Any]) -> None:
    text = (
        "公民身份号码,人群类别,风险等级\n"
        + f"{NUMBER},独居老人,高\n{valid_id(seq='102')},残疾人,低\n"
    )
    assert run("care_tag", text, loaded["worker"]).created == 2
    target = io.BytesIO()
    request = exporting.ExportRequest("care_tag", {"group": "elderly_alone", "risk": "high"})
    assert exporting.do_export(request, loaded["worker"], target) == 1
    rows = csv_rows(target.getvalue())
    header = rows[0]
    assert rows[1][header.index("*group(group)")] == "elderly living alone"
    assert rows[1][header.index("name(name)")] == "张小明"
    assert NUMBER.encode() not in target.getvalue()
    with pytest.raises(ValidationError) as error:
        exporting.do_export(
            exporting.ExportRequest("care_tag", {"due": "someday"}), loaded["worker"], io.BytesIO()
        )
    assert "due" in error.value.message_dict


def test_old_export_files_are_deleted(
    world: World, loaded: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    import datetime as dt

    from django.utils import timezone

    request = exporting.ExportRequest("resident", {}, "csv")
    with django_capture_on_commit_callbacks(execute=True):
        old = exporting.do_create_export_job(request, loaded["worker"])
    old.refresh_from_db()
    path = old.file.path
    ExportJob.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        exporting.do_create_export_job(request, loaded["worker"])
    old.refresh_from_db()
    assert not old.file and not __import__("os").path.exists(path)
    client = client_for(loaded["worker"])
    assert client.get(f"/registry/exports/{old.pk}/download/").status_code == 404
    assert b"cg-download" not in client.get(f"/registry/exports/{old.pk}/").content


@pytest.mark.parametrize(
    "slug", ["residents", "households", "houses", "buildings", "organisations", "places", "care"]
)
def test_templates_of_every_type(world: World, slug: str) -> None:
    client = client_for(world.user(Role.GRID_WORKER, "A1a1"))
    body = client.get(f"/registry/{slug}/template.csv")
    assert body.status_code == 200 and body.content.startswith(b"\xef\xbb\xbf")
    assert len(csv_rows(body.content)) == 2
    book = client.get(f"/registry/{slug}/template.xlsx")
    sheets = openpyxl.load_workbook(io.BytesIO(book.content)).worksheets
    assert len(sheets) == 2 and sheets[0].max_row == 2
    assert client.get(f"/registry/{slug}/template.pdf").status_code == 404
