"""Pairs across organisations in chat: ``/pair``, the rounds after each workshop, the pair's talk.

* ``/pair`` asks, with buttons, to pair the participant and show their first name (the one in
  their Telegram profile, stored then) to the pair; ``/pair end`` ends the current pair's
  conversation for everyone in it, who are told; ``/pair off`` ends it the same way and withdraws.
* :func:`rounds` (a leader duty) makes the pairs two working days after each workshop and queues
  each member's introduction (first names and organisations, and a conversation starter of the
  phase); with a single organisation opted in, they are told why nobody was paired, once.
* Replying to the introduction or to a relayed pair message writes to the pair: the text goes to
  the others through the outbox with the sender's first name and organisation, nothing of their
  Telegram profile.
"""

from __future__ import annotations

import logging
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ExtBot, filters

from bot.context import Ctx, Services
from bot.domain.process import format_local
from bot.services import pairs
from bot.services.processes import get_process
from handlers.callbacks import PairConsent
from handlers.common import answer_callback, edit_callback_message, keyboard, reply, who
from handlers.flows import Input, Step
from messages import Catalog
from storage.models import Membership

log = logging.getLogger(__name__)

STARTERS = 5
"""Conversation starters in the catalogue: ``pair.starter.1`` … ``pair.starter.5``, by phase."""


def intro_text(catalog: Catalog, lang: str, others: list[pairs.Member], phase: int) -> str:
    lines = "\n".join(
        catalog.t(lang, "pair.member", name=m.first_name, organisation=m.organisation) for m in others
    )
    starter = catalog.t(lang, f"pair.starter.{min(max(phase, 1), STARTERS)}")
    key = "pair.intro_trio" if len(others) > 1 else "pair.intro"
    # The introduction stands in for the phase's highlights (bot.domain.pairing.replaces_highlights).
    shared = catalog.t(lang, "pair.intro_shared")
    return f"{catalog.t(lang, key, members=lines, starter=starter)}\n\n{shared}"


def relayed_text(catalog: Catalog, lang: str, sender: pairs.Member, text: str) -> str:
    return catalog.t(
        lang, "pair.relayed", name=sender.first_name, organisation=sender.organisation, text=text
    )


async def _tell(
    session: AsyncSession,
    svc: Services,
    pair_id: int,
    sender: pairs.Member | None,
    to: list[pairs.Member],
    key: str,
    now: Any,
    **params: object,
) -> None:
    for member in to:
        text = svc.t(member.language, key, **params)
        await pairs.queue(
            session,
            pair_id=pair_id,
            sender_id=sender.membership.id if sender is not None else None,
            recipient=member,
            rendered=text,
            now=now,
        )


# --- /pair -------------------------------------------------------------------------------------


async def _end_open(session: AsyncSession, svc: Services, membership: Membership) -> bool:
    """End the participant's open pair, if any, and tell the others; False if none was open."""
    now = svc.clock.now()
    pair = await pairs.open_pair(session, membership)
    if pair is None:
        return False
    members = await pairs.members_of(session, pair.id)
    me = next(m for m in members if m.membership.id == membership.id)
    others = [m for m in members if m.membership.id != membership.id]
    await pairs.end_pair(session, pair, now=now)
    await _tell(session, svc, pair.id, None, others, "pair.ended_by", now, name=me.first_name)
    return True


async def _off(session: AsyncSession, svc: Services, membership: Membership, lang: str) -> str:
    """``/pair off``: the open pair ends (the others are told, as with ``/pair end``) and no more
    pairing."""
    ended = await _end_open(session, svc, membership)
    gone = await pairs.opt_out(session, membership)
    if ended:
        return svc.t(lang, "pair.off_ended")
    return svc.t(lang, "pair.off" if gone else "pair.off_already")


async def on_pair(update: Update, context: Ctx) -> None:
    svc = context.services
    argument = (context.args or [""])[0].lower() if context.args else ""
    first_name = update.effective_user.first_name if update.effective_user is not None else ""

    async def work(session: AsyncSession) -> tuple[str, Any]:
        sender = await who(session, update, now=svc.clock.now())
        lang = sender.lang
        membership = sender.participant
        if membership is None or membership.is_facilitator:
            return svc.t(lang, "start.ask_facilitator"), None
        if argument == "off":
            return await _off(session, svc, membership, lang), None
        if argument == "end":
            ended = await _end_open(session, svc, membership)
            return svc.t(lang, "pair.ended" if ended else "pair.none_open"), None
        if argument:
            return svc.t(lang, "pair.usage"), None
        optin = await pairs.optin_of(session, membership)
        if optin is not None:
            return svc.t(lang, "pair.already", name=optin.first_name), None
        plain = svc.catalog.plain
        buttons = keyboard(
            [
                [(plain(lang, "pair.button.yes", name=first_name), PairConsent(True).encode())],
                [(plain(lang, "pair.button.no"), PairConsent(False).encode())],
            ]
        )
        return svc.t(lang, "pair.ask", name=first_name), buttons

    text, markup = await svc.db.run(work)
    await reply(update, text, markup)


