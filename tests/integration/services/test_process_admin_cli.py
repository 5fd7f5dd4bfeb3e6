"""``valitupa process rotate-links PROCESS`` and ``valitupa process remove-facilitator PROCESS ID``."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import main
from bot.domain.programme import parse_process
from bot.services.processes import create_process
from storage import migrate
from storage.db import Database
from storage.models import Membership, Notice, Process, User
from tests.integration.services.test_retention import restore_logging  # noqa: F401 - a fixture
from tests.support.factories import process_yaml

NOW = datetime(2027, 1, 10, tzinfo=UTC)


@pytest.fixture
async def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    url = f"sqlite+aiosqlite:///{tmp_path / 'valitupa.db'}"
    db = Database(url)
    await migrate.upgrade(db)
    text = process_yaml()

    async def work(session):
        process = await create_process(
            session, spec=parse_process(text), source_yaml=text, created_by=None, now=NOW
        )
        session.add(User(id=9101, consent="given", created_at=NOW))
        await session.flush()
        session.add(
            Membership(
                process_id=process.id, user_id=9101, is_facilitator=True, pseudonym="F-1", joined_at=NOW
            )
        )

    await db.run(work)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("BOT_USERNAME", "valitupa_bot")
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    return db


def process_name() -> str:
    return parse_process(process_yaml()).name


async def codes(db: Database) -> tuple[str, str]:
    async with db.session() as session:
        process = (await session.scalars(select(Process))).one()
        return process.participant_code, process.facilitator_code


async def test_rotate_links_prints_new_links_and_the_old_ones_stop(
    database: Database,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,  # noqa: F811
) -> None:
    before = await codes(database)
    status = await asyncio.to_thread(main, ["process", "rotate-links", "1"])
    after = await codes(database)
    await database.dispose()

    out = capsys.readouterr().out
    assert status == 0
    assert before[0] != after[0] and before[1] != after[1]
    assert f"https://t.me/valitupa_bot?start={after[0]}" in out
    assert "old invite links of this process no longer work" in out


async def test_remove_facilitator_by_telegram_id(
    database: Database,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,  # noqa: F811
) -> None:
    assert await asyncio.to_thread(main, ["process", "remove-facilitator", "1", "5555"]) == 1
    assert "5555 is not a facilitator of process 1" in capsys.readouterr().err

    assert await asyncio.to_thread(main, ["process", "remove-facilitator", "1", "9101"]) == 0
    out = capsys.readouterr().out
    assert "Removed facilitator 9101 from process 1" in out and "no facilitator now" in out
    assert "The running bot tells them" in out
    async with database.session() as session:
        assert list(await session.scalars(select(Membership))) == []
        [notice] = list(await session.scalars(select(Notice)))
    assert (notice.user_id, notice.kind, notice.process_name) == (9101, "facilitator_removed", process_name())
    await database.dispose()
    assert await asyncio.to_thread(main, ["process", "rotate-links", "Ei ole"]) == 1
