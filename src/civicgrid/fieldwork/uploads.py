"""Photos from the phone, sent in chunks that resume after a broken connection or a restarted
server, then taken by a record (a case report, a visit, a patrol) by their UUID.

The bytes of an upload on its way live in `MEDIA_ROOT/field-uploads/<uuid>.part`; the database
row says how many of them are acknowledged (`received`). A chunk is written like this: lock the
row, cut the part file back to `received` (a server killed after writing but before updating
the row may have left bytes beyond it), append, fsync, and only then raise `received` and
commit. Whatever the moment the server dies, the file holds at least `received` good bytes and
the phone's next chunk starts exactly there.

When the last byte is in, the whole file is checked — its sha256 against the one the phone
declared, its content with `cases.attachments.prepare` (only photos pass) — and the upload is
complete. A record takes complete uploads of its own user that no record used yet; they are
marked used in the record's transaction and their part files removed after the commit. Uploads
never completed or never used are purged after FIELD_UPLOAD_DAYS (`purge`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import uuid as uuid_module
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from civicgrid.cases import attachments
from civicgrid.cases.choices import AttachmentKind
from civicgrid.core.exceptions import Conflict

from .models import DutyPhoto, Patrol, Upload, Visit

MAX_PHOTO_BYTES = attachments.MAX_UPLOAD_BYTES
MAX_PHOTOS = 10  # per record
SUBDIR = "field-uploads"
_RANGE = re.compile(r"bytes (\d{1,12})-(\d{1,12})/(\d{1,12})")
_SHA256 = re.compile(r"[0-9a-f]{64}")


class OffsetConflict(Conflict):
    def __init__(self, received: int) -> None:
        super().__init__(
            _("The upload continues at byte %(n)d.") % {"n": received},
            code="offset",
            received=received,
        )


class PhotosPending(Conflict):
    def __init__(self, photos: Sequence[uuid_module.UUID]) -> None:
        super().__init__(
            _("Some photos have not been uploaded completely yet: send them first."),
            code="photos_pending",
            photos=[str(p) for p in photos],
        )


class PhotosUsed(Conflict):
    def __init__(self, photos: Sequence[uuid_module.UUID]) -> None:
        super().__init__(
            _("Some photos already belong to another record."),
            code="photos_used",
            photos=[str(p) for p in photos],
        )


@dataclass(frozen=True)
class ChunkRange:
    start: int
    end: int  # inclusive
    total: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def state(upload: Upload) -> dict[str, Any]:
    """What the API answers about an upload."""
    return {
        "uuid": str(upload.uuid),
        "received": upload.received,
        "size": upload.size,
        "complete": upload.completed_at is not None,
    }


def part_path(uuid: uuid_module.UUID | str) -> Path:
    return Path(settings.MEDIA_ROOT) / SUBDIR / f"{uuid_module.UUID(str(uuid))}.part"


def get_upload(user: Any, uuid: uuid_module.UUID) -> Upload:
    """The user's upload; another user's is as unknown as one that does not exist."""
    pk = getattr(user, "pk", None)
    upload = Upload.objects.filter(uuid=uuid, user_id=pk).first() if pk is not None else None
    if upload is None:
        raise Http404
    return upload


# --- starting -------------------------------------------------------------------------------
def do_start_upload(
    *, actor: Any, uuid: uuid_module.UUID, name: str, size: int, sha256: str = ""
) -> tuple[Upload, bool]:
    """Announce a photo: (upload, created). Announcing it again is a replay answered with its
    current state; the same UUID with another size or checksum, or another user's, is a 409."""
    errors: dict[str, str] = {}
    if not 0 < size <= MAX_PHOTO_BYTES:
        errors["size"] = _("A photo has from 1 byte to 20 MB.")
    sha256 = (sha256 or "").strip().lower()
    if sha256 and not _SHA256.fullmatch(sha256):
        errors["sha256"] = _("Give the sha256 as 64 hexadecimal digits.")
    if errors:
        raise ValidationError(errors)
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip()[:200] or "photo.jpg"
    existing = Upload.objects.filter(uuid=uuid).first()
    if existing is None:
        try:
            with transaction.atomic():
                return (
                    Upload.objects.create(
                        uuid=uuid, user=actor, name=name, size=size, sha256=sha256
                    ),
                    True,
                )
        except IntegrityError:
            existing = Upload.objects.filter(uuid=uuid).first()
            if existing is None:
                raise
    if existing.user_id != actor.pk or existing.size != size or existing.sha256 != sha256:
        raise Conflict(
            _("This uuid was already used for another photo: give the new one a new uuid."),
            code="replay",
        )
    return existing, False


