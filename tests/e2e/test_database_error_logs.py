"""No value from a database error's DETAIL in a log line: a handler's unique violation on
PostgreSQL (``DETAIL:  Key (name)=(…) already exists``, carried in asyncpg's exception text into the
traceback) is logged with its SQLSTATE and constraint name, never the value, in both log formats."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from telegram import Update
from telegram.ext import CommandHandler

from bot.context import Ctx
from bot.infra.logs import RedactingFilter
from tests.support.logs import captured_logs

PERSONAL = "Rouva Virtanen, Kuusitie 4"
FOLDED = "Aino\nVirtanen 040 123 4567"


@pytest.fixture(params=["text", "json"])
def bot_log(request, settings) -> Iterator[io.StringIO]:
    with captured_logs(settings.model_copy(update={"log_format": request.param})) as stream:
        yield stream


async def _twice(update: Update, context: Ctx) -> None:
    """A real statement that breaks a unique constraint with a personal-looking value."""

    async def work(session) -> None:
        await session.execute(
            text("CREATE TEMPORARY TABLE neighbours (name TEXT CONSTRAINT uq_neighbours_name UNIQUE)")
        )
        for _ in range(2):
            await session.execute(text("INSERT INTO neighbours (name) VALUES (:name)"), {"name": PERSONAL})

    await context.services.db.run(work, attempts=1)


async def test_a_unique_violation_is_logged_without_its_value(bot_log, bot, sandbox, backend) -> None:
    bot.app.add_handler(CommandHandler("twice", _twice), group=-5)
    aino = sandbox.user(7101, first_name="Aino", language_code="fi")
    await bot.command(aino, "/twice")

    output = bot_log.getvalue()
    assert "unhandled IntegrityError" in output
    assert "Rouva" not in output and "Kuusitie" not in output
    if backend == "postgresql":
        assert "DETAIL: <left out>" in output  # the value really was in the exception's text
        assert "uq_neighbours_name" in output
        assert "23505" in output
        if output.lstrip().startswith("{"):
            [entry] = [json.loads(line) for line in output.splitlines() if "IntegrityError" in line]
            assert entry["sqlstate"] == "23505" and entry["constraint"] == "uq_neighbours_name"
    assert any("Pahoittelut" in (m.get("text") or "") for m in aino.messages)


def test_a_detail_over_several_lines_and_a_quoted_argument_are_left_out() -> None:
    redact = RedactingFilter().redact
    traceback = (
        'asyncpg.exceptions.NotNullViolationError: null value in column "kind" violates not-null'
        f' constraint "nn_submissions_kind"\nDETAIL:  Failing row contains (7, {FOLDED}, null).\n\n'
        "The above exception was the direct cause of the following exception:\n"
        "[SQL: INSERT INTO submissions (text) VALUES ($1)]\n"
    )
    redacted = redact(traceback)
    assert "Virtanen" not in redacted and "040" not in redacted
    assert "nn_submissions_kind" in redacted and "The above exception" in redacted and "[SQL:" in redacted
    argument = redact("invalid input for query argument $1: 'Aino Virtanen' (expected int, got str)")
    assert argument == "invalid input for query argument $1: <left out> (expected int, got str)"
