"""/merge: a facilitator folds a duplicate idea into another (``/merge 12 7`` keeps #7).

Authorised like every facilitator command, against the sender's active membership; the merge itself
is :func:`bot.services.merge.merge_ideas`, the author's notice :mod:`bot.room.telling`.
"""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import Ctx
from bot.room.telling import tell_merged_author
from bot.services.merge import Merged, MergeProblem, merge_ideas
from handlers.common import Facilitating, reply, require_facilitator
from handlers.facilitator import refusal
from handlers.flows import Out

_REFERENCE = re.compile(r"#?(\d{1,10})")


def references(args: list[str]) -> tuple[int, int] | None:
    """``12 7``, ``#12 #7`` or ``#12 → #7``: the idea to merge and the one to keep."""
    found = [int(match) for match in _REFERENCE.findall(" ".join(args))]
    return (found[0], found[1]) if len(found) == 2 else None


async def on_merge(update: Update, context: Ctx) -> None:
    svc = context.services
    now = svc.clock.now()
    pair = references(list(context.args or []))
    user_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[Out, Merged | None]:
        access = await require_facilitator(session, update, now)
        lang = access.sender.lang
        if not isinstance(access, Facilitating):
            return refusal(svc, lang), None
        if pair is None:
            return Out(svc.t(lang, "merge.usage")), None
        merged_id, kept_id = pair
        result = await merge_ideas(
            session, process_id=access.process.id, merged_id=merged_id, kept_id=kept_id, by_user_id=user_id
        )
        if isinstance(result, MergeProblem):
            return Out(svc.t(lang, f"merge.problem.{result}", merged=merged_id, kept=kept_id)), None
        text = svc.t(
            lang,
            "merge.done",
            merged=result.merged_id,
            merged_title=result.merged_title,
            kept=result.kept_id,
            kept_title=result.kept_title,
            moved=result.moved_supports,
            supports=result.kept_supports,
        )
        return Out(text), result

    out, merged = await svc.db.run(work)
    await reply(update, out.text, out.markup)
    if merged is not None:
        await tell_merged_author(context.bot, svc.catalog, merged)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("merge", on_merge, filters=filters.ChatType.PRIVATE))
