"""Division paths: a subtree is a half-open range on an indexed column, which must select exactly
the rows whose path starts with the prefix — on SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicgrid.core.paths import (
    any_subtree_q,
    is_under,
    minimal_prefixes,
    path_upper_bound,
    subtree_q,
)
from civicgrid.geo.choices import Level
from civicgrid.geo.models import Division

digits = st.text(alphabet="0123456789", min_size=1, max_size=15)


@pytest.mark.parametrize(
    ("path", "upper"),
    [
        ("3716", "3717"),
        ("371602", "371603"),
        ("37", "38"),
        ("3719", "372"),
        ("1999", "2"),
        ("0", "1"),
        ("09", "1"),
        ("9", None),
        ("999", None),
    ],
)
def test_path_upper_bound(path: str, upper: str | None) -> None:
    assert path_upper_bound(path) == upper


@given(prefix=digits, other=digits)
def test_range_matches_startswith_in_python(prefix: str, other: str) -> None:
    upper = path_upper_bound(prefix)
    in_range = other >= prefix and (upper is None or other < upper)
    assert in_range == other.startswith(prefix)


def test_minimal_prefixes_and_is_under() -> None:
    assert minimal_prefixes(["371602001", "3716", "371602", "3703", "3716"]) == ["3703", "3716"]
    assert minimal_prefixes([]) == []
    assert any_subtree_q("path", []) is None
    assert is_under("371602001", "3716")
    assert not is_under("3716", "371602")


@given(paths=st.lists(digits, max_size=6), probe=digits)
def test_any_subtree_equals_union_of_prefixes(paths: list[str], probe: str) -> None:
    kept = minimal_prefixes(paths)
    assert any(probe.startswith(p) for p in kept) == any(probe.startswith(p) for p in paths)
    # nothing kept lies under another kept path
    assert not any(a != b and b.startswith(a) for a in kept for b in kept)


def _rows(paths: set[str]) -> None:
    Division.objects.bulk_create(
        Division(level=Level.GRID, code=f"c{i}", path=path, name=path, is_active=False)
        for i, path in enumerate(sorted(paths))
    )


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stored=st.sets(digits, min_size=1, max_size=25), prefixes=st.lists(digits, max_size=3))
def test_subtree_filter_on_the_database_matches_startswith(
    db: Any, stored: set[str], prefixes: list[str]
) -> None:
    """The same answer from the database's range comparison as from Python's startswith, for
    arbitrary digit strings (including runs of 9s, where the bound carries over)."""
    prefixes = prefixes or [next(iter(stored))[: max(1, len(next(iter(stored))) // 2)]]
    sid = transaction.savepoint()
    try:
        _rows(stored)
        for prefix in prefixes:
            got = set(
                Division.objects.filter(subtree_q("path", prefix)).values_list("path", flat=True)
            )
            assert got == {p for p in stored if p.startswith(prefix)}, prefix
        q = any_subtree_q("path", prefixes)
        got = set(Division.objects.filter(q).values_list("path", flat=True)) if q else set()
        assert got == {p for p in stored if any(p.startswith(x) for x in prefixes)}
    finally:
        transaction.savepoint_rollback(sid)


def test_subtree_filter_on_real_divisions(world: Any) -> None:
    county_a = world.div["A"]
    codes = set(
        Division.objects.filter(subtree_q("path", county_a.path)).values_list("code", flat=True)
    )
    assert codes == {d.code for d in world.div.values() if d.code.startswith("371602")}
    assert "371603" not in codes
