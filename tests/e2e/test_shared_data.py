"""The dialogue tables in /mydata and /forget, in the database on both backends."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from storage.models import Delivery, Prompt, Recognition, Response, Share, SharedCopy, SharingPref
from tests.e2e.test_shared import deliver, share, upkeep
from tests.support.programme import start_harness

DIALOGUE_TABLES = (Share, SharedCopy, Recognition, Response, SharingPref)


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def people(bot, sandbox):
    process = await bot.create_process()
    users = []
    for n, (name, org) in enumerate((("Aino", 0), ("Bertil", 1), ("Cecilia", 2))):
        user = sandbox.user(1001 + n, first_name=name, language_code="fi")
        await bot.join(user, process, organisation=org)
        users.append(user)
    return users


async def exchange(bot, aino, bertil, cecilia) -> int:
    """Aino shares; Bertil and Cecilia see it; Bertil recognises and responds; Aino answers."""
    sid = await share(bot, aino, "Kotihoito ja seurakunta eivät tunne toisiaan.")
    await bot.command(bertil, "/shared")
    await bot.command(cecilia, "/shared")
    await bot.press(bertil, f"rc:{sid}")
    await bot.press(bertil, f"rs:{sid}")
    await bot.say(bertil, "Vastaus seurakunnasta")
    await deliver(bot)
    await aino.send_text("Vastaus kunnasta", reply_to_message_id=aino.messages[-1]["message_id"])
    await bot.idle()
    await deliver(bot)
    return sid


async def mydata(bot, user) -> dict:
    await bot.command(user, "/mydata")
    document = user.messages[-1]["document"]
    return json.loads(bot.sandbox.file_content(document["file_id"]).decode("utf-8"))


async def counts(db) -> dict[str, int]:
    async with db.session() as session:
        return {
            table.__tablename__: int(await session.scalar(select(func.count()).select_from(table)) or 0)
            for table in DIALOGUE_TABLES
        }


async def test_mydata_lists_shares_recognitions_and_responses_both_ways(bot, people) -> None:
    aino, bertil, cecilia = people
    sid = await exchange(bot, aino, bertil, cecilia)

    [mine] = (await mydata(bot, aino))["processes"]
    assert mine["shared"][0]["observation_id"] == sid and mine["shared"][0]["shown_as"] == "org"
    exchanged = [(r["direction"], r["text"]) for r in mine["responses"]]
    assert exchanged == [("received", "Vastaus seurakunnasta"), ("sent", "Vastaus kunnasta")]
    assert mine["sharing"]["confirmed_at"] is not None

    [his] = (await mydata(bot, bertil))["processes"]
    assert [r["observation_id"] for r in his["recognised"]] == [sid]
    assert [r["observation_id"] for r in his["shared_with_you"]] == [sid]
    assert (his["responses"][0]["direction"], his["responses"][0]["text"]) == (
        "sent",
        "Vastaus seurakunnasta",
    )
    dumped = json.dumps(mine, ensure_ascii=False)
    assert "Bertil" not in dumped and "1002" not in dumped


async def test_forget_erases_every_dialogue_row_and_edits_the_copies_others_got(bot, people) -> None:
    aino, bertil, cecilia = people
    await exchange(bot, aino, bertil, cecilia)
    copy_id = cecilia.messages[-1]["message_id"]
    assert (await counts(bot.db))["responses"] == 2

    await bot.command(aino, "/forget")
    await bot.press(aino, "fg:yes")

    left = await counts(bot.db)
    assert left["shares"] == left["recognitions"] == left["responses"] == left["sharing_prefs"] == 0
    async with bot.db.session() as session:
        relays = await session.scalar(select(func.count()).select_from(Prompt).where(Prompt.kind == "relay"))
        relay_rows = await session.scalar(
            select(func.count()).select_from(Delivery).join(Prompt).where(Prompt.kind == "relay")
        )
    assert relays == 0 and relay_rows == 0

    await upkeep(bot)
    assert "poistettu näkyvistä" in cecilia.message(copy_id)["text"]
    assert await counts(bot.db) == dict.fromkeys(left, 0)


async def test_forget_by_a_responder_leaves_the_author_and_nothing_of_the_responder(bot, people) -> None:
    aino, bertil, cecilia = people
    await exchange(bot, aino, bertil, cecilia)

    await bot.command(bertil, "/forget")
    await bot.press(bertil, "fg:yes")

    left = await counts(bot.db)
    assert left["shares"] == 1 and left["recognitions"] == 0 and left["responses"] == 0
    assert left["shared_copies"] == 2  # Cecilia's copy of Aino's share; Bertil's response to Aino
    assert left["sharing_prefs"] >= 1  # Aino's

    # The response Aino received from Bertil is edited to say it was removed; her share stays.
    relayed = next(m for m in aino.messages if "Vastaus seurakunnasta" in (m.get("text") or ""))
    await upkeep(bot)
    assert "poistettu näkyvistä" in aino.message(relayed["message_id"])["text"]
    assert (await counts(bot.db))["shared_copies"] == 1


async def test_retention_purges_every_dialogue_row_with_the_process(bot, sandbox) -> None:
    from bot.jobs.retention_job import retention_job
    from tests.integration.services.test_retention import ENDING, PURGE_AT
    from tests.support.factories import process_yaml

    process = await bot.create_process(process_yaml(extra=ENDING))
    users = [sandbox.user(2001 + n, first_name=f"P{n}", language_code="fi") for n in range(3)]
    for n, user in enumerate(users):
        await bot.join(user, process, organisation=n)
    await exchange(bot, *users)
    assert all((await counts(bot.db)).values())

    await retention_job(bot.services, bot.app.bot, PURGE_AT)

    assert await counts(bot.db) == dict.fromkeys(await counts(bot.db), 0)
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Prompt)) == 0


async def test_digest_resonance_and_export_count_what_crossed_organisations(bot, people, tmp_path) -> None:
    from datetime import timedelta

    from bot.render.digest_html import html_document
    from bot.render.digest_telegram import telegram_messages
    from bot.services.digest import build_digest
    from bot.services.export import write_export

    aino, bertil, cecilia = people
    sid = await exchange(bot, aino, bertil, cecilia)
    async with bot.db.session() as session:
        process_id = await session.scalar(select(Share.process_id))
    now = bot.clock.now() + timedelta(minutes=5)
    start = now - timedelta(days=7)
    digest = await build_digest(bot.db, process_id=process_id, start=start, end=now, now=now)
    assert digest is not None
    found = digest.resonance
    assert (found.shared_in_period, found.recognitions, found.cross_recognitions) == (1, 1, 1)
    assert (found.responses, found.cross_responses) == (2, 2)
    [item] = found.items
    assert item.ref == sid and (item.recognitions, item.responses) == (1, 1)
    assert [resonant.ref for resonant in digest.focus.resonant] == [sid]

    text = "\n".join(telegram_messages(digest, bot.catalog, "fi"))
    assert "Yli organisaatiorajojen" in text and "Puhutteli yli organisaatiorajojen" in text
    assert "Aino" not in text and "Bertil" not in text
    page = html_document(digest, bot.catalog, "fi")
    assert "Yli organisaatiorajojen" in page and "Vastaus seurakunnasta" not in page

    result = await write_export(bot.db, process_id=process_id, directory=tmp_path, now=now)
    assert result is not None
    document = json.loads(result.json.read_text(encoding="utf-8"))
    [shared] = document["shares"]
    assert (shared["observation_ref"], shared["recognitions"], shared["responses"]) == (sid, 1, 2)
    assert [r["text"] for r in document["responses"]] == ["Vastaus seurakunnasta", "Vastaus kunnasta"]
    assert document["responses"][1]["in_reply_to"] == document["responses"][0]["ref"]
