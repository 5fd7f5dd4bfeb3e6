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
    assert "Luodaanko?" in admin.messages[-1]["text"]
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
