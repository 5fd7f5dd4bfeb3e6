"""The room as a facilitator's chat menu button (``setChatMenuButton`` with a ``web_app``)."""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, MenuButtonWebApp, WebAppInfo
from telegram.error import TelegramError

from bot.settings import Settings
from messages import Catalog

log = logging.getLogger(__name__)


def room_keyboard(settings: Settings, catalog: Catalog, lang: str) -> InlineKeyboardMarkup | None:
    """One button that opens the room, or ``None`` while ``PUBLIC_URL`` is not set."""
    url = settings.room_url()
    if url is None:
        return None
    label = catalog.plain(lang, "room.button.open")
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, web_app=WebAppInfo(url))]])


async def publish_room_button(
    bot: Bot, settings: Settings, catalog: Catalog, chat_id: int, lang: str
) -> bool:
    """Put the room in this facilitator chat's menu; nothing when ``PUBLIC_URL`` is not set."""
    url = settings.room_url()
    if url is None:
        return False
    button = MenuButtonWebApp(catalog.plain(lang, "room.menu_button"), WebAppInfo(url))
    try:
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=button)
    except TelegramError as error:
        log.warning("could not set the room's menu button: %s", type(error).__name__)
        return False
    return True
