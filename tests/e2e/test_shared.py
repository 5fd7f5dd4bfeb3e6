"""Dialogue across silos through the real bot: share, /shared, recognise, respond, unshare, /hide."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from storage.models import Delivery, Prompt, Recognition, Response, Share, SharedCopy, Submission
from tests.support.programme import dispatcher, start_harness

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def process(bot):
    return await bot.create_process()


@pytest.fixture
async def aino(bot, sandbox, process):
    """Organisation 1 (the municipality); she lets facilitators see her name."""
    user = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(user, process, show_name=True)
    return user


@pytest.fixture
async def bertil(bot, sandbox, process):
    """Organisation 2 (the parish)."""
    user = sandbox.user(1002, first_name="Bertil", language_code="fi")
    await bot.join(user, process, organisation=1)
    return user


async def observation_ids(db) -> list[int]:
    async with db.session() as session:
        return list(await session.scalars(select(Submission.id).order_by(Submission.id)))


async def share(bot, user, text: str, level: str = "org") -> int:
    await bot.say(user, text)
    sid = (await observation_ids(bot.db))[-1]
    await bot.press(user, f"sa:{sid}:t")
    if any((data or "").startswith(f"sa:{sid}:l:") for _t, data in user.buttons(user.messages[-1])):
        await bot.press(user, f"sa:{sid}:l:{level}")
    return sid


def texts_after(user, count: int) -> list[str]:
    return [m.get("text") or m.get("caption") or "" for m in user.messages[-count:]]


async def deliver(bot) -> None:
    await dispatcher(bot).tick()
    await bot.idle()


async def upkeep(bot) -> None:
    assert bot.services.duties is not None
    await bot.services.duties.run_all(bot.app.bot)
    await bot.idle()


async def test_shared_observation_is_seen_without_a_name_recognised_and_answered(bot, aino, bertil) -> None:
    await bot.say(aino, "Kotihoidon ja seurakunnan välissä putoaa moni.")
    [sid] = await observation_ids(bot.db)
    ack = aino.messages[-1]
    assert any(text == "Jaa muille" for text, _ in aino.buttons(ack))

    # The first press asks once: who sees it and exactly how it is shown, with the privacy line.
    await bot.press(aino, f"sa:{sid}:t")
    question = aino.message(ack["message_id"])["text"]
    assert "Ilomantsin kunta" in question and "Aino" not in question
    assert "vakaumus" in question and "terveys" in question.lower()
    await bot.press(aino, f"sa:{sid}:l:org")
    acknowledged = aino.message(ack["message_id"])
    assert "Jaettu muille nimellä: Ilomantsin kunta" in acknowledged["text"]
    assert any(text == "✓ Jaa muille" for text, _ in aino.buttons(acknowledged))

    # A second observation, not shared, never reaches Bertil.
    await bot.say(aino, "Tämä jää vain fasilitaattoreille.")

    await bot.command(bertil, "/shared")
    header, item = bertil.messages[-2:]
    assert "Muiden jakamat havainnot" in header["text"] and "(1)" in header["text"]
    assert "Kotihoidon ja seurakunnan välissä" in item["text"]
    assert "Ilomantsin kunta" in item["text"] and "Aino" not in item["text"]
    assert "jää vain" not in " ".join(texts_after(bertil, 5))

    # Aino sees nothing of her own in /shared.
    await bot.command(aino, "/shared")
    assert "ei ole vielä muiden jakamia" in aino.messages[-1]["text"]

    await bot.press(bertil, f"rc:{sid}")
    assert any(text == "✓ Tunnistan tämän" for text, _ in bertil.buttons(bertil.message(item["message_id"])))
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Recognition)) == 1

    # The acknowledgement shows the count when the upkeep runs, not a notification per press.
    before = len(aino.messages)
    await upkeep(bot)
    assert len(aino.messages) == before
    assert "Tunnistaneita: 1" in aino.message(ack["message_id"])["text"]

    await bot.press(bertil, f"rs:{sid}")
    assert "Ilomantsin seurakunta" in bertil.messages[-1]["text"]
    await bot.say(bertil, "Meillä <sama> huoli diakoniatyössä.")
    assert "Välitin vastauksesi" in bertil.messages[-1]["text"]
    await deliver(bot)
    relayed = aino.messages[-1]
    assert "Meillä <sama> huoli" in relayed["text"]
    assert "Ilomantsin seurakunta" in relayed["text"] and "Bertil" not in relayed["text"]

    # Aino answers by replying to it; Bertil gets it with her attribution, not her name.
    await aino.send_text("Kiitos! Jutellaan työpajassa.", reply_to_message_id=relayed["message_id"])
    await bot.idle()
    assert "Välitin vastauksesi" in aino.messages[-1]["text"]
    await deliver(bot)
    answer = bertil.messages[-1]["text"]
    assert "Jutellaan työpajassa" in answer and "Ilomantsin kunta" in answer and "Aino" not in answer
    async with bot.db.session() as session:
        stored = list(await session.scalars(select(Response).order_by(Response.id)))
    assert [r.text for r in stored] == [
        "Meillä <sama> huoli diakoniatyössä.",
        "Kiitos! Jutellaan työpajassa.",
    ]
    assert stored[1].parent_id == stored[0].id


async def test_unshare_and_hide_remove_it_everywhere_and_edit_copies(
    bot, sandbox, process, aino, bertil
) -> None:
    fanni = sandbox.user(9100, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    first = await share(bot, aino, "Kirjastossa kysellään kotihoidosta.")
    second = await share(bot, aino, "Kylätalolla on tyhjää iltaisin.")

    await bot.command(bertil, "/shared")
    copies = {int(m["message_id"]): m["text"] for m in bertil.messages[-2:]}
    assert len(copies) == 2

    # Aino unshares the first; Fanni hides the second.
    await bot.press(aino, f"sa:{first}:t")
    await bot.command(fanni, "/hide", str(second))
    await bot.command(bertil, "/shared")
    assert "ei ole vielä muiden jakamia" in bertil.messages[-1]["text"]

    await upkeep(bot)
    for message_id in copies:
        assert "poistettu näkyvistä" in bertil.message(message_id)["text"]
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(SharedCopy)) == 0
        assert await session.scalar(select(func.count()).select_from(Share)) == 1  # hidden, still shared


async def test_a_response_written_at_night_reaches_the_author_at_eight(bot, clock, aino, bertil) -> None:
    sid = await share(bot, aino, "Iltaisin soitetaan kirkkoherranvirastoon yksinäisyydestä.")
    await bot.command(bertil, "/shared")
    clock.set(datetime(2027, 1, 11, 22, 0, tzinfo=HELSINKI))
    await bot.press(bertil, f"rs:{sid}")
    await bot.say(bertil, "Sama näkyy meillä.")
    assert "hiljaisen ajan jälkeen" in bertil.messages[-1]["text"]
    before = len(aino.messages)
    await deliver(bot)
    assert len(aino.messages) == before

    clock.set(datetime(2027, 1, 12, 8, 0, tzinfo=HELSINKI))
    await deliver(bot)
    assert "Sama näkyy meillä." in aino.messages[-1]["text"]


async def test_pause_holds_a_response_and_mute_stops_new_ones(bot, clock, aino, bertil) -> None:
    sid = await share(bot, aino, "Seurakuntakodin kahvila on täynnä tiistaisin.")
    await bot.command(bertil, "/shared")
    await bot.command(aino, "/pause")
    await bot.press(bertil, f"rs:{sid}")
    await bot.say(bertil, "Meidänkin kahvila!")
    before = len(aino.messages)
    await deliver(bot)
    assert len(aino.messages) == before

    await bot.command(aino, "/resume")
    clock.advance(timedelta(minutes=1))
    await deliver(bot)
    assert any("Meidänkin kahvila!" in text for text in texts_after(aino, 3))

    await bot.command(aino, "/shared", "mute")
    await bot.press(bertil, f"rs:{sid}")
    assert bertil.callback_answers[-1] == "Kirjoittaja ei juuri nyt ota vastaan vastauksia."
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Response)) == 1
        relays = select(Prompt.id).where(Prompt.kind == "relay")
        waiting = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.prompt_id.in_(relays), Delivery.state == "pending")
        )
    assert waiting == 0


async def test_respond_wins_over_an_open_dialogue_and_cancel_leaves(bot, aino, bertil) -> None:
    sid = await share(bot, aino, "Koulun iltapäiväkerhoon ei ole jonoa.")
    await bot.command(bertil, "/shared")
    await bot.command(bertil, "/idea")
    await bot.press(bertil, f"rs:{sid}")
    await bot.command(bertil, "/cancel")
    await bot.say(bertil, "Tämä on havainto eikä vastaus.")
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Response)) == 0

    await bot.command(bertil, "/idea")
    await bot.press(bertil, f"rs:{sid}")
    await bot.say(bertil, "Meillä on sama kokemus.")
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Response)) == 1
    # The idea dialogue goes on afterwards.
    await bot.say(bertil, "Iltapäiväkerho kaikille")
    assert "Mihin tarpeeseen" in bertil.messages[-1]["text"]


async def test_highlights_mid_way_show_other_organisations_items_with_buttons(bot, sandbox, clock) -> None:
    from tests.support.factories import HIGHLIGHTS_PROMPT, process_yaml

    process = await bot.create_process(process_yaml(extra=HIGHLIGHTS_PROMPT))
    people = {}
    for user_id, name, org in ((1011, "Aino", 0), (1012, "Bertil", 1), (1013, "Doris", 0)):
        people[name] = sandbox.user(user_id, first_name=name, language_code="fi")
        await bot.join(people[name], process, organisation=org)
    aino, bertil, doris = people["Aino"], people["Bertil"], people["Doris"]
    clock.set(datetime(2027, 1, 15, 10, 0, tzinfo=HELSINKI))  # after workshop 1
    sid = await share(bot, aino, "Kylätalon kahvilaan tulee yksinäisiä miehiä.")
    await bot.command(bertil, "/idea")
    await bot.say(bertil, "Miesten kahvila")
    for _ in range(3):
        await bot.command(bertil, "/skip")

    clock.set(datetime(2027, 1, 25, 14, 0, tzinfo=HELSINKI))  # W1 +11d 14:00, mid-way to W2
    await deliver(bot)

    def highlights(user):
        return [m for m in user.messages if "kurkistus siihen, mitä muut" in (m.get("text") or "")]

    [for_bertil] = highlights(bertil)
    assert "Kylätalon kahvilaan" in for_bertil["text"] and "Ilomantsin kunta" in for_bertil["text"]
    assert "Aino" not in for_bertil["text"] and "Miesten kahvila" in for_bertil["text"]
    # Doris is in Aino's organisation: highlights are what *other* organisations noticed.
    [for_doris] = highlights(doris)
    assert "Kylätalon kahvilaan" not in for_doris["text"] and "Miesten kahvila" in for_doris["text"]
    [for_aino] = highlights(aino)
    assert "Kylätalon kahvilaan" not in for_aino["text"]

    await bot.press(bertil, f"rc:{sid}")
    pressed = bertil.message(for_bertil["message_id"])
    assert pressed["text"] == for_bertil["text"]
    assert any(text.startswith("✓ 1.") for text, _ in bertil.buttons(pressed))
    await bot.press(doris, "hs:")
    assert any(text.startswith("✓ A.") for text, _ in doris.buttons(doris.message(for_doris["message_id"])))

    # When Aino unshares it, the highlights Bertil received no longer show it.
    await bot.press(aino, f"sa:{sid}:t")
    await upkeep(bot)
    edited = bertil.message(for_bertil["message_id"])["text"]
    assert "Kylätalon kahvilaan" not in edited and "poistettu näkyvistä" in edited
