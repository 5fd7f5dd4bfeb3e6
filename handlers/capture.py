"""Anytime capture: every message from a member becomes an answer or an observation, never lost.

Which one is decided by :func:`bot.services.capture.route_message` (an open dialogue takes the
message before, in :mod:`handlers.inbox`); here are the acknowledgements, the buttons under an
observation, /observe, edits and unsupported messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.context import Ctx, Services
from bot.domain.sharing import shareable
from bot.domain.text import without_nul
from bot.render.capture import answered_prompt, observation_ack
from bot.render.sharing import ack_lines
from bot.services import answers, contributions, sharing
from bot.services import capture as filing
from bot.services.contributions import THEMES, Media
from handlers import dialogue
from handlers.callbacks import AnswerChoice, ObservationAction, ShareToggle
from handlers.common import Button, Who, answer_callback, edit_callback_message, keyboard, reply, who
from handlers.dialogue import Form, Observing
from handlers.flows import Input, Out, Pressed, Step
from storage.models import Delivery, Submission

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


def extract_media(message: Message) -> Media | None:
    if message.photo:
        return Media("photo", message.photo[-1].file_id)
    for kind in ("voice", "video", "video_note", "audio", "animation", "document"):
        attachment = getattr(message, kind, None)
        if attachment is not None:
            return Media("document" if kind == "animation" else kind, attachment.file_id)
    return None


def observation_markup(
    svc: Services, lang: str, submission: Submission, *, can_answer: bool, shared: bool = False
) -> InlineKeyboardMarkup:
    plain = svc.catalog.plain
    sid = submission.id

    def theme_button(theme: str) -> Button:
        return (
            ("✓ " if submission.theme == theme else "") + plain(lang, f"theme.{theme}"),
            ObservationAction(sid, "th", theme).encode(),
        )

    anonymous = ("✓ " if submission.anonymous else "") + plain(lang, "observation.button.anonymous")
    rows: list[list[Button]] = [
        [theme_button(theme) for theme in THEMES[:2]],
        [theme_button(theme) for theme in THEMES[2:]],
        [
            (plain(lang, "observation.button.idea"), ObservationAction(sid, "idea").encode()),
            (anonymous, ObservationAction(sid, "anon").encode()),
        ],
    ]
    if submission.kind == "observation" and shareable(submission.media_type):
        label = ("✓ " if shared else "") + plain(lang, "share.button")
        rows.append([(label, ShareToggle(sid, "t").encode())])
    if can_answer:
        rows.append([(plain(lang, "observation.button.answer"), ObservationAction(sid, "ans").encode())])
    return keyboard(rows)


def observation_out(
    svc: Services,
    lang: str,
    submission: Submission,
    *,
    can_answer: bool = False,
    shared: sharing.ShareDisplay | None = None,
) -> Out:
    """The acknowledgement of an observation with its buttons; while it is shared, how it is shown
    to the others and how many recognised it."""
    text = observation_ack(svc.catalog, lang, submission)
    if shared is not None:
        extra = ack_lines(svc.catalog, lang, who=shared.shown, recognised=shared.recognised)
        text = "\n".join([text, *extra])
    return Out(
        text, observation_markup(svc, lang, submission, can_answer=can_answer, shared=shared is not None)
    )


async def answered_out(
    session: AsyncSession,
    svc: Services,
    lang: str,
    delivery: Delivery,
    markup: InlineKeyboardMarkup | None = None,
) -> Out:
    """The acknowledgement of an answer, naming the prompt with its placeholders filled."""
    facts = await filing.facts_for_snippet(session, delivery.prompt)
    prompt = answered_prompt(svc.catalog, lang, delivery.prompt, facts)
    return Out(svc.t(lang, "answer.saved", prompt=prompt), markup)


async def which_prompt_markup(
    session: AsyncSession, svc: Services, lang: str, submission: Submission, open_: list[Delivery]
) -> InlineKeyboardMarkup:
    rows: list[list[Button]] = []
    for delivery in open_[:6]:
        facts = await filing.facts_for_snippet(session, delivery.prompt)
        label = "↩️ " + answered_prompt(svc.catalog, lang, delivery.prompt, facts, 48)
        rows.append([(label, AnswerChoice(submission.id, delivery.id).encode())])
    observation = svc.catalog.plain(lang, "answer.button.observation")
    rows.append([(observation, AnswerChoice(submission.id, 0).encode())])
    return keyboard(rows)


def incoming(data: Input) -> filing.Incoming:
    return filing.Incoming(
        text=data.text,
        media=data.media,
        chat_id=data.chat_id,
        message_id=data.message_id,
        reply_to_message_id=data.reply_to_message_id,
    )


async def capture(step: Step, data: Input) -> None:
    """Store a message from a member as an answer or an observation and say what happened."""
    svc, session, lang = step.svc, step.session, step.lang
    membership = step.sender.participant
    assert membership is not None
    routed = await filing.route_message(
        session,
        membership=membership,
        message=incoming(data),
        open_prompts=step.sender.open_prompts,
        now=step.now,
    )
    if isinstance(routed, filing.Answered):
        markup = None
        if not routed.replied:
            undo = AnswerChoice(routed.answer.id, 0).encode()
            markup = keyboard([[(svc.catalog.plain(lang, "answer.button.was_observation"), undo)]])
        step.outs.append(await answered_out(session, svc, lang, routed.delivery, markup))
    elif isinstance(routed, filing.IdeaStarted):
        idea = routed.idea
        step.open(Form("idea", "need", {"idea_id": idea.id, "title": idea.title}))
        started = svc.t(lang, "idea.started_from_reply", title=idea.title or "")
        step.outs.append(Out(started + "\n\n" + svc.t(lang, "idea.ask_need")))
    elif isinstance(routed, filing.ExperimentLogged):
        step.say("experiment.logged_from_reply")
    elif isinstance(routed, filing.AskWhichPrompt):
        markup = await which_prompt_markup(session, svc, lang, routed.observation, routed.open_deliveries)
        step.outs.append(Out(svc.t(lang, "answer.which_prompt"), markup))
    elif routed.prompt_closed:
        closed = svc.t(lang, "answer.closed_saved_as_observation")
        step.outs.append(Out(closed, observation_markup(svc, lang, routed.observation, can_answer=False)))
    else:
        step.outs.append(observation_out(svc, lang, routed.observation))


async def observe_flow(step: Step, data: Input) -> None:
    """After /observe the next message is an observation, whatever prompts are open."""
    membership = step.sender.participant
    assert membership is not None
    step.close()
    if data.skip or (not data.text and data.media is None):
        step.say("flow.cancelled")
        return
    observation = await filing.store_observation(
        step.session, membership=membership, message=incoming(data), now=step.now
    )
    step.outs.append(observation_out(step.svc, step.lang, observation))


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
        update_state = Input(
            text=without_nul(text), media=None, chat_id=message.chat_id, message_id=message.message_id
        )

        async def store(session: AsyncSession) -> list[Out]:
            sender = await who(session, update, now=svc.clock.now())
            if sender.participant is None:
                return [Out(svc.t(sender.lang, "start.ask_facilitator"))]
            step = Step(svc=svc, session=session, sender=sender, dialogue=None, now=svc.clock.now())
            await observe_flow(step, update_state)
            return step.outs

        for out in await svc.db.run(store):
            await reply(update, out.text, out.markup)
        return

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None or sender.user is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        dialogue.save(sender.user, Observing())
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
            text=without_nul(message.text or message.caption),
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


@dataclass(frozen=True)
class ObservationPressed:
    lang: str
    notice: str | None = None
    replacement: Out | None = None
    """Replaces the observation's message (refiled as an idea, or asking which prompt)."""
    refreshed: Out | None = None
    """The same observation with its buttons updated."""


