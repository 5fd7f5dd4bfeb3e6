"""The export's XLSX writers side by side, and the whole export, for 100k submissions.

The same SQLite file as ``bench/digest.py`` (120 participants, twelve weeks of generated
observations, answers, check-ins, ideas and experiments) is seeded once; the rows the export writes
are built once, in memory, exactly as ``bot.services.export`` builds them. Then, in this one
process, each candidate writes the same six sheets with the export's formatting (bold header,
frozen first row, column widths, ``yyyy-mm-dd hh:mm`` dates, long text wrapped):

* ``openpyxl`` write-only mode (what the export used before; lxml if installed);
* ``XlsxWriter`` constant-memory mode (what the export uses: ``bot.services.export_xlsx``);
* ``pyexcelerate``.

Each is timed ``--repeat`` times (best kept), with the cells per second, the file size, and whether a
participant's ``=HYPERLINK(…)`` stays text when read back. Last, the whole export (XLSX + 6 CSV +
JSON, from the database) is timed end to end, with the loop's longest stall while it runs.

Run: ``python bench/export.py`` (``--submissions 10000`` for a quicker run, ``--json`` for a line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.digest import seed
from bot.domain.privacy import ExportAttribution, cell_partition
from bot.services import export
from bot.services.digest import load_members, organisation_names, prompt_infos
from bot.services.export_xlsx import ILLEGAL_XLSX, WIDTHS, Workbook
from bot.services.people import ROLES
from storage.db import Database
from storage.models import Process
from tests.support.seed import PERIOD_END

FORMULA = '=HYPERLINK("http://example.invalid","klikkaa")'
Sheets = Mapping[str, Sequence[Sequence[object]]]


async def export_rows(db: Database) -> dict[str, list[list[object]]]:
    """Every sheet's rows as the export builds them (the formula-looking text added to observations)."""
    async with db.session() as session:
        process = await session.get(Process, 1)
        assert process is not None
        tz = ZoneInfo(process.timezone)
        members = await load_members(session, 1)
        prompts = await prompt_infos(session, 1)
        participants = [member for member in members if member.participant]
        cells = cell_partition(
            participants, process.min_group or 1, await organisation_names(session, 1), ROLES
        )
        given, delivered = await export._participation_counts(session, 1)
    rows = export._Rows(tz, ExportAttribution(members, cells), prompts, process.language)
    builders = rows.builders()
    sheets: dict[str, list[list[object]]] = {}
    for sheet, statement in export._content_queries(1, prompts).items():
        sheets[sheet] = [
            made
            for batch in [b async for b in export._batches(db, statement)]
            for row in batch
            if (made := builders[sheet](row)) is not None
        ]
    sheets["participation"] = rows.participation(members, given, delivered)
    first = sheets["observations"][0]
    sheets["observations"].insert(0, [*first[:4], FORMULA, *first[5:]])
    return sheets


