"""Running the bot: migrations, the Application, updates by webhook or long polling, and a clean stop.

One process (:class:`Runtime`) is, in order: a lock that keeps a second instance off a SQLite file,
migrations (serialised between instances on PostgreSQL), the Application with its hooks, the web
server (webhook, ``/healthz``, ``/metrics``; in polling mode too), scheduler leadership, and updates.

Several instances may share one PostgreSQL database. With ``WEBHOOK_URL`` they all serve the
webhook behind the proxy. Long polling cannot be shared (Telegram answers a second ``getUpdates``
with a conflict), so in polling mode only the leader polls, and another instance starts polling
within seconds of taking over.

Every update is stored in the durable inbox before it is acknowledged (:mod:`bot.infra.inbox`), and
handled from there in order per person (:mod:`bot.infra.updates`).

SIGTERM (or SIGINT) stops in this order: new webhook updates get 503 and polling stops; the updates
in hand (those queued stay in the inbox for the next start) and the dispatcher's delivery in hand
finish (the dispatcher sees ``Services.stopping`` and
releases what it claimed but did not send); leadership is released; everything closes. All of it is
bounded by :data:`STOP_TIMEOUT` so the process is gone before an orchestrator's kill.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.app import build_application
from bot.context import Services
from bot.domain import words
from bot.domain.clock import Clock, SystemClock
from bot.infra.leader import InstanceLock, Leader, migration_lock, sqlite_path
from bot.infra.logs import bind
from bot.infra.updates import Poller
from bot.infra.web import TelegramWatch, WebhookRoute, WebServer, webhook_path
from bot.settings import HINTS, Settings, SettingsError
from messages import default_catalog
from storage import migrate
from storage.db import Database

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
# Everything after SIGTERM must fit in this (Docker's default grace period is 10 s too).
STOP_TIMEOUT = 10.0
# How often a follower in polling mode looks for a vacant leadership.
LEADERSHIP_CHECK_S = 5.0


def make_services(settings: Settings, db: Database, clock: Clock | None = None) -> Services:
    return Services(
        settings=settings,
        db=db,
        clock=clock or SystemClock(),
        catalog=default_catalog(),
        # The pid keeps two instances on one host apart: claims are made in this name.
        instance=settings.instance_name or f"{socket.gethostname()}-{os.getpid()}",
    )


def check_settings(settings: Settings) -> None:
    """Refuse settings ``run`` cannot work with, with one line naming the variable.

    A webhook without a secret would let anyone who guesses the URL inject updates, so
    ``WEBHOOK_SECRET`` is required rather than generated: a generated one would differ between
    instances and restarts, and each instance's ``setWebhook`` would lock the others out.
    """
    settings.require_token()
    if settings.webhook_url and settings.webhook_secret is None:
        raise SettingsError(
            "WEBHOOK_SECRET is not set: WEBHOOK_URL needs it so that only Telegram can post updates "
            f"({HINTS['WEBHOOK_SECRET']}; e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')."
        )


class Runtime:
    """One running Välitupa process; ``start``, then ``stop`` (both idempotent)."""

    def __init__(self, settings: Settings, *, db: Database | None = None, clock: Clock | None = None) -> None:
        check_settings(settings)
        self.settings = settings
        self.db = db or Database(settings.database_url)
        self._owns_db = db is None
        self.clock = clock
        self.webhook = settings.webhook_url is not None
        self.instance_lock: InstanceLock | None = None
        self.services: Services | None = None
        self.application: Application | None = None
        self.server: WebServer | None = None
        self.poller: Poller | None = None
        self.leader: Leader | None = None
        self.telegram = TelegramWatch()
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._started: list[str] = []
        self._polling_lock = asyncio.Lock()

    @property
    def polls_only_as_leader(self) -> bool:
        return not self.webhook and self.db.is_postgres

    async def start(self) -> None:
        path = sqlite_path(self.db)
        if path is not None:
            self.instance_lock = InstanceLock(path)
            self.instance_lock.acquire()
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        settings = self.settings
        try:
            async with migration_lock(self.db):
                await migrate.upgrade(self.db)
        except (OSError, DBAPIError) as error:
            where = make_url(self.db.url).render_as_string(hide_password=True)
            raise SettingsError(
                f"DATABASE_URL: the database at {where} cannot be used ({type(error).__name__}); "
                "check that it runs and that the URL, user and password are right."
            ) from error
        services = make_services(settings, self.db, self.clock)
        self.services = services
        bind(instance=services.instance)
        self.leader = Leader(self.db, instance=services.instance)
        services.leader = self.leader
        services.stopping = self.stopping
        application = build_application(services)
        self.application = application
        if self.webhook and services.updates is not None:
            # Behind a webhook one person's updates may reach any instance: a claim kept after the
            # queue ran empty would make those reaching another one wait for this one's sweep.
            services.updates.linger = 0.0
        self.server = WebServer(
            application,
            host=settings.listen_host,
            port=settings.listen_port,
            webhook=self._webhook_route(),
            telegram=self.telegram,
        )

        try:
            await application.initialize()  # getMe: the Bot API answers and the token is good
        except InvalidToken as error:
            raise SettingsError(
                "BOT_TOKEN was refused by Telegram: copy it again from @BotFather (/token)."
            ) from error
        except NetworkError as error:
            raise SettingsError(
                f"TELEGRAM_API_URL: the Bot API at {settings.telegram_api_url} does not answer "
                f"({type(error).__name__}); check the network, a proxy, or the URL."
            ) from error
        except Exception as error:
            # An answer PTB cannot read (a field missing, not JSON): one line, not a traceback.
            detail = " ".join(str(error).split())[:160]
            raise SettingsError(
                f"TELEGRAM_API_URL: the Bot API at {settings.telegram_api_url} answered getMe with "
                f"something that is not a bot ({type(error).__name__}: {detail}); is it Telegram's Bot API?"
            ) from error
        self._started.append("initialized")
        self.telegram.ok()
        if application.post_init is not None:
            await application.post_init(application)
        await self.server.start()
        self._started.append("web")
        await self.leader.is_leader()
        await application.start()
        self._started.append("application")
        if self.webhook:
            await self._set_webhook(application)
        elif not self.polls_only_as_leader or self.leader.leading:
            await self._start_polling()
        if self.polls_only_as_leader:
            self._tasks.append(asyncio.create_task(self._follow_leadership(), name="leadership"))
        self._tasks.append(asyncio.create_task(self.telegram.run(application.bot), name="telegram-probe"))
        log.info(
            "Välitupa is running (%s) as @%s; instance %s%s",
            "webhook" if self.webhook else "long polling",
            services.bot_username,
            services.instance,
            ", leader" if self.leader.leading else "",
        )

    def _webhook_route(self) -> WebhookRoute | None:
        settings = self.settings
        if settings.webhook_url is None or settings.webhook_secret is None:
            return None
        return WebhookRoute(
            path=webhook_path(settings.webhook_url), secret=settings.webhook_secret.get_secret_value()
        )

    async def _set_webhook(self, application: Application) -> None:
        settings = self.settings
        assert settings.webhook_url is not None
        assert settings.webhook_secret is not None
        # Every instance sets the same webhook; it is idempotent, and a stopping instance leaves it
        # in place so Telegram keeps the updates for the others (or for this one after a restart).
        await application.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=40,
        )

    async def _start_polling(self) -> None:
        assert self.application is not None
        assert self.services is not None
        assert self.services.updates is not None
        async with self._polling_lock:
            if self.stopping.is_set() or (self.poller is not None and self.poller.running):
                return
            self.poller = Poller(self.application, self.services.updates, allowed_updates=ALLOWED_UPDATES)
            await self.poller.start()
            log.info("polling for updates")

    async def _stop_polling(self) -> None:
        async with self._polling_lock:
            if self.poller is not None:
                await self.poller.stop()

    async def _follow_leadership(self) -> None:
        """Polling mode on PostgreSQL: poll while leading, stop when leadership is lost."""
        assert self.leader is not None
        while not self.stopping.is_set():
            leading = await self.leader.is_leader()
            try:
                if leading:
                    await self._start_polling()
                else:
                    await self._stop_polling()
            except TelegramError as error:
                log.warning("could not switch polling: %s", type(error).__name__)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LEADERSHIP_CHECK_S):
                    await self.stopping.wait()

    async def stop(self) -> None:
        """Finish what is in hand and close everything, within :data:`STOP_TIMEOUT`."""
        began = time.monotonic()
        self.stopping.set()
        if self.server is not None:
            self.server.refuse_updates()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        application = self.application
        try:
            async with asyncio.timeout(max(1.0, STOP_TIMEOUT - 2.5)):
                await self._stop_polling()
                if self.services is not None and self.services.updates is not None:
                    # The updates in hand finish; the queued ones stay in the inbox for the next start.
                    await self.services.updates.stop()
                if application is not None and application.running:
                    # Waits for the running jobs.
                    await application.stop()
        except TimeoutError:
            log.error("updates or jobs in hand did not finish in time; stopping anyway")
        if self.leader is not None:
            await self.leader.close()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        if application is not None and "initialized" in self._started:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.5):
                    await application.shutdown()
            if application.post_shutdown is not None:
                with contextlib.suppress(Exception):
                    await application.post_shutdown(application)
        elif self.services is not None:
            # initialize() failed after opening the HTTP sessions (getMe refused): close them here.
            for transport in self.services.transports:
                await transport.shutdown()
        started = bool(self._started)
        self._started.clear()
        if self._owns_db:
            await self.db.dispose()
        if self.instance_lock is not None:
            self.instance_lock.release()
            self.instance_lock = None
        if started:
            log.info("stopped in %.2f s", time.monotonic() - began)


async def settle_heap() -> None:
    """Once the process has started and its dictionaries are loaded, freeze what is in memory out
    of the garbage collector's full collections (:func:`gc.freeze`).

    What a running bot keeps for good (modules, SQLAlchemy's mappers and compiled statements, the
    holidays, the catalogues) is most of its heap, and every full collection walked all of it: a
    pause of tens of milliseconds in the middle of someone's acknowledgement, which is what the p99 at
    an offered 100 updates/s was made of. Frozen objects are still freed when nothing refers to them;
    only cycles among them are not looked for, and there are none to find after the collection just
    before the freeze. Done in ``valitupa run`` only: a test process that starts many bots would keep
    each one's cycles."""
    try:
        await asyncio.to_thread(words.preload)  # returns when post_init's loading has finished
    except Exception as error:  # the digest and idea checks load them again when asked
        log.warning("could not load the lemmatiser's dictionaries: %s", type(error).__name__)
    gc.collect()
    gc.freeze()
    log.debug("start-up heap frozen: %d objects", gc.get_freeze_count())


async def run(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    """``valitupa run``: serve until SIGTERM/SIGINT (or ``stop`` is set), then stop cleanly."""
    runtime = Runtime(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await runtime.start()
        await settle_heap()
        await stop.wait()
        log.info("stopping")
    finally:
        await runtime.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
