"""Shared fixtures: a real database per test (SQLite file and PostgreSQL), a fake clock, the Bot API
sandbox, and a running Välitupa Application talking HTTP to the sandbox.

Every database test runs on both backends. PostgreSQL is used when it answers at
``VALITUPA_TEST_POSTGRES`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); set
``VALITUPA_REQUIRE_POSTGRES=1`` (CI does) to fail instead of skipping when it does not.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.domain.clock import FakeClock
from bot.settings import Settings
from messages import Catalog, default_catalog
from storage import migrate
from storage.db import Database
from tests.support.config import POSTGRES_URL, REQUIRE_POSTGRES, START, make_settings, postgres_available

# As bot.app.build_application does for a running bot: PTB's timedelta durations, without a warning.
os.environ.setdefault("PTB_TIMEDELTA", "true")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def db(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database of the given backend, private to this test."""
    if backend == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'valitupa.db'}")
        await migrate.upgrade(database)
        yield database
        await database.dispose()
        return
    if not await postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but does not answer at {POSTGRES_URL}")
        pytest.skip("PostgreSQL not available")
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(POSTGRES_URL, schema=schema)
    try:
        await migrate.upgrade(database)
        yield database
    finally:
        await database.dispose()
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def catalog() -> Catalog:
    return default_catalog()


@pytest.fixture
async def sandbox() -> AsyncIterator[Any]:
    from sandbox.server import BotApiSandbox

    server = BotApiSandbox()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
    problems = server.violations
    assert not problems, "requests that break the Bot API description:\n" + "\n".join(map(str, problems))


@pytest.fixture
def settings(sandbox: Any) -> Settings:
    return make_settings(sandbox)


@pytest.fixture
async def bot(sandbox: Any, db: Database, clock: FakeClock, settings: Settings) -> AsyncIterator[Any]:
    from tests.support.harness import BotHarness

    harness = BotHarness(sandbox=sandbox, db=db, clock=clock, settings=settings)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()
