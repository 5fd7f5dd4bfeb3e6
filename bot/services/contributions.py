"""What participants contribute: observations, ideas and their supports, experiment log entries."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.words import similarity
from storage.models import Membership, Submission, Support

THEMES: tuple[str, ...] = ("pain", "bright", "question", "other")
IDEAS_PER_PAGE = 5
TITLE_MAX = 120


@dataclass(frozen=True)
class Media:
    media_type: str
    file_id: str


async def add_observation(
    session: AsyncSession,
    *,
    membership: Membership,
    text: str | None,
    media: Media | None,
    chat_id: int,
    message_id: int | None,
    now: datetime,
) -> Submission:
    fields = {
        "process_id": membership.process_id,
        "membership_id": membership.id,
        "kind": "observation",
        "text": text,
        "media_type": media.media_type if media else None,
        "file_id": media.file_id if media else None,
        "chat_id": chat_id,
        "message_id": message_id,
        "created_at": now,
        "theme": None,
        "anonymous": False,
        "hidden": False,
    }
    # A plain INSERT … RETURNING: observations are the hot path, and the ORM's flush costs more than
    # the insert itself. The returned object is for rendering the acknowledgement only.
    new_id = (await session.execute(_INSERT_SUBMISSION, fields)).scalar_one()
    return Submission(id=new_id, **fields)


# Built once: constructing the statement costs more than running it on SQLite.
_SUBMISSIONS = cast(Table, Submission.__table__)
_INSERT_SUBMISSION = _SUBMISSIONS.insert().returning(_SUBMISSIONS.c.id)


async def own_submission(
    session: AsyncSession, *, submission_id: int, user_id: int
) -> Submission | Literal["gone", "foreign"]:
    """The submission if it belongs to the user; "foreign" if it is someone else's; "gone" if erased."""
    submission = await session.get(Submission, submission_id)
    if submission is None:
        return "gone"
    owner = await session.scalar(select(Membership.user_id).where(Membership.id == submission.membership_id))
    return submission if owner == user_id else "foreign"


async def update_from_edit(
    session: AsyncSession, *, chat_id: int, message_id: int, text: str | None, now: datetime
) -> Submission | None:
    """An edited Telegram message updates what was stored from it."""
    submission = await session.scalar(
        select(Submission).where(Submission.chat_id == chat_id, Submission.message_id == message_id)
    )
    if submission is None:
        return None
    submission.text = text
    submission.updated_at = now
    return submission


def first_line_title(text: str | None) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= TITLE_MAX else line[: TITLE_MAX - 1].rstrip() + "…"


def toggle_theme(submission: Submission, theme: str) -> bool:
    """Set an observation's theme, or clear it when it is the current one. False when nothing
    applies (not an observation, or no such theme)."""
    if submission.kind != "observation" or theme not in THEMES:
        return False
    submission.theme = None if submission.theme == theme else theme
    return True


def toggle_anonymous(submission: Submission) -> None:
    submission.anonymous = not submission.anonymous


def refile_as_idea(submission: Submission, now: datetime) -> None:
    submission.kind = "idea"
    submission.title = submission.title or first_line_title(submission.text) or "—"
    submission.updated_at = now


async def save_idea(
    session: AsyncSession,
    *,
    membership: Membership,
    title: str,
    need: str | None,
    partners: str | None,
    first_experiment: str | None,
    now: datetime,
) -> Submission:
    idea = Submission(
        process_id=membership.process_id,
        membership_id=membership.id,
        kind="idea",
        title=title[:300],
        text=title,
        need=need,
        partners=partners,
        first_experiment=first_experiment,
        created_at=now,
    )
    session.add(idea)
    await session.flush()
    return idea


IDEA_DETAILS = ("need", "partners", "first_experiment")


async def fill_idea(
    session: AsyncSession,
    *,
    membership: Membership,
    idea_id: int,
    field: str,
    value: str | None,
    now: datetime,
) -> Submission | None:
    """One more answer of the idea dialogue for an idea already saved (one started from a reply),
    written at once so that nothing is lost if the dialogue stops half-way. None if it is gone."""
    if field not in IDEA_DETAILS:
        raise ValueError(f"not an idea detail: {field}")
    idea = await session.get(Submission, idea_id)
    if idea is None or idea.membership_id != membership.id or idea.kind != "idea":
        return None
    setattr(idea, field, value)
    idea.updated_at = now
    return idea


