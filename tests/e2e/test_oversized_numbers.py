"""Oversized numbers from a facilitator get a clear answer, never a traceback, on both databases:
``/digest 10²¹d``, ``/hide 9999999999`` (past PostgreSQL's integer), forged ``hd:u:9…9`` button data."""

from __future__ import annotations

import logging

import pytest

from tests.support.seed import Seeded, seed_process


@pytest.fixture
async def seeded(bot) -> Seeded:
    seeded = await seed_process(bot.db)
    bot.clock.set(seeded.end)
    return seeded


@pytest.fixture
def fanni(sandbox, seeded):
    return sandbox.user(seeded.facilitator_user_id, first_name="Fanni", language_code="fi")


async def test_oversized_numbers_get_a_clear_answer(
    bot, seeded, fanni, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.command(fanni, "/digest", "1" + "0" * 21 + "d")
    assert "En ymmärtänyt jakson pituutta" in fanni.messages[-1]["text"]

    await bot.command(fanni, "/hide", "9999999999")
    assert "Tässä prosessissa ei ole viestiä #9999999999" in fanni.messages[-1]["text"]

    await bot.command(fanni, "/digest")
    digest = next(m for m in reversed(fanni.messages) if m.get("reply_markup"))
    query = await fanni.press(digest["message_id"], "hd:u:" + "9" * 60, strict=False)
    answer = await fanni.wait_callback_answer(query)
    assert answer.get("text")

    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
