"""One error shape for the whole API: {"detail": "...", "errors": {"field": ["..."]}}.

Django's ValidationError (raised by actions and model validation) becomes a 400 naming the
fields; domain conflicts become 409; everything DRF raises keeps its status. Messages are
translated in the language negotiated for the request.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from civicgrid.core.exceptions import DomainError


def validation_error_dict(error: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {
            ("non_field_errors" if field == "__all__" else field): [
                str(m) for e in errors for m in e.messages
            ]
            for field, errors in error.error_dict.items()
        }
    return {"non_field_errors": [str(m) for m in error.messages]}


def _flatten(detail: Any) -> dict[str, Any]:
    if isinstance(detail, dict):
        return dict(detail)
    if isinstance(detail, list):
        return {"non_field_errors": detail}
    return {"non_field_errors": [detail]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        return Response(
            {"detail": _("The request has invalid fields."), "errors": validation_error_dict(exc)},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, DomainError):
        return Response(
            {"detail": exc.message, "code": exc.code, **exc.extra}, status=exc.status_code
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("Not found."))
    if isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "detail": _("The request has invalid fields."),
            "errors": _flatten(response.data),
        }
    return response
