"""Anytime capture: every message from a member becomes an answer or an observation, never lost.

Routing of a plain message, in order: an open dialogue (/idea…) takes it; a reply to a prompt answers
that prompt; with exactly one prompt open it answers that one; otherwise it is an observation, and
with several prompts open the participant is asked which one it answers.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Ctx, Services
from bot.domain.states import DeliveryState
from bot.services import answers, contributions, outbox
from bot.services.contributions import THEMES, Media
from handlers.common import (
    Button,
    answer_callback,
    callback_parts,
    edit_callback_message,
    keyboard,
    reply,
    who,
)
from handlers.flows import FLOWS, STANDALONE_FLOWS, Input, Out, Step, flow, settle_callback
from storage.models import Delivery, Submission

MEDIA = (
    filters.PHOTO
    | filters.VOICE
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.Document.ALL
    | filters.AUDIO
    | filters.ANIMATION
)
UNSUPPORTED = (
    filters.Sticker.ALL
    | filters.POLL
    | filters.LOCATION
    | filters.CONTACT
    | filters.Dice.ALL
    | filters.VENUE
    | filters.GAME
    | filters.STORY
)
SNIPPET = 60


def extract_media(message: Message) -> Media | None:
    if message.photo:
        return Media("photo", message.photo[-1].file_id)
    for kind in ("voice", "video", "video_note", "audio", "animation", "document"):
        attachment = getattr(message, kind, None)
        if attachment is not None:
            return Media("document" if kind == "animation" else kind, attachment.file_id)
    return None


def snippet(text: str | None, limit: int = SNIPPET) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def prompt_text(svc: Services, lang: str, delivery: Delivery) -> str:
    texts = delivery.prompt.texts or {}
    return str(texts.get(lang) or texts.get("fi") or next(iter(texts.values()), ""))


def observation_markup(
    svc: Services, lang: str, submission: Submission, *, can_answer: bool
) -> InlineKeyboardMarkup:
    plain = svc.catalog.plain
    sid = submission.id

    def theme_button(theme: str) -> Button:
        return (
            ("✓ " if submission.theme == theme else "") + plain(lang, f"theme.{theme}"),
            f"ob:{sid}:th:{theme}",
        )

    anonymous = ("✓ " if submission.anonymous else "") + plain(lang, "observation.button.anonymous")
    rows: list[list[Button]] = [
        [theme_button(theme) for theme in THEMES[:2]],
        [theme_button(theme) for theme in THEMES[2:]],
        [(plain(lang, "observation.button.idea"), f"ob:{sid}:idea"), (anonymous, f"ob:{sid}:anon")],
    ]
    if can_answer:
        rows.append([(plain(lang, "observation.button.answer"), f"ob:{sid}:ans")])
    return keyboard(rows)


def observation_ack(svc: Services, lang: str, submission: Submission) -> str:
    key = "observation.saved_media" if submission.media_type else "observation.saved"
    text = svc.t(lang, key, media=svc.catalog.plain(lang, f"media.{submission.media_type or 'text'}"))
    if submission.theme:
        text += "\n" + svc.t(
            lang, "observation.theme_is", theme=svc.catalog.plain(lang, f"theme.{submission.theme}")
        )
    if submission.anonymous:
        text += "\n" + svc.t(lang, "observation.is_anonymous")
    return text


def which_prompt_markup(
    svc: Services, lang: str, submission: Submission, open_: list[Delivery]
) -> InlineKeyboardMarkup:
    rows: list[list[Button]] = [
        [("↩️ " + snippet(prompt_text(svc, lang, delivery), 48), f"aw:{submission.id}:{delivery.id}")]
        for delivery in open_[:6]
    ]
    rows.append([(svc.catalog.plain(lang, "answer.button.observation"), f"aw:{submission.id}:0")])
    return keyboard(rows)


async def store_observation(step: Step, data: Input) -> Submission:
    membership = step.sender.participant
    assert membership is not None
    return await contributions.add_observation(
        step.session,
        membership=membership,
        text=data.text,
        media=data.media,
        chat_id=data.chat_id,
        message_id=data.message_id,
        now=step.now,
    )


async def store_answer(step: Step, data: Input, delivery: Delivery) -> Submission:
    membership = step.sender.participant
    assert membership is not None
    return await answers.record_answer(
        step.session,
        delivery=delivery,
        membership=membership,
        text=data.text,
        media=data.media,
        choice=None,
        chat_id=data.chat_id,
        message_id=data.message_id,
        now=step.now,
    )


async def capture(step: Step, data: Input) -> None:
    """Store a message from a member as an answer or an observation and say what happened."""
    svc, session, now = step.svc, step.session, step.now
    membership = step.sender.participant
    assert membership is not None
    if data.reply_to_message_id is not None:
        delivery = await answers.delivery_for_reply(
            session, membership=membership, chat_id=data.chat_id, reply_to_message_id=data.reply_to_message_id
        )
        if delivery is not None and delivery.prompt.kind in ("reminder", "announcement"):
            delivery = None
        if delivery is not None and answers.is_open(delivery.prompt, now):
            await store_answer(step, data, delivery)
            step.say("answer.saved", prompt=snippet(prompt_text(svc, step.lang, delivery)))
            return
        if delivery is not None:
            submission = await store_observation(step, data)
            step.outs.append(
                Out(
                    svc.t(step.lang, "answer.closed_saved_as_observation"),
                    observation_markup(svc, step.lang, submission, can_answer=False),
                )
            )
            return
    open_ = (
        await answers.open_deliveries(session, membership=membership, now=now)
        if step.sender.open_prompts
        else []
    )
    if len(open_) == 1:
        delivery = open_[0]
        answer = await store_answer(step, data, delivery)
        step.say(
            "answer.saved",
            keyboard(
                [[(svc.catalog.plain(step.lang, "answer.button.was_observation"), f"aw:{answer.id}:0")]]
            ),
            prompt=snippet(prompt_text(svc, step.lang, delivery)),
        )
        return
    submission = await store_observation(step, data)
    if len(open_) > 1:
        step.outs.append(
            Out(
                svc.t(step.lang, "answer.which_prompt"),
                which_prompt_markup(svc, step.lang, submission, open_),
            )
        )
        return
    step.outs.append(
        Out(
            observation_ack(svc, step.lang, submission),
            observation_markup(svc, step.lang, submission, can_answer=False),
        )
    )


@flow("observe")
async def observe_flow(step: Step, data: Input) -> None:
    """After /observe the next message is an observation, whatever prompts are open."""
    membership = step.sender.participant
    assert membership is not None
    step.set_state(None)
    if data.skip or (not data.text and data.media is None):
        step.say("flow.cancelled")
        return
    submission = await store_observation(step, data)
    step.outs.append(
        Out(
            observation_ack(step.svc, step.lang, submission),
            observation_markup(step.svc, step.lang, submission, can_answer=False),
        )
    )


async def handle_input(update: Update, context: Ctx, data: Input) -> None:
    """Run whatever this input means for the sender in one unit of work, then send the replies."""
    svc = context.services
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[bool, list[Out]]:
        sender = await who(session, update, now=now)
        flow_name = str((sender.user.state or {}).get("flow")) if sender.user is not None else ""
        if sender.consented and flow_name in STANDALONE_FLOWS:
            step = Step(svc=svc, session=session, sender=sender, state=dict(sender.user.state or {}), now=now)  # type: ignore[union-attr]
            await FLOWS[flow_name](step, data)
            return False, step.outs
        if not sender.consented or sender.participant is None:
            if sender.consented and sender.membership is not None:
                return False, [Out(svc.t(sender.lang, "join.unfinished"))]
            return False, [Out(svc.t(sender.lang, "start.ask_facilitator"))]
        if sender.participant.unreachable:
            # They wrote to us, so Telegram delivers to them again: plan what is still open.
            sender.participant.unreachable = False
            await outbox.plan_member(session, sender.participant, now)
        step = Step(
            svc=svc,
            session=session,
            sender=sender,
            state=dict(sender.user.state or {}) if sender.user else {},
            now=now,
        )
        if data.forwarded and sender.membership is not None and sender.membership.is_facilitator:
            # A facilitator forwards a participant's message to act on it (/hide as a reply), not to file it.
            return False, [Out(svc.t(sender.lang, "hide.forward_hint"))]
        handler = FLOWS.get(flow_name) if flow_name else None
        if handler is not None:
            await handler(step, data)
            return False, step.outs
        if data.skip:
            step.say("flow.nothing_to_skip")
        else:
            await capture(step, data)
        return True, step.outs

    captured, outs = await svc.db.run(work)
    if captured and update.effective_user is not None and svc.burst.over(update.effective_user.id):
        # Stored, and the burst notice already told the sender; one ack per message would flood.
        return
    for out in outs:
        await reply(update, out.text, out.markup)


async def on_message(update: Update, context: Ctx) -> None:
    message = update.effective_message
    if message is None:
        return
    reply_to = message.reply_to_message.message_id if message.reply_to_message else None
    text = message.text or message.caption
    await handle_input(
        update,
        context,
        Input(
            text=text,
            media=extract_media(message),
            chat_id=message.chat_id,
            message_id=message.message_id,
            reply_to_message_id=reply_to,
            forwarded=message.forward_origin is not None,
        ),
    )


async def on_skip(update: Update, context: Ctx) -> None:
    message = update.effective_message
    assert message is not None
    await handle_input(
        update, context, Input(text=None, media=None, chat_id=message.chat_id, message_id=None, skip=True)
    )


async def on_observe(update: Update, context: Ctx) -> None:
    svc = context.services
    inline_text = " ".join(context.args or []).strip()
    message = update.effective_message
    assert message is not None
    if inline_text:
        # "/observe text" stores the text straight away; the command prefix is not part of it.
        text = (
            (message.text or "").split(maxsplit=1)[1]
            if len((message.text or "").split(maxsplit=1)) > 1
            else inline_text
        )
        update_state = Input(text=text, media=None, chat_id=message.chat_id, message_id=message.message_id)

        async def store(session: AsyncSession) -> list[Out]:
            sender = await who(session, update, now=svc.clock.now())
            if sender.participant is None:
                return [Out(svc.t(sender.lang, "start.ask_facilitator"))]
            step = Step(svc=svc, session=session, sender=sender, state={}, now=svc.clock.now())
            await observe_flow(step, update_state)
            return step.outs

        for out in await svc.db.run(store):
            await reply(update, out.text, out.markup)
        return

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None or sender.user is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        sender.user.state = {"flow": "observe"}
        return Out(svc.t(sender.lang, "observation.ask"))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def on_edit(update: Update, context: Ctx) -> None:
    svc = context.services
    message = update.edited_message
    if message is None:
        return
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, bool]:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None:
            return sender.lang, False
        updated = await contributions.update_from_edit(
            session,
            chat_id=message.chat_id,
            message_id=message.message_id,
            text=message.text or message.caption,
            now=now,
        )
        return sender.lang, updated is not None

    lang, updated = await svc.db.run(work)
    if updated:
        await message.reply_text(svc.t(lang, "observation.edited"), parse_mode="HTML", do_quote=True)


async def on_unsupported(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> str:
        return (await who(session, update, now=svc.clock.now())).lang

    lang = await svc.db.run(work)
    await reply(update, svc.t(lang, "capture.unsupported"))


async def on_observation_button(update: Update, context: Ctx) -> None:
    """Theme, anonymity, re-filing as an idea or as an answer, from the buttons under an observation."""
    svc = context.services
    parts = callback_parts(update)
    now = svc.clock.now()
    sender_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, str | None, Out | None, Out | None]:
        sender = await who(session, update, now=svc.clock.now())
        lang = sender.lang
        if len(parts) < 3 or not parts[1].isdigit():
            return lang, "button.stale", None, None
        owned = await contributions.own_submission(session, submission_id=int(parts[1]), user_id=sender_id)
        if isinstance(owned, str):
            return lang, "button.stale" if owned == "gone" else "button.not_yours", None, None
        submission = owned
        action = parts[2]
        membership = sender.participant
        if action == "th" and len(parts) > 3 and parts[3] in THEMES and submission.kind == "observation":
            submission.theme = None if submission.theme == parts[3] else parts[3]
        elif action == "anon":
            submission.anonymous = not submission.anonymous
        elif action == "idea" and submission.kind == "observation":
            contributions.refile_as_idea(submission, now)
            return (
                lang,
                None,
                Out(svc.t(lang, "observation.refiled_idea", title=submission.title or "")),
                None,
            )
        elif action == "ans" and submission.kind == "observation" and membership is not None:
            open_ = await answers.open_deliveries(session, membership=membership, now=now)
            if not open_:
                return lang, "answer.none_open", None, None
            return (
                lang,
                None,
                Out(svc.t(lang, "answer.which_prompt"), which_prompt_markup(svc, lang, submission, open_)),
                None,
            )
        else:
            return lang, "button.stale", None, None
        can_answer = False
        if membership is not None:
            can_answer = bool(await answers.open_deliveries(session, membership=membership, now=now))
        return (
            lang,
            None,
            None,
            Out(
                observation_ack(svc, lang, submission),
                observation_markup(svc, lang, submission, can_answer=can_answer),
            ),
        )

    lang, notice, replacement, refreshed = await svc.db.run(work)
    await answer_callback(update, svc.catalog.plain(lang, notice) if notice else None)
    if replacement is not None:
        await edit_callback_message(update, replacement.text, replacement.markup)
    if refreshed is not None:
        await edit_callback_message(update, refreshed.text, refreshed.markup)


async def on_answer_choice(update: Update, context: Ctx) -> None:
    """The participant says which open prompt a message answers, or that it is an observation."""
    svc = context.services
    parts = callback_parts(update)
    now = svc.clock.now()
    sender_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, str | None, Out | None]:
        sender = await who(session, update, now=svc.clock.now())
        lang = sender.lang
        if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit() or sender.participant is None:
            return lang, "button.stale", None
        owned = await contributions.own_submission(session, submission_id=int(parts[1]), user_id=sender_id)
        if isinstance(owned, str):
            return lang, "button.stale" if owned == "gone" else "button.not_yours", None
        submission = owned
        delivery_id = int(parts[2])
        if delivery_id == 0:
            if submission.kind == "answer" and submission.delivery_id is not None:
                delivery = await session.get(Delivery, submission.delivery_id)
                if delivery is not None and delivery.state == DeliveryState.ANSWERED:
                    delivery.state = DeliveryState.SENT
            submission.kind, submission.prompt_id, submission.delivery_id = "observation", None, None
            submission.updated_at = now
            return (
                lang,
                None,
                Out(
                    observation_ack(svc, lang, submission),
                    observation_markup(svc, lang, submission, can_answer=False),
                ),
            )
        open_ = {
            d.id: d for d in await answers.open_deliveries(session, membership=sender.participant, now=now)
        }
        delivery = open_.get(delivery_id)
        if delivery is None:
            return lang, "answer.closed", None
        await answers.refile_as_answer(session, submission=submission, delivery=delivery, now=now)
        return lang, None, Out(svc.t(lang, "answer.saved", prompt=snippet(prompt_text(svc, lang, delivery))))

    lang, notice, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=notice, out=out)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("observe", on_observe, filters=private))
    app.add_handler(CommandHandler("skip", on_skip, filters=private))
    app.add_handler(CallbackQueryHandler(on_observation_button, pattern=r"^ob:"))
    app.add_handler(CallbackQueryHandler(on_answer_choice, pattern=r"^aw:"))
    app.add_handler(
        MessageHandler(
            private & filters.UpdateType.EDITED_MESSAGE & (filters.TEXT | filters.CAPTION), on_edit
        )
    )
    app.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE & UNSUPPORTED, on_unsupported))
    app.add_handler(
        MessageHandler(
            private & filters.UpdateType.MESSAGE & ((filters.TEXT & ~filters.COMMAND) | MEDIA), on_message
        )
    )