async def _observation_action(
    session: AsyncSession, svc: Services, sender: Who, pressed: ObservationAction, now: datetime
) -> ObservationPressed:
    lang = sender.lang
    owned = await contributions.own_submission(
        session, submission_id=pressed.submission_id, user_id=sender.user_id
    )
    if isinstance(owned, str):
        return ObservationPressed(lang, "button.stale" if owned == "gone" else "button.not_yours")
    submission = owned
    membership = sender.participant
    if pressed.action == "th" and pressed.theme is not None:
        if not contributions.toggle_theme(submission, pressed.theme):
            return ObservationPressed(lang, "button.stale")
    elif pressed.action == "anon":
        contributions.toggle_anonymous(submission)
    elif pressed.action == "idea" and submission.kind == "observation":
        contributions.refile_as_idea(submission, now)
        refiled = svc.t(lang, "observation.refiled_idea", title=submission.title or "")
        return ObservationPressed(lang, replacement=Out(refiled))
    elif pressed.action == "ans" and submission.kind == "observation" and membership is not None:
        open_ = await answers.open_deliveries(session, membership=membership, now=now)
        open_ = [delivery for delivery in open_ if delivery.membership_id == submission.membership_id]
        if not open_:
            return ObservationPressed(lang, "answer.none_open")
        markup = await which_prompt_markup(session, svc, lang, submission, open_)
        return ObservationPressed(lang, replacement=Out(svc.t(lang, "answer.which_prompt"), markup))
    else:
        return ObservationPressed(lang, "button.stale")
    can_answer = False
    if membership is not None:
        can_answer = bool(await answers.open_deliveries(session, membership=membership, now=now))
    shared = await sharing.display(session, submission)
    return ObservationPressed(
        lang, refreshed=observation_out(svc, lang, submission, can_answer=can_answer, shared=shared)
    )


