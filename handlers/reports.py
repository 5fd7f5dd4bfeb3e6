"""Facilitator reports and care of the process: /digest, /export, /loop and /hide.

Only a facilitator of the process gets anything: the process is the one of their active membership
(buttons name their process and are checked against the sender's facilitator membership of it).
Everyone else gets the same polite refusal, whatever they asked, so nothing leaks, not even counts.

Callback prefixes: ``dg`` (digest: export button), ``lp`` (closing the loop: send or cancel),
``hd`` (moderation: hide one of several references, restore a hidden one).
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Message, MessageOriginHiddenUser, MessageOriginUser, Update
from telegram.constants import ChatAction
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx, Services
from bot.domain.text import shorten
from bot.domain.timing import parse_duration
from bot.jobs.digest_job import DIGEST_RETRY, render_bundle, send_again_later, send_digest
from bot.jobs.export_job import start_export
from bot.jobs.outgoing import show_action
from bot.render.labels import Labels
from bot.services import digest as digests
from bot.services import moderation
from bot.services.outbox import broadcast, eligible_count
from bot.services.processes import get_process
from handlers import dialogue
from handlers.callbacks import DigestExport, HideChoice, LoopChoice
from handlers.common import (
    Button,
    Who,
    answer_callback,
    edit_callback_message,
    keyboard,
    reply,
    who,
)
from handlers.dialogue import Form
from handlers.flows import Input, Out, Pressed, Step
from messages import LANGUAGES, Html, escape
from storage.models import Membership, Submission

log = logging.getLogger(__name__)

LOOP_STEPS = ("said", "discussed", "next")
LOOP_PART_LIMIT = 1000
LOOP_ANSWER_WINDOW = timedelta(days=7)
HIDDEN_LISTED = 10
MAX_SPAN = timedelta(days=366)
_REFERENCE = re.compile(r"#(\d{1,10})\b")


def _facilitator(sender: Who) -> Membership | None:
    membership = sender.membership
    return membership if membership is not None and membership.is_facilitator else None


async def _refuse(update: Update, svc: Services, lang: str) -> None:
    if update.callback_query is not None:
        await answer_callback(update, svc.catalog.plain(lang, "report.not_facilitator"), alert=True)
    else:
        await reply(update, svc.t(lang, "report.not_facilitator"))


def _span(args: list[str]) -> timedelta | str | None:
    """``/digest 14d`` → 14 days; no argument → ``None``; anything unreadable → ``"bad"``."""
    text = "".join(args).strip()
    if not text:
        return None
    try:
        span = parse_duration(text)
    except ValueError:
        return "bad"
    if span is None or span <= timedelta(0) or span > MAX_SPAN:
        return "bad"
    return span


async def _record_command_run(
    session: AsyncSession, *, process_id: int, start: datetime, now: datetime
) -> int:
    run = await digests.record_run(
        session, process_id=process_id, trigger="command", start=start, end=now, now=now
    )
    return run.id


async def on_digest(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    span = _span(list(context.args or []))

    async def work(session: AsyncSession) -> tuple[str, tuple[int, datetime] | str]:
        sender = await who(session, update, now=now)
        membership = _facilitator(sender)
        if membership is None:
            return sender.lang, "report.not_facilitator"
        if span == "bad":
            return sender.lang, "report.bad_span"
        start = (
            now - span if isinstance(span, timedelta) else digests.default_period_start(membership.process)
        )
        return sender.lang, (membership.process_id, start)

    lang, asked = await svc.db.run(work)
    chat = update.effective_chat
    if isinstance(asked, str) or chat is None:
        await reply(update, svc.t(lang, asked if isinstance(asked, str) else "report.not_facilitator"))
        return
    process_id, start = asked
    # Built in short units of its own (bot.services.digest), so the bot keeps answering meanwhile.
    digest = await digests.build_digest(svc.db, process_id=process_id, start=start, end=now, now=now)
    if digest is None:
        await reply(update, svc.t(lang, "report.not_facilitator"))
        return
    run_id = await svc.db.run(
        lambda session: _record_command_run(session, process_id=process_id, start=start, now=now)
    )
    await show_action(context.bot, chat.id, ChatAction.UPLOAD_DOCUMENT)
    bundle = await asyncio.to_thread(render_bundle, digest, svc.catalog, lang, weekly=False)
    result = await send_digest(
        context.bot, svc.catalog, chat_id=chat.id, lang=lang, bundle=bundle, process_id=digest.process_id
    )
    svc.metrics.digests.labels(trigger="command").inc()
    again = await send_again_later(svc, run_id=run_id, chat_id=chat.id, sent=result, now=now)
    if result.notes:
        later = f"; sent again in {DIGEST_RETRY.seconds // 60} min" if again else ""
        log.warning(
            "/digest of process %d incomplete: %s%s", digest.process_id, "; ".join(result.notes), later
        )
    if result.unsent and not result.blocked:
        await reply(update, svc.t(lang, "sends.digest_partly_sent"))


async def _start_export(update: Update, context: Ctx, lang: str, process_id: int, now: datetime) -> None:
    """The export is built in the background (the bot keeps answering meanwhile) and sent here when
    it is ready; the facilitator hears at once that it is on its way."""
    svc = context.services
    chat = update.effective_chat
    if chat is None:
        return
    started = start_export(
        context.application, chat_id=chat.id, lang=lang, process_id=process_id, now=now, update=update
    )
    await context.bot.send_message(
        chat.id, svc.t(lang, "export.started" if started else "export.busy"), parse_mode="HTML"
    )


async def on_export(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, int | None]:
        sender = await who(session, update, now=now)
        membership = _facilitator(sender)
        return sender.lang, membership.process_id if membership is not None else None

    lang, process_id = await svc.db.run(work)
    if process_id is None:
        await _refuse(update, svc, lang)
        return
    await _start_export(update, context, lang, process_id, now)


async def on_digest_button(update: Update, context: Ctx) -> None:
    """``dg:x:<process>`` under a digest: the export of that process, for its facilitators."""
    svc = context.services
    now = svc.clock.now()
    pressed = DigestExport.of(update)
    process_id = pressed.process_id if pressed is not None else None
    user_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, bool]:
        sender = await who(session, update, now=now)
        if process_id is None or not sender.consented:
            return sender.lang, False
        allowed = await moderation.facilitator_membership(session, user_id=user_id, process_id=process_id)
        return sender.lang, allowed is not None

    lang, allowed = await svc.db.run(work)
    if not allowed or process_id is None:
        await _refuse(update, svc, lang)
        return
    await answer_callback(update)
    await _start_export(update, context, lang, process_id, now)


def loop_texts(svc: Services, parts: dict[str, str]) -> dict[str, str]:
    """The message in every language: the facilitator's own words under localised labels (plain
    text; the dispatcher escapes it and adds the heading)."""
    return {
        lang: "\n\n".join(
            f"{svc.catalog.plain(lang, f'loop.label.{step}')}\n{parts[step]}" for step in LOOP_STEPS
        )
        for lang in LANGUAGES
    }


async def on_loop(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> tuple[str, bool]:
        sender = await who(session, update, now=svc.clock.now())
        if _facilitator(sender) is None or sender.user is None:
            return sender.lang, False
        dialogue.save(sender.user, Form("loop", LOOP_STEPS[0]))
        return sender.lang, True

    lang, allowed = await svc.db.run(work)
    if not allowed:
        await _refuse(update, svc, lang)
        return
    await reply(update, svc.t(lang, "loop.ask_said"))


async def loop_flow(step: Step, data: Input) -> None:
    """You said → we discussed → next step, then a preview with a send button."""
    membership = _facilitator(step.sender)
    if membership is None:
        step.close()
        step.say("report.not_facilitator")
        return
    form = step.form("loop")
    current = form.step or LOOP_STEPS[0]
    collected = {key: str(value) for key, value in form.data.items()}
    if current == "confirm":
        step.say("loop.use_buttons")
        return
    text = (data.text or "").strip()
    if data.skip or not text or current not in LOOP_STEPS:
        step.say("loop.text_needed")
        return
    if len(text) > LOOP_PART_LIMIT:
        step.say("loop.too_long", length=len(text), limit=LOOP_PART_LIMIT)
        return
    collected[current] = text
    position = LOOP_STEPS.index(current)
    if position + 1 < len(LOOP_STEPS):
        following = LOOP_STEPS[position + 1]
        step.open(form.at(following, collected))
        step.say(f"loop.ask_{following}")
        return
    recipients = await eligible_count(step.session, membership.process_id)
    if recipients == 0:
        step.close()
        step.say("loop.no_participants")
        return
    step.open(form.at("confirm", collected))
    preview = escape(loop_texts(step.svc, collected)[step.lang])
    buttons = keyboard(
        [
            [(step.svc.catalog.plain(step.lang, "loop.button.send"), LoopChoice(True).encode())],
            [(step.svc.catalog.plain(step.lang, "loop.button.cancel"), LoopChoice(False).encode())],
        ]
    )
    step.outs.append(
        Out(step.svc.t(step.lang, "loop.preview", text=Html(preview), count=recipients), buttons)
    )


async def on_loop_button(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    pressed = LoopChoice.of(update)
    send = pressed is not None and pressed.confirmed

    async def work(session: AsyncSession) -> tuple[str, str | None, int]:
        sender = await who(session, update, now=now)
        form = dialogue.load(sender.user)
        membership = _facilitator(sender)
        if sender.user is None or not isinstance(form, Form) or form.flow != "loop" or form.step != "confirm":
            return sender.lang, None, 0
        dialogue.save(sender.user, None)
        if membership is None:
            return sender.lang, "report.not_facilitator", 0
        if not send:
            return sender.lang, "loop.cancelled", 0
        parts = {key: str(value) for key, value in form.data.items()}
        count = await eligible_count(session, membership.process_id)
        await broadcast(
            session,
            process_id=membership.process_id,
            kind="loop",
            texts=loop_texts(svc, parts),
            now=now,
            closes_after=LOOP_ANSWER_WINDOW,
        )
        return sender.lang, "loop.sent", count

    lang, outcome, count = await svc.db.run(work)
    if outcome is None:
        await answer_callback(update, svc.catalog.plain(lang, "button.stale"))
        return
    await answer_callback(update)
    text = svc.tn(lang, outcome, count) if outcome == "loop.sent" else svc.t(lang, outcome)
    await edit_callback_message(update, text)


def _snippet(svc: Services, lang: str, submission: Submission, limit: int = 80) -> str:
    text = submission.title if submission.kind == "idea" else submission.text
    if text:
        return shorten(text, limit)
    return svc.catalog.plain(
        lang, "hide.media", media=svc.catalog.plain(lang, f"media.{submission.media_type or 'text'}")
    )


def _references(message: Message | None) -> list[int]:
    if message is None:
        return []
    found = _REFERENCE.findall((message.text or "") + "\n" + (message.caption or ""))
    return list(dict.fromkeys(int(ref) for ref in found))


def _forward_origin(message: Message) -> tuple[int | None, datetime | None] | None:
    """Who wrote a forwarded message (when Telegram says) and when; ``None`` if not forwarded."""
    origin = message.forward_origin
    if origin is None:
        return None
    if isinstance(origin, MessageOriginUser):
        return origin.sender_user.id, origin.date
    if isinstance(origin, MessageOriginHiddenUser):
        return None, origin.date
    return None, origin.date


async def _hide(session: AsyncSession, svc: Services, lang: str, process_id: int, ref: int) -> Out:
    result = await moderation.hide(session, process_id=process_id, ref=ref)
    if result.submission is None:
        return Out(svc.t(lang, "hide.not_found", ref=ref))
    if not result.newly_hidden:
        return Out(svc.t(lang, "hide.already", ref=ref))
    return Out(svc.t(lang, "hide.done", ref=ref, snippet=_snippet(svc, lang, result.submission)))


async def _hidden_list(session: AsyncSession, svc: Services, lang: str, process_id: int, tz_name: str) -> Out:
    items, total = await moderation.hidden_submissions(session, process_id=process_id, limit=HIDDEN_LISTED)
    if not items:
        return Out(svc.t(lang, "hide.none"))
    labels = Labels(svc.catalog, lang, ZoneInfo(tz_name))
    lines = [svc.t(lang, "hide.list", count=total)]
    rows: list[list[Button]] = []
    for item in items:
        lines.append(
            svc.t(
                lang,
                "hide.list_line",
                ref=item.id,
                date=labels.day(item.created_at),
                snippet=_snippet(svc, lang, item, 60),
            )
        )
        rows.append(
            [(svc.catalog.plain(lang, "hide.button.unhide", ref=item.id), HideChoice("u", item.id).encode())]
        )
    return Out("\n".join(lines), keyboard(rows))


async def on_hide(update: Update, context: Ctx) -> None:
    """``/hide 123``, ``/hide`` as a reply to a message showing ``#123`` or to a forwarded
    submission, or bare ``/hide`` for the list of hidden ones with restore buttons."""
    svc = context.services
    message = update.effective_message
    arguments = " ".join(context.args or [])
    refs = [int(ref) for ref in re.findall(r"\d{1,10}", arguments)]
    target = message.reply_to_message if message is not None else None

    async def work(session: AsyncSession) -> tuple[str, Out | None]:
        sender = await who(session, update, now=svc.clock.now())
        membership = _facilitator(sender)
        if membership is None:
            return sender.lang, None
        lang, process_id = sender.lang, membership.process_id
        if arguments.strip() and not refs:
            return lang, Out(svc.t(lang, "hide.no_reference"))
        if refs:
            return lang, await _hide(session, svc, lang, process_id, refs[0])
        if target is not None:
            quoted = _references(target)
            if len(quoted) == 1:
                return lang, await _hide(session, svc, lang, process_id, quoted[0])
            if len(quoted) > 1:
                rows: list[list[Button]] = [
                    [(svc.catalog.plain(lang, "hide.button.hide", ref=ref), HideChoice("h", ref).encode())]
                    for ref in quoted[:8]
                ]
                return lang, Out(svc.t(lang, "hide.pick"), keyboard(rows))
            origin = _forward_origin(target)
            text = target.text or target.caption
            if origin is not None and text:
                found = await moderation.forwarded_submission(
                    session, process_id=process_id, text=text, author_id=origin[0], sent_at=origin[1]
                )
                if found is not None:
                    return lang, await _hide(session, svc, lang, process_id, found.id)
            return lang, Out(svc.t(lang, "hide.no_reference"))
        return lang, await _hidden_list(session, svc, lang, process_id, membership.process.timezone)

    lang, out = await svc.db.run(work)
    if out is None:
        await _refuse(update, svc, lang)
        return
    await reply(update, out.text, out.markup)


async def on_hide_button(update: Update, context: Ctx) -> None:
    """``hd:h:<ref>`` hides one of several references; ``hd:u:<ref>`` restores a hidden one."""
    svc = context.services
    pressed = HideChoice.of(update)
    action = pressed.action if pressed is not None else None
    ref = pressed.ref if pressed is not None else 0
    user_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> Pressed:
        sender = await who(session, update, now=svc.clock.now())
        lang = sender.lang
        if action is None or not sender.consented:
            return Pressed(lang, "button.stale")
        submission = await moderation.moderated_submission(session, user_id=user_id, ref=ref)
        if submission is None:
            return Pressed(lang, "report.not_facilitator")
        if action == "h":
            return Pressed(lang, out=await _hide(session, svc, lang, submission.process_id, ref))
        await moderation.unhide(session, submission)
        process = await get_process(session, submission.process_id)
        timezone = process.timezone if process is not None else "Europe/Helsinki"
        hidden = await _hidden_list(session, svc, lang, submission.process_id, timezone)
        return Pressed(lang, "hide.unhidden", hidden)

    pressed_result = await svc.db.run(work)
    lang, notice, out = pressed_result.lang, pressed_result.notice, pressed_result.out
    if notice == "report.not_facilitator":
        await _refuse(update, svc, lang)
        return
    await answer_callback(update, svc.catalog.plain(lang, notice, ref=ref) if notice else None)
    if out is not None:
        await edit_callback_message(update, out.text, out.markup)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("digest", on_digest, filters=private))
    app.add_handler(CommandHandler("export", on_export, filters=private))
    app.add_handler(CommandHandler("loop", on_loop, filters=private))
    app.add_handler(CommandHandler("hide", on_hide, filters=private))
    app.add_handler(CallbackQueryHandler(on_digest_button, pattern=DigestExport.pattern()))
    app.add_handler(CallbackQueryHandler(on_loop_button, pattern=LoopChoice.pattern()))
    app.add_handler(CallbackQueryHandler(on_hide_button, pattern=HideChoice.pattern()))
