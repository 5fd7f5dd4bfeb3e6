"""Helpers for the programme and facilitator end-to-end tests (this module holds no tests).

Participants are seeded through the storage layer and planned exactly as joining plans them
(:func:`bot.services.outbox.plan_member`); the dispatcher is driven tick by tick with the fake clock, never by the
JobQueue, so every test is deterministic.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from bot.jobs.dispatcher import Dispatcher
from bot.services.outbox import plan_member
from storage.models import Delivery, Membership, Organisation, Process, Prompt, User
from tests.support.harness import BotHarness


@dataclass(frozen=True)
class Person:
    user_id: int
    first_name: str
    organisation: int = 0
    role: str = "employee"
    language: str = "fi"
    show_name: bool = False


def dispatcher(bot: BotHarness) -> Dispatcher:
    assert bot.services.dispatcher is not None
    return bot.services.dispatcher


async def start_harness(
    sandbox: Any, db: Any, clock: Any, settings: Any, instance: str = "test", compress_time: bool = True
) -> BotHarness:
    """A running bot whose dispatcher only ticks when the test says so.

    With ``compress_time`` the rate limiter's one-message-per-chat-per-second spacing is lifted:
    the fake clock compresses weeks into a second of real time, and that spacing is about real
    seconds (it is exercised where a test is about pacing).
    """
    harness = BotHarness(sandbox=sandbox, db=db, clock=clock, settings=settings)
    harness.services.instance = instance
    dispatcher(harness).auto = False
    if compress_time:
        harness.app.bot.rate_limiter.per_chat_interval = 0.0
    await harness.start()
    return harness


async def seed(bot: BotHarness, process: Process, people: list[Person]) -> dict[int, int]:
    """Participants who completed joining at the clock's now; returns user id → membership id."""
    now = bot.clock.now()
    for person in people:
        bot.sandbox.user(person.user_id, first_name=person.first_name, language_code=person.language)

    async def work(session: Any) -> dict[int, int]:
        organisations = list(
            await session.scalars(
                select(Organisation.id)
                .where(Organisation.process_id == process.id)
                .order_by(Organisation.position)
            )
        )
        ids: dict[int, int] = {}
        for person in people:
            user = User(
                id=person.user_id, consent="given", consent_at=now, language=person.language, created_at=now
            )
            session.add(user)
            membership = Membership(
                process_id=process.id,
                user_id=person.user_id,
                organisation_id=organisations[person.organisation],
                role=person.role,
                pseudonym=f"P-{person.user_id}",
                display_name=person.first_name if person.show_name else None,
                show_name=person.show_name,
                complete=True,
                joined_at=now,
            )
            session.add(membership)
            await session.flush()
            user.active_membership_id = membership.id
            ids[person.user_id] = membership.id
            await plan_member(session, membership, now)
        return ids

    return await bot.db.run(work)


async def next_event(bot: BotHarness) -> datetime | None:
    """The next instant after now when something is due: a delivery or a reminder."""
    now = bot.clock.now()
    async with bot.db.session() as session:
        due = await session.scalar(
            select(func.min(Delivery.due_at)).where(Delivery.state == "pending", Delivery.due_at > now)
        )
        remind = await session.scalar(
            select(func.min(Delivery.remind_at)).where(
                Delivery.state == "sent", Delivery.reminded_at.is_(None), Delivery.remind_at > now
            )
        )
    candidates = [instant for instant in (due, remind) if instant is not None]
    return min(candidates) if candidates else None


async def run_until(bot: BotHarness, until: datetime) -> int:
    """Move the clock from event to event up to ``until``, ticking at each; returns the ticks run."""
    await dispatcher(bot).tick()  # whatever became due at the current instant (a join, a resume)
    ticks = 1
    while (event := await next_event(bot)) is not None and event <= until:
        bot.clock.set(event)
        await dispatcher(bot).tick()
        ticks += 1
    bot.clock.set(until)
    await dispatcher(bot).tick()
    await bot.idle()
    return ticks + 1


async def outbox(bot: BotHarness, user_id: int) -> dict[str, Delivery]:
    """Prompt key → delivery row of one participant."""
    async with bot.db.session() as session:
        rows = await session.execute(
            select(Prompt.key, Delivery)
            .join(Delivery, Delivery.prompt_id == Prompt.id)
            .join(Membership, Membership.id == Delivery.membership_id)
            .where(Membership.user_id == user_id)
        )
        return {row[0]: row[1] for row in rows.all()}


def successful_sends(sandbox: Any, chat_id: int) -> list[dict[str, Any]]:
    """Every message the bot sent to a chat with sendMessage, as Telegram answered it."""
    return [
        call.response["result"]
        for call in sandbox.calls("sendMessage")
        if call.status == 200 and call.params.get("chat_id") == chat_id
    ]


def sends_by_chat(sandbox: Any, containing: str) -> Counter[int]:
    """How many times each chat was sent a message containing ``containing``."""
    counts: Counter[int] = Counter()
    for call in sandbox.calls("sendMessage"):
        if call.status == 200 and containing in str(call.params.get("text", "")):
            counts[int(call.params["chat_id"])] += 1
    return counts


async def delivered(bot: BotHarness, *states: str) -> list[tuple[str, int, Delivery]]:
    """(prompt key, user id, delivery) for every delivery in ``states`` (default: sent or answered)."""
    wanted = states or ("sent", "answered")
    async with bot.db.session() as session:
        rows = await session.execute(
            select(Prompt.key, Membership.user_id, Delivery)
            .join(Delivery, Delivery.prompt_id == Prompt.id)
            .join(Membership, Membership.id == Delivery.membership_id)
            .where(or_(*(Delivery.state == state for state in wanted)))
        )
        return [(key, user_id, delivery) for key, user_id, delivery in rows.all()]
