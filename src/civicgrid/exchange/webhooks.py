"""Pushing the change feed to subscribers' webhooks, signed, with retry and backoff.

Each run (the task workers every WEBHOOK_SECONDS, or `civicgrid deliver-webhooks`) takes the
subscriptions whose delivery is due, and for each POSTs batches of the entries after its
acknowledged position — exactly what the subscriber would pull from /api/v1/changes/. Only a
2xx answer moves the position on; anything else (an error status, a redirect, a refused
connection, a timeout) counts a failed attempt and sets the next one after an exponentially
growing delay. After WEBHOOK_MAX_ATTEMPTS failures in a row the delivery is *stuck*: runs leave
it alone until someone retries it by hand. A batch may therefore arrive more than once (a 2xx
lost on the way back); receivers drop entries whose `seq` they already hold.

Signature (HMAC-SHA256, so that any receiver can check it with its standard library):

    X-Civicgrid-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

A receiver recomputes v1 over the raw body and rejects a timestamp too far from its clock.

Workers claim a delivery with a short lease (one conditional UPDATE, like core/schedule.py), so
any number of them may run without posting the same batch twice at once, and no database
transaction stays open while waiting for a receiver.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import socket
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from . import selectors
from .actions import secret_of
from .models import Delivery, Subscription

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Civicgrid-Signature"
SUBSCRIPTION_HEADER = "X-Civicgrid-Subscription"
USER_AGENT = "civicgrid-webhooks/1"
READ_LIMIT = 64 * 1024


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def interval_seconds() -> int:
    return int(_setting("WEBHOOK_SECONDS", 30))


def max_attempts() -> int:
    return int(_setting("WEBHOOK_MAX_ATTEMPTS", 10))


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failure in a row: 30 s, 1 min, 2 min, … up to an hour."""
    base = _setting("WEBHOOK_RETRY_SECONDS", 30)
    ceiling = _setting("WEBHOOK_RETRY_MAX_SECONDS", 3600)
    return dt.timedelta(seconds=min(base * 2 ** max(0, attempts - 1), ceiling))


# --- signing ----------------------------------------------------------------------------------
def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: the signature matches the body and the timestamp is recent."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# --- one HTTP request -------------------------------------------------------------------------
@dataclass(frozen=True)
class Attempt:
    status: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: following it would post signed data somewhere not chosen."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


# No proxies from the environment: receivers are reached directly, as configured.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> Attempt:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(READ_LIMIT)
            return Attempt(response.status, "")
    except urllib.error.HTTPError as exc:
        exc.close()
        return Attempt(exc.code, f"HTTP {exc.code} {exc.reason}"[:300])
    except urllib.error.URLError as exc:
        return Attempt(None, _describe(exc.reason))
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Attempt(None, _describe(exc))


def _describe(reason: Any) -> str:
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    return f"connection failed: {reason}"[:300]


def headers_for(subscription: Subscription, secret: str, body: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": USER_AGENT,
        SUBSCRIPTION_HEADER: str(subscription.pk),
        SIGNATURE_HEADER: sign(secret, body, int(time.time())),
    }


# --- runs -------------------------------------------------------------------------------------
@dataclass
class RunResult:
    subscriptions: int = 0  # deliveries this run took on
    batches: int = 0  # batches acknowledged
    delivered: int = 0  # entries acknowledged
    failed: int = 0  # failed attempts
    stuck: int = 0  # deliveries that became stuck

    def add(self, other: RunResult) -> None:
        for name in ("subscriptions", "batches", "delivered", "failed", "stuck"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _deliverable(*, stuck_too: bool = False) -> Q:
    return (
        (Q() if stuck_too else Q(stuck=False))
        & Q(subscription__is_active=True)
        & Q(subscription__paused=False)
        & Q(subscription__unit__is_active=True)
        & ~Q(subscription__webhook_url="")
    )


def _due(now: dt.datetime) -> Q:
    return Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)


