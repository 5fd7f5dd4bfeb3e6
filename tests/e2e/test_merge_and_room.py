"""In chat: /merge folds a duplicate idea into another and tells its author; /room opens the room
(as a button and in the chat's menu) or says what the operator must set."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import Support
from tests.support.config import make_settings
from tests.support.programme import start_harness
from tests.support.seed import SUPPORTS, Seeded, seed_process

FACILITATOR = 7701


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db, facilitator_user_id=FACILITATOR)


async def running(sandbox, db, clock, seeded: Seeded, **settings):
    clock.set(seeded.end)
    for key, user_id in seeded.user_ids.items():
        sandbox.user(user_id, first_name=key, language_code=seeded.person(key).language)
    bot = await start_harness(sandbox, db, clock, make_settings(sandbox, **settings))
    return bot, sandbox.user(FACILITATOR, first_name="Fanni")


async def test_merge_moves_supports_tells_the_author_and_ideas_lists_only_the_kept_one(
    sandbox, db, clock, seeded: Seeded
) -> None:
    bot, fanni = await running(sandbox, db, clock, seeded)
    try:
        kept, merged = seeded.submission_ids["idea:0"], seeded.submission_ids["idea:1"]
        # When Fanni merges idea 1 ("Kirjaston kahvihetket ikäihmisille") into idea 0
        await bot.command(fanni, "merge", f"#{merged} #{kept}")
        # Then she is told what happened, with the supports that moved
        moved = len(SUPPORTS[1])
        assert f"Tukia siirtyi {moved}" in fanni.messages[-1]["text"]
        async with db.session() as session:
            count = await session.scalar(
                select(func.count()).select_from(Support).where(Support.idea_id == kept)
            )
        assert count == len(SUPPORTS[0]) + moved
        # and the author of the merged idea hears of it, warmly, in Finnish
        author = sandbox.user(seeded.user_ids["srk-tyo-3"])
        assert "yhdistettiin samankaltaiseen ideaan" in author.messages[-1]["text"]
        # and /ideas lists the kept idea only
        reader = sandbox.user(seeded.user_ids["kunta-tyo-1"])
        await bot.command(reader, "ideas")
        listing = reader.messages[-1]["text"]
        assert "Kirjaston kahvihetki ikäihmisille" in listing
        assert "Kirjaston kahvihetket ikäihmisille" not in listing
    finally:
        await bot.stop()


async def test_merge_explains_how_and_refuses_what_cannot_be_merged(
    sandbox, db, clock, seeded: Seeded
) -> None:
    bot, fanni = await running(sandbox, db, clock, seeded)
    try:
        await bot.command(fanni, "merge")
        assert "/merge 12 7" in fanni.messages[-1]["text"]
        hidden = seeded.submission_ids["idea:6"]
        await bot.command(fanni, "merge", f"{seeded.submission_ids['idea:1']} {hidden}")
        assert f"Idea #{hidden} on piilotettu" in fanni.messages[-1]["text"]
        # A participant gets the facilitator commands' refusal and merges nothing
        participant = sandbox.user(seeded.user_ids["kunta-tyo-1"])
        await bot.command(
            participant, "merge", f"{seeded.submission_ids['idea:1']} {seeded.submission_ids['idea:0']}"
        )
        assert bot.t("fi", "facilitator.only") == participant.messages[-1]["text"]
        async with db.session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Support)
                .where(Support.idea_id == seeded.submission_ids["idea:1"])
            )
        assert count == len(SUPPORTS[1])
    finally:
        await bot.stop()


async def test_room_without_public_url_says_what_to_configure(sandbox, db, clock, seeded: Seeded) -> None:
    bot, fanni = await running(sandbox, db, clock, seeded)
    try:
        await bot.command(fanni, "room")
        assert "PUBLIC_URL" in fanni.messages[-1]["text"]
        assert FACILITATOR not in sandbox.menu_buttons
    finally:
        await bot.stop()


async def test_room_gives_a_web_app_button_and_the_chat_menu_button(
    sandbox, db, clock, seeded: Seeded
) -> None:
    bot, fanni = await running(sandbox, db, clock, seeded, public_url="https://tupa.example/valitupa")
    try:
        await bot.command(fanni, "room")
        markup = fanni.messages[-1]["reply_markup"]["inline_keyboard"]
        assert markup[0][0]["web_app"] == {"url": "https://tupa.example/valitupa/app/"}
        assert sandbox.menu_buttons[FACILITATOR] == {
            "type": "web_app",
            "text": "Huone",
            "web_app": {"url": "https://tupa.example/valitupa/app/"},
        }
        participant = sandbox.user(seeded.user_ids["kunta-tyo-1"])
        await bot.command(participant, "room")
        assert "web_app" not in str(participant.messages[-1].get("reply_markup"))
    finally:
        await bot.stop()


async def test_every_facilitator_gets_the_room_in_the_menu_at_start_up(
    sandbox, db, clock, seeded: Seeded
) -> None:
    # Given a facilitator who joined before PUBLIC_URL was set, and a participant
    bot, _ = await running(sandbox, db, clock, seeded, public_url="https://tupa.example")
    try:
        # When the leader's start-up duties run
        assert bot.services.duties is not None
        await bot.services.duties.run_all(bot.app.bot)
        # Then the facilitator's chat has the room as its menu button, and nobody else's
        assert sandbox.menu_buttons[FACILITATOR]["web_app"] == {"url": "https://tupa.example/app/"}
        assert seeded.user_ids["kunta-tyo-1"] not in sandbox.menu_buttons
    finally:
        await bot.stop()
