"""Small helpers shared by handler modules: who is talking, in which language, and how to answer."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.warnings import PTBUserWarning

from bot.domain.states import Consent
from bot.services import people
from bot.services.processes import get_process
from messages import normalise_language
from storage.models import Membership, Process, User

# reply() sends by name on purpose (see there); PTB warns that a method of that name exists.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.sendMessage'", category=PTBUserWarning)

Button = tuple[str, str]


def keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in rows if row]
    )


@dataclass
class Who:
    """The sender as the database knows them, loaded once per update."""

    user_id: int
    user: User | None
    membership: Membership | None
    client_language: str
    # Prompts sent to the sender that are still open (counted with the clock of the update).
    open_prompts: int = 0

    @property
    def lang(self) -> str:
        if self.user is not None and self.user.consent == Consent.GIVEN and self.user.language:
            return self.user.language
        return self.client_language

    @property
    def consented(self) -> bool:
        return self.user is not None and self.user.consent == Consent.GIVEN

    @property
    def participant(self) -> Membership | None:
        """The active membership when it is complete enough to contribute."""
        membership = self.membership
        return membership if membership is not None and membership.complete else None


async def who(session: AsyncSession, update: Update, *, now: datetime) -> Who:
    """The sender of ``update``; ``now`` (the services' clock) decides which prompts are open."""
    sender = update.effective_user
    if sender is None:
        raise ValueError("update without a sender")
    user, membership, open_prompts = await people.user_with_active_membership(session, sender.id, now=now)
    if (
        user is not None
        and user.consent == Consent.GIVEN
        and membership is None
        and user.active_membership_id is None
    ):
        membership = await people.active_membership(session, user)
    if user is None or user.consent != Consent.GIVEN:
        membership = None
    return Who(
        user_id=sender.id,
        user=user,
        membership=membership,
        client_language=normalise_language(sender.language_code),
        open_prompts=open_prompts,
    )


def client_language(update: Update) -> str:
    sender = update.effective_user
    return normalise_language(sender.language_code if sender else None)


async def reply(
    update: Update,
    text: str,
    markup: InlineKeyboardMarkup | None = None,
    *,
    quote: bool = False,
) -> None:
    """Answer in the chat the update came from, as ``Message.reply_text`` would (HTML, no link
    previews, in the same forum topic), without reading the message Telegram sends back.

    No handler needs that message, and PTB's reading of it was the costliest step of answering a
    participant: an acknowledgement with its seven buttons comes back as some thirty objects, more
    CPU than filing the observation. So the call goes by name (``Bot.do_api_request``), which hands
    back the raw answer; errors are PTB's as for ``send_message``, and the request passes the same
    rate limiter and transport. PTB warns that a method of that name exists: that one warning is
    silenced (below, and in ``pyproject.toml`` for the tests), as for ``getUpdates`` in
    :mod:`bot.infra.updates`.
    """
    message = update.effective_message
    if message is None:
        return
    kwargs: dict[str, object] = {
        "chat_id": message.chat_id,
        "text": text,
        "parse_mode": ParseMode.HTML,
        "link_preview_options": {"is_disabled": True},
    }
    if quote:
        kwargs["reply_parameters"] = {"message_id": message.message_id}
    if markup is not None:
        kwargs["reply_markup"] = markup
    if message.is_topic_message and message.message_thread_id is not None:
        kwargs["message_thread_id"] = message.message_thread_id
    if message.business_connection_id is not None:
        kwargs["business_connection_id"] = message.business_connection_id
    await message.get_bot().do_api_request("sendMessage", api_kwargs=kwargs)


async def answer_callback(update: Update, text: str | None = None, *, alert: bool = False) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(text=text, show_alert=alert)


async def edit_callback_message(
    update: Update, text: str, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Replace the pressed message; an unchanged message is not an error worth showing."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    current = query.message
    same_text = getattr(current, "text_html", None) == text
    same_markup = (getattr(current, "reply_markup", None) or None) == markup
    if same_text and same_markup:
        return
    await query.edit_message_text(
        text, parse_mode=ParseMode.HTML, reply_markup=markup, disable_web_page_preview=True
    )


@dataclass(frozen=True)
class Facilitating:
    """The sender's active membership is a facilitator's of ``process``."""

    sender: Who
    process: Process


@dataclass(frozen=True)
class NotFacilitating:
    sender: Who


async def require_facilitator(
    session: AsyncSession, update: Update, now: datetime
) -> Facilitating | NotFacilitating:
    """Facilitator commands are authorised against the sender's *active* membership only."""
    sender = await who(session, update, now=now)
    membership = sender.membership
    if not sender.consented or membership is None or not membership.is_facilitator:
        return NotFacilitating(sender)
    process = await get_process(session, membership.process_id)
    return NotFacilitating(sender) if process is None else Facilitating(sender, process)
