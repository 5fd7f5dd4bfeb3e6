"""Joining a process: /start with an invite code, consent, language, organisation, role, name."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx, Services
from bot.infra.commands import publish_facilitator_commands
from bot.services import outbox, people
from handlers.common import (
    Button,
    answer_callback,
    callback_parts,
    client_language,
    edit_callback_message,
    keyboard,
    reply,
    who,
)
from messages import LANGUAGES

LANGUAGE_NAMES = {"fi": "Suomi", "sv": "Svenska", "en": "English"}


def language_keyboard(current: str) -> list[list[Button]]:
    return [[(("✓ " if lang == current else "") + LANGUAGE_NAMES[lang], f"lg:{lang}") for lang in LANGUAGES]]


async def start(update: Update, context: Ctx) -> None:
    svc = context.services
    code = (context.args or [""])[0].strip()
    now = svc.clock.now()

    async def work(session):  # type: ignore[no-untyped-def]
        sender = await who(session, update, now=svc.clock.now())
        invite = await people.find_invite(session, code) if code else None
        if invite is None:
            if sender.consented and sender.membership is not None:
                memberships = await people.memberships_of(session, sender.user_id)
                return ("member", sender, memberships, None)
            return ("stranger", sender, [], None)
        if not sender.consented:
            return ("consent", sender, [], invite)
        assert sender.user is not None
        first_name = update.effective_user.first_name if update.effective_user else None
        membership, created = await people.join(
            session, user=sender.user, invite=invite, display_name=first_name, now=now
        )
        return ("joined" if created or not membership.complete else "again", sender, [membership], invite)

    outcome, sender, memberships, invite = await svc.db.run(work)
    lang = sender.lang
    if outcome == "stranger":
        await reply(update, svc.t(lang, "start.ask_facilitator"))
    elif outcome == "member":
        active = sender.membership
        text = svc.t(lang, "start.welcome_back", process=active.process.name if active else "")
        if len(memberships) > 1:
            text += "\n\n" + svc.t(lang, "start.choose_process")
            rows = [
                [
                    (
                        ("✓ " if m.id == (active.id if active else None) else "") + m.process.name[:60],
                        f"ap:{m.id}",
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
                    [(svc.catalog.plain(lang, "privacy.accept"), f"cs:y:{code}")],
                    [(svc.catalog.plain(lang, "privacy.decline"), f"cs:n:{code}")],
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

    async def work(session):  # type: ignore[no-untyped-def]
        return await people.membership_by_id(session, membership_id)

    membership = await svc.db.run(work)
    if membership is None:
        return
    process = membership.process
    if membership.is_facilitator:
        chat = update.effective_chat
        if chat is not None:
            await publish_facilitator_commands(context.bot, svc.catalog, chat.id, lang)
        await reply(
            update,
            svc.t(lang, "welcome.facilitator", process=process.name)
            + "\n\n"
            + svc.t(lang, "invite.links", participant_link=svc.invite_link(process.participant_code)),
        )
        return
    if membership.organisation_id is None:
        rows = [[(org.name[:60], f"og:{org.id}")] for org in process.organisations]
        await reply(update, svc.t(lang, "join.ask_organisation", process=process.name), keyboard(rows))
        return
    if membership.role is None:
        rows = [[(svc.catalog.plain(lang, f"role.{role}"), f"rl:{role}")] for role in people.ROLES]
        await reply(update, svc.t(lang, "join.ask_role"), keyboard(rows))
        return
    if not membership.complete:
        await reply(
            update,
            svc.t(lang, "join.ask_name", name=membership.display_name or "—"),
            keyboard(
                [
                    [(svc.catalog.plain(lang, "join.name_yes"), "nm:y")],
                    [(svc.catalog.plain(lang, "join.name_no"), "nm:n")],
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
    _, answer, code = [*callback_parts(update), "", "", ""][:3]
    now = svc.clock.now()
    lang = client_language(update)

    async def work(session):  # type: ignore[no-untyped-def]
        invite = await people.find_invite(session, code)
        if invite is None:
            return None, None
        sender = update.effective_user
        assert sender is not None
        if answer != "y":
            await people.record_refusal(session, user_id=sender.id, now=now)
            return invite, None
        user = await people.give_consent(session, user_id=sender.id, language=lang, now=now)
        user.state = {"flow": "joining"}
        membership, _ = await people.join(
            session, user=user, invite=invite, display_name=sender.first_name, now=now
        )
        return invite, (user.language or lang, membership.id)

    invite, joined = await svc.db.run(work)
    if invite is None:
        await answer_callback(update, svc.catalog.plain(lang, "button.stale"))
        return
    await answer_callback(update)
    if joined is None:
        await edit_callback_message(update, svc.t(lang, "privacy.declined"))
        return
    user_lang, _membership_id = joined
    await edit_callback_message(update, svc.t(user_lang, "privacy.accepted", process=invite.process.name))
    await reply(update, svc.t(user_lang, "join.ask_language"), keyboard(language_keyboard(user_lang)))


async def on_language(update: Update, context: Ctx) -> None:
    svc = context.services
    parts = callback_parts(update)
    lang = parts[1] if len(parts) > 1 and parts[1] in LANGUAGES else None

    async def work(session):  # type: ignore[no-untyped-def]
        sender = await who(session, update, now=svc.clock.now())
        if not sender.consented or lang is None:
            return sender, None
        assert sender.user is not None
        sender.user.language = lang
        joining = (sender.user.state or {}).get("flow") == "joining"
        if joining:
            sender.user.state = None
        return sender, sender.membership if joining or (
            sender.membership and not sender.membership.complete
        ) else None

    sender, membership = await svc.db.run(work)
    if lang is None or not sender.consented:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await answer_callback(update)
    await edit_callback_message(update, svc.t(lang, "language.set", language=LANGUAGE_NAMES[lang]))
    if membership is not None:
        await continue_joining(update, context, lang, membership.id)


async def on_organisation(update: Update, context: Ctx) -> None:
    svc = context.services
    parts = callback_parts(update)
    organisation_id = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1

    async def work(session):  # type: ignore[no-untyped-def]
        sender = await who(session, update, now=svc.clock.now())
        membership = sender.membership
        if membership is None or membership.is_facilitator:
            return sender, None, None
        organisation = await people.organisation_of_process(
            session, process_id=membership.process_id, organisation_id=organisation_id
        )
        if organisation is None:
            return sender, None, None
        membership.organisation_id = organisation.id
        return sender, membership.id, organisation.name

    sender, membership_id, name = await svc.db.run(work)
    if membership_id is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await answer_callback(update)
    await edit_callback_message(update, svc.t(sender.lang, "join.organisation_set", organisation=name))
    await continue_joining(update, context, sender.lang, membership_id)


async def on_role(update: Update, context: Ctx) -> None:
    svc = context.services
    parts = callback_parts(update)
    role = parts[1] if len(parts) > 1 and parts[1] in people.ROLES else None

    async def work(session):  # type: ignore[no-untyped-def]
        sender = await who(session, update, now=svc.clock.now())
        membership = sender.membership
        if membership is None or role is None or membership.is_facilitator:
            return sender, None
        membership.role = role
        return sender, membership.id

    sender, membership_id = await svc.db.run(work)
    if membership_id is None or role is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await answer_callback(update)
    await edit_callback_message(
        update, svc.t(sender.lang, "join.role_set", role=svc.catalog.plain(sender.lang, f"role.{role}"))
    )
    await continue_joining(update, context, sender.lang, membership_id)


async def on_name(update: Update, context: Ctx) -> None:
    svc = context.services
    show = callback_parts(update)[1:2] == ["y"]
    now = svc.clock.now()

    async def work(session):  # type: ignore[no-untyped-def]
        sender = await who(session, update, now=svc.clock.now())
        membership = sender.membership
        if membership is None or membership.role is None or membership.organisation_id is None:
            return sender, None
        membership.show_name = show
        if not show:
            membership.display_name = None
        newly_complete = not membership.complete
        membership.complete = True
        if newly_complete:
            await outbox.plan_member(session, membership, now)
        return sender, membership.id

    sender, membership_id = await svc.db.run(work)
    if membership_id is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await answer_callback(update)
    await edit_callback_message(
        update, svc.t(sender.lang, "join.name_set_yes" if show else "join.name_set_no")
    )
    await continue_joining(update, context, sender.lang, membership_id)


async def on_active_process(update: Update, context: Ctx) -> None:
    svc = context.services
    parts = callback_parts(update)
    membership_id = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else -1

    async def work(session):  # type: ignore[no-untyped-def]
        sender = await who(session, update, now=svc.clock.now())
        membership = await people.membership_by_id(session, membership_id)
        if membership is None or membership.user_id != sender.user_id or sender.user is None:
            return sender, None
        sender.user.active_membership_id = membership.id
        return sender, membership.process.name

    sender, name = await svc.db.run(work)
    if name is None:
        await answer_callback(update, svc.catalog.plain(sender.lang, "button.stale"))
        return
    await answer_callback(update)
    await edit_callback_message(update, svc.t(sender.lang, "start.active_process", process=name))


async def help_command(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session):  # type: ignore[no-untyped-def]
        return await who(session, update, now=svc.clock.now())

    sender = await svc.db.run(work)
    if not sender.consented:
        await reply(update, svc.t(sender.lang, "start.ask_facilitator"))
        return
    facilitator = sender.membership is not None and sender.membership.is_facilitator
    await reply(update, help_text(svc, sender.lang, facilitator))


async def privacy_command(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session):  # type: ignore[no-untyped-def]
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

    async def work(session):  # type: ignore[no-untyped-def]
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
    app.add_handler(CallbackQueryHandler(on_consent, pattern=r"^cs:"))
    app.add_handler(CallbackQueryHandler(on_language, pattern=r"^lg:"))
    app.add_handler(CallbackQueryHandler(on_organisation, pattern=r"^og:"))
    app.add_handler(CallbackQueryHandler(on_role, pattern=r"^rl:"))
    app.add_handler(CallbackQueryHandler(on_name, pattern=r"^nm:"))
    app.add_handler(CallbackQueryHandler(on_active_process, pattern=r"^ap:"))
