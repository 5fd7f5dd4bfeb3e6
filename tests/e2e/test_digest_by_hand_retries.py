"""``/digest`` by hand retries what did not get through, as the weekly digest does: the missing parts
again after ten minutes, up to four tries in all, and one line when a part could not be sent in the
end."""

from __future__ import annotations

from datetime import timedelta

from bot.jobs.digest_job import DIGEST_RETRIES, DIGEST_RETRY
from sandbox import Misanswer
from tests.support.programme import Person, seed


async def facilitator_with_a_digest_to_ask_for(bot, sandbox):
    process = await bot.create_process()
    fanni = sandbox.user(7301, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    await seed(bot, process, [Person(7302, "Aino")])
    await bot.say(sandbox.user(7302), "Pihan penkit kaipaavat korjausta.")
    return fanni


async def later(bot, delta: timedelta = DIGEST_RETRY) -> None:
    bot.clock.advance(delta)
    await bot.services.duties.run_all(bot.app.bot)
    await bot.idle()


def documents(messages) -> int:
    return sum("document" in m for m in messages)


async def test_a_file_that_failed_is_sent_again_and_only_it(bot, sandbox) -> None:
    fanni = await facilitator_with_a_digest_to_ask_for(bot, sandbox)
    sandbox.fail_next("sendDocument", error_code=500)
    before = len(fanni.messages)
    await bot.command(fanni, "/digest")
    shown = fanni.messages[before:]
    assert documents(shown) == 0
    assert shown[-1].get("text") == bot.t("fi", "sends.digest_partly_sent")
    summaries = sum((m.get("text") or "").startswith("📋 Kooste") for m in shown)

    await later(bot, DIGEST_RETRY - timedelta(minutes=1))
    assert documents(fanni.messages[before:]) == 0
    await later(bot, timedelta(minutes=1))
    again = fanni.messages[before + len(shown) :]
    assert documents(again) == 1
    assert not any((m.get("text") or "").startswith("📋 Kooste") for m in again)
    assert sum((m.get("text") or "").startswith("📋 Kooste") for m in fanni.messages[before:]) == summaries

    count = len(fanni.messages)
    await later(bot)
    await later(bot)
    assert len(fanni.messages) == count


async def test_a_file_that_never_gets_through_is_said_in_one_line(bot, sandbox) -> None:
    fanni = await facilitator_with_a_digest_to_ask_for(bot, sandbox)
    sandbox.fail_next("sendDocument", error_code=500, count=DIGEST_RETRIES)
    before = len(fanni.messages)
    await bot.command(fanni, "/digest")
    for _ in range(DIGEST_RETRIES + 2):
        await later(bot)
    shown = fanni.messages[before:]
    assert documents(shown) == 0
    assert sandbox.stats["sendDocument"] == DIGEST_RETRIES
    given_up = [m for m in shown if m.get("text") == bot.t("fi", "sends.digest_given_up")]
    assert len(given_up) == 1 and shown[-1] is given_up[0]


async def test_a_file_whose_answer_was_lost_is_sent_once_more_only(bot, sandbox) -> None:
    fanni = await facilitator_with_a_digest_to_ask_for(bot, sandbox)
    # Telegram gives the file to Fanni, then its answer is cut short: it may or may not have arrived.
    sandbox.misanswer_next("sendDocument", Misanswer.RESET)
    before = len(fanni.messages)
    await bot.command(fanni, "/digest")
    assert documents(fanni.messages[before:]) == 1
    for _ in range(DIGEST_RETRIES + 1):
        await later(bot)
    shown = fanni.messages[before:]
    assert documents(shown) == 2
    assert sandbox.stats["sendDocument"] == 2
    assert not any(m.get("text") == bot.t("fi", "sends.digest_given_up") for m in shown)
