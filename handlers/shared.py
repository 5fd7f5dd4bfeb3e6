"""Dialogue across silos in chat: the share button, ``/shared``, recognise and respond, relays.

* The share button under an observation's acknowledgement shares it (the first time after a
  confirmation of how it is shown, in place of the acknowledgement) or unshares it.
* ``/shared`` lists what others shared, one message per item (so photos and buttons work), five at
  a time; ``/shared mute`` and ``/shared unmute`` close and open one's own shares to responses.
* "Respond" opens a dialogue: the next message goes to the author through the outbox
  (:mod:`bot.services.responses`); replying to a relayed message answers it.
* :func:`upkeep` (a leader duty) edits copies of withdrawn observations to say they were removed,
  and the authors' acknowledgements with the recognition count, at most once an hour.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ExtBot, filters

from bot.context import Ctx, Services
from bot.domain.process import format_local
from bot.domain.text import shorten
from bot.render.sharing import confirm_text, item_text, relay_text, removed_text
from bot.render.sharing import shown as shown_label
from bot.services import answers, contributions, responses, sharing
from bot.services.contributions import THEMES
from bot.services.processes import get_process
from handlers.callbacks import HighlightSupport, Recognise, Respond, SharedPage, ShareToggle
from handlers.capture import observation_out
from handlers.common import Button, Who, answer_callback, keyboard, reply, who
from handlers.dialogue import Responding, load, save
from handlers.flows import Input, Out, Pressed, Step
from storage.models import Membership, Submission

log = logging.getLogger(__name__)

TEXT_LIMIT = 3500
CAPTION_LIMIT = 900


# --- the share button under an acknowledgement -------------------------------------------------


async def _ack_out(
    session: AsyncSession, svc: Services, lang: str, submission: Submission, now: datetime
) -> Out:
    membership = await session.get(Membership, submission.membership_id)
    can_answer = False
    if membership is not None and submission.kind == "observation":
        can_answer = bool(await answers.open_deliveries(session, membership=membership, now=now))
    shared = await sharing.display(session, submission)
    return observation_out(svc, lang, submission, can_answer=can_answer, shared=shared)


def _confirm_out(svc: Services, lang: str, submission_id: int, question: sharing.NeedsConfirmation) -> Out:
    plain = svc.catalog.plain
    first, *coarser = question.levels
    rows: list[list[Button]] = [
        [(plain(lang, "share.button.confirm"), ShareToggle(submission_id, "l", first).encode())]
    ]
    for level in coarser:
        rows.append([(plain(lang, f"share.button.{level}"), ShareToggle(submission_id, "l", level).encode())])
    rows.append([(plain(lang, "share.button.cancel"), ShareToggle(submission_id, "n").encode())])
    return Out(confirm_text(svc.catalog, lang, question.shown[0]), keyboard(rows))


async def _share_pressed(
    session: AsyncSession,
    svc: Services,
    sender: Who,
    pressed: ShareToggle,
    ack: tuple[int, int] | None,
    now: datetime,
) -> Pressed:
    lang = sender.lang
    owned = await contributions.own_submission(
        session, submission_id=pressed.submission_id, user_id=sender.user_id
    )
    if isinstance(owned, str):
        return Pressed(lang, "button.stale" if owned == "gone" else "button.not_yours")
    membership = await session.get(Membership, owned.membership_id)
    if membership is None:
        return Pressed(lang, "button.stale")
    if pressed.action == "n":
        return Pressed(lang, "share.cancelled", await _ack_out(session, svc, lang, owned, now))
    if pressed.action == "l" and pressed.level is not None:
        change = await sharing.confirm_share(
            session, submission=owned, membership=membership, level=pressed.level, ack=ack, now=now
        )
    else:
        toggled = await sharing.toggle_share(
            session, submission=owned, membership=membership, ack=ack, now=now
        )
        if isinstance(toggled, sharing.NeedsConfirmation):
            return Pressed(lang, out=_confirm_out(svc, lang, owned.id, toggled))
        change = toggled
    if change.refused is not None:
        return Pressed(lang, "share.media" if change.refused == "media" else "button.stale")
    notice = "share.done" if change.share is not None else "share.undone"
    return Pressed(lang, notice, await _ack_out(session, svc, lang, owned, now))


async def on_share_button(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = ShareToggle.of(update)
    query = update.callback_query
    ack = (query.message.chat.id, query.message.message_id) if query and query.message else None
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Pressed:
        sender = await who(session, update, now=now)
        if pressed is None:
            return Pressed(sender.lang, "button.stale")
        return await _share_pressed(session, svc, sender, pressed, ack, now)

    await (await svc.db.run(work)).settle(update, svc)


# --- /shared -----------------------------------------------------------------------------------


@dataclass
class Listing:
    lang: str
    intro: Out | None = None
    page: sharing.SharedPage | None = None
    theme: str | None = None
    viewer_id: int | None = None
    items: list[tuple[sharing.SharedItem, Out]] = field(default_factory=list)


def _item_out(svc: Services, lang: str, item: sharing.SharedItem) -> Out:
    plain = svc.catalog.plain
    text = item_text(
        svc.catalog,
        lang,
        who=item.shown,
        theme=item.theme,
        text=shorten(item.text, CAPTION_LIMIT if item.media_type else TEXT_LIMIT) if item.text else None,
    )
    recognise = ("✓ " if item.recognised else "") + plain(lang, "shared.button.recognise")
    row: list[Button] = [(recognise, Recognise(item.submission_id).encode())]
    if item.respondable:
        row.append((plain(lang, "shared.button.respond"), Respond(item.submission_id).encode()))
    return Out(text, keyboard([row]))


def _filters(svc: Services, lang: str, theme: str | None) -> InlineKeyboardMarkup:
    plain = svc.catalog.plain

    def button(value: str | None) -> Button:
        label = plain(lang, f"theme.{value}") if value else plain(lang, "shared.button.all")
        return (("✓ " if value == theme else "") + label, SharedPage(0, value).encode())

    return keyboard([[button(None), *(button(t) for t in THEMES[:2])], [button(t) for t in THEMES[2:]]])


async def _listing(
    session: AsyncSession, svc: Services, sender: Who, theme: str | None, offset: int
) -> Listing:
    lang = sender.lang
    viewer = sender.participant
    if viewer is None:
        return Listing(lang, Out(svc.t(lang, "start.ask_facilitator")))
    page = await sharing.shared_page(session, viewer=viewer, theme=theme, offset=offset)
    listing = Listing(lang, page=page, theme=theme, viewer_id=viewer.id)
    if offset == 0:
        if page.total == 0:
            key = "shared.none_theme" if theme else "shared.none"
            listing.intro = Out(svc.t(lang, key), _filters(svc, lang, theme) if theme else None)
            return listing
        listing.intro = Out(svc.t(lang, "shared.header", total=page.total), _filters(svc, lang, theme))
    listing.items = [(item, _item_out(svc, lang, item)) for item in page.items]
    return listing


async def _send_item(message: Message, item: sharing.SharedItem, out: Out) -> Message:
    if item.media_type == "photo" and item.file_id:
        return await message.reply_photo(
            item.file_id, caption=out.text, parse_mode=ParseMode.HTML, reply_markup=out.markup, do_quote=False
        )
    return await message.reply_text(
        out.text,
        parse_mode=ParseMode.HTML,
        reply_markup=out.markup,
        disable_web_page_preview=True,
        do_quote=False,
    )


async def _show(update: Update, svc: Services, listing: Listing) -> None:
    """Send the listing, one message per item, and remember each copy (to edit it if withdrawn)."""
    message = update.effective_message
    if message is None:
        return
    if listing.intro is not None:
        await reply(update, listing.intro.text, listing.intro.markup)
    copies: list[sharing.CopySent] = []
    try:
        for item, out in listing.items:
            sent = await _send_item(message, item, out)
            copies.append(
                sharing.CopySent(
                    item.submission_id, sent.chat_id, sent.message_id, item.media_type is not None
                )
            )
    finally:
        viewer_id = listing.viewer_id
        if copies and viewer_id is not None:
            now = svc.clock.now()
            await svc.db.run(lambda s: sharing.record_copies(s, viewer_id=viewer_id, copies=copies, now=now))
    page = listing.page
    if page is not None and page.offset + len(page.items) < page.total:
        shown_so_far = page.offset + len(page.items)
        more = keyboard(
            [
                [
                    (
                        svc.catalog.plain(listing.lang, "shared.button.more"),
                        SharedPage(shown_so_far, listing.theme).encode(),
                    )
                ]
            ]
        )
        await reply(update, svc.t(listing.lang, "shared.more", shown=shown_so_far, total=page.total), more)


async def _mute(update: Update, svc: Services, muted: bool) -> None:
    async def work(session: AsyncSession) -> str:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None:
            return svc.t(sender.lang, "start.ask_facilitator")
        await sharing.set_muted(session, sender.participant, muted=muted)
        return svc.t(sender.lang, "shared.mute_on" if muted else "shared.mute_off")

    await reply(update, await svc.db.run(work))


async def on_shared(update: Update, context: Ctx) -> None:
    svc = context.services
    argument = (context.args or [""])[0].lower() if context.args else ""
    if argument in {"mute", "unmute"}:
        await _mute(update, svc, argument == "mute")
        return

    async def work(session: AsyncSession) -> Listing:
        return await _listing(session, svc, await who(session, update, now=svc.clock.now()), None, 0)

    await _show(update, svc, await svc.db.run(work))


async def on_shared_page(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = SharedPage.of(update) or SharedPage(0, None)

    async def work(session: AsyncSession) -> Listing:
        sender = await who(session, update, now=svc.clock.now())
        return await _listing(session, svc, sender, pressed.theme, pressed.offset)

    listing = await svc.db.run(work)
    await answer_callback(update)
    await _show(update, svc, listing)


# --- recognise and respond ---------------------------------------------------------------------


def _toggled(markup: InlineKeyboardMarkup | None, data: str, on: bool) -> InlineKeyboardMarkup | None:
    """The pressed message's buttons with the one carrying ``data`` ticked (``on``) or not: the
    rest of the message (a /shared item, a highlights message) stays as it is."""
    if markup is None:
        return None
    rows = []
    for row in markup.inline_keyboard:
        buttons = []
        for button in row:
            if button.callback_data == data:
                label = button.text.removeprefix("✓ ")
                button = InlineKeyboardButton(("✓ " if on else "") + label, callback_data=data)
            buttons.append(button)
        rows.append(buttons)
    return InlineKeyboardMarkup(rows)


async def _retick(update: Update, on: bool | None) -> None:
    query = update.callback_query
    if on is None or query is None or query.message is None or not isinstance(query.message, Message):
        return
    markup = _toggled(query.message.reply_markup, query.data or "", on)
    if markup is None or markup == query.message.reply_markup:
        return
    try:
        await query.edit_message_reply_markup(markup)
    except BadRequest as error:
        log.info("buttons not updated: %s", error.message)


async def on_recognise(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = Recognise.of(update)
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, bool | None]:
        sender = await who(session, update, now=now)
        if pressed is None or sender.participant is None:
            return sender.lang, None
        item = await sharing.toggle_recognition(
            session, viewer=sender.participant, submission_id=pressed.submission_id, now=now
        )
        return sender.lang, item.recognised if item is not None else None

    lang, on = await svc.db.run(work)
    await answer_callback(update, None if on is not None else svc.catalog.plain(lang, "shared.gone"))
    await _retick(update, on)


async def on_highlight_support(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = HighlightSupport.of(update)
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, bool | None]:
        sender = await who(session, update, now=now)
        if pressed is None or sender.participant is None:
            return sender.lang, None
        return sender.lang, await contributions.toggle_support(
            session, membership=sender.participant, idea_id=pressed.idea_id, now=now
        )

    lang, on = await svc.db.run(work)
    notice = "button.stale" if on is None else "ideas.supported" if on else "ideas.unsupported"
    await answer_callback(update, svc.catalog.plain(lang, notice))
    await _retick(update, on)


async def on_respond(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = Respond.of(update)
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Pressed:
        sender = await who(session, update, now=now)
        lang = sender.lang
        if pressed is None or sender.participant is None or sender.user is None:
            return Pressed(lang, "button.stale")
        plan = await responses.plan_first_response(
            session, sender=sender.participant, submission_id=pressed.submission_id
        )
        if isinstance(plan, str):
            return Pressed(lang, "shared.muted" if plan == "muted" else "shared.gone")
        previous = load(sender.user)
        keep = previous.to_json() if previous is not None and not isinstance(previous, Responding) else None
        save(sender.user, Responding(pressed.submission_id, keep))
        shown = shown_label(svc.catalog, lang, plan.shown)
        return Pressed(lang, out=Out(svc.t(lang, "respond.ask", shown=shown)))

    result = await svc.db.run(work)
    await answer_callback(update, svc.catalog.plain(result.lang, result.notice) if result.notice else None)
    if result.out is not None:
        await reply(update, result.out.text)


async def _relay(step: Step, plan: responses.RelayPlan, text: str, sent_key: str) -> None:
    rendered = relay_text(
        step.svc.catalog,
        plan.recipient_language,
        who=plan.shown,
        observation=plan.submission.text,
        text=text,
        first=plan.first,
    )
    delivery = await responses.send(step.session, plan, text=text, rendered=rendered, now=step.now)
    if delivery.due_at > step.now:
        process = await get_process(step.session, plan.submission.process_id)
        tz = ZoneInfo(process.timezone if process is not None else "Europe/Helsinki")
        when = format_local(step.svc.catalog, step.lang, delivery.due_at, tz, "facilitator.format.when")
        step.say("respond.queued", when=when)
    else:
        step.say(sent_key)


async def respond_flow(step: Step, data: Input) -> None:
    """The message after "respond": relayed to the author, then any earlier dialogue goes on."""
    dialogue = step.dialogue
    membership = step.sender.participant
    assert isinstance(dialogue, Responding)
    assert membership is not None
    assert step.sender.user is not None
    if data.skip:
        step.close()
        step.say("flow.cancelled")
        return
    if not data.text or data.media is not None:
        step.say("respond.text_only")
        return
    step.close()
    if dialogue.previous:
        step.sender.user.state = dict(dialogue.previous)
    plan = await responses.plan_first_response(
        step.session, sender=membership, submission_id=dialogue.submission or 0
    )
    if isinstance(plan, str):
        step.say("shared.muted" if plan == "muted" else "shared.gone")
        return
    await _relay(step, plan, data.text, "respond.sent")


async def reply_to_relay(step: Step, data: Input) -> bool:
    """A reply to a relayed response goes back to its sender; False when it is not such a reply."""
    if data.reply_to_message_id is None:
        return False
    found = await responses.relay_replied_to(
        step.session, user_id=step.sender.user_id, chat_id=data.chat_id, message_id=data.reply_to_message_id
    )
    if found is None:
        return False
    parent, membership = found
    if not data.text or data.media is not None:
        step.say("respond.text_only")
        return True
    plan = await responses.plan_reply(step.session, sender=membership, parent=parent)
    if isinstance(plan, str):
        step.say("shared.muted" if plan == "muted" else "respond.gone")
        return True
    await _relay(step, plan, data.text, "respond.reply_sent")
    return True


# --- upkeep (a leader duty) --------------------------------------------------------------------


async def _edit_removed(svc: Services, bot: ExtBot[Any], copy: Any, lang: str) -> bool:
    """Edit one withdrawn copy; True when it needs no more attention (edited, or gone for good)."""
    text = removed_text(svc.catalog, lang)
    try:
        if copy.media:
            await bot.edit_message_caption(
                chat_id=copy.chat_id, message_id=copy.message_id, caption=text, parse_mode=ParseMode.HTML
            )
        else:
            await bot.edit_message_text(
                text, chat_id=copy.chat_id, message_id=copy.message_id, parse_mode=ParseMode.HTML
            )
    except (BadRequest, Forbidden) as error:
        log.info("a withdrawn shared copy could not be edited: %s", type(error).__name__)
    except TelegramError as error:
        log.warning("editing a withdrawn shared copy failed, will retry: %s", type(error).__name__)
        return False
    return True


def _ack_edited(ack: sharing.AckDue, now: datetime) -> Callable[[AsyncSession], Awaitable[None]]:
    async def work(session: AsyncSession) -> None:
        await sharing.ack_edited(session, share_id=ack.share_id, count=ack.shared.recognised, now=now)

    return work


async def upkeep(svc: Services, bot: ExtBot[Any], now: datetime) -> None:
    """Withdrawn copies say they were removed; acknowledgements show their recognition count."""
    copies = await svc.db.run(lambda s: sharing.withdrawn_copies(s))
    done = [copy.id for copy, lang in copies if await _edit_removed(svc, bot, copy, lang)]
    if done:
        await svc.db.run(lambda s: sharing.drop_copies(s, done))
    acks = await svc.db.run(lambda s: sharing.acks_due(s, now=now))
    for ack in acks:
        out = observation_out(svc, ack.language, ack.submission, shared=ack.shared)
        try:
            await bot.edit_message_text(
                out.text,
                chat_id=ack.chat_id,
                message_id=ack.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=out.markup,
            )
        except (BadRequest, Forbidden) as error:
            log.info("an acknowledgement could not show its recognitions: %s", type(error).__name__)
        except TelegramError as error:
            log.warning("editing an acknowledgement failed, will retry: %s", type(error).__name__)
            continue
        await svc.db.run(_ack_edited(ack, now))


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("shared", on_shared, filters=private))
    app.add_handler(CallbackQueryHandler(on_share_button, pattern=ShareToggle.pattern()))
    app.add_handler(CallbackQueryHandler(on_shared_page, pattern=SharedPage.pattern()))
    app.add_handler(CallbackQueryHandler(on_recognise, pattern=Recognise.pattern()))
    app.add_handler(CallbackQueryHandler(on_respond, pattern=Respond.pattern()))
    app.add_handler(CallbackQueryHandler(on_highlight_support, pattern=HighlightSupport.pattern()))
