"""Claiming from the outbox on the database (both backends): no row twice, the crash rule, and
rows whose window closed."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.jobs import claims
from tests.support.outbox import JOINED, add_member, deliveries, due_rows, local, make_process, plan


async def test_two_instances_never_claim_the_same_delivery(db) -> None:
    await due_rows(db, 40, JOINED)

    async def claim(instance: str) -> list[int]:
        return await db.run(
            lambda s: claims.claim_prompts(
                s, now=JOINED, instance=instance, limit=25, postgres=db.is_postgres
            )
        )

    first, second = await asyncio.gather(claim("a"), claim("b"))

    assert not set(first) & set(second)
    assert len(first) + len(second) == 40
    assert await claim("c") == []


async def test_a_claim_left_by_a_dead_process_is_returned_by_the_documented_rule(db) -> None:
    await due_rows(db, 3, JOINED)
    claimed = await db.run(
        lambda s: claims.claim_prompts(s, now=JOINED, instance="old", limit=10, postgres=db.is_postgres)
    )
    assert len(claimed) == 3

    # Another live instance leaves a fresh claim alone …
    other = await db.run(
        lambda s: claims.release_dead_claims(s, now=JOINED, instance="new", lease=claims.CLAIM_LEASE)
    )
    # … the same instance name after a restart takes its own back at once …
    own = await db.run(
        lambda s: claims.release_dead_claims(s, now=JOINED, instance="old", lease=claims.CLAIM_LEASE)
    )
    assert (other, own) == (0, 3)

    # … and anyone takes a claim back once it is older than the lease.
    await db.run(
        lambda s: claims.claim_prompts(s, now=JOINED, instance="old", limit=10, postgres=db.is_postgres)
    )
    later = JOINED + claims.CLAIM_LEASE + timedelta(seconds=1)
    stale = await db.run(
        lambda s: claims.release_dead_claims(s, now=later, instance="new", lease=claims.CLAIM_LEASE)
    )
    assert stale == 3


async def test_a_delivery_whose_prompt_closed_expires_instead_of_going_out(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)
    await plan(db, member, JOINED)
    after_close = local(2027, 1, 23, 12)  # p1-reflection closed on 22 January

    claimed = await db.run(
        lambda s: claims.claim_prompts(s, now=after_close, instance="a", limit=50, postgres=db.is_postgres)
    )
    expired = await db.run(lambda s: claims.expire_closed(s, now=after_close))

    planned = await deliveries(db, member)
    assert planned["p1-reflection"][0] == "expired"
    assert expired >= 1
    claimed_keys = {key for key, (state, _) in planned.items() if state == "sending"}
    assert len(claimed) == len(claimed_keys)
    assert "p1-reflection" not in claimed_keys
