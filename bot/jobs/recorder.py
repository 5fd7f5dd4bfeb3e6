"""Writing "sent" results the moment Telegram answers, one commit shared by the results that arrive
together (group commit)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.planning import plan_reminder
from bot.domain.states import DeliveryKind
from bot.jobs.claims import SentPrompt, SentReminder, record_sent
from bot.jobs.outgoing import Outgoing
from bot.services.sharing import CopySent, record_copies
from storage.db import Database


def _sent_prompt(item: Outgoing, message_id: int | None, now: datetime) -> SentPrompt:
    remind_at = None
    if item.remind_after is not None and item.closes_at is not None:
        remind_at = plan_reminder(now, item.remind_after, item.closes_at, item.policy)
    return SentPrompt(item.delivery_id, now, item.chat_id, message_id, remind_at)


class Recorder:
    """Writes "sent" results the moment Telegram answers, sharing one commit among the results that
    arrive while the previous commit is in progress (group commit): no result waits for a timer,
    and a busy broadcast does not pay one transaction per message."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[Outgoing, int | None, datetime, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: Outgoing, message_id: int | None, now: datetime) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, message_id, now, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a worker cancelled mid-wait must not cancel the commit of everyone's results.
        await asyncio.shield(future)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            prompts = [
                _sent_prompt(item, message_id, now)
                for item, message_id, now, _ in batch
                if item.kind == DeliveryKind.PROMPT
            ]
            reminders = [
                SentReminder(item.delivery_id, message_id)
                for item, message_id, _, _ in batch
                if item.kind == DeliveryKind.REMINDER
            ]

            quoting = [
                (item, message_id, now) for item, message_id, now, _ in batch if item.quoted and message_id
            ]

            async def work(
                session: AsyncSession,
                prompts: list[SentPrompt] = prompts,
                reminders: list[SentReminder] = reminders,
                quoting: list[tuple[Outgoing, int, datetime]] = quoting,
            ) -> None:
                await record_sent(session, prompts, reminders)
                for item, message_id, now in quoting:
                    copies = [CopySent(sid, item.chat_id, message_id, media=False) for sid in item.quoted]
                    await record_copies(session, viewer_id=item.membership_id, copies=copies, now=now)

            try:
                await self.db.run(work)
            except Exception as error:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)