def with_openpyxl(sheets: Sheets, path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    bold, wrap = Font(bold=True), Alignment(wrap_text=True, vertical="top")
    for sheet, rows in sheets.items():
        worksheet = book.create_sheet(sheet)
        worksheet.freeze_panes = "A2"
        columns = export.COLUMNS[sheet]
        for index, column in enumerate(columns, start=1):
            worksheet.column_dimensions[get_column_letter(index)].width = WIDTHS.get(column, 18)
        header = []
        for column in columns:
            cell = WriteOnlyCell(worksheet, column)
            cell.font = bold
            header.append(cell)
        worksheet.append(header)
        for row in rows:
            cells = []
            for value in row:
                if isinstance(value, str):
                    cell = WriteOnlyCell(worksheet, ILLEGAL_XLSX.sub("", value)[:32_000])
                    cell.data_type = "s"
                    if len(value) > 60:
                        cell.alignment = wrap
                elif isinstance(value, datetime):
                    cell = WriteOnlyCell(worksheet, value.replace(tzinfo=None))
                    cell.number_format = "yyyy-mm-dd hh:mm"
                else:
                    cell = WriteOnlyCell(worksheet, value if isinstance(value, int | float) else None)
                cells.append(cell)
            worksheet.append(cells)
    book.save(path)


def with_xlsxwriter(sheets: Sheets, path: Path) -> None:
    book = Workbook(path)
    for sheet, rows in sheets.items():
        book.begin(sheet, export.COLUMNS[sheet])
        book.write(sheet, rows)
    book.close()


def with_pyexcelerate(sheets: Sheets, path: Path) -> None:
    from pyexcelerate import Alignment, Font, Format, Panes, Style, Workbook

    book = Workbook()
    bold = Style(font=Font(bold=True))
    wrap = Style(alignment=Alignment(wrap_text=True, vertical="top"))
    when = Style(format=Format("yyyy-mm-dd hh:mm"))
    for sheet, rows in sheets.items():
        columns = export.COLUMNS[sheet]
        data: list[list[object]] = [list(columns)]
        data.extend(
            [value.replace(tzinfo=None) if isinstance(value, datetime) else value for value in row]
            for row in rows
        )
        worksheet = book.new_sheet(sheet, data=data)
        worksheet.panes = Panes(0, 1)
        for index, column in enumerate(columns, start=1):
            worksheet.set_col_style(index, Style(size=WIDTHS.get(column, 18)))
            worksheet.set_cell_style(1, index, bold)
        for number, row in enumerate(rows, start=2):
            for index, value in enumerate(row, start=1):
                if isinstance(value, datetime):
                    worksheet.set_cell_style(number, index, when)
                elif isinstance(value, str) and len(value) > 60:
                    worksheet.set_cell_style(number, index, wrap)
    book.save(str(path))


WRITERS: dict[str, Callable[[Sheets, Path], None]] = {
    "openpyxl write-only": with_openpyxl,
    "XlsxWriter constant_memory": with_xlsxwriter,
    "pyexcelerate": with_pyexcelerate,
}


def formula_stays_text(path: Path) -> bool:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True)
    cell = next(book["observations"].iter_rows(min_row=2, max_row=2))[4]
    result = cell.value == FORMULA and cell.data_type in ("s", "inlineStr")
    book.close()
    return result


def best_of(repeat: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


async def whole_export(db: Database, directory: Path) -> tuple[float, float]:
    """The export end to end, and the event loop's longest stall meanwhile (a 10 ms heartbeat)."""
    stalls: list[float] = []

    async def heartbeat() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            stalls.append(now - last - 0.01)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    await export.write_export(db, process_id=1, directory=directory, now=PERIOD_END)
    elapsed = time.perf_counter() - started
    beat.cancel()
    return elapsed, max(stalls, default=0.0)


async def measure(path: Path, repeat: int, scratch: Path) -> dict[str, Any]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        sheets = await export_rows(db)
        cells = sum(len(row) for rows in sheets.values() for row in rows)
        figures: dict[str, Any] = {"rows": sum(len(rows) for rows in sheets.values()), "cells": cells}
        for name, write in WRITERS.items():
            target = scratch / f"{name.split()[0]}.xlsx"
            seconds = await asyncio.to_thread(best_of, repeat, lambda: write(sheets, target))  # noqa: B023
            figures[name] = {
                "s": seconds,
                "cells_per_s": cells / seconds,
                "mb": target.stat().st_size / 1024 / 1024,
                "formula_stays_text": await asyncio.to_thread(formula_stays_text, target),
            }
        runs = [await whole_export(db, scratch / f"export-{n}") for n in range(repeat)]
        figures["export_s"] = min(seconds for seconds, _ in runs)
        figures["export_loop_stall_ms"] = max(stall for _, stall in runs) * 1000
    finally:
        await db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--submissions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--db", type=Path, help="reuse (or create) this SQLite file instead of a new one")
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="valitupa-bench-") as scratch:
        path = args.db or Path(scratch) / "export.db"
        if not path.exists():
            asyncio.run(seed(path, args.submissions))
        figures = asyncio.run(measure(path, args.repeat, Path(scratch)))
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['rows']:,} rows, {figures['cells']:,} cells; best of {args.repeat}")
    print(f"{'XLSX writer':<28} {'s':>6} {'cells/s':>9} {'MB':>5}  =… stays text")
    for name in WRITERS:
        row = figures[name]
        print(
            f"{name:<28} {row['s']:>6.2f} {row['cells_per_s']:>9,.0f} {row['mb']:>5.1f}  "
            f"{'yes' if row['formula_stays_text'] else 'NO (a formula)'}"
        )
    print(
        f"\nWhole export (XLSX + 6 CSV + JSON from the database): {figures['export_s']:.2f} s; "
        f"longest event-loop stall meanwhile {figures['export_loop_stall_ms']:.0f} ms "
        f"(goal: under 10 s: {'met' if figures['export_s'] < 10 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
