"""Running the bot: migrations, the Application, long polling, and a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket

from telegram import Update

from bot.app import build_application
from bot.clock import Clock, SystemClock
from bot.context import Services
from bot.settings import Settings
from messages import default_catalog
from storage import migrate
from storage.db import Database

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]


def make_services(settings: Settings, db: Database, clock: Clock | None = None) -> Services:
    return Services(
        settings=settings,
        db=db,
        clock=clock or SystemClock(),
        catalog=default_catalog(),
        instance=settings.instance_name or socket.gethostname(),
    )


async def run(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    settings.require_token()
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    services = make_services(settings, db)
    application = build_application(services)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with application:
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(allowed_updates=ALLOWED_UPDATES)
            log.info("Välitupa is running (long polling) as @%s", services.bot_username)
            await stop.wait()
            log.info("stopping")
            await application.updater.stop()
            await application.stop()
    finally:
        await db.dispose()