# --- receiving chunks -----------------------------------------------------------------------
def parse_content_range(value: str | None) -> ChunkRange:
    """`bytes START-END/TOTAL`, END inclusive (RFC 9110), or a ValidationError naming it."""
    match = _RANGE.fullmatch((value or "").strip())
    if match is None:
        raise ValidationError(
            {"content_range": _("Send the header Content-Range: bytes START-END/TOTAL.")}
        )
    start, end, total = (int(g) for g in match.groups())
    if end < start or end >= total:
        raise ValidationError(
            {"content_range": _("The range must lie within the photo: START ≤ END < TOTAL.")}
        )
    return ChunkRange(start, end, total)


def do_receive_chunk(
    upload: Upload, *, actor: Any, content_range: str | None, body: bytes
) -> Upload:
    """Append one chunk; a chunk already acknowledged is a replay answered with the state."""
    chunk = parse_content_range(content_range)
    if chunk.total != upload.size:
        raise ValidationError(
            {
                "content_range": _("The total must be the size announced: %(size)d.")
                % {"size": upload.size}
            }
        )
    if len(body) != chunk.length:
        raise ValidationError(
            {
                "body": _("The body holds %(got)d bytes; the range says %(want)d.")
                % {"got": len(body), "want": chunk.length}
            }
        )
    if upload.completed_at is not None or chunk.end < upload.received:
        return finish(check_intact(upload))  # a replay of an acknowledged chunk
    if chunk.start != upload.received:
        raise OffsetConflict(upload.received)
    with transaction.atomic():
        locked = Upload.objects.select_for_update().get(pk=upload.pk)
        acknowledged = locked.completed_at is not None or chunk.end < locked.received
        if not acknowledged and chunk.start == _trusted_received(locked):
            _write(part_path(locked.uuid), chunk.start, body)
            locked.received = chunk.end + 1
            locked.save(update_fields=["received"])
            acknowledged = True
    if not acknowledged:
        # Another copy of this chunk got in first, or the part file was lost: the phone
        # continues from what is really there.
        raise OffsetConflict(locked.received)
    return finish(locked)


def _trusted_received(upload: Upload) -> int:
    """`received`, unless the part file holds fewer bytes (lost with a disk, removed by hand):
    then the upload starts again from nothing rather than pretending (call under the lock)."""
    if upload.received and _size_on_disk(upload) < upload.received:
        upload.received = 0
        upload.completed_at = None
        upload.save(update_fields=["received", "completed_at"])
    return upload.received


def _size_on_disk(upload: Upload) -> int:
    try:
        return part_path(upload.uuid).stat().st_size
    except FileNotFoundError:
        return 0


def check_intact(upload: Upload) -> Upload:
    """The upload as it really is: one not yet used whose part file lost bytes starts again."""
    if upload.used_at is not None or not upload.received:
        return upload
    if _size_on_disk(upload) >= upload.received:
        return upload
    with transaction.atomic():
        locked = Upload.objects.select_for_update().get(pk=upload.pk)
        if locked.used_at is None:
            _trusted_received(locked)
    return locked


def _write(path: Path, start: int, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, start)
        view = memoryview(data)
        offset = start
        while view:
            written = os.pwrite(fd, view, offset)
            view, offset = view[written:], offset + written
        os.fsync(fd)
    finally:
        os.close(fd)
    if start == 0:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _problem(upload: Upload, raw: bytes) -> tuple[dict[str, str], str]:
    """What is wrong with the bytes of a finished upload (nothing: {}) and their sha256."""
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) != upload.size:
        return {"file": _("The uploaded bytes were lost: send the photo again.")}, digest
    if upload.sha256 and digest != upload.sha256:
        return {
            "sha256": _("The photo arrived damaged (its sha256 differs): send it again.")
        }, digest
    try:
        prepared = attachments.prepare(raw, upload.name)
    except ValidationError as exc:
        return {"file": " ".join(str(m) for m in exc.messages)}, digest
    if prepared.kind != AttachmentKind.PHOTO:
        return {"file": _("This file is not a photo.")}, digest
    return {}, digest


def finish(upload: Upload) -> Upload:
    """Complete an upload whose bytes are all in: check them and mark it complete — or reset it
    to 0 and raise a ValidationError naming `sha256` or `file`. Idempotent: a server killed
    between the last chunk and this check finishes it on the phone's next request."""
    if upload.completed_at is not None or upload.received != upload.size:
        return upload
    try:
        raw = part_path(upload.uuid).read_bytes()[: upload.size]
    except FileNotFoundError:
        raw = b""
    # Decoding a photo takes a while: not under the lock (on SQLite, the database's).
    problem, digest = _problem(upload, raw)
    with transaction.atomic():
        locked = Upload.objects.select_for_update().get(pk=upload.pk)
        if locked.completed_at is not None or locked.received != locked.size:
            return locked
        if problem:
            locked.received = 0
            locked.save(update_fields=["received"])
        else:
            locked.completed_at = timezone.now()
            locked.sha256 = locked.sha256 or digest
            locked.save(update_fields=["completed_at", "sha256"])
    if problem:
        # After the row: bytes beyond `received` are cut by the next chunk anyway.
        with contextlib.suppress(OSError):
            os.truncate(part_path(upload.uuid), 0)
        raise ValidationError(problem)
    return locked


