"""The database handle: UTC everywhere, and a unit of work that survives the database blinking."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from storage.db import SQLITE_BUSY_TIMEOUT_MS, Database, normalise_url
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


async def terminate_backend(db: Database, pid: int) -> None:
    """Kill one PostgreSQL backend and return only once it is gone from ``pg_stat_activity``.

    ``pg_terminate_backend`` only signals; its timeout form waits for the exit, and the check
    after it says so from the server's own view.
    """
    killer = Database(db.url, schema=db.schema)
    try:
        async with killer.engine.connect() as connection:
            assert (await connection.execute(text(f"SELECT pg_terminate_backend({pid}, 10000)"))).scalar()
            left = await connection.scalar(text(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"))
            assert left == 0
    finally:
        await killer.dispose()


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
            await terminate_backend(db, int(pid))
            await session.execute(text("SELECT 1"))

    await db.run(work, first_delay=0.01)

    assert attempts == [1, 2]
    async with db.session() as session:
        ids = list(await session.scalars(select(User.id)))
        assert ids == [12]
        assert await session.scalar(select(func.count()).select_from(Process)) == 0


async def test_a_locked_sqlite_file_is_transient_and_the_unit_runs_again(db, backend, tmp_path) -> None:
    """SQLITE_BUSY (another connection, a CLI say, holds the write lock) retries the whole unit."""
    if backend != "sqlite":
        pytest.skip("SQLite locking")
    blocker = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    attempts: list[int] = []
    now = datetime.now(UTC)

    async def work(session) -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            # Fail at once instead of waiting out the busy timeout: the error is the point here.
            await session.execute(text("PRAGMA busy_timeout=0"))
        else:
            blocker.execute("ROLLBACK")
            await session.execute(text(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}"))
        session.add(User(id=20, consent="given", created_at=now))
        await session.flush()

    try:
        await db.run(work, first_delay=0.01)
    finally:
        blocker.close()

    assert attempts == [1, 2]
    async with db.session() as session:
        assert list(await session.scalars(select(User.id))) == [20]


async def test_a_cli_holding_the_write_lock_makes_the_bot_wait_not_fail(db, backend) -> None:
    """The busy timeout waits in aiosqlite's thread: the event loop is free while the write waits."""
    if backend != "sqlite":
        pytest.skip("SQLite locking")
    loop = asyncio.get_running_loop()
    blocked = asyncio.Event()

    def traced(statement: str) -> None:  # in aiosqlite's thread, as SQLite starts a statement
        if statement.startswith("INSERT INTO users"):
            loop.call_soon_threadsafe(blocked.set)

    async with db.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.set_trace_callback(traced)
    blocker = sqlite3.connect(db.engine.url.database or "", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    attempts: list[int] = []
    now = datetime.now(UTC)

    async def work(session) -> None:
        attempts.append(len(attempts) + 1)
        session.add(User(id=21, consent="given", created_at=now))
        await session.flush()

    try:
        task = asyncio.create_task(db.run(work))
        # The INSERT has started and meets the lock; this coroutine still runs, so the loop is free.
        await blocked.wait()
        assert not task.done()
        blocker.execute("ROLLBACK")
        await task
    finally:
        blocker.close()
        await driver.set_trace_callback(None)

    assert attempts == [1]
    async with db.session() as session:
        assert list(await session.scalars(select(User.id))) == [21]


async def test_an_error_the_database_refuses_with_is_not_retried(db) -> None:
    """A constraint violation is the work's fault, not the database blinking: one attempt only."""
    now = datetime.now(UTC)
    async with db.session() as session:
        session.add(User(id=30, consent="given", created_at=now))
    attempts: list[int] = []

    async def work(session) -> None:
        attempts.append(len(attempts) + 1)
        session.add(User(id=30, consent="given", created_at=now))
        await session.flush()

    with pytest.raises(IntegrityError):
        await db.run(work, first_delay=0.01)
    assert attempts == [1]
