"""The grid worker's offline app in a real phone-sized Chromium: loaded once online, then with no
network a case with a photo and a visit are recorded, the page reloads from the service worker,
and when the network returns exactly one case (with its photo) and one visit reach the server.
A record whose answer is lost on the way is sent again and not stored twice; logging out wipes
the phone; a different user on the same phone never sees the first one's data."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from civicgrid.accounts.roles import Role
from civicgrid.cases.models import Case
from civicgrid.catalog.models import CaseCategory
from civicgrid.fieldwork.models import CheckIn, Receipt, Visit
from civicgrid.registry import actions as registry

from ..registry.conftest import valid_id
from ..world import PASSWORD, build_world, inside
from .conftest import artifact, log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DB_NAME = "civicgrid-field"


def _camera_photo() -> bytes:
    """A camera-sized JPEG (the app shrinks it to ≤ 1600 px before it is stored)."""
    out = io.BytesIO()
    image = Image.new("RGB", (2400, 1800), (90, 140, 200))
    for x in range(0, 2400, 150):
        image.paste((240, 200, 40), (x, 0, x + 60, 1800))
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


@pytest.fixture
def grid_world(db: Any) -> dict[str, Any]:
    world = build_world()
    worker = world.user(Role.GRID_WORKER, "A1a1", name="worker")
    other = world.user(Role.GRID_WORKER, "A1b1", name="other")
    building = registry.do_create_record(
        "building",
        actor=worker,
        data={
            "grid": world.div["A1a1"].code,
            "road": "黄河五路",
            "number": "12",
            "building_no": "1",
        },
    )
    house = registry.do_create_record(
        "house", actor=worker, data={"building": building, "unit_no": "1", "room": "101"}
    )
    household = registry.do_create_record("household", actor=worker, data={"house": house})
    elder = registry.do_create_record(
        "resident",
        actor=worker,
        data={
            "name": "王秀英",
            "id_number": valid_id(birth="19450203"),
            "phone": "13812345678",
            "household": household,
            "relation": "head",
        },
    )
    tag = registry.do_tag_resident(elder, actor=worker, data={"group": "elderly_alone"})
    return {"world": world, "worker": worker, "other": other, "tag": tag, "elder": elder}


def _phone(browser: Any, live_server: Any, key: str = "A1a1") -> tuple[Any, Any]:
    lng, lat = inside(key)
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        geolocation={"latitude": lat, "longitude": lng, "accuracy": 12},
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.base = live_server.url
    return context, page


def _open_app(page: Any) -> None:
    page.goto(page.base + "/field/")
    page.wait_for_function("document.body.dataset.started === '1'")


def _count(page: Any, which: str) -> int:
    return int(page.text_content(f"#count-{which}") or "0")


# Reads the app's IndexedDB from the page: the rows of a store, or one row by its key.
# A database that is not there is not created by looking (the upgrade is aborted).
READ_STORE = """([store, key]) => new Promise((resolve) => {
    const open = indexedDB.open("civicgrid-field");
    open.onupgradeneeded = () => open.transaction.abort();
    open.onerror = () => resolve(null);
    open.onsuccess = () => {
        if (!open.result.objectStoreNames.contains(store)) {
            open.result.close();
            resolve(null);
            return;
        }
        const objects = open.result.transaction(store).objectStore(store);
        const req = key === null ? objects.getAll() : objects.get(key);
        req.onsuccess = () => { resolve(req.result); open.result.close(); };
    };
})"""


def _read(page: Any, store: str, key: str | None = None) -> Any:
    return page.evaluate(READ_STORE, [store, key])


# The last answer from the server to this user was `hours` ago.
AGE_CONTACT = """(hours) => new Promise((resolve) => {
    const open = indexedDB.open("civicgrid-field");
    open.onsuccess = () => {
        const tx = open.result.transaction("meta", "readwrite");
        tx.objectStore("meta").put(Date.now() - hours * 3600 * 1000, "last_contact");
        tx.oncomplete = () => { open.result.close(); resolve(); };
    };
})"""


def _outbox(page: Any) -> list[dict[str, Any]]:
    """The outbox records on the phone (without photos), to explain a failure."""
    rows = _read(page, "outbox")
    keep = ("uuid", "kind", "state", "reason", "attempts")
    return [{k: r.get(k) for k in keep} for r in rows if r["kind"] != "photo"]


def _wait_count(page: Any, which: str, value: int, timeout: int = 30_000) -> None:
    try:
        page.wait_for_function(
            "([id, n]) => document.getElementById(id).textContent === String(n)",
            arg=[f"count-{which}", value],
            timeout=timeout,
        )
    except Exception as exc:
        raise AssertionError(f"{which} never became {value}: {_outbox(page)}") from exc


def _databases(page: Any) -> list[str]:
    return page.evaluate("async () => (await indexedDB.databases()).map(d => d.name)")


def test_offline_report_and_visit_reach_the_server_once(
    browser: Any, live_server: Any, grid_world: dict[str, Any], settings: Any
) -> None:
    settings.FIELD_CHUNK_BYTES = 16 * 1024  # the photo goes in several chunks
    tag = grid_world["tag"]
    context, page = _phone(browser, live_server)
    log_in(page, "worker", PASSWORD)

    # 1. Online: the app loads, keeps the grid's data and installs its service worker.
    _open_app(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    assert "渤海社区第一网格" in page.text_content("#home-grid")
    page.wait_for_selector("#home-care li.item")
    assert "王秀英" in page.text_content("#home-care")
    page.screenshot(path=str(artifact("field-app-home.png")), full_page=True)

    # 2. No network: report a case with a photo from the camera.
    context.set_offline(True)
    page.click("a.tile-case")
    page.wait_for_selector("#screen-report:not([hidden])")
    rubbish = CaseCategory.objects.get(code="environment.rubbish")
    page.select_option("#report-category", str(rubbish.pk))
    page.fill("#report-description", "楼道堆放杂物，堵塞消防通道")
    page.set_input_files(
        "#form-report input[capture]",
        files=[{"name": "IMG_0001.jpg", "mimeType": "image/jpeg", "buffer": _camera_photo()}],
    )
    page.wait_for_selector("#form-report .photo img")
    page.wait_for_function(
        "document.querySelector('#form-report [data-position]').textContent.includes('37.00500')"
    )
    page.screenshot(path=str(artifact("field-app-report.png")), full_page=True)
    page.click("#form-report button[type=submit]")
    page.wait_for_selector("#screen-home:not([hidden])")
    _wait_count(page, "waiting", 1)

    # The photo waits on the phone shrunk to ≤ 1600 px, as a JPEG.
    photos = [r for r in _read(page, "outbox") if r["kind"] == "photo"]
    shrunk = [(r["width"], r["height"], r["size"]) for r in photos]
    assert len(shrunk) == 1
    width, height, size = shrunk[0]
    assert max(width, height) == 1600 and size < len(_camera_photo())
    types = f"async (a) => (await ({READ_STORE})(a)).filter((r) => r.blob).map((r) => r.blob.type)"
    assert page.evaluate(types, ["outbox", None]) == ["image/jpeg"]

    # 3. Still offline: record the visit due to the elderly resident.
    page.click("a.tile-visit")
    page.wait_for_selector("#screen-visit:not([hidden])")
    page.select_option("#visit-care", str(tag.pk))
    assert page.input_value("#visit-purpose") == "care"
    page.fill("#visit-note", "老人身体状况良好，已提醒注意防寒")
    page.screenshot(path=str(artifact("field-app-visit.png")), full_page=True)
    page.click("#form-visit button[type=submit]")
    page.wait_for_selector("#screen-home:not([hidden])")
    _wait_count(page, "waiting", 2)
    assert "chip-offline" in (page.get_attribute("#cg-chip", "class") or "")

    # 4. Reload with no network: the service worker opens the app; nothing was lost.
    page.reload()
    page.wait_for_function("document.body.dataset.started === '1'")
    assert page.evaluate("navigator.serviceWorker.controller !== null")
    assert "渤海社区第一网格" in page.text_content("#home-grid")
    _wait_count(page, "waiting", 2)
    page.click("a.tile-outbox")
    page.wait_for_selector("#outbox-list li.outbox-waiting")
    assert page.locator("#outbox-list li.outbox-waiting").count() == 2
    page.screenshot(path=str(artifact("field-app-outbox-offline.png")), full_page=True)
    assert Case.objects.count() == 0 and Visit.objects.count() == 0

    # 5. The network returns, and breaks once in the middle of the photo: the server keeps the
    # second chunk but its answer is lost. The next try resumes after it.
    starts: list[int] = []

    def break_once(route: Any) -> None:
        if route.request.method != "PUT":
            route.continue_()
            return
        starts.append(int(route.request.headers["content-range"].split()[1].split("-")[0]))
        if len(starts) == 2:
            route.fetch()
            route.abort("connectionreset")
        else:
            route.continue_()

    context.route("**/api/v1/field/uploads/*/", break_once)
    context.set_offline(False)
    page.wait_for_function("() => document.querySelector('.outbox-waiting .reason') !== null")
    assert Case.objects.count() == 0
    page.click("#outbox-sync")
    _wait_count(page, "waiting", 0)
    chunk = 16 * 1024
    assert starts == list(range(0, size, chunk)), starts  # each chunk sent once, none skipped
    assert _count(page, "failed") == 0, _outbox(page)
    page.wait_for_selector("#outbox-list li.outbox-sent >> nth=1")
    page.screenshot(path=str(artifact("field-app-outbox-sent.png")), full_page=True)
    case = Case.objects.get()
    assert case.description == "楼道堆放杂物，堵塞消防通道"
    assert case.grid.code == "371602001001001"
    assert case.attachments.count() == 1
    visit = Visit.objects.get()
    assert visit.care_tag_id == tag.pk and visit.resident_id == grid_world["elder"].pk
    assert visit.note == "老人身体状况良好，已提醒注意防寒"
    assert page.errors == []
    context.close()


def test_a_lost_answer_is_sent_again_and_stored_once(
    browser: Any, live_server: Any, grid_world: dict[str, Any]
) -> None:
    context, page = _phone(browser, live_server)
    log_in(page, "worker", PASSWORD)
    _open_app(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null")

    # The server takes the check-in, but the answer never reaches the phone.
    delivered = []

    def drop_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        delivered.append(route.fetch().status)
        route.abort("connectionreset")

    context.route("**/api/v1/field/check-ins/", drop_answer)
    page.click("a.tile-checkin")
    page.wait_for_function(
        "document.querySelector('#form-checkin [data-position]').textContent.includes('37.00500')"
    )
    page.click("#form-checkin button[type=submit]")
    page.wait_for_selector("#screen-home:not([hidden])")
    page.wait_for_function("() => !document.getElementById('sync-now').disabled")
    _wait_count(page, "waiting", 1)
    assert delivered == [201]
    assert CheckIn.objects.count() == 1
    uuid = str(CheckIn.objects.get().client_uuid)

    # Sent again with the same UUID and body: the server answers from its receipt.
    context.unroute("**/api/v1/field/check-ins/")
    answers = []
    page.on(
        "response",
        lambda r: (
            answers.append((r.status, r.headers.get("idempotent-replay")))
            if r.url.endswith("/api/v1/field/check-ins/") and r.request.method == "POST"
            else None
        ),
    )
    page.click("#sync-now")
    _wait_count(page, "waiting", 0)
    assert answers == [(200, "true")]
    assert CheckIn.objects.count() == 1
    assert Receipt.objects.filter(uuid=uuid).count() == 1
    page.click("a.tile-outbox")
    page.wait_for_selector("#outbox-list li.outbox-sent")
    assert page.get_attribute("#outbox-list li.outbox-sent", "data-uuid") == uuid
    assert page.errors == []
    context.close()


def test_logout_wipes_the_phone_and_another_user_sees_nothing_of_it(
    browser: Any, live_server: Any, grid_world: dict[str, Any]
) -> None:
    context, page = _phone(browser, live_server)
    log_in(page, "worker", PASSWORD)
    _open_app(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_selector("#home-care li.item")
    assert DB_NAME in _databases(page)

    # Without the network for 50 of the 72 hours: a warning says when the phone forgets.
    context.set_offline(True)
    page.evaluate(AGE_CONTACT, 50)
    page.reload()
    page.wait_for_function("document.body.dataset.started === '1'")
    assert "22" in page.text_content("#cg-banners .banner-warn")
    assert "王秀英" in page.text_content("#home-care")
    page.screenshot(path=str(artifact("field-app-wipe-warning.png")))
    # Past 72 hours, opening the app wipes what the phone kept (the shell still opens).
    page.evaluate(AGE_CONTACT, 73)
    page.reload()
    page.wait_for_function("document.body.dataset.started === '1'")
    page.wait_for_selector("#cg-banners .banner-danger")
    assert page.text_content("#home-grid") == ""
    assert "王秀英" not in page.content()
    assert _read(page, "data", "bootstrap") is None
    context.set_offline(False)

    # A second user logs in on the same phone without the first logging out of the app.
    context.clear_cookies()
    log_in(page, "other", PASSWORD)
    _open_app(page)
    page.wait_for_function("document.getElementById('home-grid').textContent.includes('黄河社区')")
    assert "王秀英" not in page.content()
    assert "渤海社区第一网格" not in page.text_content("#home-grid")

    # The language switch reloads the app in English (its kept copy too).
    page.select_option("#cg-language", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_function("document.body.dataset.started === '1'")
    assert "Report a case" in page.text_content("a.tile-case")

    # Logging out from the app wipes the database and the caches and ends the session.
    page.click("#cg-logout")
    page.wait_for_url("**/accounts/login/**")
    assert DB_NAME not in _databases(page)
    caches = page.evaluate("async () => await caches.keys()")
    assert not [name for name in caches if name.startswith("cg-field-")]
    response = page.request.get(page.base + "/field/", max_redirects=0)
    assert response.status == 302
    page.screenshot(path=str(artifact("field-app-logged-out.png")))
    assert page.errors == []
    context.close()


def _patrol_points(page: Any, user_id: int) -> int:
    """Points of the patrol being recorded, as kept on the phone (-1: none is)."""
    patrol = _read(page, "meta", f"patrol:{user_id}")
    return len(patrol["points"]) if patrol else -1


def _wait_patrol_points(page: Any, user_id: int, count: int) -> None:
    """Until the track kept on the phone has `count` points (each fix is persisted as it comes;
    the page's own count is shown first, the write follows)."""
    page.wait_for_function(
        "(n) => Number(document.getElementById('patrol-summary').dataset.points) >= n", arg=count
    )
    for _ in range(50):
        if _patrol_points(page, user_id) >= count:
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"the phone kept {_patrol_points(page, user_id)} points, not {count}")


