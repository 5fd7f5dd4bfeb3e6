"""Retention: facilitators hear a week ahead, the process is purged on the day, and nothing else is."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.cli import main
from bot.cli_purge import purge
from bot.domain.programme import parse_process
from bot.jobs.retention_job import retention_job
from bot.services.processes import create_process
from storage import migrate
from storage.db import Database
from storage.models import Delivery, Membership, Process, Prompt, Submission, User, Workshop
from tests.support.factories import process_yaml

# Ends 2027-05-06 16:00 Helsinki (13:00 UTC); kept 30 days: purged 2027-06-05 13:00 UTC.
ENDING = "end: 2027-05-06 16:00\nretention_days: 30\n"
PURGE_AT = datetime(2027, 6, 5, 13, 0, tzinfo=UTC)
LATER_WORKSHOPS = (
    "2027-09-14 09:00",
    "2027-10-04 09:00",
    "2027-10-25 12:30",
    "2027-11-18 09:00",
    "2027-12-08 09:00",
)


async def count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
async def ended(bot, sandbox):
    """A process with a facilitator and two participants (one also in a later process), with data."""
    process = await bot.create_process(process_yaml(extra=ENDING))
    later = await bot.create_process(
        process_yaml(name="Hyvän tahdon Ilomantsi 2028", workshops=LATER_WORKSHOPS)
    )
    facilitator = sandbox.user(9101, first_name="Fanni", language_code="fi")
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    veikko = sandbox.user(1002, first_name="Veikko", language_code="sv")
    await bot.join(facilitator, process, facilitator=True)
    await bot.join(aino, process)
    await bot.join(veikko, process, language="sv")
    await bot.say(aino, "Kirjastossa vanhus kysyi, miten ruokakassin saa tilattua.")
    await bot.say(veikko, "I församlingens café var det fler än vanligt i dag.")
    await bot.join(veikko, later, language="sv")
    return process, later, facilitator, aino, veikko


async def test_facilitators_are_warned_once_a_week_before_the_purge(bot, ended) -> None:
    process, _later, facilitator, aino, _veikko = ended
    before = len(facilitator.messages)

    await retention_job(bot.services, bot.app.bot, PURGE_AT - timedelta(days=8))
    assert len(facilitator.messages) == before

    await retention_job(bot.services, bot.app.bot, PURGE_AT - timedelta(days=6))
    await retention_job(bot.services, bot.app.bot, PURGE_AT - timedelta(days=5))

    [warning] = facilitator.messages[before:]
    assert "Hyvän tahdon Ilomantsi 2027" in warning["text"]
    assert "5. kesäkuuta 2027" in warning["text"]
    assert "/export" in warning["text"]
    assert not any("poistetaan" in (m.get("text") or "") for m in aino.messages)
    async with bot.db.session() as session:
        stored = await session.get(Process, process.id)
        assert stored is not None
        assert stored.retention_warned_at == PURGE_AT - timedelta(days=6)
    assert await count(bot.db, Submission, Submission.process_id == process.id) == 2


async def test_on_the_day_everything_of_the_process_goes_and_nothing_else(bot, ended) -> None:
    process, later, facilitator, _aino, veikko = ended
    await bot.say(veikko, "En observation i den nya processen.")
    assert await count(bot.db, Submission, Submission.process_id == later.id) == 1

    await retention_job(bot.services, bot.app.bot, PURGE_AT - timedelta(minutes=1))
    assert await count(bot.db, Process, Process.id == process.id) == 1
    await retention_job(bot.services, bot.app.bot, PURGE_AT)

    assert await count(bot.db, Process, Process.id == process.id) == 0
    for model in (Submission, Membership, Prompt, Workshop):
        assert await count(bot.db, model, model.process_id == process.id) == 0
    # Aino and the facilitator were only in this process; Veikko is still in the later one.
    assert await count(bot.db, User, User.id.in_([1001, 9101])) == 0
    assert await count(bot.db, User, User.id == 1002) == 1
    assert await count(bot.db, Membership, Membership.process_id == later.id) == 1
    assert await count(bot.db, Submission, Submission.process_id == later.id) == 1
    assert await count(bot.db, Prompt, Prompt.process_id == later.id) > 0
    assert "tiedot on nyt poistettu" in facilitator.messages[-1]["text"]

    await retention_job(bot.services, bot.app.bot, PURGE_AT + timedelta(days=1))
    assert await count(bot.db, Process) == 1


async def test_purge_dry_run_lists_what_would_go_and_deletes_nothing(db: Database, clock) -> None:
    now = clock.now()
    for name, extra in (("Päättynyt 2027", ENDING), ("Käynnissä 2027", "retention_days: 365\n")):
        text = process_yaml(name=name, extra=extra)

        async def work(session, text=text):
            return await create_process(
                session, spec=parse_process(text), source_yaml=text, created_by=None, now=now
            )

        await db.run(work)
    out = io.StringIO()

    assert await purge(db, now=PURGE_AT + timedelta(hours=1), dry_run=True, out=out) == 1

    report = out.getvalue()
    assert "Päättynyt 2027" in report and "2027-06-05" in report
    assert "Dry run: 1 process(es) would be purged; nothing was deleted." in report
    assert "Next: process 2 (Käynnissä 2027)" in report
    assert await count(db, Process) == 2

    out = io.StringIO()
    assert await purge(db, now=PURGE_AT + timedelta(hours=1), dry_run=False, out=out) == 1
    assert "Purged 1 process(es)." in out.getvalue()
    assert await count(db, Process) == 1
    assert await count(db, Delivery) == 0


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``valitupa`` configures the process's logging; put this test process's back afterwards."""
    import logging

    from bot.infra.logs import QUIET_LOGGERS

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


async def test_valitupa_purge_dry_run_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'valitupa.db'}"
    db = Database(url)
    await migrate.upgrade(db)
    text = process_yaml(
        extra="end: 2020-01-10 16:00\nretention_days: 30\n",
        workshops=(
            "2019-09-14 09:00",
            "2019-10-04 09:00",
            "2019-10-25 12:30",
            "2019-11-18 09:00",
            "2019-12-08 09:00",
        ),
    )
    await db.run(
        lambda session: create_process(
            session,
            spec=parse_process(text),
            source_yaml=text,
            created_by=None,
            now=datetime(2019, 9, 1, tzinfo=UTC),
        )
    )
    await db.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("BOT_TOKEN", raising=False)

    import asyncio

    status = await asyncio.to_thread(main, ["purge", "--dry-run"])

    out = capsys.readouterr().out
    assert status == 0
    assert "2020-02-09" in out and "would be purged" in out
