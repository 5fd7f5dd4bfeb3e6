"""The web side of a running Välitupa: the Telegram webhook, ``/healthz``, ``/metrics`` and the
facilitator's room (``/app/``, :mod:`bot.room.api`) on aiohttp.

The same server runs in both modes (``LISTEN_HOST``/``LISTEN_PORT``); the webhook route exists only
when ``WEBHOOK_URL`` is set, at that URL's path (a TLS proxy in front forwards to it).

A webhook request is trusted only with the right ``X-Telegram-Bot-Api-Secret-Token`` (compared in
constant time; 403 otherwise) and only if the body is an update (400 otherwise: not JSON, NaN or
Infinity, nesting deeper than any update, an integer past 64 bits, or nothing PTB can read). The
update is then written to the durable inbox (:mod:`bot.infra.inbox`) and committed *before* the 200,
so from that answer on it survives any crash; an update Telegram delivers again — after a timeout,
or to another instance — finds its row and is handled once. If the database cannot store it the
answer is 503 and Telegram delivers it again later; nothing is lost. While the process stops, new
updates get 503 too, so Telegram hands them to another instance or to this one after its restart.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.error import TelegramError
from telegram.ext import Application, ExtBot

from bot.context import Services
from bot.domain.states import DeliveryState
from bot.infra import inbox
from bot.room.api import Room
from storage.models import Delivery, InboxUpdate

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
# A dispatcher that has not ticked for this long is stuck; /healthz says so.
DISPATCHER_STALE_S = 120.0
# Telegram unreachable for this long makes /healthz fail (a restart may fix a wedged connection pool).
TELEGRAM_STALE_S = 300.0
TELEGRAM_PROBE_INTERVAL_S = 60.0
DATABASE_TIMEOUT_S = 3.0
# /metrics reads the outbox at most this often, however often it is scraped.
GAUGE_REFRESH_S = 5.0
# What generate_latest() writes.
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def webhook_path(webhook_url: str) -> str:
    """The path the webhook is served at: that of ``WEBHOOK_URL`` (``/`` when it has none)."""
    return urlsplit(webhook_url).path or "/"


class TelegramWatch:
    """When the Bot API last answered: recorded on start-up, then by a probe once a minute."""

    def __init__(self) -> None:
        self.last_ok: float | None = None
        self.last_ok_at: datetime | None = None
        self.last_error: str | None = None

    def ok(self) -> None:
        self.last_ok = time.monotonic()
        self.last_ok_at = datetime.now(UTC)

    def age(self) -> float | None:
        return None if self.last_ok is None else time.monotonic() - self.last_ok

    async def probe(self, bot: ExtBot[Any]) -> bool:
        try:
            await bot.get_me()
        except (TelegramError, OSError) as error:
            self.last_error = type(error).__name__
            log.warning("the Bot API did not answer: %s", self.last_error)
            return False
        self.ok()
        return True

    async def run(self, bot: ExtBot[Any], interval: float = TELEGRAM_PROBE_INTERVAL_S) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.probe(bot)


@dataclass(frozen=True)
class WebhookRoute:
    path: str
    secret: str


class WebMetrics:
    """What only the web side knows, exposed after the Application's own metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.webhook_requests = Counter(
            "valitupa_webhook_requests_total",
            "Webhook requests, by outcome (accepted, duplicate…).",
            ["outcome"],
            registry=registry,
        )
        self.deliveries_by_state = Gauge(
            "valitupa_deliveries", "Deliveries in the outbox, by state.", ["state"], registry=registry
        )
        self.leader = Gauge("valitupa_leader", "1 when this instance leads the scheduler.", registry=registry)
        self.dispatcher_age = Gauge(
            "valitupa_dispatcher_tick_age_seconds", "Seconds since the last tick.", registry=registry
        )
        self.telegram_age = Gauge(
            "valitupa_telegram_ok_age_seconds", "Seconds since the Bot API last answered.", registry=registry
        )
        self.processed_updates = Gauge(
            "valitupa_processed_updates",
            "Updates in the inbox: waiting to be handled, or handled ids kept for deduplication.",
            registry=registry,
        )


def dispatcher_age(services: Services) -> float | None:
    """Seconds since the dispatcher's last tick (monotonic), or None when it has not ticked yet."""
    dispatcher = services.dispatcher
    if dispatcher is None or dispatcher.last_tick is None:
        return None
    return max(0.0, time.monotonic() - dispatcher.last_tick)


