"""Pacing of bulk sends and handling of Telegram's 429s, through the real Application and sandbox."""

from __future__ import annotations

import asyncio
import itertools

from telegram.ext import Application

from bot.infra.metrics import Metrics
from bot.infra.ratelimit import PacedRateLimiter
from sandbox.server import SANDBOX_TOKEN


class VirtualTime:
    """Monotonic seconds that move only when the limiter waits: pacing is checked without a wall clock.

    Every wait is recorded as the moment it ends, and the clock jumps there at once.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.wakeups: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        target = self.now + max(seconds, 0.0)
        self.wakeups.append(target)
        self.now = max(self.now, target)
        await asyncio.sleep(0)


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


async def test_bulk_sends_stay_under_telegrams_limit(sandbox) -> None:
    # The sandbox answers 429 as Telegram does when more than 50 messages a second arrive.
    sandbox.set_rate_limit(per_second=50)
    users = [sandbox.user(3000 + i) for i in range(60)]
    app = application(sandbox, PacedRateLimiter(bulk_per_second=45))
    async with app:
        await asyncio.gather(
            *(app.bot.send_message(u.id, "Hei!", rate_limit_args={"bulk": True}) for u in users)
        )
    assert sandbox.stats["429"] == 0
    assert all(len(u.messages) == 1 for u in users)


async def test_bulk_sends_get_evenly_spaced_slots(sandbox) -> None:
    users = [sandbox.user(3100 + i) for i in range(60)]
    time = VirtualTime()
    app = application(sandbox, PacedRateLimiter(bulk_per_second=45, clock=time.clock, sleep=time.sleep))
    async with app:
        await asyncio.gather(
            *(app.bot.send_message(u.id, "Hei!", rate_limit_args={"bulk": True}) for u in users)
        )
    assert all(len(u.messages) == 1 for u in users)
    # The first send goes at once; the other 59 wait for slots 1/45 s apart.
    slots = sorted(time.wakeups)
    assert len(slots) == 59
    assert all(later - earlier >= 1 / 45 - 1e-9 for earlier, later in itertools.pairwise(slots))
    assert slots[-1] >= 59 / 45 - 1e-6


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
    time = VirtualTime()
    limiter = PacedRateLimiter(bulk_per_second=100, metrics=metrics, clock=time.clock, sleep=time.sleep)
    app = application(sandbox, limiter)
    async with app:
        await app.bot.send_message(user.id, "Muistutus", rate_limit_args={"bulk": True})
    assert [m["text"] for m in user.messages] == ["Muistutus"]
    assert metrics.registry.get_sample_value("valitupa_retry_after_total") == 2
    assert metrics.registry.get_sample_value("valitupa_retry_after_seconds_total") == 2
    # It waited the second Telegram asked for, twice, before the send that went through.
    assert time.now >= 2.0
