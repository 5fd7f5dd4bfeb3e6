"""The room as a facilitator's chat menu button (``setChatMenuButton`` with a ``web_app``)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonDefault,
    MenuButtonWebApp,
    WebAppInfo,
)
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.context import Services
from bot.services.room_views import facilitator_chats
from bot.settings import Settings
from messages import Catalog, normalise_language

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


async def withdraw_room_button(bot: Bot, chat_id: int) -> None:
    """Someone who facilitates nowhere any more gets Telegram's default menu button back."""
    try:
        await bot.set_chat_menu_button(chat_id=chat_id, menu_button=MenuButtonDefault())
    except TelegramError as error:
        log.warning("could not withdraw the room's menu button: %s", type(error).__name__)


async def publish_room_buttons(services: Services, bot: ExtBot[Any], now: datetime) -> int:
    """Leader duty, at start-up and then daily: every facilitator's chat gets the room in its menu
    (also those who joined before ``PUBLIC_URL`` was set). Returns how many chats were set."""
    if services.settings.room_url() is None:
        return 0
    chats = await services.db.run(facilitator_chats)
    done = 0
    for user_id, language in chats:
        lang = normalise_language(language)
        if await publish_room_button(bot, services.settings, services.catalog, user_id, lang):
            done += 1
    if done:
        log.info("the room is in the menu of %d facilitator chats", done)
    return done
