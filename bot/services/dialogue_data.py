"""The dialogue tables in data rights: what ``/mydata`` lists, what ``/forget`` and the retention
purge erase (shares, their copies, recognitions, responses and their outbox items, preferences).

Explicit deletes, not only cascades, like the rest of erasure: it must not depend on SQLite's
foreign-key pragma.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.digest_resonance import ReactionRow, ResonanceFacts, SharedRow
from bot.services.relays import edit_as_removed
from storage.models import (
    Delivery,
    PairRound,
    Prompt,
    Recognition,
    Response,
    Share,
    SharedCopy,
    SharingPref,
    Submission,
)

__all__ = ["erase_members", "erase_process", "own_dialogue", "resonance_facts"]


async def _erase_responses(session: AsyncSession, condition: Any) -> None:
    prompt_ids = [
        int(pid)
        for pid in await session.scalars(select(Response.prompt_id).where(condition))
        if pid is not None
    ]
    await session.execute(
        update(Response)
        .where(Response.parent_id.in_(select(Response.id).where(condition)))
        .values(parent_id=None)
    )
    await session.execute(delete(Response).where(condition))
    if prompt_ids:
        await session.execute(delete(Delivery).where(Delivery.prompt_id.in_(prompt_ids)))
        await session.execute(delete(Prompt).where(Prompt.id.in_(prompt_ids)))


async def erase_members(session: AsyncSession, memberships: Select[Any]) -> None:
    """``/forget``: everything of the dialogue these memberships wrote or received. Copies of their
    shared observations and the responses they wrote that others received stay, unlinked, until the
    upkeep has edited them to say they were removed (they hold only a chat and a message id)."""
    submissions = select(Submission.id).where(Submission.membership_id.in_(memberships))
    await session.execute(delete(SharedCopy).where(SharedCopy.membership_id.in_(memberships)))
    await session.execute(
        update(SharedCopy).where(SharedCopy.submission_id.in_(submissions)).values(submission_id=None)
    )
    await session.execute(
        delete(Recognition).where(
            or_(Recognition.membership_id.in_(memberships), Recognition.submission_id.in_(submissions))
        )
    )
    # What they wrote to others through the bot: those messages are edited to say they were removed.
    relayed = await session.execute(
        select(Delivery.membership_id, Delivery.chat_id, Delivery.message_id, Response.created_at)
        .join(Response, Response.prompt_id == Delivery.prompt_id)
        .where(
            Response.sender_id.in_(memberships),
            Delivery.membership_id.not_in(memberships),
            Delivery.chat_id.is_not(None),
            Delivery.message_id.is_not(None),
        )
    )
    edit_as_removed(session, relayed.all())
    await _erase_responses(
        session,
        or_(
            Response.sender_id.in_(memberships),
            Response.recipient_id.in_(memberships),
            Response.submission_id.in_(submissions),
        ),
    )
    await session.execute(
        delete(Share).where(or_(Share.membership_id.in_(memberships), Share.submission_id.in_(submissions)))
    )
    await session.execute(delete(SharingPref).where(SharingPref.membership_id.in_(memberships)))


async def erase_process(session: AsyncSession, process_id: int, memberships: Select[Any]) -> None:
    """The retention purge: every dialogue row of the process."""
    submissions = select(Submission.id).where(Submission.process_id == process_id)
    await session.execute(
        delete(SharedCopy).where(
            or_(SharedCopy.membership_id.in_(memberships), SharedCopy.submission_id.in_(submissions))
        )
    )
    await session.execute(delete(Recognition).where(Recognition.submission_id.in_(submissions)))
    await session.execute(delete(Recognition).where(Recognition.membership_id.in_(memberships)))
    await _erase_responses(session, Response.process_id == process_id)
    await session.execute(delete(Share).where(Share.process_id == process_id))
    await session.execute(delete(SharingPref).where(SharingPref.membership_id.in_(memberships)))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def own_dialogue(session: AsyncSession, membership_id: int) -> dict[str, Any]:
    """``/mydata``: what the participant shared (and how), recognised, the responses they sent and
    received, the shared observations sent to them, and their sharing choices. A response received
    carries the attribution it was shown with, no more."""
    shares = await session.scalars(
        select(Share).where(Share.membership_id == membership_id).order_by(Share.id)
    )
    recognised = await session.execute(
        select(Recognition.submission_id, Recognition.created_at)
        .where(Recognition.membership_id == membership_id)
        .order_by(Recognition.created_at)
    )
    exchanged = await session.scalars(
        select(Response)
        .where(or_(Response.sender_id == membership_id, Response.recipient_id == membership_id))
        .order_by(Response.id)
    )
    seen = await session.scalars(
        select(SharedCopy).where(SharedCopy.membership_id == membership_id).order_by(SharedCopy.id)
    )
    pref = await session.get(SharingPref, membership_id)
    return {
        "shared": [
            {"observation_id": s.submission_id, "shown_as": s.level, "shared_at": _iso(s.created_at)}
            for s in shares
        ],
        "recognised": [{"observation_id": sid, "recognised_at": _iso(at)} for sid, at in recognised],
        "responses": [
            {
                "direction": "sent" if r.sender_id == membership_id else "received",
                "about_observation_id": r.submission_id,
                "text": r.text,
                "sender_shown_as": r.level,
                "at": _iso(r.created_at),
            }
            for r in exchanged
        ],
        "shared_with_you": [
            {"observation_id": c.submission_id, "sent_to_you_at": _iso(c.created_at)} for c in seen
        ],
        "sharing": {
            "shown_as": pref.level,
            "confirmed_at": _iso(pref.confirmed_at),
            "responses_muted": pref.muted,
        }
        if pref is not None
        else None,
    }


async def resonance_facts(
    session: AsyncSession, *, process_id: int, start: datetime, end: datetime
) -> ResonanceFacts:
    """The process's visible shared observations, the period's recognitions and responses, and
    how many pairs each pairing round made so far."""
    visible = (
        select(
            Submission.id,
            Submission.membership_id,
            Submission.text,
            Submission.media_type,
            Submission.theme,
            Submission.anonymous,
            Submission.created_at,
            Share.created_at,
        )
        .join(Share, Share.submission_id == Submission.id)
        .where(Share.process_id == process_id, Submission.hidden.is_(False), Submission.kind == "observation")
    )
    shared: list[SharedRow] = []
    in_period = 0
    for sid, mid, text, media, theme, anonymous, created, shared_at in await session.execute(visible):
        shared.append(SharedRow(int(sid), int(mid), text, media, theme, bool(anonymous), created))
        in_period += int(start <= shared_at < end)
    reactions: list[ReactionRow] = [
        ReactionRow(int(sid), int(mid), "recognition")
        for sid, mid in await session.execute(
            select(Recognition.submission_id, Recognition.membership_id)
            .join(Share, Share.submission_id == Recognition.submission_id)
            .where(
                Share.process_id == process_id, Recognition.created_at >= start, Recognition.created_at < end
            )
        )
    ]
    reactions += [
        ReactionRow(int(sid), int(sender), "response", int(recipient))
        for sid, sender, recipient in await session.execute(
            select(Response.submission_id, Response.sender_id, Response.recipient_id).where(
                Response.process_id == process_id, Response.created_at >= start, Response.created_at < end
            )
        )
    ]
    rounds = await session.execute(
        select(PairRound.phase, func.sum(PairRound.pairs_made))
        .where(PairRound.process_id == process_id)
        .group_by(PairRound.phase)
    )
    return ResonanceFacts(
        shared=shared,
        shared_in_period=in_period,
        reactions=reactions,
        pairs_by_phase={int(phase): int(count or 0) for phase, count in rounds.all()},
    )
