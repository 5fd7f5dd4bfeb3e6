"""The export's workbook: XlsxWriter in constant-memory mode, each row written to disk as it comes.

Chosen by measurement (``bench/export.py``, against openpyxl's write-only mode and pyexcelerate):
XlsxWriter writes the 100k-submission export's cells about three times faster than openpyxl with
flat memory, and ``write_string`` always stores text, so a participant's ``=HYPERLINK(…)`` never
becomes a formula (pyexcelerate turns every text starting with ``=`` into one, with no way to say
otherwise). The formatting is the export's: bold header, frozen first row, column widths, dates as
``yyyy-mm-dd hh:mm``, long text wrapped. An empty text is an empty cell.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter

__all__ = ["ILLEGAL_XLSX", "WIDTHS", "Workbook"]

ILLEGAL_XLSX = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
"""Control characters a workbook cannot hold (they are left out)."""
WIDTHS = {"ref": 8, "created_at": 17, "updated_at": 17, "joined_at": 17, "text": 60, "title": 40}
"""Column widths in characters; every other column is 18 wide."""


class Workbook:
    """One workbook; :meth:`begin` a sheet, :meth:`write` its rows in order, :meth:`close` once."""

    def __init__(self, path: Path) -> None:
        self.book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "in_memory": False})
        self.bold = self.book.add_format({"bold": True})
        self.wrap = self.book.add_format({"text_wrap": True, "valign": "top"})
        self.when = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        self.sheets: dict[str, Any] = {}
        self.next_row: Counter[str] = Counter()

    def begin(self, sheet: str, columns: Sequence[str]) -> None:
        worksheet = self.book.add_worksheet(sheet)
        worksheet.freeze_panes(1, 0)
        for index, column in enumerate(columns):
            worksheet.set_column(index, index, WIDTHS.get(column, 18))
            worksheet.write_string(0, index, column, self.bold)
        self.sheets[sheet] = worksheet
        self.next_row[sheet] = 1

    def write(self, sheet: str, rows: Sequence[Sequence[object]]) -> None:
        worksheet = self.sheets[sheet]
        text, number, when, flag = (
            worksheet.write_string,
            worksheet.write_number,
            worksheet.write_datetime,
            worksheet.write_boolean,
        )
        wrap, date_format, illegal = self.wrap, self.when, ILLEGAL_XLSX.search
        row_number = self.next_row[sheet]
        for row in rows:
            for column, value in enumerate(row):
                if isinstance(value, str):
                    if not value:
                        continue
                    style = wrap if len(value) > 60 else None
                    if illegal(value):
                        value = ILLEGAL_XLSX.sub("", value)
                    # Always text: a participant's "=HYPERLINK(…)" never becomes a formula.
                    text(row_number, column, value[:32_000], style)
                elif isinstance(value, bool):
                    flag(row_number, column, value)
                elif isinstance(value, int | float):
                    number(row_number, column, value)
                elif isinstance(value, datetime):
                    when(row_number, column, value.replace(tzinfo=None), date_format)
            row_number += 1
        self.next_row[sheet] = row_number

    def close(self) -> None:
        self.book.close()
