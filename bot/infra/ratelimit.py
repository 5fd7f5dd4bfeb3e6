"""Outgoing pacing that respects Telegram's limits without making users wait behind a broadcast.

Bulk sends (prompts, reminders, announcements) carry ``rate_limit_args={"bulk": True}`` and go
through an evenly spaced schedule below Telegram's ~30 messages/s, at most one per chat per second.
Replies to a user's own message skip that queue. A 429 (``RetryAfter``) pauses the bulk queue for
the time Telegram asks and retries the request; replies wait for the same time and retry.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from bot.infra.metrics import Metrics

log = logging.getLogger(__name__)

JSONish = bool | dict[str, Any] | list[dict[str, Any]]


def retry_seconds(error: RetryAfter) -> float:
    value: Any = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class PacedRateLimiter(BaseRateLimiter[dict[str, Any]]):
    def __init__(
        self,
        *,
        bulk_per_second: float = 25.0,
        per_chat_interval: float = 1.0,
        max_retries: int = 4,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bulk_interval = 1.0 / bulk_per_second
        self.per_chat_interval = per_chat_interval
        self.max_retries = max_retries
        self.metrics = metrics
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._chat_next: dict[object, float] = {}
        self._lock = asyncio.Lock()
        # Monotonic seconds and the way to wait for them: a real clock in the bot, a virtual one in tests.
        self._clock = clock
        self._sleep = sleep

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def _bulk_slot(self, chat_id: object) -> None:
        async with self._lock:
            now = self._clock()
            slot = max(now, self._next_slot, self._paused_until, self._chat_next.get(chat_id, 0.0))
            self._next_slot = slot + self.bulk_interval
            if chat_id is not None:
                self._chat_next[chat_id] = slot + self.per_chat_interval
                if len(self._chat_next) > 50_000:
                    self._chat_next = {k: v for k, v in self._chat_next.items() if v > now}
        delay = slot - self._clock()
        if delay > 0:
            await self._sleep(delay)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSONish]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> JSONish:
        bulk = bool(rate_limit_args and rate_limit_args.get("bulk"))
        attempt = 0
        while True:
            if bulk:
                await self._bulk_slot(data.get("chat_id"))
            started = self._clock()
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as error:
                seconds = retry_seconds(error)
                if self.metrics:
                    self.metrics.retry_after.inc()
                    self.metrics.retry_after_seconds.inc(seconds)
                attempt += 1
                if attempt > self.max_retries:
                    raise
                log.warning(
                    "Telegram asked to wait %.1f s before %s (attempt %d)", seconds, endpoint, attempt
                )
                # Everyone in the bulk queue waits: a 429 is about the bot as a whole.
                self._paused_until = max(self._paused_until, self._clock() + seconds)
                await self._sleep(seconds)
                continue
            if self.metrics and endpoint.startswith("send"):
                self.metrics.send_latency.observe(self._clock() - started)
            return result
