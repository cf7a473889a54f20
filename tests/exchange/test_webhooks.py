"""Webhook delivery against a real HTTP server on the loopback interface: signed batches, only
a 2xx moves the position on, backoff on errors and refused connections, stuck after the limit,
resumed by hand, and the periodic job and command that run it."""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from civicgrid.core import schedule
from civicgrid.exchange import actions, webhooks
from civicgrid.exchange.models import Delivery, FeedEntry

from .conftest import Share

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Receiver:
    """A webhook receiver: records each request and answers with the next planned status."""

    server: ThreadingHTTPServer
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

    def entries(self) -> list[dict[str, Any]]:
        return [e for r in self.requests for e in json.loads(r["body"])["entries"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            me = holder["receiver"]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            me.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
            if me.delay:
                time.sleep(me.delay)
            code = me.statuses.pop(0) if me.statuses else 200
            self.send_response(code)
            if code in (301, 302, 307):
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder["receiver"] = Receiver(server)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder["receiver"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def _state(subscription: Any) -> Delivery:
    return Delivery.objects.get(pk=subscription.pk)


def test_batches_are_signed_and_delivered_once(share: Share, receiver: Receiver, settings) -> None:
    settings.WEBHOOK_BATCH = 2
    subscription, secret = share.subscribe(classes=["basic", "identity"], url=receiver.url)
    assert secret.startswith("whsec_") and subscription.secret_hint == secret[:10]
    people = [share.resident() for _ in range(5)]
    share.building()  # not subscribed: passed over

    result = webhooks.deliver_due(now=T0)
    assert (result.batches, result.delivered, result.failed) == (3, 5, 0)
    assert [e["object_id"] for e in receiver.entries()] == [p.pk for p in people]
    for request in receiver.requests:
        header = request["headers"]["X-Civicgrid-Signature"]
        assert webhooks.verify(secret, header, request["body"])
        assert not webhooks.verify("whsec_wrong", header, request["body"])
        assert not webhooks.verify(secret, header, request["body"] + b" ")
        assert request["headers"]["X-Civicgrid-Subscription"] == str(subscription.pk)
        assert request["headers"]["Content-Type"].startswith("application/json")
    raw = b"".join(r["body"] for r in receiver.requests).decode()
    assert not re.search(r"\d{17}[\dX]", raw)  # masked ID numbers only
    assert not re.search(r"1380000000\d", raw) and not re.search(r'_(enc|index)"', raw)
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    # each batch says where it starts and ends; the next starts where the last ended
    assert bodies[0]["since"] == 0
    assert [b["since"] for b in bodies[1:]] == [b["next"] for b in bodies[:-1]]
    for body in bodies:
        for entry in body["entries"]:
            assert "id_masked" in entry["data"] and "phone_masked" not in entry["data"]
    state = _state(subscription)
    assert state.delivered_seq == FeedEntry.objects.latest("seq").seq
    assert (state.attempts, state.delivered_total, state.last_status) == (0, 5, 200)
    # nothing new: nothing is posted
    assert webhooks.deliver_due(now=T0).batches == 0
    assert len(receiver.requests) == 3
    # a stale timestamp fails verification even with the right secret
    old = webhooks.sign(secret, b"{}", int(time.time()) - 3600)
    assert not webhooks.verify(secret, old, b"{}")


def test_backoff_on_server_errors_then_resumes(share: Share, receiver: Receiver) -> None:
    subscription, _secret = share.subscribe(url=receiver.url)
    share.resident()
    receiver.statuses = [500, 503]

    first = webhooks.deliver_due(now=T0)
    assert (first.failed, first.delivered) == (1, 0)
    state = _state(subscription)
    assert (state.attempts, state.delivered_seq, state.last_status) == (1, 0, 500)
    assert state.last_error.startswith("HTTP 500")
    assert state.next_attempt_at == T0 + dt.timedelta(seconds=30)
    # not due yet: nothing is posted
    assert webhooks.deliver_due(now=T0 + dt.timedelta(seconds=29)).subscriptions == 0
    assert len(receiver.requests) == 1
    second = webhooks.deliver_due(now=T0 + dt.timedelta(seconds=30))
    assert second.failed == 1
    state = _state(subscription)
    assert state.attempts == 2
    assert state.next_attempt_at == T0 + dt.timedelta(seconds=90)  # 30 s, then 60 s
    # the receiver is fixed: the same batch again, then the position moves on
    share.resident()
    third = webhooks.deliver_due(now=T0 + dt.timedelta(seconds=90))
    assert (third.failed, third.delivered) == (0, 2)
    state = _state(subscription)
    assert (state.attempts, state.last_error, state.next_attempt_at) == (0, "", None)
    assert state.delivered_seq == FeedEntry.objects.latest("seq").seq
    seqs = [json.loads(r["body"])["entries"][0]["seq"] for r in receiver.requests]
    assert seqs[0] == seqs[1] == seqs[2]  # the failed batch was sent again, unchanged in start


def test_refused_connection_and_timeout_count_as_failures(
    share: Share, receiver: Receiver, settings
) -> None:
    settings.WEBHOOK_TIMEOUT = 0.5
    refused, _ = share.subscribe(url=_closed_port_url())
    slow, _ = share.subscribe("urban-B", area="A", url=receiver.url, actor=None)
    share.resident()
    receiver.delay = 2
    result = webhooks.deliver_due(now=T0)
    assert (result.subscriptions, result.failed) == (2, 2)
    assert _state(refused).last_error == "connection refused"
    assert _state(refused).last_status is None
    assert _state(slow).last_error == "timed out"
    assert _state(refused).delivered_seq == _state(slow).delivered_seq == 0


def test_redirects_are_not_followed(share: Share, receiver: Receiver) -> None:
    subscription, _ = share.subscribe(url=receiver.url)
    share.resident()
    receiver.statuses = [302]
    assert webhooks.deliver_due(now=T0).failed == 1
    state = _state(subscription)
    assert state.last_status == 302 and state.delivered_seq == 0
    assert len(receiver.requests) == 1


def test_stuck_after_the_limit_until_retried_by_hand(
    share: Share, receiver: Receiver, settings, django_capture_on_commit_callbacks
) -> None:
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    subscription, _ = share.subscribe(url=receiver.url)
    share.resident()
    receiver.statuses = [500] * 3
    moment = T0
    for attempt in range(1, 4):
        result = webhooks.deliver_due(now=moment)
        assert result.failed == 1
        state = _state(subscription)
        assert state.attempts == attempt and state.stuck == (attempt == 3)
        moment = state.next_attempt_at
    assert webhooks.deliver_due(now=T0 + dt.timedelta(days=30)).subscriptions == 0
    assert len(receiver.requests) == 3
    # the receiver is fixed; a person retries: it is delivered at once (the task runs inline)
    with django_capture_on_commit_callbacks(execute=True):
        actions.do_retry_delivery(subscription, actor=share.admin)
    state = _state(subscription)
    assert (state.stuck, state.attempts, state.last_status) == (False, 0, 200)
    assert state.delivered_seq == FeedEntry.objects.latest("seq").seq
    assert len(receiver.requests) == 4


def test_paused_and_inactive_subscriptions_are_not_delivered(
    share: Share, receiver: Receiver
) -> None:
    subscription, _ = share.subscribe(url=receiver.url)
    share.resident()
    actions.do_pause_delivery(subscription, actor=share.admin, paused=True)
    assert webhooks.deliver_due(now=T0).subscriptions == 0
    actions.do_pause_delivery(subscription, actor=share.admin, paused=False)
    actions.do_update_subscription(subscription, actor=share.admin, is_active=False)
    assert webhooks.deliver_due(now=T0).subscriptions == 0
    actions.do_update_subscription(subscription, actor=share.admin, is_active=True)
    assert webhooks.deliver_due(now=T0).delivered == 1
    assert len(receiver.requests) == 1


def test_one_failing_receiver_does_not_hold_up_another(share: Share, receiver: Receiver) -> None:
    broken, _ = share.subscribe(url=_closed_port_url())
    working, _ = share.subscribe("urban-B", area="A", url=receiver.url, actor=None)
    share.resident()
    result = webhooks.deliver_due(now=T0)
    assert (result.failed, result.delivered) == (1, 1)
    assert _state(working).delivered_seq > 0 and _state(broken).delivered_seq == 0


def test_the_workers_schedule_and_the_command_deliver(
    share: Share, receiver: Receiver, settings
) -> None:
    settings.WEBHOOK_SECONDS = 60
    subscription, _ = share.subscribe(url=receiver.url)
    share.resident()
    # the scheduler queues the job (the immediate backend runs it at once)
    assert "exchange.webhooks" in schedule.run_due(now=timezone.now())
    assert _state(subscription).delivered_seq > 0
    share.resident()
    out = StringIO()
    call_command("deliver_webhooks", stdout=out)
    assert "1 change(s) delivered" in out.getvalue()
    assert len(receiver.entries()) == 2
    with pytest.raises(CommandError):
        call_command("deliver_webhooks", "--subscription", "999999")
