from __future__ import annotations

from typing import Any

import pytest

from civicgrid.accounts.roles import Role
from civicgrid.registry import actions

from ..world import World


def valid_id(birth: str = "19900307", region: str = "371602", seq: str = "123") -> str:
    from stdnum.cn import ric

    body = f"{region}{birth}{seq}"
    return body + ric.calc_check_digit(body + "0")  # it reads the first 17 characters


@pytest.fixture
def reg(world: World) -> dict[str, Any]:
    """A grid worker of A1a1 and a building, house and household there."""
    worker = world.user(Role.GRID_WORKER, "A1a1")
    building = actions.do_create_record(
        "building",
        actor=worker,
        data={
            "grid": world.div["A1a1"].code,
            "road": "黄河五路",
            "number": "100",
            "building_no": "3",
        },
    )
    house = actions.do_create_record(
        "house", actor=worker, data={"building": building, "unit_no": "2", "room": "301"}
    )
    household = actions.do_create_record("household", actor=worker, data={"house": house})
    return {"worker": worker, "building": building, "house": house, "household": household}
