"""Ideas together: the guided /idea dialogue, similar-idea check, /ideas with supports."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx, Services
from bot.domain.text import shorten
from bot.services import contributions
from bot.services.contributions import IdeaPage
from handlers import dialogue
from handlers.callbacks import ContinueMine, IdeasPage, SupportIdea
from handlers.common import (
    Button,
    answer_callback,
    edit_callback_message,
    keyboard,
    reply,
    who,
)
from handlers.dialogue import Form
from handlers.flows import Input, Out, Step, settle_callback
from messages import Html

IDEA_STEPS = ("name", "need", "partners", "experiment")
IDEA_FIELDS = {"need": "need", "partners": "partners", "experiment": "first_experiment"}


def render_idea_page(svc: Services, lang: str, page: IdeaPage) -> tuple[str, InlineKeyboardMarkup | None]:
    if page.total == 0:
        return svc.t(lang, "ideas.empty"), None
    lines = [svc.t(lang, "ideas.header", count=page.total, page=page.page + 1, pages=page.pages)]
    buttons: list[list[Button]] = []
    for index, row in enumerate(page.rows, start=page.page * contributions.IDEAS_PER_PAGE + 1):
        idea = row.idea
        line = svc.t(lang, "ideas.line", number=index, title=idea.title or "—", supports=row.supports)
        if idea.need:
            line += "\n" + svc.t(lang, "ideas.need", need=shorten(idea.need, 140))
        if idea.first_experiment:
            line += "\n" + svc.t(
                lang, "ideas.first_experiment", experiment=shorten(idea.first_experiment, 140)
            )
        if row.supported_by_me:
            line += "\n" + svc.t(lang, "ideas.you_support")
        lines.append(line)
        label_key = "ideas.button.unsupport" if row.supported_by_me else "ideas.button.support"
        buttons.append(
            [(svc.catalog.plain(lang, label_key, number=index), SupportIdea(idea.id, page.page).encode())]
        )
    nav: list[Button] = []
    if page.page > 0:
        nav.append(("◀", IdeasPage(page.page - 1).encode()))
    if page.page < page.pages - 1:
        nav.append(("▶", IdeasPage(page.page + 1).encode()))
    buttons.append(nav)
    return "\n\n".join(lines), keyboard(buttons)


async def on_idea(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None or sender.user is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        dialogue.save(sender.user, Form("idea", "name"))
        return Out(svc.t(sender.lang, "idea.ask_name"))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def idea_flow(step: Step, data: Input) -> None:
    membership = step.sender.participant
    assert membership is not None
    form = step.form("idea")
    current = form.step or "name"
    collected = dict(form.data)
    text = (data.text or "").strip() or None
    if current == "similar":
        step.say("idea.use_buttons")
        return
    if current == "name":
        if data.skip or text is None:
            step.say("idea.name_needed")
            return
        collected["title"] = text[:300]
        similar = await contributions.similar_ideas(
            step.session, process_id=membership.process_id, title=text, language=step.lang
        )
        if similar:
            step.open(form.at("similar", collected))
            rows: list[list[Button]] = [
                [
                    (
                        step.svc.catalog.plain(
                            step.lang, "idea.button.support_that", title=shorten(idea.title, 40)
                        ),
                        SupportIdea(idea.id, None).encode(),
                    )
                ]
                for idea in similar
            ]
            rows.append(
                [(step.svc.catalog.plain(step.lang, "idea.button.continue_mine"), ContinueMine().encode())]
            )
            listing = "\n".join(
                f"• {step.svc.t(step.lang, 'idea.similar_line', title=idea.title or '')}" for idea in similar
            )
            step.outs.append(Out(step.svc.t(step.lang, "idea.similar", ideas=Html(listing)), keyboard(rows)))
            return
        step.open(form.at("need", collected))
        step.say("idea.ask_need")
        return
    collected[current] = None if data.skip else text
    if isinstance(collected.get("idea_id"), int):
        # Started from a reply to an idea call: the idea is saved; each answer is written at once.
        await contributions.fill_idea(
            step.session,
            membership=membership,
            idea_id=int(collected["idea_id"]),
            field=IDEA_FIELDS[current],
            value=collected[current],
            now=step.now,
        )
    if current != IDEA_STEPS[-1]:
        following = IDEA_STEPS[IDEA_STEPS.index(current) + 1]
        step.open(form.at(following, collected))
        step.say(f"idea.ask_{following}")
        return
    if isinstance(collected.get("idea_id"), int):
        step.close()
        step.say("idea.saved", title=str(collected.get("title") or ""))
        return
    idea = await contributions.save_idea(
        step.session,
        membership=membership,
        title=str(collected.get("title") or "—"),
        need=collected.get("need"),
        partners=collected.get("partners"),
        first_experiment=collected.get("experiment"),
        now=step.now,
    )
    step.close()
    step.say("idea.saved", title=idea.title or "")


async def on_continue_mine(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> tuple[str, bool]:
        sender = await who(session, update, now=svc.clock.now())
        form = dialogue.load(sender.user)
        if sender.user is None or not isinstance(form, Form) or form.flow != "idea" or form.step != "similar":
            return sender.lang, False
        dialogue.save(sender.user, form.at("need"))
        return sender.lang, True

    lang, ok = await svc.db.run(work)
    await answer_callback(update, None if ok else svc.catalog.plain(lang, "button.stale"))
    if ok:
        await edit_callback_message(update, svc.t(lang, "idea.ask_need"))


async def on_ideas(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        page = await contributions.idea_page(session, membership=sender.participant, page=0)
        text, markup = render_idea_page(svc, sender.lang, page)
        return Out(text, markup)

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def on_ideas_page(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = IdeasPage.of(update)
    number = pressed.page if pressed is not None else 0

    async def work(session: AsyncSession) -> tuple[str, Out | None]:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None:
            return sender.lang, None
        page = await contributions.idea_page(session, membership=sender.participant, page=number)
        return sender.lang, Out(*render_idea_page(svc, sender.lang, page))

    lang, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=None if out else "button.stale", out=out)


async def on_support(update: Update, context: Ctx) -> None:
    """Toggle support from the list (``su:<idea>:<page>``) or the similar-idea check (``su:<idea>:s``)."""
    svc = context.services
    pressed = SupportIdea.of(update)
    now = svc.clock.now()

    async def work(session: AsyncSession) -> tuple[str, str | None, Out | None]:
        sender = await who(session, update, now=now)
        lang = sender.lang
        if pressed is None or sender.participant is None or sender.user is None:
            return lang, "button.stale", None
        from_similar = pressed.page is None
        if from_similar and dialogue.flow_name(sender.user) == "idea":
            dialogue.save(sender.user, None)
        result = await contributions.toggle_support(
            session, membership=sender.participant, idea_id=pressed.idea_id, now=now
        )
        if result is None:
            return lang, "button.stale", None
        if from_similar:
            if result is False:
                # Pressing "support that one" never withdraws an earlier support.
                await contributions.toggle_support(
                    session, membership=sender.participant, idea_id=pressed.idea_id, now=now
                )
            return lang, None, Out(svc.t(lang, "idea.supported_instead"))
        page = await contributions.idea_page(session, membership=sender.participant, page=pressed.page or 0)
        notice = "ideas.supported" if result else "ideas.unsupported"
        return lang, notice, Out(*render_idea_page(svc, lang, page))

    lang, notice, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=notice, out=out)


def register(app: Application) -> None:
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("idea", on_idea, filters=private))
    app.add_handler(CommandHandler("ideas", on_ideas, filters=private))
    app.add_handler(CallbackQueryHandler(on_continue_mine, pattern=ContinueMine.pattern()))
    app.add_handler(CallbackQueryHandler(on_ideas_page, pattern=IdeasPage.pattern()))
    app.add_handler(CallbackQueryHandler(on_support, pattern=SupportIdea.pattern()))
