"""Insights tests reuse the cast and the case helpers of the cases tests."""

from __future__ import annotations

from ..cases.conftest import _fresh_calendar_and_outbox, people  # noqa: F401
