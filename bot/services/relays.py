"""One message relayed from one participant to another (a response, a reply, a pair's message): a
prompt of kind ``relay`` with the rendered text in the recipient's language, and its delivery in the
outbox, due now or when the recipient's quiet hours end (a paused recipient gets it after /resume)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.planning import next_allowed, process_policy
from bot.domain.sharing import RELAY_KIND
from bot.domain.states import DeliveryState
from storage.models import Delivery, Membership, Process, Prompt, SharedCopy, User

__all__ = ["edit_as_removed", "queue_relay"]


async def recipient_language(session: AsyncSession, membership: Membership) -> str:
    """The language a relayed message is written in for this member: theirs, else their process's."""
    user = await session.get(User, membership.user_id)
    if user is not None and user.language:
        return user.language
    process = await session.get(Process, membership.process_id)
    return process.language if process is not None else "fi"


async def queue_relay(
    session: AsyncSession,
    *,
    process: Process,
    recipient_id: int,
    language: str,
    rendered: str,
    phase: int,
    key_prefix: str,
    now: datetime,
) -> tuple[Prompt, Delivery]:
    """Queue ``rendered`` (Telegram HTML) for membership ``recipient_id``; both rows are flushed."""
    due = next_allowed(now, process_policy(process))
    prompt = Prompt(
        process_id=process.id,
        key=f"{key_prefix}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}",
        phase=max(1, phase),
        kind=RELAY_KIND,
        texts={language: rendered},
        options=[],
        remind_after_s=None,
        position=0,
        due_at=due,
        closes_at=None,
        active=True,
        created_at=now,
    )
    session.add(prompt)
    await session.flush()
    delivery = Delivery(
        prompt_id=prompt.id, membership_id=recipient_id, state=DeliveryState.PENDING, due_at=due, attempts=0
    )
    session.add(delivery)
    await session.flush()
    return prompt, delivery


def edit_as_removed(session: AsyncSession, relayed: Iterable[Any]) -> None:
    """Leave the relayed copies ``(recipient membership, chat_id, message_id, written)`` to the shared
    upkeep, which edits each to say it was removed (its content is erased with its sender's data)."""
    for recipient, chat_id, message_id, written in relayed:
        session.add(
            SharedCopy(
                submission_id=None,
                membership_id=recipient,
                chat_id=chat_id,
                message_id=message_id,
                media=False,
                created_at=written,
            )
        )