class WebServer:
    """The aiohttp server of one Välitupa process."""

    def __init__(
        self,
        application: Application,
        *,
        host: str,
        port: int,
        webhook: WebhookRoute | None = None,
        telegram: TelegramWatch | None = None,
    ) -> None:
        self.application = application
        self.services: Services = application.bot_data["services"]
        self.host, self.requested_port = host, port
        self.webhook = webhook
        self.telegram = telegram or TelegramWatch()
        self.metrics = WebMetrics()
        self.refusing = False
        self._runner: web.AppRunner | None = None
        self._gauge_read_at = -GAUGE_REFRESH_S
        self._gauge_lock = asyncio.Lock()
        self._started_at = time.monotonic()
        self.room = Room(application)

    @property
    def port(self) -> int:
        assert self._runner is not None, "the web server is not started"
        return int(self._runner.addresses[0][1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def build(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        # The facilitator's room (Mini App) at /app/; a TLS proxy forwards only it and the webhook.
        self.room.add_routes(app)
        if self.webhook is not None:
            app.router.add_post(self.webhook.path, self.receive)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.build(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.requested_port).start()
        self._started_at = time.monotonic()
        log.info("web server listening on %s", self.url)

    async def stop(self) -> None:
        await self.room.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def refuse_updates(self) -> None:
        """Answer new webhook updates with 503 from now on (shutting down)."""
        self.refusing = True

    async def receive(self, request: web.Request) -> web.Response:
        assert self.webhook is not None
        given = request.headers.get(SECRET_HEADER)
        if given is None or not hmac.compare_digest(given.encode(), self.webhook.secret.encode()):
            self.metrics.webhook_requests.labels(outcome="forbidden").inc()
            return web.Response(status=403, text="forbidden")
        if self.refusing:
            self.metrics.webhook_requests.labels(outcome="refused").inc()
            return web.Response(status=503, text="shutting down")
        received = inbox.parse_update(inbox.decode(await request.read()), self.application.bot)
        if received is None:
            self.metrics.webhook_requests.labels(outcome="bad_request").inc()
            return web.Response(status=400, text="not an update")
        updates = self.services.updates
        assert updates is not None, "the Application has no inbox"
        try:
            # Stored (committed) before the 200: from here on the update survives any crash.
            fresh = await updates.accept([received])
        except Exception as error:
            log.warning("could not store webhook update %s: %s", received.update_id, type(error).__name__)
            self.metrics.webhook_requests.labels(outcome="unavailable").inc()
            return web.Response(status=503, text="try again")
        if not fresh:
            self.metrics.webhook_requests.labels(outcome="duplicate").inc()
            log.info("update %s was delivered again; handled once", received.update_id)
            return web.Response(text="ok")
        self.metrics.webhook_requests.labels(outcome="accepted").inc()
        return web.Response(text="ok")

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether this process is fit to serve, with the reasons, as /healthz shows them."""
        services = self.services
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_S):
                database_ok = await services.db.ping()
        except TimeoutError:
            database_ok = False
        age = dispatcher_age(services)
        has_dispatcher = services.dispatcher is not None
        # Before its first tick the dispatcher counts as alive for as long as a tick may take to come.
        waited = age if age is not None else time.monotonic() - self._started_at
        dispatcher_ok = not has_dispatcher or waited <= DISPATCHER_STALE_S
        telegram_age = self.telegram.age()
        telegram_ok = telegram_age is not None and telegram_age <= TELEGRAM_STALE_S
        leading = services.leader is not None and services.leader.leading
        body: dict[str, Any] = {
            "status": "ok",
            "instance": services.instance,
            "mode": "webhook" if self.webhook else "polling",
            "leader": leading,
            "database": {"ok": database_ok, "backend": services.db.backend},
            "dispatcher": {
                "ok": dispatcher_ok,
                "running": has_dispatcher,
                "last_tick_age_s": None if age is None else round(age, 1),
            },
            "telegram": {
                "ok": telegram_ok,
                "last_ok_at": self.telegram.last_ok_at.isoformat() if self.telegram.last_ok_at else None,
                "last_ok_age_s": None if telegram_age is None else round(telegram_age, 1),
                "last_error": self.telegram.last_error,
            },
        }
        healthy = database_ok and dispatcher_ok and telegram_ok
        if self.refusing:
            body["stopping"] = True
        if not healthy:
            body["status"] = "fail"
        return healthy, body

    async def healthz(self, request: web.Request) -> web.Response:
        healthy, body = await self.health()
        return web.json_response(body, status=200 if healthy else 503)

    async def refresh_gauges(self) -> None:
        """Outbox counts by state (one grouped count on an indexed column), at most every few seconds."""
        async with self._gauge_lock:
            if time.monotonic() - self._gauge_read_at < GAUGE_REFRESH_S:
                return
            self._gauge_read_at = time.monotonic()

            async def counts(session: AsyncSession) -> tuple[dict[str, int], int]:
                rows = await session.execute(select(Delivery.state, func.count()).group_by(Delivery.state))
                processed = await session.scalar(select(func.count()).select_from(InboxUpdate))
                return {str(state): int(count) for state, count in rows.all()}, int(processed or 0)

            try:
                async with asyncio.timeout(DATABASE_TIMEOUT_S):
                    by_state, processed = await self.services.db.run(counts, attempts=1)
            except Exception as error:
                log.warning("could not read the outbox for /metrics: %s", type(error).__name__)
                return
            gauge = self.metrics.deliveries_by_state
            for state in {*DeliveryState, *by_state}:
                gauge.labels(state=state).set(by_state.get(state, 0))
            self.metrics.processed_updates.set(processed)

    async def metrics_page(self, request: web.Request) -> web.Response:
        await self.refresh_gauges()
        leader = self.services.leader
        self.metrics.leader.set(1.0 if leader is not None and leader.leading else 0.0)
        age = dispatcher_age(self.services)
        if age is not None:
            self.metrics.dispatcher_age.set(age)
        telegram_age = self.telegram.age()
        if telegram_age is not None:
            self.metrics.telegram_age.set(telegram_age)
        body = generate_latest(self.services.metrics.registry) + generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": PROMETHEUS_CONTENT_TYPE})
