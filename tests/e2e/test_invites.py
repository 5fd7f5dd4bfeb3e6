"""Invite links that end: the participant link at ``invites_until`` (or the end), the facilitator link
at the end; renewing the links and removing a facilitator from /process."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from storage.models import Membership, Process
from tests.support.factories import process_yaml

# Helsinki is UTC+2 in January: 2027-01-20 12:00 local is 10:00 UTC.
UNTIL = "invites_until: 2027-01-20 12:00\n"
AFTER_UNTIL = datetime(2027, 1, 20, 10, 1, tzinfo=UTC)
AFTER_END = datetime(2027, 5, 7, tzinfo=UTC)


async def members(bot, process_id: int) -> int:
    async with bot.db.session() as session:
        query = select(func.count()).select_from(Membership).where(Membership.process_id == process_id)
        return int(await session.scalar(query) or 0)


async def test_the_participant_link_stops_at_invites_until_and_the_facilitator_link_at_the_end(
    bot, sandbox
) -> None:
    process = await bot.create_process(process_yaml(extra=UNTIL))
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)
    assert await members(bot, process.id) == 1

    bot.clock.set(AFTER_UNTIL)
    late = sandbox.user(1002, first_name="Eero", language_code="fi")
    await late.start(process.participant_code)
    await bot.idle()
    assert "kutsulinkki ei ole enää voimassa" in late.messages[-1]["text"]
    assert not any(data for _t, data in late.buttons(late.messages[-1]))
    fanni = sandbox.user(9101, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    assert await members(bot, process.id) == 2

    # Aino, already in, opening her old link hears she is in, not that it is closed.
    await aino.start(process.participant_code)
    await bot.idle()
    assert "Tervetuloa takaisin" in aino.messages[-1]["text"]

    bot.clock.set(AFTER_END)
    pekka = sandbox.user(9102, first_name="Pekka", language_code="fi")
    await pekka.start(process.facilitator_code)
    await bot.idle()
    assert "kutsulinkki ei ole enää voimassa" in pekka.messages[-1]["text"]
    assert await members(bot, process.id) == 2


async def test_a_consent_pressed_after_the_link_closed_does_not_join(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml(extra=UNTIL))
    late = sandbox.user(1002, first_name="Eero", language_code="fi")
    await late.start(process.participant_code)
    await bot.idle()
    bot.clock.set(AFTER_UNTIL)
    await bot.press(late, "cs:y:")
    assert await members(bot, process.id) == 0


@pytest.fixture
async def two_facilitators(bot, sandbox):
    process = await bot.create_process(process_yaml())
    fanni = sandbox.user(9101, first_name="Fanni", language_code="fi")
    pekka = sandbox.user(9102, first_name="Pekka", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    await bot.join(pekka, process, facilitator=True)
    return process, fanni, pekka


async def test_renewed_links_replace_the_old_ones(bot, sandbox, two_facilitators) -> None:
    process, fanni, _pekka = two_facilitators
    await bot.command(fanni, "/process")
    await bot.press(fanni, "pa:rot")
    assert "Vanhat linkit lakkaavat toimimasta heti" in fanni.messages[-1]["text"]
    await bot.press(fanni, "pa:rot:y")

    async with bot.db.session() as session:
        renewed = await session.get(Process, process.id)
        assert renewed is not None
    assert renewed.participant_code != process.participant_code
    assert renewed.facilitator_code != process.facilitator_code
    assert renewed.participant_code in fanni.messages[-1]["text"]

    old = sandbox.user(1003, first_name="Liisa", language_code="fi")
    await old.start(process.participant_code)
    await bot.idle()
    assert "pyydä se prosessin fasilitaattorilta" in old.messages[-1]["text"]
    await bot.join(old, renewed)
    assert await members(bot, process.id) == 3


async def test_a_facilitator_is_removed_from_the_process_menu(bot, sandbox, two_facilitators) -> None:
    process, fanni, pekka = two_facilitators
    await bot.command(fanni, "/process")
    await bot.press(fanni, "pa:rm")
    labels = [text for text, _data in fanni.buttons(fanni.messages[-1])]
    assert "Pekka" in labels and "Fanni" not in labels
    await bot.press(fanni, "pa:rm:9102")

    assert "Pekka ei ole enää prosessin" in fanni.messages[-1]["text"]
    async with bot.db.session() as session:
        left = list(
            await session.scalars(select(Membership.user_id).where(Membership.process_id == process.id))
        )
    assert left == [9101]
    assert sandbox.commands({"type": "chat", "chat_id": 9102}) == []
    assert sandbox.menu_buttons.get(9102, {"type": "default"}) == {"type": "default"}
    assert "digest" in {c["command"] for c in sandbox.commands({"type": "chat", "chat_id": 9101})}
    await bot.command(pekka, "/process")
    assert "Tämä komento on prosessin fasilitaattoreille" in pekka.messages[-1]["text"]


async def test_a_participant_cannot_use_the_process_buttons(bot, sandbox, two_facilitators) -> None:
    process, fanni, _pekka = two_facilitators
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)
    await bot.command(fanni, "/process")
    message = fanni.messages[-1]
    # A forged press from a participant's chat changes nothing.
    await aino.press(message["message_id"], "pa:rot:y", strict=False)
    await bot.idle()
    async with bot.db.session() as session:
        stored = await session.get(Process, process.id)
    assert stored is not None and stored.participant_code == process.participant_code
