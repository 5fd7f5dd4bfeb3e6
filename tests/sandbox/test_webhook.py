"""Webhook mode: the sandbox POSTs updates to the bot's URL like Telegram, secret header and retries included."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from telegram import Update
from telegram.error import Conflict
from telegram.ext import Application, CommandHandler, ContextTypes

from sandbox import BotApiSandbox
from tests.sandbox.conftest import build_app

SECRET = "s3cret-token_1"


@dataclass
class Receiver:
    url: str
    statuses: list[int]
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def webhook_receiver(statuses: list[int] | None = None) -> AsyncIterator[Receiver]:
    """A tiny web server that records what it is sent and answers with the given statuses, then 200."""
    receiver = Receiver(url="", statuses=list(statuses or []))

    async def handle(request: web.Request) -> web.Response:
        receiver.received.append((dict(request.headers), await request.json()))
        return web.Response(status=receiver.statuses.pop(0) if receiver.statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


async def test_webhook_posts_updates_with_secret_header(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(4001)
    async with app, webhook_receiver() as receiver:
        await app.bot.set_webhook(receiver.url, secret_token=SECRET)
        await aino.send_text("yksi")
        await aino.send_text("kaksi")
        await sandbox.wait_updates_consumed()
        info = await app.bot.get_webhook_info()
        with pytest.raises(Conflict, match="webhook is active"):
            await app.bot.get_updates(timeout=0)
        await app.bot.delete_webhook()
        assert await app.bot.get_updates(timeout=0) == ()

    assert [body["message"]["text"] for _, body in receiver.received] == ["yksi", "kaksi"]
    assert all(headers["X-Telegram-Bot-Api-Secret-Token"] == SECRET for headers, _ in receiver.received)
    assert info.url == receiver.url
    assert info.pending_update_count == 0
    assert sandbox.stats["webhook_deliveries"] == 2


async def test_webhook_retries_a_failed_delivery(sandbox: BotApiSandbox, app: Application) -> None:
    aino = sandbox.user(4002)
    async with app, webhook_receiver(statuses=[500, 503]) as receiver:
        await app.bot.set_webhook(receiver.url)
        await aino.send_text("sinnikäs")
        await sandbox.wait_updates_consumed()
        info = await app.bot.get_webhook_info()

    assert [body["message"]["text"] for _, body in receiver.received] == ["sinnikäs"] * 3
    assert "X-Telegram-Bot-Api-Secret-Token" not in receiver.received[0][0]
    assert sandbox.stats["webhook_errors"] == 2
    assert sandbox.stats["webhook_deliveries"] == 1
    assert info.last_error_message == "Wrong response from the webhook: 503 Service Unavailable"


async def test_webhook_gives_up_after_its_retries() -> None:
    async with BotApiSandbox(webhook_retries=1, webhook_backoff=0.01) as sandbox, build_app(sandbox) as app:
        aino = sandbox.user(4003)
        async with webhook_receiver(statuses=[500, 500]) as receiver:
            await app.bot.set_webhook(receiver.url)
            await aino.send_text("hukkaan")
            await sandbox.wait_updates_consumed()

    assert len(receiver.received) == 2
    assert sandbox.stats["webhook_dropped"] == 1
    assert sandbox.violations == []


async def test_pending_updates_are_delivered_when_the_webhook_is_set(
    sandbox: BotApiSandbox, app: Application
) -> None:
    aino = sandbox.user(4004)
    await aino.send_text("odottaa")
    async with app, webhook_receiver() as receiver:
        await app.bot.set_webhook(receiver.url, drop_pending_updates=False)
        await sandbox.wait_updates_consumed()

    assert [body["message"]["text"] for _, body in receiver.received] == ["odottaa"]


async def test_real_application_in_webhook_mode(sandbox: BotApiSandbox, app: Application) -> None:
    """PTB behind a custom aiohttp webhook endpoint, as in PTB's customwebhookbot example."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("Webhook toimii")

    app.add_handler(CommandHandler("start", start))

    async def handle(request: web.Request) -> web.Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return web.Response(status=403)
        await app.update_queue.put(Update.de_json(await request.json(), app.bot))
        return web.Response()

    web_app = web.Application()
    web_app.router.add_post("/telegram", handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/telegram"
    aino = sandbox.user(4005)
    try:
        async with app:
            await app.bot.set_webhook(url, secret_token=SECRET, allowed_updates=Update.ALL_TYPES)
            await app.start()
            await aino.start()
            reply = await aino.next_message()
            await app.stop()
    finally:
        await runner.cleanup()

    assert reply["text"] == "Webhook toimii"
