"""Highlights between workshops: what others noticed, for one participant.

A programme item of kind ``highlights`` is planned into the outbox like any prompt; when it is sent
the dispatcher asks :func:`highlights_for` what to show this participant: the most recognised
shared observations *from other organisations than their own* since the last workshop, and the
most supported ideas of the process. Never the participant's own, never a hidden one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.sharing import SharedItem, shared_item
from storage.models import Membership, Recognition, Share, Submission, Support, Workshop

__all__ = ["HIGHLIGHT_IDEAS", "HIGHLIGHT_ITEMS", "Highlights", "IdeaHighlight", "highlights_for"]

HIGHLIGHT_ITEMS = 3
HIGHLIGHT_IDEAS = 3


@dataclass(frozen=True)
class IdeaHighlight:
    idea_id: int
    title: str
    supports: int
    supported: bool


@dataclass(frozen=True)
class Highlights:
    shared: list[SharedItem]
    ideas: list[IdeaHighlight]


async def _since(session: AsyncSession, process_id: int, now: datetime) -> datetime | None:
    return await session.scalar(
        select(func.max(Workshop.starts_at)).where(
            Workshop.process_id == process_id, Workshop.starts_at <= now
        )
    )


async def highlights_for(session: AsyncSession, *, membership_id: int, now: datetime) -> Highlights:
    viewer = await session.get(Membership, membership_id)
    if viewer is None:
        return Highlights([], [])
    since = await _since(session, viewer.process_id, now)
    recognised = (
        select(Recognition.submission_id, func.count().label("n"))
        .group_by(Recognition.submission_id)
        .subquery()
    )
    statement = (
        select(Share, Submission)
        .join(Submission, Submission.id == Share.submission_id)
        .join(Membership, Membership.id == Share.membership_id)
        .outerjoin(recognised, recognised.c.submission_id == Share.submission_id)
        .where(
            Share.process_id == viewer.process_id,
            Share.membership_id != viewer.id,
            Submission.hidden.is_(False),
            Submission.kind == "observation",
        )
        .order_by(func.coalesce(recognised.c.n, 0).desc(), Share.created_at.desc(), Share.id.desc())
        .limit(HIGHLIGHT_ITEMS)
    )
    if viewer.organisation_id is not None:
        statement = statement.where(
            (Membership.organisation_id.is_(None)) | (Membership.organisation_id != viewer.organisation_id)
        )
    if since is not None:
        statement = statement.where(Share.created_at >= since)
    shared = [
        await shared_item(session, viewer, share, submission)
        for share, submission in await session.execute(statement)
    ]
    supports = select(Support.idea_id, func.count().label("n")).group_by(Support.idea_id).subquery()
    ideas = await session.execute(
        select(Submission.id, Submission.title, supports.c.n)
        .outerjoin(supports, supports.c.idea_id == Submission.id)
        .where(
            Submission.process_id == viewer.process_id,
            Submission.kind == "idea",
            Submission.hidden.is_(False),
            Submission.merged_into_id.is_(None),
        )
        .order_by(func.coalesce(supports.c.n, 0).desc(), Submission.id.desc())
        .limit(HIGHLIGHT_IDEAS)
    )
    listed = list(ideas.all())
    mine = set(
        await session.scalars(
            select(Support.idea_id).where(
                Support.membership_id == viewer.id, Support.idea_id.in_([row[0] for row in listed])
            )
        )
    )
    return Highlights(
        shared,
        [IdeaHighlight(int(i), title or "—", int(n or 0), int(i) in mine) for i, title, n in listed],
    )
