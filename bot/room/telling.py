"""Telling the author of a merged idea that it now lives on in another one (from chat or the room)."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.services.merge import Merged
from messages import Catalog

log = logging.getLogger(__name__)


async def tell_merged_author(bot: Bot | Any, catalog: Catalog, merged: Merged) -> bool:
    """One message to the merged idea's author; a failure is logged once and not retried (the merge
    itself is already stored, and a notice that may have arrived is never sent twice)."""
    if merged.author_user_id is None:
        return False
    lang = merged.author_language
    try:
        await bot.send_message(
            merged.author_user_id,
            catalog.t(lang, "merge.told", merged=merged.merged_title, kept=merged.kept_title),
            parse_mode=ParseMode.HTML,
        )
    except TelegramError as error:
        log.warning("could not tell the author of merged idea %d: %s", merged.merged_id, type(error).__name__)
        return False
    return True
