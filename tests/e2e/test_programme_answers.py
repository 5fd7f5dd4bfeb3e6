"""Answers are linked to the prompt they answer: by reply, by being the only open one, by choice,
by a quick-reply button (with a comment), and never to a prompt that has closed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from storage.models import Submission
from tests.support.factories import process_yaml
from tests.support.programme import Person, outbox, run_until, seed, start_harness

HELSINKI = ZoneInfo("Europe/Helsinki")
PROGRAMME = """prompts:
  - id: r1
    phase: 1
    when: W1 +1d 09:00
    kind: reflection
    text: {fi: 'Mikä jäi mieleen?', sv: 'Vad stannade kvar?', en: 'What stayed with you?'}
    remind_after: 1d
    closes_after: 3d
  - id: c1
    phase: 1
    when: W1 +1d 10:00
    kind: checkin
    text: {fi: 'Miltä nyt tuntuu?', sv: 'Hur känns det nu?', en: 'How does it feel now?'}
    options:
      - {fi: '1 – raskaalta', sv: '1 – tungt', en: '1 – heavy'}
      - {fi: '2 – ihan ok', sv: '2 – okej', en: '2 – okay'}
      - {fi: '3 – hyvältä', sv: '3 – bra', en: '3 – good'}
    closes_after: 2d
"""


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 1, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def aino(bot, sandbox):
    process = await bot.create_process(process_yaml(programme=None, extra=PROGRAMME))
    await seed(bot, process, [Person(1001, "Aino")])
    return sandbox.user(1001)


async def submissions(bot) -> list[Submission]:
    async with bot.db.session() as session:
        return list(await session.scalars(select(Submission).order_by(Submission.id)))


async def test_a_reply_to_a_prompt_is_stored_as_its_answer(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))  # both prompts are open
    r1 = (await outbox(bot, 1001))["r1"]

    await aino.send_text("Yhteinen kieli löytyi.", reply_to_message_id=r1.message_id)
    await bot.idle()

    [answer] = await submissions(bot)
    assert (answer.kind, answer.delivery_id, answer.text) == ("answer", r1.id, "Yhteinen kieli löytyi.")
    assert (await outbox(bot, 1001))["r1"].state == "answered"
    assert "tallensin vastauksesi" in aino.messages[-1]["text"]


async def test_with_exactly_one_prompt_open_a_message_answers_it(bot, aino) -> None:
    await run_until(bot, local(15, 9, 30))  # only the reflection has gone out

    await bot.say(aino, "Kuntalaisen näkökulma avautui.")

    [answer] = await submissions(bot)
    assert answer.kind == "answer" and answer.delivery_id == (await outbox(bot, 1001))["r1"].id


async def test_with_several_prompts_open_the_participant_chooses_which_one(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))

    await bot.say(aino, "Tämä vastaa pohdintaan.")
    [stored] = await submissions(bot)
    assert stored.kind == "observation"
    r1 = (await outbox(bot, 1001))["r1"]
    await bot.press(aino, f"aw:{stored.id}:{r1.id}")

    [answer] = await submissions(bot)
    assert answer.kind == "answer" and answer.delivery_id == r1.id


async def test_a_quick_reply_button_stores_the_choice_and_the_next_message_is_its_comment(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))
    c1 = (await outbox(bot, 1001))["c1"]
    prompt_message = aino.message(c1.message_id)
    assert [data for _, data in aino.buttons(prompt_message)] == [
        f"qr:{c1.id}:0",
        f"qr:{c1.id}:1",
        f"qr:{c1.id}:2",
    ]

    await aino.press(c1.message_id, f"qr:{c1.id}:1")
    await bot.idle()
    await aino.press(c1.message_id, f"qr:{c1.id}:2")  # a change of mind replaces the choice
    await bot.idle()
    await bot.say(aino, "Työpaja antoi virtaa.")

    [answer] = await submissions(bot)
    assert (answer.kind, answer.delivery_id, answer.choice) == ("answer", c1.id, "3 – hyvältä")
    assert answer.text == "Työpaja antoi virtaa."
    assert (await outbox(bot, 1001))["c1"].state == "answered"
    assert ("✓ 3 – hyvältä", f"qr:{c1.id}:2") in aino.buttons(aino.message(c1.message_id))
    assert "liitin kommentin" in aino.messages[-1]["text"]


async def test_a_comment_can_be_skipped(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))
    c1 = (await outbox(bot, 1001))["c1"]
    await aino.press(c1.message_id, f"qr:{c1.id}:0")
    await bot.idle()

    await bot.command(aino, "/skip")

    [answer] = await submissions(bot)
    assert answer.choice == "1 – raskaalta" and answer.text is None
    assert "vastauksesi on tallessa" in aino.messages[-1]["text"]


async def test_a_reply_to_the_reminder_answers_the_prompt(bot, aino) -> None:
    await run_until(bot, local(16, 12))
    r1 = (await outbox(bot, 1001))["r1"]
    assert r1.reminded_at == local(16, 9) and r1.reminder_message_id is not None
    assert "Pieni muistutus" in aino.message(r1.reminder_message_id)["text"]

    await aino.send_text("Nyt ehdin vastata.", reply_to_message_id=r1.reminder_message_id)
    await bot.idle()

    [answer] = await submissions(bot)
    assert answer.kind == "answer" and answer.delivery_id == r1.id


async def test_a_message_after_the_prompt_closed_becomes_an_observation(bot, aino) -> None:
    await run_until(bot, local(19, 12))  # r1 closed on the 18th
    r1 = (await outbox(bot, 1001))["r1"]

    await aino.send_text("Myöhäinen ajatus.", reply_to_message_id=r1.message_id)
    await bot.idle()

    [stored] = await submissions(bot)
    assert stored.kind == "observation" and stored.delivery_id is None
    assert "ehti jo sulkeutua" in aino.messages[-1]["text"]


async def test_a_quick_reply_after_the_check_in_closed_is_kindly_refused(bot, aino) -> None:
    await run_until(bot, local(18, 12))  # c1 closed on the 17th
    c1 = (await outbox(bot, 1001))["c1"]

    query = await aino.press(c1.message_id, f"qr:{c1.id}:2")
    answered = await aino.wait_callback_answer(query)

    assert "sulkeutua" in answered["text"]
    assert await submissions(bot) == []
