from __future__ import annotations

from collections.abc import Iterator

import pytest

from civicgrid.catalog.selectors import reset_calendar_cache


@pytest.fixture(autouse=True)
def _fresh_calendar() -> Iterator[None]:
    # The calendar is cached per process behind a version stamp; a rolled-back test may leave
    # a cached calendar whose stamp number a later test reuses.
    reset_calendar_cache()
    yield
    reset_calendar_cache()
