"""Facilitator commands (/process, /schedule, /programme, /participants, /announce, /nudge) and the
participant's side of the programme: quick-reply buttons on check-ins, with an optional comment.

Every facilitator command is authorised against the sender's *active* membership: it must be a
facilitator membership of that process, otherwise the answer is a polite refusal that names
nothing of any process.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from telegram import InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Ctx, Services
from bot.domain.programme import ProcessFileError, dump_process, parse_process, problem_text
from bot.domain.states import DELIVERED_STATES
from bot.render.prompt import (
    AD_HOC_KINDS,
    KIND_ICONS,
    QUICK_REPLY_PREFIX,
    ProcessFacts,
    format_local,
    localized,
    prompt_snippet,
    quick_reply_buttons,
)
from bot.services import answers
from bot.services import facilitator_views as views
from bot.services import outbox as scheduler
from bot.services.processes import get_process
from handlers import capture
from handlers.common import (
    Button,
    Who,
    answer_callback,
    callback_parts,
    edit_callback_message,
    keyboard,
    reply,
    who,
)
from handlers.flows import Input, Out, Step, flow, settle_callback
from messages import LANGUAGES, Html
from storage.models import Delivery, Process, Submission

log = logging.getLogger(__name__)

SCHEDULE_PAGE = 8
NUDGE_CHOICES = 6
RATE_SNIPPET = 48
LIST_LIMIT = 20
MAX_PROBLEMS = 25
MAX_ANNOUNCEMENT = 3500
MAX_UPLOAD_BYTES = 1_000_000
MESSAGE_BUDGET = 4000
"""Characters of HTML that safely fit in one Telegram message (4096 after parsing)."""
YAML_DOCUMENT = (
    filters.Document.FileExtension("yaml")
    | filters.Document.FileExtension("yml")
    | filters.Document.MimeType("application/x-yaml")
    | filters.Document.MimeType("application/yaml")
    | filters.Document.MimeType("text/yaml")
    | filters.Document.MimeType("text/x-yaml")
)
WHEN = "facilitator.format.when"


# --- who may do what -----------------------------------------------------------------------------


async def facilitated_process(
    session: AsyncSession, update: Update, now: datetime
) -> tuple[Who, Process | None]:
    """The sender and, if their active membership is a facilitator's, its process (else None)."""
    sender = await who(session, update, now=now)
    membership = sender.membership
    if not sender.consented or membership is None or not membership.is_facilitator:
        return sender, None
    return sender, await get_process(session, membership.process_id)


def refusal(svc: Services, lang: str) -> Out:
    return Out(svc.t(lang, "facilitator.only"))


def role_label(svc: Services, lang: str, role: str | None) -> str:
    return svc.catalog.plain(lang, f"role.{role or 'other'}")


# --- /process ----------------------------------------------------------------------------------


def render_roster_lines(svc: Services, lang: str, roster: views.Roster) -> list[str]:
    lines: list[str] = []
    organisations = list(roster.organisations) + sorted(
        {org for org, _ in roster.groups} - set(roster.organisations)
    )
    for organisation in organisations:
        roles = [(role, count) for (org, role), count in roster.groups.items() if org == organisation]
        total = sum(count for _, count in roles)
        if not total:
            continue
        order = {"management": 0, "employee": 1, "elected": 2, "other": 3}
        roles.sort(key=lambda pair: order.get(pair[0], 9))
        parts = ", ".join(
            svc.catalog.plain(lang, "facilitator.role_count", role=role_label(svc, lang, role), count=count)
            for role, count in roles
        )
        lines.append(svc.t(lang, "facilitator.org_line", organisation=organisation, count=total, roles=parts))
    return lines


def member_label(svc: Services, lang: str, line: views.MemberLine) -> str:
    if line.name:
        return line.name
    return svc.catalog.plain(
        lang,
        "facilitator.member_unnamed",
        organisation=line.organisation or "—",
        role=role_label(svc, lang, line.role),
    )


