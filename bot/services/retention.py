"""Retention: a process's data is purged ``retention_days`` after its end, as the privacy notice says.

A week before, the process's facilitators are told (once: ``Process.retention_warned_at``) so they
can keep a digest or an export. On the day, everything of the process goes: submissions, supports,
deliveries, prompts, memberships, digests, workshops, organisations and the process itself, and then
the users who were only in that process. Facilitators hear that it happened. The leader does this
from the dispatcher's tick (:func:`retention_job`); ``valitupa purge [--dry-run]`` does the purge by
hand. Messages already in people's Telegram chats are theirs and stay there.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import ExtBot

from bot.context import Services
from bot.services.people import facilitators_to_tell
from bot.settings import Settings
from storage.db import Database
from storage.models import (
    Delivery,
    DigestRun,
    Membership,
    Organisation,
    Process,
    Prompt,
    Submission,
    Support,
    User,
    Workshop,
)
from storage.sqlite_driver import off_the_loop

log = logging.getLogger(__name__)

WARN_BEFORE = timedelta(days=7)


def purge_at(process: Process) -> datetime:
    return process.end_at + timedelta(days=process.retention_days)


def local_date(process: Process, instant: datetime) -> date:
    return instant.astimezone(ZoneInfo(process.timezone)).date()


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    language: str


@dataclass(frozen=True)
class Notice:
    """One message to the facilitators of one process, sent after the unit of work is committed."""

    process_id: int
    process_name: str
    key: str
    purge_date: date
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class PurgeSummary:
    process_id: int
    name: str
    end_at: datetime
    purge_at: datetime
    purge_date: date
    participants: int
    submissions: int


async def _facilitators(session: AsyncSession, process: Process) -> tuple[Recipient, ...]:
    return tuple(Recipient(c.chat_id, c.language) for c in await facilitators_to_tell(session, process.id))


async def _summaries(session: AsyncSession, processes: list[Process]) -> list[PurgeSummary]:
    if not processes:
        return []
    ids = [process.id for process in processes]
    participants = dict(
        (
            await session.execute(
                select(Membership.process_id, func.count())
                .where(Membership.process_id.in_(ids), Membership.is_facilitator.is_(False))
                .group_by(Membership.process_id)
            )
        ).all()
    )
    submissions = dict(
        (
            await session.execute(
                select(Submission.process_id, func.count())
                .where(Submission.process_id.in_(ids))
                .group_by(Submission.process_id)
            )
        ).all()
    )
    return [
        PurgeSummary(
            process_id=process.id,
            name=process.name,
            end_at=process.end_at,
            purge_at=purge_at(process),
            purge_date=local_date(process, purge_at(process)),
            participants=int(participants.get(process.id, 0)),
            submissions=int(submissions.get(process.id, 0)),
        )
        for process in processes
    ]


async def due_for_purge(session: AsyncSession, *, now: datetime) -> list[PurgeSummary]:
    processes = list(await session.scalars(select(Process).order_by(Process.id)))
    return await _summaries(session, [p for p in processes if purge_at(p) <= now])


async def upcoming_purges(session: AsyncSession, *, now: datetime) -> list[PurgeSummary]:
    processes = list(await session.scalars(select(Process).order_by(Process.id)))
    later = sorted((p for p in processes if purge_at(p) > now), key=purge_at)
    return await _summaries(session, later)


async def purge_process(session: AsyncSession, *, process_id: int) -> None:
    """Delete one process and everything in it, and the users who were only in it.

    Explicit deletes child-first rather than trusting cascades alone: erasure must not depend on
    SQLite's foreign-key pragma.
    """
    # On SQLite every statement here runs in the driver's worker thread: a process may hold tens of
    # thousands of rows, and the bot keeps answering meanwhile.
    with off_the_loop():
        await _purge_process(session, process_id=process_id)


async def _purge_process(session: AsyncSession, *, process_id: int) -> None:
    memberships = select(Membership.id).where(Membership.process_id == process_id)
    submissions = select(Submission.id).where(Submission.process_id == process_id)
    prompts = select(Prompt.id).where(Prompt.process_id == process_id)
    user_ids = list(
        await session.scalars(select(Membership.user_id).where(Membership.process_id == process_id))
    )
    await session.execute(
        delete(Support).where(or_(Support.idea_id.in_(submissions), Support.membership_id.in_(memberships)))
    )
    # Ideas point at ideas (merges, experiments): unlink first so the delete order never matters.
    await session.execute(
        update(Submission)
        .where(Submission.process_id == process_id)
        .values(idea_id=None, merged_into_id=None, delivery_id=None)
    )
    await session.execute(delete(Submission).where(Submission.process_id == process_id))
    await session.execute(
        delete(Delivery).where(or_(Delivery.prompt_id.in_(prompts), Delivery.membership_id.in_(memberships)))
    )
    await session.execute(delete(Prompt).where(Prompt.process_id == process_id))
    await session.execute(
        update(User).where(User.active_membership_id.in_(memberships)).values(active_membership_id=None)
    )
    await session.execute(delete(Membership).where(Membership.process_id == process_id))
    await session.execute(delete(DigestRun).where(DigestRun.process_id == process_id))
    await session.execute(delete(Workshop).where(Workshop.process_id == process_id))
    await session.execute(delete(Organisation).where(Organisation.process_id == process_id))
    await session.execute(delete(Process).where(Process.id == process_id))
    if user_ids:
        still_member = select(Membership.user_id).where(Membership.user_id.in_(user_ids))
        await session.execute(delete(User).where(User.id.in_(user_ids), User.id.not_in(still_member)))


async def _claim_warnings(session: AsyncSession, *, now: datetime) -> list[Notice]:
    """Mark the processes whose facilitators are due a warning; return the messages to send."""
    notices: list[Notice] = []
    for process in await session.scalars(select(Process).where(Process.retention_warned_at.is_(None))):
        when = purge_at(process)
        if not when - WARN_BEFORE <= now < when:
            continue
        # Conditional, so that a second leader (after a failover) can never warn twice.
        claimed: Any = await session.execute(
            update(Process)
            .where(Process.id == process.id, Process.retention_warned_at.is_(None))
            .values(retention_warned_at=now)
        )
        if claimed.rowcount != 1:
            continue
        notices.append(
            Notice(
                process_id=process.id,
                process_name=process.name,
                key="retention.warning",
                purge_date=local_date(process, when),
                recipients=await _facilitators(session, process),
            )
        )
    return notices


async def _purge_due(session: AsyncSession, *, now: datetime) -> list[Notice]:
    notices: list[Notice] = []
    for process in list(await session.scalars(select(Process).order_by(Process.id))):
        when = purge_at(process)
        if when > now:
            continue
        recipients = await _facilitators(session, process)
        await purge_process(session, process_id=process.id)
        notices.append(
            Notice(
                process_id=process.id,
                process_name=process.name,
                key="retention.purged",
                purge_date=local_date(process, when),
                recipients=recipients,
            )
        )
    return notices


async def _send(bot: ExtBot[Any], services: Services, notice: Notice) -> None:
    for recipient in notice.recipients:
        text = services.t(
            recipient.language,
            notice.key,
            process=notice.process_name,
            date=format_date(notice.purge_date, format="long", locale=recipient.language),
        )
        try:
            await bot.send_message(
                recipient.chat_id, text, parse_mode=ParseMode.HTML, rate_limit_args={"bulk": True}
            )
        except Forbidden:
            log.info("a facilitator of process %d has blocked the bot", notice.process_id)
        except TelegramError as error:
            log.warning(
                "could not send %s for process %d: %s", notice.key, notice.process_id, type(error).__name__
            )


async def retention_job(services: Services, bot: ExtBot[Any], now: datetime) -> None:
    """Leader job: warn a week ahead, purge on the day, tell the facilitators. Idempotent."""
    warnings = await services.db.run(lambda session: _claim_warnings(session, now=now))
    for notice in warnings:
        log.info(
            "told %d facilitator(s) of process %d about its purge",
            len(notice.recipients),
            notice.process_id,
            extra={"process_id": notice.process_id},
        )
        await _send(bot, services, notice)
    purged = await services.db.run(lambda session: _purge_due(session, now=now))
    for notice in purged:
        log.info(
            "purged process %d after its retention",
            notice.process_id,
            extra={"process_id": notice.process_id},
        )
        await _send(bot, services, notice)


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
            for row in due:

                async def work(session: AsyncSession, process_id: int = row.process_id) -> None:
                    await purge_process(session, process_id=process_id)

                await db.run(work)
                log.info("purged process %d by hand", row.process_id)
            out.write(f"Purged {len(due)} process(es).\n")
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
