"""A city administrator imports a division table through the pages: a bad file is refused
with its bad rows listed, a good one is checked, then imported."""

from __future__ import annotations

import pytest

from civicgrid.accounts.roles import Role
from civicgrid.geo.models import Division

from ..world import PASSWORD, build_world
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GOOD = (
    "code,name,parent_code,level\n"
    "371602001003,新建社区,371602001,5\n"
    "371602001003001,新建社区第一网格,371602001003,6\n"
)
BAD = GOOD + "37160200100,短代码,371602001,5\n371699001001,无上级,371699001,5\n"


def _upload(page, name, content, *, dry_run):
    page.goto(page.base + "/imports/")
    page.select_option("#id_kind", "divisions")
    page.set_input_files(
        "#id_file", files=[{"name": name, "mimeType": "text/csv", "buffer": content.encode()}]
    )
    if page.is_checked("#id_dry_run") != dry_run:
        page.click("#id_dry_run")
    page.click("main form button[type=submit]")
    page.wait_for_selector(
        "#cg-job[data-status]:not([data-status=queued]):not([data-status=running])"
    )


def test_import_divisions_through_the_pages(page):
    world = build_world()
    world.user(Role.SYSTEM_ADMIN, "C", name="admin")
    log_in(page, "admin", PASSWORD)
    before = Division.objects.count()

    _upload(page, "bad.csv", BAD, dry_run=False)
    rows = page.locator("#cg-errors tbody tr")
    assert rows.count() == 2
    assert "4" in rows.nth(0).inner_text() and "5" in rows.nth(1).inner_text()
    assert Division.objects.count() == before  # nothing written

    _upload(page, "good.csv", GOOD, dry_run=True)
    assert Division.objects.count() == before  # a check writes nothing
    page.click("form[action$='/repeat/'] button")
    page.wait_for_selector("#cg-job[data-status=succeeded]")
    assert Division.objects.count() == before + 2
    assert Division.objects.filter(code="371602001003001", grid__isnull=False).exists()
