"""/announce (a message to every participant of the process, after a preview) and /nudge (a
reminder of one open prompt to those who have not answered it)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx
from bot.domain.process import format_local
from bot.render.facilitator import WHEN, render_nudge_list
from bot.services import outbox
from handlers import dialogue
from handlers.callbacks import AnnounceChoice, NudgePick
from handlers.common import Facilitating, keyboard, reply, require_facilitator
from handlers.dialogue import Announcement
from handlers.facilitator import refusal
from handlers.flows import Input, Out, Pressed, Step
from messages import LANGUAGES

MAX_ANNOUNCEMENT = 3500


async def on_announce(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        access = await require_facilitator(session, update, now)
        sender = access.sender
        if not isinstance(access, Facilitating) or sender.user is None:
            return refusal(svc, sender.lang)
        if not await outbox.eligible_count(session, access.process.id):
            return Out(svc.t(sender.lang, "announce.nobody"))
        dialogue.save(sender.user, Announcement("text"))
        return Out(svc.t(sender.lang, "announce.ask"))

    out = await svc.db.run(work)
    await reply(update, out.text)


async def announce_flow(step: Step, data: Input) -> None:
    """The facilitator's announcement text, then a preview with the number of recipients."""
    membership = step.sender.membership
    if membership is None or not membership.is_facilitator:
        step.close()
        step.say("facilitator.only")
        return
    if data.skip:
        step.close()
        step.say("announce.cancelled")
        return
    text = (data.text or "").strip()
    if not text:
        step.say("announce.text_needed")
        return
    if len(text) > MAX_ANNOUNCEMENT:
        step.say("announce.too_long", length=len(text), limit=MAX_ANNOUNCEMENT)
        return
    count = await outbox.eligible_count(step.session, membership.process_id)
    step.open(Announcement("confirm", text))
    plain = step.svc.catalog.plain
    step.say_n(
        "announce.preview",
        count,
        keyboard(
            [
                [(plain(step.lang, "announce.button.send", count=count), AnnounceChoice(True).encode())],
                [(plain(step.lang, "announce.button.cancel"), AnnounceChoice(False).encode())],
            ]
        ),
        text=text,
    )


async def on_announce_button(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    pressed = AnnounceChoice.of(update)
    confirmed = pressed is not None and pressed.confirmed

    async def work(session: AsyncSession) -> Pressed:
        access = await require_facilitator(session, update, now)
        sender = access.sender
        lang = sender.lang
        announcement = dialogue.load(sender.user)
        if not isinstance(access, Facilitating) or sender.user is None:
            return Pressed(lang, "button.stale")
        if (
            not isinstance(announcement, Announcement)
            or announcement.step != "confirm"
            or not announcement.text
        ):
            return Pressed(lang, "button.stale")
        dialogue.save(sender.user, None)
        if not confirmed:
            return Pressed(lang, out=Out(svc.t(lang, "announce.cancelled")))
        process = access.process
        prompt = await outbox.broadcast(
            session,
            process_id=process.id,
            kind="announcement",
            texts=dict.fromkeys(LANGUAGES, announcement.text),
            now=now,
        )
        count = await outbox.eligible_count(session, process.id)
        if prompt.due_at > now:
            facts = (await outbox.process_facts(session, [process.id]))[process.id]
            when = format_local(svc.catalog, lang, prompt.due_at, facts.tz, WHEN)
            return Pressed(lang, out=Out(svc.tn(lang, "announce.sent_later", count, when=when)))
        return Pressed(lang, out=Out(svc.tn(lang, "announce.sent", count)))

    await (await svc.db.run(work)).settle(update, svc)


async def on_nudge(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        access = await require_facilitator(session, update, now)
        lang = access.sender.lang
        if not isinstance(access, Facilitating):
            return refusal(svc, lang)
        process = access.process
        targets = await outbox.nudge_targets(session, process, now)
        if not targets:
            return Out(svc.t(lang, "nudge.none_open"))
        facts = (await outbox.process_facts(session, [process.id]))[process.id]
        listing = render_nudge_list(svc.catalog, lang, facts, targets)
        if not listing.choices:
            return Out(listing.text)
        rows = [[(choice.label, NudgePick(choice.prompt_id).encode())] for choice in listing.choices]
        return Out(listing.text, keyboard(rows))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def on_nudge_button(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    pressed = NudgePick.of(update)

    async def work(session: AsyncSession) -> Pressed:
        access = await require_facilitator(session, update, now)
        lang = access.sender.lang
        if not isinstance(access, Facilitating) or pressed is None:
            return Pressed(lang, "button.stale")
        process = access.process
        count, at = await outbox.nudge(session, process=process, prompt_id=pressed.prompt_id, now=now)
        if at is None:
            return Pressed(lang, "nudge.closed")
        if not count:
            return Pressed(lang, "nudge.nobody_short")
        if at > now:
            facts = (await outbox.process_facts(session, [process.id]))[process.id]
            when = format_local(svc.catalog, lang, at, facts.tz, WHEN)
            return Pressed(lang, out=Out(svc.tn(lang, "nudge.sent_later", count, when=when)))
        return Pressed(lang, out=Out(svc.tn(lang, "nudge.sent", count)))

    await (await svc.db.run(work)).settle(update, svc)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("announce", on_announce, filters=private))
    app.add_handler(CommandHandler("nudge", on_nudge, filters=private))
    app.add_handler(CallbackQueryHandler(on_announce_button, pattern=AnnounceChoice.pattern()))
    app.add_handler(CallbackQueryHandler(on_nudge_button, pattern=NudgePick.pattern()))
