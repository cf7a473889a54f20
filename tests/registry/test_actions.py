from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from civicgrid.accounts.roles import Role
from civicgrid.core.exceptions import Conflict
from civicgrid.core.models import AccessLog, ObjectChange
from civicgrid.exchange.models import FeedEntry
from civicgrid.registry import actions, selectors
from civicgrid.registry.models import Resident

from .conftest import valid_id


def _resident(reg: dict[str, Any], **extra: Any) -> Resident:
    data = {
        "name": "张小明",
        "id_number": valid_id(),
        "phone": "13812345678",
        "household": reg["household"],
        "relation": "head",
        **extra,
    }
    obj = actions.do_create_record("resident", actor=reg["worker"], data=data)
    assert isinstance(obj, Resident)
    return obj


def test_resident_numbers_are_encrypted_indexed_and_masked(reg: dict[str, Any]) -> None:
    person = _resident(reg)
    number = valid_id()
    assert person.division == reg["house"].division
    assert person.birth_date.isoformat() == "1990-03-07"
    assert person.sex == "M"
    assert person.id_masked == number[:4] + "*" * 10 + number[-4:]
    assert person.phone_masked == "138****5678"
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM registry_resident")
        rows = cursor.fetchall()
    flat = " ".join(str(v) for row in rows for v in row)
    assert number not in flat and "13812345678" not in flat
    assert number[6:14] not in person.id_masked
    # History never holds a clear number either.
    changes = " ".join(str(c.after) for c in ObjectChange.objects.all())
    assert number not in changes and "13812345678" not in changes
    reg["household"].refresh_from_db()
    assert reg["household"].head_name == "张小明"


def test_one_person_per_document_number(reg: dict[str, Any], world: Any) -> None:
    _resident(reg)
    with pytest.raises(ValidationError) as error:
        _resident(reg, name="张晓明", id_number=valid_id().lower())
    assert "id_number" in error.value.message_dict
    assert Resident.objects.count() == 1


def test_bad_input_names_every_field(reg: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as error:
        actions.do_create_record(
            "resident",
            actor=reg["worker"],
            data={"name": "", "id_number": valid_id()[:-1] + "0", "phone": "12", "grid": "x"},
        )
    assert {"name", "id_number", "phone", "grid"} <= set(error.value.message_dict)


def test_update_with_stale_version_is_a_conflict(reg: dict[str, Any]) -> None:
    person = _resident(reg)
    updated = actions.do_update_record(
        person, actor=reg["worker"], version=person.version, data={"phone": "13900001111"}
    )
    assert updated.version == 2 and updated.phone_masked == "139****1111"
    with pytest.raises(Conflict):
        actions.do_update_record(person, actor=reg["worker"], version=1, data={"note": "x"})


def test_move_between_grids_is_a_move_with_history(reg: dict[str, Any], world: Any) -> None:
    person = _resident(reg)
    actions.do_tag_resident(person, actor=reg["worker"], data={"group": "elderly_alone"})
    leader = world.user(Role.CENTRE_STAFF, "A1")
    moved = actions.do_update_record(
        person,
        actor=leader,
        version=person.version,
        data={"household": "", "house": "", "grid": world.div["A1b1"].code},
    )
    assert moved.division_path == world.div["A1b1"].path
    assert Resident.objects.count() == 1
    assert moved.care_tags.get().division_path == world.div["A1b1"].path
    actions_seen = list(selectors.history(moved).values_list("action", flat=True))
    assert actions_seen[0] == "move" and "create" in actions_seen
    # The grid worker of the old grid no longer reaches the record.
    with pytest.raises(PermissionDenied):
        actions.do_update_record(moved, actor=reg["worker"], version=None, data={"note": "x"})


def test_worker_cannot_register_outside_own_grid(reg: dict[str, Any], world: Any) -> None:
    with pytest.raises(ValidationError) as error:
        actions.do_create_record(
            "building",
            actor=reg["worker"],
            data={"grid": world.div["B1a1"].code, "road": "x", "number": "1"},
        )
    assert "grid" in error.value.message_dict


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("张小明", True),
        ("小明", True),
        ("张", True),
        ("明小", False),
        ("zxm", True),
        ("zhangxiaoming", True),
        ("xiaom", True),
        ("zhangsan", False),
        ("黄河五路", True),
    ],
)
def test_search_by_name_pinyin_initials_address(
    reg: dict[str, Any], query: str, found: bool
) -> None:
    _resident(reg)
    result = selectors.find(selectors.visible("resident", reg["worker"]), query)
    assert result.exists() is found


