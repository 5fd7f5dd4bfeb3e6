"""A database error never carries the statement's parameters (what people wrote), so its traceback
in a log cannot either."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import Submission

SECRET_TEXT = "Rouva Virtanen kaatui eilen pihalla"


async def test_an_integrity_error_does_not_show_what_was_written(db: Database) -> None:
    async def work(session):
        await session.execute(
            insert(Submission).values(
                process_id=999_999,
                membership_id=999_999,
                kind="observation",
                text=SECRET_TEXT,
                chat_id=731_845_296,
                created_at=datetime(2027, 1, 1, tzinfo=UTC),
            )
        )

    with pytest.raises(IntegrityError) as caught:
        await db.run(work)
    assert "INSERT INTO submissions" in str(caught.value)
    assert SECRET_TEXT not in str(caught.value) and "731845296" not in str(caught.value)
