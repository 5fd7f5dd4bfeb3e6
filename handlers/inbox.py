"""Where every plain message from a person goes: the open dialogue's step, else capture.

:data:`FLOWS` is the one list of dialogue steps, by flow name: a flow exists because it is listed
here, not because some module happened to be imported.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.context import Ctx
from bot.domain.text import without_nul
from bot.render.sharing import removed_text
from bot.services import capture as filing
from handlers import admin, announce, capture, checkins, dialogue, experiments, ideas, pair, reports, shared
from handlers.common import Who, reply, who
from handlers.flows import FlowStep, Input, Out, Step
from messages import LANGUAGES, Catalog

FLOWS: Mapping[str, FlowStep] = {
    "newprocess": admin.newprocess_flow,
    "idea": ideas.idea_flow,
    "experiment": experiments.experiment_flow,
    "loop": reports.loop_flow,
    "announce": announce.announce_flow,
    "comment": checkins.comment_flow,
    "observe": capture.observe_flow,
    "respond": shared.respond_flow,
}
"""Every dialogue with a step of its own. ("joining" has none: the next message is answered by
capture, which asks to finish joining first.)"""
STANDALONE_FLOWS: frozenset[str] = frozenset({"newprocess"})
"""Flows that do not need a process membership (an admin creating the first process has none)."""

MEDIA = (
    filters.PHOTO
    | filters.VOICE
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.Document.ALL
    | filters.AUDIO
    | filters.ANIMATION
)


@dataclass(frozen=True)
class Handled:
    outs: list[Out]
    captured: bool = False
    """Filed by capture (not a dialogue step or a refusal): subject to the burst guard."""


async def _handle(session: AsyncSession, update: Update, context: Ctx, data: Input) -> Handled:
    svc = context.services
    now = svc.clock.now()
    sender = await who(session, update, now=now)
    open_dialogue = dialogue.load(sender.user) if sender.consented else None
    name = open_dialogue.flow if open_dialogue is not None else None
    if name in STANDALONE_FLOWS:
        step = Step(svc=svc, session=session, sender=sender, dialogue=open_dialogue, now=now)
        await FLOWS[name](step, data)
        return Handled(step.outs)
    if not sender.consented or sender.participant is None:
        if sender.consented and sender.membership is not None:
            return Handled([Out(svc.t(sender.lang, "join.unfinished"))])
        return Handled([Out(svc.t(sender.lang, "start.ask_facilitator"))])
    await filing.reachable_again(session, sender.participant, now)
    step = Step(svc=svc, session=session, sender=sender, dialogue=open_dialogue, now=now)
    if data.forwarded and sender.membership is not None and sender.membership.is_facilitator:
        # A facilitator forwards a participant's message to act on it (/hide as a reply), not to file it.
        return Handled([Out(svc.t(sender.lang, "hide.forward_hint"))])
    if data.replied_to_removed:
        # What it answered is gone (erased or withdrawn): filing it would hand the facilitators a
        # message that was meant for one person.
        step.say("relay.removed")
        return Handled(step.outs)
    # After "respond" the next message is the response, whatever else is open; otherwise a reply
    # to a relayed response (or to a pair's message) answers it before any other dialogue or capture sees it.
    if name != "respond" and (
        await pair.reply_to_pair(step, data) or await shared.reply_to_relay(step, data)
    ):
        return Handled(step.outs)
    flow_step = FLOWS.get(name) if name is not None else None
    if (
        flow_step is not None
        and name is not None
        and name != "respond"
        and await _answers_a_prompt(session, sender, data, name)
    ):
        # An explicit reply to another prompt answers that prompt; the open dialogue waits.
        await capture.capture(step, data)
        step.say("dialogue.still_open")
        return Handled(step.outs, captured=True)
    if flow_step is not None:
        await flow_step(step, data)
        return Handled(step.outs)
    if data.skip:
        step.say("flow.nothing_to_skip")
    else:
        await capture.capture(step, data)
    return Handled(step.outs, captured=True)


async def _answers_a_prompt(session: AsyncSession, sender: Who, data: Input, flow: str) -> bool:
    if data.reply_to_message_id is None or sender.participant is None:
        return False
    found = await filing.reply_to_another_prompt(
        session, membership=sender.participant, message=capture.incoming(data), flow=flow
    )
    return found is not None


async def handle_input(update: Update, context: Ctx, data: Input) -> None:
    """Run whatever this input means for the sender in one unit of work, then send the replies."""
    svc = context.services

    async def work(session: AsyncSession) -> Handled:
        return await _handle(session, update, context, data)

    handled = await svc.db.run(work)
    if handled.captured and update.effective_user is not None and svc.burst.over(update.effective_user.id):
        # Stored, and the burst notice already told the sender; one ack per message would flood.
        return
    for out in handled.outs:
        await reply(update, out.text, out.markup)


async def on_message(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None:
        return
    quoted = message.reply_to_message
    reply_to = quoted.message_id if quoted else None
    removed = (
        quoted is not None
        and quoted.from_user is not None
        and quoted.from_user.id == context.bot.id
        and (quoted.text or quoted.caption or "").strip() in removed_texts(context.services.catalog)
    )
    await handle_input(
        update,
        context,
        Input(
            # PostgreSQL cannot store a NUL in text, and nobody means one: without it, nothing is lost.
            text=without_nul(message.text or message.caption),
            media=capture.extract_media(message),
            chat_id=message.chat_id,
            message_id=message.message_id,
            reply_to_message_id=reply_to,
            forwarded=message.forward_origin is not None,
            replied_to_removed=removed,
        ),
    )


def removed_texts(catalog: Catalog) -> frozenset[str]:
    """What a removed copy says in each language, as Telegram shows it (without the markup)."""
    return frozenset(
        html.unescape(re.sub(r"<[^>]+>", "", removed_text(catalog, lang))).strip() for lang in LANGUAGES
    )


async def on_skip(update: Update, context: Ctx) -> None:
    message = update.effective_message
    assert message is not None
    await handle_input(
        update, context, Input(text=None, media=None, chat_id=message.chat_id, message_id=None, skip=True)
    )


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("skip", on_skip, filters=private))
    # Last of the message handlers: whatever no feature took is a dialogue answer or a capture.
    app.add_handler(
        MessageHandler(
            private & filters.UpdateType.MESSAGE & ((filters.TEXT & ~filters.COMMAND) | MEDIA), on_message
        )
    )
