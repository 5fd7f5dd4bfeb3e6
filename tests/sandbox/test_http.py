"""The sandbox reads requests in every encoding the Bot API accepts and keeps its queues bounded."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import BadRequest
from telegram.ext import Application

from sandbox import BotApiSandbox

KEYBOARD = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}


async def test_json_body_query_string_and_form_are_all_read(sandbox: BotApiSandbox) -> None:
    aino = sandbox.user(7001)
    base = f"{sandbox.base_url}{sandbox.token}"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/sendMessage", json={"chat_id": aino.id, "text": "json", "reply_markup": KEYBOARD}
        ) as r:
            assert r.status == 200
        query = {"chat_id": str(aino.id), "text": "query", "reply_markup": json.dumps(KEYBOARD)}
        async with session.get(f"{base}/sendMessage", params=query) as r:
            assert r.status == 200
        async with session.post(f"{base}/sendMessage", data={**query, "text": "form"}) as r:
            body = await r.json()

    assert body["result"]["reply_markup"] == KEYBOARD
    assert [m["text"] for m in aino.messages] == ["json", "query", "form"]
    assert all(call.params["reply_markup"] == KEYBOARD for call in sandbox.calls("sendMessage"))


async def test_malformed_token_is_not_found(sandbox: BotApiSandbox) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{sandbox.url}/bot123:short/getMe") as r:
        assert r.status == 404
        assert await r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert sandbox.requests == []


async def test_caption_and_markup_edits(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(7002)
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Lataa", callback_data="dl")]])
    async with app:
        await app.bot.send_chat_action(aino.id, "upload_document")
        sent = await app.bot.send_document(aino.id, InputFile(b"csv", filename="a.csv"), caption="Vanha")
        edited = await app.bot.edit_message_caption(
            chat_id=aino.id,
            message_id=sent.message_id,
            caption="<i>Uusi</i>",
            parse_mode="HTML",
            reply_markup=markup,
        )
        with pytest.raises(BadRequest, match="not modified"):
            await app.bot.edit_message_reply_markup(
                chat_id=aino.id, message_id=sent.message_id, reply_markup=markup
            )
        cleared = await app.bot.edit_message_reply_markup(chat_id=aino.id, message_id=sent.message_id)
        with pytest.raises(BadRequest, match="no text in the message"):
            await app.bot.edit_message_text("x", chat_id=aino.id, message_id=sent.message_id)

    assert edited.caption == "Uusi" and edited.caption_entities[0].type == "italic"
    assert cleared.reply_markup is None
    assert aino.chat_actions == ["upload_document"]
    assert [e["kind"] for e in aino.drain()] == ["sent", "edited", "edited"]


async def test_a_full_update_queue_holds_back_new_updates() -> None:
    async with BotApiSandbox(max_pending_updates=2) as sandbox:
        aino = sandbox.user(7003)
        await aino.send_text("1")
        await aino.send_text("2")
        third = asyncio.create_task(aino.send_text("3"))
        for _ in range(20):
            await asyncio.sleep(0)
        assert not third.done()
        base = f"{sandbox.base_url}{sandbox.token}"
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/getUpdates", json={"offset": 100_002}) as r:
                assert [u["message"]["text"] for u in (await r.json())["result"]] == ["2"]
            await third
            async with session.post(f"{base}/getUpdates", json={"offset": 100_003}) as r:
                assert [u["message"]["text"] for u in (await r.json())["result"]] == ["3"]
        assert sandbox.violations == []


async def test_control_api_acts_as_a_user(sandbox: BotApiSandbox, app: Application) -> None:
    """``python -m sandbox`` runs in its own process; benches and manual runs drive users over HTTP."""
    async with app, aiohttp.ClientSession() as session:
        async with session.post(f"{sandbox.url}/sandbox/users/7004/command", json={"command": "start"}) as r:
            assert (await r.json())["result"]["text"] == "/start"
        updates = await app.bot.get_updates(timeout=0)
        waiting = asyncio.create_task(sandbox.wait_for_request("sendMessage"))
        await app.bot.send_message(7004, "Tervetuloa")
        request = await waiting
        async with session.get(f"{sandbox.url}/sandbox/users/7004/messages") as r:
            messages = (await r.json())["result"]
        async with session.get(f"{sandbox.url}/sandbox/state") as r:
            state = (await r.json())["result"]
        await app.bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)

    assert request.params["text"] == "Tervetuloa"
    assert [m["text"] for m in messages] == ["Tervetuloa"]
    assert state["stats"]["sendMessage"] == 1
    assert state["violations"] == []
