"""Request context carried through a unit of work: the request id that ties log lines and
audit rows together. Commands and tasks open their own context with `work_context`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_request_id: ContextVar[str] = ContextVar("civicgrid_request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextmanager
def work_context(request_id: str | None = None) -> Iterator[str]:
    token = _request_id.set(request_id or new_request_id())
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or "-"
        return True