async def on_pair_consent(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = PairConsent.of(update)
    first_name = update.effective_user.first_name if update.effective_user is not None else ""

    async def work(session: AsyncSession) -> tuple[str, str | None]:
        sender = await who(session, update, now=svc.clock.now())
        membership = sender.participant
        if pressed is None or membership is None or membership.is_facilitator:
            return sender.lang, None
        if not pressed.yes:
            return sender.lang, svc.t(sender.lang, "pair.not_now")
        await pairs.opt_in(session, membership, first_name=first_name, now=svc.clock.now())
        return sender.lang, svc.t(sender.lang, "pair.on", name=first_name.strip()[: pairs.FIRST_NAME_CHARS])

    lang, text = await svc.db.run(work)
    await answer_callback(update, None if text is not None else svc.catalog.plain(lang, "button.stale"))
    if text is not None:
        await edit_callback_message(update, text)


# --- the pair's conversation -------------------------------------------------------------------


async def reply_to_pair(step: Step, data: Input) -> bool:
    """A reply to a pair's introduction or relayed message goes to the others in the pair; False
    when it is not such a reply."""
    if data.reply_to_message_id is None:
        return False
    found = await pairs.pair_replied_to(
        step.session, user_id=step.sender.user_id, chat_id=data.chat_id, message_id=data.reply_to_message_id
    )
    if found is None:
        return False
    pair, membership = found
    if pair.ended_at is not None:
        step.say("pair.closed")
        return True
    if not data.text or data.media is not None:
        step.say("pair.text_only")
        return True
    members = await pairs.members_of(step.session, pair.id)
    me = next((m for m in members if m.membership.id == membership.id), None)
    if me is None:
        step.say("pair.closed")
        return True
    latest = step.now
    for other in members:
        if other.membership.id == membership.id:
            continue
        rendered = relayed_text(step.svc.catalog, other.language, me, data.text)
        delivery = await pairs.queue(
            step.session,
            pair_id=pair.id,
            sender_id=membership.id,
            recipient=other,
            rendered=rendered,
            now=step.now,
        )
        latest = max(latest, delivery.due_at)
    if latest > step.now:
        process = await get_process(step.session, membership.process_id)
        tz = ZoneInfo(process.timezone if process is not None else "Europe/Helsinki")
        when = format_local(step.svc.catalog, step.lang, latest, tz, "facilitator.format.when")
        step.say("pair.queued", when=when)
    else:
        step.say("pair.sent")
    return True


# --- the rounds (a leader duty) ----------------------------------------------------------------


async def _round(session: AsyncSession, svc: Services, due: pairs.RoundDue) -> int:
    now = svc.clock.now()
    made = await pairs.run_round(session, due, now=now)
    for pair, members in made.pairs:
        for member in members:
            others = [m for m in members if m is not member]
            await pairs.queue(
                session,
                pair_id=pair.id,
                sender_id=None,
                recipient=member,
                rendered=intro_text(svc.catalog, member.language, others, due.workshop),
                now=now,
            )
    key = "pair.single_organisation" if made.single_organisation else "pair.nobody_free"
    for member in made.unpaired:
        await pairs.queue(
            session,
            pair_id=None,
            sender_id=None,
            recipient=member,
            rendered=svc.t(member.language, key),
            now=now,
        )
    return len(made.pairs)


async def rounds(svc: Services, bot: ExtBot[Any], now: Any) -> None:
    """Every pairing round that is due: each in its own unit of work with its round row."""
    del bot  # the introductions go out through the outbox
    due = await svc.db.run(lambda s: pairs.due_rounds(s, now=now))
    for item in due:

        async def work(session: AsyncSession, item: pairs.RoundDue = item) -> int:
            return await _round(session, svc, item)

        made = await svc.db.run(work)
        log.info(
            "pairing round after workshop %s of process %s: %s pairs", item.workshop, item.process_id, made
        )


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("pair", on_pair, filters=private))
    app.add_handler(CallbackQueryHandler(on_pair_consent, pattern=PairConsent.pattern()))
