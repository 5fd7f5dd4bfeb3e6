"""The durable inbox seen from a participant: one person's messages are handled in the order sent,
whatever is waiting, and what the inbox keeps of them after handling."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import InboxUpdate, Submission

MESSAGES = 200


async def test_two_hundred_messages_from_one_person_are_filed_in_order_and_the_idea_gets_its_answers(
    bot, sandbox
) -> None:
    process = await bot.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)

    # given 200 observations sent back to back, and a whole /idea dialogue queued behind them
    for number in range(MESSAGES):
        await aino.send_text(f"Havainto {number:03d}")
    await aino.send_command("/idea")
    await aino.send_text("Asiointiapua kirjastoon")
    await aino.send_text("Moni ikäihminen ei osaa asioida verkossa")
    await aino.send_command("/skip")
    await aino.send_text("Kaksi iltapäivää kirjastossa diakonin kanssa")
    await bot.idle(timeout=300)

    async with bot.db.session() as session:
        observations = list(
            await session.scalars(
                select(Submission.text).where(Submission.kind == "observation").order_by(Submission.id)
            )
        )
        [idea] = list(await session.scalars(select(Submission).where(Submission.kind == "idea")))
        kept = await session.scalar(
            select(func.count())
            .select_from(InboxUpdate)
            .where((InboxUpdate.body.is_not(None)) | (InboxUpdate.user_id.is_not(None)))
        )

    # then every observation is stored, in the order it was sent
    assert observations == [f"Havainto {number:03d}" for number in range(MESSAGES)]
    # and the idea holds exactly the answers to its own questions
    assert idea.title == "Asiointiapua kirjastoon"
    assert idea.need == "Moni ikäihminen ei osaa asioida verkossa"
    assert idea.partners is None
    assert idea.first_experiment == "Kaksi iltapäivää kirjastossa diakonin kanssa"
    assert "Tallensin idean" in aino.messages[-1]["text"]
    # and, handled, the inbox keeps neither what she wrote nor who she is
    assert kept == 0


async def test_after_forget_the_inbox_holds_nothing_of_the_person(bot, sandbox) -> None:
    process = await bot.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)
    await bot.say(aino, "Kirjastossa oli jonoa")

    await bot.command(aino, "/forget")
    await bot.press(aino, "fg:yes")

    async with bot.db.session() as session:
        rows = (await session.execute(select(InboxUpdate.user_id, InboxUpdate.body))).all()
    assert rows
    assert all(user_id is None and body is None for user_id, body in rows)
