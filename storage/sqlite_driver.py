"""aiosqlite, but short statements run where they are asked for and only slow ones take the thread.

SQLAlchemy's aiosqlite adapter sends every cursor call to aiosqlite's worker thread and waits for
the event loop to come round to the answer. A statement on a local SQLite file takes tens of
microseconds; the round trip under load took a millisecond or more, three times per unit of work
(read, write, commit), and the bot's one SQLite connection is held all that time. Throughput was
bounded by those waits, not by SQLite (``bench/updates.py``: 290 → 570 updates/s).

So a statement runs in the event loop's thread, and moves to the worker thread only when it would
make the loop wait:

* **Locks.** The connection's busy timeout is 0, so a statement that meets another process's write
  lock (a CLI command beside the bot) fails at once with SQLITE_BUSY, before doing anything (WAL);
  it is then tried again in the worker thread, with pauses, for up to the busy timeout (15 s),
  where waiting blocks nobody. A caller that gives up (a timeout) ends that wait, and until the
  worker has let go of the connection every later statement queues behind it there.
* **Long reads.** A SELECT gets :data:`INLINE_BUDGET_S` in the loop; a progress handler interrupts
  it after that (a SELECT interrupted inside a transaction leaves the transaction intact) and it
  is run again, whole, in the worker thread. Digests and exports read there.
* **Bulk writes.** ``executemany``, every DELETE (erasure, retention: cascades over many rows), any
  statement starting with WITH, and everything inside :func:`off_the_loop` run in the worker thread.
* **Checkpoints.** SQLite's automatic WAL checkpoint would run inside a commit (and fsync); it is off
  here, and every :data:`CHECKPOINT_EVERY` commits a PASSIVE checkpoint runs in a thread of its own
  on a connection of its own.

Writes cannot be interrupted safely (SQLite rolls back the whole transaction), so a single INSERT or
UPDATE runs to its end in the loop; the bot's inserts and updates touch a handful of rows.

Each statement is also one call: execute and fetch together, the rows kept on the cursor, so
creating and closing a cursor costs nothing. Everything else is aiosqlite itself.

Pass :data:`DBAPI` as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from types import SimpleNamespace
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

log = logging.getLogger(__name__)
Rows = list[Any]
T = TypeVar("T")

# How long a SELECT may run in the event loop before it is moved to the worker thread.
INLINE_BUDGET_S = 0.002
# The progress handler runs every this many SQLite VM steps (about 10–50 µs of work).
PROGRESS_STEPS = 1000
DEFAULT_BUSY_TIMEOUT_S = 15.0
# Commits between two background WAL checkpoints (about 1000 WAL pages at the bot's usual writes).
CHECKPOINT_EVERY = 256


_OFF_THE_LOOP: ContextVar[bool] = ContextVar("valitupa_sqlite_off_the_loop", default=False)


@contextlib.contextmanager
def off_the_loop() -> Iterator[None]:
    """Every SQLite statement in this block runs in the worker thread: for bulk updates (retention).

    A no-op on PostgreSQL, whose driver never blocks the event loop.
    """
    token = _OFF_THE_LOOP.set(True)
    try:
        yield
    finally:
        _OFF_THE_LOOP.reset(token)


class OneHopCursor:
    """The async cursor SQLAlchemy's adapter expects, doing each statement in one call."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: Rows = []
        self._next = 0  # the first row not yet fetched

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    def _run(self, sql: str, parameters: Any, many: bool) -> tuple[Any, int, int | None, Rows]:
        cursor = self._connection._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters if parameters is not None else ())
            # Fetch before reading rowcount: for INSERT/UPDATE … RETURNING SQLite counts the rows
            # only as they are stepped through.
            rows = cursor.fetchall() if cursor.description else []
            return cursor.description, cursor.rowcount, cursor.lastrowid, rows
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        verb = sql.lstrip()[:6].upper()
        if verb == "DELETE" or verb.startswith("WITH") or _OFF_THE_LOOP.get():
            # Erasure and retention delete many rows with their cascades, and a WITH may hide a
            # DELETE or UPDATE: never in the loop (and never interrupted).
            result = await self._connection.in_worker(self._run, sql, parameters, False, reason="bulk")
        else:
            result = await self._connection.run_inline(
                self._run, sql, parameters, False, budget=INLINE_BUDGET_S if verb == "SELECT" else None
            )
        self._keep(result)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        result = await self._connection.in_worker(self._run, sql, list(parameters), True, reason="bulk")
        self._keep(result)
        return self

    def _keep(self, result: tuple[Any, int, int | None, Rows]) -> None:
        self.description, self.rowcount, self.lastrowid, self._rows = result
        self._next = 0

    async def fetchall(self) -> Rows:
        rows = self._rows[self._next :] if self._next else self._rows
        self._rows, self._next = [], 0
        return rows

    async def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    async def fetchmany(self, size: int | None = None) -> Rows:
        end = self._next + (size or self.arraysize)
        rows = self._rows[self._next : end]
        self._next = min(end, len(self._rows))
        return rows

    async def close(self) -> None:
        self._rows, self._next = [], 0

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_sizes: object) -> None:
        return None


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements run in the caller's thread unless they would wait."""

    busy_timeout_ms = int(DEFAULT_BUSY_TIMEOUT_S * 1000)
    checkpoints = 0  # background WAL checkpoints started
    _commits = 0  # since the last checkpoint
    _checkpoint: asyncio.Future[None] | None = None
    _open_again: Callable[[], sqlite3.Connection] | None = None
    _in_worker = 0  # calls handed to the worker thread and not finished there
    _in_worker_lock: threading.Lock
    _deadline = 0.0  # perf_counter() after which the running statement is interrupted; 0 = never
    # Statements run in the worker thread, by reason ("busy", "interrupted", "bulk", "queued"): for tests.
    moved: dict[str, int]

    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def _connect(self) -> OneHopConnection:
        await super()._connect()
        self._prepare()
        return self

    def _progress(self) -> int:
        deadline = self._deadline
        return 1 if deadline and time.perf_counter() > deadline else 0

    def _prepare(self) -> None:
        """Once, on the new connection: no lock waits and no checkpoints in the event loop's thread."""
        self._conn.execute("PRAGMA busy_timeout=0")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")

    async def run_inline(self, fn: Callable[..., T], *args: Any, budget: float | None = None) -> T:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        if self._in_worker:
            # The worker thread still has the connection (its caller gave up waiting): run after it,
            # in order, rather than block the event loop on SQLite's connection mutex.
            return await self.in_worker(fn, *args, reason="queued")
        conn = self._conn
        if budget is not None:
            # Only while this statement runs: a Python progress handler in the worker thread would
            # need the GIL every few microseconds of SQLite work.
            self._deadline = time.perf_counter() + budget
            conn.set_progress_handler(self._progress, PROGRESS_STEPS)
        try:
            return fn(*args)
        except sqlite3.OperationalError as error:
            # Not every OperationalError carries a code (a text that is not UTF-8, say).
            code = getattr(error, "sqlite_errorcode", 0)
            if code not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_INTERRUPT):
                raise  # BUSY_SNAPSHOT too: only a new transaction helps (Database.run retries)
            reason = "busy" if code == sqlite3.SQLITE_BUSY else "interrupted"
        finally:
            if budget is not None:
                conn.set_progress_handler(None, 0)
                self._deadline = 0.0
        return await self.in_worker(fn, *args, reason=reason)

    async def in_worker(self, fn: Callable[..., T], *args: Any, reason: str) -> T:
        """Run ``fn`` in aiosqlite's thread, where waiting for a lock or a long read blocks nobody."""
        self.moved[reason] = self.moved.get(reason, 0) + 1
        if reason == "bulk":
            self._commits = CHECKPOINT_EVERY  # many pages written: checkpoint after this commit
        abandoned = threading.Event()
        with self._in_worker_lock:
            self._in_worker += 1
        try:
            return await self._execute(self._waiting, abandoned, fn, *args)
        except asyncio.CancelledError:
            # Whoever waited has gone (a timeout): stop waiting for the lock, stop a long read.
            # interrupt() is a no-op when nothing runs.
            abandoned.set()
            self._conn.interrupt()
            raise

    def _waiting(self, abandoned: threading.Event, fn: Callable[..., T], *args: Any) -> T:
        """In the worker thread: ``fn``, again after SQLITE_BUSY until the busy timeout.

        Our own wait rather than SQLite's busy handler, so a caller that gives up stops it.
        """
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.001
        try:
            if abandoned.is_set():  # cancelled while it queued: nobody wants the answer
                raise sqlite3.OperationalError("the caller stopped waiting")
            while True:
                try:
                    return fn(*args)
                except sqlite3.OperationalError as error:
                    busy = getattr(error, "sqlite_errorcode", 0) == sqlite3.SQLITE_BUSY
                    if not busy or abandoned.is_set() or time.monotonic() + pause > deadline:
                        raise
                abandoned.wait(pause)
                pause = min(pause * 2, 0.05)
        finally:
            with self._in_worker_lock:
                self._in_worker -= 1

    async def commit(self) -> None:
        await self.run_inline(self._conn.commit)
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY:
            self._start_checkpoint()

    def _start_checkpoint(self) -> None:
        """Copy the WAL into the database file in a thread of its own, on a connection of its own.

        SQLite's automatic checkpoint would run inside a commit, in the event loop, and fsync:
        tens of milliseconds with every user waiting. It is off on this connection
        (``wal_autocheckpoint=0``); a PASSIVE checkpoint never waits for readers or writers.
        """
        if self._checkpoint is not None and not self._checkpoint.done():
            return
        self._commits = 0
        if self._open_again is None:
            return  # an in-memory database has no file to copy into
        self.checkpoints += 1
        self._checkpoint = asyncio.get_running_loop().run_in_executor(None, _checkpoint, self._open_again)

    async def close(self) -> None:
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
        await super().close()

    async def rollback(self) -> None:
        await self.run_inline(self._conn.rollback)


