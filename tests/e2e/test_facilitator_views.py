"""What a facilitator sees and does in chat: /process, /schedule, /participants, /programme,
/announce and /nudge — and that nobody else sees any of it."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from storage.models import Process, Prompt, Submission
from tests.support.programme import (
    Person,
    dispatcher,
    outbox,
    run_until,
    seed,
    sends_by_chat,
    start_harness,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
FACILITATOR = 9100
PEOPLE = [
    Person(1001, "Aino", organisation=0, role="employee", show_name=True),
    Person(1002, "Eero", organisation=0, role="employee"),
    Person(1003, "Kaisa", organisation=0, role="management", show_name=True),
    Person(1004, "Lauri", organisation=1, role="employee"),
    Person(1005, "Maija", organisation=1, role="elected", show_name=True),
    Person(1006, "Bertil", organisation=2, role="other", language="sv"),
]
COMMANDS = ("/process", "/schedule", "/participants", "/programme", "/announce", "/nudge")


def received(sandbox, text: str) -> dict[int, int]:
    """How many times each participant (not the facilitator, who saw a preview) got ``text``."""
    return {chat: n for chat, n in sends_by_chat(sandbox, text).items() if chat != FACILITATOR}


def shown(user, text: str) -> bool:
    """Whether the bot has shown ``text`` in this chat (other leader jobs, such as the weekly
    digest, may have written to the facilitator after it)."""
    return any(text in message.get("text", "") for message in user.messages)


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def process(bot):
    created = await bot.create_process()
    await seed(bot, created, PEOPLE)
    return created


@pytest.fixture
async def fanni(bot, sandbox, process):
    user = sandbox.user(FACILITATOR, first_name="Fanni")
    await bot.join(user, process, facilitator=True)
    return user


async def test_process_shows_phase_workshop_people_unreachable_and_answer_rates(
    bot, sandbox, process, fanni
) -> None:
    # Given Maija has blocked the bot and two have answered the first reflection
    sandbox.block_user(1005)
    await run_until(bot, local(1, 15, 12))
    for user_id in (1001, 1002):
        prompt = (await outbox(bot, user_id))["p1-reflection"]
        await sandbox.user(user_id).send_text("Vastaus", reply_to_message_id=prompt.message_id)
    await bot.idle()

    await bot.command(fanni, "/process")

    text = fanni.messages[-1]["text"]
    assert "Hyvän tahdon Ilomantsi 2027" in text
    assert "vaihe 1/5: Yhteinen lähtökohta" in text
    assert "Seuraava työpaja 2: torstaina 4.2. klo 9.00" in text
    assert "6 osallistujaa" in text
    assert "Ilomantsin kunta: 3 (Johto tai esihenkilö 1, Työntekijä 2)" in text
    assert "Viestit eivät mene perille (1)" in text and "Maija" in text
    assert "2/5 (40 %)" in text
    assert "Eero" not in text  # did not allow the name


async def test_facilitator_commands_politely_refuse_everyone_else(bot, sandbox, process) -> None:
    participant = sandbox.user(1001)
    stranger = sandbox.user(4242, first_name="Vieras")
    for user in (participant, stranger):
        for command in COMMANDS:
            await bot.command(user, command)
            text = user.messages[-1]["text"]
            assert "fasilitaattoreille" in text, command
            assert "Ilomantsi" not in text
    assert not [m for m in participant.messages if m.get("document")]


async def test_schedule_lists_the_next_prompts_in_local_time_and_pages_on(bot, process, fanni) -> None:
    await bot.command(fanni, "/schedule")

    first_page = fanni.messages[-1]["text"]
    assert "aikavyöhyke Europe/Helsinki" in first_page
    assert "ke 13.1. klo 15.00" in first_page  # the welcome, the day before workshop 1
    assert "→ 6 vastaanottajaa" in first_page
    assert "pe 15.1. klo 9.00" in first_page
    # … and below, the rehearsal's calendar of the coming weeks: reminders, digests, loop nudges.
    assert "Tulevat viikot" in first_page
    assert "pe 15.1. klo 8.00 · muistutus lähettää /loop → fasilitaattoreille" in first_page
    assert "viikkokooste → fasilitaattoreille" in first_page
    assert (
        "muistutus vastaamatta jääneestä: p1-reflection → Ilomantsin kunta · työntekijä · vain lukee"
        in first_page
    )

    await bot.press(fanni, "sc:8")

    assert "ke 13.1. klo 15.00" not in fanni.messages[-1]["text"]
    assert "vaihe 2" in fanni.messages[-1]["text"]


async def test_participants_counts_by_organisation_and_role_and_names_only_those_who_allowed(
    bot, process, fanni
) -> None:
    await bot.command(fanni, "/participants")

    text = fanni.messages[-1]["text"]
    assert "6 osallistujaa" in text
    assert "Ilomantsin seurakunta: 2" in text and "Kyläyhdistys: 1" in text
    for name in ("Aino", "Kaisa", "Maija"):
        assert name in text
    for name in ("Eero", "Lauri", "Bertil"):
        assert name not in text


async def test_programme_downloads_and_a_broken_upload_names_line_and_field_and_stores_nothing(
    bot, sandbox, process, fanni
) -> None:
    await bot.command(fanni, "/programme")
    message = fanni.messages[-1]
    assert message["document"]["file_name"].endswith(".yaml")
    original = sandbox.file_content(message["document"]["file_id"]).decode()
    assert "- id: p1-reflection" in original

    broken = original.replace("2027-02-25 12:30", "2027-01-25 12:30").replace(
        "kind: checkin", "kind: quiz", 1
    )
    await fanni.send_document(broken.encode(), "ohjelma.yaml", "application/x-yaml")
    await bot.idle()

    text = fanni.messages[-1]["text"]
    assert "Ohjelmaa ei vaihdettu" in text
    assert "kohta workshops[3]" in text and "Rivi " in text
    assert "kind" in text and "quiz" in text
    async with bot.db.session() as session:
        stored = await session.get(Process, process.id)
        assert stored is not None and stored.source_yaml == process.source_yaml
        kinds = set(await session.scalars(select(Prompt.kind)))
    assert "quiz" not in kinds


async def test_a_heavy_programme_is_saved_with_a_warning_naming_the_week(
    bot, sandbox, process, fanni
) -> None:
    await bot.command(fanni, "/programme")
    original = sandbox.file_content(fanni.messages[-1]["document"]["file_id"]).decode()
    extra = "".join(
        f"\n- id: x{n}\n  phase: 2\n  when: W2 +{n}d 10:00\n  kind: reflection\n"
        f"  text: {{fi: 'Pohdi {n}', sv: 'Fundera {n}', en: 'Think {n}'}}\n  remind_after: none\n"
        for n in (4, 5, 6, 7)
    )
    await fanni.send_document((original + extra).encode(), "ohjelma.yaml", "application/x-yaml")
    await bot.idle()

    text = fanni.messages[-1]["text"]
    assert "Viestejä kertyy paljon" in text
    assert "viikolla 6 (ma 8.2.–su 14.2.)" in text
    async with bot.db.session() as session:
        keys = set(await session.scalars(select(Prompt.key).where(Prompt.active.is_(True))))
    assert {"x4", "x5", "x6", "x7"} <= keys


async def test_a_yaml_file_from_a_participant_is_kept_as_an_observation(bot, sandbox, process) -> None:
    aino = sandbox.user(1001)

    await aino.send_document(b"name: x\n", "muistiinpano.yaml", "application/x-yaml")
    await bot.idle()

    async with bot.db.session() as session:
        [stored] = list(await session.scalars(select(Submission)))
    assert stored.kind == "observation" and stored.media_type == "document"


async def test_an_announcement_reaches_every_participant_once_after_confirmation(
    bot, sandbox, process, fanni
) -> None:
    await bot.command(sandbox.user(1004), "/pause")
    await bot.command(fanni, "/announce")
    await bot.say(fanni, "Seuraava työpaja siirtyy kirjastoon!")
    assert "Lähetänkö tämän 5 osallistujalle?" in fanni.messages[-1]["text"]

    await bot.press(fanni, "an:send")
    await dispatcher(bot).tick()

    assert shown(fanni, "Tiedote lähtee nyt 5 osallistujalle")
    counts = received(sandbox, "Seuraava työpaja siirtyy kirjastoon!")
    assert counts == {1001: 1, 1002: 1, 1003: 1, 1005: 1, 1006: 1}
    assert "📣 Meddelande" in sandbox.user(1006).messages[-1]["text"]


async def test_an_announcement_can_be_called_off(bot, sandbox, process, fanni) -> None:
    await bot.command(fanni, "/announce")
    await bot.say(fanni, "Hups, väärä viesti")
    await bot.press(fanni, "an:no")
    await dispatcher(bot).tick()

    assert shown(fanni, "tiedotetta ei lähetetty")
    assert received(sandbox, "Hups") == {}


async def test_an_announcement_written_at_night_waits_for_the_morning(bot, sandbox, process, fanni) -> None:
    bot.clock.set(local(1, 11, 22))
    await bot.command(fanni, "/announce")
    await bot.say(fanni, "Yöllinen tiedote")
    await bot.press(fanni, "an:send")
    await dispatcher(bot).tick()

    assert shown(fanni, "lähtee 6 osallistujalle ti 12.1. klo 8.00, kun hiljainen aika päättyy")
    assert received(sandbox, "Yöllinen tiedote") == {}
    bot.clock.set(local(1, 12, 8))
    await dispatcher(bot).tick()
    assert len(received(sandbox, "Yöllinen tiedote")) == 6


async def test_nudge_reminds_only_those_who_have_not_answered(bot, sandbox, process, fanni) -> None:
    await run_until(bot, local(1, 15, 12))
    prompt = (await outbox(bot, 1001))["p1-reflection"]
    await sandbox.user(1001).send_text("Vastaan", reply_to_message_id=prompt.message_id)
    await bot.idle()

    await bot.command(fanni, "/nudge")
    assert "Vastanneita 1/6, muistuttamatta 5" in fanni.messages[-1]["text"]
    await bot.press(fanni, f"nu:{prompt.prompt_id}")
    await dispatcher(bot).tick()

    assert shown(fanni, "Muistutus lähtee nyt 5 osallistujalle")
    reminded = received(sandbox, "Pieni muistutus")
    assert reminded == {1002: 1, 1003: 1, 1004: 1, 1005: 1}
    assert "En liten påminnelse" in sandbox.user(1006).messages[-1]["text"]

    # The planned reminder two days later does not go again.
    await run_until(bot, local(1, 18, 12))
    assert received(sandbox, "Pieni muistutus") == reminded
