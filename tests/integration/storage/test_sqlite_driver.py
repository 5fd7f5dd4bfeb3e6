"""The SQLite driver: short statements in the event loop, waits and long reads in the worker thread.

What a user would notice if this went wrong: the whole bot freezing while a CLI command holds the
database, or while a facilitator's digest reads a year of observations; or, worse, a unit of work
half-written. Each test runs a ticker beside the database work and counts how often the event loop
came round.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from storage import migrate
from storage.db import Database
from storage.models import User
from storage.sqlite_driver import CHECKPOINT_EVERY, INLINE_BUDGET_S, OneHopConnection, off_the_loop

# A SELECT that takes SQLite well over the inline budget (around 100 ms), and its answer.
LONG_READ = (
    "SELECT count(*) FROM (WITH RECURSIVE c(x) AS "
    "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1500000) SELECT x FROM c)"
)


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    await migrate.upgrade(database)
    yield database
    await database.dispose()


async def driver_connection(db: Database) -> OneHopConnection:
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
    assert isinstance(driver, OneHopConnection)
    return driver


class Ticker:
    """Counts event-loop turns (every 5 ms) while it runs."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.005)
            self.ticks += 1

    def __enter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def add_user(user_id: int) -> Callable[[AsyncSession], Awaitable[None]]:
    async def work(session: AsyncSession) -> None:
        session.add(User(id=user_id, consent="given", created_at=datetime.now(UTC)))

    return work


async def test_a_cli_holding_the_write_lock_makes_the_bot_wait_not_freeze(
    sqlite_db: Database, tmp_path: Path
) -> None:
    driver = await driver_connection(sqlite_db)
    assert driver.busy_timeout_ms >= 5000  # a CLI command beside the bot is waited for, not failed
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. `valitupa purge` in the middle of its transaction
    other.execute("INSERT INTO users (id, consent, created_at) VALUES (1, 'declined', '2027-01-01')")
    loop = asyncio.get_running_loop()
    loop.call_later(0.3, other.execute, "COMMIT")  # only runs if the event loop keeps turning
    began = time.perf_counter()

    with Ticker() as ticker:
        await sqlite_db.run(add_user(2))

    waited = time.perf_counter() - began
    other.close()
    assert 0.25 < waited < 5.0
    assert ticker.ticks >= 20  # the loop went on serving while the write waited for the lock
    assert driver.moved.get("busy", 0) >= 1
    async with sqlite_db.session() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 2


async def test_a_long_read_moves_to_the_worker_thread_and_keeps_its_transaction(
    sqlite_db: Database,
) -> None:
    driver = await driver_connection(sqlite_db)
    before = driver.moved.get("interrupted", 0)

    async def work(session: AsyncSession) -> int:
        session.add(User(id=5, consent="given", created_at=datetime.now(UTC)))
        await session.flush()  # a write is pending in this transaction when the long read starts
        return int((await session.execute(text(LONG_READ))).scalar_one())

    with Ticker() as ticker:
        counted = await sqlite_db.run(work)

    assert counted == 1_500_000
    assert driver.moved.get("interrupted", 0) == before + 1
    assert ticker.ticks >= 3  # the loop turned while the read ran in the thread
    async with sqlite_db.session() as session:
        assert await session.get(User, 5) is not None  # the interrupted read did not undo the write


async def test_short_statements_stay_in_the_loop(sqlite_db: Database) -> None:
    driver = await driver_connection(sqlite_db)
    moved = dict(driver.moved)
    for user_id in range(10, 40):
        await sqlite_db.run(add_user(user_id))

    async def read(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    assert await sqlite_db.run(read) == 30
    assert driver.moved == moved
    assert INLINE_BUDGET_S <= 0.005  # the longest a read may hold the event loop


async def test_deletes_and_bulk_inserts_run_in_the_worker_thread(sqlite_db: Database) -> None:
    """Erasure and retention delete with cascades, planning inserts thousands of rows at once."""
    driver = await driver_connection(sqlite_db)
    bulk = driver.moved.get("bulk", 0)
    now = datetime.now(UTC)

    async def plant(session: AsyncSession) -> None:
        await session.execute(
            insert(User), [{"id": n, "consent": "given", "created_at": now} for n in range(100, 2100)]
        )

    async def erase(session: AsyncSession) -> None:
        await session.execute(delete(User).where(User.id >= 1000))

    async def count(session: AsyncSession) -> int:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)

    await sqlite_db.run(plant)
    await sqlite_db.run(erase)
    assert await sqlite_db.run(count) == 900
    assert driver.moved.get("bulk", 0) == bulk + 2


