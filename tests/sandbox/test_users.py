"""Simulated users produce updates that match the Bot API description and parse in PTB."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

from sandbox import BOT_USERNAME, BotApiSandbox, check_object
from tests.sandbox.conftest import polling


async def fetch_updates(sandbox: BotApiSandbox) -> list[dict[str, Any]]:
    """Raw getUpdates JSON, confirming what it returns."""
    url = f"{sandbox.base_url}{sandbox.token}/getUpdates"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"timeout": 0}) as response:
            updates: list[dict[str, Any]] = (await response.json())["result"]
        if updates:
            async with session.post(url, json={"offset": updates[-1]["update_id"] + 1}) as response:
                assert response.status == 200
    return updates


async def test_every_kind_of_update_matches_the_spec_and_parses(
    sandbox: BotApiSandbox, app: Application
) -> None:
    aino = sandbox.user(5001, first_name="Aino", last_name="Virtanen", username="ainov", language_code="sv")
    group = sandbox.group(-1005001)
    async with app:
        prompt = await app.bot.send_message(aino.id, "Kysymys")
        sent = [
            await aino.send_text("Hei https://example.org"),
            await aino.send_text("Vastaus", reply_to_message_id=prompt.message_id),
            await aino.send_command("idea", "kirjastobussi"),
            await aino.send_photo(caption="Kuva"),
            await aino.send_voice(),
            await aino.send_video(caption="Video"),
            await aino.send_video_note(),
            await aino.send_audio(),
            await aino.send_document(b"data", "raportti.pdf", "application/pdf", caption="Raportti"),
            await aino.send_sticker(),
            await aino.send_poll(),
            await aino.send_location(),
            await aino.send_contact(),
            await aino.send_dice(),
            await aino.send_in_group(group.chat_id, "/digest", command=True),
        ]
        await aino.edit_text(sent[0]["message_id"], "Hei taas")
        await aino.press(prompt.message_id, "x", strict=False)
        await aino.block_bot()
        updates = await fetch_updates(sandbox)
        parsed = [Update.de_json(update, app.bot) for update in updates]

    assert [problem for update in updates for problem in check_object("Update", update)] == []
    assert len(updates) == len(sent) + 3
    ids = [u["update_id"] for u in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    messages = [p.message for p in parsed[: len(sent)]]
    assert all(m is not None for m in messages)
    assert messages[2] is not None and messages[2].text == "/idea kirjastobussi"
    assert messages[2].entities[0].type == "bot_command" and messages[2].entities[0].length == 5
    assert messages[1] is not None and messages[1].reply_to_message is not None
    assert messages[3] is not None and len(messages[3].photo) == 2
    assert messages[8] is not None and messages[8].document is not None
    assert messages[8].document.file_name == "raportti.pdf"
    assert messages[14] is not None and messages[14].chat.type == "supergroup"
    assert parsed[-3].edited_message is not None and parsed[-3].edited_message.text == "Hei taas"
    assert parsed[-2].callback_query is not None and parsed[-2].callback_query.data == "x"
    assert parsed[-1].my_chat_member is not None
    assert aino.user["language_code"] == "sv"
    assert sandbox.user(5001) is aino


async def test_message_ids_increase_per_chat(sandbox: BotApiSandbox, app: Application) -> None:
    aino, eero = sandbox.user(5002), sandbox.user(5003)
    async with app:
        first = await aino.send_text("1")
        reply = await app.bot.send_message(aino.id, "2")
        other = await eero.send_text("1")

    assert (first["message_id"], reply.message_id, other["message_id"]) == (1, 2, 1)
    await fetch_updates(sandbox)


async def test_stop_ends_a_pending_long_poll_at_once() -> None:
    sandbox = BotApiSandbox()
    await sandbox.start()
    url = f"{sandbox.base_url}{sandbox.token}/getUpdates"
    async with aiohttp.ClientSession() as session:
        # A poll that would wait an hour: if stop does not end it, wait_for fails the test.
        poll = asyncio.create_task(session.post(url, json={"timeout": 3600}))
        await sandbox.wait_until(lambda: sandbox.stats["long_polls"] == 1)
        await sandbox.stop()
        async with await asyncio.wait_for(poll, timeout=120) as response:
            assert (await response.json())["result"] == []


async def test_many_users_are_served_in_order(sandbox: BotApiSandbox, app: Application) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        await update.message.reply_text(update.message.text.upper())

    app.add_handler(MessageHandler(filters.TEXT, echo))
    users = [sandbox.user(6000 + i) for i in range(20)]
    async with polling(app):
        for round_ in range(10):
            await asyncio.gather(*(user.send_text(f"viesti {round_}") for user in users))
        replies = [[(await user.next_message())["text"] for _ in range(10)] for user in users]

    assert all(texts == [f"VIESTI {n}" for n in range(10)] for texts in replies)
    assert sandbox.stats["sendMessage"] == 200
    assert sandbox.pending_update_count == 0


async def test_bot_identity(sandbox: BotApiSandbox, app: Application) -> None:
    async with app:
        me = await app.bot.get_me()
        chat = await app.bot.get_chat(sandbox.user(5004).id)
    assert (me.id, me.username, me.first_name, me.is_bot) == (123456789, BOT_USERNAME, "Välitupa", True)
    assert chat.type == "private"


async def test_wake_pollers_ends_a_long_poll_empty(sandbox: BotApiSandbox) -> None:
    url = f"{sandbox.base_url}{sandbox.token}/getUpdates"
    async with aiohttp.ClientSession() as session:
        poll = asyncio.create_task(session.post(url, json={"timeout": 30}))
        await sandbox.wait_until(lambda: sandbox.stats["long_polls"] == 1)
        sandbox.wake_pollers()
        async with await poll as response:
            assert response.status == 200
            assert (await response.json())["result"] == []


async def test_file_content_returns_what_was_sent(sandbox: BotApiSandbox) -> None:
    aino = sandbox.user(5005)
    message = await aino.send_document(b"\x00\x01binary", "data.bin")
    assert sandbox.file_content(message["document"]["file_id"]) == b"\x00\x01binary"
    await fetch_updates(sandbox)
