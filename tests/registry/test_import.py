"""Importing registry records from CSV and Excel files (registry/importing.py)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import openpyxl
import pytest
from django.db import connection
from django.utils import timezone

from civicgrid.accounts.roles import Role
from civicgrid.core import jobs
from civicgrid.core.importing import ImportReport
from civicgrid.core.models import ImportJob, JobStatus, ObjectChange
from civicgrid.exchange.models import FeedEntry
from civicgrid.registry import actions
from civicgrid.registry.importing import do_import_records
from civicgrid.registry.models import (
    Building,
    CareTag,
    House,
    Household,
    Organisation,
    Place,
    Resident,
    SearchTerm,
)
from civicgrid.registry.transfer import sheets

from ..world import World
from .conftest import valid_id

HEADER = "grid,name,id_number,phone,road,number,building_no,unit_no,room,household_no,relation\n"


def state() -> dict[str, int]:
    """What an import could write, to compare before and after."""
    return {
        "residents": Resident.objects.count(),
        "buildings": Building.objects.count(),
        "houses": House.objects.count(),
        "households": Household.objects.count(),
        "terms": SearchTerm.objects.count(),
        "history": ObjectChange.objects.count(),
        "feed": FeedEntry.objects.count(),
    }


def run(
    kind: str, data: bytes | str, actor: Any = None, name: str = "f.csv", **kw: Any
) -> ImportReport:
    raw = data.encode() if isinstance(data, str) else data
    return do_import_records(kind, io.BytesIO(raw), name=name, actor=actor, workers=0, **kw)


def people(world: World, n: int = 3, grid: str = "A1a1") -> str:
    code = world.div[grid].code
    rows = [
        f"{code},张小明,{valid_id(seq='101')},13812345678,黄河五路,100,3,2,301,H1,head",
        f"{code},李梅,{valid_id(seq='102')},13900001111,黄河五路,100,3,2,301,H1,spouse",
        f"{code},王芳,{valid_id(seq='104')},,黄河五路,102,,1,101,H2,户主",
        f"{code},赵强,{valid_id(seq='105')},,,,,,,H2,子女",
    ]
    return HEADER + "\n".join(rows[:n]) + "\n"


@pytest.fixture
def worker(world: World) -> Any:
    return world.user(Role.GRID_WORKER, "A1a1")


# --- the happy path ---------------------------------------------------------------------------
def test_residents_with_addresses_and_households(world: World, worker: Any) -> None:
    report = run("resident", people(world, 4), worker)
    assert report.ok and report.written, report
    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    zhang = Resident.objects.get(name="张小明")
    assert zhang.division == world.div["A1a1"]
    assert zhang.house.address == "黄河五路100号3幢2单元301室"
    assert zhang.household.number == "H1" and zhang.household.head_name == "张小明"
    assert zhang.sex == "M" and zhang.birth_date == dt.date(1990, 3, 7)
    assert zhang.phone_masked == "138****5678"
    li = Resident.objects.get(name="李梅")
    assert li.house_id == zhang.house_id and li.household_id == zhang.household_id
    assert li.relation == "spouse"
    # No address on the row: the person lives in the household's house.
    zhao = Resident.objects.get(name="赵强")
    assert zhao.house_id == Resident.objects.get(name="王芳").house_id
    assert zhao.relation == "child"
    assert Building.objects.count() == 2 and House.objects.count() == 2
    assert Household.objects.get(number="H2").head_name == "王芳"
    # Searchable like any record; history and the feed name the importer.
    found = actions.search.match_q("resident", "小明")
    assert found is not None and Resident.objects.filter(found).get() == zhang
    change = ObjectChange.objects.get(object_id=str(zhang.pk), content_type__model="resident")
    assert change.actor == worker and change.action == "import" and change.kind == "create"
    assert change.after["id_number_changed"] is True and change.after["name"] == "张小明"
    entry = FeedEntry.objects.get(record_type="resident", object_id=zhang.pk)
    assert entry.action == "create" and "id_number" in entry.fields
    assert entry.data["id_masked"] == zhang.id_masked and "id_enc" not in entry.data
    assert FeedEntry.objects.filter(record_type__in=["building", "house", "household"]).count() == 6


def test_history_and_feed_rows_match_the_actions(world: World, worker: Any) -> None:
    """The bulk path writes the rows that the single-record actions write (same columns,
    same kinds of values), PostgreSQL's COPY path included."""
    by_action = actions.do_create_record(
        "resident",
        actor=worker,
        data={"name": "钱一", "id_number": valid_id(seq="201"), "grid": world.div["A1a1"].code},
    )
    report = run(
        "resident",
        f"grid,name,id_number\n{world.div['A1a1'].code},钱二,{valid_id(seq='203')}\n",
        worker,
    )
    assert report.written
    imported = Resident.objects.get(name="钱二")
    one = ObjectChange.objects.get(object_id=str(by_action.pk), content_type__model="resident")
    two = ObjectChange.objects.get(object_id=str(imported.pk), content_type__model="resident")
    assert set(one.after) == set(two.after)
    for name in ("actor_id", "actor_name", "division_path", "kind", "content_type_id"):
        assert getattr(one, name) == getattr(two, name)
    assert (two.object_repr == "钱二" and two.request_id == "") or two.request_id
    first = FeedEntry.objects.get(record_type="resident", object_id=by_action.pk)
    second = FeedEntry.objects.get(record_type="resident", object_id=imported.pk)
    assert set(first.data) == set(second.data)
    assert second.seq > first.seq and second.field_classes


