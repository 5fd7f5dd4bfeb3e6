"""What every handler and job can reach: the services of one running bot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from telegram.ext import CallbackContext, ExtBot

from bot.domain.clock import Clock
from bot.infra.metrics import Metrics
from bot.settings import Settings
from messages import Catalog
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    catalog: Catalog
    metrics: Metrics = field(default_factory=Metrics)
    instance: str = "valitupa"
    bot_username: str = ""
    # Extra components registered by feature modules (dispatcher, burst guard…), by name.
    extras: dict[str, Any] = field(default_factory=dict)

    def t(self, lang: str, key: str, /, **params: object) -> str:
        return self.catalog.t(lang, key, **params)

    def invite_link(self, code: str) -> str:
        return f"https://t.me/{self.bot_username or 'your_bot'}?start={code}"


class Ctx(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[str, Any]]):
    """The callback context of Välitupa, with typed access to the services."""

    @property
    def services(self) -> Services:
        return cast(Services, self.application.bot_data["services"])