def render_overview(svc: Services, lang: str, data: views.Overview, now: datetime) -> str:
    facts = data.facts
    parts = [svc.t(lang, "process.title", process=facts.name)]
    phase_line = svc.t(
        lang,
        "process.phase",
        phase=data.phase,
        phase_name=svc.catalog.plain(lang, f"prompt.phase.{data.phase}"),
    )
    end = format_local(svc.catalog, lang, facts.end_at, facts.tz, WHEN)
    if data.ended:
        phase_line = svc.t(lang, "process.ended", end=end)
    elif data.next_workshop is not None:
        workshop = data.next_workshop
        phase_line += "\n" + svc.t(
            lang,
            "process.next_workshop",
            number=workshop.number,
            when=format_local(
                svc.catalog, lang, workshop.starts_at, facts.tz, "programme.format.workshop_time"
            ),
            place=workshop.place or svc.catalog.plain(lang, "programme.place.unknown"),
        )
    else:
        phase_line += "\n" + svc.t(lang, "process.no_more_workshops", end=end)
    parts.append(phase_line)

    roster = data.roster
    people = [svc.t(lang, "process.participants", count=roster.participants)]
    people += render_roster_lines(svc, lang, roster)
    if roster.paused or roster.incomplete:
        people.append(
            svc.t(lang, "process.paused_incomplete", paused=roster.paused, incomplete=roster.incomplete)
        )
    parts.append("\n".join(people))

    if roster.unreachable:
        lines = [svc.t(lang, "process.unreachable", count=len(roster.unreachable))]
        lines += [
            svc.t(lang, "process.list_line", item=member_label(svc, lang, line))
            for line in roster.unreachable[:LIST_LIMIT]
        ]
        if len(roster.unreachable) > LIST_LIMIT:
            lines.append(svc.t(lang, "facilitator.and_more", count=len(roster.unreachable) - LIST_LIMIT))
        parts.append("\n".join(lines))

    if data.rates:
        lines = [svc.t(lang, "process.rates")]
        for rate in data.rates:
            lines.append(
                svc.t(
                    lang,
                    "process.rate_line",
                    when=format_local(svc.catalog, lang, rate.last_sent, facts.tz, WHEN),
                    prompt=prompt_snippet(svc.catalog, lang, rate.prompt, facts, RATE_SNIPPET),
                    answered=rate.answered,
                    sent=rate.sent,
                    percent=rate.percent,
                )
            )
        parts.append("\n".join(lines))
    else:
        parts.append(svc.t(lang, "process.rates_none"))
    return "\n\n".join(parts)


async def on_process(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        sender, process = await facilitated_process(session, update, now)
        if process is None:
            return refusal(svc, sender.lang)
        data = await views.overview(session, process, now)
        return Out(render_overview(svc, sender.lang, data, now))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


# --- /schedule -----------------------------------------------------------------------------------


def render_schedule(
    svc: Services, lang: str, facts: ProcessFacts, items: list[views.Upcoming], offset: int
) -> Out:
    page = items[offset : offset + SCHEDULE_PAGE]
    if not page:
        return Out(svc.t(lang, "schedule.empty"))
    lines = [svc.t(lang, "schedule.title", timezone=facts.tz.key)]
    for item in page:
        prompt = item.prompt
        label = (
            svc.catalog.plain(lang, f"prompt.kind.{prompt.kind}")
            if prompt.kind in AD_HOC_KINDS
            else svc.catalog.plain(
                lang,
                "schedule.phase_kind",
                phase=prompt.phase,
                kind=svc.catalog.plain(lang, f"prompt.kind.{prompt.kind}"),
            )
        )
        lines.append(
            svc.t(
                lang,
                "schedule.line",
                when=format_local(svc.catalog, lang, item.at, facts.tz, WHEN),
                icon=KIND_ICONS.get(prompt.kind, "📣"),
                label=label,
                prompt=prompt_snippet(svc.catalog, lang, prompt, facts, 90),
                count=item.recipients,
            )
        )
    rest = len(items) - offset - len(page)
    markup = None
    if rest > 0:
        markup = keyboard(
            [[(svc.catalog.plain(lang, "schedule.more", count=rest), f"sc:{offset + SCHEDULE_PAGE}")]]
        )
    return Out("\n\n".join(lines), markup)


async def _schedule(update: Update, context: Ctx, offset: int) -> tuple[str, Out]:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, Out]:
        sender, process = await facilitated_process(session, update, now)
        if process is None:
            return sender.lang, refusal(svc, sender.lang)
        items = await views.upcoming(session, process, now)
        facts = (await scheduler.process_facts(session, [process.id]))[process.id]
        return sender.lang, render_schedule(svc, sender.lang, facts, items, offset)

    return await svc.db.run(work)


