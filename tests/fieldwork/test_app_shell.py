"""The field app's shell, manifest and service worker as the server sends them: who gets the
shell, that it holds no personal data and speaks the user's language, the headers the service
worker needs, a cache version that follows the files, and the shell's size budget."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from civicgrid.accounts.models import User
from civicgrid.fieldwork.views import app as app_views

from .conftest import Field

pytestmark = pytest.mark.django_db

SHELL = "/field/"
BUDGET = 300 * 1024  # compressed bytes (issue 5)


def logged_in(user: User, language: str | None = None) -> Client:
    client = Client()
    client.force_login(user)
    if language:
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


def script_json(page: str, element_id: str) -> Any:
    found = re.search(
        rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S
    )
    assert found, element_id
    return json.loads(found.group(1))


def test_the_shell_needs_a_login(db: Any) -> None:
    response = Client().get(SHELL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/field/")


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("worker", 200),
        ("worker_b", 200),
        ("grid_leader", 403),  # a grid leader at a community holds no grid of their own
        ("community", 403),
        ("handler", 403),
        ("leader", 403),
        ("sysadmin", 403),
    ],
)
def test_only_people_with_a_grid_get_the_shell(
    people: dict[str, User], name: str, status: int
) -> None:
    assert logged_in(people[name]).get(SHELL).status_code == status


def test_a_grid_leader_holding_a_grid_gets_the_shell(world: Any) -> None:
    from civicgrid.accounts.roles import Role

    leader = world.user(Role.GRID_LEADER, "A1b1", name="leader-of-a-grid")
    assert logged_in(leader).get(SHELL).status_code == 200


def test_the_shell_is_not_cached_by_http_and_sets_the_csrf_cookie(people: dict[str, User]) -> None:
    response = logged_in(people["worker"]).get(SHELL)
    assert response["Content-Type"].startswith("text/html")
    control = response["Cache-Control"]
    assert "no-cache" in control and "private" in control
    assert "Cookie" in response["Vary"]
    # The app reads the token from the cookie; none is written into the page it keeps.
    assert settings.CSRF_COOKIE_NAME in response.cookies
    assert "csrfmiddlewaretoken" not in response.content.decode()


def test_the_shell_holds_no_personal_data(field: Field) -> None:
    worker = field.worker
    worker.full_name = "张卫东"
    worker.username = "zhangweidong481"
    worker.save(update_fields=["full_name", "username"])
    page = logged_in(worker).get(SHELL).content.decode()
    for private in (
        worker.username,
        worker.full_name,
        field.world.div["A1a1"].name,
        field.elder.name,
        field.household.house.address if field.household.house else "",
        field.elder.id_masked,
        field.elder.phone_masked,
    ):
        assert private and private not in page, private
    # Two workers of different grids get the very same page (so one kept copy fits anyone).
    other = logged_in(field.people["worker_b"]).get(SHELL).content.decode()
    assert other == page


def test_the_shell_speaks_chinese_by_default_and_english_when_chosen(
    people: dict[str, User],
) -> None:
    worker = people["worker"]
    chinese = logged_in(worker).get(SHELL, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="zh-hans">' in chinese
    assert "上报事件" in chinese  # Report a case
    assert "退出登录" in chinese  # Log out
    assert script_json(chinese, "cg-config")["language"] == "zh-hans"
    english = logged_in(worker, "en").get(SHELL).content.decode()
    assert '<html lang="en">' in english
    assert "Report a case" in english and "Log out" in english
    config = script_json(english, "cg-config")
    assert config["language"] == "en"
    strings = script_json(english, "cg-strings")
    assert set(strings) == set(app_views.STRINGS)
    assert strings["n_waiting"] == "%(count)s waiting"
    assert {c["value"] for c in config["choices"]["sex"]} == {"M", "F"}


def test_the_manifest_needs_no_login_and_describes_an_installable_app(db: Any) -> None:
    response = Client().get("/field/manifest.webmanifest")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = response.json()
    assert manifest["start_url"] == SHELL
    assert manifest["scope"] == SHELL
    assert manifest["display"] == "standalone"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in manifest["icons"]:
        name = icon["src"].removeprefix(settings.STATIC_URL)
        assert finders.find(name), icon["src"]


def test_the_service_worker_is_served_with_its_scope_and_version(people: dict[str, User]) -> None:
    response = Client().get("/field/sw.js")  # the browser re-checks it also when logged out
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == SHELL
    assert "no-cache" in response["Cache-Control"]
    body = response.content.decode()
    config = json.loads(re.match(r"const CONFIG = (.*?);\n", body).group(1))  # type: ignore[union-attr]
    assert config["version"] == app_views.shell_version()
    assert re.fullmatch(r"[0-9a-f]{12}", config["version"])
    assert config["shell"] == SHELL
    assets = config["assets"]
    for name in ("main.js", "api.js", "store.js", "outbox.js", "app.css"):
        assert f"{settings.STATIC_URL}fieldwork/{name}" in assets
    assert f"{settings.STATIC_URL}vendor/leaflet/leaflet.js" in assets
    assert not [a for a in assets if "/centre" in a or a.endswith("/sw.js")]
    # Precaching, cache-first shell, nothing but GET cached, old caches dropped.
    assert "skipWaiting" in body and "clients.claim" in body
    assert 'request.method !== "GET"' in body
    assert '"/api/"' in body


def test_the_cache_version_follows_the_files(monkeypatch: pytest.MonkeyPatch) -> None:
    before = app_views._compute_version()
    original = app_views._source

    def changed(name: str) -> bytes:
        data = original(name)
        return data + b"\n// changed" if name == "fieldwork/api.js" else data

    monkeypatch.setattr(app_views, "_source", changed)
    assert app_views._compute_version() != before


def test_the_import_map_points_plain_module_urls_at_hashed_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_views, "static", lambda name: f"/static/{name[:-3]}.0123abcd.js")
    imports = app_views.import_map()["imports"]
    assert imports["/static/fieldwork/api.js"] == "/static/fieldwork/api.0123abcd.js"
    assert "/static/fieldwork/sw.js" not in imports
    assert not [k for k in imports if "/centre" in k]


def shell_sizes(client: Client) -> dict[str, tuple[int, int]]:
    """(raw, gzip -9) bytes of the page and every file it loads at start."""
    page = client.get(SHELL).content
    sizes = {"page": (len(page), len(gzip.compress(page, 9)))}
    for url in app_views.shell_assets():
        name = url.removeprefix(settings.STATIC_URL)
        if name.endswith(".png"):
            continue  # icons: for the home screen, not for opening the app
        found = finders.find(name)
        data = Path(found if isinstance(found, str) else found[0]).read_bytes()
        sizes[name] = (len(data), len(gzip.compress(data, 9)))
    return sizes


def test_the_shell_stays_within_its_size_budget(people: dict[str, User]) -> None:
    sizes = shell_sizes(logged_in(people["worker"]))
    compressed = sum(z for _raw, z in sizes.values())
    assert compressed < BUDGET, sizes
    print(f"\nfield app shell: {sum(r for r, _z in sizes.values())} B raw, {compressed} B gzip")
