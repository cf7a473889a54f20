"""The grid worker's installable app (外勤 App): the shell page, its web app manifest and its
service worker.

The shell is the same for every user — no personal data, no CSRF token in the page (the app
reads the `csrftoken` cookie) — so the service worker can keep one copy and open the app with
no network. Everything personal comes from the bootstrap API and lives in the phone's
IndexedDB, where the app can wipe it. The service worker's cache name carries a hash of the
shell's files, so a deploy that changes any of them installs a new worker and a new cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import get_language, gettext_lazy, pgettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from civicgrid.core.validators import DocumentType
from civicgrid.registry.choices import Relation, ResidenceType, Sex
from civicgrid.web.typing import AuthedRequest

from ..selectors import my_grids

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
APP_DIR = "fieldwork"
# The service worker's own source is served by `service_worker`, not precached.
SW_SOURCE = f"{APP_DIR}/sw.js"
VENDOR = ["vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css"]
SHELL_SUFFIXES = {".js", ".css", ".png", ".svg"}
THEME = "#123a63"


def may_use_app(user: Any) -> bool:
    """Grid workers and grid leaders who hold the role at a grid: the people the field API takes
    submissions from ("my grids" in the API)."""
    return bool(my_grids(user))


def _app_files() -> list[str]:
    """The app's own static files (the centre pages' centre*.js/css are not part of it)."""
    folder = STATIC_DIR / APP_DIR
    names = [
        f"{APP_DIR}/{p.relative_to(folder).as_posix()}"
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in SHELL_SUFFIXES and not p.name.startswith("centre")
    ]
    return [n for n in names if n != SW_SOURCE]


def _source(name: str) -> bytes:
    found = finders.find(name)
    if not found:
        raise FileNotFoundError(f"static file {name} is missing (npm ci?)")
    return Path(found if isinstance(found, str) else found[0]).read_bytes()


def _compute_version() -> str:
    digest = hashlib.sha256()
    template = Path(__file__).resolve().parents[1] / "templates" / APP_DIR / "app.html"
    for name in [*_app_files(), *VENDOR, SW_SOURCE]:
        digest.update(name.encode() + b"\0" + _source(name) + b"\0")
    digest.update(template.read_bytes())
    return digest.hexdigest()[:12]


_cached_version = functools.cache(_compute_version)


def shell_version() -> str:
    """A hash of every file the shell is made of; recomputed on each call while developing."""
    return _compute_version() if settings.DEBUG else _cached_version()


def shell_assets() -> list[str]:
    """URLs the service worker precaches besides the shell page itself (hashed names when the
    manifest storage is in use)."""
    return [static(name) for name in [*_app_files(), *VENDOR]]


def import_map() -> dict[str, dict[str, str]]:
    """Modules import each other by plain relative names ("./api.js"); in production the files
    are served under hashed names, and this map sends each plain URL to its hashed one."""
    imports = {}
    for name in _app_files():
        if name.endswith(".js"):
            plain, hashed = settings.STATIC_URL + name, static(name)
            if plain != hashed:
                imports[plain] = hashed
    return {"imports": imports}


def _safe_json(value: Any) -> str:
    """JSON that can sit inside a <script> element (as json_script escapes it)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")


def _choices(choices: Any) -> list[dict[str, str]]:
    return [{"value": value, "label": str(label)} for value, label in choices]


