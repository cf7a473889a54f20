from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.exchange import actions as exchange
from civicgrid.exchange.models import Subscription
from civicgrid.registry import actions as registry
from civicgrid.registry.models import Resident

from ..registry.conftest import valid_id
from ..world import World


@dataclass
class Share:
    """A world with registry writers, two county departments, their handlers and the system
    administrators who subscribe them."""

    world: World
    writer: User  # centre staff of county A: registers and moves records anywhere in A
    writer_b: User  # centre staff of county B
    admin: User  # system administrator of county A
    admin_b: User  # system administrator of county B
    handler: User  # department handler of urban-A (滨城区城管局)
    handler_b: User  # department handler of urban-B (沾化区城管局)
    people: int = 0
    residents: list[Resident] = field(default_factory=list)

    def subscribe(
        self,
        unit: str = "urban-A",
        *,
        types: Iterable[str] = ("resident",),
        classes: Iterable[str] = ("basic",),
        area: str | None = None,
        url: str = "",
        actor: User | str | None = "admin",
    ) -> tuple[Subscription, str]:
        """Subscribe a unit, as the county A administrator unless another actor (or None,
        the system) is named."""
        return exchange.do_create_subscription(
            actor=self.admin if actor == "admin" else actor,
            unit=self.world.units[unit],
            record_types=list(types),
            field_classes=list(classes),
            division=self.world.div[area] if area else None,
            webhook_url=url,
        )

    def resident(self, grid: str = "A1a1", **extra: Any) -> Resident:
        self.people += 1
        writer = self.writer_b if grid.startswith("B") else self.writer
        data = {
            "name": f"居民{self.people}",
            "id_number": valid_id(seq=f"{self.people:03d}"),
            "phone": f"138{self.people:08d}",
            "grid": self.world.div[grid].code,
            **extra,
        }
        person = registry.do_create_record("resident", actor=writer, data=data)
        assert isinstance(person, Resident)
        self.residents.append(person)
        return person

    def building(self, grid: str = "A1a1", number: str = "1") -> Any:
        writer = self.writer_b if grid.startswith("B") else self.writer
        return registry.do_create_record(
            "building",
            actor=writer,
            data={"grid": self.world.div[grid].code, "road": "黄河五路", "number": number},
        )

    def client(self, user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user=user)
        return client


def audit_of(subscription: Subscription) -> Any:
    """The audit rows of one subscription, oldest first."""
    from django.contrib.contenttypes.models import ContentType

    from civicgrid.core.models import ObjectChange

    return ObjectChange.objects.filter(
        content_type=ContentType.objects.get_for_model(Subscription),
        object_id=str(subscription.pk),
    ).order_by("id")


def make_share(world: World) -> Share:
    return Share(
        world=world,
        writer=world.user(Role.CENTRE_STAFF, "A", name="writer"),
        writer_b=world.user(Role.CENTRE_STAFF, "B", name="writer-b"),
        admin=world.user(Role.SYSTEM_ADMIN, "A", name="admin"),
        admin_b=world.user(Role.SYSTEM_ADMIN, "B", name="admin-b"),
        handler=world.user(Role.DEPARTMENT_HANDLER, "A", unit="urban-A", name="handler"),
        handler_b=world.user(Role.DEPARTMENT_HANDLER, "B", unit="urban-B", name="handler-b"),
    )


@pytest.fixture
def share(world: World) -> Share:
    return make_share(world)


def read_all(client: APIClient, *, since: int = 0, limit: int = 100, **params: Any) -> list[dict]:
    """Every change from `since` on, page by page, checking the cursors as it goes."""
    got: list[dict] = []
    cursor = since
    for _ in range(10_000):
        response = client.get("/api/v1/changes/", {"since": cursor, "limit": limit, **params})
        assert response.status_code == 200, response.content
        page = response.json()
        assert len(page["results"]) <= limit
        assert page["next"] >= cursor
        if page["results"]:
            assert page["results"][-1]["seq"] <= page["next"]
        got += page["results"]
        cursor = page["next"]
        if not page["has_more"]:
            return got
    raise AssertionError("the feed never ended")
