"""Reading an uploaded table as a stream of rows: CSV (UTF-8 with or without BOM, or GB18030)
or Excel .xlsx (openpyxl in read-only mode). Neither reads the whole file into memory, so an
import of a million rows holds one chunk of rows at a time.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from django.utils.translation import gettext as _

from .columns import Layout, read_header

BLOCK = 1 << 20
XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # the pre-2007 .xls format

# A field of a CSV may be long (a note), but not megabytes: a file with an unbalanced quote
# would otherwise be read into one field.
csv.field_size_limit(1 << 20)


class FileProblem(Exception):
    """The file as a whole cannot be read (encoding, format, header)."""


@dataclass
class Sheet:
    codes: list[str | None]  # the column code of each position (None: ignored)
    headers: list[str]  # the header cells as the file wrote them
    rows: Iterator[tuple[int, list[Any]]]  # (line or row number, cells)
    total: int  # data rows, counted or estimated (progress only)
    extra_rows: list[int] = field(default_factory=list)

    def header_of(self, code: str) -> str:
        """How the file names a column (for the report), or the code when it has none."""
        for position, name in enumerate(self.codes):
            if name == code:
                return self.headers[position]
        return code


def detect_encoding(source: IO[bytes]) -> tuple[str, int]:
    """(encoding, number of line breaks): one pass over the bytes, decoding and discarding."""
    source.seek(0)
    head = source.read(65536)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise FileProblem(_("The file is UTF-16 text: save it as UTF-8 (“CSV UTF-8”) or GB18030."))
    if head.startswith((XLSX_MAGIC, OLE_MAGIC)) or b"\x00" in head:
        raise FileProblem(
            _("The file is binary, not text: save it as CSV (UTF-8 or GB18030) or as .xlsx.")
        )
    for encoding in ("utf-8-sig", "gb18030"):
        source.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            while block := source.read(BLOCK):
                decoder.decode(block)
                lines += block.count(b"\n")
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines
    raise FileProblem(_("The file is neither UTF-8 nor GB18030 text."))


def _csv_rows(reader: Any) -> Iterator[tuple[int, list[Any]]]:
    try:
        while True:
            # A quoted value may span lines: a row is numbered by the line it starts on.
            line = reader.line_num + 1
            values = next(reader, None)
            if values is None:
                return
            if any(v.strip() for v in values):
                yield line, values
    except csv.Error as exc:
        raise FileProblem(
            _("The file is not valid CSV near line %(line)d: %(error)s")
            % {"line": reader.line_num, "error": exc}
        ) from exc


@contextlib.contextmanager
def open_csv(source: IO[bytes], layout: Layout) -> Iterator[Sheet]:
    encoding, lines = detect_encoding(source)
    source.seek(0)
    text = io.TextIOWrapper(source, encoding=encoding, newline="")
    try:
        reader = csv.reader(text)
        rows = _csv_rows(reader)
        header: list[str] | None = None
        for _line, values in rows:
            header = values
            break
        if header is None:
            raise FileProblem(_("The file is empty."))
        codes, problem = read_header(layout, header)
        if problem:
            raise FileProblem(problem)
        yield Sheet(codes, [h.strip() for h in header], rows, max(0, lines - 1))
    finally:
        text.detach()  # the caller owns the underlying file


@contextlib.contextmanager
def open_xlsx(source: IO[bytes], layout: Layout) -> Iterator[Sheet]:
    import openpyxl

    source.seek(0)
    head = source.read(8)
    source.seek(0)
    if head.startswith(OLE_MAGIC):
        raise FileProblem(_("This is the old Excel format (.xls): save it as .xlsx or CSV."))
    try:
        book = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileProblem(_("The file is not a readable Excel workbook (.xlsx).")) from exc
    try:
        sheet = book.worksheets[0]
        total = max(0, (sheet.max_row or 1) - 1)

        def numbered() -> Iterator[tuple[int, list[Any]]]:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if any(v is not None and str(v).strip() for v in values):
                    yield number, list(values)

        rows = numbered()
        header: list[Any] | None = None
        for _number, values in rows:
            header = values
            break
        if header is None:
            raise FileProblem(_("The file is empty."))
        cells = ["" if h is None else str(h).strip() for h in header]
        while cells and not cells[-1]:  # Excel pads rows with empty cells
            cells.pop()
        codes, problem = read_header(layout, cells)
        if problem:
            raise FileProblem(problem)
        yield Sheet(codes, cells, rows, total)
    finally:
        book.close()


def open_table(
    name: str, source: IO[bytes], layout: Layout
) -> contextlib.AbstractContextManager[Sheet]:
    """The right reader for a file: by its name, else by its first bytes."""
    lower = (name or "").lower()
    source.seek(0)
    head = source.read(4)
    source.seek(0)
    if lower.endswith(".xls"):
        raise FileProblem(_("This is the old Excel format (.xls): save it as .xlsx or CSV."))
    if lower.endswith((".xlsx", ".xlsm")) or head.startswith(XLSX_MAGIC):
        return open_xlsx(source, layout)
    return open_csv(source, layout)
