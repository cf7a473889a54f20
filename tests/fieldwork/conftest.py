"""Field app tests reuse the cast of the cases tests (tests/cases/conftest.py) in the two-county
world, and add households, residents and a care-group tag in the grid workers' grids."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.registry import actions as registry
from civicgrid.registry.models import CareTag, Household, Resident

from ..cases.conftest import _fresh_calendar_and_outbox, people  # noqa: F401
from ..registry.conftest import valid_id
from ..world import World, inside

API = "/api/v1/field/"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def jpeg(size: tuple[int, int] = (64, 48), color: str = "red", *, gps: bool = False) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", size, color)
    if gps:
        exif = Image.Exif()
        exif[0x010F] = "PhoneMaker"  # Make
        exif[0x8825] = {1: "N", 2: (37.0, 30.0, 0.0), 3: "E", 4: (118.0, 1.0, 0.0)}  # GPS
        image.save(out, "JPEG", exif=exif)
    else:
        image.save(out, "JPEG")
    return out.getvalue()


def client(user: User) -> APIClient:
    api = APIClient()
    api.force_authenticate(user=user)
    return api


def post(api: APIClient, path: str, body: Any) -> Any:
    return api.post(API + path, body, format="json")


def put_chunk(
    api: APIClient, key: str, data: bytes, start: int, total: int, *, header: str | None = None
) -> Any:
    end = start + len(data) - 1
    return api.put(
        f"{API}uploads/{key}/",
        data,
        content_type="application/octet-stream",
        HTTP_CONTENT_RANGE=header if header is not None else f"bytes {start}-{end}/{total}",
    )


def upload(api: APIClient, data: bytes | None = None, *, chunk: int = 1000) -> str:
    """Announce and send a photo in chunks; its uuid."""
    data = jpeg() if data is None else data
    key = str(uuid.uuid4())
    body = {
        "uuid": key,
        "name": "IMG_0001.jpg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    assert post(api, "uploads/", body).status_code == 201
    state: dict[str, Any] = {}
    for start in range(0, len(data), chunk):
        response = put_chunk(api, key, data[start : start + chunk], start, len(data))
        assert response.status_code == 200, response.content
        state = response.json()
    assert state["complete"], state
    return key


def point(key: str) -> tuple[float, float]:
    """(lat, lng) inside grid `key`."""
    lng, lat = inside(key)
    return lat, lng


def field_error(response: Any, name: str, status: int = 400) -> list[str]:
    assert response.status_code == status, response.content
    body = response.json()
    assert name in body.get("errors", {}), body
    return body["errors"][name]


@dataclass
class Field:
    world: World
    people: dict[str, User]
    household: Household  # in A1a1 (the worker's grid)
    elder: Resident  # its head, an elderly person living alone
    tag: CareTag  # the elder's care-group tag, due for a visit
    other_household: Household  # in A1a2 (another worker's grid)
    other_resident: Resident

    @property
    def worker(self) -> User:
        return self.people["worker"]


def _home(world: World, worker: User, key: str, name: str, birth: str, road: str) -> Any:
    building = registry.do_create_record(
        "building",
        actor=worker,
        data={"grid": world.div[key].code, "road": road, "number": "12", "building_no": "1"},
    )
    house = registry.do_create_record(
        "house", actor=worker, data={"building": building, "unit_no": "1", "room": "101"}
    )
    household = registry.do_create_record("household", actor=worker, data={"house": house})
    person = registry.do_create_record(
        "resident",
        actor=worker,
        data={
            "name": name,
            "id_number": valid_id(birth=birth),
            "phone": "13812345678" if key == "A1a1" else "13912345678",
            "household": household,
            "relation": "head",
        },
    )
    return household, person


@pytest.fixture
def field(world: World, people: dict[str, User]) -> Field:  # noqa: F811
    worker = people["worker"]
    household, elder = _home(world, worker, "A1a1", "王秀英", "19450203", "黄河五路")
    tag = registry.do_tag_resident(elder, actor=worker, data={"group": "elderly_alone"})
    other_household, other = _home(
        world, people["worker_a1a2"], "A1a2", "李建国", "19600101", "渤海七路"
    )
    return Field(
        world,
        people,
        Household.objects.get(pk=household.pk),
        Resident.objects.get(pk=elder.pk),
        CareTag.objects.get(pk=tag.pk),
        Household.objects.get(pk=other_household.pk),
        Resident.objects.get(pk=other.pk),
    )
