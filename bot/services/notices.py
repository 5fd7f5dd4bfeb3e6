"""One-off messages to a person outside any membership's outbox: today, a facilitator taken out of
a process (by the ``/process`` button or ``valitupa process remove-facilitator``, which has no running
bot) hears that they no longer have the facilitator's access to it.

A notice is queued in the same unit of work as what it tells, so it is told exactly when that was
stored; the running bot's ``notices`` leader duty (:mod:`bot.jobs.notices_job`) sends it. A notice is
sent once at most: it is marked ``sending`` (committed) before it goes to Telegram, and one found still
``sending`` later may have arrived, so it is dropped instead of sent again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Notice, Process, User

__all__ = [
    "FACILITATOR_REMOVED",
    "NOTICE_TRIES",
    "DueNotice",
    "claim_notices",
    "erase_user",
    "notice_done",
    "notice_failed",
    "queue_facilitator_removed",
]

FACILITATOR_REMOVED = "facilitator_removed"
NOTICE_TRIES = 4
"""Tries in all for a notice Telegram did not take (429, a 5xx, no connection) before it is dropped."""


@dataclass(frozen=True, slots=True)
class DueNotice:
    id: int
    user_id: int
    kind: str
    language: str
    process_name: str


async def queue_facilitator_removed(
    session: AsyncSession, *, user_id: int, process_id: int, now: datetime
) -> None:
    """Queue "you no longer have the facilitator's access to <process>" for ``user_id``, in their
    own language (else the process's)."""
    process = await session.get(Process, process_id)
    if process is None:
        return
    language = await session.scalar(select(User.language).where(User.id == user_id))
    session.add(
        Notice(
            user_id=user_id,
            kind=FACILITATOR_REMOVED,
            language=language or process.language,
            process_name=process.name,
            created_at=now,
            attempts=0,
            sending=False,
        )
    )


async def claim_notices(session: AsyncSession) -> list[DueNotice]:
    """The notices to send now, each marked ``sending``; those still ``sending`` from a run that
    never heard back (a crash mid-send) are dropped, since they may have arrived."""
    await session.execute(delete(Notice).where(Notice.sending.is_(True)))
    rows = list(await session.scalars(select(Notice).order_by(Notice.id)))
    for row in rows:
        row.sending = True
        row.attempts += 1
    return [DueNotice(row.id, row.user_id, row.kind, row.language, row.process_name) for row in rows]


async def notice_done(session: AsyncSession, *, notice_id: int) -> None:
    """Sent, refused for good, or in doubt: the notice is not sent again."""
    await session.execute(delete(Notice).where(Notice.id == notice_id))


async def notice_failed(session: AsyncSession, *, notice_id: int) -> None:
    """Telegram did not take it: tried again on a later run, until :data:`NOTICE_TRIES`."""
    await session.execute(delete(Notice).where(Notice.id == notice_id, Notice.attempts >= NOTICE_TRIES))
    await session.execute(update(Notice).where(Notice.id == notice_id).values(sending=False))


async def erase_user(session: AsyncSession, user_id: int) -> None:
    """/forget: the user's queued notices go with them."""
    await session.execute(delete(Notice).where(Notice.user_id == user_id))
