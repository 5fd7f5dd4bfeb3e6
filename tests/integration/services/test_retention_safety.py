"""Retention that cannot be broken by one process: an oversized stored ``retention_days`` neither stops
the other purges nor ``valitupa purge --dry-run``; people who declined are forgotten; a draft goes
with its process."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from bot.cli_purge import purge
from bot.domain.programme import parse_process
from bot.jobs.retention_job import retention_job
from bot.services.processes import create_process
from storage.db import Database
from storage.models import Process, User
from tests.integration.services.test_retention import ENDING, LATER_WORKSHOPS, PURGE_AT
from tests.support.factories import process_yaml


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def stored_process(db: Database, name: str, extra: str = ENDING, **workshops: Any) -> int:
    text = process_yaml(name=name, extra=extra, **workshops)

    async def work(session):
        process = await create_process(
            session, spec=parse_process(text), source_yaml=text, created_by=None, now=PURGE_AT
        )
        return process.id

    return await db.run(work)


async def retention_days(db: Database, process_id: int, days: int) -> None:
    """What an upload accepted before the file format bounded it left in the database."""
    await db.run(
        lambda session: session.execute(
            update(Process).where(Process.id == process_id).values(retention_days=days)
        )
    )


async def test_an_oversized_retention_does_not_stop_the_dry_run_or_the_other_purges(db: Database) -> None:
    huge = await stored_process(db, "Ikuinen 2027")
    await retention_days(db, huge, 3_000_000)
    due = await stored_process(db, "Päättynyt 2027")

    out = io.StringIO()
    assert await purge(db, now=PURGE_AT + timedelta(hours=1), dry_run=True, out=out) == 1
    assert "Päättynyt 2027" in out.getvalue() and "Dry run" in out.getvalue()
    # The oversized value counts as the longest retention the file format allows: ten years.
    assert f"Next: process {huge} (Ikuinen 2027) on 2037-05-03." in out.getvalue()

    out = io.StringIO()
    assert await purge(db, now=PURGE_AT + timedelta(hours=1), dry_run=False, out=out) == 1
    assert await count(db, Process, Process.id == due) == 0
    assert await count(db, Process, Process.id == huge) == 1


async def test_the_retention_job_purges_and_warns_the_others_past_an_oversized_one(bot, sandbox) -> None:
    huge = await bot.create_process(process_yaml(name="Ikuinen 2027", extra=ENDING))
    await retention_days(bot.db, huge.id, 3_000_000)
    due = await bot.create_process(process_yaml(name="Päättynyt 2027", extra=ENDING))
    soon = await bot.create_process(
        process_yaml(name="Pian 2027", extra="end: 2027-05-06 16:00\nretention_days: 33\n")
    )
    fanni = sandbox.user(9101, first_name="Fanni", language_code="fi")
    await bot.join(fanni, soon, facilitator=True)
    before = len(fanni.messages)

    await retention_job(bot.services, bot.app.bot, PURGE_AT)

    assert await count(bot.db, Process, Process.id == due.id) == 0
    assert await count(bot.db, Process, Process.id.in_([huge.id, soon.id])) == 2
    [warning] = fanni.messages[before:]
    assert "Pian 2027" in warning["text"]


async def test_people_who_declined_are_forgotten_after_thirty_days(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml(workshops=LATER_WORKSHOPS))
    old = sandbox.user(1001, first_name="Aino", language_code="fi")
    recent = sandbox.user(1002, first_name="Veikko", language_code="fi")
    for user in (old, recent):
        await user.start(process.participant_code)
        await bot.idle()
        await bot.press(user, "cs:n:")
        bot.clock.advance(timedelta(days=29))
    assert await count(bot.db, User, User.id.in_([1001, 1002])) == 2

    await retention_job(bot.services, bot.app.bot, bot.clock.now() - timedelta(days=27))

    assert await count(bot.db, User, User.id == 1001) == 0
    assert await count(bot.db, User, User.id == 1002) == 1


async def test_an_unfinished_draft_goes_with_its_process(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml(extra=ENDING))
    later = await bot.create_process(process_yaml(name="Myöhempi 2027", workshops=LATER_WORKSHOPS))
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, later)
    await bot.join(aino, process)  # the ending process is the active one
    await bot.say(aino, "/idea")
    await bot.say(aino, "Lähikauppa tuo ruokakassit kotiin kerran viikossa")
    async with bot.db.session() as session:
        user = await session.get(User, 1001)
        assert user is not None and user.state is not None

    await retention_job(bot.services, bot.app.bot, PURGE_AT)

    async with bot.db.session() as session:
        user = await session.get(User, 1001)
        assert user is not None and user.state is None and user.active_membership_id is None