async def on_schedule(update: Update, context: Ctx) -> None:
    _lang, out = await _schedule(update, context, 0)
    await reply(update, out.text, out.markup)


async def on_schedule_page(update: Update, context: Ctx) -> None:
    parts = callback_parts(update)
    offset = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else 0
    _lang, out = await _schedule(update, context, offset)
    await answer_callback(update)
    await edit_callback_message(update, out.text, out.markup)


# --- /participants -----------------------------------------------------------------------------------


def render_participants(svc: Services, lang: str, process: Process, roster: views.Roster) -> str:
    if not roster.participants and not roster.incomplete:
        return svc.t(
            lang, "participants.none", process=process.name, link=svc.invite_link(process.participant_code)
        )
    parts = [
        svc.t(
            lang,
            "participants.title",
            process=process.name,
            count=roster.participants,
            paused=roster.paused,
            unreachable=len(roster.unreachable),
            incomplete=roster.incomplete,
        ),
        "\n".join(render_roster_lines(svc, lang, roster)),
    ]
    if roster.named:
        lines = [svc.t(lang, "participants.named")]
        for organisation, names in roster.named.items():
            shown = ", ".join(names[:LIST_LIMIT])
            if len(names) > LIST_LIMIT:
                shown += " " + svc.catalog.plain(lang, "facilitator.and_more", count=len(names) - LIST_LIMIT)
            lines.append(svc.t(lang, "participants.named_line", organisation=organisation, names=shown))
        parts.append("\n".join(lines))
    parts.append(svc.t(lang, "participants.privacy"))
    return "\n\n".join(part for part in parts if part)


async def on_participants(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        sender, process = await facilitated_process(session, update, now)
        if process is None:
            return refusal(svc, sender.lang)
        roster = await views.roster(session, process)
        return Out(render_participants(svc, sender.lang, process, roster))

    out = await svc.db.run(work)
    await reply(update, out.text)


# --- /programme --------------------------------------------------------------------------------------


def programme_file_name(svc: Services, lang: str, process: Process) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", process.name.lower().translate(str.maketrans("äöåé", "aoae"))).strip(
        "-"
    )
    return f"{slug[:40] or 'valitupa'}-{svc.catalog.plain(lang, 'programme_chat.file_suffix')}.yaml"


async def on_programme(update: Update, context: Ctx) -> None:
    """Send the current programme as a YAML document to edit and send back."""
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, Out | None, str | None, str]:
        sender, process = await facilitated_process(session, update, now)
        if process is None:
            return sender.lang, refusal(svc, sender.lang), None, ""
        try:
            document = dump_process(
                parse_process(process.source_yaml, source=process.name), catalog=svc.catalog
            )
        except (ProcessFileError, ValueError, KeyError) as error:
            log.warning(
                "the stored programme of process %d cannot be read: %s", process.id, type(error).__name__
            )
            return sender.lang, Out(svc.t(sender.lang, "programme_chat.source_broken")), None, ""
        caption = svc.t(sender.lang, "programme_chat.caption", process=process.name)
        return sender.lang, Out(caption), document, programme_file_name(svc, sender.lang, process)

    _lang, out, document, file_name = await svc.db.run(work)
    message = update.effective_message
    if document is None or message is None:
        if out is not None:
            await reply(update, out.text)
        return
    assert out is not None
    await message.reply_document(
        document=document.encode("utf-8"), filename=file_name, caption=out.text, parse_mode=ParseMode.HTML
    )


async def on_programme_download(update: Update, context: Ctx) -> None:
    await answer_callback(update)
    await on_programme(update, context)


def problems_text(svc: Services, lang: str, error: ProcessFileError) -> str:
    """Every problem with its line and field, as many as fit in one message, then how many more."""
    rendered = [
        svc.t(lang, "process.list_line", item=Html(problem_text(svc.catalog, lang, p)))
        for p in error.problems
    ]
    shown = min(len(rendered), MAX_PROBLEMS)
    while True:
        lines = rendered[:shown]
        if shown < len(rendered):
            lines.append(svc.t(lang, "facilitator.and_more", count=len(rendered) - shown))
        text = svc.t(lang, "programme_chat.invalid", problems=Html("\n".join(lines)))
        if len(text) <= MESSAGE_BUDGET or shown <= 1:
            return text
        shown //= 2


