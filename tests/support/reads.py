"""Counting the statements a build runs, by a SQLAlchemy engine event: nothing of the bot's is
replaced or wrapped. A test uses it to see that a digest or an export is still reading (it has
statements left to run) when something else happens."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event

from storage.db import Database


class StatementCount:
    """How many statements containing every one of ``markers`` the database has run so far;
    ``started`` is set at the first."""

    def __init__(self, db: Database, *markers: str) -> None:
        self.markers = markers
        self.count = 0
        self.started = asyncio.Event()
        self._engine = db.engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        # SQLAlchemy runs this on the event loop's thread (the async drivers' cursors are awaited there).
        if all(marker in statement for marker in self.markers):
            self.count += 1
            self.started.set()

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)
