"""The experiment log: /experiment asks what was done, what happened, what was learned, obstacles."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx
from bot.services import contributions
from handlers.capture import snippet
from handlers.common import (
    Button,
    callback_parts,
    keyboard,
    reply,
    who,
)
from handlers.flows import Input, Out, Step, flow, settle_callback
from storage.models import Submission

LOG_STEPS = ("done", "happened", "learned", "obstacles")


async def on_experiment(update: Update, context: Ctx) -> None:
    svc = context.services

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.participant is None or sender.user is None:
            return Out(svc.t(sender.lang, "start.ask_facilitator"))
        ideas = await contributions.own_ideas(session, membership=sender.participant)
        if not ideas:
            sender.user.state = {"flow": "experiment", "step": "name", "data": {}}
            return Out(svc.t(sender.lang, "experiment.ask_name"))
        sender.user.state = {"flow": "experiment", "step": "pick", "data": {}}
        rows: list[list[Button]] = [[("💡 " + snippet(idea.title, 48), f"ex:{idea.id}")] for idea in ideas]
        rows.append([(svc.catalog.plain(sender.lang, "experiment.button.new"), "ex:0")])
        return Out(svc.t(sender.lang, "experiment.pick"), keyboard(rows))

    out = await svc.db.run(work)
    await reply(update, out.text, out.markup)


async def on_pick(update: Update, context: Ctx) -> None:
    svc = context.services
    parts = callback_parts(update)

    async def work(session: AsyncSession) -> tuple[str, Out | None]:
        sender = await who(session, update, now=svc.clock.now())
        state = dict(sender.user.state or {}) if sender.user else {}
        if (
            sender.user is None
            or sender.participant is None
            or state.get("flow") != "experiment"
            or len(parts) != 2
        ):
            return sender.lang, None
        if parts[1] == "0":
            sender.user.state = {"flow": "experiment", "step": "name", "data": {}}
            return sender.lang, Out(svc.t(sender.lang, "experiment.ask_name"))
        idea = await session.get(Submission, int(parts[1])) if parts[1].isdigit() else None
        if idea is None or idea.membership_id != sender.participant.id or idea.kind != "idea":
            return sender.lang, None
        sender.user.state = {
            "flow": "experiment",
            "step": "done",
            "data": {"idea_id": idea.id, "title": idea.title},
        }
        return sender.lang, Out(svc.t(sender.lang, "experiment.ask_done", title=idea.title or ""))

    lang, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=None if out else "button.stale", out=out)


@flow("experiment")
async def experiment_flow(step: Step, data: Input) -> None:
    membership = step.sender.participant
    assert membership is not None
    current = str(step.state.get("step", "name"))
    collected = dict(step.state.get("data") or {})
    text = (data.text or "").strip() or None
    if current == "pick":
        step.say("experiment.use_buttons")
        return
    if current == "name":
        if data.skip or text is None:
            step.say("experiment.name_needed")
            return
        collected["title"] = text[:300]
        step.set_state("experiment", step="done", data=collected)
        step.say("experiment.ask_done", title=collected["title"])
        return
    collected[current] = None if data.skip else text
    if current != LOG_STEPS[-1]:
        following = LOG_STEPS[LOG_STEPS.index(current) + 1]
        step.set_state("experiment", step=following, data=collected)
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
    step.set_state(None)
    step.say("experiment.saved", title=collected.get("title") or "")


def register(app: Application) -> None:
    app.add_handler(CommandHandler("experiment", on_experiment, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(on_pick, pattern=r"^ex:"))
