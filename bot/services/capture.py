"""Filing a plain message from a participant: an answer to a prompt, or an observation.

In order: a reply to a prompt answers that prompt (an observation when the prompt has closed), in
the prompt's own process even when another process is the active one. A text reply to an open idea
call *is* an idea (saved at once, and the guided idea dialogue goes on from its second question),
and a text reply to an open experiment prompt is an entry in the experiment log;
with exactly one prompt open the message answers that one; otherwise it is an observation, and
with several prompts open the participant is asked which one it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.process import ProcessFacts
from bot.domain.programme.spec import INFORMING_KINDS
from bot.services import answers, contributions, outbox
from bot.services.contributions import Media
from storage.models import Delivery, Membership, Prompt, Submission

NOT_ANSWERS = INFORMING_KINDS
"""Prompt kinds that inform: a reply to them is not an answer."""


CONTRIBUTION_KINDS = frozenset({"idea", "experiment"})
"""Prompt kinds whose reply is an idea or an experiment log, not an answer."""


@dataclass(frozen=True)
class Incoming:
    text: str | None
    media: Media | None
    chat_id: int
    message_id: int | None
    reply_to_message_id: int | None = None


@dataclass(frozen=True)
class Answered:
    answer: Submission
    delivery: Delivery
    replied: bool
    """True when the message replied to the prompt; False when it was the only open one."""


@dataclass(frozen=True)
class IdeaStarted:
    idea: Submission
    """Saved from the reply (its title is the reply); the prompt counts as answered."""


@dataclass(frozen=True)
class ExperimentLogged:
    entry: Submission
    """An experiment-log entry saved from the reply; the prompt counts as answered."""


@dataclass(frozen=True)
class Observed:
    observation: Submission
    prompt_closed: bool
    """The message replied to a prompt that has closed."""


@dataclass(frozen=True)
class AskWhichPrompt:
    observation: Submission
    open_deliveries: list[Delivery]
    """Stored as an observation; these prompts are open and the participant may say which it answers."""


Routed = Answered | Observed | AskWhichPrompt | IdeaStarted | ExperimentLogged


async def store_observation(
    session: AsyncSession, *, membership: Membership, message: Incoming, now: datetime
) -> Submission:
    return await contributions.add_observation(
        session,
        membership=membership,
        text=message.text,
        media=message.media,
        chat_id=message.chat_id,
        message_id=message.message_id,
        now=now,
    )


async def store_answer(
    session: AsyncSession, *, membership: Membership, message: Incoming, delivery: Delivery, now: datetime
) -> Submission:
    return await answers.record_answer(
        session,
        delivery=delivery,
        membership=membership,
        text=message.text,
        media=message.media,
        choice=None,
        chat_id=message.chat_id,
        message_id=message.message_id,
        now=now,
    )


async def store_contribution(
    session: AsyncSession, *, delivery: Delivery, message: Incoming, now: datetime
) -> IdeaStarted | ExperimentLogged | None:
    """A text reply to an open idea call as an idea, to an open experiment prompt as a log entry."""
    text = (message.text or "").strip()
    kind = delivery.prompt.kind
    if not text or kind not in CONTRIBUTION_KINDS:
        return None
    membership = delivery.membership
    if kind == "idea":
        saved = await contributions.save_idea(
            session,
            membership=membership,
            title=text,
            need=None,
            partners=None,
            first_experiment=None,
            now=now,
        )
    else:
        saved = await contributions.save_experiment(
            session,
            membership=membership,
            idea_id=None,
            title=None,
            done=None,
            happened=text,
            learned=None,
            obstacles=None,
            now=now,
        )
    saved.prompt_id, saved.delivery_id = delivery.prompt_id, delivery.id
    saved.chat_id, saved.message_id = message.chat_id, message.message_id
    answers.mark_answered(delivery)
    await session.flush()
    return IdeaStarted(saved) if kind == "idea" else ExperimentLogged(saved)


async def route_reply(
    session: AsyncSession, *, delivery: Delivery, message: Incoming, now: datetime
) -> Answered | Observed | IdeaStarted | ExperimentLogged:
    """A reply to ``delivery``'s message, filed in the delivery's own process: an answer while the
    prompt is open (an idea or an experiment log for those prompts), otherwise an observation."""
    membership = delivery.membership
    if delivery.prompt.kind not in NOT_ANSWERS and answers.is_open(delivery.prompt, now):
        contribution = await store_contribution(session, delivery=delivery, message=message, now=now)
        if contribution is not None:
            return contribution
        answer = await store_answer(
            session, membership=membership, message=message, delivery=delivery, now=now
        )
        return Answered(answer, delivery, replied=True)
    observation = await store_observation(session, membership=membership, message=message, now=now)
    return Observed(observation, prompt_closed=delivery.prompt.kind not in NOT_ANSWERS)


async def reply_to_another_prompt(
    session: AsyncSession, *, membership: Membership, message: Incoming, flow: str
) -> Delivery | None:
    """The prompt ``message`` explicitly replies to, when that reply belongs to the prompt rather than
    to the open dialogue ``flow``: any answerable prompt, except that a reply to an idea call while an
    idea is being written (or to an experiment prompt during an experiment log) continues it."""
    if message.reply_to_message_id is None:
        return None
    delivery = await answers.delivery_for_reply(
        session,
        membership=membership,
        chat_id=message.chat_id,
        reply_to_message_id=message.reply_to_message_id,
    )
    if delivery is None or delivery.prompt.kind in NOT_ANSWERS or delivery.prompt.kind == flow:
        return None
    return delivery


async def route_message(
    session: AsyncSession, *, membership: Membership, message: Incoming, open_prompts: int, now: datetime
) -> Routed:
    """File ``message`` (``open_prompts``: how many prompts the sender has open, already counted)."""
    if message.reply_to_message_id is not None:
        delivery = await answers.delivery_for_reply(
            session,
            membership=membership,
            chat_id=message.chat_id,
            reply_to_message_id=message.reply_to_message_id,
        )
        if delivery is not None and delivery.membership_id != membership.id:
            # A reply to what another of their processes sent: filed there, never in the active one,
            # whose facilitators would otherwise read it.
            return await route_reply(session, delivery=delivery, message=message, now=now)
        if delivery is not None and delivery.prompt.kind not in NOT_ANSWERS:
            return await route_reply(session, delivery=delivery, message=message, now=now)
    open_ = await answers.open_deliveries(session, membership=membership, now=now) if open_prompts else []
    if len(open_) == 1:
        # The only open prompt takes the message as its reply: an idea call's is an idea, an
        # experiment prompt's a log entry, as when the message replies to it explicitly.
        contribution = await store_contribution(session, delivery=open_[0], message=message, now=now)
        if contribution is not None:
            return contribution
        answer = await store_answer(
            session, membership=membership, message=message, delivery=open_[0], now=now
        )
        return Answered(answer, open_[0], replied=False)
    observation = await store_observation(session, membership=membership, message=message, now=now)
    if len(open_) > 1:
        return AskWhichPrompt(observation, open_)
    return Observed(observation, prompt_closed=False)


async def reachable_again(session: AsyncSession, membership: Membership, now: datetime) -> None:
    """They wrote to us, so Telegram delivers to them again: plan what is still open."""
    if membership.unreachable:
        membership.unreachable = False
        await outbox.plan_member(session, membership, now)


async def facts_for_snippet(session: AsyncSession, prompt: Prompt) -> ProcessFacts | None:
    """The process facts a snippet of ``prompt`` needs to fill its placeholders; None when its text
    has none (the common case, which then costs no query)."""
    if not any("{" in str(text) for text in (prompt.texts or {}).values()):
        return None
    return (await outbox.process_facts(session, [prompt.process_id])).get(prompt.process_id)
