"""Responses to shared observations, relayed between two participants through the outbox.

A response is stored (``responses``) and carried to its recipient by an outbox item of kind
``relay`` (one prompt, one delivery), so it waits out the recipient's quiet hours and ``/pause``
like any prompt and is sent exactly as carefully. The text of that item is rendered when the
response is written, in the recipient's language, by the caller (services do not render).
Replying to a relayed message answers it: :func:`relay_replied_to` finds which response it was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.process import phase_at
from bot.domain.sharing import RELAY_KIND, Level, answering_level, effective_level
from bot.services.outbox import process_facts
from bot.services.relays import queue_relay, recipient_language
from bot.services.sharing import Attributed, attributed, levels_for, muted, visible_share
from storage.models import (
    Delivery,
    Membership,
    Process,
    Response,
    Share,
    SharingPref,
    Submission,
)

__all__ = [
    "RelayPlan",
    "plan_first_response",
    "plan_reply",
    "relay_replied_to",
    "responder_level",
    "send",
]


@dataclass(frozen=True)
class RelayPlan:
    """A response about to be written: who to, how the sender is shown, what it is about."""

    submission: Submission
    sender: Membership
    recipient: Membership
    recipient_language: str
    level: Level
    shown: Attributed
    parent_id: int | None
    first: bool


async def responder_level(session: AsyncSession, membership: Membership) -> Level:
    """How a responder is shown: the level they confirmed for sharing, else the finest allowed."""
    allowed = await levels_for(session, membership, anonymous=False)
    pref = await session.get(SharingPref, membership.id)
    return effective_level(pref.level, allowed) if pref is not None and pref.level else allowed[0]


async def plan_first_response(
    session: AsyncSession, *, sender: Membership, submission_id: int
) -> RelayPlan | str:
    """A response to a shared observation, or why not: ``gone`` (no longer shared) or ``muted``."""
    share = await visible_share(session, viewer=sender, submission_id=submission_id)
    if share is None:
        return "gone"
    if await muted(session, share.membership_id):
        return "muted"
    recipient = await session.get(Membership, share.membership_id)
    submission = await session.get(Submission, submission_id)
    if recipient is None or submission is None:
        return "gone"
    level = await responder_level(session, sender)
    return RelayPlan(
        submission=submission,
        sender=sender,
        recipient=recipient,
        recipient_language=await recipient_language(session, recipient),
        level=level,
        shown=await attributed(session, sender, level),
        parent_id=None,
        first=True,
    )


async def plan_reply(session: AsyncSession, *, sender: Membership, parent: Response) -> RelayPlan | str:
    """An answer to ``parent`` by its recipient, back to its sender. The author of the shared
    observation answers as they shared it ("the author" if they shared as "a participant")."""
    if parent.recipient_id != sender.id:
        return "gone"
    submission = await session.get(Submission, parent.submission_id)
    recipient = await session.get(Membership, parent.sender_id)
    if submission is None or recipient is None:
        return "gone"
    share = await session.scalar(select(Share).where(Share.submission_id == submission.id))
    if share is None or submission.hidden:
        return "gone"
    if submission.membership_id == recipient.id and await muted(session, recipient.id):
        return "muted"
    if submission.membership_id == sender.id:
        level = answering_level(share.level)
    else:
        level = await responder_level(session, sender)
    return RelayPlan(
        submission=submission,
        sender=sender,
        recipient=recipient,
        recipient_language=await recipient_language(session, recipient),
        level=level,
        shown=await attributed(session, sender, level),
        parent_id=parent.id,
        first=False,
    )


async def send(
    session: AsyncSession, plan: RelayPlan, *, text: str, rendered: str, now: datetime
) -> Delivery:
    """Store the response and queue ``rendered`` (Telegram HTML) for its recipient: now, or when
    their quiet hours end; a paused recipient gets it after ``/resume``."""
    process = await session.get(Process, plan.submission.process_id)
    assert process is not None
    facts = (await process_facts(session, [process.id]))[process.id]
    prompt, delivery = await queue_relay(
        session,
        process=process,
        recipient_id=plan.recipient.id,
        language=plan.recipient_language,
        rendered=rendered,
        phase=phase_at(facts.workshop_starts, now),
        key_prefix=RELAY_KIND,
        now=now,
    )
    session.add(
        Response(
            process_id=process.id,
            submission_id=plan.submission.id,
            sender_id=plan.sender.id,
            recipient_id=plan.recipient.id,
            parent_id=plan.parent_id,
            text=text,
            level=plan.level,
            prompt_id=prompt.id,
            created_at=now,
        )
    )
    await session.flush()
    return delivery


async def relay_replied_to(
    session: AsyncSession, *, user_id: int, chat_id: int, message_id: int
) -> tuple[Response, Membership] | None:
    """The response whose relayed message the user replied to, with the user's membership that
    received it; ``None`` if the message was not a relayed response to them."""
    row = (
        await session.execute(
            select(Response, Membership)
            .join(Delivery, Delivery.prompt_id == Response.prompt_id)
            .join(Membership, Membership.id == Delivery.membership_id)
            .where(
                Delivery.chat_id == chat_id,
                Delivery.message_id == message_id,
                Membership.user_id == user_id,
                Response.recipient_id == Membership.id,
            )
        )
    ).first()
    return (row[0], row[1]) if row is not None else None
