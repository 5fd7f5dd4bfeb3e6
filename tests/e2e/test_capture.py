"""Anytime capture: text and media become observations, edits update them, odd input gets a kind answer."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from storage.models import Submission


async def submissions(db) -> list[Submission]:
    async with db.session() as session:
        return list(await session.scalars(select(Submission).order_by(Submission.id)))


@pytest.fixture
async def member(bot, sandbox):
    process = await bot.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await bot.join(aino, process)
    return aino


async def test_text_becomes_an_observation_with_buttons(bot, member) -> None:
    await bot.say(member, "Kirjastossa vanhus kysyi, miten ruokakassin saa tilattua.")

    [stored] = await submissions(bot.db)
    assert stored.kind == "observation"
    assert stored.text == "Kirjastossa vanhus kysyi, miten ruokakassin saa tilattua."
    ack = member.messages[-1]
    assert "tallensin havainnon" in ack["text"]
    data = [d for _t, d in member.buttons(ack)]
    assert f"ob:{stored.id}:th:pain" in data
    assert f"ob:{stored.id}:idea" in data
    assert f"ob:{stored.id}:anon" in data


@pytest.mark.parametrize(
    ("send", "media_type"),
    [
        (lambda u: u.send_photo(caption="Bussipysäkillä ei ole penkkiä"), "photo"),
        (lambda u: u.send_photo(), "photo"),
        (lambda u: u.send_voice(), "voice"),
        (lambda u: u.send_video(caption="Video torilta"), "video"),
        (lambda u: u.send_video_note(), "video_note"),
        (lambda u: u.send_document(b"%PDF-1.4", "muistio.pdf", caption=None), "document"),
    ],
)
async def test_media_with_or_without_caption_is_kept_by_file_id(bot, member, send, media_type) -> None:
    sent = await send(member)
    await bot.idle()

    [stored] = await submissions(bot.db)
    assert stored.media_type == media_type
    assert stored.file_id
    assert stored.text == sent.get("caption")
    assert "tallensin havainnon" in member.messages[-1]["text"]


async def test_theme_and_anonymity_buttons_update_the_observation(bot, member) -> None:
    await bot.say(member, "Seurakunnan kahvilassa oli tänään tavallista enemmän väkeä")
    [stored] = await submissions(bot.db)

    await bot.press(member, f"ob:{stored.id}:th:bright")
    await bot.press(member, f"ob:{stored.id}:anon")

    [stored] = await submissions(bot.db)
    assert stored.theme == "bright" and stored.anonymous is True
    ack = member.messages[-1]
    assert "Teema: Valopilkku" in ack["text"] and "ilman nimeä" in ack["text"]
    assert ("✓ Valopilkku", f"ob:{stored.id}:th:bright") in member.buttons(ack)


async def test_observation_can_be_refiled_as_an_idea(bot, member) -> None:
    await bot.say(member, "Kyläkauppaan yhteinen kahvipöytä\nSiellä ihmiset kohtaisivat luontevasti")
    [stored] = await submissions(bot.db)

    await bot.press(member, f"ob:{stored.id}:idea")

    [stored] = await submissions(bot.db)
    assert stored.kind == "idea"
    assert stored.title == "Kyläkauppaan yhteinen kahvipöytä"
    assert "Tein tästä idean" in member.messages[-1]["text"]


async def test_edited_message_updates_what_was_stored(bot, member) -> None:
    original = await member.send_text("Terveysasemalla jonotti 5 ihmistä")
    await bot.idle()

    await member.edit_text(original["message_id"], "Terveysasemalla jonotti 15 ihmistä")
    await bot.idle()

    [stored] = await submissions(bot.db)
    assert stored.text == "Terveysasemalla jonotti 15 ihmistä"
    assert stored.updated_at is not None
    assert "Päivitin" in member.messages[-1]["text"]


async def test_a_4096_character_text_is_stored_whole(bot, member) -> None:
    long_text = ("Äiti kertoi, että hänen lapsensa kulkee pitkän matkan kouluun. " * 70)[:4096]
    assert len(long_text) == 4096

    await bot.say(member, long_text)

    [stored] = await submissions(bot.db)
    assert stored.text == long_text


@pytest.mark.parametrize("kind", ["sticker", "poll", "location", "contact", "dice"])
async def test_unsupported_content_gets_a_friendly_answer_and_stores_nothing(bot, member, kind) -> None:
    await getattr(member, f"send_{kind}")()
    await bot.idle()

    assert "Otan vastaan tekstiä, kuvia, ääniviestejä, videoita ja tiedostoja" in member.messages[-1]["text"]
    assert await submissions(bot.db) == []


async def test_user_text_is_escaped_in_html_replies(bot, member, sandbox) -> None:
    await bot.say(member, "<script>alert(1)</script> & <b>")
    [stored] = await submissions(bot.db)
    await bot.press(member, f"ob:{stored.id}:idea")

    assert stored.text == "<script>alert(1)</script> & <b>"
    edit = sandbox.calls("editMessageText")[-1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in edit.params["text"]


async def test_pressing_someone_elses_button_changes_nothing(bot, sandbox, member) -> None:
    await bot.say(member, "Oma havaintoni")
    [stored] = await submissions(bot.db)
    process_code = None
    stranger = sandbox.user(1009, first_name="Ville", language_code="fi")
    await stranger.send_text("hei")
    await bot.idle()

    query = await stranger.press(stranger.messages[-1]["message_id"], f"ob:{stored.id}:anon", strict=False)
    answer = await stranger.wait_callback_answer(query)

    assert answer.get("text") == "Tämä painike ei ole sinun."
    [after] = await submissions(bot.db)
    assert after.anonymous is False
    assert process_code is None


async def test_stale_button_after_forget_says_it_is_no_longer_active(bot, member) -> None:
    await bot.say(member, "Havainto joka poistetaan")
    [stored] = await submissions(bot.db)
    ack_id = member.messages[-1]["message_id"]
    await bot.command(member, "/forget")
    await bot.press(member, "fg:yes")

    query = await member.press(ack_id, f"ob:{stored.id}:anon")
    answer = await member.wait_callback_answer(query)

    assert answer.get("text") == "Tämä painike ei ole enää käytössä."
    assert await submissions(bot.db) == []


async def test_a_burst_is_stored_completely_and_acknowledged_politely(bot, member, sandbox) -> None:
    for number in range(25):
        await member.send_text(f"Havainto numero {number}")
    await bot.idle()

    stored = await submissions(bot.db)
    assert len(stored) == 25
    texts = [m["text"] for m in member.messages]
    assert sum("tiuhaan" in t for t in texts) == 1
    acks = sum("tallensin havainnon" in t for t in texts)
    assert 20 <= acks < 25


async def test_observe_command_takes_the_next_message_as_observation(bot, member) -> None:
    await bot.command(member, "/observe")
    assert "Kerro havaintosi" in member.messages[-1]["text"]
    await member.send_photo(caption="Tyhjä kerhohuone")
    await bot.idle()

    [stored] = await submissions(bot.db)
    assert stored.kind == "observation" and stored.media_type == "photo"
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1


async def test_unknown_command_points_to_help(bot, member) -> None:
    await bot.command(member, "/tuntematon")
    assert "/help" in member.messages[-1]["text"]
