"""Check-in quick replies: an option pressed under a prompt is the answer (pressing again changes
it), and the participant's next message is a comment on that answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from bot.domain.states import DELIVERED_STATES
from bot.domain.text import localized
from bot.services import answers
from bot.services.contributions import Media
from storage.models import Delivery, Submission


@dataclass(frozen=True)
class Chosen:
    answer_id: int
    delivery_id: int
    label: str
    """The option in the participant's language, as stored."""
    options: Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class NotChosen:
    notice: str
    """Catalogue key of why the press did nothing (stale, not yours, closed)."""


async def choose(
    session: AsyncSession,
    *,
    user_id: int,
    delivery_id: int,
    option: int,
    lang: str,
    chat_id: int,
    now: datetime,
) -> Chosen | NotChosen:
    """Store the pressed option as the answer to the delivery, or change the earlier choice."""
    delivery = await session.scalar(
        select(Delivery)
        .where(Delivery.id == delivery_id)
        .options(selectinload(Delivery.prompt), selectinload(Delivery.membership))
    )
    if delivery is None:
        return NotChosen("button.stale")
    # The prompt may belong to another of the sender's processes than the active one.
    membership = delivery.membership
    if membership.user_id != user_id:
        return NotChosen("button.not_yours")
    prompt = delivery.prompt
    options = list(prompt.options or [])
    if option >= len(options) or delivery.state not in DELIVERED_STATES:
        return NotChosen("button.stale")
    if not answers.is_open(prompt, now):
        return NotChosen("quick.closed")
    label = localized(options[option], lang)
    existing = await answers.choice_comment_target(session, membership=membership, delivery_id=delivery.id)
    if existing is not None and existing.choice is not None:
        existing.choice, existing.updated_at = label, now
        answer = existing
        answers.mark_answered(delivery)
    else:
        answer = await answers.record_answer(
            session,
            delivery=delivery,
            membership=membership,
            text=None,
            media=None,
            choice=label,
            chat_id=chat_id,
            message_id=None,
            now=now,
        )
    return Chosen(answer.id, delivery.id, label, options)


@dataclass(frozen=True)
class Comment:
    text: str | None
    media: Media | None
    chat_id: int
    message_id: int | None
    reply_to_message_id: int | None


CommentOutcome = Literal["saved", "empty", "not_a_comment"]


async def add_comment(
    session: AsyncSession, *, user_id: int, answer_id: int, comment: Comment, now: datetime
) -> CommentOutcome:
    """Append the message to the quick-reply answer ``answer_id``. ``not_a_comment`` when the answer
    is gone or not the sender's, or the message replies to another prompt: then it is filed as any
    message would be; ``empty`` when there is nothing to append."""
    answer = await session.scalar(
        select(Submission).where(Submission.id == answer_id).options(selectinload(Submission.membership))
    )
    if answer is None or answer.membership.user_id != user_id or answer.kind != "answer":
        return "not_a_comment"
    if comment.reply_to_message_id is not None:
        delivery = await session.get(Delivery, answer.delivery_id) if answer.delivery_id else None
        if delivery is None or comment.reply_to_message_id not in (
            delivery.message_id,
            delivery.reminder_message_id,
        ):
            return "not_a_comment"
    if not comment.text and comment.media is None:
        return "empty"
    if comment.text:
        answer.text = f"{answer.text}\n{comment.text}" if answer.text else comment.text
    if comment.media is not None and answer.media_type is None:
        answer.media_type, answer.file_id = comment.media.media_type, comment.media.file_id
    if answer.message_id is None:
        answer.chat_id, answer.message_id = comment.chat_id, comment.message_id
    answer.updated_at = now
    return "saved"
