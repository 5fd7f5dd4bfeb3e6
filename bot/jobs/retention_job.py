"""The retention leader job: warn facilitators a week before a purge, purge on the day, tell them.

The rules and the deletes are :mod:`bot.services.retention`; this module only sends the messages,
after each unit of work is committed, so a failed send never undoes a claim or a purge.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from babel.dates import format_date
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import ExtBot

from bot.context import Services
from bot.services.retention import Notice, claim_warnings, purge_due

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


async def retention_job(services: Services, bot: ExtBot[Any], now: datetime) -> None:
    """Leader job: warn a week ahead, purge on the day, tell the facilitators. Idempotent."""
    warnings = await services.db.run(lambda session: claim_warnings(session, now=now))
    for notice in warnings:
        log.info(
            "told %d facilitator(s) of process %d about its purge",
            len(notice.recipients),
            notice.process_id,
            extra={"process_id": notice.process_id},
        )
        await _send(bot, services, notice)
    purged = await services.db.run(lambda session: purge_due(session, now=now))
    for notice in purged:
        log.info(
            "purged process %d after its retention",
            notice.process_id,
            extra={"process_id": notice.process_id},
        )
        await _send(bot, services, notice)
