from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from .context import new_request_id, work_context

# A caller-supplied id is accepted only in a harmless shape, so it can go into logs verbatim.
_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware:
    """Gives every request an id (or adopts a sane X-Request-ID) and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get("X-Request-ID", "")
        request_id = supplied if _VALID_ID.match(supplied) else new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        with work_context(request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class LanguageMiddleware(LocaleMiddleware):
    """Pages speak Chinese unless the user chose another language (the language cookie set by
    the switcher); a browser's Accept-Language does not override the deployment's default.
    The API still negotiates by Accept-Language, which programs set on purpose."""

    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/api/"):
            super().process_request(request)
            return
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        supported = {code for code, _name in settings.LANGUAGES}
        translation.activate(chosen if chosen in supported else settings.LANGUAGE_CODE)
        request.LANGUAGE_CODE = translation.get_language()


class ServerTimingMiddleware:
    """Opt-in (`CIVICGRID_SERVER_TIMING=1`, for the benchmarks): the time a request spent in the
    database — every statement, through `connection.execute_wrapper`, and the COMMITs — and in
    all, as `Server-Timing: db;dur=…;desc="N statements", app;dur=…` (milliseconds). Off by
    default, when it takes itself out of the chain at start-up."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not settings.SERVER_TIMING:
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        spent = [0.0, 0]

        def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                spent[0] += time.perf_counter() - start
                spent[1] += 1

        connection = connections[DEFAULT_DB_ALIAS]  # this thread's
        commit = connection._commit  # type: ignore[attr-defined]

        def timed_commit() -> Any:  # COMMIT does not pass through the execute wrappers
            start = time.perf_counter()
            try:
                return commit()
            finally:
                spent[0] += time.perf_counter() - start

        start = time.perf_counter()
        connection._commit = timed_commit  # type: ignore[attr-defined]
        try:
            with connection.execute_wrapper(timed):
                response = self.get_response(request)
        finally:
            del connection._commit  # type: ignore[attr-defined]  # back to the class's method
        total = time.perf_counter() - start
        response["Server-Timing"] = (
            f'db;dur={spent[0] * 1000:.2f};desc="{spent[1]} statements", app;dur={total * 1000:.2f}'
        )
        return response
