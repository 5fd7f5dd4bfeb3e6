"""The sandbox signals what happened: waits for calls and messages, requests held on the wire, and
whether any request is still being answered."""

from __future__ import annotations

import asyncio

from telegram.ext import Application

from sandbox import BotApiSandbox


async def test_waits_for_calls_and_messages_wake_on_the_request(
    sandbox: BotApiSandbox, app: Application
) -> None:
    aino = sandbox.user(7001)
    async with app:
        sending = asyncio.gather(*(app.bot.send_message(aino.id, f"viesti {n}") for n in range(3)))
        calls = await sandbox.wait_for_calls("sendMessage", 3)
        shown = await sandbox.wait_for_messages(aino.id, 3)
        await sending

    assert len(calls) == 3 and all(call.ok for call in calls)
    assert sorted(m["text"] for m in shown) == ["viesti 0", "viesti 1", "viesti 2"]


async def test_a_held_request_takes_effect_only_once_released(
    sandbox: BotApiSandbox, app: Application
) -> None:
    aino = sandbox.user(7002)
    hold = sandbox.hold("sendMessage", after=1)
    async with app:
        await app.bot.send_message(aino.id, "läpi")
        held = asyncio.create_task(app.bot.send_message(aino.id, "pidätetty"))
        await hold.wait_parked(1)
        assert sandbox.open_requests == 1
        assert [m["text"] for m in aino.messages] == ["läpi"]

        hold.release()
        sent = await held
        await sandbox.wait_requests_answered()

    assert sent.text == "pidätetty"
    assert [m["text"] for m in aino.messages] == ["läpi", "pidätetty"]
    assert sandbox.open_requests == 0


async def test_a_held_request_whose_client_hangs_up_has_no_effect(
    sandbox: BotApiSandbox, app: Application
) -> None:
    aino = sandbox.user(7003)
    hold = sandbox.hold("sendMessage")
    async with app:
        held = asyncio.create_task(app.bot.send_message(aino.id, "ei koskaan"))
        await hold.wait_parked(1)
        held.cancel()
        await hold.wait_parked(0)
        hold.release()

    assert aino.messages == []
    assert [call.status for call in sandbox.calls("sendMessage")] == [499]


async def test_a_user_can_send_any_message_content(sandbox: BotApiSandbox) -> None:
    aino = sandbox.user(7004)
    origin = {"type": "hidden_user", "sender_user_name": "Joku", "date": 1_700_000_000}
    message = await aino.send({"text": "välitetty", "forward_origin": origin})

    assert message["forward_origin"] == origin
    assert message["from"]["id"] == aino.id and message["chat"]["id"] == aino.id
    assert sandbox.pending_update_count == 1
