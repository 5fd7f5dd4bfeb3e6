"""A facilitator taken out of a process is told so, once, in their own language: from the /process
button and from ``valitupa process remove-facilitator`` (no running bot: the notice waits in the
database for the bot that runs)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bot.services import people
from sandbox import Misanswer
from storage.models import Notice, Process
from tests.support.factories import process_yaml

NAME = "Kylä & <Koulu> 2027"


async def setup(bot, sandbox, pekka_language: str = "sv"):
    process = await bot.create_process(process_yaml(name=NAME))
    fanni = sandbox.user(9101, first_name="Fanni", language_code="fi")
    pekka = sandbox.user(9102, first_name="Pekka", language_code=pekka_language)
    await bot.join(fanni, process, facilitator=True)
    await bot.join(pekka, process, facilitator=True)
    return process, fanni, pekka


async def run_duties(bot) -> None:
    await bot.services.duties.run_all(bot.app.bot)
    await bot.idle()


def told(bot, user, lang: str) -> list[dict]:
    # As the chat shows it: the HTML tags are formatting, the escaped name reads as written.
    text = re.sub(r"</?b>", "", bot.catalog.plain(lang, "notices.facilitator_removed", process=NAME))
    return [m for m in user.messages if m.get("text") == text]


async def queued(bot) -> int:
    async with bot.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(Notice)) or 0)


async def test_the_removed_facilitator_is_told_once_in_their_language(bot, sandbox) -> None:
    _process, fanni, pekka = await setup(bot, sandbox)
    await bot.command(fanni, "/process")
    await bot.press(fanni, "pa:rm")
    await bot.press(fanni, "pa:rm:9102")
    await run_duties(bot)

    [notice] = told(bot, pekka, "sv")
    assert "Kylä &amp; &lt;Koulu&gt; 2027" in bot.t("sv", "notices.facilitator_removed", process=NAME)
    assert "Kylä & <Koulu> 2027" in notice["text"] and "inte längre facilitator" in notice["text"]
    assert not told(bot, fanni, "fi")
    await run_duties(bot)
    assert len(told(bot, pekka, "sv")) == 1
    assert await queued(bot) == 0


async def test_a_removal_by_the_cli_is_told_by_the_running_bot(bot, sandbox) -> None:
    process, _fanni, pekka = await setup(bot, sandbox, pekka_language="en")

    # What ``valitupa process remove-facilitator`` does: one unit of work, no Application.
    async def remove(session) -> bool:
        return await people.remove_facilitator(
            session, process_id=process.id, user_id=9102, now=bot.clock.now()
        )

    assert await bot.db.run(remove)
    assert not told(bot, pekka, "en")
    await run_duties(bot)
    [notice] = told(bot, pekka, "en")
    assert "no longer a facilitator" in notice["text"]
    async with bot.db.session() as session:
        assert (await session.get(Process, process.id)) is not None


async def remove_pekka(bot, fanni) -> None:
    await bot.command(fanni, "/process")
    await bot.press(fanni, "pa:rm")
    await bot.press(fanni, "pa:rm:9102")


async def test_a_notice_telegram_did_not_take_is_tried_again(bot, sandbox) -> None:
    _process, fanni, pekka = await setup(bot, sandbox, pekka_language="fi")
    await remove_pekka(bot, fanni)
    sandbox.fail_next("sendMessage", error_code=500)
    await run_duties(bot)
    assert not told(bot, pekka, "fi") and await queued(bot) == 1
    await run_duties(bot)
    assert len(told(bot, pekka, "fi")) == 1
    await run_duties(bot)
    assert len(told(bot, pekka, "fi")) == 1 and await queued(bot) == 0


async def test_a_notice_that_may_have_arrived_is_never_sent_again(bot, sandbox) -> None:
    _process, fanni, pekka = await setup(bot, sandbox, pekka_language="fi")
    await remove_pekka(bot, fanni)
    # Telegram carries the notice out and the connection drops before its answer.
    sandbox.misanswer_next("sendMessage", Misanswer.RESET)
    await run_duties(bot)
    await run_duties(bot)
    assert len(told(bot, pekka, "fi")) == 1 and await queued(bot) == 0


async def test_a_notice_still_waiting_goes_with_forget(bot, sandbox) -> None:
    _process, fanni, pekka = await setup(bot, sandbox, pekka_language="fi")
    await remove_pekka(bot, fanni)
    await bot.command(pekka, "/forget")
    await bot.press(pekka, "fg:yes")
    assert await queued(bot) == 0
    await run_duties(bot)
    assert not told(bot, pekka, "fi")
