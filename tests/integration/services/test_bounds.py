"""Numbers beyond what the database holds name nothing, on both databases (PostgreSQL refuses an
out-of-range integer parameter; the services must not hand it one)."""

from __future__ import annotations

from bot.services import moderation
from bot.services.processes import find_process
from storage.db import Database
from tests.support.factories import seed_joined_participants


async def test_hiding_an_oversized_reference_finds_nothing(db: Database) -> None:
    process_id = await seed_joined_participants(db, 1, first_user=1001)

    async def work(session):
        hidden = await moderation.hide(session, process_id=process_id, ref=9_999_999_999)
        pressed = await moderation.moderated_submission(session, user_id=1001, ref=10**30)
        return hidden.submission, pressed

    assert await db.run(work) == (None, None)


async def test_the_cli_finds_no_process_by_an_oversized_id(db: Database) -> None:
    await seed_joined_participants(db, 1, first_user=1001)
    assert await db.run(lambda session: find_process(session, "99999999999")) is None
    assert (await db.run(lambda session: find_process(session, "1"))) is not None
