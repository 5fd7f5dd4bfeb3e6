"""Joining a process: /start with an invite code, consent, language, organisation, role, name."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx, Services
from bot.infra.commands import publish_facilitator_commands
from bot.room.menu import publish_room_button
from bot.services import people
from bot.services.people import Invite
from handlers import dialogue
from handlers.callbacks import ActiveProcess, Consent, LanguagePick, OrganisationPick, RolePick, ShowName
from handlers.common import (
    Button,
    Who,
    answer_callback,
    client_language,
    edit_callback_message,
    keyboard,
    reply,
    who,
)
from handlers.dialogue import Joining
from messages import LANGUAGES
from storage.models import Membership

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}


async def settled(update: Update, text: str) -> None:
    """Answer the pressed button and turn its message into the choice made. Both are cosmetic: a
    failure (a late press, a message too old to edit, a network fault) is logged and the dialogue
    goes on to its next question."""
    try:
        await answer_callback(update)
    except Exception as error:
        log.info("joining: the button press was not answered (%s); carrying on", type(error).__name__)
    try:
        await edit_callback_message(update, text)
    except Exception as error:  # even a 403: if the chat is really gone, the next question says so
        log.info("joining: the pressed message was not edited (%s); carrying on", type(error).__name__)


def language_keyboard(current: str) -> list[list[Button]]:
    return [
        [
            (("✓ " if lang == current else "") + LANGUAGE_NAMES[lang], LanguagePick(lang).encode())
            for lang in LANGUAGES
        ]
    ]


@dataclass(frozen=True)
class Started:
    """What /start found: a stranger, a member coming back, someone to ask for consent, a new or
    repeated join."""

    outcome: Literal["stranger", "closed", "member", "consent", "joined", "again"]
    sender: Who
    memberships: list[Membership] = field(default_factory=list)
    invite: Invite | None = None


@dataclass(frozen=True)
class Consented:
    invite: Invite | None
    """None when the invite is gone (a stale button)."""
    user_lang: str | None = None
    """The language of the user who accepted; None when they declined."""


@dataclass(frozen=True)
class JoinChoice:
    """One answered joining question: the sender, the membership it changed, what was chosen."""

    sender: Who
    membership: Membership | None = None
    label: str | None = None


async def start(update: Update, context: Ctx) -> None:
    svc = context.services
    code = (context.args or [""])[0].strip()
    now = svc.clock.now()

    async def work(session: AsyncSession) -> Started:
        sender = await who(session, update, now=now)
        invite = await people.find_invite(session, code, now=now) if code else None
        closed = invite is not None and invite.closed
        if invite is None or closed:
            if sender.consented and sender.membership is not None:
                return Started("member", sender, await people.memberships_of(session, sender.user_id))
            return Started("closed" if closed else "stranger", sender)
        if not sender.consented:
            return Started("consent", sender, [], invite)
        assert sender.user is not None
        first_name = update.effective_user.first_name if update.effective_user else None
        membership, created = await people.join(
            session, user=sender.user, invite=invite, display_name=first_name, now=now
        )
        return Started(
            "joined" if created or not membership.complete else "again", sender, [membership], invite
        )

    started = await svc.db.run(work)
    outcome, sender, memberships, invite = (
        started.outcome,
        started.sender,
        started.memberships,
        started.invite,
    )
    lang = sender.lang
    if outcome == "stranger":
        await reply(update, svc.t(lang, "start.ask_facilitator"))
    elif outcome == "closed":
        await reply(update, svc.t(lang, "invite.closed"))
    elif outcome == "member":
        active = sender.membership
        text = svc.t(lang, "start.welcome_back", process=active.process.name if active else "")
        if len(memberships) > 1:
            text += "\n\n" + svc.t(lang, "start.choose_process")
            rows = [
                [
                    (
                        ("✓ " if m.id == (active.id if active else None) else "") + m.process.name[:60],
                        ActiveProcess(m.id).encode(),
                    )
                ]
                for m in memberships
            ]
            await reply(update, text, keyboard(rows))
        else:
            await reply(
                update, text + "\n\n" + help_text(svc, lang, active.is_facilitator if active else False)
            )
    elif outcome == "consent":
        assert invite is not None
        await reply(
            update,
            svc.t(
                lang,
                "privacy.notice",
                process=invite.process.name,
                retention_days=invite.process.retention_days,
            ),
            keyboard(
                [
                    [(svc.catalog.plain(lang, "privacy.accept"), Consent(True, code).encode())],
                    [(svc.catalog.plain(lang, "privacy.decline"), Consent(False, code).encode())],
                ]
            ),
        )
    elif outcome == "again":
        membership = memberships[0]
        await reply(update, svc.t(lang, "start.already_member", process=membership.process.name))
    else:
        membership = memberships[0]
        await continue_joining(update, context, lang, membership.id)


async def continue_joining(update: Update, context: Ctx, lang: str, membership_id: int) -> None:
    """Ask for whatever the membership still lacks: organisation, role, name; then welcome."""
    svc = context.services

    async def work(session: AsyncSession) -> Membership | None:
        return await people.membership_by_id(session, membership_id)

    membership = await svc.db.run(work)
    if membership is None:
        return
    process = membership.process
    if membership.is_facilitator:
        chat = update.effective_chat
        if chat is not None:
            await publish_facilitator_commands(context.bot, svc.catalog, chat.id, lang)
            await publish_room_button(context.bot, svc.settings, svc.catalog, chat.id, lang)
        await reply(
            update,
            svc.t(lang, "welcome.facilitator", process=process.name)
            + "\n\n"
            + svc.t(lang, "invite.links", participant_link=svc.invite_link(process.participant_code)),
        )
        return
    if membership.organisation_id is None:
        rows = [[(org.name[:60], OrganisationPick(org.id).encode())] for org in process.organisations]
        await reply(update, svc.t(lang, "join.ask_organisation", process=process.name), keyboard(rows))
        return
    if membership.role is None:
        rows = [[(svc.catalog.plain(lang, f"role.{role}"), RolePick(role).encode())] for role in people.ROLES]
        await reply(update, svc.t(lang, "join.ask_role"), keyboard(rows))
        return
    if not membership.complete:
        await reply(
            update,
            svc.t(lang, "join.ask_name", name=membership.display_name or "—"),
            keyboard(
                [
                    [(svc.catalog.plain(lang, "join.name_yes"), ShowName(True).encode())],
                    [(svc.catalog.plain(lang, "join.name_no"), ShowName(False).encode())],
                ]
            ),
        )
        return
    await reply(
        update,
        svc.t(lang, "welcome.participant", process=process.name) + "\n\n" + help_text(svc, lang, False),
    )


def help_text(svc: Services, lang: str, facilitator: bool) -> str:
    text = svc.t(lang, "help.participant")
    if facilitator:
        text += "\n\n" + svc.t(lang, "help.facilitator")
    return text


async def on_consent(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = Consent.of(update) or Consent(False, "")
    now = svc.clock.now()
    lang = client_language(update)

    async def work(session: AsyncSession) -> Consented:
        invite = await people.find_invite(session, pressed.code, now=now)
        if invite is None or invite.closed:
            return Consented(None)
        sender = update.effective_user
        assert sender is not None
        if not pressed.accepted:
            await people.record_refusal(session, user_id=sender.id, now=now)
            return Consented(invite)
        user = await people.give_consent(session, user_id=sender.id, language=lang, now=now)
        dialogue.save(user, Joining())
        await people.join(session, user=user, invite=invite, display_name=sender.first_name, now=now)
        return Consented(invite, user.language or lang)

    consented = await svc.db.run(work)
    invite = consented.invite
    if invite is None:
        await answer_callback(update, svc.catalog.plain(lang, "button.stale"))
        return
    if consented.user_lang is None:
        await settled(update, svc.t(lang, "privacy.declined"))
        return
    user_lang = consented.user_lang
    await settled(update, svc.t(user_lang, "privacy.accepted", process=invite.process.name))
    await reply(update, svc.t(user_lang, "join.ask_language"), keyboard(language_keyboard(user_lang)))


async def on_language(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = LanguagePick.of(update)
    lang = pressed.lang if pressed is not None else None

    async def work(session: AsyncSession) -> JoinChoice:
        sender = await who(session, update, now=svc.clock.now())
        if not sender.consented or lang is None:
            return JoinChoice(sender)
        assert sender.user is not None
        people.set_language(sender.user, lang)
        joining = isinstance(dialogue.load(sender.user), Joining)
        if joining:
            dialogue.save(sender.user, None)
        unfinished = sender.membership is not None and not sender.membership.complete
        return JoinChoice(sender, sender.membership if joining or unfinished else None)

    step = await svc.db.run(work)
    sender, membership = step.sender, step.membership
    if lang is None or not sender.consented:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await settled(update, svc.t(lang, "language.set", language=LANGUAGE_NAMES[lang]))
    if membership is not None:
        await continue_joining(update, context, lang, membership.id)


async def on_organisation(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = OrganisationPick.of(update)
    organisation_id = pressed.organisation_id if pressed is not None else -1

    async def work(session: AsyncSession) -> JoinChoice:
        sender = await who(session, update, now=svc.clock.now())
        membership = sender.membership
        if membership is None or membership.is_facilitator:
            return JoinChoice(sender)
        name = await people.choose_organisation(session, membership, organisation_id)
        return JoinChoice(sender, membership, name) if name is not None else JoinChoice(sender)

    step = await svc.db.run(work)
    sender, name = step.sender, step.label
    membership_id = step.membership.id if step.membership is not None else None
    if membership_id is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await settled(update, svc.t(sender.lang, "join.organisation_set", organisation=name))
    await continue_joining(update, context, sender.lang, membership_id)


async def on_role(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = RolePick.of(update)
    role = pressed.role if pressed is not None else None

    async def work(session: AsyncSession) -> JoinChoice:
        sender = await who(session, update, now=svc.clock.now())
        membership = sender.membership
        if membership is None or role is None or membership.is_facilitator:
            return JoinChoice(sender)
        people.choose_role(membership, role)
        return JoinChoice(sender, membership)

    step = await svc.db.run(work)
    sender = step.sender
    membership_id = step.membership.id if step.membership is not None else None
    if membership_id is None or role is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await settled(
        update, svc.t(sender.lang, "join.role_set", role=svc.catalog.plain(sender.lang, f"role.{role}"))
    )
    await continue_joining(update, context, sender.lang, membership_id)


async def on_name(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = ShowName.of(update)
    show = pressed is not None and pressed.confirmed
    now = svc.clock.now()

    async def work(session: AsyncSession) -> JoinChoice:
        sender = await who(session, update, now=now)
        membership = sender.membership
        if membership is None or membership.role is None or membership.organisation_id is None:
            return JoinChoice(sender)
        await people.complete_joining(session, membership, show_name=show, now=now)
        return JoinChoice(sender, membership)

    step = await svc.db.run(work)
    sender = step.sender
    membership_id = step.membership.id if step.membership is not None else None
    if membership_id is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await settled(update, svc.t(sender.lang, "join.name_set_yes" if show else "join.name_set_no"))
    await continue_joining(update, context, sender.lang, membership_id)


async def on_active_process(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = ActiveProcess.of(update)
    membership_id = pressed.membership_id if pressed is not None else -1

    async def work(session: AsyncSession) -> JoinChoice:
        sender = await who(session, update, now=svc.clock.now())
        if sender.user is None:
            return JoinChoice(sender)
        membership = await people.make_active(session, sender.user, membership_id)
        return (
            JoinChoice(sender, membership, membership.process.name)
            if membership is not None
            else JoinChoice(sender)
        )

    step = await svc.db.run(work)
    sender, name = step.sender, step.label
    if name is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await settled(update, svc.t(sender.lang, "start.active_process", process=name))


async def help_command(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Who:
        return await who(session, update, now=svc.clock.now())

    sender = await svc.db.run(work)
    if not sender.consented:
        await reply(update, svc.t(sender.lang, "start.ask_facilitator"))
        return
    facilitator = sender.membership is not None and sender.membership.is_facilitator
    await reply(update, help_text(svc, sender.lang, facilitator))


async def privacy_command(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Who:
        return await who(session, update, now=svc.clock.now())

    sender = await svc.db.run(work)
    process = sender.membership.process if sender.membership else None
    await reply(
        update,
        svc.t(
            sender.lang,
            "privacy.notice",
            process=process.name if process else "Välitupa",
            retention_days=process.retention_days if process else 180,
        )
        + "\n\n"
        + svc.t(sender.lang, "privacy.rights"),
    )


async def language_command(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Who:
        return await who(session, update, now=svc.clock.now())

    sender = await svc.db.run(work)
    if not sender.consented:
        await reply(update, svc.t(sender.lang, "start.ask_facilitator"))
        return
    await reply(update, svc.t(sender.lang, "join.ask_language"), keyboard(language_keyboard(sender.lang)))


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("start", start, filters=private))
    app.add_handler(CommandHandler("help", help_command, filters=private))
    app.add_handler(CommandHandler("privacy", privacy_command, filters=private))
    app.add_handler(CommandHandler("language", language_command, filters=private))
    app.add_handler(CallbackQueryHandler(on_consent, pattern=Consent.pattern()))
    app.add_handler(CallbackQueryHandler(on_language, pattern=LanguagePick.pattern()))
    app.add_handler(CallbackQueryHandler(on_organisation, pattern=OrganisationPick.pattern()))
    app.add_handler(CallbackQueryHandler(on_role, pattern=RolePick.pattern()))
    app.add_handler(CallbackQueryHandler(on_name, pattern=ShowName.pattern()))
    app.add_handler(CallbackQueryHandler(on_active_process, pattern=ActiveProcess.pattern()))
