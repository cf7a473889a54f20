from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def _fresh_throttle() -> Iterator[None]:
    # The token endpoint is rate-limited per client address through the cache; each test
    # starts with a clean count so that the order of tests does not matter.
    cache.clear()
    yield
    cache.clear()
