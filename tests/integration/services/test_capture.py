"""Filing a participant's message (bot.services.capture.route_message) on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.capture import Answered, AskWhichPrompt, Incoming, Observed, route_message
from storage.db import Database
from storage.models import Delivery, Membership, Prompt
from tests.support.factories import seed_joined_participants

NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
CHAT = 1001


async def membership_of(session: AsyncSession) -> Membership:
    return (await session.scalars(select(Membership).where(Membership.user_id == CHAT))).one()


async def sent(
    db: Database, key: str, *, message_id: int, closes_in: timedelta, kind: str = "reflection"
) -> int:
    """A prompt delivered to the participant at ``message_id``, closing ``closes_in`` from now."""

    async def work(session: AsyncSession) -> int:
        membership = await membership_of(session)
        prompt = Prompt(
            process_id=membership.process_id,
            key=key,
            phase=1,
            kind=kind,
            texts={"fi": f"Kysymys {key}"},
            due_at=NOW - timedelta(hours=1),
            closes_at=NOW + closes_in,
            created_at=NOW,
        )
        session.add(prompt)
        await session.flush()
        delivery = Delivery(
            prompt_id=prompt.id,
            membership_id=membership.id,
            state="sent",
            due_at=prompt.due_at,
            sent_at=NOW - timedelta(minutes=message_id),
            chat_id=CHAT,
            message_id=message_id,
        )
        session.add(delivery)
        await session.flush()
        return delivery.id

    return await db.run(work)


async def route(db: Database, *, reply_to: int | None = None, open_prompts: int = 1) -> object:
    async def work(session: AsyncSession) -> object:
        membership = await membership_of(session)
        message = Incoming("Viesti", None, CHAT, 500, reply_to)
        return await route_message(
            session, membership=membership, message=message, open_prompts=open_prompts, now=NOW
        )

    return await db.run(work)


async def test_a_reply_to_an_open_prompt_answers_it(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    first = await sent(db, "a", message_id=10, closes_in=timedelta(days=1))
    await sent(db, "b", message_id=11, closes_in=timedelta(days=1))
    routed = await route(db, reply_to=10, open_prompts=2)
    assert isinstance(routed, Answered) and routed.replied and routed.delivery.id == first


async def test_a_reply_to_a_closed_prompt_is_an_observation(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    await sent(db, "a", message_id=10, closes_in=timedelta(hours=-1))
    routed = await route(db, reply_to=10, open_prompts=0)
    assert isinstance(routed, Observed) and routed.prompt_closed


async def test_a_reply_to_an_announcement_is_filed_like_any_message(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    await sent(db, "news", message_id=10, closes_in=timedelta(days=1), kind="announcement")
    routed = await route(db, reply_to=10, open_prompts=0)
    assert isinstance(routed, Observed) and not routed.prompt_closed


async def test_with_exactly_one_prompt_open_a_message_answers_it(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    only = await sent(db, "a", message_id=10, closes_in=timedelta(days=1))
    routed = await route(db)
    assert isinstance(routed, Answered) and not routed.replied and routed.delivery.id == only


async def test_with_several_prompts_open_the_observation_asks_which_one(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    older = await sent(db, "a", message_id=10, closes_in=timedelta(days=1))
    newer = await sent(db, "b", message_id=5, closes_in=timedelta(days=1))
    routed = await route(db, open_prompts=2)
    assert isinstance(routed, AskWhichPrompt)
    assert routed.observation.kind == "observation"
    assert [delivery.id for delivery in routed.open_deliveries] == [newer, older]


async def test_with_nothing_open_a_message_is_an_observation(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    routed = await route(db, open_prompts=0)
    assert isinstance(routed, Observed) and not routed.prompt_closed
