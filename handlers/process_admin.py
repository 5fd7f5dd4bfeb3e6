"""The buttons under /process: renew the process's invite links, take a facilitator out.

Renewing asks first (the old links stop working at once; people already in stay in). Removing lists
the other facilitators of the active process (never oneself, so a process always keeps one); the
operator's equivalents are ``valitupa process rotate-links`` and ``remove-facilitator``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler

from bot.context import Ctx, Services
from bot.infra.commands import withdraw_facilitator_commands
from bot.room.menu import withdraw_room_button
from bot.services import people
from bot.services.processes import rotate_links
from handlers.callbacks import ProcessAdmin
from handlers.common import Button, Facilitating, keyboard, require_facilitator
from handlers.flows import Out, Pressed

MAX_LISTED = 10


def admin_markup(svc: Services, lang: str) -> InlineKeyboardMarkup:
    plain = svc.catalog.plain
    return keyboard(
        [
            [(plain(lang, "process_admin.button.rotate"), ProcessAdmin("rot").encode())],
            [(plain(lang, "process_admin.button.remove"), ProcessAdmin("rm").encode())],
        ]
    )


async def _pressed(
    session: AsyncSession, svc: Services, update: Update, pressed: ProcessAdmin | None
) -> Pressed:
    access = await require_facilitator(session, update, svc.clock.now())
    lang = access.sender.lang
    if not isinstance(access, Facilitating):
        return Pressed(lang, "facilitator.only")
    if pressed is None:
        return Pressed(lang, "button.stale")
    process, plain = access.process, svc.catalog.plain
    cancel: Button = (plain(lang, "process_admin.button.cancel"), ProcessAdmin("no").encode())
    if pressed.action == "no":
        return Pressed(lang, out=Out(svc.t(lang, "process_admin.cancelled")))
    if pressed.action == "rot":
        confirm: Button = (plain(lang, "process_admin.button.rotate_yes"), ProcessAdmin("rot_yes").encode())
        text = svc.t(lang, "process_admin.rotate_confirm", process=process.name)
        return Pressed(lang, out=Out(text, keyboard([[confirm], [cancel]])))
    if pressed.action == "rot_yes":
        rotate_links(process)
        text = svc.t(
            lang,
            "process_admin.rotated",
            participant_link=svc.invite_link(process.participant_code),
            facilitator_link=svc.invite_link(process.facilitator_code),
        )
        return Pressed(lang, out=Out(text))
    others = [
        (uid, name)
        for uid, name in await people.facilitator_ids(session, process.id)
        if uid != access.sender.user_id
    ]
    if pressed.action == "rm":
        if not others:
            return Pressed(lang, out=Out(svc.t(lang, "process_admin.no_other_facilitators")))
        rows = [
            [
                (
                    name or plain(lang, "process_admin.unnamed", telegram_id=uid),
                    ProcessAdmin("rm_one", uid).encode(),
                )
            ]
            for uid, name in others[:MAX_LISTED]
        ]
        return Pressed(
            lang,
            out=Out(
                svc.t(lang, "process_admin.pick_facilitator", process=process.name),
                keyboard([*rows, [cancel]]),
            ),
        )
    names = dict(others)
    if pressed.telegram_id not in names or not await people.remove_facilitator(
        session, process_id=process.id, user_id=pressed.telegram_id, now=svc.clock.now()
    ):
        return Pressed(lang, "button.stale")
    name = names[pressed.telegram_id] or plain(lang, "process_admin.unnamed", telegram_id=pressed.telegram_id)
    return Pressed(lang, out=Out(svc.t(lang, "process_admin.removed", name=name, process=process.name)))


async def on_process_admin(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = ProcessAdmin.of(update)
    result = await svc.db.run(lambda session: _pressed(session, svc, update, pressed))
    await result.settle(update, svc)
    removed = pressed.telegram_id if pressed is not None and pressed.action == "rm_one" else None
    if removed is not None and result.out is not None:

        async def still(session: AsyncSession) -> bool:
            return await people.facilitates_any(session, removed)

        if not await svc.db.run(still):
            await withdraw_facilitator_commands(context.bot, removed)
            await withdraw_room_button(context.bot, removed)


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_process_admin, pattern=ProcessAdmin.pattern()))
