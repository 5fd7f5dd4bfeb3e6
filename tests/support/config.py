"""Test configuration shared by fixtures and tests: databases, settings and services for the sandbox."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.context import Services
from bot.domain.clock import FakeClock
from bot.settings import Settings
from messages import default_catalog
from storage.db import Database

POSTGRES_URL = os.environ.get("VALITUPA_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("VALITUPA_REQUIRE_POSTGRES") == "1"
START = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)

_POSTGRES_STATE: dict[str, bool] = {}


async def postgres_available() -> bool:
    if "ok" not in _POSTGRES_STATE:
        engine = create_async_engine(POSTGRES_URL)
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            _POSTGRES_STATE["ok"] = True
        except Exception:
            _POSTGRES_STATE["ok"] = False
        finally:
            await engine.dispose()
    return _POSTGRES_STATE["ok"]


def make_settings(sandbox: Any, **overrides: Any) -> Settings:
    from sandbox.server import SANDBOX_TOKEN

    values: dict[str, Any] = {
        "bot_token": SANDBOX_TOKEN,
        "telegram_api_url": sandbox.url,
        "admin_user_ids": [9001],
        "broadcast_rate": 200.0,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


def services_for(settings: Settings, db: Database, clock: FakeClock) -> Services:
    return Services(settings=settings, db=db, clock=clock, catalog=default_catalog(), instance="test")
