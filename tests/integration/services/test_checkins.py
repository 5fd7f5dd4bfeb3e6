"""Check-in quick replies and their comments (bot.services.checkins) on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import checkins
from bot.services.checkins import Chosen, Comment, NotChosen
from storage.db import Database
from storage.models import Delivery, Membership, Prompt, Submission
from tests.support.factories import seed_joined_participants

NOW = datetime(2027, 1, 20, 9, 0, tzinfo=UTC)
AINO, BERTIL = 1001, 1002
OPTIONS = [{"fi": "Hyvin", "en": "Well"}, {"fi": "Huonosti", "en": "Badly"}]


async def checkin(db: Database, *, closes_in: timedelta = timedelta(days=1)) -> int:
    async def work(session: AsyncSession) -> int:
        membership = (await session.scalars(select(Membership).where(Membership.user_id == AINO))).one()
        prompt = Prompt(
            process_id=membership.process_id,
            key="c1",
            phase=1,
            kind="checkin",
            texts={"fi": "Miten menee?"},
            options=OPTIONS,
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
            sent_at=NOW,
            chat_id=AINO,
            message_id=10,
        )
        session.add(delivery)
        await session.flush()
        return delivery.id

    return await db.run(work)


async def choose(db: Database, delivery_id: int, option: int, *, user_id: int = AINO) -> Chosen | NotChosen:
    async def work(session: AsyncSession) -> Chosen | NotChosen:
        return await checkins.choose(
            session,
            user_id=user_id,
            delivery_id=delivery_id,
            option=option,
            lang="en",
            chat_id=user_id,
            now=NOW,
        )

    return await db.run(work)


async def answers(db: Database) -> list[Submission]:
    async with db.session() as session:
        return list(await session.scalars(select(Submission).where(Submission.kind == "answer")))


async def test_pressing_again_changes_the_one_answer(db) -> None:
    await seed_joined_participants(db, 2, first_user=AINO)
    delivery = await checkin(db)
    first = await choose(db, delivery, 0)
    second = await choose(db, delivery, 1)
    assert isinstance(first, Chosen) and isinstance(second, Chosen)
    assert first.answer_id == second.answer_id and second.label == "Badly"
    assert [answer.choice for answer in await answers(db)] == ["Badly"]


async def test_someone_elses_stale_or_closed_check_in_is_refused(db) -> None:
    await seed_joined_participants(db, 2, first_user=AINO)
    delivery = await checkin(db)
    assert await choose(db, delivery, 0, user_id=BERTIL) == NotChosen("button.not_yours")
    assert await choose(db, delivery, 5) == NotChosen("button.stale")
    assert await choose(db, delivery + 100, 0) == NotChosen("button.stale")
    closed = await checkin(db, closes_in=timedelta(hours=-1))
    assert await choose(db, closed, 0) == NotChosen("quick.closed")
    assert await answers(db) == []


async def test_a_comment_is_appended_to_the_answer_and_an_empty_one_is_not(db) -> None:
    await seed_joined_participants(db, 2, first_user=AINO)
    chosen = await choose(db, await checkin(db), 0)
    assert isinstance(chosen, Chosen)

    async def comment(text: str | None, *, user_id: int = AINO, reply_to: int | None = None) -> str:
        async def work(session: AsyncSession) -> str:
            message = Comment(text, None, AINO, 77, reply_to)
            return await checkins.add_comment(
                session, user_id=user_id, answer_id=chosen.answer_id, comment=message, now=NOW
            )

        return await db.run(work)

    assert await comment(None) == "empty"
    assert await comment("Kiire viikko", user_id=BERTIL) == "not_a_comment"
    assert await comment("Toiseen", reply_to=999) == "not_a_comment"
    assert await comment("Kiire viikko", reply_to=10) == "saved"
    [answer] = await answers(db)
    assert (answer.choice, answer.text, answer.message_id) == ("Well", "Kiire viikko", 77)
