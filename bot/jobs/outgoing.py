"""A claimed batch made ready to send: each row rendered for its participant, in sending order."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup

from bot.domain.planning import DeliveryPolicy, process_policy
from bot.domain.states import DeliveryKind
from bot.render.prompt import (
    ANSWERABLE_KINDS,
    RenderedMessage,
    placeholder_values,
    prompt_message,
    reminder_message,
)
from bot.render.sharing import highlights
from bot.services import pairs
from bot.services.highlights import highlights_for
from bot.services.outbox import process_facts
from messages import Catalog
from storage.models import Delivery, Membership, Process, Prompt, User

log = logging.getLogger(__name__)


@dataclass
class Outgoing:
    """One message to send, prepared in a unit of work and sent outside it."""

    kind: DeliveryKind
    delivery_id: int
    membership_id: int
    chat_id: int
    message: RenderedMessage
    attempts: int
    policy: DeliveryPolicy
    remind_after: timedelta | None
    closes_at: datetime | None
    reminded_at: datetime | None = None
    claimed: float = 0.0
    """Monotonic time of the claim: not handed to Telegram within BATCH_DEADLINE_S, it is given back."""
    quoted: tuple[int, ...] = ()
    """Shared observations the message quotes (highlights): once sent, it is a copy of each, edited
    to say it was removed when one of them is unshared, hidden or erased."""


class Claimed(NamedTuple):
    """One claimed batch: how many rows were claimed, those ready to send, how many could not be
    prepared (recorded as failed in the same unit of work) and how many were skipped on purpose
    (recorded ``skipped`` in it)."""

    claimed: int
    outgoing: list[Outgoing]
    broken: int
    skipped: int = 0


def markup(message: RenderedMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in message.buttons]
    )


class Prepared(NamedTuple):
    outgoing: list[Outgoing]
    """The claimed rows rendered for their participants, in sending order."""
    broken: list[tuple[int, str]]
    """(delivery id, reason) of the rows that could not be rendered."""
    skipped: list[int]
    """Highlights rows of participants introduced to a pair in that phase's round: not sent."""


async def _with_highlights(
    session: AsyncSession, catalog: Catalog, lang: str, delivery: Delivery, message: RenderedMessage
) -> tuple[RenderedMessage, tuple[int, ...]]:
    """The highlights message for this participant, and the shared observations it quotes."""
    found = await highlights_for(session, membership_id=delivery.membership_id, now=delivery.due_at)
    rendered = RenderedMessage(*highlights(catalog, lang, message.text, found.shared, found.ideas))
    return rendered, tuple(item.submission_id for item in found.shared)


async def prepare(
    session: AsyncSession, catalog: Catalog, ids: Sequence[int], kind: DeliveryKind
) -> Prepared:
    """The claimed rows rendered for their participants (:class:`Prepared`). A participant who met
    another organisation through a pair in a phase's round is not sent that phase's highlights: one
    cross-organisation message a phase (``/shared`` still shows everything)."""
    rows = (
        await session.execute(
            select(Delivery, Prompt, Membership.user_id, Membership.process_id, User.language)
            .join(Prompt, Prompt.id == Delivery.prompt_id)
            .join(Membership, Membership.id == Delivery.membership_id)
            .join(User, User.id == Membership.user_id)
            .where(Delivery.id.in_(list(ids)))
            .order_by(Delivery.due_at, Prompt.position, Delivery.id)
        )
    ).all()
    process_ids = {row[3] for row in rows}
    facts = await process_facts(session, process_ids)
    policies = {
        p.id: process_policy(p)
        for p in await session.scalars(select(Process).where(Process.id.in_(process_ids)))
    }
    outgoing: list[Outgoing] = []
    broken: list[tuple[int, str]] = []
    skipped: list[int] = []
    values: dict[tuple[int, str], dict[str, str]] = {}
    render = prompt_message if kind == DeliveryKind.PROMPT else reminder_message
    for delivery, prompt, user_id, process_id, language in rows:
        lang = language or facts[process_id].language
        is_highlights = kind == DeliveryKind.PROMPT and prompt.kind == DeliveryKind.HIGHLIGHTS
        if is_highlights and await pairs.introduced_in(
            session, membership_id=delivery.membership_id, workshop=prompt.phase
        ):
            skipped.append(delivery.id)
            continue
        try:
            key = (prompt.id, lang)
            if key not in values:
                values[key] = placeholder_values(catalog, lang, facts[process_id], prompt.due_at)
            message = render(
                catalog, lang, prompt, facts[process_id], delivery_id=delivery.id, values=values[key]
            )
            quoted: tuple[int, ...] = ()
            if is_highlights:
                message, quoted = await _with_highlights(session, catalog, lang, delivery, message)
        except Exception as error:
            log.error("could not render delivery %d: %s", delivery.id, type(error).__name__, exc_info=error)
            broken.append((delivery.id, f"render: {type(error).__name__}"))
            continue
        outgoing.append(
            Outgoing(
                kind=kind,
                delivery_id=delivery.id,
                membership_id=delivery.membership_id,
                chat_id=user_id,
                message=message,
                attempts=delivery.attempts,
                policy=policies[process_id],
                remind_after=timedelta(seconds=prompt.remind_after_s)
                if prompt.remind_after_s and prompt.kind in ANSWERABLE_KINDS
                else None,
                closes_at=prompt.closes_at,
                reminded_at=delivery.reminded_at,
                quoted=quoted,
            )
        )
    return Prepared(outgoing, broken, skipped)


async def show_action(bot: Bot, chat_id: int, action: Any) -> None:
    """A cosmetic "sending a file…" hint above the chat: if it fails, the real work goes on."""
    try:
        await bot.send_chat_action(chat_id, action)
    except Exception as error:
        log.info("chat action %s not shown (%s); carrying on", action, type(error).__name__)
