"""The retention leader job: warn facilitators a week before a purge, purge on the day, tell them.

The rules and the deletes are :mod:`bot.services.retention`; this module only sends the messages,
after each unit of work is committed, so a failed send never undoes a claim or a purge.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import ExtBot

from bot.context import Services
from bot.services.retention import Notice, claim_warning, process_ids, purge_if_due, purge_unconsented

log = logging.getLogger(__name__)


async def _send(bot: ExtBot[Any], services: Services, notice: Notice) -> None:
    for recipient in notice.recipients:
        text = services.t(
            recipient.language,
            notice.key,
            process=notice.process_name,
            date=format_date(notice.purge_date, format="long", locale=recipient.language),
        )
        try:
            await bot.send_message(
                recipient.chat_id, text, parse_mode=ParseMode.HTML, rate_limit_args={"bulk": True}
            )
        except Forbidden:
            log.info("a facilitator of process %d has blocked the bot", notice.process_id)
        except TelegramError as error:
            log.warning(
                "could not send %s for process %d: %s", notice.key, notice.process_id, type(error).__name__
            )


async def _each_process(
    services: Services,
    bot: ExtBot[Any],
    what: str,
    step: Callable[[AsyncSession, int], Awaitable[Notice | None]],
) -> int:
    """Run ``step`` for every process in a unit of work of its own, then send its notice: one process
    that fails (one log line) never stops the others. Returns how many notices there were."""
    notices = 0
    for process_id in await services.db.run(process_ids):

        async def work(session: AsyncSession, pid: int = process_id) -> Notice | None:
            return await step(session, pid)

        try:
            notice = await services.db.run(work)
        except Exception as error:  # one bad process must not stop the purge of the others
            log.error(
                "retention: could not %s process %d: %s",
                what,
                process_id,
                type(error).__name__,
                extra={"process_id": process_id},
            )
            continue
        if notice is None:
            continue
        notices += 1
        if notice.key == "retention.purged":
            log.info("purged process %d after its retention", process_id, extra={"process_id": process_id})
        else:
            log.info(
                "told %d facilitator(s) of process %d about its purge",
                len(notice.recipients),
                process_id,
                extra={"process_id": process_id},
            )
        await _send(bot, services, notice)
    return notices


async def retention_job(services: Services, bot: ExtBot[Any], now: datetime) -> None:
    """Leader job: warn a week ahead, purge on the day, tell the facilitators; forget the people who
    declined the privacy notice. Idempotent."""
    await _each_process(
        services, bot, "warn about", lambda session, pid: claim_warning(session, process_id=pid, now=now)
    )
    purged = await _each_process(
        services, bot, "purge", lambda session, pid: purge_if_due(session, process_id=pid, now=now)
    )
    forgotten = await services.db.run(lambda session: purge_unconsented(session, now=now))
    if forgotten:
        log.info("forgot %d person(s) who did not consent", forgotten)
    if purged or forgotten:
        await services.db.checkpoint()
