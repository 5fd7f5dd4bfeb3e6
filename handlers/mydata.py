"""Own data and own pace: /mydata, /forget, /pause, /resume, /cancel, and unknown commands."""

from __future__ import annotations

import json

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Ctx
from bot.services import own_data, people
from handlers import dialogue
from handlers.callbacks import ForgetChoice
from handlers.common import answer_callback, edit_callback_message, keyboard, reply, who
from handlers.flows import Out


async def on_mydata(update: Update, context: Ctx) -> None:
    svc = context.services
    sender_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, dict[str, object] | None]:
        sender = await who(session, update, now=svc.clock.now())
        if not sender.consented:
            return sender.lang, None
        return sender.lang, await own_data.export_own_data(session, user_id=sender_id)

    lang, data = await svc.db.run(work)
    message = update.effective_message
    if data is None or message is None:
        await reply(update, svc.t(lang, "mydata.nothing"))
        return
    payload = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
    await message.reply_document(
        document=payload,
        filename=svc.catalog.plain(lang, "mydata.filename") + ".json",
        caption=svc.t(lang, "mydata.caption"),
        parse_mode="HTML",
    )


async def on_forget(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> tuple[str, bool]:
        sender = await who(session, update, now=svc.clock.now())
        return sender.lang, sender.user is not None

    lang, known = await svc.db.run(work)
    if not known:
        await reply(update, svc.t(lang, "mydata.nothing"))
        return
    await reply(
        update,
        svc.t(lang, "forget.confirm"),
        keyboard(
            [
                [(svc.catalog.plain(lang, "forget.button.yes"), ForgetChoice(True).encode())],
                [(svc.catalog.plain(lang, "forget.button.no"), ForgetChoice(False).encode())],
            ]
        ),
    )


async def on_forget_choice(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = ForgetChoice.of(update)
    confirmed = pressed is not None and pressed.confirmed
    sender_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, int | None]:
        sender = await who(session, update, now=svc.clock.now())
        if not confirmed or sender.user is None:
            return sender.lang, None
        return sender.lang, await people.forget(session, user_id=sender_id)

    lang, removed = await svc.db.run(work)
    if removed is not None:
        await svc.db.checkpoint()
    await answer_callback(update)
    if removed is None:
        await edit_callback_message(update, svc.t(lang, "forget.kept"))
    else:
        await edit_callback_message(update, svc.tn(lang, "forget.done", removed))


async def set_paused(update: Update, context: Ctx, paused: bool) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        await people.set_paused(session, sender.participant, paused=paused, now=svc.clock.now())
        return Out(
            svc.t(sender.lang, "pause.on" if paused else "pause.off", process=sender.participant.process.name)
        )

    out = await svc.db.run(work)
    await reply(update, out.text)


async def on_pause(update: Update, context: Ctx) -> None:
    await set_paused(update, context, True)


async def on_resume(update: Update, context: Ctx) -> None:
    await set_paused(update, context, False)


async def on_cancel(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> tuple[str, bool]:
        sender = await who(session, update, now=svc.clock.now())
        return sender.lang, sender.user is not None and dialogue.cancel(sender.user)

    lang, cancelled = await svc.db.run(work)
    await reply(update, svc.t(lang, "flow.cancelled" if cancelled else "flow.nothing_to_cancel"))


async def on_unknown_command(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> str:
        return (await who(session, update, now=svc.clock.now())).lang

    await reply(update, svc.t(await svc.db.run(work), "command.unknown"))


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("mydata", on_mydata, filters=private))
    app.add_handler(CommandHandler("forget", on_forget, filters=private))
    app.add_handler(CommandHandler("pause", on_pause, filters=private))
    app.add_handler(CommandHandler("resume", on_resume, filters=private))
    app.add_handler(CommandHandler("cancel", on_cancel, filters=private))
    app.add_handler(CallbackQueryHandler(on_forget_choice, pattern=ForgetChoice.pattern()))


def register_fallbacks(app: Application) -> None:
    """Registered last: commands nobody else handled."""
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.COMMAND, on_unknown_command))
