"""Dialogues that span several messages (/idea, /experiment, /observe…): what a flow step gets and
gives back.

A flow step receives what the participant sent and returns the messages to send back; the caller
commits before anything is sent, so a reply never claims something that was not stored. The open
dialogue itself is a typed value of :mod:`handlers.dialogue`; which step runs for which flow is
listed in one place, :data:`handlers.inbox.FLOWS`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update

from bot.context import Services
from bot.services.contributions import Media
from handlers.common import Who, answer_callback, edit_callback_message
from handlers.dialogue import Dialogue, Form, FormFlow, save


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
    replied_to_removed: bool = False
    """It replies to a bot message edited to say its content was removed (after someone's /forget,
    an unshare or /hide): no longer a relay or a pair message, and never to be filed as a capture."""


@dataclass
class Step:
    svc: Services
    session: AsyncSession
    sender: Who
    dialogue: Dialogue | None
    now: datetime
    outs: list[Out] = field(default_factory=list)

    @property
    def lang(self) -> str:
        return self.sender.lang

    def say(self, key: str, markup: InlineKeyboardMarkup | None = None, **params: object) -> None:
        self.outs.append(Out(self.svc.t(self.lang, key, **params), markup))

    def say_n(
        self, key: str, count: int, markup: InlineKeyboardMarkup | None = None, **params: object
    ) -> None:
        """:meth:`say` for a counted text (its form chosen by ``count``)."""
        self.outs.append(Out(self.svc.tn(self.lang, key, count, **params), markup))

    def open(self, dialogue: Dialogue) -> None:
        """Keep ``dialogue`` open for the sender's next message."""
        assert self.sender.user is not None
        save(self.sender.user, dialogue)
        self.dialogue = dialogue

    def close(self) -> None:
        if self.sender.user is not None:
            save(self.sender.user, None)
        self.dialogue = None

    def form(self, flow: FormFlow) -> Form:
        """The open form of ``flow`` (a fresh one if another dialogue is open)."""
        dialogue = self.dialogue
        return dialogue if isinstance(dialogue, Form) and dialogue.flow == flow else Form(flow)


async def settle_callback(
    update: Update, svc: Services, lang: str, *, notice: str | None = None, out: Out | None = None
) -> None:
    """Finish a button press: answer it (with ``notice`` if any), then replace the pressed message."""
    await answer_callback(update, svc.catalog.plain(lang, notice) if notice else None)
    if out is not None:
        await edit_callback_message(update, out.text, out.markup)


@dataclass(frozen=True)
class Pressed:
    """What a button press does: a short notice on the button, and/or a replacement message."""

    lang: str
    notice: str | None = None
    out: Out | None = None

    async def settle(self, update: Update, svc: Services) -> None:
        await settle_callback(update, svc, self.lang, notice=self.notice, out=self.out)


FlowStep = Callable[[Step, Input], Awaitable[None]]
