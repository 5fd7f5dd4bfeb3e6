"""Injected failures reach PTB as the exceptions Telegram's answers produce."""

from __future__ import annotations

import datetime as dtm

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import Application

from sandbox import BotApiSandbox


async def test_injected_429_raises_retry_after(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(3001)
    sandbox.fail_next("sendMessage", retry_after=3)
    async with app:
        with pytest.raises(RetryAfter) as raised:
            await app.bot.send_message(aino.id, "ensimmäinen")
        second = await app.bot.send_message(aino.id, "toinen")

    assert raised.value.retry_after == dtm.timedelta(seconds=3)
    assert second.text == "toinen"
    assert [m["text"] for m in aino.messages] == ["toinen"]
    assert sandbox.stats["429"] == 1
    assert sandbox.calls("sendMessage")[0].response["parameters"] == {"retry_after": 3}


async def test_injected_faults_count_down_and_take_any_code(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(3002)
    async with app:
        sandbox.fail_next("*", error_code=502, count=2)
        sandbox.fail_next(
            "editMessageText", error_code=400, description="Bad Request: message can't be edited"
        )
        for _ in range(2):
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await app.bot.send_message(aino.id, "x")
        sent = await app.bot.send_message(aino.id, "x")
        with pytest.raises(BadRequest, match="can't be edited"):
            await app.bot.edit_message_text("y", chat_id=aino.id, message_id=sent.message_id)

    assert sandbox.stats["502"] == 2


async def test_blocked_user_answers_forbidden(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(3003)
    sandbox.block_user(aino.id)
    async with app:
        with pytest.raises(Forbidden, match="bot was blocked by the user"):
            await app.bot.send_message(aino.id, "Muistutus")
        with pytest.raises(Forbidden):
            await app.bot.send_chat_action(aino.id, "typing")
        sandbox.unblock_user(aino.id)
        await app.bot.send_message(aino.id, "Tervetuloa takaisin")

    assert sandbox.stats["403"] == 2
    assert [m["text"] for m in aino.messages] == ["Tervetuloa takaisin"]


async def test_user_blocking_the_bot_sends_my_chat_member(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(3004)
    async with app:
        await aino.block_bot()
        updates = await app.bot.get_updates(timeout=0)
        with pytest.raises(Forbidden):
            await app.bot.send_message(aino.id, "x")

    member_update = updates[0].my_chat_member
    assert member_update is not None
    assert member_update.new_chat_member.status == "kicked"
    assert aino.blocked


async def test_rate_limit_answers_429_past_the_rate(sandbox: BotApiSandbox, app: Application) -> None:
    aino, eero = sandbox.user(3005), sandbox.user(3006)
    sandbox.set_rate_limit(per_second=None, per_chat_per_second=1)
    async with app:
        await app.bot.send_message(aino.id, "1")
        with pytest.raises(RetryAfter) as raised:
            await app.bot.send_message(aino.id, "2")
        await app.bot.send_message(eero.id, "toiseen chattiin mahtuu")
        await app.bot.send_chat_action(aino.id, "typing")

    assert isinstance(raised.value.retry_after, dtm.timedelta)
    assert raised.value.retry_after >= dtm.timedelta(seconds=1)
    assert sandbox.stats["429"] == 1


async def test_global_rate_limit(sandbox: BotApiSandbox, app: Application) -> None:
    users = [sandbox.user(3100 + i) for i in range(5)]
    sandbox.set_rate_limit(per_second=3)
    outcomes: list[str] = []
    async with app:
        for user in users:
            try:
                await app.bot.send_message(user.id, "tiedote")
                outcomes.append("ok")
            except RetryAfter:
                outcomes.append("429")

    assert outcomes == ["ok", "ok", "ok", "429", "429"]
    assert sandbox.calls("sendMessage")[3].response["parameters"]["retry_after"] >= 1