def test_a_patrol_track_survives_a_reload_and_reaches_the_server(
    browser: Any, live_server: Any, grid_world: dict[str, Any]
) -> None:
    from civicgrid.fieldwork.models import Patrol

    worker = grid_world["worker"]
    context, page = _phone(browser, live_server)
    log_in(page, "worker", PASSWORD)
    _open_app(page)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.click("a.tile-patrol")
    page.click("#patrol-start")
    lng, lat = inside("A1a1")
    # Walk north in 55 m steps: each fix is far enough from the last to be recorded.
    for step in range(1, 4):
        context.set_geolocation({"latitude": lat + step * 0.0005, "longitude": lng, "accuracy": 8})
        _wait_patrol_points(page, worker.pk, step + 1)
    page.screenshot(path=str(artifact("field-app-patrol.png")), full_page=True)

    # A reload (here with no network) keeps the track and goes on recording.
    context.set_offline(True)
    page.reload()
    page.wait_for_function("document.body.dataset.started === '1'")
    assert _patrol_points(page, worker.pk) == 4
    assert page.evaluate("location.hash") == "#patrol"
    page.wait_for_selector("[data-patrol=running]:not([hidden])")
    context.set_geolocation({"latitude": lat + 0.0025, "longitude": lng, "accuracy": 8})
    _wait_patrol_points(page, worker.pk, 5)
    page.wait_for_timeout(1100)  # a patrol ends at least a second after it starts
    page.click("#patrol-stop")
    page.wait_for_selector("#form-patrol:not([hidden])")
    page.fill("#patrol-note", "沿黄河五路巡查，未见异常")
    page.click("#form-patrol button[type=submit]")
    page.wait_for_selector("#screen-home:not([hidden])")
    assert _patrol_points(page, worker.pk) == -1
    _wait_count(page, "waiting", 1)

    context.set_offline(False)
    _wait_count(page, "waiting", 0)
    assert _count(page, "failed") == 0, _outbox(page)
    patrol = Patrol.objects.get()
    assert len(patrol.track) == 5
    assert 270 < patrol.distance_m < 285  # 0.0025° of latitude, about 278 m
    assert patrol.note == "沿黄河五路巡查，未见异常"
    assert page.errors == []
    context.close()


