"""Facilitator views of the active process: /process, /schedule and /participants.

Every facilitator command is authorised against the sender's *active* membership: it must be a
facilitator membership of that process, otherwise the answer is a polite refusal that names
nothing of any process.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx, Services
from bot.domain.programme import ProcessFileError, parse_process
from bot.render.facilitator import render_overview, render_participants, render_schedule
from bot.render.rehearsal import coming_weeks
from bot.services import facilitator_views as views
from bot.services import outbox
from handlers.callbacks import SchedulePage
from handlers.common import (
    Facilitating,
    answer_callback,
    edit_callback_message,
    keyboard,
    reply,
    require_facilitator,
)
from handlers.flows import Out
from handlers.process_admin import admin_markup


def refusal(svc: Services, lang: str) -> Out:
    return Out(svc.t(lang, "facilitator.only"))


async def on_process(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        access = await require_facilitator(session, update, now)
        if not isinstance(access, Facilitating):
            return refusal(svc, access.sender.lang)
        data = await views.overview(session, access.process, now)
        lang = access.sender.lang
        return Out(render_overview(svc.catalog, lang, data), admin_markup(svc, lang))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def _schedule(update: Update, context: Ctx, offset: int) -> Out:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        access = await require_facilitator(session, update, now)
        if not isinstance(access, Facilitating):
            return refusal(svc, access.sender.lang)
        process, lang = access.process, access.sender.lang
        items = await views.upcoming(session, process, now)
        facts = (await outbox.process_facts(session, [process.id]))[process.id]
        page = render_schedule(svc.catalog, lang, facts, items, offset)
        if offset == 0:
            weeks = _coming_weeks(svc, lang, process.source_yaml, now)
            combined = f"{page.text}\n\n{weeks}" if weeks else page.text
            if len(combined) <= MESSAGE_LIMIT:
                page = dataclasses.replace(page, text=combined)
        if page.rest <= 0:
            return Out(page.text)
        more = svc.catalog.plain(lang, "schedule.more", count=page.rest)
        return Out(page.text, keyboard([[(more, SchedulePage(page.next_offset).encode())]]))

    return await svc.db.run(work)


MESSAGE_LIMIT = 4000
"""Telegram takes 4096 characters; the weeks are left out rather than the message cut."""


def _coming_weeks(svc: Services, lang: str, source_yaml: str, now: datetime) -> str | None:
    """The rehearsal of the stored process file for the coming weeks (reminders to those who do not
    answer, digests, loop nudges); nothing when the stored file cannot be read any more."""
    try:
        spec = parse_process(source_yaml, source="stored")
    except ProcessFileError:
        return None
    return coming_weeks(svc.catalog, lang, spec, now)


async def on_schedule(update: Update, context: Ctx) -> None:
    out = await _schedule(update, context, 0)
    await reply(update, out.text, out.markup)


async def on_schedule_page(update: Update, context: Ctx) -> None:
    pressed = SchedulePage.of(update)
    out = await _schedule(update, context, pressed.offset if pressed is not None else 0)
    await answer_callback(update)
    await edit_callback_message(update, out.text, out.markup)


async def on_participants(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        access = await require_facilitator(session, update, now)
        if not isinstance(access, Facilitating):
            return refusal(svc, access.sender.lang)
        process = access.process
        roster = await views.roster(session, process)
        link = svc.invite_link(process.participant_code)
        return Out(render_participants(svc.catalog, access.sender.lang, process.name, link, roster))

    out = await svc.db.run(work)
    await reply(update, out.text)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("process", on_process, filters=private))
    app.add_handler(CommandHandler("schedule", on_schedule, filters=private))
    app.add_handler(CommandHandler("participants", on_participants, filters=private))
    app.add_handler(CallbackQueryHandler(on_schedule_page, pattern=SchedulePage.pattern()))
