"""Facilitator reports through the real bot: /digest, /export, /loop, /hide and the weekly digest."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot.jobs.digest_job import run_due_digests
from bot.services.export import JSON_NAME, SHEETS, csv_name
from storage.models import Delivery, DigestRun, Process, Prompt, Submission
from tests.support.seed import OBSERVATIONS, Seeded, seed_process

REFUSAL = "Tämä komento on prosessin fasilitaattoreille."


@pytest.fixture
async def seeded(bot) -> Seeded:
    # These tests run the weekly job and the dispatcher themselves, at the instants they choose.
    assert bot.services.dispatcher is not None
    bot.services.dispatcher.auto = False
    seeded = await seed_process(bot.db)
    bot.clock.set(seeded.end)
    return seeded


@pytest.fixture
def fanni(sandbox, seeded):
    """The seeded process's facilitator, in her own chat with the bot."""
    return sandbox.user(seeded.facilitator_user_id, first_name="Fanni", language_code="fi")


def texts(user) -> list[str]:
    return [message.get("text") or message.get("caption") or "" for message in user.messages]


def documents(user) -> list[dict]:
    return [message["document"] for message in user.messages if "document" in message]


async def hidden(db, ref: int) -> bool:
    async with db.session() as session:
        submission = await session.get(Submission, ref)
        assert submission is not None
        return submission.hidden


async def test_digest_is_a_summary_a_chart_and_a_printable_document(bot, sandbox, seeded, fanni) -> None:
    await bot.command(fanni, "/digest")

    summary = [m["text"] for m in fanni.messages if "text" in m]
    assert 1 <= len(summary) <= 4
    assert summary[0].startswith("📋 Kooste – Hyvän tahdon Ilomantsi 2027")
    assert "Seuraavaksi 2. työpaja torstaina 4.2. klo 9.00. Aikaa jäljellä: 17 päivää." in summary[0]
    joined = "\n".join(summary)
    assert "Kirjaston kahvihetki ikäihmisille" in joined
    # The participant's "<script>" and "&" arrive as the very characters they typed: escaped, not markup.
    assert "”<script>alert('x')</script> Kahvi & pulla houkuttelee”" in joined
    assert sum(1 for m in fanni.messages if "photo" in m) == 1
    [document] = documents(fanni)
    assert document["file_name"] == f"valitupa-kooste-{seeded.process_id}-2027-01-18.html"
    html = sandbox.file_content(document["file_id"]).decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "&lt;script&gt;" in html
    assert "<script>" not in html
    async with bot.db.session() as session:
        [run] = await session.scalars(select(DigestRun))
    assert (run.trigger, run.due_at, run.period_end) == ("command", None, seeded.end)


async def test_digest_for_a_span_and_a_span_it_cannot_read(bot, seeded, fanni) -> None:
    await bot.command(fanni, "/digest", "3d")
    assert "Jakso pe 15.1. – ma 18.1." in fanni.messages[0]["text"]
    assert "Havainnot (5)" in "\n".join(texts(fanni))

    await bot.command(fanni, "/digest", "pian")
    assert "En ymmärtänyt jakson pituutta" in fanni.messages[-1]["text"]


async def test_export_sends_a_workbook_and_a_zip_of_csv_and_json(bot, sandbox, seeded, fanni) -> None:
    await bot.command(fanni, "/export")

    xlsx, archive = documents(fanni)
    assert xlsx["file_name"] == f"valitupa-vienti-{seeded.process_id}-2027-01-18.xlsx"
    workbook = load_workbook(io.BytesIO(sandbox.file_content(xlsx["file_id"])), read_only=True)
    assert workbook.sheetnames == list(SHEETS)
    organisations = {row[1] for row in workbook["participation"].iter_rows(min_row=2, values_only=True)}
    assert "Kyläyhdistys" in organisations
    workbook.close()
    with zipfile.ZipFile(io.BytesIO(sandbox.file_content(archive["file_id"]))) as opened:
        assert sorted(opened.namelist()) == sorted([*(csv_name(s) for s in SHEETS), JSON_NAME])
        assert opened.read("observations.csv").startswith(b"\xef\xbb\xbf")