def _claim(pk: int, now: dt.datetime, *, force: bool) -> str | None:
    """A lease on one delivery, or None if it is not due, not deliverable or leased."""
    token = uuid.uuid4().hex
    lease = dt.timedelta(seconds=_setting("WEBHOOK_RUN_SECONDS", 20) + 3 * _timeout() + 30)
    rows = Delivery.objects.filter(
        _deliverable(stuck_too=force), Q(lease_until__isnull=True) | Q(lease_until__lt=now), pk=pk
    )
    if not force:
        rows = rows.filter(_due(now))
    return token if rows.update(lease=token, lease_until=now + lease) == 1 else None


def _timeout() -> float:
    return _setting("WEBHOOK_TIMEOUT", 5)


def deliver_due(*, now: dt.datetime | None = None) -> RunResult:
    """One run over every delivery that is due."""
    moment = now or timezone.now()
    result = RunResult()
    due = (
        Delivery.objects.filter(_deliverable(), _due(moment))
        .order_by(F("next_attempt_at").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)
    )
    for pk in list(due):
        try:
            result.add(deliver_one(pk, now=now))
        except Exception:  # one subscription's trouble must not hold up the others
            logger.exception("webhook delivery of subscription %s failed", pk)
    return result


def deliver_one(pk: int, *, now: dt.datetime | None = None, force: bool = False) -> RunResult:
    """Deliver what is pending for one subscription: if it is due, or with `force` at once,
    even when stuck (one more attempt; it stays stuck if that fails too)."""
    result = RunResult()
    token = _claim(pk, now or timezone.now(), force=force)
    if token is None:
        return result
    result.subscriptions = 1
    try:
        _run(pk, token, result, now=now)
    finally:
        Delivery.objects.filter(pk=pk, lease=token).update(lease="", lease_until=None)
    return result


def _run(pk: int, token: str, result: RunResult, *, now: dt.datetime | None) -> None:
    subscription = Subscription.objects.select_related("unit").get(pk=pk)
    delivery = Delivery.objects.get(pk=pk)
    mine = Delivery.objects.filter(pk=pk, lease=token)
    grant = selectors.Grant.of(subscription)
    batch = max(1, int(_setting("WEBHOOK_BATCH", 100)))
    budget = _setting("WEBHOOK_RUN_SECONDS", 20)
    started = time.monotonic()
    position = delivery.delivered_seq
    attempts = delivery.attempts
    try:
        secret = secret_of(subscription)
    except Exception:  # a key that no longer decrypts it: say so on the page, retry later
        logger.exception("webhook secret of subscription %s unreadable", pk)
        _failed(mine, attempts + 1, Attempt(None, "signing secret unreadable"), result, now)
        return
    while True:
        page = selectors.read([grant], since=position, limit=batch)
        if not page.results:
            if page.next > position:  # only entries that do not concern this subscriber
                mine.update(delivered_seq=page.next)
            return
        body = json.dumps(
            {
                "subscription": subscription.pk,
                "since": position,
                "next": page.next,
                "entries": page.results,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        attempt = post(
            subscription.webhook_url,
            body,
            headers_for(subscription, secret, body),
            timeout=_timeout(),
        )
        if not attempt.ok:
            _failed(mine, attempts + 1, attempt, result, now)
            logger.info("webhook of subscription %s failed: %s", pk, attempt.error)
            return
        moment = now or timezone.now()
        mine.update(
            delivered_seq=page.next,
            delivered_total=F("delivered_total") + len(page.results),
            attempts=0,
            stuck=False,
            next_attempt_at=None,
            last_attempt_at=moment,
            last_success_at=moment,
            last_status=attempt.status,
            last_error="",
        )
        attempts = 0
        position = page.next
        result.batches += 1
        result.delivered += len(page.results)
        if not page.has_more or time.monotonic() - started > budget:
            return


def _failed(
    mine: Any, attempts: int, attempt: Attempt, result: RunResult, now: dt.datetime | None
) -> None:
    moment = now or timezone.now()
    stuck = attempts >= max_attempts()
    mine.update(
        attempts=attempts,
        stuck=stuck,
        next_attempt_at=moment + backoff(attempts),
        last_attempt_at=moment,
        last_status=attempt.status,
        last_error=attempt.error or f"HTTP {attempt.status}",
    )
    result.failed += 1
    result.stuck += int(stuck)
