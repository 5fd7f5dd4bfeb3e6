"""The inbox's claims on the database (both backends): a queue is worked by the instance holding it,
and giving a claim back never fails because someone else holds the queue by then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.infra import inbox

NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
PERSON = 4242


def _received(update_id: int) -> inbox.Received:
    return inbox.Received(update_id, PERSON, f'{{"update_id":{update_id}}}')


async def test_giving_back_a_queue_another_instance_took_leaves_it_to_them(db) -> None:
    # This instance worked the person's queue; meanwhile the leader freed its claims (it looked
    # departed) and the other instance claimed the queue, and a new update is waiting.
    await db.run(lambda s: inbox.store(s, [_received(1)], now=NOW))
    taken = await db.run(lambda s: inbox.claim(s, [PERSON], instance="other", now=NOW))
    assert [row.update_id for row in taken] == [1]

    left = await db.run(lambda s: inbox.release_claim(s, PERSON, instance="this", now=NOW))

    assert left == []  # not this instance's to handle: no error, no second claimant
    assert await db.run(lambda s: inbox.claimants(s)) == {"other"}


async def test_giving_back_keeps_the_queue_when_rows_came_meanwhile(db) -> None:
    await db.run(lambda s: inbox.claim(s, [PERSON], instance="this", now=NOW))
    await db.run(lambda s: inbox.store(s, [_received(7), _received(5)], now=NOW))

    left = await db.run(lambda s: inbox.release_claim(s, PERSON, instance="this", now=NOW))

    assert [row.update_id for row in left] == [5, 7]
    assert await db.run(lambda s: inbox.claimants(s)) == {"this"}


async def test_a_queue_held_with_no_worker_on_it_is_found_again(db) -> None:
    # A worker of this instance stopped on an error: its claim stays, its rows wait.
    await db.run(lambda s: inbox.store(s, [_received(3)], now=NOW))
    await db.run(lambda s: inbox.claim(s, [PERSON], instance="this", now=NOW))

    found = await db.run(lambda s: inbox.held_without_worker(s, instance="this", working=set(), limit=10))
    busy = await db.run(lambda s: inbox.held_without_worker(s, instance="this", working={PERSON}, limit=10))
    others = await db.run(lambda s: inbox.held_without_worker(s, instance="other", working=set(), limit=10))

    assert [row.update_id for row in found] == [3]
    assert busy == [] and others == []


async def test_storing_for_a_held_queue_reads_its_older_rows_in_the_same_statement(backend, db) -> None:
    if backend != "postgresql":
        pytest.skip("claims are for several instances on PostgreSQL")
    # Another instance stored update 5 while this one held the person's queue; 3 is handled.
    await db.run(lambda s: inbox.claim(s, [PERSON], instance="this", now=NOW))
    await db.run(lambda s: inbox.store(s, [_received(3), _received(5)], now=NOW))
    await db.run(lambda s: inbox.mark_handled(s, 3, now=NOW))

    fresh, rows = await db.run(
        lambda s: inbox.store_reading(s, [_received(7), _received(5)], [PERSON], now=NOW)
    )

    assert fresh == {7}  # 5 was a redelivery
    assert [(row.update_id, row.queue) for row in rows] == [(5, PERSON), (7, PERSON)]
