"""Ideas together: the guided /idea dialogue, the similar-idea check, /ideas and supports, experiments."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from storage.models import Submission, Support


@pytest.fixture
async def process(bot):
    return await bot.create_process()


@pytest.fixture
async def aino(bot, sandbox, process):
    user = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(user, process)
    return user


@pytest.fixture
async def bertil(bot, sandbox, process):
    user = sandbox.user(1002, first_name="Bertil", language_code="sv")
    await bot.join(user, process, organisation=1)
    return user


async def ideas(db) -> list[Submission]:
    async with db.session() as session:
        return list(
            await session.scalars(select(Submission).where(Submission.kind == "idea").order_by(Submission.id))
        )


async def test_idea_dialogue_asks_name_need_partners_and_first_experiment(bot, aino) -> None:
    await bot.command(aino, "/idea")
    assert "Anna sille lyhyt nimi" in aino.messages[-1]["text"]
    await bot.say(aino, "Asiointiapua kirjastoon")
    assert "Mihin tarpeeseen" in aino.messages[-1]["text"]
    await bot.say(aino, "Moni ikäihminen ei osaa asioida verkossa")
    assert "Kuka voisi kokeilla" in aino.messages[-1]["text"]
    await bot.command(aino, "/skip")
    assert "pienin kokeilu" in aino.messages[-1]["text"]
    await bot.say(aino, "Kaksi iltapäivää kirjastossa diakonin kanssa")

    [idea] = await ideas(bot.db)
    assert idea.title == "Asiointiapua kirjastoon"
    assert idea.need == "Moni ikäihminen ei osaa asioida verkossa"
    assert idea.partners is None
    assert idea.first_experiment == "Kaksi iltapäivää kirjastossa diakonin kanssa"
    assert "Tallensin idean" in aino.messages[-1]["text"]


async def test_idea_dialogue_survives_a_restart_of_the_bot(bot, aino, sandbox, db, clock, settings) -> None:
    from tests.support.harness import BotHarness

    await bot.command(aino, "/idea")
    await bot.say(aino, "Yhteinen kylätalkoo")
    await bot.stop()

    restarted = BotHarness(sandbox=sandbox, db=db, clock=clock, settings=settings)
    await restarted.start()
    try:
        await restarted.say(aino, "Naapuriapu hukassa")
        assert "Kuka voisi kokeilla" in aino.messages[-1]["text"]
    finally:
        await restarted.stop()
        await bot.start()


async def test_cancel_stops_the_dialogue_and_saves_nothing(bot, aino) -> None:
    await bot.command(aino, "/idea")
    await bot.say(aino, "Keskeneräinen idea")
    await bot.command(aino, "/cancel")

    assert "keskeytin" in aino.messages[-1]["text"]
    assert await ideas(bot.db) == []
    await bot.say(aino, "Tämä on nyt havainto")
    assert "tallensin havainnon" in aino.messages[-1]["text"]


async def test_similar_idea_is_offered_for_support_instead(bot, aino, bertil) -> None:
    await bot.command(aino, "/idea")
    await bot.say(aino, "Kerho yksinäisille vanhuksille")
    for _ in range(3):
        await bot.command(aino, "/skip")
    [existing] = await ideas(bot.db)

    await bot.command(bertil, "/idea")
    await bot.say(bertil, "Yksinäisten vanhusten kerho")

    assert "Det finns redan liknande idéer" in bertil.messages[-1]["text"]
    assert "Kerho yksinäisille vanhuksille" in bertil.messages[-1]["text"]
    await bot.press(bertil, f"su:{existing.id}:s")

    assert len(await ideas(bot.db)) == 1
    async with bot.db.session() as session:
        supports = list(await session.scalars(select(Support)))
    assert [s.idea_id for s in supports] == [existing.id]


async def test_continue_with_own_idea_after_the_similarity_check(bot, aino, bertil) -> None:
    await bot.command(aino, "/idea")
    await bot.say(aino, "Kerho yksinäisille vanhuksille")
    for _ in range(3):
        await bot.command(aino, "/skip")
    await bot.command(bertil, "/idea")
    await bot.say(bertil, "Kerho yksinäisille")
    await bot.press(bertil, "id:go")
    for _ in range(3):
        await bot.command(bertil, "/skip")
    assert len(await ideas(bot.db)) == 2


async def test_ideas_list_pages_and_support_toggle_without_revealing_supporters(
    bot, aino, bertil, sandbox
) -> None:
    names = [
        "Kylätupa torstaisin",
        "Asiointiapu kirjastoon",
        "Nuorten kesätyöpankki",
        "Ruokakassikimppa",
        "Soittoringit ikäihmisille",
        "Yhteinen kalenteri järjestöille",
        "Diakonin vastaanotto terveysasemalla",
    ]
    for name in names:
        await bot.command(aino, "/idea")
        await bot.say(aino, name)
        for _ in range(3):
            await bot.command(aino, "/skip")
    target = (await ideas(bot.db))[6]

    await bot.command(bertil, "/ideas")
    first_page = bertil.messages[-1]
    assert "sida 1/2" in first_page["text"]
    assert ("▶", "ip:1") in bertil.buttons(first_page)
    await bot.press(bertil, f"su:{target.id}:0")
    assert "👍 1" in bertil.messages[-1]["text"]
    assert "Du stöder den här idén" in bertil.messages[-1]["text"]

    await bot.command(aino, "/ideas")
    text = aino.messages[-1]["text"]
    assert "👍 1" in text and "Bertil" not in text
    await bot.press(bertil, f"su:{target.id}:0")
    async with bot.db.session() as session:
        assert list(await session.scalars(select(Support))) == []


async def test_experiment_log_for_an_own_idea(bot, aino) -> None:
    await bot.command(aino, "/idea")
    await bot.say(aino, "Kylätupa torstaisin")
    for _ in range(3):
        await bot.command(aino, "/skip")
    [idea] = await ideas(bot.db)

    await bot.command(aino, "/experiment")
    await bot.press(aino, f"ex:{idea.id}")
    await bot.say(aino, "Avasimme tuvan kahtena torstaina")
    await bot.say(aino, "Paikalle tuli 12 ihmistä")
    await bot.say(aino, "Kahvi houkuttelee, mainos lehdessä ei")
    await bot.command(aino, "/skip")

    async with bot.db.session() as session:
        entry = await session.scalar(select(Submission).where(Submission.kind == "experiment"))
    assert entry is not None
    assert entry.idea_id == idea.id and entry.title == "Kylätupa torstaisin"
    assert (entry.text, entry.happened, entry.learned, entry.obstacles) == (
        "Avasimme tuvan kahtena torstaina",
        "Paikalle tuli 12 ihmistä",
        "Kahvi houkuttelee, mainos lehdessä ei",
        None,
    )
    assert "Kirjasin, miten kokeilu etenee" in aino.messages[-1]["text"]


async def test_new_experiment_without_an_idea(bot, aino) -> None:
    await bot.command(aino, "/experiment")
    await bot.say(aino, "Ruokakassikimppa")
    for _ in range(4):
        await bot.command(aino, "/skip")
    async with bot.db.session() as session:
        entry = await session.scalar(select(Submission).where(Submission.kind == "experiment"))
    assert entry is not None and entry.title == "Ruokakassikimppa" and entry.idea_id is None


async def test_mydata_sends_own_data_and_nothing_of_others(bot, aino, bertil) -> None:
    await bot.say(aino, "Ainon havainto")
    await bot.say(bertil, "Bertils iakttagelse")

    await bot.command(aino, "/mydata")

    document = aino.messages[-1]["document"]
    payload = json.loads(document["content"].decode("utf-8")) if "content" in document else None
    if payload is None:
        file_bytes = bot.sandbox.file_content(document["file_id"])
        payload = json.loads(file_bytes.decode("utf-8"))
    assert payload["telegram_user_id"] == 1001
    texts = [s["text"] for p in payload["processes"] for s in p["submissions"]]
    assert texts == ["Ainon havainto"]
    assert "Bertils" not in json.dumps(payload, ensure_ascii=False)


async def test_forget_erases_everything_after_confirmation(bot, aino) -> None:
    await bot.say(aino, "Poistettava havainto")
    await bot.command(aino, "/forget")
    assert "Haluatko varmasti" in aino.messages[-1]["text"]
    await bot.press(aino, "fg:yes")

    assert "Poistin tietosi (1 viesti)" in aino.messages[-1]["text"]
    async with bot.db.session() as session:
        from storage.models import Membership, User

        assert await session.get(User, 1001) is None
        assert list(await session.scalars(select(Membership))) == []
        assert list(await session.scalars(select(Submission))) == []


async def test_forget_can_be_declined(bot, aino) -> None:
    await bot.say(aino, "Säilytettävä havainto")
    await bot.command(aino, "/forget")
    await bot.press(aino, "fg:no")
    assert "säilyvät" in aino.messages[-1]["text"]
    async with bot.db.session() as session:
        assert len(list(await session.scalars(select(Submission)))) == 1


async def test_pause_resume_language_help_and_privacy(bot, aino) -> None:
    await bot.command(aino, "/pause")
    assert "Kysymykset ovat tauolla" in aino.messages[-1]["text"]
    await bot.command(aino, "/resume")
    assert "Jatketaan" in aino.messages[-1]["text"]
    await bot.command(aino, "/language")
    await bot.press(aino, "lg:en")
    await bot.command(aino, "/help")
    assert "How Välitupa works" in aino.messages[-1]["text"]
    await bot.command(aino, "/privacy")
    assert "Who sees it" in aino.messages[-1]["text"]
