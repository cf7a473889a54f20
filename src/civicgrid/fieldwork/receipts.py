"""The one idempotency helper of the field app's sync API (ARCHITECTURE rule 6).

Every record a phone sends carries its client UUID. `submit` looks for the UUID's receipt; when
there is none it writes the receipt *first*, then the record, then the answer into the receipt,
all in one transaction, and only then is the answer sent. So:

* a retry after a lost answer (or after the server was killed between the commit and the
  answer) finds the receipt and gets the stored answer back, status 200, marked as a replay;
* a server killed before the commit left nothing behind: the retry writes the record afresh;
* the same UUID with a different body (or sent by another user) is a conflict (409);
* two copies of one submission arriving at once race on the receipt's primary key, which is
  inserted before anything else: the second insert waits for the first transaction and fails
  once it commits, and the loser re-reads the receipt and answers as a replay (on SQLite the
  IMMEDIATE transactions never overlap, so the loser simply finds the receipt).

Refused submissions (400, 409) write no receipt: the phone may correct the body and resend it
under the same UUID.
"""

from __future__ import annotations

import hashlib
import json
import uuid as uuid_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from civicgrid.core.exceptions import Conflict

from .models import Receipt

# What a write returns: the id of the record it made and the answer to send (JSON-ready).
Written = tuple[int | None, dict[str, Any]]


@dataclass(frozen=True)
class Answer:
    status: int
    data: dict[str, Any]
    replay: bool


def body_hash(body: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of the body without its `uuid` (keys sorted, no spaces)."""
    canonical = json.dumps(
        {key: value for key, value in body.items() if key != "uuid"},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(receipt: Receipt, *, user: Any, kind: str, digest: str) -> Answer:
    if receipt.user_id != getattr(user, "pk", None):
        # Someone else's UUID: a conflict, never their answer.
        raise Conflict(_("This uuid was already used for another record."), code="replay")
    if receipt.kind != kind or receipt.body_hash != digest:
        raise Conflict(
            _("This uuid was already used for a different record: give the new one a new uuid."),
            code="replay",
        )
    return Answer(200, dict(receipt.response), True)


def lookup(uuid: uuid_module.UUID) -> Receipt | None:
    return Receipt.objects.filter(uuid=uuid).first()


def submit(
    *,
    user: Any,
    kind: str,
    uuid: uuid_module.UUID,
    digest: str,
    write: Callable[[], Written],
) -> Answer:
    """Take in one submission exactly once. `write` validates and writes the record (raising
    ValidationError, Conflict or PermissionDenied to refuse it) inside the transaction that
    also holds the receipt; it runs at most once per UUID that commits."""
    existing = lookup(uuid)
    if existing is not None:
        return _replay(existing, user=user, kind=kind, digest=digest)
    try:
        with transaction.atomic():
            # The receipt goes in before the record: its primary key is what decides a race.
            receipt = Receipt.objects.create(
                uuid=uuid, user=user, kind=kind, body_hash=digest, status_code=201
            )
            object_id, response = write()
            receipt.object_id = object_id
            receipt.response = response
            receipt.save(update_fields=["object_id", "response"])
    except IntegrityError:
        existing = lookup(uuid)
        if existing is None:
            raise  # not the receipt's key: a real integrity problem of the record
        return _replay(existing, user=user, kind=kind, digest=digest)
    return Answer(201, response, False)
