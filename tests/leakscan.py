"""The masking leak scanner: no response the test suite produces may hold a full ID or phone
number (ARCHITECTURE rule 5), except the audited unmask actions' answers.

During every test (an autouse fixture in tests/conftest.py) it remembers every clear value
encrypted or decrypted under a registry purpose ("registry.…" — ID numbers, phones), phones
also as their national digits without +86, and reads the body of every response produced
through Django's test Client or DRF's APIClient (streamed ones, zipped .xlsx members and
gzip-encoded ones included). A body holding a remembered value fails the test at that request.

Exempt are answers to paths ending in `/unmask/` (or `/unmask-…/`), and whatever a test fetches
inside `leak_scanner.allowing()` — for a deliberately unmasked, audited download, which the
test should then check is logged.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test.client import Client

from civicgrid.core import crypto

PURPOSE_PREFIX = "registry."
MIN_LENGTH = 6  # shorter values would match by chance
EXEMPT = re.compile(r"/unmask(-[a-z-]+)?/$")


class ClearNumberLeak(AssertionError):
    """A response held a clear value of a protected registry field."""


def _hint(value: str) -> str:
    """Enough of a value to find it in the test, not the value itself."""
    return value[:3] + "*" * max(0, len(value) - 7) + value[-4:]


def variants(value: str, purpose: str) -> set[str]:
    """The forms in which a clear value could show: as stored, and a phone without its
    country code (the +86 digits people read and type)."""
    value = value.strip()
    forms = {value}
    if purpose.endswith("phone"):
        forms.add(value.removeprefix("+"))
        if value.startswith("+86"):
            forms.add(value[3:])
    return {v.upper() for v in forms if len(v) >= MIN_LENGTH}


def _bodies(content: bytes, encoding: str) -> Iterator[bytes]:
    """The texts of a body: itself, gunzipped, or each member of a zip (an .xlsx)."""
    if encoding == "gzip":
        with contextlib.suppress(OSError, EOFError):
            content = gzip.decompress(content)
    yield content
    if content[:4] == b"PK\x03\x04":
        with contextlib.suppress(zipfile.BadZipFile), zipfile.ZipFile(io.BytesIO(content)) as z:
            for name in z.namelist():
                yield z.read(name)


def read_body(response: Any) -> bytes:
    """The whole body; a streamed response is consumed and put back, so the test still reads
    it as it was."""
    if not getattr(response, "streaming", False):
        return bytes(response.content)
    if getattr(response, "is_async", False):
        from asgiref.sync import async_to_sync

        async def collect() -> bytes:
            return b"".join([chunk async for chunk in response.streaming_content])

        body = async_to_sync(collect)()
    else:
        body = b"".join(response.streaming_content)
    response.streaming_content = [body]
    return body


@dataclass
class LeakScanner:
    remembered: dict[str, str] = field(default_factory=dict)  # clear form → purpose
    responses: int = 0  # how many responses were scanned (for the scanner's own tests)
    allowed: int = 0

    def remember(self, value: Any, purpose: str) -> None:
        if isinstance(value, str) and purpose.startswith(PURPOSE_PREFIX):
            for form in variants(value, purpose):
                self.remembered[form] = purpose

    @contextlib.contextmanager
    def allowing(self) -> Iterator[None]:
        """Responses inside this block may hold clear numbers (an audited, unmasked export)."""
        self.allowed += 1
        try:
            yield
        finally:
            self.allowed -= 1

    def check(self, method: str, path: str, response: Any) -> None:
        self.responses += 1
        if self.allowed or EXEMPT.search(path) or not self.remembered:
            return
        body = read_body(response)
        encoding = str(response.get("Content-Encoding", "") or "")
        for text in _bodies(body, encoding):
            haystack = text.upper()
            for form, purpose in self.remembered.items():
                if form.encode() in haystack:
                    raise ClearNumberLeak(
                        f"{method} {path} answered {response.status_code} with the clear value "
                        f"{_hint(form)} of {purpose} in its body: only the audited unmask "
                        "actions may show full ID or phone numbers (ARCHITECTURE rule 5)."
                    )


def watch(monkeypatch: pytest.MonkeyPatch) -> LeakScanner:
    """Install the scanner for one test (undone with the test's monkeypatch)."""
    scanner = LeakScanner()
    encrypt, decrypt = crypto.encrypt, crypto.decrypt

    def remembering_encrypt(value: str, purpose: str) -> str:
        scanner.remember(value, purpose)
        return encrypt(value, purpose)

    def remembering_decrypt(token: str, purpose: str) -> str:
        value = decrypt(token, purpose)
        scanner.remember(value, purpose)
        return value

    monkeypatch.setattr(crypto, "encrypt", remembering_encrypt)
    monkeypatch.setattr(crypto, "decrypt", remembering_decrypt)

    request = Client.request

    def scanned_request(self: Client, **environ: Any) -> Any:
        response = request(self, **environ)
        scanner.check(
            str(environ.get("REQUEST_METHOD", "GET")), str(environ.get("PATH_INFO", "")), response
        )
        return response

    monkeypatch.setattr(Client, "request", scanned_request)
    return scanner
