"""Shared parts of every file import: decoding, per-row errors, the report, progress.

The contract (ARCHITECTURE rule 7): every row is validated first; by default a file with any bad
row writes nothing and the report lists every bad row; with skip_invalid the good rows are
written and the bad ones listed. Writing happens in one transaction, so a failure midway leaves
the database as it was.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from io import TextIOBase
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

ProgressFn = Callable[[int, int], None]


@dataclass
class RowError:
    line: int  # line number in a CSV (header = 1) or feature number (1-based) in GeoJSON
    field: str
    message: str
    file: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file else str(self.line)
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False
    dry_run: bool = False
    fatal: str = ""  # a problem with the whole file (encoding, header, not JSON)

    @property
    def ok(self) -> bool:
        return not self.fatal and not self.errors

    @property
    def valid_rows(self) -> int:
        # Line 0 marks a whole file that could not be read: its features were never counted.
        return self.total - len({(e.file, e.line) for e in self.errors if e.line > 0})

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["valid_rows"] = self.valid_rows
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImportReport:
        errors = [RowError(**e) for e in data.get("errors", [])]
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k != "errors"}
        return cls(errors=errors, **known)


def decode_text(raw: bytes) -> str:
    """UTF-8 (with or without BOM) or GB18030, the encodings Chinese tables arrive in."""
    # GB18030 maps nearly every byte sequence to some character, so binary files (a
    # spreadsheet saved as .xlsx, an image) would "decode"; a NUL byte never occurs in text.
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError(
            _("The file is UTF-16 text: save it as UTF-8 (“CSV UTF-8”) or GB18030."),
            code="encoding",
        )
    if b"\x00" in raw[:65536]:
        raise ValidationError(
            _("The file is binary, not text: save it as CSV or GeoJSON (UTF-8 or GB18030)."),
            code="encoding",
        )
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(_("The file is neither UTF-8 nor GB18030 text."), code="encoding")


def messages_of(error: ValidationError) -> list[tuple[str, str]]:
    """(field, message) pairs of a Django ValidationError."""
    if hasattr(error, "error_dict"):
        return [
            ("" if name == "__all__" else name, str(m))
            for name, errs in error.error_dict.items()
            for e in errs
            for m in e.messages
        ]
    return [("", str(m)) for m in error.messages]


class TerminalProgress:
    """Progress on stderr for long commands, at most a few updates a second."""

    def __init__(self, label: str, stream: TextIO | TextIOBase | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.tty = self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        final = done >= total
        if not final and now - self.last < (0.2 if self.tty else 5.0):
            return
        self.last = now
        percent = 100 * done // total if total else 100
        # Carriage returns redraw one line on a terminal; in a log they would only garble it.
        start = "\r" if self.tty else ""
        end = "\n" if final or not self.tty else ""
        self.stream.write(f"{start}{self.label}: {done}/{total} ({percent}%)" + end)
        self.stream.flush()
