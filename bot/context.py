"""What every handler and job can reach: the services of one running bot, as named, typed fields."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from telegram.ext import CallbackContext, ExtBot

from bot.domain.burst import BurstGuard
from bot.domain.clock import Clock
from bot.infra.metrics import Metrics
from bot.settings import Settings
from messages import Catalog
from storage.db import Database

if TYPE_CHECKING:
    from telegram.request import BaseRequest

    from bot.infra.leader import Leader
    from bot.infra.updates import UpdateInbox
    from bot.jobs.dispatcher import Dispatcher
    from bot.jobs.duties import LeaderDuties


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    catalog: Catalog
    metrics: Metrics = field(default_factory=Metrics)
    instance: str = "valitupa"
    bot_username: str = ""
    # Set by the composition root (bot.app.build_application) for every Application it builds.
    dispatcher: Dispatcher | None = None
    duties: LeaderDuties | None = None
    # The durable inbox every update goes through (bot.infra.updates), set with the dispatcher.
    updates: UpdateInbox | None = None
    # PTB's two transports, kept so a start that fails half-way (a refused token) can still close them.
    transports: tuple[BaseRequest, ...] = ()
    # Set by the Runtime on PostgreSQL; None means this instance always leads (SQLite, tests).
    leader: Leader | None = None
    # Set when the process is asked to stop: the dispatcher gives back what it claimed but did not send.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    burst: BurstGuard = field(default_factory=BurstGuard)
    # When each kind of error was last reported to the operator chat (kind -> time), per running bot.
    error_reports: dict[str, datetime] = field(default_factory=dict)
    # Leader-job bookkeeping: when each claimant instance was first seen without a session, and
    # when handled update ids were last pruned.
    absent_instances: dict[str, float] = field(default_factory=dict)
    updates_pruned_at: datetime | None = None
    # Exports being built in the background, by the chat they go to (bot.jobs.export_job).
    exports: dict[int, asyncio.Task[None]] = field(default_factory=dict)

    def t(self, lang: str, key: str, /, **params: object) -> str:
        return self.catalog.t(lang, key, **params)

    def tn(self, lang: str, key: str, count: int, /, **params: object) -> str:
        return self.catalog.tn(lang, key, count, **params)

    def invite_link(self, code: str) -> str:
        return f"https://t.me/{self.bot_username or 'your_bot'}?start={code}"

    async def is_leader(self) -> bool:
        return True if self.leader is None else bool(await self.leader.is_leader())


class Ctx(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    """The callback context of Välitupa, with typed access to the services."""

    @property
    def services(self) -> Services:
        return services_of(self.application.bot_data)


def services_of(bot_data: dict[Any, Any]) -> Services:
    """The services of an Application (``application.bot_data``), put there by the composition root."""
    return cast(Services, bot_data["services"])
