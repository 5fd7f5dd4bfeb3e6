"""``valitupa digest`` and ``valitupa export``: the same digest and exports as in chat, as files.

For operators and facilitators who want the digest on disk (to print, to archive) or the data in a
spreadsheet without Telegram. An unknown process is one clear line and exit status 1. Neither
overwrites what is already on disk unless ``--force`` is given (exit status 3 otherwise).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.domain.clock import Clock, SystemClock
from bot.domain.digest_model import Digest
from bot.services import export
from bot.services.digest import build_digest, default_period_start, record_run
from bot.services.processes import find_process
from bot.settings import Settings
from messages import default_catalog, normalise_language
from storage import migrate
from storage.db import Database

__all__ = ["write_digest", "write_export"]

EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_EXISTS = 3


def _export_files(directory: Path) -> list[Path]:
    names = [export.XLSX_NAME, export.JSON_NAME, *(export.csv_name(sheet) for sheet in export.SHEETS)]
    return [directory / name for name in names]


def refuse_to_overwrite_export(out: Path, *, force: bool) -> str | None:
    """Why the export must not be written into ``out``; None when it may."""
    if out.exists() and not out.is_dir():
        return f"{out} is a file; --out names a directory for the export files."
    existing = [path.name for path in _export_files(out) if path.exists()]
    if existing and not force:
        return (
            f"{out} already holds an export ({', '.join(existing[:3])}…); "
            "add --force to overwrite it, or choose another directory."
        )
    return None


def refuse_to_overwrite_file(target: Path, *, force: bool) -> str | None:
    if target.is_dir():
        return f"{target} is a directory; --out names the HTML file to write."
    if target.exists() and not force:
        return f"{target} already exists; add --force to overwrite it, or choose another name."
    return None


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")


def _complain(line: str) -> None:
    sys.stderr.write(line + "\n")


def _unknown(reference: str) -> int:
    _complain(f"No process {reference!r}: give its id or exact name (see: valitupa process list).")
    return EXIT_NOT_FOUND


def parse_since(text: str, timezone: str) -> datetime:
    """``YYYY-MM-DD`` → the start of that day in the process's time zone."""
    day = date.fromisoformat(text.strip())
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))


async def _open(settings: Settings, database: Database | None) -> Database:
    if database is not None:
        return database
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    return db


async def write_digest(
    settings: Settings,
    *,
    reference: str,
    since: str | None,
    out: Path | None,
    database: Database | None = None,
    clock: Clock | None = None,
    force: bool = False,
) -> int:
    """Write a process's digest as a self-contained HTML file, in the process's language.

    The period runs from ``since`` (a local date) or else from the last weekly digest, until now.
    """
    if out is not None and (refusal := refuse_to_overwrite_file(out, force=force)):
        _complain(refusal)
        return EXIT_EXISTS
    db = await _open(settings, database)
    now = (clock or SystemClock()).now()
    try:
        process = await db.run(lambda session: find_process(session, reference))
        if process is None:
            return _unknown(reference)
        try:
            start = parse_since(since, process.timezone) if since else default_period_start(process)
        except ValueError:
            _complain(f"--since {since!r} is not a date: use YYYY-MM-DD, e.g. 2027-01-11.")
            return EXIT_USAGE
        # In short units of its own, so a running bot on the same SQLite file keeps answering.
        digest = await build_digest(db, process_id=process.id, start=start, end=now, now=now)
        assert digest is not None
        await db.run(
            lambda session: record_run(
                session, process_id=process.id, trigger="cli", start=start, end=now, now=now
            )
        )
        lang = normalise_language(process.language)
    finally:
        if database is None:
            await db.dispose()
    target = out or Path(f"digest-{digest.process_id}.html")
    if out is None and (refusal := refuse_to_overwrite_file(target, force=force)):
        _complain(refusal)
        return EXIT_EXISTS
    html = await asyncio.to_thread(_render, digest, lang)
    await asyncio.to_thread(_write_text, target, html)
    _say(
        f"Wrote the digest of {digest.process_name} ({start.astimezone(digest.tz):%Y-%m-%d %H:%M} – "
        f"{now.astimezone(digest.tz):%Y-%m-%d %H:%M}) to {target}"
    )
    return 0


def _render(digest: Digest, lang: str) -> str:
    from bot.render.chart import participation_chart
    from bot.render.digest_html import html_document
    from bot.render.labels import Labels

    catalog = default_catalog()
    chart = (
        participation_chart(digest.weekly, Labels(catalog, lang, digest.tz)) if digest.weekly.total else None
    )
    return html_document(digest, catalog, lang, chart_png=chart)


def _write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


async def write_export(
    settings: Settings,
    *,
    reference: str,
    out: Path,
    database: Database | None = None,
    clock: Clock | None = None,
    force: bool = False,
) -> int:
    """Write a process's export (XLSX, a CSV per sheet, JSON) into the directory ``out``."""
    if refusal := refuse_to_overwrite_export(out, force=force):
        _complain(refusal)
        return EXIT_EXISTS
    db = await _open(settings, database)
    now = (clock or SystemClock()).now()
    try:
        process = await db.run(lambda session: find_process(session, reference))
        if process is None:
            return _unknown(reference)
        result = await export.write_export(db, process_id=process.id, directory=out, now=now)
        assert result is not None
        name = process.name
    finally:
        if database is None:
            await db.dispose()
    counts = ", ".join(f"{sheet} {result.rows.get(sheet, 0)}" for sheet in export.SHEETS)
    _say(
        f"Exported {name} to {out}: {export.XLSX_NAME}, {len(export.SHEETS)} CSV files and "
        f"{export.JSON_NAME} (rows: {counts})."
    )
    return 0