async def on_observation_button(update: Update, context: Ctx) -> None:
    """Theme, anonymity, re-filing as an idea or as an answer, from the buttons under an observation."""
    svc = context.services
    pressed = ObservationAction.of(update)
    now = svc.clock.now()

    async def work(session: AsyncSession) -> ObservationPressed:
        sender = await who(session, update, now=now)
        if pressed is None:
            return ObservationPressed(sender.lang, "button.stale")
        return await _observation_action(session, svc, sender, pressed, now)

    result = await svc.db.run(work)
    await answer_callback(update, svc.catalog.plain(result.lang, result.notice) if result.notice else None)
    for out in (result.replacement, result.refreshed):
        if out is not None:
            await edit_callback_message(update, out.text, out.markup)


async def on_answer_choice(update: Update, context: Ctx) -> None:
    """The participant says which open prompt a message answers, or that it is an observation."""
    svc = context.services
    pressed = AnswerChoice.of(update)
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Pressed:
        sender = await who(session, update, now=now)
        lang = sender.lang
        if pressed is None or sender.participant is None:
            return Pressed(lang, "button.stale")
        owned = await contributions.own_submission(
            session, submission_id=pressed.submission_id, user_id=sender.user_id
        )
        if isinstance(owned, str):
            return Pressed(lang, "button.stale" if owned == "gone" else "button.not_yours")
        if pressed.delivery_id == 0:
            await answers.refile_as_observation(session, submission=owned, now=now)
            return Pressed(lang, out=observation_out(svc, lang, owned))
        open_ = {
            d.id: d for d in await answers.open_deliveries(session, membership=sender.participant, now=now)
        }
        delivery = open_.get(pressed.delivery_id)
        if delivery is None or delivery.membership_id != owned.membership_id:
            return Pressed(lang, "answer.closed")
        await answers.refile_as_answer(session, submission=owned, delivery=delivery, now=now)
        return Pressed(lang, out=await answered_out(session, svc, lang, delivery))

    await (await svc.db.run(work)).settle(update, svc)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("observe", on_observe, filters=private))
    app.add_handler(CallbackQueryHandler(on_observation_button, pattern=ObservationAction.pattern()))
    app.add_handler(CallbackQueryHandler(on_answer_choice, pattern=AnswerChoice.pattern()))
    app.add_handler(
        MessageHandler(
            private & filters.UpdateType.EDITED_MESSAGE & (filters.TEXT | filters.CAPTION), on_edit
        )
    )
    app.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE & UNSUPPORTED, on_unsupported))
