"""Two instances on one PostgreSQL inbox: one person's updates, received half by each, are handled
one at a time in ``update_id`` order, each exactly once."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.infra import inbox
from storage.db import Database
from storage.models import InboxClaim, InboxUpdate, Submission
from tests.support.factories import seed_joined_participants
from tests.support.harness import BotHarness

PERSON = 640_000
MESSAGES = 120


class Receiving(BotHarness):
    """A harness whose updates come only through :meth:`UpdateInbox.accept` (as from a webhook)."""

    async def start(self) -> None:
        await self.app.initialize()
        assert self.app.post_init is not None
        await self.app.post_init(self.app)
        await self.app.start()


def body(user: Any, update_id: int, text: str) -> dict[str, Any]:
    message = {"message_id": update_id, "from": user.user, "chat": user.log.chat, "date": int(time.time())}
    return {"update_id": update_id, "message": {**message, "text": text}}


async def test_one_persons_updates_received_by_two_instances_are_handled_in_order_once(
    backend: str, db: Database, sandbox, clock, settings
) -> None:
    if backend != "postgresql":
        pytest.skip("several instances share PostgreSQL; SQLite runs one")
    await seed_joined_participants(db, 1, first_user=PERSON)
    person = sandbox.user(PERSON, first_name="Aino")
    first = Receiving(sandbox=sandbox, db=Database(db.url, schema=db.schema), clock=clock, settings=settings)
    second = Receiving(sandbox=sandbox, db=Database(db.url, schema=db.schema), clock=clock, settings=settings)
    first.services.instance, second.services.instance = "first", "second"
    await first.start()
    await second.start()
    try:
        # given a person's messages arriving in turn at one instance and the other, as behind a
        # round-robin proxy (Telegram sends a chat's next update once the last one was answered)
        for number in range(MESSAGES):
            harness = (first, second)[number % 2]
            item = inbox.parse_update(body(person, 5000 + number, f"Havainto {number:03d}"), harness.app.bot)
            assert item is not None
            assert harness.services.updates is not None
            assert await harness.services.updates.accept([item]) == 1

        async def left() -> int:
            async with db.session() as session:
                count = await session.scalar(
                    select(func.count()).select_from(InboxUpdate).where(InboxUpdate.handled_at.is_(None))
                )
                return int(count or 0)

        # when both have worked through what they took (a row whose claim crossed its arrival, or
        # that came while the other instance held the queue, is taken by the next sweep)
        for _ in range(10):
            for harness in (first, second):
                assert harness.services.updates is not None
                await harness.services.updates.idle()
            if await left() == 0:
                break
            for harness in (first, second):
                assert harness.services.updates is not None
                await harness.services.updates.sweep()
        assert await left() == 0

        # then every message is filed once, in the order sent, and no claim is left behind
        async with db.session() as session:
            texts = list(
                await session.scalars(
                    select(Submission.text).where(Submission.kind == "observation").order_by(Submission.id)
                )
            )
        assert texts == [f"Havainto {number:03d}" for number in range(MESSAGES)]
        # and once both have stopped no claim is left behind (a worker keeps its claim a while after
        # its queue runs empty; stopping gives it back at once)
        await first.stop()
        await second.stop()
        async with db.session() as session:
            claims = await session.scalar(select(func.count()).select_from(InboxClaim))
        assert claims == 0
    finally:
        await first.stop()
        await second.stop()
        await first.db.dispose()
        await second.db.dispose()
