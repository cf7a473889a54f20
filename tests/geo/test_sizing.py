"""The sizing norm as one SQL annotation: `Grid.objects.with_sizing()`."""

from __future__ import annotations

from typing import Any

import pytest

from civicgrid.geo import actions, selectors
from civicgrid.geo.models import Division, Grid

pytestmark = pytest.mark.django_db


def make(parent: Division | None, code: str, grid: dict[str, Any] | None = None) -> Division:
    return actions.do_create_division(
        actor=None, parent=parent, code=code, name=f"d{code}", grid=grid
    )


def sizing() -> dict[str, str]:
    return dict(Grid.objects.with_sizing().values_list("division__code", "sizing"))


@pytest.fixture
def township() -> Division:
    province = make(None, "370000")
    city = make(province, "371600")
    county = make(city, "371602")
    return make(county, "371602001")


def test_urban_norm(township: Division) -> None:
    community = make(township, "371602001001")  # 0xx: urban
    for serial, households, residents in [
        ("001", 299, 800),
        ("002", 300, 800),
        ("003", 500, 1400),
        ("004", 501, 1400),
        ("005", 400, 2501),
        ("006", 400, 2500),
    ]:
        make(community, f"371602001001{serial}", {"households": households, "residents": residents})
    make(
        community,
        "371602001001007",
        {"kind": "dedicated", "dedicated_type": "school", "households": 3, "residents": 40},
    )
    make(community, "371602001001008", {})  # no household count yet
    assert sizing() == {
        "371602001001001": "under",
        "371602001001002": "ok",
        "371602001001003": "ok",
        "371602001001004": "over",
        "371602001001005": "over",  # too many people, though the households are fine
        "371602001001006": "ok",
        "371602001001007": "exempt",
        "371602001001008": "unknown",
    }
    summary = selectors.sizing_summary(Grid.objects.with_sizing())
    assert summary == {"ok": 3, "over": 2, "under": 1, "exempt": 1, "unknown": 1}


def test_rural_norm(township: Division) -> None:
    alone = make(township, "371602001201")  # 2xx: a village
    make(alone, "371602001201001", {"households": 150, "residents": 400})
    two = make(township, "371602001202")
    make(two, "371602001202001", {"households": 150, "residents": 400})
    make(two, "371602001202002", {"households": 250, "residents": 700})
    big = make(township, "371602001203")
    make(big, "371602001203001", {"households": 401, "residents": 1100})
    make(big, "371602001203002", {"households": 400, "residents": 1100})
    # a village with one general grid and a dedicated one (its school) is still a one-grid
    # village: its general grid is not "too small"
    school = make(township, "371602001204")
    make(school, "371602001204001", {"households": 150, "residents": 400})
    make(
        school,
        "371602001204002",
        {"kind": "dedicated", "dedicated_type": "school", "households": 0, "residents": 20},
    )
    assert Grid.objects.get(division__code="371602001201001").setting == "rural"
    assert sizing() == {
        "371602001201001": "ok",
        "371602001202001": "under",
        "371602001202002": "ok",
        "371602001203001": "over",
        "371602001203002": "ok",
        "371602001204001": "ok",
        "371602001204002": "exempt",
    }


def test_filtering_on_the_annotation_is_sql(township: Division) -> None:
    community = make(township, "371602001001")
    make(community, "371602001001001", {"households": 900, "residents": 2000})
    make(community, "371602001001002", {"households": 400, "residents": 1000})
    over = Grid.objects.with_sizing().filter(sizing="over")
    assert list(over.values_list("division__code", flat=True)) == ["371602001001001"]
