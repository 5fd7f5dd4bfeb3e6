"""Merging duplicate ideas: a facilitator keeps one idea and folds another into it.

The merged idea stays in the database (``merged_into_id`` points at the kept one) but leaves every
list: ``/ideas``, the similar-idea check, the digest and the export show only the kept idea. Its
supports move to the kept idea, one per person: someone who supported both counts once, and the
kept idea's own author is never counted as supporting it. Ideas merged earlier into the merged one
now point at the kept one too, and experiment logs written for the merged idea follow it, so nothing
ever chains through an idea nobody can see. The merged idea's author is told (by the caller, who
talks to Telegram) in their own language.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.states import Consent
from storage.models import Membership, Submission, Support, User

__all__ = ["MergeProblem", "Merged", "merge_ideas"]

log = logging.getLogger(__name__)
_SUPPORTS = cast(Table, Support.__table__)


class MergeProblem(StrEnum):
    """Why a merge did not happen (``merge.problem.<value>`` in the catalogue)."""

    NOT_FOUND = "not_found"
    """One of the two is not an idea of this process (or no longer exists)."""
    SAME = "same"
    ALREADY_MERGED = "already_merged"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Merged:
    merged_id: int
    merged_title: str
    kept_id: int
    kept_title: str
    moved_supports: int
    """Supports that now count for the kept idea and did not before."""
    kept_supports: int
    author_user_id: int | None
    """The merged idea's author to tell, or ``None`` (a facilitator merging their own idea, or an
    author who withdrew consent)."""
    author_language: str


async def _idea(session: AsyncSession, process_id: int, idea_id: int) -> Submission | None:
    idea = await session.get(Submission, idea_id)
    if idea is None or idea.kind != "idea" or idea.process_id != process_id:
        return None
    return idea


async def _move_supports(session: AsyncSession, merged: Submission, kept: Submission) -> int:
    already = set(await session.scalars(select(Support.membership_id).where(Support.idea_id == kept.id)))
    moving = list(
        await session.execute(
            select(Support.membership_id, Support.created_at).where(Support.idea_id == merged.id)
        )
    )
    rows = [
        {"idea_id": kept.id, "membership_id": member_id, "created_at": created_at}
        for member_id, created_at in moving
        if member_id not in already and member_id != kept.membership_id
    ]
    await session.execute(delete(Support).where(Support.idea_id == merged.id))
    if rows:
        await session.execute(_SUPPORTS.insert(), rows)
    return len(rows)


async def merge_ideas(
    session: AsyncSession, *, process_id: int, merged_id: int, kept_id: int, by_user_id: int
) -> Merged | MergeProblem:
    """Fold idea ``merged_id`` into ``kept_id`` (both ideas of ``process_id``)."""
    if merged_id == kept_id:
        return MergeProblem.SAME
    merged = await _idea(session, process_id, merged_id)
    kept = await _idea(session, process_id, kept_id)
    if merged is None or kept is None:
        return MergeProblem.NOT_FOUND
    if merged.merged_into_id is not None or kept.merged_into_id is not None:
        return MergeProblem.ALREADY_MERGED
    if kept.hidden:
        return MergeProblem.HIDDEN
    moved = await _move_supports(session, merged, kept)
    merged.merged_into_id = kept.id
    await session.execute(
        update(Submission).where(Submission.merged_into_id == merged.id).values(merged_into_id=kept.id)
    )
    await session.execute(
        update(Submission)
        .where(Submission.idea_id == merged.id, Submission.kind == "experiment")
        .values(idea_id=kept.id)
    )
    await session.flush()
    kept_supports = int(
        await session.scalar(select(func.count()).select_from(Support).where(Support.idea_id == kept.id)) or 0
    )
    author = (
        await session.execute(
            select(User.id, User.language, User.consent)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.id == merged.membership_id)
        )
    ).first()
    tell = author is not None and author.consent == Consent.GIVEN and author.id != by_user_id
    log.info("a facilitator merged idea %d into %d in process %d", merged.id, kept.id, process_id)
    return Merged(
        merged_id=merged.id,
        merged_title=merged.title or "—",
        kept_id=kept.id,
        kept_title=kept.title or "—",
        moved_supports=moved,
        kept_supports=kept_supports,
        author_user_id=int(author.id) if tell and author is not None else None,
        author_language=(author.language if author is not None else None) or "fi",
    )
