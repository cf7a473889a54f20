"""One error shape for the whole API — {"detail": …, "errors": {field: [...]}} — in the
request's language (Chinese unless the client asks for English), and domain errors mapped to
their status codes by the exception handler."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from civicgrid.accounts.roles import Role
from civicgrid.core.exceptions import Conflict, DomainError

from ..conftest import login
from ..world import World

REQUIRED_ZH = "该字段是必填项。"
REQUIRED_EN = "This field is required."


@pytest.fixture
def admin_api(world: World, api: Any) -> Any:
    return login(api, world.user(Role.SYSTEM_ADMIN, "A"))


def test_missing_fields_default_to_chinese(admin_api: Any) -> None:
    response = admin_api.post("/api/v1/users/", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "errors"}
    assert body["errors"]["username"] == [REQUIRED_ZH]
    assert body["errors"]["password"] == [REQUIRED_ZH]
    assert body["errors"]["division"] == [REQUIRED_ZH]
    assert response["Content-Language"] == "zh-hans"


def test_missing_fields_in_english_on_request(admin_api: Any) -> None:
    response = admin_api.post("/api/v1/users/", {}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    body = response.json()
    assert body["errors"]["username"] == [REQUIRED_EN]
    assert response["Content-Language"] == "en"


def test_validation_error_from_an_action_names_the_field(world: World, admin_api: Any) -> None:
    body = {"username": "zhou.jie", "password": "short", "division": world.div["A1"].pk}
    response = admin_api.post("/api/v1/users/", body, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert set(response.json()) == {"detail", "errors"}
    assert list(response.json()["errors"]) == ["password"]
    assert any("short" in m for m in response.json()["errors"]["password"])


def test_query_parameter_errors_have_the_same_shape(admin_api: Any) -> None:
    response = admin_api.get("/api/v1/locate/?lat=north&lng=118")
    assert response.status_code == 400
    assert set(response.json()) == {"detail", "errors"}
    assert list(response.json()["errors"]) == ["lat"]


def test_not_found_and_forbidden_have_a_detail(world: World, api: Any) -> None:
    login(api, world.user(Role.CENTRE_STAFF, "A1"))
    missing = api.get("/api/v1/divisions/987654321/")
    assert missing.status_code == 404
    assert set(missing.json()) == {"detail"}
    forbidden = api.patch(f"/api/v1/divisions/{world.div['A1'].pk}/", {"name": "x"})
    assert forbidden.status_code == 403
    assert set(forbidden.json()) == {"detail"}


# --- the exception handler, through a real APIView -------------------------------------------
class Raises(APIView):
    exc: Exception = RuntimeError("set through as_view")

    def get(self, request: Any) -> Response:
        raise self.exc


def call(exc: Exception, user: Any, language: str = "zh-hans") -> Response:
    request = APIRequestFactory().get("/probe/", HTTP_ACCEPT_LANGUAGE=language)
    force_authenticate(request, user=user)
    from django.utils import translation

    with translation.override(language):
        response = Raises.as_view(exc=exc)(request)
    return response


@pytest.mark.parametrize(
    ("exc", "status", "body"),
    [
        (
            Conflict("stale version", code="stale"),
            409,
            {"detail": "stale version", "code": "stale"},
        ),
        (DomainError("not now"), 400, {"detail": "not now", "code": "error"}),
        (DjangoValidationError({"name": ["bad"]}), 400, {"errors": {"name": ["bad"]}}),
        (
            DjangoValidationError(["whole thing bad"]),
            400,
            {"errors": {"non_field_errors": ["whole thing bad"]}},
        ),
        (
            DjangoValidationError({"__all__": ["clash"]}),
            400,
            {"errors": {"non_field_errors": ["clash"]}},
        ),
        (DjangoPermissionDenied("no"), 403, {"detail": "no"}),
        (Http404("secret detail"), 404, {}),
    ],
    ids=["conflict", "domain", "field", "list", "all", "permission", "404"],
)
def test_exception_handler_maps_domain_errors(
    world: World, exc: Exception, status: int, body: dict[str, Any]
) -> None:
    response = call(exc, world.user(Role.GRID_WORKER, "A1a1"))
    assert response.status_code == status
    for key, value in body.items():
        assert response.data[key] == value
    if status == 404:
        assert "secret" not in str(response.data["detail"])  # Http404 text is not echoed


def test_handler_detail_follows_the_request_language(world: World) -> None:
    user = world.user(Role.GRID_WORKER, "A1a1")
    response = call(DjangoValidationError({"name": ["bad"]}), user, "en")
    assert response.data["detail"] == "The request has invalid fields."
