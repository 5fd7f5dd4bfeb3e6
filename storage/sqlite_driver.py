"""aiosqlite, but short statements run where they are asked for and only slow ones take the thread.

SQLAlchemy's aiosqlite adapter sends every cursor call to aiosqlite's worker thread and waits for
the event loop to come round to the answer. A statement on a local SQLite file takes tens of
microseconds; the round trip under load took a millisecond or more, three times per unit of work
(read, write, commit), and the bot's one SQLite connection is held all that time. Throughput was
bounded by those waits, not by SQLite (``bench/updates.py``: 290 → 570 updates/s).

So a statement runs in the event loop's thread, and moves to the worker thread only when it would
make the loop wait:

* **Locks.** The connection's own busy timeout is 0, so a statement that meets another process's
  write lock (a CLI command beside the bot) fails at once with SQLITE_BUSY, before doing anything;
  it is then run again in the worker thread with the real busy timeout (15 s), where waiting
  blocks nobody.
* **Long reads.** A SELECT gets :data:`INLINE_BUDGET_S` in the loop; a progress handler interrupts
  it after that (a SELECT interrupted inside a transaction leaves the transaction intact) and it
  is run again, whole, in the worker thread. Digests and exports read there.
* **Bulk writes.** ``executemany`` and every DELETE (erasure, retention: cascades over many rows)
  run in the worker thread.

Writes cannot be interrupted safely (SQLite rolls back the whole transaction), so a single INSERT or
UPDATE runs to its end in the loop; the bot's inserts and updates touch a handful of rows.

Each statement is also one call: execute and fetch together, the rows kept on the cursor, so
creating and closing a cursor costs nothing. Everything else is aiosqlite itself.

Pass :data:`DBAPI` as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from types import SimpleNamespace
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

Rows = list[Any]
T = TypeVar("T")

# How long a SELECT may run in the event loop before it is moved to the worker thread.
INLINE_BUDGET_S = 0.002
# The progress handler runs every this many SQLite VM steps (about 10–50 µs of work).
PROGRESS_STEPS = 1000
DEFAULT_BUSY_TIMEOUT_S = 15.0
# Errors after which the statement has done nothing and may run again in the worker thread.
_RETRY_IN_WORKER = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_INTERRUPT}


class OneHopCursor:
    """The async cursor SQLAlchemy's adapter expects, doing each statement in one worker call."""

    arraysize = 1

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: Rows = []

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
        if verb == "DELETE":
            # Erasure and retention delete many rows with their cascades: never in the loop.
            result = await self._connection.in_worker(self._run, sql, parameters, False, reason="bulk")
        else:
            result = await self._connection.run_inline(
                self._run, sql, parameters, False, budget=INLINE_BUDGET_S if verb == "SELECT" else None
            )
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        result = await self._connection.in_worker(self._run, sql, list(parameters), True, reason="bulk")
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchall(self) -> Rows:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Rows:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._rows = []

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_sizes: object) -> None:
        return None


class OneHopConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements run in the caller's thread unless they would wait."""

    busy_timeout_ms = int(DEFAULT_BUSY_TIMEOUT_S * 1000)
    _deadline = 0.0  # perf_counter() after which the running statement is interrupted; 0 = never
    # Statements run in the worker thread, by reason ("busy", "interrupted", "bulk"): for tests.
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
        """Once, on the new connection: no lock waits in the event loop's thread."""
        self._conn.execute("PRAGMA busy_timeout=0")

    async def run_inline(self, fn: Callable[..., T], *args: Any, budget: float | None = None) -> T:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        conn = self._conn
        if budget is not None:
            # Only while this statement runs: a Python progress handler in the worker thread would
            # need the GIL every few microseconds of SQLite work.
            self._deadline = time.perf_counter() + budget
            conn.set_progress_handler(self._progress, PROGRESS_STEPS)
        try:
            return fn(*args)
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF not in _RETRY_IN_WORKER:
                raise
            reason = "busy" if error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY else "interrupted"
        finally:
            if budget is not None:
                conn.set_progress_handler(None, 0)
                self._deadline = 0.0
        return await self.in_worker(fn, *args, reason=reason)

    async def in_worker(self, fn: Callable[..., T], *args: Any, reason: str) -> T:
        """Run ``fn`` in aiosqlite's thread, where waiting for a lock or a long read blocks nobody."""
        self.moved[reason] = self.moved.get(reason, 0) + 1
        return await self._execute(self._waiting, fn, *args)

    def _waiting(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
        try:
            return fn(*args)
        finally:
            conn.execute("PRAGMA busy_timeout=0")

    async def commit(self) -> None:
        await self.run_inline(self._conn.commit)

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
    return connection


_module = SimpleNamespace(
    **{name: getattr(aiosqlite, name) for name in dir(aiosqlite) if not name.startswith("_")}
)
_module.connect = connect
_module.Connection = OneHopConnection

DBAPI = AsyncAdapt_aiosqlite_dbapi(_module, sqlite3)  # type: ignore[arg-type]
