"""Chinese by default, English on request; the role's menu; forms show field errors."""

from __future__ import annotations

import pytest

from civicgrid.accounts.roles import Role

from ..world import PASSWORD, build_world
from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_login_page_is_chinese_by_default_and_switches_to_english(page):
    build_world()
    # The browser asks for English (locale en-US); the deployment's default still wins.
    page.goto(page.base + "/accounts/login/")
    assert "登录" in page.inner_text("h1")
    with page.expect_navigation():
        page.select_option("#cg-language", "en")
    assert "Log in" in page.inner_text("h1")
    with page.expect_navigation():
        page.select_option("#cg-language", "zh-hans")
    assert "登录" in page.inner_text("h1")


def test_wrong_password_is_a_form_error_not_a_crash(page):
    world = build_world()
    user = world.user(Role.CENTRE_STAFF, "A1", name="staff")
    page.goto(page.base + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "not-the-password")
    page.click("main form button[type=submit]")
    assert "/accounts/login/" in page.url
    assert page.locator(".alert-danger").count() == 1


def test_menu_follows_roles(page):
    world = build_world()
    world.user(Role.GRID_WORKER, "A1a1", name="worker")
    world.user(Role.AUDIT_ADMIN, "A", name="auditor")
    log_in(page, "worker", PASSWORD)
    menu = page.inner_text("#cg-nav")
    page.goto(page.base + "/audit/")
    assert page.locator("#cg-changes").count() == 0  # refused for a grid worker
    page.context.clear_cookies()
    log_in(page, "auditor", PASSWORD)
    auditor_menu = page.inner_text("#cg-nav")
    assert auditor_menu != menu
    page.goto(page.base + "/audit/")
    assert page.locator("#cg-changes tbody tr").count() > 0
