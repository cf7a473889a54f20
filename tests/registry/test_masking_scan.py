"""The leak scanner (tests/leakscan.py) that checks every response of the suite for clear ID
and phone numbers: proof that it catches a leak in each form a body can take, and lets the
audited unmask answers through."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.test import Client
from django.urls import path
from rest_framework.test import APIClient

from civicgrid.core import crypto
from civicgrid.registry import actions, protect
from civicgrid.registry.models import Resident

from ..conftest import login
from ..leakscan import ClearNumberLeak, LeakScanner
from .conftest import valid_id

PHONE = "13812345678"


# --- a throwaway site whose views leak on purpose -------------------------------------------
def _clear(request: Any, field: str) -> str:
    person = Resident.objects.get(pk=int(request.GET["pk"]))
    return protect.reveal(person, field)


def leak_json(request: Any) -> JsonResponse:
    return JsonResponse({"id_number": _clear(request, "id_number")})


def leak_national_phone(request: Any) -> HttpResponse:
    # The stored value is +8613812345678; a page shows the eleven digits people know.
    number = _clear(request, "phone").removeprefix("+86")
    return HttpResponse(f"<p>电话：{number}</p>")


def leak_lowercase_id(request: Any) -> HttpResponse:
    return HttpResponse(_clear(request, "id_number").lower(), content_type="text/plain")


def leak_streamed(request: Any) -> StreamingHttpResponse:
    number = _clear(request, "id_number")
    return StreamingHttpResponse(iter(["name,id\n", "张小明,", number[:9], number[9:], "\n"]))


def leak_xlsx(request: Any) -> HttpResponse:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", f"<sst><si><t>{_clear(request, 'id_number')}</t></si>")
    return HttpResponse(buffer.getvalue(), content_type="application/vnd.ms-excel")


def masked(request: Any) -> JsonResponse:
    person = Resident.objects.get(pk=int(request.GET["pk"]))
    return JsonResponse({"id": person.id_masked, "phone": person.phone_masked})


def audited(request: Any) -> JsonResponse:
    return JsonResponse({"id_number": _clear(request, "id_number")})


urlpatterns = [
    path("leak/json/", leak_json),
    path("leak/phone/", leak_national_phone),
    path("leak/lower/", leak_lowercase_id),
    path("leak/stream/", leak_streamed),
    path("leak/xlsx/", leak_xlsx),
    path("masked/", masked),
    path("record/1/unmask/", audited),
]


@pytest.fixture
def person(reg: dict[str, Any]) -> Resident:
    resident = actions.do_create_record(
        "resident",
        actor=reg["worker"],
        data={
            "name": "张小明",
            "id_number": valid_id(seq="121"),
            "phone": PHONE,
            "household": reg["household"],
        },
    )
    assert isinstance(resident, Resident)
    return resident


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("url", ["json", "phone", "lower", "stream", "xlsx"])
def test_the_scanner_catches_a_clear_number_in_any_body(
    person: Resident, leak_scanner: LeakScanner, url: str
) -> None:
    client = Client()
    with pytest.raises(ClearNumberLeak) as leak:
        client.get(f"/leak/{url}/", {"pk": person.pk})
    message = str(leak.value)
    assert f"/leak/{url}/" in message and "registry." in message
    # The failure message points at the value without repeating it.
    assert valid_id(seq="121") not in message.upper() and PHONE not in message


@pytest.mark.urls(__name__)
def test_masked_numbers_pass_and_every_response_is_read(
    person: Resident, leak_scanner: LeakScanner
) -> None:
    before = leak_scanner.responses
    response = APIClient().get("/masked/", {"pk": person.pk})
    assert response.json() == {"id": person.id_masked, "phone": "138****5678"}
    assert leak_scanner.responses == before + 1


@pytest.mark.urls(__name__)
def test_a_streamed_body_is_still_readable_by_the_test(
    person: Resident, leak_scanner: LeakScanner
) -> None:
    with leak_scanner.allowing():
        response = Client().get("/leak/stream/", {"pk": person.pk})
    assert b"".join(response.streaming_content).startswith(b"name,id\n")


@pytest.mark.urls(__name__)
def test_unmask_answers_are_exempt(person: Resident) -> None:
    response = Client().get("/record/1/unmask/", {"pk": person.pk})
    assert response.json()["id_number"] == valid_id(seq="121")


def test_values_are_remembered_from_encryption_under_registry_purposes_only(
    leak_scanner: LeakScanner,
) -> None:
    crypto.encrypt("+8613900001111", protect.PHONE_PURPOSE)
    crypto.encrypt("+8613700002222", "cases.reporter_phone")
    assert {"+8613900001111", "8613900001111", "13900001111"} <= set(leak_scanner.remembered)
    assert not any("13700002222" in value for value in leak_scanner.remembered)


def test_the_real_unmask_endpoint_passes_and_a_real_detail_is_masked(
    person: Resident, world: Any
) -> None:
    from civicgrid.accounts.roles import Role

    staff = world.user(Role.CENTRE_STAFF, "A1", name="staff")
    api = login(APIClient(), staff)
    detail = api.get(f"/api/v1/registry/residents/{person.pk}/")
    assert detail.status_code == 200 and detail.json()["phone_masked"] == "138****5678"
    clear = api.post(
        f"/api/v1/registry/residents/{person.pk}/unmask/",
        {"fields": ["phone"], "reason": "核实来电人身份"},
        format="json",
    )
    assert clear.status_code == 200, clear.content
    assert clear.json() == {"phone": "+86" + PHONE}
