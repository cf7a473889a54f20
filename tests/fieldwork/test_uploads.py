"""Resumable photo uploads: announce, chunks with Content-Range, completion checks, and what a
phone or a killed server may leave behind — and the purge of uploads nobody used."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import uuid
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone, translation

from civicgrid.core.schedule import JOBS
from civicgrid.fieldwork import uploads
from civicgrid.fieldwork.models import Upload
from civicgrid.fieldwork.tasks import purge_uploads

from .conftest import API, client, field_error, jpeg, post, put_chunk, upload

pytestmark = pytest.mark.django_db


def announce(api: Any, data: bytes, **overrides: Any) -> tuple[str, Any]:
    key = str(uuid.uuid4())
    body = {
        "uuid": key,
        "name": "IMG_7.jpg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **overrides,
    }
    return key, post(api, "uploads/", body)


def test_a_photo_goes_up_in_chunks_and_the_announcement_replays(people) -> None:
    api = client(people["worker"])
    data = jpeg((300, 200))
    key, response = announce(api, data)
    assert response.status_code == 201
    assert response.json() == {"uuid": key, "received": 0, "size": len(data), "complete": False}
    first = put_chunk(api, key, data[:500], 0, len(data))
    assert first.status_code == 200
    assert first.json()["received"] == 500 and not first.json()["complete"]
    # announcing again (a phone that lost the answer) gives the current state
    again = post(
        api,
        "uploads/",
        {
            "uuid": key,
            "size": len(data),
            "name": "x.jpg",
            "sha256": hashlib.sha256(data).hexdigest(),
        },
    )
    assert again.status_code == 200 and again["Idempotent-Replay"] == "true"
    assert again.json()["received"] == 500
    last = put_chunk(api, key, data[500:], 500, len(data))
    assert last.json() == {"uuid": key, "received": len(data), "size": len(data), "complete": True}
    assert api.get(f"{API}uploads/{key}/").json()["complete"] is True
    stored = Upload.objects.get(pk=key)
    assert stored.completed_at is not None and stored.used_at is None
    assert uploads.part_path(key).read_bytes() == data


def test_the_same_uuid_with_another_size_or_by_another_user_is_a_conflict(people) -> None:
    api = client(people["worker"])
    data = jpeg()
    key, _r = announce(api, data)
    other_size = post(api, "uploads/", {"uuid": key, "size": len(data) + 1})
    assert other_size.status_code == 409 and other_size.json()["code"] == "replay"
    stranger = client(people["worker_b"])
    response = post(
        stranger,
        "uploads/",
        {"uuid": key, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    )
    assert response.status_code == 409
    # …and nobody else reads or writes it
    assert stranger.get(f"{API}uploads/{key}/").status_code == 404
    assert put_chunk(stranger, key, data, 0, len(data)).status_code == 404
    assert api.get(f"{API}uploads/{uuid.uuid4()}/").status_code == 404
    assert api.get(f"{API}uploads/not-a-uuid/").status_code == 404


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"size": 0}, "size"),
        ({"size": 20 * 1024 * 1024 + 1}, "size"),
        ({"size": "big"}, "size"),
        ({"sha256": "xyz"}, "sha256"),
        ({"uuid": "not-a-uuid"}, "uuid"),
        ({"uuid": None}, "uuid"),
    ],
)
def test_a_bad_announcement_names_the_field(people, body, name) -> None:
    api = client(people["worker"])
    _key, response = announce(api, b"x" * 10, **body)
    field_error(response, name)
    assert not Upload.objects.exists()


def test_only_grid_workers_upload(people) -> None:
    for who in ("community", "handler", "leader"):
        _key, response = announce(client(people[who]), jpeg())
        assert response.status_code == 403, who
    assert not Upload.objects.exists()


@pytest.mark.parametrize(
    "header",
    ["", "bytes", "bytes 0-9", "bytes a-b/c", "items 0-9/100", "bytes 0--1/100", "bytes 5-2/100"],
)
def test_content_range_garbage_is_a_400(people, header) -> None:
    api = client(people["worker"])
    data = jpeg()
    key, _r = announce(api, data)
    response = put_chunk(api, key, data[:10], 0, len(data), header=header)
    field_error(response, "content_range")
    assert Upload.objects.get(pk=key).received == 0


def test_a_chunk_past_the_size_or_a_wrong_total_is_a_400(people) -> None:
    api = client(people["worker"])
    data = jpeg()
    size = len(data)
    key, _r = announce(api, data)
    field_error(put_chunk(api, key, b"x" * 10, size - 5, size + 5), "content_range")
    header = f"bytes {size - 5}-{size + 4}/{size}"
    field_error(put_chunk(api, key, b"x" * 10, 0, size, header=header), "content_range")
    field_error(put_chunk(api, key, data, 0, size + 1), "content_range")  # wrong total
    assert Upload.objects.get(pk=key).received == 0


def test_a_body_bigger_or_smaller_than_declared_is_a_400(people) -> None:
    api = client(people["worker"])
    data = jpeg()
    key, _r = announce(api, data)
    header = f"bytes 0-9/{len(data)}"
    field_error(put_chunk(api, key, data[:20], 0, len(data), header=header), "body")
    field_error(put_chunk(api, key, data[:5], 0, len(data), header=header), "body")
    assert Upload.objects.get(pk=key).received == 0
    assert not uploads.part_path(key).exists()


def test_a_chunk_at_the_wrong_offset_says_where_to_continue(people) -> None:
    api = client(people["worker"])
    data = jpeg((200, 200))
    key, _r = announce(api, data)
    assert put_chunk(api, key, data[:100], 0, len(data)).status_code == 200
    ahead = put_chunk(api, key, data[300:400], 300, len(data))
    assert ahead.status_code == 409
    assert ahead.json()["code"] == "offset" and ahead.json()["received"] == 100
    overlapping = put_chunk(api, key, data[50:150], 50, len(data))
    assert overlapping.status_code == 409 and overlapping.json()["received"] == 100
    # a chunk already acknowledged (the answer was lost) is a replay
    replay = put_chunk(api, key, data[:100], 0, len(data))
    assert replay.status_code == 200 and replay.json()["received"] == 100
    assert uploads.part_path(key).read_bytes() == data[:100]


def test_a_damaged_photo_is_refused_at_the_end_and_starts_again(people) -> None:
    api = client(people["worker"])
    data = jpeg()
    key, _r = announce(api, data)
    damaged = bytes([data[0] ^ 1]) + data[1:]
    response = put_chunk(api, key, damaged, 0, len(data))
    field_error(response, "sha256")
    upload = Upload.objects.get(pk=key)
    assert (upload.received, upload.completed_at) == (0, None)
    assert uploads.part_path(key).stat().st_size == 0
    # the good bytes go through afterwards
    assert put_chunk(api, key, data, 0, len(data)).json()["complete"] is True


@pytest.mark.parametrize(
    "data",
    [b"%PDF-1.4 a document, not a photo" * 10, b"GIF89a but not really an image" * 10],
    ids=["pdf", "garbage"],
)
def test_a_file_that_is_not_a_photo_is_refused(people, data) -> None:
    api = client(people["worker"])
    key, _r = announce(api, data)
    field_error(put_chunk(api, key, data, 0, len(data)), "file")
    assert Upload.objects.get(pk=key).received == 0
    assert Upload.objects.get(pk=key).completed_at is None


def test_an_upload_without_sha256_is_checked_for_content_only(people) -> None:
    api = client(people["worker"])
    data = jpeg()
    key, response = announce(api, data, sha256="")
    assert response.status_code == 201
    assert put_chunk(api, key, data, 0, len(data)).json()["complete"] is True
    assert Upload.objects.get(pk=key).sha256 == hashlib.sha256(data).hexdigest()


def test_bytes_left_beyond_received_by_a_killed_server_are_cut(people) -> None:
    api = client(people["worker"])
    data = jpeg((120, 90))
    key, _r = announce(api, data)
    assert put_chunk(api, key, data[:100], 0, len(data)).status_code == 200
    # The server wrote the next chunk and died before raising `received`: garbage beyond it.
    with open(uploads.part_path(key), "ab") as part:
        part.write(b"\x00" * 77)
    assert put_chunk(api, key, data[100:], 100, len(data)).json()["complete"] is True
    assert uploads.part_path(key).read_bytes() == data


def test_a_server_killed_before_the_completion_check_finishes_it_on_the_next_request(
    people,
) -> None:
    api = client(people["worker"])
    data = jpeg()
    key, _r = announce(api, data)
    uploads._write(uploads.part_path(key), 0, data)
    Upload.objects.filter(pk=key).update(received=len(data))  # committed, never checked
    state = api.get(f"{API}uploads/{key}/").json()
    assert state == {"uuid": key, "received": len(data), "size": len(data), "complete": True}
    # the retried last chunk is a replay of it
    assert put_chunk(api, key, data[-10:], len(data) - 10, len(data)).json()["complete"] is True


def test_a_lost_part_file_makes_the_upload_start_again(people) -> None:
    api = client(people["worker"])
    key = upload(api)
    uploads.part_path(key).unlink()
    state = api.get(f"{API}uploads/{key}/").json()
    assert (state["received"], state["complete"]) == (0, False)


def test_purge_removes_old_unused_uploads_and_stray_files(people, settings) -> None:
    api = client(people["worker"])
    old_unused = upload(api)
    old_incomplete, _r = announce(api, jpeg())
    put_chunk(api, old_incomplete, jpeg()[:10], 0, len(jpeg()))
    fresh = upload(api)
    used = upload(api)
    Upload.objects.filter(pk=used).update(used_at=timezone.now())  # its file stayed behind
    long_ago = timezone.now() - dt.timedelta(days=8)
    Upload.objects.filter(pk__in=[old_unused, old_incomplete, used]).update(created_at=long_ago)
    stray = uploads.part_path(uuid.uuid4())
    stray.write_bytes(b"left by nobody")
    hour_ago = timezone.now().timestamp() - 7200
    for path in (stray, uploads.part_path(used)):
        os.utime(path, (hour_ago, hour_ago))
    out = io.StringIO()
    with translation.override("en"):
        call_command("purge_uploads", stdout=out)
    assert "2 upload(s)" in out.getvalue()
    assert set(Upload.objects.values_list("uuid", flat=True)) == {uuid.UUID(fresh), uuid.UUID(used)}
    left = {p.name for p in (uploads.part_path(fresh).parent).iterdir()}
    assert left == {f"{fresh}.part"}
    # idempotent, and the periodic task (queued by the workers' scheduler) does the same
    assert "fieldwork.purge_uploads" in [job.key for job in JOBS]
    assert purge_uploads.call() == {"uploads": 0, "files": 0}
    settings.FIELD_UPLOAD_DAYS = 0
    assert uploads.purge(now=timezone.now() + dt.timedelta(seconds=1)).uploads == 1


def test_purge_command_refuses_a_bad_day_count(people) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--days"):
        call_command("purge_uploads", "--days", "-3")
