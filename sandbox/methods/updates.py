"""Getting updates to the bot: the queue of pending updates, long polling with getUpdates, and
webhook delivery (setWebhook, deleteWebhook, getWebhookInfo) by workers that keep each chat in order."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from sandbox.events import Signal
from sandbox.protocol import ApiError, MethodTable, Params, Upload, dumps
from sandbox.state import State

logger = logging.getLogger(__name__)

WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_OTHER = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    queues: list[asyncio.Queue[dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookOptions:
    retries: int = 3
    backoff: float = 0.05
    timeout: float = 10.0


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")


def _update_chat_key(update: dict[str, Any]) -> int:
    """The chat an update belongs to; the webhook delivers one chat's updates in order."""
    payload = update[_update_type(update)]
    for path in (("chat", "id"), ("message", "chat", "id"), ("from", "id"), ("user", "id")):
        node: Any = payload
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, int):
            return node
    return 0


def _allowed_set(allowed: Iterable[Any]) -> frozenset[str]:
    chosen = frozenset(str(a) for a in allowed)
    return chosen or frozenset(UPDATE_TYPES) - _NOT_BY_DEFAULT


class Updates:
    """Updates waiting for the bot, until it confirms them (polling) or accepts them (webhook)."""

    def __init__(
        self,
        state: State,
        *,
        stats: Counter[str],
        changed: Signal,
        max_pending: int,
        webhook: WebhookOptions,
    ) -> None:
        self.state = state
        self.stats = stats
        self.changed = changed
        self.consumed = Signal()
        self.pending: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.webhook: Webhook | None = None
        self.closing = False
        self._max_pending = max_pending
        self._options = webhook
        self._last_update_id = 100_000
        self._allowed: frozenset[str] = frozenset(UPDATE_TYPES) - _NOT_BY_DEFAULT
        self._poll_generation = 0
        self._wake_generation = 0
        self._session: aiohttp.ClientSession | None = None

    def register(self, table: MethodTable) -> None:
        table.update(
            {
                "getUpdates": self.get_updates,
                "setWebhook": self.set_webhook,
                "deleteWebhook": self.delete_webhook,
                "getWebhookInfo": self.get_webhook_info,
            }
        )

    def open(self) -> None:
        self.closing = False
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._options.timeout))

    async def close(self) -> None:
        """End long polls at once and stop webhook delivery."""
        self.closing = True
        self.consumed.notify()
        await self._stop_webhook_workers()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def wake_pollers(self) -> None:
        self._wake_generation += 1
        self.consumed.notify()

    async def deliver(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update for getUpdates or the webhook; ``None`` if allowed_updates filters it out."""
        if update_type not in self._allowed:
            self.stats["updates_filtered"] += 1
            return None
        if len(self.pending) >= self._max_pending:
            try:
                async with asyncio.timeout(30.0):
                    await self.consumed.wait_for(
                        lambda: len(self.pending) < self._max_pending or self.closing
                    )
            except TimeoutError:
                raise RuntimeError(
                    f"{self._max_pending} updates are waiting and nobody fetches them: is the bot running?"
                ) from None
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, update_type: payload}
        self.pending[self._last_update_id] = update
        self.stats["updates"] += 1
        if self.webhook is not None:
            self._route(self.webhook, update)
        self.consumed.notify()
        self.changed.notify()
        return update

    async def get_updates(self, params: Params, uploads: dict[str, Upload]) -> list[dict[str, Any]]:
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        self._poll_generation += 1
        generation = self._poll_generation
        self.consumed.notify()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed = _allowed_set(allowed)
        offset = params.get("offset")
        if isinstance(offset, int) and offset:
            self._confirm(offset)
        limit = params.get("limit")
        limit = limit if isinstance(limit, int) and 1 <= limit <= 100 else 100
        timeout = params.get("timeout")
        timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 0.0
        if not self.pending and timeout and not self.closing:
            await self._long_poll(generation, timeout)
        if self._poll_generation != generation and not self.closing:
            raise ApiError(409, TERMINATED_BY_OTHER)
        if self.webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        return list(itertools.islice(self.pending.values(), limit))

    async def _long_poll(self, generation: int, seconds: float) -> None:
        """Wait for an update, a newer poll, a webhook, :meth:`wake_pollers` or the end of ``seconds``."""
        woken = self._wake_generation
        self.stats["long_polls"] += 1
        self.changed.notify()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(min(seconds, 50.0)):
                await self.consumed.wait_for(
                    lambda: (
                        bool(self.pending)
                        or self.closing
                        or self._poll_generation != generation
                        or self._wake_generation != woken
                        or self.webhook is not None
                    )
                )

    def _confirm(self, offset: int) -> None:
        pending = self.pending
        if offset > 0:
            while pending and next(iter(pending)) < offset:
                pending.popitem(last=False)
        else:
            while len(pending) > -offset:
                pending.popitem(last=False)
        self.consumed.notify()

    async def set_webhook(self, params: Params, uploads: dict[str, Upload]) -> bool:
        url = params.get("url")
        if not isinstance(url, str) or not url:
            await self._remove_webhook(drop=bool(params.get("drop_pending_updates")))
            return True
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and (not isinstance(secret, str) or not _SECRET_TOKEN.fullmatch(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        max_connections = params.get("max_connections")
        if not isinstance(max_connections, int) or not 1 <= max_connections <= 100:
            max_connections = 40
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed = _allowed_set(allowed)
        if params.get("drop_pending_updates"):
            self.pending.clear()
        await self._stop_webhook_workers()
        ip_address = params.get("ip_address")
        self.webhook = Webhook(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            ip_address=ip_address if isinstance(ip_address, str) else None,
        )
        self._start_webhook_workers(self.webhook)
        self.consumed.notify()
        return True

    async def delete_webhook(self, params: Params, uploads: dict[str, Upload]) -> bool:
        await self._remove_webhook(drop=bool(params.get("drop_pending_updates")))
        return True

    async def _remove_webhook(self, *, drop: bool) -> None:
        await self._stop_webhook_workers()
        self.webhook = None
        if drop:
            self.pending.clear()
        self.consumed.notify()

    async def get_webhook_info(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        hook = self.webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["allowed_updates"] = sorted(self._allowed)
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    def _start_webhook_workers(self, hook: Webhook) -> None:
        count = min(hook.max_connections, 8)
        hook.queues = [asyncio.Queue() for _ in range(count)]
        hook.workers = [
            asyncio.create_task(self._webhook_worker(hook, queue), name=f"sandbox-webhook-{index}")
            for index, queue in enumerate(hook.queues)
        ]
        for update in self.pending.values():
            self._route(hook, update)

    async def _stop_webhook_workers(self) -> None:
        hook = self.webhook
        if hook is None:
            return
        for worker in hook.workers:
            worker.cancel()
        await asyncio.gather(*hook.workers, return_exceptions=True)
        hook.workers = []
        hook.queues = []

    @staticmethod
    def _route(hook: Webhook, update: dict[str, Any]) -> None:
        if hook.queues:
            hook.queues[_update_chat_key(update) % len(hook.queues)].put_nowait(update)

    async def _webhook_worker(self, hook: Webhook, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Deliver one share of the chats' updates in order, retrying a failed POST with backoff."""
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        retries = self._options.retries
        while True:
            update = await queue.get()
            update_id = update["update_id"]
            if update_id not in self.pending:
                continue
            for attempt in range(retries + 1):
                error = await self._post_update(hook, update, headers)
                if error is None:
                    self.stats["webhook_deliveries"] += 1
                    break
                self.stats["webhook_errors"] += 1
                hook.last_error_date = self.state.now()
                hook.last_error_message = error
                if attempt < retries:
                    await asyncio.sleep(self._options.backoff * 2**attempt)
            else:
                self.stats["webhook_dropped"] += 1
                logger.warning("Sandbox gave up delivering update %s to %s", update_id, hook.url)
            self.pending.pop(update_id, None)
            self.consumed.notify()
            self.changed.notify()

    async def _post_update(
        self, hook: Webhook, update: dict[str, Any], headers: dict[str, str]
    ) -> str | None:
        """POST one update; ``None`` on a 2xx answer, else the error as getWebhookInfo would show it."""
        assert self._session is not None
        try:
            async with self._session.post(hook.url, data=dumps(update).encode(), headers=headers) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"Connection failed: {type(error).__name__}"
