"""Leader duties: work only one instance does (weekly digests, retention, pruning, dead claims).

Each duty is its own JobQueue job with its own interval, outside the dispatcher's tick and lock, so
a long weekly digest or a retention purge never pauses prompt delivery, and one failing duty never
stops the others. A duty runs only while this instance leads (``Services.is_leader``) and never
after the process was asked to stop. Under a :class:`~bot.domain.clock.FakeClock` tests turn
``auto`` off and call :meth:`LeaderDuties.run_all` at the instants they choose.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram.ext import Application, ExtBot, JobQueue

from bot.context import Ctx, Services

log = logging.getLogger(__name__)

LeaderJob = Callable[[Services, ExtBot[Any], datetime], Awaitable[object]]


@dataclass(frozen=True)
class Duty:
    name: str
    run: LeaderJob
    # Seconds between runs; each run decides for itself whether anything is due.
    every: float
    # Also run once at start-up (a weekly digest that fell due while the bot was down).
    at_start: bool = False


class LeaderDuties:
    def __init__(self, services: Services, duties: Sequence[Duty]) -> None:
        self.services = services
        self.duties = tuple(duties)
        self.auto = True
        self._locks = {duty.name: asyncio.Lock() for duty in self.duties}

    def schedule(self, job_queue: JobQueue[Ctx]) -> None:
        for duty in self.duties:

            async def scheduled(context: Ctx, duty: Duty = duty) -> None:
                if self.auto:
                    await self.run(duty, context.bot)

            job_queue.run_repeating(
                scheduled,
                interval=duty.every,
                first=duty.every,
                name=f"duty:{duty.name}",
                # A run still going makes the next one return at once (our lock) instead of
                # APScheduler logging a skipped run.
                job_kwargs={"max_instances": 2, "coalesce": True},
            )

    async def start(self, application: Application) -> None:
        """At start-up: the duties marked ``at_start`` run once, before the first interval."""
        for duty in self.duties:
            if duty.at_start:
                await self.run(duty, application.bot)

    async def run_all(self, bot: ExtBot[Any]) -> None:
        """Every duty once, now (in order): what a test does instead of waiting for the JobQueue."""
        for duty in self.duties:
            await self.run(duty, bot)

    async def run(self, duty: Duty, bot: ExtBot[Any]) -> None:
        lock = self._locks[duty.name]
        if lock.locked() or self.services.stopping.is_set():
            return
        async with lock:
            try:
                if not await self.services.is_leader():
                    return
                await duty.run(self.services, bot, self.services.clock.now())
            except Exception as error:
                log.error("leader duty %s failed: %s", duty.name, type(error).__name__, exc_info=error)
