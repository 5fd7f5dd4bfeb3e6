"""The experiment log: /experiment asks what was done, what happened, what was learned, obstacles."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx
from bot.domain.text import shorten
from bot.services import contributions
from handlers import dialogue
from handlers.callbacks import ExperimentPick
from handlers.common import (
    Button,
    keyboard,
    reply,
    who,
)
from handlers.dialogue import Form
from handlers.flows import Input, Out, Pressed, Step

LOG_STEPS = ("done", "happened", "learned", "obstacles")


async def on_experiment(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None or sender.user is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        ideas = await contributions.own_ideas(session, membership=sender.participant)
        if not ideas:
            dialogue.save(sender.user, Form("experiment", "name"))
            return Out(svc.t(sender.lang, "experiment.ask_name"))
        dialogue.save(sender.user, Form("experiment", "pick"))
        rows: list[list[Button]] = [
            [("💡 " + shorten(idea.title, 48), ExperimentPick(idea.id).encode())] for idea in ideas
        ]
        rows.append([(svc.catalog.plain(sender.lang, "experiment.button.new"), ExperimentPick(0).encode())])
        return Out(svc.t(sender.lang, "experiment.pick"), keyboard(rows))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def on_pick(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = ExperimentPick.of(update)

    async def work(session: AsyncSession) -> Pressed:
        sender = await who(session, update, now=svc.clock.now())
        lang = sender.lang
        if (
            sender.user is None
            or sender.participant is None
            or dialogue.flow_name(sender.user) != "experiment"
            or pressed is None
        ):
            return Pressed(lang, "button.stale")
        if pressed.idea_id == 0:
            dialogue.save(sender.user, Form("experiment", "name"))
            return Pressed(lang, out=Out(svc.t(lang, "experiment.ask_name")))
        idea = await contributions.own_idea(session, membership=sender.participant, idea_id=pressed.idea_id)
        if idea is None:
            return Pressed(lang, "button.stale")
        dialogue.save(sender.user, Form("experiment", "done", {"idea_id": idea.id, "title": idea.title}))
        return Pressed(lang, out=Out(svc.t(lang, "experiment.ask_done", title=idea.title or "")))

    await (await svc.db.run(work)).settle(update, svc)


async def experiment_flow(step: Step, data: Input) -> None:
    membership = step.sender.participant
    assert membership is not None
    form = step.form("experiment")
    current = form.step or "name"
    collected = dict(form.data)
    text = (data.text or "").strip() or None
    if current == "pick":
        step.say("experiment.use_buttons")
        return
    if current == "name":
        if data.skip or text is None:
            step.say("experiment.name_needed")
            return
        collected["title"] = text[:300]
        step.open(form.at("done", collected))
        step.say("experiment.ask_done", title=collected["title"])
        return
    collected[current] = None if data.skip else text
    if current != LOG_STEPS[-1]:
        following = LOG_STEPS[LOG_STEPS.index(current) + 1]
        step.open(form.at(following, collected))
        step.say(f"experiment.ask_{following}")
        return
    await contributions.save_experiment(
        step.session,
        membership=membership,
        idea_id=collected.get("idea_id"),
        title=collected.get("title"),
        done=collected.get("done"),
        happened=collected.get("happened"),
        learned=collected.get("learned"),
        obstacles=collected.get("obstacles"),
        now=step.now,
    )
    step.close()
    step.say("experiment.saved", title=collected.get("title") or "")


def register(app: Application) -> None:
    app.add_handler(CommandHandler("experiment", on_experiment, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(on_pick, pattern=ExperimentPick.pattern()))
