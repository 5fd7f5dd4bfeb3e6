"""Pacing of bulk sends and handling of Telegram's 429s, through the real Application and sandbox."""

from __future__ import annotations

import asyncio
import time

from telegram.ext import Application

from bot.infra.metrics import Metrics
from bot.infra.ratelimit import PacedRateLimiter
from sandbox.server import SANDBOX_TOKEN


def application(sandbox, limiter: PacedRateLimiter) -> Application:
    return (
        Application.builder()
        .token(SANDBOX_TOKEN)
        .base_url(f"{sandbox.url}/bot")
        .base_file_url(f"{sandbox.url}/file/bot")
        .rate_limiter(limiter)
        .updater(None)
        .build()
    )


async def test_bulk_sends_are_spaced_and_stay_under_the_limit(sandbox) -> None:
    sandbox.set_rate_limit(per_second=50)
    users = [sandbox.user(3000 + i) for i in range(60)]
    app = application(sandbox, PacedRateLimiter(bulk_per_second=45))
    async with app:
        started = time.monotonic()
        await asyncio.gather(
            *(app.bot.send_message(u.id, "Hei!", rate_limit_args={"bulk": True}) for u in users)
        )
        elapsed = time.monotonic() - started
    assert sandbox.stats["429"] == 0
    assert all(len(u.messages) == 1 for u in users)
    assert elapsed >= 59 / 45 * 0.95


async def test_replies_do_not_wait_behind_a_broadcast(sandbox) -> None:
    users = [sandbox.user(4000 + i) for i in range(40)]
    replier = sandbox.user(4999)
    app = application(sandbox, PacedRateLimiter(bulk_per_second=20))
    async with app:
        broadcast = asyncio.gather(
            *(app.bot.send_message(u.id, "Tiedote", rate_limit_args={"bulk": True}) for u in users)
        )
        # Once the broadcast is under way, with the rest of it queued in the limiter,
        await sandbox.wait_until(lambda: len(sandbox.calls("sendMessage")) >= 2)
        await app.bot.send_message(replier.id, "Kiitos, tallensin havainnon ✓")
        await broadcast
    # the reply reached Telegram ahead of the bulk messages queued before it.
    order = [int(call.params["chat_id"]) for call in sandbox.calls("sendMessage")]
    assert order.index(replier.id) < len(users) // 2
    assert order[-1] != replier.id


async def test_retry_after_pauses_and_retries_without_losing_the_message(sandbox) -> None:
    user = sandbox.user(5000)
    sandbox.fail_next("sendMessage", error_code=429, retry_after=1, count=2)
    metrics = Metrics()
    app = application(sandbox, PacedRateLimiter(bulk_per_second=100, metrics=metrics))
    async with app:
        started = time.monotonic()
        await app.bot.send_message(user.id, "Muistutus", rate_limit_args={"bulk": True})
        elapsed = time.monotonic() - started
    assert [m["text"] for m in user.messages] == ["Muistutus"]
    assert metrics.registry.get_sample_value("valitupa_retry_after_total") == 2
    assert metrics.registry.get_sample_value("valitupa_retry_after_seconds_total") == 2
    assert elapsed >= 1.9
