"""A reply to an idea call is an idea, a reply to an experiment prompt an experiment log: through the
real bot and the Bot API sandbox, on both databases."""

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
  - id: i1
    phase: 3
    when: W1 +1d 09:00
    kind: idea
    text: {fi: 'Ideoiden keruu on auki!', sv: 'Nu samlar vi idéer!', en: 'We are collecting ideas!'}
    remind_after: 1d
    closes_after: 7d
  - id: e1
    phase: 4
    when: W1 +1d 10:00
    kind: experiment
    text: {fi: 'Mitä kokeilussa on tapahtunut?', sv: 'Vad har hänt i försöket?', en: 'What has happened?'}
    remind_after: 1d
    closes_after: 7d
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


def texts(user) -> list[str]:
    return [message["text"] for message in user.messages if "text" in message]


async def test_a_reply_to_an_idea_call_is_an_idea_and_the_dialogue_asks_the_rest(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))  # both prompts are open
    i1 = (await outbox(bot, 1001))["i1"]
    call = next(text for text in texts(aino) if "Ideoiden keruu on auki!" in text)
    # The hint says what a reply does, not "use /idea" against "reply to this message"
    assert "Vastaa tähän viestiin kertomalla ideasi" in call

    await aino.send_text("Kirjaston kahvihetki ikäihmisille", reply_to_message_id=i1.message_id)
    await bot.idle()

    [idea] = await submissions(bot)
    assert (idea.kind, idea.title, idea.delivery_id) == ("idea", "Kirjaston kahvihetki ikäihmisille", i1.id)
    assert (await outbox(bot, 1001))["i1"].state == "answered"
    assert "Tallensin ideasi: Kirjaston kahvihetki ikäihmisille" in aino.messages[-1]["text"]
    assert "Mihin tarpeeseen tai havaintoon idea vastaa?" in aino.messages[-1]["text"]
    assert "ettei ketään voi tunnistaa" in aino.messages[-1]["text"]

    await bot.say(aino, "Moni asuu yksin eikä tiedä kirjaston palveluista.")
    await bot.command(aino, "skip")
    await bot.say(aino, "Kaksi iltapäivää diakonin kanssa")

    [idea] = await submissions(bot)
    assert idea.need == "Moni asuu yksin eikä tiedä kirjaston palveluista."
    assert idea.partners is None
    assert idea.first_experiment == "Kaksi iltapäivää diakonin kanssa"
    assert "Tallensin idean Kirjaston kahvihetki ikäihmisille" in aino.messages[-1]["text"]

    # Answered, so no reminder of the idea call follows.
    before = sum("Ideoiden keruu on auki!" in text for text in texts(aino))
    await run_until(bot, local(20, 12))
    assert sum("Ideoiden keruu on auki!" in text for text in texts(aino)) == before
    await bot.command(aino, "ideas")
    assert "Kirjaston kahvihetki ikäihmisille" in aino.messages[-1]["text"]


async def test_an_idea_from_a_reply_is_kept_when_the_dialogue_is_cancelled(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))
    i1 = (await outbox(bot, 1001))["i1"]

    await aino.send_text("Yhteinen soittolista kotihoidolle", reply_to_message_id=i1.message_id)
    await bot.idle()
    await bot.say(aino, "Asiakkaat odottavat yksin.")
    await bot.command(aino, "cancel")

    [idea] = await submissions(bot)
    assert (idea.kind, idea.title, idea.need) == (
        "idea",
        "Yhteinen soittolista kotihoidolle",
        "Asiakkaat odottavat yksin.",
    )


async def test_a_reply_to_an_experiment_prompt_goes_to_the_experiment_log(bot, aino) -> None:
    await run_until(bot, local(15, 10, 30))
    e1 = (await outbox(bot, 1001))["e1"]
    prompt = next(text for text in texts(aino) if "Mitä kokeilussa on tapahtunut?" in text)
    assert "kirjaan sen kokeilupäiväkirjaan" in prompt
    assert "Jos et ole mukana missään kokeilussa, tähän ei tarvitse vastata" in prompt

    await aino.send_text(
        "Pidimme ensimmäisen kahvihetken, tuli kuusi ihmistä.", reply_to_message_id=e1.message_id
    )
    await bot.idle()

    [entry] = await submissions(bot)
    assert (entry.kind, entry.happened, entry.delivery_id) == (
        "experiment",
        "Pidimme ensimmäisen kahvihetken, tuli kuusi ihmistä.",
        e1.id,
    )
    assert (await outbox(bot, 1001))["e1"].state == "answered"
    assert "kirjasin tämän kokeilupäiväkirjaan" in aino.messages[-1]["text"]


REFLECTION = """  - id: r1
    phase: 3
    when: W1 +1d 09:30
    kind: reflection
    text: {fi: 'Mitä jäi mieleen?', sv: 'Vad blev kvar?', en: 'What stayed with you?'}
    remind_after: 1d
    closes_after: 7d
"""


async def test_a_reply_to_another_prompt_answers_it_while_the_idea_dialogue_waits(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml(programme=None, extra=PROGRAMME + REFLECTION))
    await seed(bot, process, [Person(1002, "Eero")])
    eero = sandbox.user(1002)
    await run_until(bot, local(15, 10, 30))  # the idea call, the experiment prompt and r1 are open
    sent = await outbox(bot, 1002)
    await eero.send_text("Kylätalon iltapäivät", reply_to_message_id=sent["i1"].message_id)
    await bot.idle()  # the idea is saved and its dialogue asks for the need

    # When Eero replies to the reflection prompt in the middle of the idea dialogue
    await eero.send_text("Työpajan tarinat jäivät mieleen.", reply_to_message_id=sent["r1"].message_id)
    await bot.idle()

    # then it is the reflection's answer, not the idea's need, and the dialogue still waits for that
    rows = await submissions(bot)
    answer = next(row for row in rows if row.kind == "answer")
    idea = next(row for row in rows if row.kind == "idea")
    assert (answer.text, answer.delivery_id) == ("Työpajan tarinat jäivät mieleen.", sent["r1"].id)
    assert idea.need is None
    assert (await outbox(bot, 1002))["r1"].state == "answered"
    assert "Äskeinen kysymykseni odottaa yhä" in eero.messages[-1]["text"]

    await bot.say(eero, "Iltapäivisin kukaan ei käy kylätalolla.")
    idea = next(row for row in await submissions(bot) if row.kind == "idea")
    assert idea.need == "Iltapäivisin kukaan ei käy kylätalolla."


async def test_a_plain_message_while_only_the_idea_call_is_open_is_an_idea(bot, sandbox) -> None:
    only_ideas = PROGRAMME.split("  - id: e1")[0]
    process = await bot.create_process(process_yaml(programme=None, extra=only_ideas))
    await seed(bot, process, [Person(1003, "Helmi")])
    helmi = sandbox.user(1003)
    await run_until(bot, local(15, 10, 30))  # the idea call is the one open prompt

    await bot.say(helmi, "Lainattavat lumikengät kylätalolle")

    [idea] = await submissions(bot)
    assert (idea.kind, idea.title) == ("idea", "Lainattavat lumikengät kylätalolle")
    assert (await outbox(bot, 1003))["i1"].state == "answered"
    assert "Mihin tarpeeseen tai havaintoon idea vastaa?" in helmi.messages[-1]["text"]
