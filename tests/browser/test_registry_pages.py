"""The registry in a real browser: a grid worker on a phone finds a resident by the initials of
the name, opens the household view, changes the phone number and records a care visit; the
cascade of placement selects loads through htmx; centre staff unmask an ID number for a
stated reason, and it shows once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from civicgrid.accounts.roles import Role
from civicgrid.core.models import AccessLog
from civicgrid.registry import actions
from civicgrid.registry.models import CareTag, Resident

from ..registry.conftest import valid_id
from ..world import PASSWORD, build_world
from .conftest import artifact, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEAD_ID = valid_id("19480212", seq="131")
SCREENSHOTS = Path("/tmp")


def _household(world):
    worker = world.user(Role.GRID_WORKER, "A1a1", name="worker")
    world.user(Role.CENTRE_STAFF, "A1", name="centre")
    building = actions.do_create_record(
        "building",
        actor=worker,
        data={
            "grid": world.div["A1a1"].code,
            "road": "黄河五路",
            "number": "100",
            "name": "渤海小区",
            "building_no": "3",
        },
    )
    house = actions.do_create_record(
        "house", actor=worker, data={"building": building, "unit_no": "2", "room": "301"}
    )
    household = actions.do_create_record("household", actor=worker, data={"house": house})
    head = actions.do_create_record(
        "resident",
        actor=worker,
        data={
            "name": "张晓明",
            "id_number": HEAD_ID,
            "phone": "13912345678",
            "household": household,
            "relation": "head",
            "ethnicity": "汉族",
        },
    )
    actions.do_create_record(
        "resident",
        actor=worker,
        data={
            "name": "李秀英",
            "id_number": valid_id("19500608", seq="242"),
            "household": household,
            "relation": "spouse",
        },
    )
    assert isinstance(head, Resident)
    tag = actions.do_tag_resident(
        head, actor=worker, data={"group": "elderly_alone", "risk_level": "high"}
    )
    CareTag.objects.filter(pk=tag.pk).update(
        next_visit_due=timezone.localdate() - dt.timedelta(days=4)
    )
    return head, household, house, building


def test_grid_worker_on_a_phone_and_centre_staff_unmasking(page, browser):
    world = build_world()
    head, household, house, building = _household(world)

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True
    )
    mobile = phone.new_page()
    mobile.set_default_timeout(15_000)
    errors: list[str] = []
    mobile.on("pageerror", lambda exc: errors.append(str(exc)))
    mobile.base = page.base
    log_in(mobile, "worker", PASSWORD)

    # 1. Search by the initials of the name: the results come as the worker types (htmx).
    mobile.goto(page.base + "/registry/")
    mobile.fill("#cg-q", "zxm")
    result = mobile.wait_for_selector(f".cg-result[data-kind=resident][data-id='{head.pk}']")
    with mobile.expect_navigation():
        result.click()
    assert mobile.inner_text("h1").startswith("张晓明")
    assert HEAD_ID not in mobile.content()

    # 2. The household view: household → members; house → households → residents.
    with mobile.expect_navigation():
        mobile.click("#cg-household a")
    members = mobile.eval_on_selector_all(".cg-members tr[data-resident]", "rs => rs.length")
    assert members == 2
    with mobile.expect_navigation():
        mobile.click("#cg-house a")
    assert mobile.locator(f"#cg-households [data-household='{household.pk}']").count() == 1
    with mobile.expect_navigation():
        mobile.click(f"a[href='/registry/residents/{head.pk}/']")

    # 3. Change the phone number with the edit form.
    with mobile.expect_navigation():
        mobile.click("#cg-record-actions [data-action=edit]")
    mobile.fill("#id_phone", "136 0000 9999")
    with mobile.expect_navigation():
        mobile.click("#cg-record-form button[type=submit]")
    assert mobile.inner_text("#cg-phone") == "136****9999"
    head.refresh_from_db()
    assert head.phone_masked == "136****9999" and head.version == 2
    assert head.birth_date == dt.date(1948, 2, 12)  # the rest of the form came back as it was

    # 4. Record a care visit: the overdue mark goes, the next visit falls due.
    card = mobile.locator(".cg-tag").first
    assert card.locator(".cg-overdue").count() == 1
    with mobile.expect_navigation():
        card.locator("button[data-action=visit]").click()
    card = mobile.locator(".cg-tag").first
    assert card.locator(".cg-overdue").count() == 0
    tag = CareTag.objects.get(resident=head)
    assert tag.last_visit_on == timezone.localdate()
    assert tag.next_visit_due == timezone.localdate() + dt.timedelta(days=7)
    history = mobile.eval_on_selector_all("#cg-history > li", "ls => ls.map(l => l.dataset.action)")
    assert history == ["update", "create"]
    shot = SCREENSHOTS / "registry-resident-mobile.png"
    mobile.screenshot(path=str(shot), full_page=True)
    mobile.screenshot(path=str(artifact("registry-resident-mobile.png")), full_page=True)

    # 5. The placement cascade: choosing a building loads its houses, a house its households.
    mobile.goto(page.base + f"/registry/residents/new/?grid={world.div['A1a1'].code}")
    mobile.select_option("#id_building", str(building.pk))
    mobile.wait_for_selector(f"#id_house option[value='{house.pk}']", state="attached")
    mobile.select_option("#id_house", str(house.pk))
    mobile.wait_for_selector(f"#id_household option[value='{household.pk}']", state="attached")
    assert errors == []
    phone.close()

    # 6. Centre staff unmask the ID number for a reason: shown once, logged.
    log_in(page, "centre", PASSWORD)
    page.goto(page.base + f"/registry/residents/{head.pk}/")
    masked = page.inner_text("#cg-id-number")
    assert masked == head.id_masked
    page.click("#cg-unmask-open")
    assert page.is_checked("#cg-unmask-id_number")
    page.fill("#cg-unmask-reason", "核实身份：调解邻里纠纷")
    page.click("#cg-unmask button[type=submit]")
    page.wait_for_selector("#cg-id-number[data-revealed]")
    assert page.inner_text("#cg-id-number") == HEAD_ID
    log = AccessLog.objects.get(action="unmask")
    assert log.reason == "核实身份：调解邻里纠纷" and log.fields == ["id_number"]
    page.screenshot(path=str(SCREENSHOTS / "registry-resident-unmasked.png"), full_page=True)
    page.reload()
    assert page.inner_text("#cg-id-number") == head.id_masked
    assert page.errors == []
