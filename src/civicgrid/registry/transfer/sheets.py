"""Writing tables: the import templates (header row and one example row, CSV or .xlsx) and
exports, as a stream.

CSV is UTF-8 with a byte-order mark, which Excel needs to read Chinese. Excel turns a long digit
string into a number in scientific notation (losing the last digits of an ID number), so in
CSV the cells of code columns (ID and phone numbers, grid codes) start with a tab — the usual
workaround, which an import strips again — and in .xlsx they are text cells formatted as text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

from django.utils.translation import gettext as _

from .columns import CODE, LAYOUTS, Column, Layout

BOM = "\ufeff"
CSV_BATCH = 500


def header(columns: Sequence[Column]) -> list[str]:
    return [c.header() for c in columns]


def example_row(layout: Layout, grid_code: str = "") -> list[str]:
    """One filled-in row: what each column takes (choice columns as their label)."""
    row = []
    for column in layout.columns:
        value = column.example
        if column.code == "grid" and grid_code:
            value = grid_code
        elif column.choices is not None and value:
            value = str(column.choices(value).label)
        row.append(value)
    return row


def csv_chunks(columns: Sequence[Column], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """A CSV file as a stream of byte chunks."""
    codes = [i for i, c in enumerate(columns) if c.form == CODE]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header(columns))
    for count, row in enumerate(rows, start=1):
        cells = ["" if v is None else v for v in row]
        for i in codes:
            if cells[i] != "":
                cells[i] = "\t" + str(cells[i])
        writer.writerow(cells)
        if count % CSV_BATCH == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def write_xlsx(
    target: IO[bytes],
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    title: str,
    notes: bool = False,
) -> None:
    """An .xlsx workbook written row by row (openpyxl's write-only mode keeps memory flat)."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(title))
    codes = {i for i, c in enumerate(columns) if c.form == CODE}
    for i, column in enumerate(columns):
        letter = get_column_letter(i + 1)
        sheet.column_dimensions[letter].width = 22 if column.form == CODE else 14
    bold = Font(bold=True)
    head = []
    for text in header(columns):
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    sheet.freeze_panes = "A2"
    for row in rows:
        cells: list[Any] = []
        for i, value in enumerate(row):
            if i in codes and value not in (None, ""):
                cell = WriteOnlyCell(sheet, value=str(value))
                cell.number_format = "@"
                cells.append(cell)
            else:
                cells.append(None if value == "" else value)
        sheet.append(cells)
    if notes:
        _notes(book, columns)
    book.save(target)


def _sheet_title(title: str) -> str:
    # Excel refuses sheet names over 31 characters and with []:*?/\
    return "".join(c for c in title if c not in "[]:*?/\\")[:31] or "Sheet1"


def _notes(book: Any, columns: Sequence[Column]) -> None:
    """A second sheet explaining each column: required or not, the values it takes."""
    sheet = book.create_sheet(title=_sheet_title(_("Instructions")))
    sheet.column_dimensions["A"].width = 30
    sheet.column_dimensions["B"].width = 10
    sheet.column_dimensions["C"].width = 80
    sheet.append([_("Column"), _("Required"), _("Values")])
    for column in columns:
        if column.choices is not None:
            values = "; ".join(str(label) for _v, label in column.choices.choices)
        elif column.code == "grid":
            values = _("The 15-digit code of the grid.")
        elif column.code == "id_number":
            values = _("The full document number, as text.")
        elif column.form == "date":
            values = _("A date as YYYY-MM-DD.")
        elif column.form == "number":
            values = _("A number.")
        else:
            values = ""
        sheet.append([column.header(), _("yes") if column.required else "", values])
    sheet.append([])
    sheet.append(
        [
            _(
                "Replace the example row with your rows. Rows are matched to stored records by "
                "their natural key (the document number for people, the address for houses): "
                "importing a file again changes only what differs."
            )
        ]
    )


def template(kind: str, fmt: str, grid_code: str = "", *, title: str = "") -> bytes:
    """The import template of a record type: header row and one example row."""
    layout = LAYOUTS[kind]
    rows = [example_row(layout, grid_code)]
    if fmt == "csv":
        return b"".join(csv_chunks(layout.columns, rows))
    target = io.BytesIO()
    write_xlsx(target, layout.columns, rows, title=title or kind, notes=True)
    return target.getvalue()
