"""aiosqlite with one thread hop per statement instead of four.

SQLAlchemy's aiosqlite adapter creates a cursor, executes, fetches and closes it: four round trips
to aiosqlite's worker thread for every statement, each waiting for the event loop to come round.
Under load that made every unit of work hold the (single) SQLite connection three times longer
than its work takes. The cursor below runs execute-and-fetch as one call in the worker thread and
keeps the rows; creating and closing it needs no round trip at all. Everything else is aiosqlite
itself, so transactions, the worker thread and error types are unchanged.

Pass :data:`DBAPI` as ``module=`` to ``create_async_engine`` for a ``sqlite+aiosqlite`` URL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from types import SimpleNamespace
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

Rows = list[Any]


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
        result = await self._connection._execute(self._run, sql, parameters, False)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneHopCursor:
        result = await self._connection._execute(self._run, sql, list(parameters), True)
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
    def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> OneHopConnection:
    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    return OneHopConnection(connector, iter_chunk_size)


_module = SimpleNamespace(
    **{name: getattr(aiosqlite, name) for name in dir(aiosqlite) if not name.startswith("_")}
)
_module.connect = connect
_module.Connection = OneHopConnection

DBAPI = AsyncAdapt_aiosqlite_dbapi(_module, sqlite3)  # type: ignore[arg-type]
