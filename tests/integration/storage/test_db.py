"""The database handle: UTC everywhere, and a unit of work that survives the database blinking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text

from storage.db import Database, normalise_url
from storage.models import Process, User


def test_operator_urls_get_the_async_driver() -> None:
    assert normalise_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+asyncpg://u@h/db"
    assert normalise_url("sqlite:///valitupa.db") == "sqlite+aiosqlite:///valitupa.db"


async def test_datetimes_come_back_aware_in_utc(db) -> None:
    helsinki_noon = datetime(2027, 3, 28, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    async with db.session() as session:
        session.add(User(id=1, consent="given", consent_at=helsinki_noon, created_at=helsinki_noon))
    async with db.session() as session:
        user = await session.get(User, 1)
    assert user is not None
    assert user.consent_at == datetime(2027, 3, 28, 9, 0, tzinfo=UTC)
    assert user.consent_at.tzinfo is not None


async def test_naive_datetimes_are_refused(db) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.session() as session:
            session.add(User(id=2, consent="given", created_at=datetime(2027, 1, 1)))


async def test_sqlite_runs_with_wal_and_foreign_keys(db, backend) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite pragmas")
    async with db.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_a_unit_of_work_is_all_or_nothing(db) -> None:
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            session.add(User(id=3, consent="given", created_at=now))
            await session.flush()
            raise RuntimeError("the handler failed half-way")
    async with db.session() as session:
        assert await session.get(User, 3) is None


async def test_database_restart_mid_write_retries_the_whole_unit(db, backend) -> None:
    """PostgreSQL drops our connection in the middle of a unit of work; nothing is lost or doubled."""
    if backend != "postgresql":
        pytest.skip("needs a server whose connections can be killed")
    attempts: list[int] = []
    now = datetime.now(UTC)

    async def work(session) -> None:
        attempts.append(len(attempts) + 1)
        session.add(User(id=10 + len(attempts), consent="given", created_at=now))
        await session.flush()
        if len(attempts) == 1:
            pid = (await session.execute(text("SELECT pg_backend_pid()"))).scalar()
            killer = Database(db.url, schema=db.schema)
            try:
                async with killer.engine.connect() as connection:
                    await connection.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
            finally:
                await killer.dispose()
            await session.execute(text("SELECT 1"))

    await db.run(work, first_delay=0.01)

    assert attempts == [1, 2]
    async with db.session() as session:
        ids = list(await session.scalars(select(User.id)))
        assert ids == [12]
        assert await session.scalar(select(func.count()).select_from(Process)) == 0
