"""A cast of people in the two-county world, and cases moved along through the real actions."""

from __future__ import annotations

import io
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from civicgrid.accounts.models import User
from civicgrid.accounts.roles import Role
from civicgrid.cases import actions
from civicgrid.cases.models import Case
from civicgrid.catalog.models import CaseCategory
from civicgrid.catalog.selectors import reset_calendar_cache
from civicgrid.core.sms import MemoryBackend

from ..world import World, inside


@pytest.fixture(autouse=True)
def _fresh_calendar_and_outbox() -> Iterator[None]:
    # The calendar is cached per process behind a version stamp; a rolled-back test may leave
    # a cached calendar whose stamp number a later test reuses.
    reset_calendar_cache()
    MemoryBackend.outbox.clear()
    yield
    reset_calendar_cache()
    MemoryBackend.outbox.clear()


CAST = {
    # name: (role, division key, unit key)
    "worker": (Role.GRID_WORKER, "A1a1", None),
    "worker_a1a2": (Role.GRID_WORKER, "A1a2", None),
    "worker_b": (Role.GRID_WORKER, "B1a1", None),
    "grid_leader": (Role.GRID_LEADER, "A1a", None),
    "community": (Role.CENTRE_STAFF, "A1a", None),
    "community_a1b": (Role.CENTRE_STAFF, "A1b", None),
    "township": (Role.CENTRE_STAFF, "A1", None),
    "township_a2": (Role.CENTRE_STAFF, "A2", None),
    "county": (Role.CENTRE_STAFF, "A", None),
    "county_b": (Role.CENTRE_STAFF, "B", None),
    "city": (Role.CENTRE_STAFF, "C", None),
    "handler": (Role.DEPARTMENT_HANDLER, "A", "urban-A"),
    "handler_b": (Role.DEPARTMENT_HANDLER, "B", "urban-B"),
    "handler_city": (Role.DEPARTMENT_HANDLER, "C", "urban-C"),
    "leader": (Role.LEADER, "A", None),
    "leader_b": (Role.LEADER, "B", None),
    "sysadmin": (Role.SYSTEM_ADMIN, "A", None),
    "secadmin": (Role.SECURITY_ADMIN, "C", None),
    "auditadmin": (Role.AUDIT_ADMIN, "C", None),
}


def make_cast(world: World) -> dict[str, User]:
    return {
        name: world.user(role, at, unit=unit, name=name.replace("_", "-"))
        for name, (role, at, unit) in CAST.items()
    }


@pytest.fixture
def people(world: World) -> dict[str, User]:
    return make_cast(world)


def category(code: str) -> CaseCategory:
    return CaseCategory.objects.get(code=code)


_seq = itertools.count(1)


def report(
    actor: Any,
    *,
    at: str = "A1a1",
    code: str = "environment.rubbish",
    **kwargs: Any,
) -> Case:
    """Report a case through the action, at the centre of grid `at`."""
    lng, lat = inside(at)
    values: dict[str, Any] = {
        "category": category(code),
        "description": f"case {next(_seq)}",
        "channel": "grid_app",
        "lat": lat,
        "lng": lng,
    }
    values.update(kwargs)
    case, created = actions.do_report_case(actor=actor, **values)
    assert created
    return case


def fresh(case: Case) -> Case:
    return Case.objects.get(pk=case.pk)


def act(name: str, case: Case, actor: Any, **kwargs: Any) -> Case:
    """Take a transition with the case's current version."""
    current = fresh(case)
    if TRANSITION_NEEDS_NOTE.get(name):
        kwargs.setdefault("note", f"{name} note")
    return actions.ACTIONS[name](current, actor=actor, version=current.version, **kwargs)


def _needs_note() -> dict[str, bool]:
    from civicgrid.cases.workflow import TRANSITIONS

    return {name: t.note_required for name, t in TRANSITIONS.items()}


TRANSITION_NEEDS_NOTE = _needs_note()


def to_state(case: Case, target: str, people: dict[str, User], world: World) -> Case:
    """Walk a fresh case (reported in A1a1, community centre A1a) to `target` along the main
    path, dispatching to the county's urban-management bureau."""
    path = {
        "reported": [],
        "registered": ["register"],
        "dispatched": ["register", "dispatch"],
        "accepted": ["register", "dispatch", "accept"],
        "in_progress": ["register", "dispatch", "accept", "start"],
        "suspended": ["register", "dispatch", "accept", "start", "suspend"],
        "handled": ["register", "dispatch", "accept", "start", "feedback"],
        "checking": ["register", "dispatch", "accept", "start", "feedback", "start_check"],
        "closed": ["register", "dispatch", "accept", "start", "feedback", "close"],
        "evaluated": ["register", "dispatch", "accept", "start", "feedback", "close", "evaluate"],
    }[target]
    who = {
        "register": "community",
        "dispatch": "community",
        "accept": "handler",
        "start": "handler",
        "suspend": "community",
        "feedback": "handler",
        "start_check": "community",
        "close": "community",
        "evaluate": "worker",
    }
    extra: dict[str, dict[str, Any]] = {
        "dispatch": {"unit": world.units["urban-A"]},
        "start_check": {"checker": people["worker"]},
        "evaluate": {"satisfaction": 5},
    }
    for name in path:
        case = act(name, case, people[who[name]], **extra.get(name, {}))
    assert case.status == target
    return fresh(case)


def jpeg(size: tuple[int, int] = (64, 48), color: str = "red", **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", **save)
    return out.getvalue()


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()
