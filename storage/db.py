"""The database handle: one engine, one session per unit of work, and backend-specific tuning.

SQLite is the embedded default: WAL so readers do not block the writer, a busy timeout so a CLI
command beside the running bot waits instead of failing, foreign keys on (cascading deletes are how
``/forget`` works), and one pooled connection so writes in this process never race each other.
PostgreSQL is for production and for several instances.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import sqlite_driver

log = logging.getLogger(__name__)
T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalise_url(url: str) -> str:
    """Accept the URLs operators write and pick the async driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///") or url == "sqlite://":
        url = "sqlite+aiosqlite://" + url.removeprefix("sqlite://")
    return url


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, OperationalError):
        message = str(error).lower()
        return any(
            marker in message
            for marker in ("locked", "busy", "connection", "closed", "terminat", "shutdown", "restart")
        )
    return isinstance(error, (ConnectionError, OSError))


class Database:
    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        """``schema`` (PostgreSQL only) puts every table in that schema; tests use one per test."""
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()
        self.schema = schema
        kwargs: dict[str, Any] = {"echo": echo}
        if self.backend == "sqlite":
            kwargs.update(
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                module=sqlite_driver.DBAPI,
                # Every unit of work ends in commit or rollback, so the pool need not roll back again.
                pool_reset_on_return=None,
            )
        else:
            # No pre-ping: a connection dropped by a database restart fails its unit of work, and
            # Database.run() retries the whole unit on a fresh connection.
            kwargs.update(pool_size=10, max_overflow=10, pool_recycle=1800)
            if schema:
                kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.backend == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_on_connect)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed once at the end, rolled back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def run(
        self, work: Callable[[AsyncSession], Awaitable[T]], *, attempts: int = 5, first_delay: float = 0.2
    ) -> T:
        """Run ``work`` in one unit of work, again from the start if the database blinked.

        A restarted PostgreSQL or a locked SQLite file is transient: the whole unit is retried, so
        nothing is half-written and nothing a user sent is lost.
        """
        delay = first_delay
        for attempt in range(1, attempts + 1):
            try:
                async with self.session() as session:
                    return await work(session)
            except Exception as error:
                if attempt == attempts or not _is_transient(error):
                    raise
                log.warning("database unavailable (attempt %d/%d), retrying", attempt, attempts)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    mode = cursor.fetchone()
    if mode is None or str(mode[0]).lower() != "wal":
        # The driver's "SQLITE_BUSY means nothing was done, run it again" holds in WAL mode.
        log.warning("SQLite did not switch to WAL (journal mode %s); is the file on a network drive?", mode)
    # No busy_timeout here: the driver waits for locks in its worker thread (storage/sqlite_driver.py).
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