# Words the app's scripts show. They are translated here, with the page, so that the copy the
# service worker keeps speaks the user's language with no network.
STRINGS = {
    "waiting": gettext_lazy("Waiting"),
    "sending": gettext_lazy("Sending"),
    "failed": gettext_lazy("Failed"),
    "sent": gettext_lazy("Sent"),
    "offline": gettext_lazy("Offline"),
    "online": gettext_lazy("Online"),
    "syncing": gettext_lazy("Sending…"),
    "all_sent": gettext_lazy("Everything is sent"),
    "n_waiting": gettext_lazy("%(count)s waiting"),
    "n_failed": gettext_lazy("%(count)s failed"),
    "last_sync": gettext_lazy("Last contact with the server: %(time)s"),
    "never_synced": gettext_lazy("Not yet in contact with the server"),
    "saved": gettext_lazy("Saved on the phone; it is sent when there is a network."),
    "saved_sending": gettext_lazy("Saved on the phone; sending it now."),
    "sent_now": gettext_lazy("Sent to the server."),
    "network_error": gettext_lazy("No network: it is sent when the connection returns."),
    "server_error": gettext_lazy("The server did not answer (%(status)s); trying again later."),
    "next_try": gettext_lazy("Next try at %(time)s"),
    "attempts": gettext_lazy("Attempts: %(count)s"),
    "login_again": gettext_lazy(
        "Log in again to send what is waiting. Nothing on the phone is lost."
    ),
    "login_button": gettext_lazy("Log in"),
    "checking_user": gettext_lazy("Checking who is logged in…"),
    "confirm_online": gettext_lazy(
        "Someone new logged in on this phone. Connect to the network once to confirm it is you."
    ),
    "first_load": gettext_lazy(
        "Connect to the network once to load the data of your grid onto this phone."
    ),
    "wipe_soon": gettext_lazy(
        "The data on this phone will be wiped in %(hours)s hours unless you connect and log in."
    ),
    "wiped": gettext_lazy(
        "The data on this phone was wiped after too long without logging in. Log in again."
    ),
    "logout_pending": gettext_lazy(
        "%(count)s records have not been sent yet. Logging out deletes them from this phone."
        " Log out anyway?"
    ),
    "confirm_discard": gettext_lazy("Delete this record from the phone? It will not be sent."),
    "confirm_leave_patrol": gettext_lazy("Stop recording this patrol and discard its track?"),
    "update_ready": gettext_lazy("A new version of the app is ready. Tap to reload."),
    "kind_case": gettext_lazy("Case report"),
    "kind_visit": pgettext_lazy("field app", "Visit"),
    "kind_patrol": pgettext_lazy("field app", "Patrol"),
    "kind_check_in": gettext_lazy("Check-in"),
    "kind_resident": gettext_lazy("Resident information"),
    "one_photo": gettext_lazy("1 photo"),
    "photos_n": gettext_lazy("%(count)s photos"),
    "photo_upload": gettext_lazy("Uploading photo %(done)s of %(count)s…"),
    "compressing": gettext_lazy("Preparing the photo…"),
    "too_many_photos": gettext_lazy("At most %(count)s photos per record."),
    "photo_failed": gettext_lazy("This file could not be read as a photo."),
    "required": gettext_lazy("This field is required."),
    "need_photo": gettext_lazy("Attach a photo as evidence."),
    "need_note": gettext_lazy("Say how it was resolved."),
    "need_position": gettext_lazy("No position yet: wait for the GPS or tap the map."),
    "need_who": gettext_lazy("Choose a household, a resident or a care visit that is due."),
    "no_gps": gettext_lazy("The position is not available. Allow location for this site."),
    "locating": gettext_lazy("Finding your position…"),
    "position": gettext_lazy("Position %(lat)s, %(lng)s (±%(acc)s m)"),
    "picked": gettext_lazy("Position set on the map: %(lat)s, %(lng)s"),
    "inside_grid": gettext_lazy("Inside your grid"),
    "outside_grid": gettext_lazy("Outside your grid"),
    "patrol_running": gettext_lazy("Patrol in progress"),
    "patrol_summary": gettext_lazy("%(minutes)s min · %(km)s km · %(points)s points"),
    "patrol_too_short": gettext_lazy(
        "The patrol ended as soon as it started: continue it, or discard it."
    ),
    "patrol_no_points": gettext_lazy("No GPS points recorded yet."),
    "minutes": gettext_lazy("%(count)s min"),
    "overdue": gettext_lazy("Overdue"),
    "due": gettext_lazy("Due %(date)s"),
    "nothing": gettext_lazy("Nothing here."),
    "no_tasks": gettext_lazy("No tasks for you."),
    "no_care_due": gettext_lazy("No care visits due."),
    "no_results": gettext_lazy("No resident matches."),
    "more_results": gettext_lazy("Showing the first %(count)s; type more to narrow it down."),
    "age": gettext_lazy("%(age)s years"),
    "choose": gettext_lazy("— choose —"),
    "whole_household": gettext_lazy("the whole household"),
    "resend": gettext_lazy("Send again"),
    "edit": gettext_lazy("Edit"),
    "discard": gettext_lazy("Delete"),
    "remove_photo": gettext_lazy("Remove photo"),
    "fix_resident": gettext_lazy("Fix information"),
    "add_member": gettext_lazy("Add a member"),
    "changed_nothing": gettext_lazy("Nothing was changed."),
    "result_case": gettext_lazy("Case %(number)s · %(status)s"),
    "result_patrol": gettext_lazy("%(minutes)s min, %(distance)s m"),
    "result_check_in_in": gettext_lazy("Checked in inside the grid"),
    "result_check_in_out": gettext_lazy("Checked in outside the grid"),
    "field_category": gettext_lazy("Category"),
    "field_description": gettext_lazy("Description"),
    "field_photos": gettext_lazy("Photos"),
    "field_file": gettext_lazy("Photo"),
    "field_sha256": gettext_lazy("Photo"),
    "field_size": gettext_lazy("Photo"),
    "field_note": gettext_lazy("Note"),
    "field_lat": gettext_lazy("Position"),
    "field_lng": gettext_lazy("Position"),
    "field_grid": gettext_lazy("Grid"),
    "field_purpose": gettext_lazy("Purpose"),
    "field_visited_at": gettext_lazy("Time of the visit"),
    "field_household": gettext_lazy("Household"),
    "field_resident": gettext_lazy("Resident"),
    "field_care_tag": gettext_lazy("Care visit"),
    "field_track": gettext_lazy("Track"),
    "field_started_at": pgettext_lazy("field app", "Start"),
    "field_ended_at": pgettext_lazy("field app", "End"),
    "field_name": pgettext_lazy("person", "Name"),
    "field_phone": gettext_lazy("Phone"),
    "field_id_number": gettext_lazy("Document number"),
    "field_version": gettext_lazy("Version"),
    "field_sex": gettext_lazy("Sex"),
    "field_id_type": gettext_lazy("Document type"),
    "field_residence_type": gettext_lazy("Residence type"),
    "field_relation": gettext_lazy("Relation to the head"),
    "field_address": gettext_lazy("Address"),
    "field_self_resolve": gettext_lazy("I resolved it on the spot"),
    "field_at": gettext_lazy("Time"),
    "field_accuracy": gettext_lazy("Accuracy"),
}