# --- taking photos for a record -------------------------------------------------------------
@dataclass(frozen=True)
class Photo:
    upload: Upload
    raw: bytes


def take_photos(actor: Any, uuids: Sequence[uuid_module.UUID]) -> list[Photo]:
    """Lock and mark used the user's complete uploads named by a record, in its transaction,
    and return their bytes. Their part files go once the record has committed."""
    if not uuids:
        return []
    rows = {
        row.uuid: row
        for row in Upload.objects.select_for_update()
        .filter(uuid__in=list(uuids), user_id=actor.pk)
        .order_by("uuid")
    }
    pending = [u for u in uuids if u not in rows or rows[u].completed_at is None]
    if pending:
        raise PhotosPending(pending)
    used = [u for u in uuids if rows[u].used_at is not None]
    if used:
        raise PhotosUsed(used)
    photos = []
    for uuid in uuids:
        try:
            raw = part_path(uuid).read_bytes()
        except FileNotFoundError:
            raw = b""
        if len(raw) != rows[uuid].size:
            # Lost since it completed: the phone's next PUT or GET of it finds out
            # (check_intact) and sends it again.
            raise PhotosPending([uuid])
        photos.append(Photo(rows[uuid], raw))
    Upload.objects.filter(pk__in=list(uuids)).update(used_at=timezone.now())
    paths = [part_path(u) for u in uuids]
    transaction.on_commit(lambda: _remove(paths))
    return photos


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def store_duty_photo(
    photo: Photo, *, visit: Visit | None = None, patrol: Patrol | None = None
) -> DutyPhoto:
    """Keep a photo of a visit or a patrol re-encoded, without its EXIF (location, device)."""
    owner = visit or patrol
    assert owner is not None
    prepared = attachments.prepare(photo.raw, photo.upload.name)
    digest = hashlib.sha256(prepared.content).hexdigest()
    stored = DutyPhoto(
        visit=visit,
        patrol=patrol,
        division_path=owner.division_path,
        client_uuid=photo.upload.uuid,
        size=len(prepared.content),
        sha256=digest,
        width=prepared.width,
        height=prepared.height,
    )
    stored.file.save(f"{digest[:16]}-{prepared.name}", ContentFile(prepared.content), save=False)
    stored.save()
    return stored


# --- purging --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Purged:
    uploads: int
    files: int


def purge(*, days: int | None = None, now: dt.datetime | None = None) -> Purged:
    """Remove uploads begun more than `days` ago and never used by a record (incomplete ones
    included), with their part files, and part files no longer needed: of used uploads (left by
    a server that stopped before removing them) and of no upload at all. Idempotent."""
    days = settings.FIELD_UPLOAD_DAYS if days is None else days
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=days)
    stale = list(
        Upload.objects.filter(created_at__lt=cutoff, used_at__isnull=True).values_list(
            "uuid", flat=True
        )
    )
    removed = 0
    for start in range(0, len(stale), 500):
        # The condition again: an upload a record took meanwhile stays.
        removed += Upload.objects.filter(
            pk__in=stale[start : start + 500], used_at__isnull=True
        ).delete()[0]
    directory = Path(settings.MEDIA_ROOT) / SUBDIR
    if not directory.is_dir():
        return Purged(removed, 0)
    found: dict[uuid_module.UUID, Path] = {}
    for path in directory.glob("*.part"):
        with contextlib.suppress(ValueError):
            found[uuid_module.UUID(path.name.removesuffix(".part"))] = path
    ids = list(found)
    waiting: set[uuid_module.UUID] = set()
    for start in range(0, len(ids), 500):
        waiting.update(
            Upload.objects.filter(
                pk__in=ids[start : start + 500], used_at__isnull=True
            ).values_list("uuid", flat=True)
        )
    files = 0
    gone = set(stale)
    # Files of no waiting upload go; an hour's grace for one whose row is being written.
    old = now.timestamp() - 3600
    for uuid, path in found.items():
        if uuid in waiting:
            continue
        with contextlib.suppress(FileNotFoundError):
            if uuid in gone or path.stat().st_mtime < old:
                path.unlink()
                files += 1
    return Purged(removed, files)
