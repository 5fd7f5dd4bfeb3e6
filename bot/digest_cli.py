"""``valitupa digest`` and ``valitupa export``: the same digest and exports as in chat, as files.

For operators and facilitators who want the digest on disk (to print, to archive) or the data in a
spreadsheet without Telegram. An unknown process is one clear line and exit status 1.
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
) -> int:
    """Write a process's digest as a self-contained HTML file, in the process's language.

    The period runs from ``since`` (a local date) or else from the last weekly digest, until now.
    """
    db = await _open(settings, database)
    now = (clock or SystemClock()).now()
    try:
        async with db.session() as session:
            process = await find_process(session, reference)
            if process is None:
                return _unknown(reference)
            try:
                start = parse_since(since, process.timezone) if since else default_period_start(process)
            except ValueError:
                _complain(f"--since {since!r} is not a date: use YYYY-MM-DD, e.g. 2027-01-11.")
                return EXIT_USAGE
            digest = await build_digest(session, process_id=process.id, start=start, end=now, now=now)
            assert digest is not None
            await record_run(session, process_id=process.id, trigger="cli", start=start, end=now, now=now)
            lang = normalise_language(process.language)
    finally:
        if database is None:
            await db.dispose()
    target = out or Path(f"digest-{digest.process_id}.html")
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
) -> int:
    """Write a process's export (XLSX, a CSV per sheet, JSON) into the directory ``out``."""
    db = await _open(settings, database)
    now = (clock or SystemClock()).now()
    try:
        async with db.session() as session:
            process = await find_process(session, reference)
            if process is None:
                return _unknown(reference)
            result = await export.write_export(session, process_id=process.id, directory=out, now=now)
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