def test_search_two_character_name_and_exact_numbers(reg: dict[str, Any]) -> None:
    _resident(reg, name="王芳", id_number=valid_id(seq="456"), phone="13700002222")
    _resident(reg, name="王芳芳", id_number=valid_id(seq="457"), phone="", relation="child")
    visible = selectors.visible("resident", reg["worker"])
    assert set(selectors.find(visible, "王芳").values_list("name", flat=True)) == {"王芳", "王芳芳"}
    assert list(selectors.find(visible, valid_id(seq="456")).values_list("name", flat=True)) == [
        "王芳"
    ]
    assert list(selectors.find(visible, "137 0000 2222").values_list("name", flat=True)) == ["王芳"]


def test_unmask_is_logged_and_needs_a_reason(reg: dict[str, Any], world: Any) -> None:
    person = _resident(reg)
    with pytest.raises(PermissionDenied):
        actions.unmask(person, actor=reg["worker"], fields=["id_number"], reason="check")
    staff = world.user(Role.CENTRE_STAFF, "A1")
    with pytest.raises(ValidationError):
        actions.unmask(person, actor=staff, fields=["id_number"], reason=" ")
    shown = actions.unmask(person, actor=staff, fields=["id_number", "phone"], reason="dispute")
    assert shown == {"id_number": valid_id(), "phone": "+8613812345678"}
    log = AccessLog.objects.get(action="unmask")
    assert log.reason == "dispute" and log.fields == ["id_number", "phone"]


def test_reading_sensitive_group_member_is_logged(reg: dict[str, Any]) -> None:
    person = _resident(reg)
    actions.do_tag_resident(
        person, actor=reg["worker"], data={"group": "severe_mental", "risk_level": "high"}
    )
    actions.log_sensitive_read(person, actor=reg["worker"])
    assert AccessLog.objects.filter(action="read_care").count() == 1


def test_care_visit_moves_next_due(reg: dict[str, Any]) -> None:
    person = _resident(reg)
    tag = actions.do_tag_resident(
        person, actor=reg["worker"], data={"group": "community_correction", "risk_level": "high"}
    )
    assert tag.visit_every_days == 7
    assert selectors.visits_due(reg["worker"]).count() == 1
    visited = actions.do_record_care_visit(tag, actor=reg["worker"])
    assert (visited.next_visit_due - visited.last_visit_on).days == 7
    assert selectors.visits_due(reg["worker"], within_days=0).count() == 0


def test_every_write_is_in_the_feed_in_order(reg: dict[str, Any]) -> None:
    person = _resident(reg)
    actions.do_update_record(person, actor=reg["worker"], version=None, data={"phone": ""})
    entries = list(FeedEntry.objects.order_by("seq"))
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    last = entries[-1]
    assert last.record_type == "resident" and last.fields == ["phone"]
    assert last.field_classes == ["contact"]
    assert "phone_enc" not in last.data and valid_id() not in str(last.data)


def test_end_resident_ends_tags(reg: dict[str, Any]) -> None:
    person = _resident(reg)
    actions.do_tag_resident(person, actor=reg["worker"], data={"group": "veteran"})
    with pytest.raises(ValidationError):
        actions.do_end_record(person, actor=reg["worker"], version=None, reason="")
    ended = actions.do_end_record(person, actor=reg["worker"], version=None, reason="moved away")
    assert not ended.is_active
    assert not ended.care_tags.filter(is_active=True).exists()