def test_reimport_changes_nothing(world: World, worker: Any) -> None:
    data = people(world, 4)
    assert run("resident", data, worker).written
    before = state()
    report = run("resident", data, worker)
    assert report.written and (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert state() == before  # no history, no feed entry, no search terms


def test_a_changed_value_updates_only_that_record(world: World, worker: Any) -> None:
    assert run("resident", people(world, 3), worker).written
    before = state()
    changed = people(world, 3).replace("13900001111", "13700002222")
    report = run("resident", changed, worker)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    li = Resident.objects.get(name="李梅")
    assert li.phone_masked == "137****2222" and li.version == 2
    assert ObjectChange.objects.count() == before["history"] + 1
    entry = FeedEntry.objects.filter(record_type="resident").latest("seq")
    assert entry.object_id == li.pk and entry.action == "update" and entry.fields == ["phone"]
    change = ObjectChange.objects.filter(object_id=str(li.pk)).latest("id")
    assert change.after.get("phone_changed") is True and "13700002222" not in str(change.after)


def test_a_file_without_a_column_keeps_its_values(world: World, worker: Any) -> None:
    assert run("resident", people(world, 2), worker).written
    code = world.div["A1a1"].code
    report = run("resident", f"grid,name,id_number\n{code},张小明,{valid_id(seq='101')}\n", worker)
    assert report.unchanged == 1
    assert Resident.objects.get(name="张小明").phone_masked == "138****5678"


def test_dry_run_writes_nothing(world: World, worker: Any) -> None:
    before = state()
    report = run("resident", people(world, 3), worker, dry_run=True)
    assert report.dry_run and not report.written and report.created == 3
    assert state() == before


# --- files ------------------------------------------------------------------------------------
CHINESE = (
    "网格编码,姓名,公民身份号码,性别,联系电话,人口类型\n{grid},孙丽,{id},女,13812345678,流动人口\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_encodings_and_chinese_headers(world: World, worker: Any, encoding: str) -> None:
    text = CHINESE.format(grid=world.div["A1a1"].code, id=valid_id(birth="19851111", seq="124"))
    report = run("resident", text.encode(encoding), worker)
    assert report.written, report
    sun = Resident.objects.get(name="孙丽")
    assert (sun.sex, sun.residence_type) == ("F", "floating")


def test_xlsx_with_numbers_and_dates(world: World, worker: Any) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["网格编码", "姓名", "证件类型", "公民身份号码", "出生日期", "联系电话"])
    number = valid_id(birth="19800101", seq="131")
    sheet.append(
        [
            int(world.div["A1a1"].code),
            "周杰",
            "居民身份证",
            number,
            dt.datetime(1980, 1, 1),
            13812345678,
        ]
    )
    sheet.append(
        [
            int(world.div["A1a1"].code),
            "吴刚",
            "居民身份证",
            float(valid_id(birth="19800101", seq="133")[:17]),
            None,
            None,
        ]
    )
    target = io.BytesIO()
    book.save(target)
    report = run("resident", target.getvalue(), worker, name="people.xlsx")
    assert not report.written
    assert [(e.line, e.field) for e in report.errors] == [(3, "公民身份号码")]
    assert "format the column as text" in report.errors[0].message
    report = run("resident", target.getvalue(), worker, name="people.xlsx", skip_invalid=True)
    assert report.written and report.created == 1
    assert Resident.objects.get(name="周杰").phone_masked == "138****5678"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_templates_round_trip(world: World, worker: Any, fmt: str) -> None:
    """Each type's template imports as it comes (its example row is a valid record), and
    again without change."""
    grid = world.div["A1a1"].code
    for kind in ("building", "house", "household", "resident", "organisation", "place", "care_tag"):
        body = sheets.template(kind, fmt, grid)
        report = run(kind, body, worker, name=f"t.{fmt}")
        assert report.written and report.created == 1, (kind, report)
        again = run(kind, body, worker, name=f"t.{fmt}")
        assert again.unchanged == 1, (kind, again)
    tag = CareTag.objects.get()
    assert tag.group == "elderly_alone" and tag.resident.name == "张三"
    assert tag.next_visit_due == timezone.localdate()  # due now, as when tagged on a page
    assert Organisation.objects.get().uscc == "91371600MA3C0H0T0A"
    assert Place.objects.get().kind == "gas"


def test_template_filled_in_excel(world: World, worker: Any) -> None:
    """Fill the downloaded template as a person would: replace the example, add rows."""
    book = openpyxl.load_workbook(io.BytesIO(sheets.template("resident", "xlsx")))
    sheet = book.worksheets[0]
    sheet.delete_rows(2)
    code = world.div["A1a2"].code
    sheet.append([code, "冯雪", "", valid_id(seq="142"), "", "", "", "常住", "13800138000"])
    sheet.append([code, "陈晨", "", valid_id(seq="143"), "", "", "", "", ""])
    target = io.BytesIO()
    book.save(target)
    staff = world.user(Role.CENTRE_STAFF, "A")
    report = run("resident", target.getvalue(), staff, name="filled.xlsx")
    assert report.written and report.created == 2, report
    assert Resident.objects.get(name="冯雪").residence_type == "resident"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.csv", "empty"),
        (b"\n\n", "a.csv", "empty"),
        (b"\xff\xfeg\x00", "a.csv", "UTF-16"),
        (b"PK\x03\x04 not a zip", "a.xlsx", "not a readable Excel"),
        (b"\xd0\xcf\x11\xe0 old", "a.xls", ".xls"),
        (b"\x00\x01binary", "a.csv", "binary"),
        ("名字,身份证号\n张三,1\n".encode(), "a.csv", "Unknown column"),
        (b"grid,name\nx,y\n", "a.csv", "Missing column"),
        (b"grid,name,id_number\n\n", "a.csv", "no rows"),
        (b"grid,name,id_number,name\n", "a.csv", "more than once"),
        (
            b"grid,name,id_number\n" + "张三".encode("gb18030") + b"\xff\xff\n",
            "a.csv",
            "neither",
        ),
    ],
)
def test_unreadable_files(world: World, data: bytes, name: str, message: str) -> None:
    before = state()
    report = run("resident", data, name=name)
    assert message in report.fatal and not report.written
    assert state() == before


