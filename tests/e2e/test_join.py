"""Joining a process through the real bot: consent first, then language, organisation, role, name."""

from __future__ import annotations

from sqlalchemy import func, select

from storage.models import Membership, Submission, User


async def count(db, model) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_participant_joins_with_invite_link_and_is_welcomed(bot, sandbox) -> None:
    process = await bot.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")

    await bot.join(aino, process, organisation=1, role="management")

    texts = [m["text"] for m in aino.messages]
    sent = [call.params["text"] for call in sandbox.calls("sendMessage")]
    assert "Tervetuloa Välitupaan" in sent[0] and "180 päivän" in sent[0]
    assert "Tervetuloa mukaan prosessiin" in texts[-1]
    assert "/observe" in texts[-1]
    async with bot.db.session() as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == 1001))
        assert membership is not None
        assert membership.complete and membership.role == "management"
        assert membership.organisation_id == process.organisations[1].id if process.organisations else True
        assert membership.show_name is False and membership.display_name is None


async def test_declining_consent_stores_nothing_but_the_refusal(bot, sandbox) -> None:
    process = await bot.create_process()
    bertil = sandbox.user(1002, first_name="Bertil", language_code="sv")

    await bertil.start(process.participant_code)
    await bot.idle()
    assert "Välkommen till Välitupa" in bertil.messages[-1]["text"]
    await bot.press(bertil, "cs:n:")

    assert "inget om dig" in bertil.messages[-1]["text"]
    async with bot.db.session() as session:
        user = await session.get(User, 1002)
        assert user is not None and user.consent == "declined"
        assert user.language is None and user.state is None and user.active_membership_id is None
    assert await count(bot.db, Membership) == 0

    await bot.say(bertil, "Hej, jag såg något idag")
    assert "inbjudningslänk" in bertil.messages[-1]["text"]
    assert await count(bot.db, Submission) == 0

    # /start again restarts: consent is asked again.
    await bertil.start(process.participant_code)
    await bot.idle()
    await bot.press(bertil, "cs:y:")
    assert await count(bot.db, Membership) == 1


async def test_unknown_code_and_stranger_get_ask_your_facilitator(bot, sandbox) -> None:
    await bot.create_process()
    stranger = sandbox.user(1003, first_name="Eero", language_code="fi")

    await stranger.start("pNOTAREALCODE")
    await bot.idle()
    assert "pyydä se prosessin fasilitaattorilta" in stranger.messages[-1]["text"]
    await bot.command(stranger, "/start")
    assert "pyydä se prosessin fasilitaattorilta" in stranger.messages[-1]["text"]
    await bot.say(stranger, "moi")
    assert "kutsulinkillä" in stranger.messages[-1]["text"]
    assert await count(bot.db, User) == 0


async def test_language_is_preselected_from_the_client_and_can_be_changed(bot, sandbox) -> None:
    process = await bot.create_process()
    emma = sandbox.user(1004, first_name="Emma", language_code="en-GB")

    await emma.start(process.participant_code)
    await bot.idle()
    await bot.press(emma, "cs:y:")
    language_buttons = emma.buttons(emma.messages[-1])
    assert ("✓ English", "lg:en") in language_buttons
    await bot.press(emma, "lg:sv")
    assert "Från vilken organisation" in emma.messages[-1]["text"]


async def test_facilitator_link_makes_a_facilitator(bot, sandbox) -> None:
    process = await bot.create_process()
    fasi = sandbox.user(2001, first_name="Fanni", language_code="fi")

    await bot.join(fasi, process, facilitator=True)

    assert "fasilitaattoriksi" in fasi.messages[-1]["text"]
    assert process.participant_code in fasi.messages[-1]["text"]
    async with bot.db.session() as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == 2001))
        assert membership is not None and membership.is_facilitator and membership.complete


async def test_member_of_two_processes_chooses_the_active_one(bot, sandbox) -> None:
    first = await bot.create_process()
    from tests.support.factories import process_yaml

    second = await bot.create_process(process_yaml(name="Yhdessä Lieksa 2027"))
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, first)
    await bot.join(aino, second)

    await bot.command(aino, "/start")
    rows = aino.buttons(aino.messages[-1])
    assert len([data for _t, data in rows if data and data.startswith("ap:")]) == 2
    first_membership = next(data for text, data in rows if "Ilomantsi" in text)
    await aino.press(aino.messages[-1]["message_id"], first_membership)
    await bot.idle()
    assert "Hyvän tahdon Ilomantsi 2027" in aino.messages[-1]["text"]

    await bot.say(aino, "Kirjaston edessä oli jonoa")
    async with bot.db.session() as session:
        submission = await session.scalar(select(Submission))
        assert submission is not None and submission.process_id == first.id


async def test_start_in_a_group_answers_talk_to_me_privately(bot, sandbox) -> None:
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await aino.send_in_group(-100123, "/start", command=True)
    await aino.send_in_group(-100123, "tämä ei ole minulle")
    await bot.idle()
    group = sandbox.chat(-100123)
    assert len(group.messages) == 1
    assert "kahden kesken" in group.messages[0]["text"]
    assert await count(bot.db, User) == 0


async def test_command_menus_are_registered_per_language_and_for_facilitators(bot, sandbox) -> None:
    private = {"type": "all_private_chats"}
    finnish = {c["command"]: c["description"] for c in sandbox.commands(private, "fi")}
    swedish = {c["command"]: c["description"] for c in sandbox.commands(private, "sv")}
    assert finnish["observe"] == "Kirjaa havainto"
    assert swedish["observe"] == "Anteckna en iakttagelse"
    assert "digest" not in finnish

    process = await bot.create_process()
    fasi = sandbox.user(2001, first_name="Fanni", language_code="fi")
    await bot.join(fasi, process, facilitator=True)

    own = {c["command"] for c in sandbox.commands({"type": "chat", "chat_id": 2001})}
    assert {"digest", "loop", "programme", "observe"} <= own
