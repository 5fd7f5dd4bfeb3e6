"""Small helpers shared by handler modules: who is talking, in which language, and how to answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode

from bot.domain.states import Consent
from bot.services import people
from bot.services.processes import get_process
from messages import normalise_language
from storage.models import Membership, Process, User

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
) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(
        text,
        parse_mode=ParseMode.HTML,
        reply_markup=markup,
        disable_web_page_preview=True,
        do_quote=quote,
    )


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