async def on_document(update: Update, context: Ctx) -> None:
    """A YAML file from a facilitator replaces the programme; anyone else's file is captured as usual."""
    svc = context.services
    message = update.effective_message
    document = message.document if message is not None else None
    now = svc.clock.now()

    async def check(session: AsyncSession) -> tuple[str, int | None]:
        sender, process = await facilitated_process(session, update, now)
        return sender.lang, process.id if process is not None else None

    lang, process_id = await svc.db.run(check)
    if process_id is None or document is None or message is None:
        await capture.on_message(update, context)
        return
    if document.file_size is not None and document.file_size > MAX_UPLOAD_BYTES:
        await reply(update, svc.t(lang, "programme_chat.too_big", limit=MAX_UPLOAD_BYTES // 1000))
        return
    try:
        telegram_file = await context.bot.get_file(document.file_id)
        content = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as error:
        log.warning("could not download an uploaded programme: %s", type(error).__name__)
        await reply(update, svc.t(lang, "programme_chat.unreadable"))
        return
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        await reply(update, svc.t(lang, "programme_chat.unreadable"))
        return
    try:
        spec = parse_process(text, source=document.file_name or "upload")
    except ProcessFileError as error:
        await reply(update, problems_text(svc, lang, error))
        return

    async def apply(session: AsyncSession) -> tuple[str, Out]:
        sender, process = await facilitated_process(session, update, now)
        if process is None or process.id != process_id:
            return sender.lang, refusal(svc, sender.lang)
        change = await scheduler.replace_programme(session, process, spec, text, now)
        return sender.lang, Out(
            svc.t(
                sender.lang,
                "programme_chat.replaced",
                process=process.name,
                added=len(change.added),
                changed=len(change.changed),
                removed=len(change.removed),
                planned=change.plan.planned,
            ),
            keyboard([[(svc.catalog.plain(sender.lang, "programme_chat.button.download"), "pg:dl")]]),
        )

    _lang, out = await svc.db.run(apply)
    await reply(update, out.text, out.markup)


# --- /announce ---------------------------------------------------------------------------------------


async def on_announce(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        sender, process = await facilitated_process(session, update, now)
        if process is None or sender.user is None:
            return refusal(svc, sender.lang)
        if not await scheduler.eligible_count(session, process.id):
            return Out(svc.t(sender.lang, "announce.nobody"))
        sender.user.state = {"flow": "announce", "step": "text"}
        return Out(svc.t(sender.lang, "announce.ask"))

    out = await svc.db.run(work)
    await reply(update, out.text)


@flow("announce")
async def announce_flow(step: Step, data: Input) -> None:
    """The facilitator's announcement text, then a preview with the number of recipients."""
    membership = step.sender.membership
    if membership is None or not membership.is_facilitator:
        step.set_state(None)
        step.say("facilitator.only")
        return
    if data.skip:
        step.set_state(None)
        step.say("announce.cancelled")
        return
    text = (data.text or "").strip()
    if not text:
        step.say("announce.text_needed")
        return
    if len(text) > MAX_ANNOUNCEMENT:
        step.say("announce.too_long", length=len(text), limit=MAX_ANNOUNCEMENT)
        return
    count = await scheduler.eligible_count(step.session, membership.process_id)
    step.set_state("announce", step="confirm", text=text)
    plain = step.svc.catalog.plain
    step.say(
        "announce.preview",
        keyboard(
            [
                [(plain(step.lang, "announce.button.send", count=count), "an:send")],
                [(plain(step.lang, "announce.button.cancel"), "an:no")],
            ]
        ),
        text=text,
        count=count,
    )


async def on_announce_button(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    confirmed = callback_parts(update)[1:2] == ["send"]

    async def work(session: AsyncSession) -> tuple[str, str | None, Out | None]:
        sender, process = await facilitated_process(session, update, now)
        state = dict(sender.user.state or {}) if sender.user is not None else {}
        if process is None or sender.user is None:
            return sender.lang, "button.stale", None
        if state.get("flow") != "announce" or state.get("step") != "confirm" or not state.get("text"):
            return sender.lang, "button.stale", None
        sender.user.state = None
        if not confirmed:
            return sender.lang, None, Out(svc.t(sender.lang, "announce.cancelled"))
        text = str(state["text"])
        prompt = await scheduler.broadcast(
            session,
            process_id=process.id,
            kind="announcement",
            texts=dict.fromkeys(LANGUAGES, text),
            now=now,
        )
        count = await scheduler.eligible_count(session, process.id)
        if prompt.due_at > now:
            facts = (await scheduler.process_facts(session, [process.id]))[process.id]
            when = format_local(svc.catalog, sender.lang, prompt.due_at, facts.tz, WHEN)
            return sender.lang, None, Out(svc.t(sender.lang, "announce.sent_later", count=count, when=when))
        return sender.lang, None, Out(svc.t(sender.lang, "announce.sent", count=count))

    lang, notice, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=notice, out=out)


# --- /nudge ------------------------------------------------------------------------------------------


async def on_nudge(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Out:
        sender, process = await facilitated_process(session, update, now)
        if process is None:
            return refusal(svc, sender.lang)
        lang = sender.lang
        targets = await scheduler.nudge_targets(session, process, now)
        if not targets:
            return Out(svc.t(lang, "nudge.none_open"))
        facts = (await scheduler.process_facts(session, [process.id]))[process.id]
        lines = [svc.t(lang, "nudge.title")]
        rows: list[list[Button]] = []
        for target in targets[:NUDGE_CHOICES]:
            text = prompt_snippet(svc.catalog, lang, target.prompt, facts, 70)
            lines.append(
                svc.t(
                    lang,
                    "nudge.line",
                    prompt=text,
                    answered=target.answered,
                    sent=target.sent,
                    remindable=target.remindable,
                )
            )
            if target.remindable:
                label = svc.catalog.plain(
                    lang,
                    "nudge.button",
                    prompt=prompt_snippet(svc.catalog, lang, target.prompt, facts, 28),
                    count=target.remindable,
                )
                rows.append([(label, f"nu:{target.prompt.id}")])
        if not rows:
            lines.append(svc.t(lang, "nudge.nobody"))
            return Out("\n\n".join(lines))
        return Out("\n\n".join(lines), keyboard(rows))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def on_nudge_button(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    parts = callback_parts(update)
    prompt_id = int(parts[1]) if len(parts) == 2 and parts[1].isdigit() else None

    async def work(session: AsyncSession) -> tuple[str, str | None, Out | None]:
        sender, process = await facilitated_process(session, update, now)
        if process is None or prompt_id is None:
            return sender.lang, "button.stale", None
        count, at = await scheduler.nudge(session, process=process, prompt_id=prompt_id, now=now)
        if at is None:
            return sender.lang, "nudge.closed", None
        if not count:
            return sender.lang, "nudge.nobody_short", None
        if at > now:
            facts = (await scheduler.process_facts(session, [process.id]))[process.id]
            when = format_local(svc.catalog, sender.lang, at, facts.tz, WHEN)
            return sender.lang, None, Out(svc.t(sender.lang, "nudge.sent_later", count=count, when=when))
        return sender.lang, None, Out(svc.t(sender.lang, "nudge.sent", count=count))

    lang, notice, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=notice, out=out)


# --- quick replies and comments (participants) -------------------------------------------------


async def on_quick_reply(update: Update, context: Ctx) -> None:
    """A check-in option pressed: stored as the answer (pressing again changes it), the buttons show
    the choice, and the next message becomes a comment on it."""
    svc = context.services
    now = svc.clock.now()
    parts = callback_parts(update)
    valid = len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit()
    chat = update.effective_chat

    async def work(session: AsyncSession) -> tuple[str, str | None, Out | None, InlineKeyboardMarkup | None]:
        sender = await who(session, update, now=now)
        lang = sender.lang
        if not valid or not sender.consented or sender.user is None or chat is None:
            return lang, "button.stale", None, None
        delivery = await session.get(
            Delivery,
            int(parts[1]),
            options=[selectinload(Delivery.prompt), selectinload(Delivery.membership)],
        )
        if delivery is None:
            return lang, "button.stale", None, None
        # The prompt may belong to another of the sender's processes than the active one.
        membership = delivery.membership
        if membership.user_id != sender.user_id:
            return lang, "button.not_yours", None, None
        prompt = delivery.prompt
        options = list(prompt.options or [])
        index = int(parts[2])
        if index >= len(options) or delivery.state not in DELIVERED_STATES:
            return lang, "button.stale", None, None
        if not answers.is_open(prompt, now):
            return lang, "quick.closed", None, None
        label = localized(options[index], lang)
        existing = await answers.choice_comment_target(
            session, membership=membership, delivery_id=delivery.id
        )
        if existing is not None and existing.choice is not None:
            existing.choice, existing.updated_at = label, now
            answer = existing
            answers.mark_answered(delivery)
        else:
            answer = await answers.record_answer(
                session,
                delivery=delivery,
                membership=membership,
                text=None,
                media=None,
                choice=label,
                chat_id=chat.id,
                message_id=None,
                now=now,
            )
        sender.user.state = {"flow": "comment", "submission": answer.id, "delivery": delivery.id}
        markup = keyboard(quick_reply_buttons(options, lang, delivery.id, chosen=label))
        return lang, None, Out(svc.t(lang, "quick.saved", choice=label)), markup

    lang, notice, out, markup = await svc.db.run(work)
    await answer_callback(update, svc.catalog.plain(lang, notice) if notice else None)
    query = update.callback_query
    if markup is not None and query is not None:
        try:
            await query.edit_message_reply_markup(reply_markup=markup)
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                raise
    if out is not None:
        await reply(update, out.text)


@flow("comment")
async def comment_flow(step: Step, data: Input) -> None:
    """The message after a quick reply: a comment on that answer. A reply to another prompt, or a
    comment on an answer that is gone, is handled as any message would be."""
    step.set_state(None)
    if data.skip:
        step.say("quick.comment_skipped")
        return
    submission_id = str(step.state.get("submission", ""))
    answer = (
        await step.session.get(Submission, int(submission_id), options=[selectinload(Submission.membership)])
        if submission_id.isdigit()
        else None
    )
    if answer is None or answer.membership.user_id != step.sender.user_id or answer.kind != "answer":
        await capture.capture(step, data)
        return
    if data.reply_to_message_id is not None:
        delivery = await step.session.get(Delivery, answer.delivery_id) if answer.delivery_id else None
        if delivery is None or data.reply_to_message_id not in (
            delivery.message_id,
            delivery.reminder_message_id,
        ):
            await capture.capture(step, data)
            return
    if not data.text and data.media is None:
        step.say("quick.comment_skipped")
        return
    if data.text:
        answer.text = f"{answer.text}\n{data.text}" if answer.text else data.text
    if data.media is not None and answer.media_type is None:
        answer.media_type, answer.file_id = data.media.media_type, data.media.file_id
    if answer.message_id is None:
        answer.chat_id, answer.message_id = data.chat_id, data.message_id
    answer.updated_at = step.now
    step.say("quick.comment_saved")


# --- registration ------------------------------------------------------------------------------------


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("process", on_process, filters=private))
    app.add_handler(CommandHandler("schedule", on_schedule, filters=private))
    app.add_handler(CommandHandler("programme", on_programme, filters=private))
    app.add_handler(CommandHandler("participants", on_participants, filters=private))
    app.add_handler(CommandHandler("announce", on_announce, filters=private))
    app.add_handler(CommandHandler("nudge", on_nudge, filters=private))
    app.add_handler(CallbackQueryHandler(on_quick_reply, pattern=rf"^{QUICK_REPLY_PREFIX}:"))
    app.add_handler(CallbackQueryHandler(on_programme_download, pattern=r"^pg:"))
    app.add_handler(CallbackQueryHandler(on_announce_button, pattern=r"^an:"))
    app.add_handler(CallbackQueryHandler(on_nudge_button, pattern=r"^nu:"))
    app.add_handler(CallbackQueryHandler(on_schedule_page, pattern=r"^sc:"))
    # Before capture's catch-all for documents: a facilitator's YAML file is a new programme.
    app.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE & YAML_DOCUMENT, on_document))
