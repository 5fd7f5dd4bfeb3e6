"""Dialogues that span several messages (/idea, /experiment, /observe…), kept in the user row.

A flow step receives what the participant sent and returns the messages to send back; the caller
commits before anything is sent, so a reply never claims something that was not stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update

from bot.context import Services
from bot.services.contributions import Media
from handlers.common import Who, answer_callback, edit_callback_message


@dataclass
class Out:
    text: str
    markup: InlineKeyboardMarkup | None = None


@dataclass
class Input:
    text: str | None
    media: Media | None
    chat_id: int
    message_id: int | None
    reply_to_message_id: int | None = None
    skip: bool = False
    forwarded: bool = False


@dataclass
class Step:
    svc: Services
    session: AsyncSession
    sender: Who
    state: dict[str, Any]
    now: datetime
    outs: list[Out] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.sender.lang

    def say(self, key: str, markup: InlineKeyboardMarkup | None = None, **params: object) -> None:
        self.outs.append(Out(self.svc.t(self.lang, key, **params), markup))

    def set_state(self, flow: str | None, **data: Any) -> None:
        assert self.sender.user is not None
        self.sender.user.state = {"flow": flow, **data} if flow else None


async def settle_callback(
    update: Update, svc: Services, lang: str, *, notice: str | None = None, out: Out | None = None
) -> None:
    """Finish a button press: answer it (with ``notice`` if any), then replace the pressed message."""
    await answer_callback(update, svc.catalog.plain(lang, notice) if notice else None)
    if out is not None:
        await edit_callback_message(update, out.text, out.markup)


FlowStep = Callable[[Step, Input], Awaitable[None]]
FLOWS: dict[str, FlowStep] = {}
# Flows that do not need a process membership (an admin creating the first process has none).
STANDALONE_FLOWS: set[str] = set()


def flow(name: str, *, standalone: bool = False) -> Callable[[FlowStep], FlowStep]:
    def decorate(step: FlowStep) -> FlowStep:
        FLOWS[name] = step
        if standalone:
            STANDALONE_FLOWS.add(name)
        return step

    return decorate
