"""Retention: a process's data is purged ``retention_days`` after its end, as the privacy notice says.

A week before, the process's facilitators are told (once: ``Process.retention_warned_at``) so they
can keep a digest or an export. On the day, everything of the process goes: submissions, supports,
deliveries, prompts, memberships, digests, workshops, organisations and the process itself, and then
the users who were only in that process. Facilitators hear that it happened. These are the rules
and the data side; the leader job that sends the messages is :mod:`bot.jobs.retention_job`, and
``valitupa purge [--dry-run]`` (:mod:`bot.cli_purge`) purges by hand. Messages already in people's
Telegram chats are theirs and stay there.

Each process is handled on its own: a process whose dates cannot be computed (a ``retention_days``
stored before the file format bounded it, say) is kept to the longest retention the format allows, and
whatever goes wrong with one process never stops the warnings and purges of the others. People who
declined the privacy notice, or never answered it, are forgotten once :data:`UNCONSENTED_KEEP` has
passed: their row holds only the Telegram id and the refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.programme.spec import erasure_at
from bot.domain.states import Consent
from bot.services import dialogue_data, pairs
from bot.services.people import facilitators_to_tell
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

WARN_BEFORE = timedelta(days=7)
UNCONSENTED_KEEP = timedelta(days=30)
"""How long the row of someone who declined (or never answered) the privacy notice is kept."""


def purge_at(process: Process) -> datetime:
    """When the process's data goes; a stored ``retention_days`` beyond the bound counts as the bound,
    and a date past the calendar's end as never (it cannot raise)."""
    return erasure_at(process.end_at, process.retention_days)


def local_date(process: Process, instant: datetime) -> date:
    try:
        return instant.astimezone(ZoneInfo(process.timezone)).date()
    except (
        ValueError,
        OSError,
        OverflowError,
    ):  # an unknown zone (ZoneInfoNotFoundError) or the edge of time
        return instant.date()


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
    SQLite's foreign-key pragma. Each is one set-based statement (a process may hold tens of
    thousands of rows); on SQLite they run in aiosqlite's thread, so the bot keeps answering.
    """
    memberships = select(Membership.id).where(Membership.process_id == process_id)
    submissions = select(Submission.id).where(Submission.process_id == process_id)
    prompts = select(Prompt.id).where(Prompt.process_id == process_id)
    user_ids = list(
        await session.scalars(select(Membership.user_id).where(Membership.process_id == process_id))
    )
    await session.execute(
        delete(Support).where(or_(Support.idea_id.in_(submissions), Support.membership_id.in_(memberships)))
    )
    await dialogue_data.erase_process(session, process_id, memberships)
    await pairs.erase_process(session, process_id)
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
    # An unfinished dialogue (a draft idea, a log entry…) belongs to the active process: it goes with it,
    # also for the people who stay because they are in another process.
    await session.execute(
        update(User)
        .where(User.active_membership_id.in_(memberships))
        .values(active_membership_id=None, state=None)
    )
    await session.execute(delete(Membership).where(Membership.process_id == process_id))
    await session.execute(delete(DigestRun).where(DigestRun.process_id == process_id))
    await session.execute(delete(Workshop).where(Workshop.process_id == process_id))
    await session.execute(delete(Organisation).where(Organisation.process_id == process_id))
    await session.execute(delete(Process).where(Process.id == process_id))
    if user_ids:
        still_member = select(Membership.user_id).where(Membership.user_id.in_(user_ids))
        await session.execute(delete(User).where(User.id.in_(user_ids), User.id.not_in(still_member)))


async def process_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Process.id).order_by(Process.id)))


async def claim_warning(session: AsyncSession, *, process_id: int, now: datetime) -> Notice | None:
    """Mark the process as warned if its facilitators are due the warning; the message to send."""
    process = await session.get(Process, process_id)
    if process is None or process.retention_warned_at is not None:
        return None
    when = purge_at(process)
    if not when - WARN_BEFORE <= now < when:
        return None
    # Conditional, so that a second leader (after a failover) can never warn twice.
    claimed: Any = await session.execute(
        update(Process)
        .where(Process.id == process.id, Process.retention_warned_at.is_(None))
        .values(retention_warned_at=now)
    )
    if claimed.rowcount != 1:
        return None
    return Notice(
        process_id=process.id,
        process_name=process.name,
        key="retention.warning",
        purge_date=local_date(process, when),
        recipients=await _facilitators(session, process),
    )


async def purge_if_due(session: AsyncSession, *, process_id: int, now: datetime) -> Notice | None:
    """Purge the process if it is past its retention; the message to send its facilitators."""
    process = await session.get(Process, process_id)
    if process is None:
        return None
    when = purge_at(process)
    if when > now:
        return None
    recipients = await _facilitators(session, process)
    notice = Notice(
        process_id=process.id,
        process_name=process.name,
        key="retention.purged",
        purge_date=local_date(process, when),
        recipients=recipients,
    )
    await purge_process(session, process_id=process.id)
    return notice


async def purge_unconsented(session: AsyncSession, *, now: datetime) -> int:
    """Forget the people who declined the privacy notice (or never answered it) and are in no
    process, once :data:`UNCONSENTED_KEEP` has passed; returns how many."""
    cutoff = now - UNCONSENTED_KEEP
    result: Any = await session.execute(
        delete(User).where(
            User.consent != Consent.GIVEN,
            or_(User.consent_at < cutoff, User.consent_at.is_(None) & (User.created_at < cutoff)),
            User.id.not_in(select(Membership.user_id)),
        )
    )
    return int(result.rowcount or 0)
