"""Moderation and report access: who may see a process's reports, finding and hiding submissions.

A hidden submission leaves every output (digest, export) but stays in the database, so a
facilitator can restore it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.bounds import MAX_ID
from storage.models import Membership, Submission

__all__ = [
    "HideResult",
    "facilitator_membership",
    "forwarded_submission",
    "hidden_submissions",
    "hide",
    "submission_of_process",
    "unhide",
]

log = logging.getLogger(__name__)


async def facilitator_membership(
    session: AsyncSession, *, user_id: int, process_id: int
) -> Membership | None:
    """The user's facilitator membership of that process, or ``None``: who may see its reports."""
    return await session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.process_id == process_id,
            Membership.is_facilitator.is_(True),
        )
    )


async def submission_of_process(session: AsyncSession, *, process_id: int, ref: int) -> Submission | None:
    """A submission by its short reference (``#123``), only if it belongs to that process."""
    if not 0 < ref <= MAX_ID:  # names nothing, and PostgreSQL would refuse the comparison
        return None
    submission = await session.get(Submission, ref)
    return submission if submission is not None and submission.process_id == process_id else None


async def hidden_submissions(
    session: AsyncSession, *, process_id: int, limit: int = 10
) -> tuple[list[Submission], int]:
    """The most recently created hidden submissions of a process, and how many there are."""
    condition = (Submission.process_id == process_id, Submission.hidden.is_(True))
    total = int(await session.scalar(select(func.count()).select_from(Submission).where(*condition)) or 0)
    rows = await session.scalars(
        select(Submission)
        .where(*condition)
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(limit)
    )
    return list(rows), total


async def forwarded_submission(
    session: AsyncSession, *, process_id: int, text: str, author_id: int | None, sent_at: datetime | None
) -> Submission | None:
    """The submission a facilitator forwarded back: same text in the process, from the original
    author when Telegram tells who that was, the one closest in time when several match."""
    statement = select(Submission).where(Submission.process_id == process_id, Submission.text == text)
    if author_id is not None:
        statement = statement.join(Membership, Membership.id == Submission.membership_id).where(
            Membership.user_id == author_id
        )
    candidates = list(await session.scalars(statement.limit(50)))
    if not candidates:
        return None
    if sent_at is None:
        return max(candidates, key=lambda item: (item.created_at, item.id))
    return min(candidates, key=lambda item: (abs((item.created_at - sent_at).total_seconds()), -item.id))


@dataclass(frozen=True)
class HideResult:
    """What hiding ``#ref`` did: ``submission`` is ``None`` for no such submission in the process."""

    submission: Submission | None
    newly_hidden: bool


async def hide(session: AsyncSession, *, process_id: int, ref: int) -> HideResult:
    """Hide a submission of the process by its reference (nothing happens if it already is)."""
    submission = await submission_of_process(session, process_id=process_id, ref=ref)
    if submission is None or submission.hidden:
        return HideResult(submission, newly_hidden=False)
    submission.hidden = True
    log.info("a facilitator hid submission %d of process %d", ref, process_id)
    return HideResult(submission, newly_hidden=True)


async def unhide(session: AsyncSession, submission: Submission) -> None:
    """Restore a hidden submission to every output."""
    submission.hidden = False
    log.info("a facilitator restored submission %d of process %d", submission.id, submission.process_id)
    await session.flush()


async def moderated_submission(session: AsyncSession, *, user_id: int, ref: int) -> Submission | None:
    """The submission ``#ref`` if the user is a facilitator of its process (else ``None``): what a
    hide or restore button may touch."""
    if not 0 < ref <= MAX_ID:
        return None
    submission = await session.get(Submission, ref)
    if submission is None:
        return None
    allowed = await facilitator_membership(session, user_id=user_id, process_id=submission.process_id)
    return submission if allowed is not None else None
