"""Pluggable SMS: the console backend prints messages; a deployment names its gateway's
backend in CIVICGRID_SMS_BACKEND (a class with `send(phone, text)`)."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("civicgrid.sms")


class SmsBackend(Protocol):
    def send(self, phone: str, text: str) -> None: ...


class ConsoleBackend:
    """Writes each message to the log (the default: nothing leaves the machine)."""

    def send(self, phone: str, text: str) -> None:
        from .crypto import mask_phone

        log.info("SMS to %s: %s", mask_phone(phone), text)


class MemoryBackend:
    """Keeps messages in memory (tests)."""

    outbox: list[tuple[str, str]] = []

    def send(self, phone: str, text: str) -> None:
        MemoryBackend.outbox.append((phone, text))


def backend() -> SmsBackend:
    return import_string(settings.SMS_BACKEND)()
