"""Feed cursors under concurrent writes: several writer threads, each on its own database
connection, register, change and move records through registry.actions while readers page
through /api/v1/changes/ with small pages. At the end each reader holds every entry meant for
it exactly once, in order — no entry committed behind a cursor already handed out.

On SQLite the writers' transactions are serialised by the database (IMMEDIATE transactions,
one writer at a time) while the readers run beside them in WAL mode; on PostgreSQL they truly
overlap, which is where a feed ordered by plain auto-increment ids would lose entries.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from civicgrid.accounts.models import User
from civicgrid.exchange.fields import FieldClass, RecordType
from civicgrid.exchange.models import FeedEntry
from civicgrid.registry import actions as registry
from civicgrid.registry.models import Resident

from ..registry.conftest import valid_id
from ..world import build_world
from .conftest import make_share, read_all

pytestmark = pytest.mark.django_db(transaction=True)

WRITERS = 4
PEOPLE_EACH = 12
GRIDS = ["A1a1", "A1a2", "A1b1", "A2a1"]


def _write(number: int, writer_pk: int, grids: dict[str, str]) -> None:
    writer = User.objects.get(pk=writer_pk)
    for i in range(PEOPLE_EACH):
        grid = GRIDS[(number + i) % len(GRIDS)]
        person = registry.do_create_record(
            "resident",
            actor=writer,
            data={
                "name": f"并发{number}-{i}",
                "id_number": valid_id(birth=f"1980{number + 1:02d}{i + 1:02d}", seq="123"),
                "phone": f"139{number:02d}{i:06d}",
                "grid": grids[grid],
            },
        )
        assert isinstance(person, Resident)
        if i % 2:
            registry.do_update_record(person, actor=writer, version=None, data={"note": "复核"})
        if i % 3 == 0:
            moved_to = GRIDS[(number + i + 1) % len(GRIDS)]
            registry.do_update_record(
                person, actor=writer, version=None, data={"grid": grids[moved_to]}
            )
        if i % 4 == 1:
            registry.do_tag_resident(person, actor=writer, data={"group": "elderly_alone"})


def _read(client: APIClient, writing: threading.Event, pages: list[dict[str, Any]]) -> None:
    """Page with small pages until the writers are done and a page says there is no more."""
    cursor = 0
    for _ in range(100_000):
        done = not writing.is_set()
        page = client.get("/api/v1/changes/", {"since": cursor, "limit": 3}).json()
        pages.append(page)
        cursor = page["next"]
        if done and not page["has_more"]:
            return
    raise AssertionError("the reader never caught up")


def test_pages_read_during_concurrent_writes_hold_every_entry_once_in_order() -> None:
    world = build_world(with_boundaries=False)
    share = make_share(world)
    everything = share.subscribe(
        types=RecordType.values, classes=FieldClass.values, area="C", actor=None
    )[0]
    share.subscribe("urban-B", types=["resident"], classes=["basic"], area="A1", actor=None)
    grids = {key: world.div[key].code for key in GRIDS}
    readers = {"all": share.client(share.handler), "narrow": share.client(share.handler_b)}
    pages: dict[str, list[dict[str, Any]]] = {name: [] for name in readers}
    errors: list[BaseException] = []
    writing = threading.Event()
    writing.set()

    def guarded(target: Any, *args: Any) -> None:
        try:
            target(*args)
        except BaseException as exc:  # reported in the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    writers = [
        threading.Thread(target=guarded, args=(_write, n, share.writer.pk, grids))
        for n in range(WRITERS)
    ]
    reader_threads = [
        threading.Thread(target=guarded, args=(_read, client, writing, pages[name]))
        for name, client in readers.items()
    ]
    for thread in reader_threads + writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=300)
    writing.clear()
    for thread in reader_threads:
        thread.join(timeout=300)
    assert not errors, errors
    assert not any(t.is_alive() for t in writers + reader_threads)

    # the feed itself: one gapless sequence
    seqs = list(FeedEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert len(seqs) >= WRITERS * PEOPLE_EACH * 2
    # the reader of everything got every entry exactly once, in order
    got = [c["seq"] for page in pages["all"] for c in page["results"]]
    assert got == seqs
    assert len(pages["all"]) > 2  # it did page while the writers wrote
    # the narrow reader got exactly what a quiet read from the start gives now
    narrow = [c for page in pages["narrow"] for c in page["results"]]
    assert narrow == read_all(share.client(share.handler_b), limit=1000)
    assert narrow and all(c["record_type"] == "resident" for c in narrow)
    assert everything.pk