def _config() -> dict[str, Any]:
    return {
        "version": shell_version(),
        "language": get_language(),
        "shell": reverse("fieldwork:app"),
        "sw": reverse("fieldwork:sw"),
        "login": reverse("web:login") + "?next=" + reverse("fieldwork:app"),
        "logout": reverse("web:logout"),
        "home": reverse("web:home"),
        "set_language": reverse("set_language"),
        "tile": {
            "url": settings.MAP_TILE_URL or "",
            "attribution": settings.MAP_TILE_ATTRIBUTION or "",
            "crs": settings.MAP_TILE_CRS,
        },
        "choices": {
            "sex": _choices(Sex.choices),
            "id_type": _choices(DocumentType.choices),
            "residence_type": _choices(ResidenceType.choices),
            "relation": _choices(Relation.choices),
        },
    }


@never_cache
@ensure_csrf_cookie
@login_required
@require_GET
def app(request: AuthedRequest) -> HttpResponse:
    """The shell: every screen's frame and words, none of the user's data."""
    if not may_use_app(request.user):
        raise PermissionDenied(_("The field app is for grid workers and grid leaders of a grid."))
    context = {
        "config_json": _safe_json(_config()),
        "strings_json": _safe_json({key: str(text) for key, text in STRINGS.items()}),
        "import_map_json": _safe_json(import_map()),
        "languages": settings.LANGUAGES,
    }
    response = render(request, "fieldwork/app.html", context)
    response["Vary"] = "Cookie"
    return response


@require_GET
def manifest(request: HttpRequest) -> JsonResponse:
    """The web app manifest. Browsers fetch it without cookies, so it needs no login (and holds
    nothing but the app's name and icons)."""
    start = reverse("fieldwork:app")
    response = JsonResponse(
        {
            "name": _("civicgrid field app"),
            "short_name": _("Field app"),
            "description": _("Report cases, record visits and patrols, with or without network."),
            "lang": get_language(),
            "id": start,
            "start_url": start,
            "scope": start,
            "display": "standalone",
            "orientation": "portrait",
            "background_color": "#ffffff",
            "theme_color": THEME,
            "icons": [
                {
                    "src": static(f"{APP_DIR}/icon-192.png"),
                    "sizes": "192x192",
                    "type": "image/png",
                    "purpose": "any maskable",
                },
                {
                    "src": static(f"{APP_DIR}/icon-512.png"),
                    "sizes": "512x512",
                    "type": "image/png",
                    "purpose": "any maskable",
                },
            ],
        },
        json_dumps_params={"ensure_ascii": False},
        content_type="application/manifest+json",
    )
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker: its source with the shell's version and file list put in front.
    No login: the browser re-checks it on its own, also after the session ended, and it holds
    only the names of public files."""
    config = {
        "version": shell_version(),
        "shell": reverse("fieldwork:app"),
        "assets": shell_assets(),
    }
    body = f"const CONFIG = {_safe_json(config)};\n" + _source(SW_SOURCE).decode()
    response = HttpResponse(body, content_type="text/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = reverse("fieldwork:app")
    response["Cache-Control"] = "no-cache"
    return response