# --- bad rows ---------------------------------------------------------------------------------
def _mistyped(number: str) -> str:
    return number[:-1] + ("1" if number[-1] != "1" else "2")


def bad_file(world: World) -> str:
    a1a1, b1a1 = world.div["A1a1"].code, world.div["B1a1"].code
    return (
        HEADER
        + "\n".join(
            [
                f"{a1a1},好人,{valid_id(seq='301')},,,,,,,,",
                f"{a1a1},,{_mistyped(valid_id(seq='302'))},12,,,,,,,",  # no name, bad ID and phone
                f"{b1a1},外区,{valid_id(seq='303')},,,,,,,,",  # a grid outside the worker's area
                f"999999999999999,无网格,{valid_id(seq='304')},,,,,,,,",
                f"{a1a1},无门牌,{valid_id(seq='305')},,黄河五路,,,,301,,",
                f"{a1a1},重复,{valid_id(seq='301')},,,,,,,,",  # the document number of line 2
                f"{a1a1},好人二,{valid_id(seq='306')},,,,,,,,其他人",
            ]
        )
        + "\n"
    )


def test_every_bad_row_is_listed_and_nothing_is_written(world: World, worker: Any) -> None:
    before = state()
    report = run("resident", bad_file(world), worker)
    assert not report.written and not report.fatal
    where = {(e.line, e.field) for e in report.errors}
    assert {(3, "name"), (3, "id_number"), (3, "phone")} <= where
    assert (4, "grid") in where and (5, "grid") in where
    assert (6, "number") in where
    assert (7, "id_number") in where and (8, "relation") in where
    repeated = next(e for e in report.errors if e.line == 7)
    assert "line 2" in repeated.message
    outside = next(e for e in report.errors if e.line == 4)
    assert outside.message == "This grid is outside your area."
    assert report.total == 7 and report.valid_rows == 1
    assert state() == before
    # No message repeats a document number.
    assert all(valid_id(seq="302")[:14] not in e.message for e in report.errors)


def test_skip_invalid_writes_the_good_rows(world: World, worker: Any) -> None:
    report = run("resident", bad_file(world), worker, skip_invalid=True)
    assert report.written and report.created == 1
    assert list(Resident.objects.values_list("name", flat=True)) == ["好人"]


