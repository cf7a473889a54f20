"""One case from report to close across three roles, in a real browser: a grid worker reports
it with a photo on a phone-sized screen, the community centre files and dispatches it, the
department accepts and reports back, the centre closes it."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from civicgrid.accounts.roles import Role
from civicgrid.cases.models import Case

from ..world import PASSWORD, build_world, inside
from .conftest import artifact, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def _open(page, name: str) -> None:
    """Open an action's panel and wait for its animation to end."""
    page.click(f"button[data-action={name}]")
    page.wait_for_selector(f"#act-{name}.show:not(.collapsing)")


def _act(page, name: str, **fields: str) -> None:
    _open(page, name)
    form = page.locator(f"#act-{name} form")
    for field, value in fields.items():
        form.locator(f"[name={field}]").fill(value)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def _as(page, username: str) -> None:
    page.context.clear_cookies()
    log_in(page, username, PASSWORD)


def test_report_to_close_across_three_roles(page, browser, live_server):
    world = build_world()
    world.user(Role.GRID_WORKER, "A1a1", name="worker")
    world.user(Role.CENTRE_STAFF, "A1a", name="centre")
    world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A", name="handler")

    # 1. The grid worker, on a phone-sized screen, taps the map and reports with a photo.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True
    )
    mobile = phone.new_page()
    mobile.base = page.base
    log_in(mobile, "worker", PASSWORD)
    mobile.goto(page.base + "/cases/new/")
    mobile.select_option("#id_category", "environment.rubbish")
    mobile.fill("#id_description", "小区门口垃圾堆放，已三天无人清运")
    holder = mobile.wait_for_selector("#cg-case-map")
    lng, lat = inside("A1a1")
    mobile.evaluate("([h, lat, lng]) => h.cgMap.setView([lat, lng], 16)", [holder, lat, lng])
    point = holder.evaluate(
        "(h, ll) => { const p = h.cgMap.latLngToContainerPoint(ll); return [p.x, p.y]; }",
        [lat, lng],
    )
    holder.scroll_into_view_if_needed()
    box = holder.bounding_box()
    mobile.touchscreen.tap(box["x"] + point[0], box["y"] + point[1])
    assert mobile.input_value("#id_lat")
    mobile.set_input_files(
        "#id_files", files=[{"name": "rubbish.jpg", "mimeType": "image/jpeg", "buffer": _photo()}]
    )
    with mobile.expect_navigation():
        mobile.click("#cg-report button[type=submit]")
    mobile.screenshot(path=str(artifact("case-reported-mobile.png")))
    case = Case.objects.get()
    assert case.status == "reported" and case.grid.code == "371602001001001"
    assert case.attachments.count() == 1
    phone.close()

    # 2. The community centre files it and dispatches it to the urban-management bureau.
    _as(page, "centre")
    page.goto(page.base + "/cases/?queue=to_file")
    page.click(f"#cg-cases a:text('{case.number}')")
    _act(page, "register")
    assert page.get_attribute("#cg-case-state", "data-status") == "registered"
    _open(page, "dispatch")
    page.select_option("#act-dispatch select[name=unit]", str(world.units["urban-A"].pk))
    with page.expect_navigation():
        page.click("#act-dispatch button[type=submit]")
    assert page.get_attribute("#cg-case-state", "data-status") == "dispatched"

    # 3. The department accepts it and reports back.
    _as(page, "handler")
    page.goto(page.base + "/cases/?queue=my_unit")
    page.click(f"#cg-cases a:text('{case.number}')")
    _act(page, "accept")
    _act(page, "feedback", note="已清运完毕，现场恢复整洁")
    assert page.get_attribute("#cg-case-state", "data-status") == "handled"

    # 4. The centre closes it; the timeline shows every step in order.
    _as(page, "centre")
    page.goto(page.base + f"/cases/{case.pk}/")
    _act(page, "close")
    assert page.get_attribute("#cg-case-state", "data-status") == "closed"
    actions = page.eval_on_selector_all("#cg-timeline li", "els => els.map(e => e.dataset.action)")
    assert actions == ["report", "register", "dispatch", "accept", "feedback", "close"]
    assert page.locator("#cg-photos img").count() == 1
    page.screenshot(path=str(artifact("case-closed.png")), full_page=True)
    assert page.errors == []