async def test_wal_checkpoints_run_beside_the_loop_not_inside_a_commit(
    sqlite_db: Database, tmp_path: Path
) -> None:
    driver = await driver_connection(sqlite_db)
    async with sqlite_db.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
    started = driver.checkpoints
    database_file = tmp_path / "driver.db"
    size_before = database_file.stat().st_size

    for user_id in range(1000, 1000 + CHECKPOINT_EVERY + 1):
        await sqlite_db.run(add_user(user_id))
    assert driver.checkpoints == started + 1
    assert driver._checkpoint is not None
    await driver._checkpoint

    # The rows reached the database file itself, not only the WAL.
    assert database_file.stat().st_size > size_before
    copy = sqlite3.connect(f"file:{database_file}?immutable=1", uri=True)  # reads the file, not the WAL
    try:
        assert copy.execute("SELECT count(*) FROM users").fetchone()[0] >= CHECKPOINT_EVERY
    finally:
        copy.close()


async def test_bulk_work_marked_off_the_loop_runs_in_the_worker(sqlite_db: Database) -> None:
    driver = await driver_connection(sqlite_db)
    await sqlite_db.run(add_user(1))
    bulk = driver.moved.get("bulk", 0)

    async def retention_like(session: AsyncSession) -> None:
        with off_the_loop():
            await session.execute(update(User).values(consent="declined"))
            await session.execute(select(User))

    await sqlite_db.run(retention_like)
    assert driver.moved.get("bulk", 0) == bulk + 2


async def test_a_caller_that_gives_up_on_a_lock_wait_frees_the_connection(
    sqlite_db: Database, tmp_path: Path
) -> None:
    await sqlite_db.run(add_user(1))
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    loop = asyncio.get_running_loop()
    loop.call_later(3.0, other.execute, "COMMIT")

    async def erase(session: AsyncSession) -> None:
        await session.execute(delete(User))

    began = time.perf_counter()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await sqlite_db.run(erase)
    gave_up = time.perf_counter() - began
    # The interrupted statement lets the connection go: the next unit of work does not queue behind
    # a lock wait that nobody is waiting for any more.
    async with sqlite_db.session() as session:
        still_there = await session.scalar(select(func.count()).select_from(User))
    freed = time.perf_counter() - began
    other.close()
    assert gave_up < 1.0
    assert freed < 2.0
    assert still_there == 1  # nothing half-deleted


async def test_streamed_results_come_back_whole_and_in_order(sqlite_db: Database) -> None:
    now = datetime.now(UTC)

    async def plant(session: AsyncSession) -> None:
        await session.execute(
            insert(User), [{"id": n, "consent": "given", "created_at": now} for n in range(1, 2501)]
        )

    await sqlite_db.run(plant)
    async with sqlite_db.session() as session:
        streamed = [
            user_id
            async for user_id in await session.stream_scalars(
                select(User.id).order_by(User.id).execution_options(yield_per=100)
            )
        ]
        first = (await session.execute(select(User.id).order_by(User.id))).first()
    assert streamed == list(range(1, 2501))
    assert first is not None and first[0] == 1


async def test_an_error_without_a_code_still_reaches_sqlalchemy_as_itself(sqlite_db: Database) -> None:
    """A text that is not UTF-8 (written by some other tool) fails as a database error, not a crash."""
    async with sqlite_db.engine.connect() as connection:
        with pytest.raises(OperationalError, match="decode"):
            await connection.execute(text("SELECT CAST(x'ff' AS TEXT)"))
