"""Linking what a participant sends to the prompt it answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.domain.programme.spec import INFORMING_KINDS
from bot.domain.states import DeliveryState
from bot.services.contributions import Media
from storage.models import Delivery, Membership, Prompt, Submission


def is_open(prompt: Prompt, now: datetime) -> bool:
    """Open for answers: announcements (no close time) are not questions."""
    return prompt.closes_at is not None and prompt.closes_at > now


async def delivery_for_reply(
    session: AsyncSession, *, membership: Membership, chat_id: int, reply_to_message_id: int
) -> Delivery | None:
    """The delivery whose prompt (or reminder) message the participant replied to, in any process
    the participant belongs to (a reply to a prompt of another process than the active one belongs
    to that process), with its membership loaded."""
    return await session.scalar(
        select(Delivery)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(
            Membership.user_id == membership.user_id,
            Delivery.chat_id == chat_id,
            or_(
                Delivery.message_id == reply_to_message_id,
                Delivery.reminder_message_id == reply_to_message_id,
            ),
        )
        .options(selectinload(Delivery.prompt), selectinload(Delivery.membership))
    )


async def open_deliveries(session: AsyncSession, *, membership: Membership, now: datetime) -> list[Delivery]:
    """Prompts sent to the participant, still open and not yet answered, newest first."""
    result = await session.scalars(
        select(Delivery)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .where(
            Delivery.membership_id == membership.id,
            Delivery.state == DeliveryState.SENT,
            Prompt.kind.not_in(INFORMING_KINDS),
            Prompt.closes_at > now,
        )
        .options(selectinload(Delivery.prompt))
        .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
    )
    return list(result)


def mark_answered(delivery: Delivery) -> None:
    if delivery.state != DeliveryState.ANSWERED:
        delivery.state = DeliveryState.ANSWERED


async def record_answer(
    session: AsyncSession,
    *,
    delivery: Delivery,
    membership: Membership,
    text: str | None,
    media: Media | None,
    choice: str | None,
    chat_id: int,
    message_id: int | None,
    now: datetime,
) -> Submission:
    answer = Submission(
        process_id=membership.process_id,
        membership_id=membership.id,
        kind="answer",
        text=text,
        media_type=media.media_type if media else None,
        file_id=media.file_id if media else None,
        choice=choice,
        chat_id=chat_id,
        message_id=message_id,
        prompt_id=delivery.prompt_id,
        delivery_id=delivery.id,
        created_at=now,
    )
    session.add(answer)
    mark_answered(delivery)
    await session.flush()
    return answer


async def refile_as_answer(
    session: AsyncSession, *, submission: Submission, delivery: Delivery, now: datetime
) -> None:
    submission.kind = "answer"
    submission.prompt_id = delivery.prompt_id
    submission.delivery_id = delivery.id
    submission.updated_at = now
    mark_answered(delivery)


async def refile_as_observation(session: AsyncSession, *, submission: Submission, now: datetime) -> None:
    """ "It was not an answer": the prompt it answered counts as unanswered again."""
    if submission.kind == "answer" and submission.delivery_id is not None:
        delivery = await session.get(Delivery, submission.delivery_id)
        if delivery is not None and delivery.state == DeliveryState.ANSWERED:
            delivery.state = DeliveryState.SENT
    submission.kind, submission.prompt_id, submission.delivery_id = "observation", None, None
    submission.updated_at = now


async def choice_comment_target(
    session: AsyncSession, *, membership: Membership, delivery_id: int
) -> Submission | None:
    """The quick-reply answer a follow-up comment belongs to."""
    return await session.scalar(
        select(Submission)
        .where(
            Submission.membership_id == membership.id,
            Submission.delivery_id == delivery_id,
            Submission.kind == "answer",
        )
        .order_by(Submission.id.desc())
    )
