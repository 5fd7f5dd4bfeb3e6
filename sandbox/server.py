"""A local Telegram Bot API for end-to-end tests and benchmarks.

:class:`BotApiSandbox` is an aiohttp server that answers the Bot API methods Välitupa uses the way
api.telegram.org answers them (status codes, error descriptions, Message objects PTB can parse), so a
real ``telegram.ext.Application`` runs against it unchanged. Tests drive it from the other side with
simulated users (:meth:`BotApiSandbox.user`), inject faults (429, 403, any error), and read back every
request the bot made, each checked against the official Bot API description.

Everything runs on the test's event loop. Waiting is event-driven: long polls, ``next_message`` and
``wait_until`` wake on the change they wait for, never on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import mimetypes
import re
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
from aiohttp import web

from sandbox.formatting import EntityParseError, FormattedText, parse_text, utf16_len
from sandbox.media import image_size, sample_content
from sandbox.users import ChatLog, SimulatedUser
from sandbox.validate import (
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    PARSE_MODES,
    decode_params,
    load_spec,
    validate_request,
)

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "SANDBOX_TOKEN",
    "ApiError",
    "BotApiSandbox",
    "Hold",
    "RecordedRequest",
    "StoredFile",
    "Upload",
]

logger = logging.getLogger(__name__)

BOT_ID = 123456789
BOT_USERNAME = "valitupa_test_bot"
BOT_FIRST_NAME = "Välitupa"
SANDBOX_TOKEN = f"{BOT_ID}:AAHvalitupaSandboxToken0123456789ab"
TOKEN_PATTERN = re.compile(r"\d+:[A-Za-z0-9_-]{35}")

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BLOCKED = "Forbidden: bot was blocked by the user"
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
_MAX_UPLOAD = 50 * 1024 * 1024
_MAX_PHOTO_UPLOAD = 10 * 1024 * 1024
_MAX_DOWNLOAD = 20 * 1024 * 1024
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict: injected failure",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_FILE_DIRECTORIES = {
    "photo": ("photos", ".jpg"),
    "document": ("documents", ""),
    "voice": ("voice", ".oga"),
    "audio": ("music", ".mp3"),
    "video": ("videos", ".mp4"),
    "video_note": ("video_notes", ".mp4"),
    "sticker": ("stickers", ".webp"),
}
_FILE_ID_PREFIXES = {
    "photo": "AgACAgQAAxkBAAI",
    "document": "BQACAgQAAxkBAAI",
    "voice": "AwACAgQAAxkBAAI",
    "audio": "CQACAgQAAxkBAAI",
    "video": "BAACAgQAAxkBAAI",
    "video_note": "DQACAgQAAxkBAAI",
    "sticker": "CAACAgQAAxkBAAI",
}

Params = dict[str, Any]
Handler = Callable[[Params, "dict[str, Upload]"], Awaitable[Any]]


class ApiError(Exception):
    """An error answer exactly as Telegram shapes it: ``{"ok": false, "error_code", "description"}``."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass(frozen=True)
class Upload:
    """One file part of a multipart request."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class RecordedRequest:
    """One Bot API call the bot made, with what the validator found wrong with it."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]
    time: float
    problems: list[str]
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass
class StoredFile:
    """A file the sandbox can hand out through getFile and the download route."""

    file_id: str
    file_unique_id: str
    file_path: str
    kind: str
    data: bytes
    file_name: str | None = None
    mime_type: str | None = None
    photo_sizes: list[dict[str, Any]] | None = None

    @property
    def file_size(self) -> int:
        return len(self.data)


@dataclass
class _Fault:
    error_code: int
    description: str
    retry_after: int | None
    remaining: int


@dataclass
class _StoredMessage:
    api: dict[str, Any]
    from_bot: bool
    extra_markup: dict[str, Any] | None = None


@dataclass
class _ChatState:
    chat: dict[str, Any]
    log: ChatLog
    messages: dict[int, _StoredMessage] = field(default_factory=dict)
    last_message_id: int = 0

    def next_message_id(self) -> int:
        self.last_message_id += 1
        return self.last_message_id


@dataclass
class _CallbackQuery:
    user: SimulatedUser
    created: float
    answered: bool = False


@dataclass
class _Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None
    workers: list[asyncio.Task[None]] = field(default_factory=list)
    queues: list[asyncio.Queue[dict[str, Any]]] = field(default_factory=list)


class _TokenBucket:
    """``rate`` sends per second with a burst of one second's worth; answers how long to wait if empty."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def retry_after(self, now: float) -> int | None:
        self._refill(now)
        if self.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))

    def take(self) -> None:
        self.tokens -= 1.0


class _Signal:
    """Wake every coroutine waiting for some state to change; no polling, no lost wake-ups."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; callers bound the wait with ``asyncio.timeout``."""
        while not predicate():
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()


