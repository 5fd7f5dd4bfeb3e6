"""The ``notices`` leader duty: sends the queued one-off notices (:mod:`bot.services.notices`).

Each is sent at most once: what Telegram took, refused for good (400, 403) or may have carried out
(a read timeout, a reset) is deleted; what it provably did not take (429, a 5xx error answer, no
connection) waits for the next run, up to :data:`~bot.services.notices.NOTICE_TRIES` tries.
"""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Any

from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import ExtBot

from bot.context import Services
from bot.infra.transport import Fate, fate, watch_wire
from bot.services import notices
from messages import normalise_language

__all__ = ["send_notices"]

log = logging.getLogger(__name__)


async def send_notices(services: Services, bot: ExtBot[Any], now: datetime) -> int:
    """Send every queued notice once; returns how many Telegram took."""
    del now  # a notice is due as soon as it is queued
    sent = 0
    for notice in await services.db.run(notices.claim_notices):
        lang = normalise_language(notice.language)
        text = services.catalog.t(lang, f"notices.{notice.kind}", process=notice.process_name)
        again = False
        with watch_wire() as wire:
            try:
                await bot.send_message(notice.user_id, text, parse_mode=ParseMode.HTML)
            except (BadRequest, Forbidden) as error:
                log.info("notice %d not delivered: %s", notice.id, type(error).__name__)
            except Exception as error:
                outcome = fate(error, wire)
                again = outcome in (Fate.NOT_SENT, Fate.REFUSED)
                log.warning("notice %d %s (%s)", notice.id, outcome.value, type(error).__name__)
            else:
                sent += 1
        settle = notices.notice_failed if again else notices.notice_done
        await services.db.run(partial(settle, notice_id=notice.id))
    return sent
