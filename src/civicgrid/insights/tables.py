"""Excel export of the insight tables (dashboard rows, the cases behind a figure, scorecards).

Every table on an insights page can be downloaded as .xlsx with `?format=xlsx`; the view builds
the same header and rows it renders and hands them to `xlsx_response`. openpyxl's write-only
mode keeps memory flat for long case lists. `write_xlsx` in registry/transfer/sheets.py is tied
to the registry's column layouts, so this writes plain headers itself.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

from django.http import HttpResponse

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(filename: str, header: list[str], rows: Iterable[Sequence[Any]]) -> HttpResponse:
    """A downloadable .xlsx with a bold, frozen header row and one row per item.

    `filename` may hold Chinese; it is sent RFC 5987-encoded with an ASCII fallback. Cells keep
    their types (numbers stay numbers so Excel can sum them); None becomes an empty cell, and
    aware datetimes are written in local time without the zone (Excel has no time zones).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    if not filename.endswith(".xlsx"):
        filename += ".xlsx"
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=_sheet_title(filename.removesuffix(".xlsx")))
    for i, text in enumerate(header):
        sheet.column_dimensions[get_column_letter(i + 1)].width = max(12, min(40, len(text) * 2))
    bold = Font(bold=True)
    head = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=str(text))
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    sheet.freeze_panes = "A2"
    for row in rows:
        sheet.append([_cell(v) for v in row])
    target = io.BytesIO()
    book.save(target)
    response = HttpResponse(target.getvalue(), content_type=XLSX)
    ascii_name = filename.encode("ascii", "ignore").decode() or "export.xlsx"
    ascii_name = ascii_name.replace('"', "").strip(" -_")
    if ascii_name == ".xlsx":
        ascii_name = "export.xlsx"
    response["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"
    )
    return response


def _cell(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            from django.utils import timezone

            value = timezone.localtime(value).replace(tzinfo=None)
        return value
    if isinstance(value, (int, float, dt.date, bool)):
        return value
    return str(value)


def _sheet_title(title: str) -> str:
    # Excel refuses sheet names over 31 characters and with []:*?/\
    return "".join(c for c in title if c not in "[]:*?/\\")[:31] or "Sheet1"