class Hold:
    """Requests of one method that the sandbox keeps unanswered, before they take any effect, until
    the test releases them: a request on the wire, made to last as long as a test needs.

    The first ``after`` requests pass; later ones are parked. A parked request whose client hangs up
    ends as such (recorded with status 499, no effect), as a real one would.
    """

    def __init__(self, method: str, *, after: int, changed: _Signal) -> None:
        self.method = method
        self.parked = 0
        self._passing = after
        self._changed = changed
        self._released = asyncio.Event()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    async def gate(self) -> None:
        if self._released.is_set():
            return
        if self._passing > 0:
            self._passing -= 1
            return
        self.parked += 1
        self._changed.notify()
        try:
            await self._released.wait()
        finally:
            self.parked -= 1
            self._changed.notify()

    async def wait_parked(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until exactly ``count`` requests are parked (0: every parked one was let go or ended)."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait_for(lambda: self.parked == count)
        except TimeoutError:
            raise TimeoutError(f"{self.parked} {self.method} requests parked, not {count}") from None

    def release(self) -> None:
        """Let every parked request go on, and stop holding."""
        self._released.set()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _inline_markup(markup: Any) -> dict[str, Any] | None:
    """The part of ``reply_markup`` Telegram keeps on a Message: a non-empty inline keyboard."""
    if isinstance(markup, dict) and markup.get("inline_keyboard"):
        return markup
    return None


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


class BotApiSandbox:
    """A Bot API server for one bot, with simulated users, fault injection and request validation.

    Use ``async with BotApiSandbox() as sandbox`` (or :meth:`start`/:meth:`stop`) and point PTB at it
    with ``.base_url(sandbox.base_url).base_file_url(sandbox.base_file_url)``. Any token of Telegram's
    shape is accepted; :data:`SANDBOX_TOKEN` is a ready one.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        max_pending_updates: int = 10_000,
        webhook_retries: int = 3,
        webhook_backoff: float = 0.05,
        webhook_timeout: float = 10.0,
        callback_query_ttl: float | None = None,
    ) -> None:
        self._clock = clock
        self._max_pending = max_pending_updates
        self._webhook_retries = webhook_retries
        self._webhook_backoff = webhook_backoff
        self._webhook_timeout = webhook_timeout
        self._callback_query_ttl = callback_query_ttl

        self.token = SANDBOX_TOKEN
        self.bot_user: dict[str, Any] = {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": BOT_FIRST_NAME,
            "username": BOT_USERNAME,
        }
        self.requests: list[RecordedRequest] = []
        self.stats: Counter[str] = Counter()
        self.commands_by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}
        self.files: dict[str, StoredFile] = {}

        self._violations: list[str] = []
        self._by_method: defaultdict[str, list[RecordedRequest]] = defaultdict(list)
        self._changed = _Signal()
        self._updates_changed = _Signal()
        self._pending: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._last_update_id = 100_000
        self._allowed_updates: frozenset[str] = frozenset(UPDATE_TYPES) - _NOT_BY_DEFAULT
        self._poll_generation = 0
        self._wake_generation = 0
        self._webhook: _Webhook | None = None
        self._chats: dict[int, _ChatState] = {}
        self._users: dict[int, SimulatedUser] = {}
        self._blocked: set[int] = set()
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_serial = 0
        self._callback_queries: dict[str, _CallbackQuery] = {}
        self._callback_serial = 0
        self._faults: defaultdict[str, list[_Fault]] = defaultdict(list)
        self._global_bucket: _TokenBucket | None = None
        self._chat_rate: float | None = None
        self._chat_buckets: dict[int, _TokenBucket] = {}
        self._answering = 0
        self._holds: list[Hold] = []
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._url: str | None = None
        self._handlers: dict[str, Handler] = {
            "getMe": self._get_me,
            "logOut": self._true,
            "close": self._true,
            "getUpdates": self._get_updates,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "setChatMenuButton": self._set_chat_menu_button,
            "getChatMenuButton": self._get_chat_menu_button,
            "setMyDescription": self._set_bot_text("description"),
            "getMyDescription": self._get_bot_text("description"),
            "setMyShortDescription": self._set_bot_text("short_description"),
            "getMyShortDescription": self._get_bot_text("short_description"),
            "setMyName": self._set_bot_text("name"),
            "getMyName": self._get_bot_text("name"),
            "getChat": self._get_chat,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "editMessageCaption": self._edit_message_caption,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "getFile": self._get_file,
        }

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; see :attr:`url`)."""
        app = web.Application(client_max_size=_MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)
        app.router.add_post("/sandbox/users/{user_id}/{action}", self._handle_control_action)
        app.router.add_get("/sandbox/users/{user_id}/messages", self._handle_control_messages)
        app.router.add_get("/sandbox/state", self._handle_control_state)
        self._closing = False
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._webhook_timeout))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self._url = f"http://{host}:{bound_port}"
        logger.debug("Bot API sandbox listening on %s", self._url)

    async def stop(self) -> None:
        """Stop serving: end long polls at once, stop webhook delivery, close every connection."""
        self._closing = True
        for hold in self._holds:
            hold.release()
        self._changed.notify()
        self._updates_changed.notify()
        await self._stop_webhook_workers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def url(self) -> str:
        """Root URL of the running server, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the sandbox is not started")
        return self._url

    @property
    def base_url(self) -> str:
        """What PTB's ``ApplicationBuilder.base_url`` needs (the token is appended by PTB)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """What PTB's ``ApplicationBuilder.base_file_url`` needs."""
        return f"{self.url}/file/bot"

    @property
    def violations(self) -> list[str]:
        """Every validator problem across all requests so far, as ``"method: problem"``."""
        return list(self._violations)

    def take_violations(self) -> list[str]:
        """Return the violations so far and forget them (for tests that provoke one on purpose)."""
        taken = list(self._violations)
        self._violations.clear()
        return taken

    def calls(self, method: str) -> list[RecordedRequest]:
        """The recorded requests for one method, oldest first."""
        return list(self._by_method.get(method, ()))

    def user(
        self,
        user_id: int,
        first_name: str = "Aino",
        language_code: str | None = "fi",
        last_name: str | None = None,
        username: str | None = None,
    ) -> SimulatedUser:
        """The simulated user with this id, created (with a private chat) on first call."""
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        chat: dict[str, Any] = {"id": user_id, "type": "private", "first_name": first_name}
        if last_name is not None:
            user["last_name"] = chat["last_name"] = last_name
        if username is not None:
            user["username"] = chat["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        state = _ChatState(chat=chat, log=ChatLog(chat))
        self._chats[user_id] = state
        simulated = SimulatedUser(self, user, state.log)
        self._users[user_id] = simulated
        return simulated

    @property
    def users(self) -> list[SimulatedUser]:
        return list(self._users.values())

    def group(self, chat_id: int, title: str = "Välitupa-ryhmä") -> ChatLog:
        """The supergroup with this (negative) id, created on first call; returns the bot's posts there."""
        state = self._chats.get(chat_id)
        if state is None:
            if chat_id >= 0:
                raise ValueError("group chat ids are negative (e.g. -1001234567890)")
            chat = {"id": chat_id, "type": "supergroup", "title": title}
            state = self._chats[chat_id] = _ChatState(chat=chat, log=ChatLog(chat))
        return state.log

    def chat(self, chat_id: int) -> ChatLog:
        """What the bot has shown in a known chat (private or group)."""
        return self._chats[chat_id].log

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands the bot registered with setMyCommands for a scope (default scope if ``None``)."""
        return list(self.commands_by_scope.get(self._scope_key(scope, language_code), []))

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        retry_after: int = 1,
        description: str | None = None,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls of ``method`` (``"*"``: any method) fail like Telegram would.

        The failing call has no effect, as with a real error. 429 answers carry ``retry_after``.
        """
        if error_code == 429:
            text = description or f"Too Many Requests: retry after {retry_after}"
            fault = _Fault(error_code, text, retry_after, count)
        else:
            text = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
            fault = _Fault(error_code, text, None, count)
        self._faults[method].append(fault)

    def block_user(self, user_id: int) -> None:
        """The user blocked the bot: sends and edits in that chat answer 403 (no update is sent)."""
        self._blocked.add(user_id)

    def unblock_user(self, user_id: int) -> None:
        self._blocked.discard(user_id)

    def is_blocked(self, user_id: int) -> bool:
        return user_id in self._blocked

    def set_rate_limit(self, per_second: float | None, per_chat_per_second: float | None = None) -> None:
        """Answer send* calls past these rates with 429 and ``retry_after`` (``None`` lifts a limit)."""
        self._global_bucket = _TokenBucket(per_second) if per_second else None
        self._chat_rate = per_chat_per_second or None
        self._chat_buckets.clear()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds; it is re-checked after every request and every new update."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait_for(lambda: self._closing or predicate())
        except TimeoutError:
            recent = ", ".join(r.method for r in self.requests[-8:]) or "none"
            raise TimeoutError(f"condition not met within {timeout} s (last requests: {recent})") from None
        if not predicate():
            raise RuntimeError("the sandbox stopped before the condition was met")

    async def wait_for_request(
        self,
        method: str,
        predicate: Callable[[RecordedRequest], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> RecordedRequest:
        """Wait for a request of ``method`` (matching ``predicate``) recorded after this call."""
        calls = self._by_method[method]
        cursor = len(calls)
        found: list[RecordedRequest] = []

        def arrived() -> bool:
            nonlocal cursor
            while cursor < len(calls):
                candidate = calls[cursor]
                cursor += 1
                if predicate is None or predicate(candidate):
                    found.append(candidate)
                    return True
            return False

        await self.wait_until(lambda: bool(found) or arrived(), timeout=timeout)
        return found[0]

    def hold(self, method: str, *, after: int = 0) -> Hold:
        """Keep calls of ``method`` unanswered from the ``after + 1``-th on, until released."""
        hold = Hold(load_spec().method_name(method) or method, after=after, changed=self._changed)
        self._holds.append(hold)
        return hold

    def wake_pollers(self) -> None:
        """End the long polls waiting right now with an empty answer (e.g. before stopping the bot)."""
        self._wake_generation += 1
        self._updates_changed.notify()

    def file_content(self, file_id: str) -> bytes:
        """The bytes behind a file id the sandbox knows (uploaded by the bot or sent by a user)."""
        return self.files[file_id].data

    @property
    def pending_update_count(self) -> int:
        return len(self._pending)

    async def wait_updates_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has confirmed (polling) or accepted (webhook) every queued update."""
        async with asyncio.timeout(timeout):
            await self._updates_changed.wait_for(lambda: self._closing or not self._pending)

    @property
    def open_requests(self) -> int:
        """Requests of the bot being answered right now, long polls (getUpdates) not counted."""
        return self._answering

    async def wait_requests_answered(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no request of the bot is being answered (a long poll waiting does not count)."""
        await self.wait_until(lambda: self._answering == 0, timeout=timeout)

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["method"] == "getUpdates":
            return await self._answer_request(request)
        self._answering += 1
        try:
            return await self._answer_request(request)
        finally:
            self._answering -= 1
            self._changed.notify()

    async def _answer_request(self, request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if not TOKEN_PATTERN.fullmatch(token):
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        recorded = RecordedRequest(
            method=method, params={}, files={}, time=asyncio.get_running_loop().time(), problems=[]
        )
        try:
            raw, uploads = await self._read_request(request)
        except (ValueError, UnicodeDecodeError, aiohttp.ClientError) as error:
            recorded.problems.append(f"request body could not be read: {error}")
            status, payload = 400, ApiError(400, "Bad Request: can't parse request").payload()
        else:
            recorded.params = decode_params(method, raw)
            recorded.files = {name: (upload.filename, upload.data) for name, upload in uploads.items()}
            recorded.problems = validate_request(method, recorded.params, files=uploads.keys())
            try:
                status, payload = await self._answer(method, recorded.params, uploads, recorded.problems)
            except asyncio.CancelledError:
                # The client hung up (PTB cancels its long poll on shutdown); nobody reads an answer.
                recorded.status = 499
                recorded.response = {"ok": False, "description": "client closed the connection"}
                self._record(recorded)
                raise
            except Exception as error:
                # A bug in the sandbox must fail the test that hit it, not look like a Telegram outage.
                logger.exception("Bot API sandbox failed on %s", method)
                recorded.problems.append(f"the sandbox itself failed: {error!r}")
                status, payload = 500, ApiError(500, "Internal Server Error").payload()
        recorded.status = status
        recorded.response = payload
        self._record(recorded)
        return web.json_response(payload, status=status, dumps=_dumps)

    async def _answer(
        self, method: str, params: Params, uploads: dict[str, Upload], problems: list[str]
    ) -> tuple[int, dict[str, Any]]:
        resolved = load_spec().method_name(method)
        handler = self._handlers.get(resolved) if resolved else None
        if handler is None:
            if resolved is not None:
                problems.append(f"{resolved} is a Bot API method the sandbox does not implement")
            return 404, ApiError(404, "Not Found").payload()
        for hold in [h for h in self._holds if h.method == resolved]:
            await hold.gate()
        self._holds = [h for h in self._holds if not h.released]
        try:
            self._apply_faults(method if resolved is None else resolved)
            result = await handler(params, uploads)
        except ApiError as error:
            return error.error_code, error.payload()
        return 200, {"ok": True, "result": result}

    async def _read_request(self, request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, Upload] = {}
        if not request.body_exists:
            return raw, uploads
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("a JSON body must be an object")
            raw.update(body)
        elif request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    data = bytes(await part.read(decode=True))
                    ctype = part.headers.get(aiohttp.hdrs.CONTENT_TYPE)
                    uploads[part.name] = Upload(part.filename, data, ctype)
                else:
                    raw[part.name] = await part.text()
        else:
            form = await request.post()
            raw.update({key: value for key, value in form.items() if isinstance(value, str)})
        return raw, uploads

    def _record(self, recorded: RecordedRequest) -> None:
        self.requests.append(recorded)
        self._by_method[recorded.method].append(recorded)
        self.stats["requests"] += 1
        self.stats[recorded.method] += 1
        if recorded.status == 499:
            self.stats["cancelled"] += 1
        elif recorded.status != 200:
            self.stats[str(recorded.status)] += 1
        for problem in recorded.problems:
            self._violations.append(f"{recorded.method}: {problem}")
        if recorded.problems:
            logger.warning("Bot API violation in %s: %s", recorded.method, "; ".join(recorded.problems))
        self._changed.notify()

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        stored = self._files_by_path.get(request.match_info["file_path"])
        self.stats["downloads"] += 1
        if not TOKEN_PATTERN.fullmatch(request.match_info["token"]) or stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")

    async def _handle_control_action(self, request: web.Request) -> web.StreamResponse:
        """Act as a simulated user over HTTP, for a sandbox run as its own process (``python -m sandbox``).

        ``POST /sandbox/users/<id>/<action>`` with a JSON object; actions: ``text`` (``text``,
        ``reply_to_message_id``), ``command`` (``command``, ``args``), ``press`` (``message_id``,
        ``callback_data``), ``document`` (``text`` content, ``file_name``), ``photo`` (``caption``).
        """
        try:
            user_id = int(request.match_info["user_id"])
            body = await request.json() if request.body_exists else {}
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            user = self.user(user_id, first_name=str(body.get("first_name", "Aino")))
            action = request.match_info["action"]
            result: Any
            if action == "text":
                result = await user.send_text(str(body["text"]), body.get("reply_to_message_id"))
            elif action == "command":
                result = await user.send_command(str(body["command"]), str(body.get("args", "")))
            elif action == "press":
                query_id = await user.press(int(body["message_id"]), str(body["callback_data"]))
                result = {"callback_query_id": query_id}
            elif action == "document":
                content = str(body.get("text", "")).encode()
                result = await user.send_document(
                    content, str(body.get("file_name", "file.txt")), "text/plain"
                )
            elif action == "photo":
                result = await user.send_photo(body.get("caption"))
            else:
                return web.json_response({"ok": False, "description": f"unknown action {action}"}, status=404)
        except (KeyError, TypeError, ValueError, LookupError) as error:
            return web.json_response({"ok": False, "description": repr(error)}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=_dumps)

    async def _handle_control_messages(self, request: web.Request) -> web.StreamResponse:
        user_id = request.match_info["user_id"]
        state = self._chats.get(int(user_id)) if user_id.lstrip("-").isdigit() else None
        messages = state.log.messages if state else []
        return web.json_response({"ok": True, "result": messages}, dumps=_dumps)

    async def _handle_control_state(self, request: web.Request) -> web.StreamResponse:
        state = {
            "stats": dict(self.stats),
            "violations": self._violations[-200:],
            "pending_update_count": len(self._pending),
            "webhook": self._webhook.url if self._webhook else None,
        }
        return web.json_response({"ok": True, "result": state}, dumps=_dumps)

    def _apply_faults(self, method: str) -> None:
        for key in (method, "*"):
            faults = self._faults.get(key)
            if faults:
                fault = faults[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.pop(0)
                raise ApiError(fault.error_code, fault.description, retry_after=fault.retry_after)

    def _now(self) -> int:
        return int(self._clock())

    def _chat_state(self, params: Params) -> _ChatState:
        chat_id = params.get("chat_id")
        state: _ChatState | None = None
        if isinstance(chat_id, bool):
            state = None
        elif isinstance(chat_id, int):
            state = self._chats.get(chat_id)
        elif isinstance(chat_id, str) and chat_id.startswith("@"):
            username = chat_id[1:].lower()
            state = next(
                (s for s in self._chats.values() if str(s.chat.get("username", "")).lower() == username), None
            )
        if state is None:
            raise ApiError(400, "Bad Request: chat not found")
        return state

    def _writable_chat(self, params: Params, *, rate_limited: bool) -> _ChatState:
        """The target chat of a send or edit, after the checks Telegram makes before doing anything."""
        state = self._chat_state(params)
        chat_id = int(state.chat["id"])
        if chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        if rate_limited:
            now = time.monotonic()
            bucket = self._chat_bucket(chat_id)
            waits = [b.retry_after(now) for b in (self._global_bucket, bucket) if b is not None]
            wait = max((w for w in waits if w is not None), default=None)
            if wait is not None:
                raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
            for b in (self._global_bucket, bucket):
                if b is not None:
                    b.take()
        return state

    def _chat_bucket(self, chat_id: int) -> _TokenBucket | None:
        if self._chat_rate is None:
            return None
        bucket = self._chat_buckets.get(chat_id)
        if bucket is None:
            bucket = self._chat_buckets[chat_id] = _TokenBucket(self._chat_rate)
        return bucket

    def _format(self, params: Params, name: str) -> FormattedText:
        """Parse ``text``/``caption`` as Telegram does, raising the error Telegram would answer."""
        value = params.get(name)
        if value is None:
            return FormattedText(text="")
        if not isinstance(value, str):
            raise ApiError(400, f'Bad Request: field "{name}" must be of type String')
        parse_mode = params.get("parse_mode")
        entities_field = "entities" if name == "text" else f"{name}_entities"
        explicit = params.get(entities_field)
        if parse_mode is not None and parse_mode not in PARSE_MODES and not explicit:
            raise ApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
        if explicit:
            formatted = parse_text(value, None)
            entities = explicit if isinstance(explicit, list) else []
            formatted = FormattedText(text=formatted.text, entities=entities)
        else:
            try:
                formatted = parse_text(value, parse_mode if isinstance(parse_mode, str) else None)
            except EntityParseError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
        length = utf16_len(formatted.text)
        if name == "text":
            if length == 0:
                raise ApiError(400, "Bad Request: message text is empty")
            if length > MAX_TEXT_LENGTH:
                raise ApiError(400, "Bad Request: message is too long")
        elif length > MAX_CAPTION_LENGTH:
            raise ApiError(400, "Bad Request: message caption is too long")
        return formatted

    def _base_message(self, state: _ChatState, params: Params) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": 0,
            "from": self.bot_user,
            "chat": state.chat,
            "date": self._now(),
        }
        reply = params.get("reply_parameters")
        if isinstance(reply, dict) and isinstance(reply.get("message_id"), int):
            target = state.messages.get(reply["message_id"])
            if target is not None:
                quoted = dict(target.api)
                quoted.pop("reply_to_message", None)
                message["reply_to_message"] = quoted
            elif not reply.get("allow_sending_without_reply"):
                raise ApiError(400, "Bad Request: message to be replied not found")
        return message

    def _store_bot_message(self, state: _ChatState, message: dict[str, Any], markup: Any) -> dict[str, Any]:
        """Give the message its id, keep it, and show it in the chat log; returns the API form."""
        message["message_id"] = state.next_message_id()
        inline = _inline_markup(markup)
        if inline is not None:
            message["reply_markup"] = inline
        extra = markup if isinstance(markup, dict) and "inline_keyboard" not in markup else None
        stored = _StoredMessage(api=message, from_bot=True, extra_markup=extra)
        state.messages[message["message_id"]] = stored
        if extra is not None:
            if "keyboard" in extra:
                state.log.reply_keyboard = extra
            elif extra.get("remove_keyboard"):
                state.log.reply_keyboard = None
        state.log._publish("sent", self._view(stored))
        return message

    @staticmethod
    def _view(stored: _StoredMessage) -> dict[str, Any]:
        """A bot message as the user sees it: the API object plus a reply keyboard it came with."""
        if stored.extra_markup is None or "reply_markup" in stored.api:
            return dict(stored.api)
        return {**stored.api, "reply_markup": stored.extra_markup}

    def _editable(self, params: Params) -> tuple[_ChatState, _StoredMessage]:
        if params.get("inline_message_id") is not None:
            raise ApiError(400, "Bad Request: message to edit not found")
        state = self._writable_chat(params, rate_limited=False)
        message_id = params.get("message_id")
        stored = state.messages.get(message_id) if isinstance(message_id, int) else None
        if stored is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not stored.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return state, stored

    def _replace(self, state: _ChatState, stored: _StoredMessage, changes: dict[str, Any]) -> dict[str, Any]:
        message = {**stored.api, **changes, "edit_date": self._now()}
        for key in [k for k, v in message.items() if v is None]:
            del message[key]
        stored.api = message
        state.log._publish("edited", self._view(stored))
        return message

    async def _true(self, params: Params, uploads: dict[str, Upload]) -> bool:
        return True

    async def _get_me(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_chat(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state = self._chat_state(params)
        return {
            **state.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": True,
                "limited_gifts": True,
                "unique_gifts": True,
                "premium_subscription": True,
                "gifts_from_channels": True,
            },
        }

    async def _get_updates(self, params: Params, uploads: dict[str, Upload]) -> list[dict[str, Any]]:
        if self._webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        self._poll_generation += 1
        generation = self._poll_generation
        woken = self._wake_generation
        self._updates_changed.notify()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = self._allowed_set(allowed)
        offset = params.get("offset")
        if isinstance(offset, int) and offset:
            self._confirm(offset)
        limit = params.get("limit")
        limit = limit if isinstance(limit, int) and 1 <= limit <= 100 else 100
        timeout = params.get("timeout")
        timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else 0.0
        if not self._pending and timeout and not self._closing:
            self.stats["long_polls"] += 1
            self._changed.notify()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(timeout, 50.0)):
                    await self._updates_changed.wait_for(
                        lambda: (
                            bool(self._pending)
                            or self._closing
                            or self._poll_generation != generation
                            or self._wake_generation != woken
                            or self._webhook is not None
                        )
                    )
        if self._poll_generation != generation and not self._closing:
            raise ApiError(409, TERMINATED_BY_OTHER)
        if self._webhook is not None:
            raise ApiError(409, WEBHOOK_ACTIVE)
        batch = []
        for update in self._pending.values():
            batch.append(update)
            if len(batch) >= limit:
                break
        return batch

    def _confirm(self, offset: int) -> None:
        pending = self._pending
        if offset > 0:
            while pending and next(iter(pending)) < offset:
                pending.popitem(last=False)
        else:
            while len(pending) > -offset:
                pending.popitem(last=False)
        self._updates_changed.notify()

    @staticmethod
    def _allowed_set(allowed: Iterable[Any]) -> frozenset[str]:
        chosen = frozenset(str(a) for a in allowed)
        return chosen or frozenset(UPDATE_TYPES) - _NOT_BY_DEFAULT

    async def _set_webhook(self, params: Params, uploads: dict[str, Upload]) -> bool:
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
            self._allowed_updates = self._allowed_set(allowed)
        if params.get("drop_pending_updates"):
            self._pending.clear()
        await self._stop_webhook_workers()
        ip_address = params.get("ip_address")
        self._webhook = _Webhook(
            url=url,
            secret_token=secret,
            max_connections=max_connections,
            ip_address=ip_address if isinstance(ip_address, str) else None,
        )
        self._start_webhook_workers(self._webhook)
        self._updates_changed.notify()
        return True

    async def _delete_webhook(self, params: Params, uploads: dict[str, Upload]) -> bool:
        await self._remove_webhook(drop=bool(params.get("drop_pending_updates")))
        return True

    async def _remove_webhook(self, *, drop: bool) -> None:
        await self._stop_webhook_workers()
        self._webhook = None
        if drop:
            self._pending.clear()
        self._updates_changed.notify()

    async def _get_webhook_info(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        hook = self._webhook
        info: dict[str, Any] = {
            "url": hook.url if hook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if hook is not None:
            info["max_connections"] = hook.max_connections
            info["allowed_updates"] = sorted(self._allowed_updates)
            if hook.ip_address:
                info["ip_address"] = hook.ip_address
            if hook.last_error_date is not None:
                info["last_error_date"] = hook.last_error_date
                info["last_error_message"] = hook.last_error_message
        return info

    def _start_webhook_workers(self, hook: _Webhook) -> None:
        count = min(hook.max_connections, 8)
        hook.queues = [asyncio.Queue() for _ in range(count)]
        hook.workers = [
            asyncio.create_task(self._webhook_worker(hook, queue), name=f"sandbox-webhook-{index}")
            for index, queue in enumerate(hook.queues)
        ]
        for update in self._pending.values():
            self._route_to_webhook(hook, update)

    async def _stop_webhook_workers(self) -> None:
        hook = self._webhook
        if hook is None:
            return
        for worker in hook.workers:
            worker.cancel()
        await asyncio.gather(*hook.workers, return_exceptions=True)
        hook.workers = []
        hook.queues = []

    @staticmethod
    def _route_to_webhook(hook: _Webhook, update: dict[str, Any]) -> None:
        if hook.queues:
            hook.queues[_update_chat_key(update) % len(hook.queues)].put_nowait(update)

    async def _webhook_worker(self, hook: _Webhook, queue: asyncio.Queue[dict[str, Any]]) -> None:
        """Deliver one share of the chats' updates in order, retrying a failed POST with backoff."""
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        while True:
            update = await queue.get()
            update_id = update["update_id"]
            if update_id not in self._pending:
                continue
            for attempt in range(self._webhook_retries + 1):
                error = await self._post_update(hook, update, headers)
                if error is None:
                    self.stats["webhook_deliveries"] += 1
                    break
                self.stats["webhook_errors"] += 1
                hook.last_error_date = self._now()
                hook.last_error_message = error
                if attempt < self._webhook_retries:
                    await asyncio.sleep(self._webhook_backoff * 2**attempt)
            else:
                self.stats["webhook_dropped"] += 1
                logger.warning("Sandbox gave up delivering update %s to %s", update_id, hook.url)
            self._pending.pop(update_id, None)
            self._updates_changed.notify()
            self._changed.notify()

    async def _post_update(
        self, hook: _Webhook, update: dict[str, Any], headers: dict[str, str]
    ) -> str | None:
        """POST one update; ``None`` on a 2xx answer, else the error as getWebhookInfo would show it."""
        assert self._session is not None
        try:
            async with self._session.post(
                hook.url, data=_dumps(update).encode(), headers=headers
            ) as response:
                await response.read()
                if 200 <= response.status < 300:
                    return None
                return f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"Connection failed: {type(error).__name__}"

    @staticmethod
    def _scope_key(scope: Any, language_code: Any) -> tuple[str, str]:
        scope_value = scope if isinstance(scope, dict) else {"type": "default"}
        return json.dumps(scope_value, sort_keys=True), language_code if isinstance(
            language_code, str
        ) else ""

    async def _set_my_commands(self, params: Params, uploads: dict[str, Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: field "commands" must be an Array')
        key = self._scope_key(params.get("scope"), params.get("language_code"))
        self.commands_by_scope[key] = [c for c in commands if isinstance(c, dict)]
        return True

    async def _get_my_commands(self, params: Params, uploads: dict[str, Upload]) -> list[dict[str, Any]]:
        return self.commands_by_scope.get(
            self._scope_key(params.get("scope"), params.get("language_code")), []
        )

    async def _delete_my_commands(self, params: Params, uploads: dict[str, Upload]) -> bool:
        self.commands_by_scope.pop(self._scope_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def _set_chat_menu_button(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self._chat_state(params)
        button = params.get("menu_button")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = (
            button if isinstance(button, dict) else {"type": "default"}
        )
        return True

    async def _get_chat_menu_button(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "default"}

    def _set_bot_text(self, kind: str) -> Handler:
        async def handler(params: Params, uploads: dict[str, Upload]) -> bool:
            language = params.get("language_code")
            key = (kind, language if isinstance(language, str) else "")
            value = params.get(kind)
            if isinstance(value, str) and value:
                self.bot_texts[key] = value
            else:
                self.bot_texts.pop(key, None)
            return True

        return handler

    def _get_bot_text(self, kind: str) -> Handler:
        async def handler(params: Params, uploads: dict[str, Upload]) -> dict[str, str]:
            language = params.get("language_code")
            key = (kind, language if isinstance(language, str) else "")
            value = self.bot_texts.get(key, self.bot_texts.get((kind, ""), ""))
            if kind == "name" and not value:
                value = BOT_FIRST_NAME
            return {kind: value}

        return handler

    async def _send_message(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state = self._writable_chat(params, rate_limited=True)
        formatted = self._format(params, "text")
        message = self._base_message(state, params)
        message["text"] = formatted.text
        if formatted.entities:
            message["entities"] = formatted.entities
        return self._store_bot_message(state, message, params.get("reply_markup"))

    async def _edit_message_text(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state, stored = self._editable(params)
        if "text" not in stored.api:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        formatted = self._format(params, "text")
        markup = _inline_markup(params.get("reply_markup"))
        current = stored.api
        if (
            formatted.text == current["text"]
            and formatted.entities == current.get("entities", [])
            and markup == current.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(
            state,
            stored,
            {"text": formatted.text, "entities": formatted.entities or None, "reply_markup": markup},
        )

    async def _edit_message_caption(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state, stored = self._editable(params)
        if "text" in stored.api:
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        formatted = self._format(params, "caption")
        markup = _inline_markup(params.get("reply_markup"))
        current = stored.api
        if (
            formatted.text == current.get("caption", "")
            and formatted.entities == current.get("caption_entities", [])
            and markup == current.get("reply_markup")
        ):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(
            state,
            stored,
            {
                "caption": formatted.text or None,
                "caption_entities": formatted.entities or None,
                "reply_markup": markup,
            },
        )

    async def _edit_message_reply_markup(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state, stored = self._editable(params)
        markup = _inline_markup(params.get("reply_markup"))
        if markup == stored.api.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        return self._replace(state, stored, {"reply_markup": markup})

    async def _delete_message(self, params: Params, uploads: dict[str, Upload]) -> bool:
        state = self._chat_state(params)
        message_id = params.get("message_id")
        if not isinstance(message_id, int) or state.messages.pop(message_id, None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        state.log._delete(message_id)
        return True

    async def _answer_callback_query(self, params: Params, uploads: dict[str, Upload]) -> bool:
        query_id = params.get("callback_query_id")
        query = self._callback_queries.get(query_id) if isinstance(query_id, str) else None
        if query is None or query.answered:
            raise ApiError(400, QUERY_TOO_OLD)
        ttl = self._callback_query_ttl
        if ttl is not None and time.monotonic() - query.created > ttl:
            raise ApiError(400, QUERY_TOO_OLD)
        query.answered = True
        assert isinstance(query_id, str)
        text = params.get("text")
        query.user.callback_answers.append(text if isinstance(text, str) else None)
        query.user.answered_callbacks[query_id] = dict(params)
        return True

    async def _send_chat_action(self, params: Params, uploads: dict[str, Upload]) -> bool:
        state = self._writable_chat(params, rate_limited=False)
        action = params.get("action")
        if isinstance(action, str):
            state.log.chat_actions.append(action)
        return True

    def _input_file(self, params: Params, uploads: dict[str, Upload], name: str) -> StoredFile:
        """Resolve an InputFile parameter: an upload, an ``attach://`` part or a known file id."""
        value = params.get(name)
        upload = uploads.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            limit = _MAX_PHOTO_UPLOAD if name == "photo" else _MAX_UPLOAD
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(upload.data) > limit:
                raise ApiError(413, "Request Entity Too Large")
            mime = upload.content_type or mimetypes.guess_type(upload.filename)[0]
            if name == "photo":
                mime = "image/jpeg"
            return self._register_file(name, upload.data, file_name=upload.filename, mime_type=mime)
        if isinstance(value, str) and value:
            stored = self.files.get(value)
            if stored is not None:
                return stored
            if value.startswith(("http://", "https://")):
                raise ApiError(400, "Bad Request: failed to get HTTP URL content")
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    def _register_file(
        self, kind: str, data: bytes, *, file_name: str | None = None, mime_type: str | None = None
    ) -> StoredFile:
        self._file_serial += 1
        serial = self._file_serial
        directory, suffix = _FILE_DIRECTORIES.get(kind, ("documents", ""))
        if kind == "document" and file_name and "." in file_name:
            suffix = "." + file_name.rsplit(".", 1)[1]
        stored = StoredFile(
            file_id=f"{_FILE_ID_PREFIXES.get(kind, 'BQACAgQAAxkBAAI')}{serial:06d}sbx{kind}",
            file_unique_id=f"AgAD{serial:06d}",
            file_path=f"{directory}/file_{serial}{suffix}",
            kind=kind,
            data=data,
            file_name=file_name,
            mime_type=mime_type,
        )
        if kind == "photo":
            width, height = image_size(data) or (800, 600)
            scale = min(1.0, 90 / max(width, height))
            thumb_id = f"{stored.file_id}s"
            stored.photo_sizes = [
                {
                    "file_id": thumb_id,
                    "file_unique_id": f"{stored.file_unique_id}s",
                    "file_size": len(data),
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                },
                {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "file_size": len(data),
                    "width": width,
                    "height": height,
                },
            ]
            self.files[thumb_id] = stored
        self.files[stored.file_id] = stored
        self._files_by_path[stored.file_path] = stored
        return stored

    async def _send_document(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state = self._writable_chat(params, rate_limited=True)
        stored = self._input_file(params, uploads, "document")
        formatted = self._format(params, "caption")
        message = self._base_message(state, params)
        document: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        document["file_size"] = stored.file_size
        message["document"] = document
        self._add_caption(message, formatted)
        return self._store_bot_message(state, message, params.get("reply_markup"))

    async def _send_photo(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        state = self._writable_chat(params, rate_limited=True)
        stored = self._input_file(params, uploads, "photo")
        formatted = self._format(params, "caption")
        if stored.photo_sizes is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        message = self._base_message(state, params)
        message["photo"] = [dict(size) for size in stored.photo_sizes]
        self._add_caption(message, formatted)
        return self._store_bot_message(state, message, params.get("reply_markup"))

    @staticmethod
    def _add_caption(message: dict[str, Any], formatted: FormattedText) -> None:
        if formatted.text:
            message["caption"] = formatted.text
            if formatted.entities:
                message["caption_entities"] = formatted.entities

    async def _get_file(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        file_id = params.get("file_id")
        stored = self.files.get(file_id) if isinstance(file_id, str) else None
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        if stored.file_size > _MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }

    async def _deliver(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update for getUpdates or the webhook; ``None`` if allowed_updates filters it out."""
        if update_type not in self._allowed_updates:
            self.stats["updates_filtered"] += 1
            return None
        if len(self._pending) >= self._max_pending:
            try:
                async with asyncio.timeout(30.0):
                    await self._updates_changed.wait_for(
                        lambda: len(self._pending) < self._max_pending or self._closing
                    )
            except TimeoutError:
                raise RuntimeError(
                    f"{self._max_pending} updates are waiting and nobody fetches them: is the bot running?"
                ) from None
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, update_type: payload}
        self._pending[self._last_update_id] = update
        self.stats["updates"] += 1
        if self._webhook is not None:
            self._route_to_webhook(self._webhook, update)
        self._updates_changed.notify()
        self._changed.notify()
        return update

    async def _user_message(
        self,
        user: SimulatedUser,
        log: ChatLog,
        content: dict[str, Any],
        *,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        state = self._chats[log.chat_id]
        message: dict[str, Any] = {
            "message_id": state.next_message_id(),
            "from": user.user,
            "chat": state.chat,
            "date": self._now(),
        }
        if reply_to is not None:
            target = state.messages.get(reply_to)
            if target is None:
                raise LookupError(f"no message {reply_to} in chat {log.chat_id} to reply to")
            quoted = dict(target.api)
            quoted.pop("reply_to_message", None)
            message["reply_to_message"] = quoted
        message.update(content)
        state.messages[message["message_id"]] = _StoredMessage(api=message, from_bot=False)
        keyboard = log.reply_keyboard
        if keyboard is not None and keyboard.get("one_time_keyboard") and "text" in content:
            log.reply_keyboard = None
        await self._deliver("message", message)
        return message

    async def _user_edit(
        self, user: SimulatedUser, log: ChatLog, message_id: int, new_text: str
    ) -> dict[str, Any]:
        state = self._chats[log.chat_id]
        stored = state.messages.get(message_id)
        if stored is None or stored.from_bot or stored.api["from"]["id"] != user.id:
            raise LookupError(f"user {user.id} has no message {message_id} to edit")
        if "text" not in stored.api:
            raise LookupError(f"message {message_id} has no text to edit")
        message = {**stored.api, "text": new_text, "edit_date": self._now()}
        message.pop("entities", None)
        command = re.match(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{1,64})?", new_text)
        if command:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(command.group())}]
        stored.api = message
        await self._deliver("edited_message", message)
        return message

    async def _press(
        self, user: SimulatedUser, log: ChatLog, message_id: int, callback_data: str, *, strict: bool
    ) -> str:
        state = self._chats[log.chat_id]
        stored = state.messages.get(message_id)
        if stored is None or not stored.from_bot:
            raise LookupError(f"no bot message {message_id} in chat {log.chat_id}")
        if strict and callback_data not in {data for _, data in log.buttons(stored.api)}:
            raise LookupError(
                f"message {message_id} shows no button with callback_data {callback_data!r}; "
                f"it shows {log.buttons(stored.api)}"
            )
        self._callback_serial += 1
        query_id = str(4_200_000_000_000_000_000 + self._callback_serial)
        self._callback_queries[query_id] = _CallbackQuery(user=user, created=time.monotonic())
        query = {
            "id": query_id,
            "from": user.user,
            "message": dict(stored.api),
            "chat_instance": str(-7_000_000_000_000_000_000 - log.chat_id),
            "data": callback_data,
        }
        await self._deliver("callback_query", query)
        return query_id

    def _user_media(
        self, kind: str, *, content: bytes | None, file_name: str | None, mime_type: str | None
    ) -> Any:
        data = content if content is not None else sample_content(kind, self._file_serial + 1)
        stored = self._register_file(kind, data, file_name=file_name, mime_type=mime_type)
        if kind == "photo":
            assert stored.photo_sizes is not None
            return [dict(size) for size in stored.photo_sizes]
        media: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }
        if kind == "voice":
            media.update(duration=3, mime_type=mime_type)
        elif kind == "audio":
            media.update(
                duration=95, performer="Sandbox", title="Sample", file_name=file_name, mime_type=mime_type
            )
        elif kind == "video":
            media.update(width=640, height=360, duration=5, file_name=file_name, mime_type=mime_type)
        elif kind == "video_note":
            media.update(length=240, duration=4)
        elif kind == "sticker":
            media.update(type="regular", width=512, height=512, is_animated=False, is_video=False)
        elif kind == "document":
            media.update(file_name=file_name, mime_type=mime_type)
        return {key: value for key, value in media.items() if value is not None}

    def _poll(self, question: str, options: Iterable[str]) -> dict[str, Any]:
        self._callback_serial += 1
        return {
            "id": str(5_100_000_000_000_000_000 + self._callback_serial),
            "question": question,
            "options": [
                {"persistent_id": str(index), "text": text, "voter_count": 0}
                for index, text in enumerate(options)
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
            "allows_revoting": True,
            "members_only": False,
        }

    async def _set_blocked(self, user: SimulatedUser, *, blocked: bool) -> None:
        if blocked:
            self._blocked.add(user.id)
        else:
            self._blocked.discard(user.id)
        member = {"status": "member", "user": self.bot_user}
        kicked = {"status": "kicked", "user": self.bot_user, "until_date": 0}
        update = {
            "chat": user.chat,
            "from": user.user,
            "date": self._now(),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        await self._deliver("my_chat_member", update)
