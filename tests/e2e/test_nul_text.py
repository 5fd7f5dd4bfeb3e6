"""A NUL character in what a participant sends is dropped, and the message is kept (PostgreSQL
cannot store a NUL in text: the message used to be lost there)."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Submission
from tests.support.factories import process_yaml


async def test_a_message_with_a_nul_character_is_kept_without_it(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml())
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)

    await bot.say(aino, "Kirjastossa\x00 oli jonoa")
    await bot.command(aino, "observe", "Toinen\x00 havainto")

    async with bot.db.session() as session:
        texts = list(await session.scalars(select(Submission.text).order_by(Submission.id)))
    assert texts == ["Kirjastossa oli jonoa", "Toinen havainto"]
    assert "tallensin havainnon" in aino.messages[-1]["text"]
