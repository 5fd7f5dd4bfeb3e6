"""/newprocess: an admin creates a process in chat; everyone else is politely refused."""

from __future__ import annotations

from sqlalchemy import select

from handlers.admin import parse_local_datetime
from storage.models import Process


def test_finnish_date_formats_are_understood() -> None:
    assert str(parse_local_datetime("14.1.2027 9.00")) == "2027-01-14 09:00:00"
    assert str(parse_local_datetime("14.1.2027 klo 9")) == "2027-01-14 09:00:00"
    assert str(parse_local_datetime("2027-02-25 12:30")) == "2027-02-25 12:30:00"
    assert parse_local_datetime("huomenna") is None


async def test_admin_creates_a_process_in_chat(bot, sandbox) -> None:
    admin = sandbox.user(9001, first_name="Kaisa", language_code="fi")

    await bot.command(admin, "/newprocess")
    await bot.say(admin, "Hyvän tahdon Viitasaari 2027")
    await bot.say(admin, "Viitasaaren kaupunki, Viitasaaren seurakunta\nKansalaisopisto")
    await bot.say(admin, "14.1.2027 9.00\n4.2.2027 9.00\n25.2.2027 12.30\n18.3.2027 9.00\n8.4.2027 9.00")
    assert "viikonloput ja arkipyhät" in admin.messages[-1]["text"]
    await bot.say(admin, "ehkä")
    assert admin.messages[-1]["text"] == bot.t("fi", "admin.bad_yes_no")
    await bot.say(admin, "Kyllä")
    assert "hiihtoloma" in admin.messages[-1]["text"]
    await bot.say(admin, "talvella")
    assert "talvella" in admin.messages[-1]["text"]
    await bot.say(admin, "22.2.2027–26.2.2027\n5.4.2027")
    asked = admin.messages[-1]
    assert "Montako muistutusta viikossa" in asked["text"]
    assert [text for text, _data in admin.buttons(asked)] == ["0", "1 (suositus)", "2"]
    await bot.press(admin, "nr:1")
    assert "Luodaanko?" in admin.messages[-1]["text"]
    assert "Enintään 1 muistutus viikossa" in admin.messages[-1]["text"]
    await bot.press(admin, "np:yes")

    text = admin.messages[-1]["text"]
    async with bot.db.session() as session:
        process = await session.scalar(select(Process))
    assert process is not None and process.name == "Hyvän tahdon Viitasaari 2027"
    assert (process.skip_weekends, process.holidays) == (True, "fi")
    assert process.no_send == ["2027-02-22..2027-02-26", "2027-04-05"]
    assert process.reminders_per_week == 1
    assert f"https://t.me/valitupa_test_bot?start={process.participant_code}" in text
    assert f"https://t.me/valitupa_test_bot?start={process.facilitator_code}" in text


async def test_workshops_out_of_order_are_refused_with_the_line(bot, sandbox) -> None:
    admin = sandbox.user(9001, first_name="Kaisa", language_code="fi")
    await bot.command(admin, "/newprocess")
    await bot.say(admin, "Testi")
    await bot.say(admin, "Kunta, Seurakunta")
    await bot.say(admin, "14.1.2027 9.00\n4.2.2027 9.00\n1.2.2027 12.30\n18.3.2027 9.00\n8.4.2027 9.00")

    assert "workshops[3]" in admin.messages[-1]["text"]
    async with bot.db.session() as session:
        assert await session.scalar(select(Process)) is None


async def test_non_admin_is_refused(bot, sandbox) -> None:
    someone = sandbox.user(1234, first_name="Olli", language_code="fi")
    await bot.command(someone, "/newprocess")
    assert "ylläpitäjä" in someone.messages[-1]["text"]


async def answer_up_to_reminders(bot, admin, workshops: str) -> None:
    await bot.command(admin, "/newprocess")
    await bot.say(admin, "Hyvän tahdon Viitasaari 2027")
    await bot.say(admin, "Viitasaaren kaupunki, Viitasaaren seurakunta")
    await bot.say(admin, workshops)
    await bot.say(admin, "kyllä")
    await bot.say(admin, "ei")


async def stored_reminders(bot) -> int | None:
    async with bot.db.session() as session:
        process = await session.scalar(select(Process))
    assert process is not None
    return process.reminders_per_week


async def test_no_reminders_can_be_chosen_in_chat(bot, sandbox) -> None:
    admin = sandbox.user(9001, first_name="Kaisa", language_code="sv")
    await answer_up_to_reminders(
        bot, admin, "14.1.2027 9.00\n4.2.2027 9.00\n25.2.2027 12.30\n18.3.2027 9.00\n8.4.2027 9.00"
    )
    assert "Hur många påminnelser i veckan" in admin.messages[-1]["text"]
    await bot.say(admin, "kanske")
    assert admin.messages[-1]["text"] == bot.t("sv", "admin.bad_reminders")
    await bot.say(admin, "0")
    assert "Inga påminnelser" in admin.messages[-1]["text"]
    await bot.press(admin, "np:yes")
    assert await stored_reminders(bot) == 0


async def test_two_reminders_and_a_heavy_programme_still_warn(bot, sandbox) -> None:
    admin = sandbox.user(9001, first_name="Kaisa", language_code="fi")
    # Workshops a week apart: the default programme is too heavy for such a pace.
    await answer_up_to_reminders(
        bot, admin, "14.1.2027 9.00\n21.1.2027 9.00\n28.1.2027 12.30\n4.2.2027 9.00\n11.2.2027 9.00"
    )
    await bot.press(admin, "nr:2")
    summary = admin.messages[-1]["text"]
    assert "Enintään 2 muistutusta viikossa" in summary
    assert "Viestejä kertyy paljon" in summary and "viikolla 5" in summary
    # The question was answered: a forged second press changes nothing.
    await admin.press(admin.messages[-1]["message_id"], "nr:1", strict=False)
    await bot.idle()
    assert admin.messages[-1]["text"] == summary
    await bot.press(admin, "np:yes")
    assert await stored_reminders(bot) == 2