async def similar_ideas(
    session: AsyncSession,
    *,
    process_id: int,
    title: str,
    language: str,
    limit: int = 3,
    threshold: float = 0.5,
) -> list[Submission]:
    ideas = await session.scalars(
        select(Submission).where(
            Submission.process_id == process_id,
            Submission.kind == "idea",
            Submission.hidden.is_(False),
            Submission.merged_into_id.is_(None),
        )
    )
    candidates = list(ideas)
    titles = [idea.title or "" for idea in candidates]
    # Lemmatising is CPU work (and, just after start-up, may wait for the dictionaries): off the loop.
    scores = await asyncio.to_thread(lambda: [similarity(title, other, language) for other in titles])
    scored = [(score, idea) for score, idea in zip(scores, candidates, strict=True) if score >= threshold]
    scored.sort(key=lambda pair: (-pair[0], pair[1].id))
    return [idea for _, idea in scored[:limit]]


@dataclass(frozen=True)
class IdeaRow:
    idea: Submission
    supports: int
    supported_by_me: bool
    mine: bool


@dataclass(frozen=True)
class IdeaPage:
    rows: list[IdeaRow]
    page: int
    pages: int
    total: int


async def idea_page(session: AsyncSession, *, membership: Membership, page: int) -> IdeaPage:
    """Shared ideas of the member's process, most supported first, without who supported."""
    base = (
        Submission.process_id == membership.process_id,
        Submission.kind == "idea",
        Submission.hidden.is_(False),
        Submission.merged_into_id.is_(None),
    )
    total = int(await session.scalar(select(func.count()).select_from(Submission).where(*base)) or 0)
    pages = max(1, -(-total // IDEAS_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    support_count = (
        select(func.count()).select_from(Support).where(Support.idea_id == Submission.id).scalar_subquery()
    )
    rows = await session.execute(
        select(Submission, support_count)
        .where(*base)
        .order_by(support_count.desc(), Submission.created_at.desc(), Submission.id.desc())
        .offset(page * IDEAS_PER_PAGE)
        .limit(IDEAS_PER_PAGE)
    )
    ideas = [(idea, int(count)) for idea, count in rows.all()]
    mine = set(
        await session.scalars(
            select(Support.idea_id).where(
                Support.membership_id == membership.id, Support.idea_id.in_([idea.id for idea, _ in ideas])
            )
        )
    )
    return IdeaPage(
        rows=[
            IdeaRow(
                idea=idea,
                supports=count,
                supported_by_me=idea.id in mine,
                mine=idea.membership_id == membership.id,
            )
            for idea, count in ideas
        ],
        page=page,
        pages=pages,
        total=total,
    )


async def toggle_support(
    session: AsyncSession, *, membership: Membership, idea_id: int, now: datetime
) -> bool | None:
    """Support or withdraw support. None if the idea is not a visible idea of the member's process."""
    idea = await session.get(Submission, idea_id)
    if (
        idea is None
        or idea.kind != "idea"
        or idea.process_id != membership.process_id
        or idea.hidden
        or idea.merged_into_id is not None
    ):
        return None
    existing = await session.get(Support, (idea_id, membership.id))
    if existing is not None:
        await session.execute(
            delete(Support).where(Support.idea_id == idea_id, Support.membership_id == membership.id)
        )
        return False
    session.add(Support(idea_id=idea_id, membership_id=membership.id, created_at=now))
    return True


async def own_idea(session: AsyncSession, *, membership: Membership, idea_id: int) -> Submission | None:
    """The participant's own idea ``idea_id`` in this process, else None."""
    idea = await session.get(Submission, idea_id)
    if idea is None or idea.membership_id != membership.id or idea.kind != "idea":
        return None
    return idea


async def own_ideas(session: AsyncSession, *, membership: Membership, limit: int = 8) -> list[Submission]:
    result = await session.scalars(
        select(Submission)
        .where(Submission.membership_id == membership.id, Submission.kind == "idea")
        .order_by(Submission.created_at.desc())
        .limit(limit)
    )
    return list(result)


async def save_experiment(
    session: AsyncSession,
    *,
    membership: Membership,
    idea_id: int | None,
    title: str | None,
    done: str | None,
    happened: str | None,
    learned: str | None,
    obstacles: str | None,
    now: datetime,
) -> Submission:
    entry = Submission(
        process_id=membership.process_id,
        membership_id=membership.id,
        kind="experiment",
        idea_id=idea_id,
        title=title,
        text=done,
        happened=happened,
        learned=learned,
        obstacles=obstacles,
        created_at=now,
    )
    session.add(entry)
    await session.flush()
    return entry
