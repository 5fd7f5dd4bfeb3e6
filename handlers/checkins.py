"""The participant's side of a check-in: a quick-reply button pressed under a prompt, and the
optional comment that follows it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import Application, CallbackQueryHandler

from bot.context import Ctx
from bot.render.prompt import quick_reply_buttons
from bot.services import checkins
from handlers import capture, dialogue
from handlers.callbacks import QuickReply
from handlers.common import answer_callback, keyboard, reply, who
from handlers.dialogue import Comment
from handlers.flows import Input, Out, Step


@dataclass(frozen=True)
class QuickReplyResult:
    lang: str
    notice: str | None = None
    out: Out | None = None
    markup: InlineKeyboardMarkup | None = None
    """The prompt's buttons again, the chosen one ticked."""


async def on_quick_reply(update: Update, context: Ctx) -> None:
    """A check-in option pressed: stored as the answer (pressing again changes it), the buttons show
    the choice, and the next message becomes a comment on it."""
    svc = context.services
    now = svc.clock.now()
    pressed = QuickReply.of(update)
    chat = update.effective_chat

    async def work(session: AsyncSession) -> QuickReplyResult:
        sender = await who(session, update, now=now)
        lang = sender.lang
        if pressed is None or not sender.consented or sender.user is None or chat is None:
            return QuickReplyResult(lang, "button.stale")
        result = await checkins.choose(
            session,
            user_id=sender.user_id,
            delivery_id=pressed.delivery_id,
            option=pressed.option,
            lang=lang,
            chat_id=chat.id,
            now=now,
        )
        if isinstance(result, checkins.NotChosen):
            return QuickReplyResult(lang, result.notice)
        dialogue.save(sender.user, Comment(result.answer_id, result.delivery_id))
        markup = keyboard(quick_reply_buttons(result.options, lang, result.delivery_id, chosen=result.label))
        return QuickReplyResult(lang, out=Out(svc.t(lang, "quick.saved", choice=result.label)), markup=markup)

    result = await svc.db.run(work)
    await answer_callback(update, svc.catalog.plain(result.lang, result.notice) if result.notice else None)
    query = update.callback_query
    if result.markup is not None and query is not None:
        try:
            await query.edit_message_reply_markup(reply_markup=result.markup)
        except BadRequest as error:
            if "not modified" not in error.message.lower():
                raise
    if result.out is not None:
        await reply(update, result.out.text)


async def comment_flow(step: Step, data: Input) -> None:
    """The message after a quick reply: a comment on that answer. A reply to another prompt, or a
    comment on an answer that is gone, is handled as any message would be."""
    open_comment = step.dialogue
    step.close()
    if data.skip:
        step.say("quick.comment_skipped")
        return
    answer_id = open_comment.submission if isinstance(open_comment, Comment) else None
    outcome: checkins.CommentOutcome = "not_a_comment"
    if answer_id is not None:
        comment = checkins.Comment(
            text=data.text,
            media=data.media,
            chat_id=data.chat_id,
            message_id=data.message_id,
            reply_to_message_id=data.reply_to_message_id,
        )
        outcome = await checkins.add_comment(
            step.session,
            user_id=step.sender.user_id,
            answer_id=answer_id,
            comment=comment,
            now=step.now,
        )
    if outcome == "not_a_comment":
        await capture.capture(step, data)
    elif outcome == "empty":
        step.say("quick.comment_skipped")
    else:
        step.say("quick.comment_saved")


def register(app: Application) -> None:
    app.add_handler(CallbackQueryHandler(on_quick_reply, pattern=QuickReply.pattern()))
