"""The one idempotency helper: body hash, replay, conflict, nothing stored for a refusal — and
two copies of one submission arriving at the same moment (threads on their own database
connections: on PostgreSQL they truly overlap and the receipt's key decides; on SQLite the
IMMEDIATE transactions serialise them)."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from django.db import connections

from civicgrid.cases.models import Attachment, Case
from civicgrid.core.exceptions import Conflict
from civicgrid.fieldwork import receipts, uploads
from civicgrid.fieldwork.models import CheckIn, Patrol, Receipt, Upload, Visit

from .conftest import Field, client, post, upload
from .test_sync_api import case_body, now_iso, patrol_body, visit_body


def test_the_body_hash_ignores_the_uuid_and_the_order_of_keys() -> None:
    one = receipts.body_hash({"uuid": "a", "note": "走访", "lat": 37.5, "photos": []})
    two = receipts.body_hash({"photos": [], "lat": 37.5, "note": "走访", "uuid": "b"})
    assert one == two and len(one) == 64
    assert receipts.body_hash({"note": "走访 ", "lat": 37.5, "photos": []}) != one


@pytest.mark.django_db
def test_submit_answers_a_replay_and_refuses_another_body_or_user(people) -> None:
    key = uuid.uuid4()
    calls: list[int] = []

    def write() -> receipts.Written:
        calls.append(1)
        return 7, {"id": 7, "kind": "visit"}

    first = receipts.submit(
        user=people["worker"], kind="visit", uuid=key, digest="a" * 64, write=write
    )
    assert (first.status, first.replay) == (201, False)
    again = receipts.submit(
        user=people["worker"], kind="visit", uuid=key, digest="a" * 64, write=write
    )
    assert (again.status, again.data, again.replay) == (200, first.data, True)
    assert len(calls) == 1
    for user, kind, digest in (
        (people["worker"], "visit", "b" * 64),
        (people["worker"], "patrol", "a" * 64),
        (people["worker_b"], "visit", "a" * 64),
    ):
        with pytest.raises(Conflict) as refused:
            receipts.submit(user=user, kind=kind, uuid=key, digest=digest, write=write)
        assert refused.value.code == "replay"
    assert len(calls) == 1
    receipt = Receipt.objects.get(pk=key)
    assert (receipt.object_id, receipt.response, receipt.status_code) == (7, first.data, 201)


@pytest.mark.django_db
def test_a_refused_submission_leaves_no_receipt_and_may_be_corrected(field: Field) -> None:
    api = client(field.worker)
    body = visit_body(visited_at=now_iso(hours=2))
    assert post(api, "visits/", body).status_code == 400
    assert not Receipt.objects.exists()
    fixed = post(api, "visits/", {**body, "visited_at": now_iso(minutes=-5)})
    assert fixed.status_code == 201
    assert Receipt.objects.get().object_id == fixed.json()["id"]


@pytest.mark.django_db
def test_a_failure_inside_the_write_leaves_nothing(field: Field, monkeypatch: Any) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk is full")

    photo = upload(client(field.worker))
    monkeypatch.setattr(uploads, "store_duty_photo", broken)
    api = client(field.worker)
    api.raise_request_exception = False
    response = post(api, "visits/", visit_body(photos=[photo]))
    assert response.status_code == 500
    assert not Visit.objects.exists() and not Receipt.objects.exists()
    assert Upload.objects.get(pk=photo).used_at is None
    assert uploads.part_path(photo).exists()


# --- concurrency ----------------------------------------------------------------------------
def _race(field: Field, path: str, bodies: list[dict[str, Any]]) -> list[Any]:
    """POST the bodies at the same moment from threads; their responses."""
    barrier = threading.Barrier(len(bodies))
    results: list[Any] = [None] * len(bodies)
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            api = client(field.worker)
            barrier.wait(timeout=30)
            results[n] = post(api, path, bodies[n])
        except BaseException as exc:  # reported in the test's own thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_copies_of_one_submission_at_the_same_moment_give_one_record(
    field: Field, monkeypatch: Any
) -> None:
    # Hold the first writer inside its transaction (after its receipt went in) so that the
    # copies really meet on the receipt's key instead of one after the other.
    taken = uploads.take_photos
    writes: list[str] = []

    def slow_take(actor: Any, uuids: Any) -> Any:
        writes.append("write")
        time.sleep(0.3)
        return taken(actor, uuids)

    monkeypatch.setattr(uploads, "take_photos", slow_take)
    lat, lng = 37.005, 118.005
    cases = {
        "visits/": (visit_body(household=field.household.pk), Visit),
        "patrols/": (patrol_body(), Patrol),
        "cases/": (case_body(), Case),
    }
    for path, (body, model) in cases.items():
        writes.clear()
        responses = _race(field, path, [body, body, body])
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200, 200, 201], [r.content for r in responses]
        assert all(r.json() == responses[0].json() for r in responses)  # the same answer
        assert sum(r.get("Idempotent-Replay") == "true" for r in responses) == 2
        assert model.objects.count() == 1, path
        assert writes == ["write"], path  # the losers never wrote
    check_in = {"uuid": str(uuid.uuid4()), "at": now_iso(), "lat": lat, "lng": lng}
    responses = _race(field, "check-ins/", [check_in, check_in])
    assert sorted(r.status_code for r in responses) == [200, 201]
    assert CheckIn.objects.count() == 1
    assert Receipt.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_two_records_racing_for_one_photo_leave_it_with_one(field: Field) -> None:
    photo = upload(client(field.worker))
    bodies = [case_body(photos=[photo]), case_body(photos=[photo], description="同一张照片")]
    responses = _race(field, "cases/", bodies)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409], [r.content for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["code"] == "photos_used" and loser.json()["photos"] == [photo]
    assert Case.objects.count() == 1 and Receipt.objects.count() == 1
    assert str(Attachment.objects.get().client_uuid) == photo
