"""A worker keeps its person's claim a while after their queue runs empty (PostgreSQL): their next
message is handled under the same claim, another instance's row for them is taken up by the
holder's sweep, and stopping gives every claim back at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.infra import inbox
from storage.db import Database
from storage.models import InboxClaim, Submission
from tests.e2e.test_inbox_instances import Receiving, body
from tests.support.factories import seed_joined_participants

PERSON = 650_000
LONG_LINGER_S = 600.0
"""Longer than any test takes: the linger never runs out while the test looks at it."""


async def _claims(db: Database) -> list[tuple[int, str, object]]:
    async with db.session() as session:
        rows = await session.execute(select(InboxClaim.user_id, InboxClaim.instance, InboxClaim.claimed_at))
        return [(int(user), str(instance), at) for user, instance, at in rows.all()]


async def _observations(db: Database) -> list[str]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(Submission.text).where(Submission.kind == "observation").order_by(Submission.id)
            )
        )


async def test_a_persons_next_message_within_the_linger_is_handled_under_the_same_claim(
    backend: str, bot, sandbox, clock
) -> None:
    if backend != "postgresql":
        pytest.skip("claims are for several instances on PostgreSQL")
    assert bot.services.updates is not None
    bot.services.updates.linger = LONG_LINGER_S
    process = await bot.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)

    # given Aino's first observation, handled, and a minute later her second
    await bot.say(aino, "Kirjastossa oli jonoa")
    held = await _claims(bot.db)
    clock.advance(timedelta(minutes=1))
    await bot.say(aino, "Toinen havainto")

    # then both are filed, and the claim taken for her is the one written before: not given back
    # and taken again for every message
    assert await _observations(bot.db) == ["Kirjastossa oli jonoa", "Toinen havainto"]
    assert [user for user, _, _ in held] == [1001]
    assert await _claims(bot.db) == held
    # and the bot was idle all along: a lingering worker holds nothing in hand
    assert not bot.services.updates.busy


async def test_another_instance_hands_a_held_persons_row_to_the_holder_and_takes_over_after_it_stops(
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
    one, other = first.services.updates, second.services.updates
    assert one is not None and other is not None
    one.linger = other.linger = LONG_LINGER_S

    async def accept(harness: Receiving, number: int) -> None:
        item = inbox.parse_update(body(person, 7000 + number, f"Havainto {number}"), harness.app.bot)
        assert item is not None and harness.services.updates is not None
        assert await harness.services.updates.accept([item]) == 1

    try:
        # given a message handled by the first instance, which keeps the claim
        await accept(first, 1)
        await one.idle()
        [(_, holder, claimed_at)] = await _claims(db)
        assert holder == "first"

        # when the second instance receives her next message while the first holds her queue
        await accept(second, 2)
        await other.idle()
        # then the first instance's sweep takes it up, under the claim it kept
        await one.sweep()
        await one.idle()
        assert await _observations(db) == ["Havainto 1", "Havainto 2"]
        assert await _claims(db) == [(PERSON, "first", claimed_at)]

        # and when the first instance stops, its claim is given back at once
        await first.stop()
        async with db.session() as session:
            assert await session.scalar(select(func.count()).select_from(InboxClaim)) == 0

        # so the second instance takes her next message itself
        await accept(second, 3)
        await other.idle()
        assert await _observations(db) == ["Havainto 1", "Havainto 2", "Havainto 3"]
        assert [(user, name) for user, name, _ in await _claims(db)] == [(PERSON, "second")]
    finally:
        await first.stop()
        await second.stop()
        await first.db.dispose()
        await second.db.dispose()
