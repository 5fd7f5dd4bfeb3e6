"""The statements whose SQL differs between PostgreSQL and SQLite, built for a session's backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

Dialect = Literal["postgresql", "sqlite"]


def dialect_of(session: AsyncSession) -> Dialect:
    """The backend a session talks to; an unbound session or another database is an error, not a
    guess (a statement built for the wrong one would fail, or worse, mean something else)."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("the session is not bound to a database")
    name = bind.dialect.name
    if name == "postgresql":
        return "postgresql"
    if name == "sqlite":
        return "sqlite"
    raise RuntimeError(f"unsupported database {name!r}: Välitupa runs on PostgreSQL or SQLite")


def insert_ignoring_conflicts(session: AsyncSession, table: Table, index_elements: Sequence[str]) -> Insert:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` for the session's backend: the row that
    is already there wins, and the statement's ``rowcount`` says how many were new."""
    if dialect_of(session) == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))
