"""Runs before every other handler (group -1): groups, bursts, metrics, stale buttons.

Group chats: the bot is a private companion, so only ``/start`` gets an answer there, pointing to
a private chat. Bursts: more than ``BURST_LIMIT`` messages a minute from one person are all stored,
but acknowledged once instead of one by one, so the bot never floods a chat or hits Telegram's
per-chat limit.
"""

from __future__ import annotations

import time
from collections import deque

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

BURST_LIMIT = 20
BURST_WINDOW = 60.0


class BurstGuard:
    """Counts messages per user in a sliding minute."""

    def __init__(self, limit: int = BURST_LIMIT, window: float = BURST_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[int, deque[float]] = {}
        self._noticed: dict[int, float] = {}

    def record(self, user_id: int, now: float | None = None) -> bool:
        """Count a message; True when this one is over the limit."""
        now = time.monotonic() if now is None else now
        seen = self._seen.setdefault(user_id, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        seen.append(now)
        if len(self._seen) > 10_000:
            self._seen = {uid: q for uid, q in self._seen.items() if q and q[-1] > now - self.window}
        return len(seen) > self.limit

    def should_notice(self, user_id: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._noticed.get(user_id, -1e9) < self.window:
            return False
        self._noticed[user_id] = now
        return True

    def over(self, user_id: int) -> bool:
        seen = self._seen.get(user_id)
        return seen is not None and len(seen) > self.limit

    def suppress_ack(self, update: Update) -> bool:
        user = update.effective_user
        return user is not None and self.over(user.id)


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
    guard: BurstGuard = context.services.extras["burst"]
    user = update.effective_user
    if user is None or not guard.record(user.id):
        return
    if guard.should_notice(user.id):
        await reply(update, context.services.t(client_language(update), "capture.burst"))


def register(app: Application) -> None:
    app.bot_data["services"].extras.setdefault("burst", BurstGuard())
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