async def test_the_export_button_under_a_digest_sends_the_export(bot, seeded, fanni) -> None:
    await bot.command(fanni, "/digest")
    await bot.press(fanni, f"dg:x:{seeded.process_id}")

    names = [document["file_name"] for document in documents(fanni)]
    assert names[-2:] == [
        f"valitupa-vienti-{seeded.process_id}-2027-01-18.xlsx",
        f"valitupa-vienti-{seeded.process_id}-2027-01-18.zip",
    ]


async def test_strangers_and_participants_are_refused_without_any_figures(bot, sandbox, seeded) -> None:
    stranger = sandbox.user(7777, first_name="Vieras")
    participant = sandbox.user(5005, first_name="Aino")  # a seeded participant, not a facilitator

    for user in (stranger, participant):
        for command, args in (("/digest", ""), ("/export", ""), ("/loop", ""), ("/hide", "1"), ("/hide", "")):
            await bot.command(user, command, args)
        assert all(REFUSAL in text for text in texts(user))
        assert documents(user) == []
        assert not any(char.isdigit() for text in texts(user) for char in text)
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(DigestRun)) == 0
        assert (
            await session.scalar(select(func.count()).select_from(Submission).where(Submission.hidden)) == 2
        )


async def test_a_facilitator_of_another_process_sees_nothing_of_this_one(bot, sandbox, seeded, fanni) -> None:
    other = await seed_process(bot.db, name="Toinen prosessi", user_base=6000)
    olli = sandbox.user(other.facilitator_user_id, first_name="Olli")
    ref = seeded.submission_ids["obs:4"]

    await bot.command(olli, "/hide", str(ref))
    assert f"Tässä prosessissa ei ole viestiä #{ref}." in olli.messages[-1]["text"]
    assert not await hidden(bot.db, ref)

    await bot.command(olli, "/digest")
    assert "Toinen prosessi" in olli.messages[1]["text"]
    assert "Hyvän tahdon Ilomantsi" not in "\n".join(texts(olli))
    # A forged export button of the first process: refused, nothing sent.
    before = len(olli.messages)
    query = await olli.press(olli.messages[-1]["message_id"], f"dg:x:{seeded.process_id}", strict=False)
    await bot.idle()
    answer = await olli.wait_callback_answer(query)
    assert REFUSAL in answer["text"]
    assert len(olli.messages) == before
    # And restoring a submission of the first process by a forged button: refused too.
    await bot.command(fanni, "/hide", str(ref))
    query = await olli.press(olli.messages[-1]["message_id"], f"hd:u:{ref}", strict=False)
    await bot.idle()
    assert REFUSAL in (await olli.wait_callback_answer(query))["text"]
    assert await hidden(bot.db, ref)


async def test_hide_by_reference_removes_it_from_digest_and_export_and_restore_brings_it_back(
    bot, sandbox, seeded, fanni
) -> None:
    ref = seeded.submission_ids["obs:4"]

    await bot.command(fanni, "/hide", f"#{ref}")
    assert f"Piilotin viestin #{ref}" in fanni.messages[-1]["text"]
    assert await hidden(bot.db, ref)
    before = len(fanni.messages)
    await bot.command(fanni, "/digest")
    [document] = documents(fanni)
    assert "Kotihoidon asiakkaat" not in sandbox.file_content(document["file_id"]).decode("utf-8")
    assert not any("Kotihoidon asiakkaat" in text for text in texts(fanni)[before:])

    await bot.command(fanni, "/hide")
    listing = fanni.messages[-1]
    assert "Piilotetut viestit (3)" in listing["text"]
    assert f"#{ref}" in listing["text"]
    query = await fanni.press(listing["message_id"], f"hd:u:{ref}")
    await bot.idle()
    assert (await fanni.wait_callback_answer(query))["text"] == f"Palautettu #{ref}"
    assert not await hidden(bot.db, ref)
    assert f"#{ref}" not in fanni.message(listing["message_id"])["text"]


