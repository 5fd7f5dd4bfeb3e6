"""``valitupa purge [--dry-run]``: purge by hand what is past its retention, as a table on stdout."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.retention import (
    PurgeSummary,
    due_for_purge,
    purge_process,
    purge_unconsented,
    upcoming_purges,
)
from bot.settings import Settings
from storage.db import Database

log = logging.getLogger(__name__)


def _print_table(rows: list[PurgeSummary], out: TextIO) -> None:
    out.write(
        f"{'id':>4}  {'purge date':<10}  {'ended':<10}  {'participants':>12}  {'submissions':>11}  name\n"
    )
    for row in rows:
        out.write(
            f"{row.process_id:>4}  {row.purge_date.isoformat():<10}  {row.end_at.date().isoformat():<10}  "
            f"{row.participants:>12}  {row.submissions:>11}  {row.name}\n"
        )


async def purge(db: Database, *, now: datetime, dry_run: bool, out: TextIO) -> int:
    """Purge (or, dry, list) every process past its retention at ``now``; returns how many."""
    due = await db.run(lambda session: due_for_purge(session, now=now))
    if not due:
        out.write("No process is past its retention; nothing to purge.\n")
    else:
        out.write("Past their retention:\n" if dry_run else "Purging:\n")
        _print_table(due, out)
        if dry_run:
            out.write(f"Dry run: {len(due)} process(es) would be purged; nothing was deleted.\n")
        else:
            purged = 0
            for row in due:

                async def work(session: AsyncSession, process_id: int = row.process_id) -> None:
                    await purge_process(session, process_id=process_id)

                try:
                    await db.run(work)
                except Exception as error:  # one process that fails must not stop the others
                    out.write(f"Could not purge process {row.process_id}: {type(error).__name__}: {error}\n")
                    continue
                purged += 1
                log.info("purged process %d by hand", row.process_id)
            out.write(f"Purged {purged} process(es).\n")
            forgotten = await db.run(lambda session: purge_unconsented(session, now=now))
            if forgotten:
                out.write(f"Forgot {forgotten} person(s) who did not consent.\n")
            await db.checkpoint()
    upcoming = await db.run(lambda session: upcoming_purges(session, now=now))
    if upcoming:
        nxt = upcoming[0]
        out.write(f"Next: process {nxt.process_id} ({nxt.name}) on {nxt.purge_date.isoformat()}.\n")
    return len(due)


async def purge_cli(settings: Settings, *, dry_run: bool, out: TextIO | None = None) -> int:
    """``valitupa purge [--dry-run]``: exit status 0; the table goes to standard output."""
    from bot.domain.clock import SystemClock
    from storage import migrate

    db = Database(settings.database_url)
    try:
        await migrate.upgrade(db)
        await purge(db, now=SystemClock().now(), dry_run=dry_run, out=out or sys.stdout)
    finally:
        await db.dispose()
    return 0
