"""/room: the facilitator's room (a Telegram Mini App) as a button, and in the chat's menu.

When ``PUBLIC_URL`` is not set the answer says, in one line, what the operator must configure.
Anyone but a facilitator of the active process gets the same refusal as every facilitator command.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import Ctx
from bot.room.menu import publish_room_button, room_keyboard
from handlers.common import Facilitating, reply, require_facilitator
from handlers.facilitator import refusal
from handlers.flows import Out


async def on_room(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[Out, str | None]:
        access = await require_facilitator(session, update, now)
        lang = access.sender.lang
        if not isinstance(access, Facilitating):
            return refusal(svc, lang), None
        markup = room_keyboard(svc.settings, svc.catalog, lang)
        if markup is None:
            return Out(svc.t(lang, "room.not_configured")), None
        return Out(svc.t(lang, "room.intro"), markup), lang

    out, lang = await svc.db.run(work)
    await reply(update, out.text, out.markup)
    chat = update.effective_chat
    if lang is not None and chat is not None:
        await publish_room_button(context.bot, svc.settings, svc.catalog, chat.id, lang)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("room", on_room, filters=filters.ChatType.PRIVATE))
