"""Domain errors that actions raise; the API maps them to status codes, pages to messages."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

__all__ = ["Conflict", "DomainError", "PermissionDenied", "ValidationError"]


class DomainError(Exception):
    """Base for refusals that are not field validation."""

    status_code = 400

    def __init__(self, message: str, *, code: str = "error", **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # More for the API's answer than a message and a code (e.g. where an upload resumes).
        self.extra = extra


class Conflict(DomainError):
    """The request clashes with the current state (illegal transition, stale version, replay
    of an idempotency key with a different body)."""

    status_code = 409