def connect(
    database: str, *, iter_chunk_size: int = 64, timeout: float = DEFAULT_BUSY_TIMEOUT_S, **kwargs: Any
) -> OneHopConnection:
    """Like :func:`aiosqlite.connect`; ``timeout`` is how long a statement waits for a lock (in the
    worker thread, see the module docstring)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, timeout=0, **kwargs)

    connection = OneHopConnection(connector, iter_chunk_size)
    connection.busy_timeout_ms = int(timeout * 1000)
    connection.moved = {}
    connection._in_worker_lock = threading.Lock()
    memory = database in ("", ":memory:") or "mode=memory" in database or database.startswith("file::memory:")
    # The background checkpoint opens a second connection the same way.
    connection._open_again = None if memory else connector
    return connection


def _checkpoint(open_again: Callable[[], sqlite3.Connection]) -> None:
    try:
        with contextlib.closing(open_again()) as conn:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    except sqlite3.Error as error:
        # The next one will catch up; SQLite also checkpoints when the last connection closes.
        log.warning("WAL checkpoint skipped: %s", type(error).__name__)


_module = SimpleNamespace(
    **{name: getattr(aiosqlite, name) for name in dir(aiosqlite) if not name.startswith("_")}
)
_module.connect = connect
_module.Connection = OneHopConnection

DBAPI = AsyncAdapt_aiosqlite_dbapi(_module, sqlite3)  # type: ignore[arg-type]