def test_a_person_registered_elsewhere(world: World, worker: Any) -> None:
    other = world.user(Role.GRID_WORKER, "B1a1")
    actions.do_create_record(
        "resident",
        actor=other,
        data={"name": "远方", "id_number": valid_id(seq="401"), "grid": world.div["B1a1"].code},
    )
    text = f"grid,name,id_number\n{world.div['A1a1'].code},远方,{valid_id(seq='401')}\n"
    report = run("resident", text, worker)
    assert [e.field for e in report.errors] == ["id_number"]
    assert "outside your area" in report.errors[0].message


def test_a_move_between_grids_takes_the_care_tags(world: World) -> None:
    staff = world.user(Role.CENTRE_STAFF, "A")
    person = actions.do_create_record(
        "resident",
        actor=staff,
        data={"name": "搬家", "id_number": valid_id(seq="411"), "grid": world.div["A1a1"].code},
    )
    tag = actions.do_tag_resident(person, actor=staff, data={"group": "elderly_alone"})
    text = f"grid,name,id_number\n{world.div['A2a1'].code},搬家,{valid_id(seq='411')}\n"
    report = run("resident", text, staff)
    assert report.updated == 1
    person.refresh_from_db()
    tag.refresh_from_db()
    assert person.division == world.div["A2a1"] == tag.division
    moves = FeedEntry.objects.filter(action="move").values_list("record_type", flat=True)
    assert sorted(moves) == ["care_tag", "resident"]


def test_care_tags_by_document_number(world: World, worker: Any) -> None:
    assert run("resident", people(world, 2), worker).written
    text = (
        "公民身份号码,人群类别,风险等级\n"
        f"{valid_id(seq='101')},独居老人,高\n"
        f"{valid_id(seq='999')},残疾人,\n"
    )
    report = run("care_tag", text, worker, skip_invalid=True)
    assert report.created == 1
    assert report.errors[0].line == 3
    assert report.errors[0].message == "No resident in your area has this document number."
    tag = CareTag.objects.get()
    assert (tag.group, tag.risk_level, tag.visit_every_days) == ("elderly_alone", "high", 7)
    assert tag.division == world.div["A1a1"]


# --- a failure while writing ------------------------------------------------------------------
def _refuse_name(name: str) -> str:
    """A real database-level failure for one row: a trigger refusing a resident's name."""
    if connection.vendor == "postgresql":
        return (
            "CREATE FUNCTION refuse_name() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused by test'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql; "
            "CREATE TRIGGER refuse_name BEFORE INSERT ON registry_resident "
            "FOR EACH ROW EXECUTE FUNCTION refuse_name();"
        )
    return (
        "CREATE TRIGGER refuse_name BEFORE INSERT ON registry_resident "
        f"WHEN NEW.name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;"
    )


def test_a_failure_midway_leaves_the_database_as_it_was(world: World, worker: Any) -> None:
    code = world.div["A1a1"].code
    rows = [
        f"{code},人{i:03d},{valid_id(seq=f'{500 + i:03d}')},,黄河路,{i},,,1,,," for i in range(30)
    ]
    rows[25] = rows[25].replace("人025", "拒绝")
    with connection.cursor() as cursor:
        cursor.execute(_refuse_name("拒绝"))
    before = state()
    # Chunks of 10 rows: two chunks are written before the third one fails.
    report = run("resident", HEADER + "\n".join(rows) + "\n", worker, chunk_rows=10)
    assert not report.written and "refused" in report.fatal
    assert state() == before


# --- background jobs and workers --------------------------------------------------------------
def test_import_job_in_the_background(
    world: World, worker: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("people.csv", people(world, 3).encode())
    with django_capture_on_commit_callbacks(execute=True):
        job = jobs.do_create_import_job(
            actor=worker, kind="registry.resident", upload=upload, options={"dry_run": True}
        )
    job.refresh_from_db()
    assert job.status == JobStatus.CHECKED and job.report["created"] == 3
    assert Resident.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        again = jobs.do_repeat_import_job(job, actor=worker, options={"dry_run": False})
    again.refresh_from_db()
    assert again.status == JobStatus.SUCCEEDED and again.total == 3
    assert Resident.objects.count() == 3
    assert ImportJob.objects.filter(kind="registry.resident").count() == 2


def test_cleaning_in_worker_processes(world: World, worker: Any) -> None:
    data = people(world, 4)
    report = do_import_records(
        "resident", io.BytesIO(data.encode()), name="p.csv", actor=worker, workers=2, chunk_rows=2
    )
    assert report.written and report.created == 4, report
    assert Resident.objects.get(name="赵强").house is not None