def test_a_resident_is_fixed_and_added_from_the_phone(
    browser: Any, live_server: Any, grid_world: dict[str, Any]
) -> None:
    from civicgrid.registry.models import Resident

    elder = grid_world["elder"]
    context, page = _phone(browser, live_server)
    log_in(page, "worker", PASSWORD)
    _open_app(page)
    page.click("a.tile-residents")
    page.fill("#residents-q", "王秀")
    page.wait_for_selector("#residents-list .household")
    assert "138****5678" in page.text_content("#residents-list")
    page.screenshot(path=str(artifact("field-app-residents.png")), full_page=True)

    page.click(f"#residents-list a[href='#resident/fix-{elder.pk}']")
    page.wait_for_selector("#screen-resident:not([hidden])")
    assert page.input_value("#resident-name") == "王秀英"
    page.fill("#resident-phone", "13900001111")
    page.screenshot(path=str(artifact("field-app-resident-fix.png")), full_page=True)
    page.click("#form-resident button[type=submit]")
    page.wait_for_selector("#screen-home:not([hidden])")
    _wait_count(page, "waiting", 0)
    assert _count(page, "failed") == 0, _outbox(page)
    fixed = Resident.objects.get(pk=elder.pk)
    assert fixed.phone_masked.endswith("1111") and fixed.version == elder.version + 1
    assert fixed.name == "王秀英"

    page.click("a.tile-residents")
    page.click(f"#residents-list a[href='#resident/new-{elder.household_id}']")
    page.wait_for_selector("#screen-resident:not([hidden])")
    page.fill("#resident-name", "王小明")
    page.select_option("#resident-sex", "M")
    page.fill("#resident-id-number", valid_id(birth="20150601", seq="457"))
    page.select_option("#resident-relation", "grandchild")
    page.click("#form-resident button[type=submit]")
    page.wait_for_selector("#screen-home:not([hidden])")
    _wait_count(page, "waiting", 0)
    assert _count(page, "failed") == 0, _outbox(page)
    added = Resident.objects.get(name="王小明")
    assert added.household_id == elder.household_id and added.relation == "grandchild"
    assert page.errors == []
    context.close()


