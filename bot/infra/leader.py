"""Which instance does the once-only work (digests, reminders planning, retention): the leader.

Several ``valitupa run`` processes may share one PostgreSQL database. Deliveries are claimed row by
row (``FOR UPDATE SKIP LOCKED``) by every instance, but some duties must run exactly once, so one
instance leads: the one holding a PostgreSQL *session* advisory lock on a dedicated connection kept
open for the whole process lifetime. The lock lives exactly as long as that session, so a leader that
dies (crash, SIGKILL, lost host) frees it: at once when its socket closes, and within about a minute
when the host vanishes, thanks to TCP keepalives asked of the server. Every dispatcher tick asks
:meth:`Leader.is_leader`, which checks the session is still alive (a leader cut off from the database
stops leading) and, on followers, tries to take the lock.

With SQLite only one instance can run at all (see :class:`InstanceLock`), so it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from bot.settings import SettingsError
from storage.db import Database

log = logging.getLogger(__name__)

# A leader whose database does not answer within this long stops leading rather than risk two.
CHECK_TIMEOUT = 5.0
# Asked of the server for the leader's session: a vanished peer is noticed in about 60 s.
KEEPALIVES = {"tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3"}


def lock_key(db: Database, name: str = "scheduler") -> int:
    """A signed 64-bit advisory-lock key, distinct per schema so test schemas never share a leader."""
    digest = hashlib.blake2b(f"valitupa:{name}:{db.schema or ''}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def application_name(instance: str) -> str:
    """How an instance's leadership session is named in ``pg_stat_activity`` (63 bytes at most)."""
    return f"valitupa {instance}".encode()[:63].decode(errors="ignore")


class Leader:
    """Leadership of one process over the shared database; ask :meth:`is_leader` before once-only work."""

    def __init__(self, db: Database, *, instance: str, name: str = "scheduler") -> None:
        self.db = db
        self.instance = instance
        self.key = lock_key(db, name)
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None
        self._leading = False
        self._closed = False
        self._lock = asyncio.Lock()

    @property
    def leading(self) -> bool:
        """The answer of the last check, without asking the database (for /healthz and metrics)."""
        return self._leading if self.db.is_postgres else not self._closed

    async def is_leader(self) -> bool:
        """True while this process holds the lock; tries to take it when free. Never raises."""
        if not self.db.is_postgres:
            return not self._closed
        async with self._lock:
            if self._closed:
                return False
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    await self._check()
            except Exception as error:
                if self._leading:
                    log.warning("lost the scheduler leadership: %s", type(error).__name__)
                else:
                    log.debug("leadership check failed: %s", type(error).__name__)
                await self._drop_connection()
            return self._leading

    async def _check(self) -> None:
        connection = await self._connect()
        if self._leading:
            # The lock is held as long as this session lives; prove that it does.
            await connection.execute(text("SELECT 1"))
            return
        acquired = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
        if acquired:
            self._leading = True
            log.info("this instance (%s) now leads the scheduler", self.instance)

    async def _connect(self) -> AsyncConnection:
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if self._engine is None:
            # Named in pg_stat_activity: operators see the instances, and they see each other alive.
            name = application_name(self.instance)
            connect_args: dict[str, object] = {"server_settings": {**KEEPALIVES, "application_name": name}}
            self._engine = create_async_engine(
                make_url(self.db.url), poolclass=NullPool, connect_args=connect_args
            )
        connection = await self._engine.connect()
        # Autocommit: a transaction held open for the process lifetime would hold back vacuum.
        self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def live_instances(self, names: Iterable[str]) -> set[str]:
        """Which of these instances still have their leadership session open (PostgreSQL).

        Every instance keeps that session for its whole life, named in ``pg_stat_activity``, so an
        instance without one has died: its claims can be taken back at once instead of after a lease.
        """
        wanted = {application_name(name): name for name in names}
        if not wanted or not self.db.is_postgres:
            return set(wanted.values())
        async with self._lock, asyncio.timeout(CHECK_TIMEOUT):
            connection = await self._connect()
            rows = await connection.execute(
                text(
                    "SELECT DISTINCT application_name FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name = ANY(:names)"
                ),
                {"names": list(wanted)},
            )
            return {wanted[found] for (found,) in rows.all()}

    async def _drop_connection(self) -> None:
        self._leading = False
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def close(self) -> None:
        """Give up leadership at once (clean shutdown) so another instance takes over on its next tick."""
        async with self._lock:
            self._closed = True
            if self._connection is not None and self._leading:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CHECK_TIMEOUT):
                        await self._connection.execute(
                            text("SELECT pg_advisory_unlock(:key)"), {"key": self.key}
                        )
            self._leading = False
            connection, self._connection = self._connection, None
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            if self._engine is not None:
                await self._engine.dispose()
                self._engine = None


@contextlib.asynccontextmanager
async def migration_lock(db: Database) -> AsyncIterator[None]:
    """Serialise schema migrations of instances starting together (PostgreSQL; SQLite has one)."""
    if not db.is_postgres:
        yield
        return
    engine = create_async_engine(make_url(db.url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            key = lock_key(db, "migrations")
            await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        await engine.dispose()


def sqlite_path(db: Database) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    if not db.is_sqlite:
        return None
    database = make_url(db.url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database).resolve()


class InstanceLock:
    """An exclusive ``flock`` on ``<db file>.lock``: one running instance per SQLite file.

    The kernel releases the lock when the process exits however it exits, so a crash never leaves a
    stale lock behind; the file itself stays and holds the pid of the last owner for the curious.
    """

    def __init__(self, database_file: Path) -> None:
        self.path = database_file.with_name(database_file.name + ".lock")
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`SettingsError` with one line an operator can act on."""
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise SettingsError(
                f"another Välitupa (pid {owner}) is already running on {self.path.with_suffix('')}; "
                "with SQLite only one instance may run (use PostgreSQL in DATABASE_URL for several)."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