async def test_hide_as_a_reply_to_a_digest_line_or_to_a_forwarded_submission(
    bot, sandbox, seeded, fanni
) -> None:
    await bot.command(fanni, "/digest", "3d")
    line = next(m for m in fanni.messages if "Bybussen går bara" in m.get("text", ""))
    await fanni.send_text("/hide", reply_to_message_id=line["message_id"])
    await bot.idle()
    # That message quotes several submissions: the bot asks which one.
    bus = seeded.submission_ids["obs:16"]
    await bot.press(fanni, f"hd:h:{bus}")
    assert await hidden(bot.db, bus)

    # A participant's message forwarded back to the bot by the facilitator, then /hide as a reply.
    observation = OBSERVATIONS[6]
    forwarded = await fanni.send(
        {
            "text": observation.text,
            "forward_origin": {
                "type": "user",
                "date": int(datetime(2027, 1, 14, 9, 0, tzinfo=UTC).timestamp()),
                "sender_user": {"id": seeded.user_ids[observation.who], "is_bot": False, "first_name": "O"},
            },
        }
    )
    await bot.idle()
    await fanni.send_text("/hide", reply_to_message_id=forwarded["message_id"])
    await bot.idle()
    ref = seeded.submission_ids["obs:6"]
    assert f"Piilotin viestin #{ref}" in fanni.messages[-1]["text"]
    assert await hidden(bot.db, ref)


async def test_closing_the_loop_previews_then_reaches_every_participant(bot, sandbox, seeded, fanni) -> None:
    await bot.command(fanni, "/loop")
    assert "1/3" in fanni.messages[-1]["text"]
    await bot.say(fanni, "Yksinäisyys & kirjaston kahvihetket nousivat esiin.")
    assert "2/3" in fanni.messages[-1]["text"]
    await bot.say(fanni, "Puhuimme siitä, miten diakonia ja kirjasto voisivat tehdä yhdessä.")
    assert "3/3" in fanni.messages[-1]["text"]
    await bot.say(fanni, "Kokeillaan kahta kahvihetkeä helmikuussa.")

    preview = fanni.messages[-1]
    assert "Vastaanottajia: 30." in preview["text"]
    assert "💬 Te sanoitte\nYksinäisyys & kirjaston kahvihetket nousivat esiin." in preview["text"]
    await bot.press(fanni, "lp:send")
    assert "Viesti on matkalla 30 osallistujalle" in fanni.messages[-1]["text"]

    async with bot.db.session() as session:
        [prompt] = await session.scalars(select(Prompt).where(Prompt.kind == "loop"))
        deliveries = list(await session.scalars(select(Delivery).where(Delivery.prompt_id == prompt.id)))
    assert prompt.texts["fi"].startswith("💬 Te sanoitte\nYksinäisyys & kirjaston")
    assert prompt.texts["sv"].startswith("💬 Ni sa\nYksinäisyys & kirjaston")
    assert "➡️ Next step\nKokeillaan kahta kahvihetkeä helmikuussa." in prompt.texts["en"]
    assert prompt.closes_at is not None and prompt.closes_at - prompt.due_at == timedelta(days=7)
    assert len(deliveries) == 30
    assert {delivery.state for delivery in deliveries} == {"pending"}

    # The dispatcher sends it like any broadcast, and a participant answers it like a prompt.
    people = {
        key: sandbox.user(user_id, first_name="Osallistuja") for key, user_id in seeded.user_ids.items()
    }
    dispatcher = bot.services.dispatcher
    assert dispatcher is not None
    for _ in range(10):
        await dispatcher.tick()
        async with bot.db.session() as session:
            waiting = await session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(Delivery.prompt_id == prompt.id, Delivery.state == "pending")
            )
        if not waiting:
            break
    assert all(
        "Yksinäisyys & kirjaston kahvihetket" in person.messages[-1]["text"] for person in people.values()
    )
    bertil = people["kyla-muu-1"]  # writes in Swedish
    assert "💬 Ni sa\nYksinäisyys & kirjaston" in bertil.messages[-1]["text"]
    await bertil.send_text("Tack, det här hjälper!", reply_to_message_id=bertil.messages[-1]["message_id"])
    await bot.idle()
    async with bot.db.session() as session:
        answer = await session.scalar(select(Submission).where(Submission.text == "Tack, det här hjälper!"))
    assert answer is not None
    assert (answer.kind, answer.prompt_id) == ("answer", prompt.id)