# The phone's local time, `seconds` from now, as an <input type=datetime-local> takes it.
LOCAL_TIME = """(seconds) => {
    const d = new Date(Date.now() + seconds * 1000 - new Date().getTimezoneOffset() * 60000);
    return d.toISOString().slice(0, 16);
}"""


def test_a_refused_record_shows_the_reason_and_is_sent_after_an_edit(
    browser: Any, live_server: Any, grid_world: dict[str, Any]
) -> None:
    elder = grid_world["elder"]
    context, page = _phone(browser, live_server)
    log_in(page, "worker", PASSWORD)
    _open_app(page)
    page.click("a.tile-visit")
    page.wait_for_selector("#screen-visit:not([hidden])")
    page.select_option("#visit-household", str(elder.household_id))
    page.select_option("#visit-purpose", "household")
    # The phone's clock is a day ahead: the server refuses a visit in the future.
    tomorrow = page.evaluate(LOCAL_TIME, 24 * 3600)
    page.fill("#visit-time", tomorrow)
    page.fill("#visit-note", "入户了解情况")
    page.click("#form-visit button[type=submit]")
    _wait_count(page, "failed", 1)
    assert Visit.objects.count() == 0
    page.click("a.tile-outbox")
    page.wait_for_selector("#outbox-list li.outbox-failed .reason")
    refused = page.get_attribute("#outbox-list li.outbox-failed", "data-uuid")
    page.screenshot(path=str(artifact("field-app-outbox-failed.png")), full_page=True)

    # Edited, it goes out again as a new record (the refused one was never stored).
    page.click("#outbox-list li.outbox-failed a.btn-primary")
    page.wait_for_selector("#screen-visit:not([hidden])")
    assert page.text_content("#form-visit [data-error=form]")
    assert page.input_value("#visit-note") == "入户了解情况"
    now = page.evaluate(LOCAL_TIME, 0)
    page.fill("#visit-time", now)
    page.click("#form-visit button[type=submit]")
    _wait_count(page, "failed", 0)
    _wait_count(page, "waiting", 0)
    visit = Visit.objects.get()
    assert visit.household_id == elder.household_id and visit.note == "入户了解情况"
    assert str(visit.client_uuid) != refused
    assert not [r for r in _outbox(page) if r["uuid"] == refused]
    assert page.errors == []
    context.close()
