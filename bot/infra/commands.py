"""The command menus Telegram shows, per language and scope (participants; facilitators' chats)."""

from __future__ import annotations

import logging

from telegram import Bot, BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat
from telegram.error import TelegramError

from messages import LANGUAGES, Catalog

log = logging.getLogger(__name__)

PARTICIPANT_COMMANDS = (
    "observe",
    "idea",
    "ideas",
    "shared",
    "pair",
    "experiment",
    "pause",
    "resume",
    "language",
    "privacy",
    "mydata",
    "forget",
    "cancel",
    "help",
)
FACILITATOR_COMMANDS = (
    "process",
    "schedule",
    "programme",
    "participants",
    "digest",
    "export",
    "announce",
    "nudge",
    "loop",
    "hide",
    "merge",
    "room",
    "newprocess",
)


def commands_for(catalog: Catalog, lang: str, *, facilitator: bool) -> list[BotCommand]:
    names = PARTICIPANT_COMMANDS + (FACILITATOR_COMMANDS if facilitator else ())
    return [BotCommand(name, catalog.plain(lang, f"command.{name}")[:256]) for name in names]


async def publish_commands(bot: Bot, catalog: Catalog) -> None:
    """Participant commands for every private chat, in each language (Finnish also as the default)."""
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(commands_for(catalog, "fi", facilitator=False), scope=scope)
    for lang in LANGUAGES:
        await bot.set_my_commands(
            commands_for(catalog, lang, facilitator=False), scope=scope, language_code=lang
        )


async def publish_facilitator_commands(bot: Bot, catalog: Catalog, chat_id: int, lang: str) -> None:
    """A facilitator's own chat shows the facilitator commands too."""
    try:
        await bot.set_my_commands(
            commands_for(catalog, lang, facilitator=True), scope=BotCommandScopeChat(chat_id)
        )
    except TelegramError as error:
        log.warning("could not set facilitator commands: %s", type(error).__name__)


async def withdraw_facilitator_commands(bot: Bot, chat_id: int) -> None:
    """Someone who is no longer a facilitator anywhere gets the participant menu back."""
    try:
        await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))
    except TelegramError as error:
        log.warning("could not withdraw facilitator commands: %s", type(error).__name__)
