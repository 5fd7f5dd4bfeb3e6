"""The database handle: one engine, one session per unit of work, and backend-specific tuning.

SQLite is the embedded default, through SQLAlchemy's own ``sqlite+aiosqlite`` dialect: WAL so readers
do not block the writer, a busy timeout so a CLI command beside the running bot waits (in aiosqlite's
thread, not the event loop) instead of failing, foreign keys on (cascading deletes are how
``/forget`` works), and one pooled connection so writes in this process never race each other.
PostgreSQL is for production and for several instances.

:func:`on_write` lets the caller of a piece of code join its writing units of work: while the durable
inbox handles an update, the first unit that writes also marks the update handled, in the same
transaction (see :mod:`bot.infra.inbox`).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session

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


# PostgreSQL SQLSTATEs after which the same unit of work, run again from the start, can succeed.
TRANSIENT_SQLSTATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "53300",  # too_many_connections
        "57P01",  # admin_shutdown (pg_terminate_backend, a fast shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, in recovery)
    }
)
TRANSIENT_SQLSTATE_CLASSES = ("08",)  # connection exception
# SQLite primary result codes: another connection holds the lock (BUSY_SNAPSHOT too: a new
# transaction sees the new snapshot).
TRANSIENT_SQLITE_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, the driver error SQLAlchemy wraps (``orig``) and their ``__cause__`` chains."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for linked in (getattr(current, "orig", None), current.__cause__):
            if isinstance(linked, BaseException):
                pending.append(linked)


def _is_transient(error: BaseException) -> bool:
    """Whether the database blinked (by SQLSTATE or SQLite code), rather than refused the work."""
    for cause in _causes(error):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate in TRANSIENT_SQLSTATES or sqlstate.startswith(TRANSIENT_SQLSTATE_CLASSES)
        ):
            return True
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in TRANSIENT_SQLITE_CODES:
            return True
        if isinstance(cause, (ConnectionError, OSError)):
            return True
    return False


class WriteHook(Protocol):
    """Told about the units of work that write, while :func:`on_write` holds it."""

    async def before_commit(self, session: AsyncSession) -> None:
        """Runs in the writing unit's transaction, just before its commit; raising rolls it back."""

    def committed(self) -> None:
        """The unit whose ``before_commit`` ran last has been committed."""


_write_hook: ContextVar[WriteHook | None] = ContextVar("valitupa_write_hook", default=None)


@contextmanager
def on_write(hook: WriteHook) -> Iterator[None]:
    """Within this block (and the tasks it starts), every :meth:`Database.run` whose unit of work
    writes calls ``hook.before_commit(session)`` in that unit's transaction and ``hook.committed()``
    after its commit."""
    token = _write_hook.set(hook)
    try:
        yield
    finally:
        _write_hook.reset(token)


class UnitSession(Session):
    """The sessions of :class:`Database`; they note whether a unit of work has written."""


WROTE = "valitupa_wrote"


def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


def _note_flush(session: Session, _context: object, _instances: object) -> None:
    if session.new or session.deleted or session.dirty:
        session.info[WROTE] = True


event.listen(UnitSession, "do_orm_execute", _note_statement)
event.listen(UnitSession, "before_flush", _note_flush)


def _wrote(session: AsyncSession) -> bool:
    """Whether the unit of work wrote: a DML statement, a flush, or changes waiting for the commit's."""
    return bool(session.info.get(WROTE) or session.new or session.deleted or session.dirty)


class Database:
    def __init__(self, url: str, *, echo: bool = False, schema: str | None = None) -> None:
        """``schema`` (PostgreSQL only) puts every table in that schema; tests use one per test."""
        self.url = normalise_url(url)
        parsed = make_url(self.url)
        self.backend = parsed.get_backend_name()
        self.schema = schema
        # hide_parameters: a database error's text (and so its traceback in a log) shows the statement
        # but never its parameters, which are what people wrote and their chat ids.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.backend == "sqlite":
            kwargs.update(
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
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
        self.sessionmaker = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=UnitSession
        )

    @property
    def is_postgres(self) -> bool:
        return self.backend == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    async def checkpoint(self) -> None:
        """After an erasure: copy SQLite's write-ahead log into the database file and empty it, so
        erased text is left neither in the ``-wal`` file nor (``secure_delete``) in free pages. On
        PostgreSQL there is nothing to do here: see docs/deploy.md on VACUUM and backups."""
        if not self.is_sqlite:
            return
        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except Exception as error:  # the erasure is committed; a later checkpoint finishes the job
            log.warning("could not checkpoint the SQLite write-ahead log: %s", type(error).__name__)

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
        nothing is half-written and nothing a user sent is lost. ``work`` may therefore run more than
        once: it must have no side effects outside the session (no Telegram call, no file written,
        no in-memory state changed); do those after ``run`` returns.

        Under :func:`on_write`, a unit that writes calls the hook before its commit (and again on a
        retry: the hook's statements are part of the unit).
        """
        delay = first_delay
        hook = _write_hook.get()
        for attempt in range(1, attempts + 1):
            try:
                async with self.session() as session:
                    result = await work(session)
                    joined = hook is not None and _wrote(session)
                    if joined:
                        assert hook is not None
                        await hook.before_commit(session)
                if joined:
                    assert hook is not None
                    hook.committed()
                return result
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
        # Without WAL a reader blocks the writer, and a CLI command beside the bot would stall it.
        log.warning("SQLite did not switch to WAL (journal mode %s); is the file on a network drive?", mode)
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # Deleted rows are overwritten with zeros, so /forget and the retention purge leave no text in
    # the file's free pages (Database.checkpoint then clears the write-ahead log).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()
