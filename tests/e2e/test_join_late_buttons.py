"""Joining goes on when a button is pressed on a message Telegram no longer shows the bot (an
InaccessibleMessage: too old, or deleted): each next question still arrives and the membership is
completed."""

from __future__ import annotations

from sqlalchemy import select

from storage.models import Membership
from tests.support.factories import process_yaml


async def press_inaccessible(bot, user, prefix: str) -> None:
    for message in reversed(user.messages):
        for _text, data in user.buttons(message):
            if data and data.startswith(prefix):
                await user.press(message["message_id"], data, inaccessible=True)
                await bot.idle()
                return
    raise AssertionError(f"no button {prefix!r}")


async def test_every_step_after_consent_survives_a_press_on_an_inaccessible_message(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml())
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await aino.start(process.participant_code)
    await bot.idle()

    await press_inaccessible(bot, aino, "cs:y:")
    assert "Millä kielellä jutellaan?" in aino.messages[-1]["text"]
    await press_inaccessible(bot, aino, "lg:fi")
    assert aino.buttons(aino.messages[-1])[0][1].startswith("og:")
    await press_inaccessible(bot, aino, "og:")
    assert aino.buttons(aino.messages[-1])[0][1].startswith("rl:")
    await press_inaccessible(bot, aino, "rl:employee")
    assert aino.buttons(aino.messages[-1])[0][1].startswith("nm:")
    await press_inaccessible(bot, aino, "nm:n")

    assert "Tervetuloa" in aino.messages[-1]["text"]
    async with bot.db.session() as session:
        membership = (await session.scalars(select(Membership).where(Membership.user_id == 1001))).one()
    assert membership.complete and membership.role == "employee" and membership.process_id == process.id
