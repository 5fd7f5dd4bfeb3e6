"""Runs before every other handler (group -1): groups, bursts, metrics, stale buttons.

Group chats: the bot is a private companion, so only ``/start`` gets an answer there, pointing to
a private chat. Bursts: more than ``BURST_LIMIT`` messages a minute from one person are all stored,
but acknowledged once instead of one by one, so the bot never floods a chat or hits Telegram's
per-chat limit.
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.context import Ctx
from handlers.common import answer_callback, client_language, reply


async def count_update(update: Update, context: Ctx) -> None:
    kind = "other"
    for name in ("message", "edited_message", "callback_query"):
        if getattr(update, name, None) is not None:
            kind = name
    context.services.metrics.updates.labels(type=kind).inc()


async def in_group(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is not None and message.text and message.text.split()[0].split("@")[0] == "/start":
        svc = context.services
        await reply(update, svc.t(client_language(update), "start.group_private", bot=svc.bot_username))
    raise ApplicationHandlerStop


async def burst(update: Update, context: Ctx) -> None:
    guard = context.services.burst
    user = update.effective_user
    if user is None or not guard.record(user.id):
        return
    if guard.should_notice(user.id):
        await reply(update, context.services.t(client_language(update), "capture.burst"))


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, count_update), group=-2)
    app.add_handler(MessageHandler(~filters.ChatType.PRIVATE, in_group), group=-1)
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND, burst),
        group=-1,
    )


def register_fallbacks(app: Application) -> None:
    """A press on a button no handler knows (an old keyboard) says so instead of spinning."""

    async def stale(update: Update, context: Ctx) -> None:
        await answer_callback(update, context.services.catalog.plain(client_language(update), "button.stale"))

    app.add_handler(CallbackQueryHandler(stale))
