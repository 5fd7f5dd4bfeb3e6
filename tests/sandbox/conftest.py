"""Fixtures for the sandbox's own tests: a running sandbox and real PTB applications pointed at it."""

from __future__ import annotations

import contextlib
import datetime as dtm
from collections.abc import AsyncIterator

import pytest
from telegram.ext import Application

from sandbox import BotApiSandbox, validate_response


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opt in to PTB's timedelta time periods, so ``RetryAfter`` does not emit a deprecation warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def sandbox() -> AsyncIterator[BotApiSandbox]:
    """A running sandbox; afterwards every request must have been valid and every answer well-typed."""
    async with BotApiSandbox() as running:
        yield running
    assert running.violations == []
    answers = [
        problem
        for request in running.requests
        if request.ok
        for problem in validate_response(request.method, request.result)
    ]
    assert answers == []


def build_app(sandbox: BotApiSandbox) -> Application:
    return (
        Application.builder()
        .token(sandbox.token)
        .base_url(sandbox.base_url)
        .base_file_url(sandbox.base_file_url)
        .build()
    )


@pytest.fixture
def app(sandbox: BotApiSandbox) -> Application:
    """A real PTB Application bound to the sandbox, not started: add handlers, then use ``polling``."""
    return build_app(sandbox)


@contextlib.asynccontextmanager
async def polling(app: Application) -> AsyncIterator[Application]:
    """Run ``app`` with long polling for the duration of the block, then shut it down cleanly."""
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(timeout=dtm.timedelta(seconds=2))
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()
