"""Filing a participant's message (bot.services.capture.route_message) on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.programme import parse_process
from bot.services.capture import Answered, AskWhichPrompt, Incoming, Observed, route_message
from bot.services.processes import create_process
from storage.db import Database
from storage.models import Delivery, Membership, Prompt, Submission, User
from tests.support.factories import process_yaml, seed_joined_participants

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


async def second_process_active(db: Database) -> tuple[int, int]:
    """The participant also joins a second process, which becomes the active one; returns the ids of
    the first and the second membership."""

    async def work(session: AsyncSession) -> tuple[int, int]:
        first = await membership_of(session)
        source = process_yaml(name="Beta")
        beta = await create_process(
            session, spec=parse_process(source), source_yaml=source, created_by=None, now=NOW
        )
        second = Membership(process_id=beta.id, user_id=CHAT, pseudonym="B-1", complete=True, joined_at=NOW)
        session.add(second)
        await session.flush()
        user = await session.get(User, CHAT)
        assert user is not None
        user.active_membership_id = second.id
        return first.id, second.id

    return await db.run(work)


async def test_a_reply_to_a_prompt_of_another_process_is_filed_in_that_process(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    alpha_prompt = await sent(db, "a", message_id=10, closes_in=timedelta(days=1))
    alpha, beta = await second_process_active(db)

    async def reply(session: AsyncSession, reply_to: int) -> object:
        active = await session.get(Membership, beta)
        assert active is not None
        message = Incoming("Vastaus Alphalle", None, CHAT, 500 + reply_to, reply_to)
        return await route_message(session, membership=active, message=message, open_prompts=0, now=NOW)

    routed = await db.run(lambda session: reply(session, 10))
    assert isinstance(routed, Answered) and routed.delivery.id == alpha_prompt
    assert routed.answer.membership_id == alpha

    async def filed(session: AsyncSession) -> list[tuple[int, str]]:
        rows = await session.execute(
            select(Submission.membership_id, Submission.kind).order_by(Submission.id)
        )
        return [(row[0], row[1]) for row in rows]

    assert await db.run(filed) == [(alpha, "answer")]


async def test_a_reply_to_a_closed_prompt_of_another_process_is_an_observation_there(db) -> None:
    await seed_joined_participants(db, 1, first_user=CHAT)
    await sent(db, "a", message_id=10, closes_in=timedelta(hours=-1))
    await sent(db, "news", message_id=11, closes_in=timedelta(days=1), kind="announcement")
    alpha, beta = await second_process_active(db)

    async def reply(session: AsyncSession, reply_to: int) -> Submission:
        active = await session.get(Membership, beta)
        assert active is not None
        message = Incoming("Havainto", None, CHAT, 500 + reply_to, reply_to)
        routed = await route_message(session, membership=active, message=message, open_prompts=0, now=NOW)
        assert isinstance(routed, Observed)
        return routed.observation

    for message_id in (10, 11):
        observation = await db.run(lambda session, m=message_id: reply(session, m))
        assert observation.membership_id == alpha and observation.kind == "observation"