async def test_a_cancelled_loop_sends_nothing(bot, seeded, fanni) -> None:
    await bot.command(fanni, "/loop")
    for text in ("Sanoitte jotain.", "Keskustelimme.", "Seuraavaksi jotain."):
        await bot.say(fanni, text)
    await bot.press(fanni, "lp:no")
    assert "en lähettänyt mitään" in fanni.messages[-1]["text"]
    async with bot.db.session() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Prompt).where(Prompt.kind == "loop")) == 0
        )


# --- the weekly digest -----------------------------------------------------------------------


async def weekly_runs(db) -> list[DigestRun]:
    async with db.session() as session:
        return list(
            await session.scalars(
                select(DigestRun).where(DigestRun.trigger == "weekly").order_by(DigestRun.id)
            )
        )


async def test_weekly_digest_goes_out_once_even_when_two_instances_race(bot, seeded, fanni) -> None:
    sent = await asyncio.gather(
        run_due_digests(bot.services, bot.app.bot, bot.clock.now()),
        run_due_digests(bot.services, bot.app.bot, bot.clock.now()),
    )

    assert sorted(sent) == [0, 1]
    assert len(documents(fanni)) == 1
    assert fanni.messages[0]["text"].startswith("📋 Viikkokooste – Hyvän tahdon Ilomantsi 2027")
    [run] = await weekly_runs(bot.db)
    assert (run.period_start, run.due_at) == (datetime(2027, 1, 4, 8, 0, tzinfo=UTC), seeded.end)
    assert await run_due_digests(bot.services, bot.app.bot, bot.clock.now() + timedelta(hours=1)) == 0


async def test_after_a_downtime_one_digest_covers_the_missed_weeks(bot, seeded, fanni) -> None:
    async with bot.db.session() as session:
        process = await session.get(Process, seeded.process_id)
        assert process is not None
        process.last_digest_at = seeded.start
    bot.clock.set(seeded.end + timedelta(weeks=3, days=2))

    assert await run_due_digests(bot.services, bot.app.bot, bot.clock.now()) == 1
    assert await run_due_digests(bot.services, bot.app.bot, bot.clock.now()) == 0
    [run] = await weekly_runs(bot.db)
    assert (run.period_start, run.due_at) == (seeded.start, seeded.end + timedelta(weeks=3))
    assert len(documents(fanni)) == 1
    bot.clock.advance(timedelta(days=5))
    assert await run_due_digests(bot.services, bot.app.bot, bot.clock.now()) == 1
    assert len(documents(fanni)) == 2


async def test_a_digest_due_while_the_bot_was_down_goes_out_at_start_up(
    bot, sandbox, db, clock, settings, seeded, fanni
) -> None:
    from tests.support.harness import BotHarness

    await bot.stop()
    clock.set(seeded.end + timedelta(weeks=2))
    restarted = BotHarness(sandbox=sandbox, db=db, clock=clock, settings=settings)
    await restarted.start()
    try:
        assert len(documents(fanni)) == 1
        [run] = await weekly_runs(db)
        assert run.due_at == seeded.end + timedelta(weeks=2)
    finally:
        await restarted.stop()
        await bot.start()


async def test_weekly_digest_keeps_to_local_time_across_the_dst_change(bot, seeded, fanni) -> None:
    async with bot.db.session() as session:
        process = await session.get(Process, seeded.process_id)
        assert process is not None
        process.last_digest_at = datetime(2027, 3, 22, 6, 0, tzinfo=UTC)  # Monday 08:00 EET

    assert await run_due_digests(bot.services, bot.app.bot, datetime(2027, 3, 29, 4, 59, tzinfo=UTC)) == 0
    assert (
        await run_due_digests(bot.services, bot.app.bot, datetime(2027, 3, 29, 5, 0, tzinfo=UTC)) == 1
    )  # 08:00 EEST
    [run] = await weekly_runs(bot.db)
    assert run.due_at == datetime(2027, 3, 29, 5, 0, tzinfo=UTC)
