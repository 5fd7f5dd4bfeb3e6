"""A local Telegram Bot API for end-to-end tests and benchmarks.

:class:`BotApiSandbox` is an aiohttp server that answers the Bot API methods Välitupa uses the way
api.telegram.org answers them (status codes, error descriptions, Message objects PTB can parse), so a
real ``telegram.ext.Application`` runs against it unchanged. Tests drive it from the other side with
simulated users (:meth:`BotApiSandbox.user`), inject faults (429, 403, any error) and wrong answers
(:meth:`BotApiSandbox.misanswer_next`: an HTML 500, a cut or unreadable 200, a read timeout or a
reset after the call was carried out, a slow answer), hold requests on the wire, and read back
every request the bot made, each checked against the official Bot API description. The methods live
in :mod:`sandbox.methods`; this module dispatches and records.

Everything runs on the test's event loop. Waiting is event-driven: long polls, ``next_message`` and
``wait_until`` wake on the change they wait for, never on a timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

import aiohttp
from aiohttp import web

from sandbox import control
from sandbox.events import Hold, Signal
from sandbox.faults import Faults, Misanswer, Wrong
from sandbox.methods.bot_settings import BotSettings, scope_key
from sandbox.methods.files import MAX_UPLOAD, Files
from sandbox.methods.messages import Messages
from sandbox.methods.updates import Updates, WebhookOptions
from sandbox.protocol import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    SANDBOX_TOKEN,
    TOKEN_PATTERN,
    ApiError,
    MethodTable,
    Params,
    Upload,
    dumps,
)
from sandbox.state import State, StoredFile
from sandbox.users import ChatLog, SimulatedUser, UserSide
from sandbox.validate import decode_params, load_spec, validate_request

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "SANDBOX_TOKEN",
    "ApiError",
    "BotApiSandbox",
    "Hold",
    "Misanswer",
    "RecordedRequest",
    "StoredFile",
    "Upload",
]

logger = logging.getLogger(__name__)


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
    misanswer: Misanswer | None = None
    """The wrong answer the bot got instead of ``response``, if one was injected."""

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")


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
        self.token = SANDBOX_TOKEN
        self.requests: list[RecordedRequest] = []
        self.stats: Counter[str] = Counter()
        self.state = State(clock=clock)
        self.bot_user = self.state.bot_user
        self.files = self.state.files
        self._changed = Signal()
        self._faults = Faults()
        self._updates = Updates(
            self.state,
            stats=self.stats,
            changed=self._changed,
            max_pending=max_pending_updates,
            webhook=WebhookOptions(webhook_retries, webhook_backoff, webhook_timeout),
        )
        self._user_side = UserSide(self.state, self._updates, self._changed)
        messages = Messages(self.state, self._faults, callback_query_ttl=callback_query_ttl)
        settings = BotSettings(self.state)
        self.commands_by_scope = settings.commands_by_scope
        self.menu_buttons = settings.menu_buttons
        self.bot_texts = settings.bot_texts
        self._methods: MethodTable = {}
        for part in (settings, self._updates, messages, Files(self.state, messages)):
            part.register(self._methods)
        self._violations: list[str] = []
        self._by_method: defaultdict[str, list[RecordedRequest]] = defaultdict(list)
        self._holds: list[Hold] = []
        self._answering = 0
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; see :attr:`url`)."""
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_download)
        control.add_routes(app, self)
        self._updates.open()
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self._url = f"http://{host}:{bound_port}"
        logger.debug("Bot API sandbox listening on %s", self._url)

    async def stop(self) -> None:
        """Stop serving: end long polls and holds at once, stop webhook delivery, close every connection."""
        await self._updates.close()
        for hold in self._holds:
            hold.release()
        self._changed.notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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
    def webhook_url(self) -> str | None:
        hook = self._updates.webhook
        return hook.url if hook else None

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
        return self._user_side.user(user_id, first_name, language_code, last_name, username)

    @property
    def users(self) -> list[SimulatedUser]:
        return list(self.state.users.values())

    def group(self, chat_id: int, title: str = "Välitupa-ryhmä") -> ChatLog:
        """The supergroup with this (negative) id, created on first call; returns the bot's posts there."""
        return self._user_side.group(chat_id, title)

    def chat(self, chat_id: int) -> ChatLog:
        """What the bot has shown in a known chat (private or group)."""
        return self.state.chats[chat_id].log

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, Any]]:
        """Commands the bot registered with setMyCommands for a scope (default scope if ``None``)."""
        return list(self.commands_by_scope.get(scope_key(scope, language_code), []))

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
        self._faults.fail_next(
            method, error_code=error_code, retry_after=retry_after, description=description, count=count
        )

    def misanswer_next(self, method: str, kind: Misanswer, *, delay: float = 0.2, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"``: any but getUpdates) wrongly.

        Every kind but :attr:`Misanswer.HTML_500` carries the call out first (the message is sent,
        the text edited) and only the answer goes wrong, as when a network or a proxy fails after the
        request reached Telegram. ``delay`` is for :attr:`Misanswer.SLOW`.
        """
        self._faults.misanswer_next(method, kind, delay=delay, count=count)

    def block_user(self, user_id: int) -> None:
        """The user blocked the bot: sends and edits in that chat answer 403 (no update is sent)."""
        self.state.blocked.add(user_id)

    def unblock_user(self, user_id: int) -> None:
        self.state.blocked.discard(user_id)

    def is_blocked(self, user_id: int) -> bool:
        return user_id in self.state.blocked

    def set_rate_limit(self, per_second: float | None, per_chat_per_second: float | None = None) -> None:
        """Answer send* calls past these rates with 429 and ``retry_after`` (``None`` lifts a limit)."""
        self._faults.set_rate_limit(per_second, per_chat_per_second)

    def hold(self, method: str, *, after: int = 0) -> Hold:
        """Keep calls of ``method`` unanswered from the ``after + 1``-th on, until released."""
        hold = Hold(load_spec().method_name(method) or method, after=after, changed=self._changed)
        self._holds.append(hold)
        return hold

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` holds; it is re-checked after every request and every new update."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait_for(lambda: self._updates.closing or predicate())
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

    async def wait_for_calls(self, method: str, count: int, timeout: float = 5.0) -> list[RecordedRequest]:  # noqa: ASYNC109
        """Wait until the bot has made ``count`` calls of ``method`` in all; returns them."""
        calls = self._by_method[method]
        await self.wait_until(lambda: len(calls) >= count, timeout=timeout)
        return list(calls)

    async def wait_for_messages(self, chat_id: int, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
        """Wait until the bot has sent ``count`` messages to a chat in all; returns those still shown."""
        log = self.chat(chat_id)
        await self.wait_until(lambda: log.sent_count >= count, timeout=timeout)
        return log.messages

    @property
    def open_requests(self) -> int:
        """Requests of the bot being answered right now, long polls (getUpdates) not counted."""
        return self._answering

    async def wait_requests_answered(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until no request of the bot is being answered (a long poll waiting does not count)."""
        await self.wait_until(lambda: self._answering == 0, timeout=timeout)

    def wake_pollers(self) -> None:
        """End the long polls waiting right now with an empty answer (e.g. before stopping the bot)."""
        self._updates.wake_pollers()

    def file_content(self, file_id: str) -> bytes:
        """The bytes behind a file id the sandbox knows (uploaded by the bot or sent by a user)."""
        return self.files[file_id].data

    @property
    def pending_update_count(self) -> int:
        return len(self._updates.pending)

    async def wait_updates_consumed(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until the bot has confirmed (polling) or accepted (webhook) every queued update."""
        updates = self._updates
        async with asyncio.timeout(timeout):
            await updates.consumed.wait_for(lambda: updates.closing or not updates.pending)

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
        method = request.match_info["method"]
        if not TOKEN_PATTERN.fullmatch(request.match_info["token"]):
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        recorded = RecordedRequest(
            method=method, params={}, files={}, time=asyncio.get_running_loop().time(), problems=[]
        )
        try:
            raw, uploads = await _read_request(request)
        except (ValueError, UnicodeDecodeError, aiohttp.ClientError) as error:
            recorded.problems.append(f"request body could not be read: {error}")
            status, payload = 400, ApiError(400, "Bad Request: can't parse request").payload()
        else:
            recorded.params = decode_params(method, raw)
            recorded.files = {name: (upload.filename, upload.data) for name, upload in uploads.items()}
            recorded.problems = validate_request(method, recorded.params, files=uploads.keys())
            wrong = self._take_misanswer(method)
            if wrong is not None and not wrong.kind.carried_out:
                recorded.status, recorded.misanswer = 500, wrong.kind
                self._record(recorded)
                return web.Response(status=500, text=HTML_ERROR_PAGE, content_type="text/html")
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
        if wrong is not None:
            recorded.misanswer = wrong.kind
        self._record(recorded)
        if wrong is None:
            return web.json_response(payload, status=status, dumps=dumps)
        return await self._misanswer(request, wrong, status, payload)

    def _take_misanswer(self, method: str) -> Wrong | None:
        resolved = load_spec().method_name(method) or method
        return None if resolved == "getUpdates" else self._faults.take_misanswer(resolved)

    async def _misanswer(
        self, request: web.Request, wrong: Wrong, status: int, payload: dict[str, Any]
    ) -> web.StreamResponse:
        body = dumps(payload).encode()
        if wrong.kind is Misanswer.UNPARSABLE:
            return web.Response(status=status, body=body[: len(body) // 2], content_type="application/json")
        if wrong.kind is Misanswer.MS_DATE:
            return web.json_response(_dates_in_milliseconds(payload), status=status, dumps=dumps)
        if wrong.kind is Misanswer.MISSING_FIELD:
            return web.json_response(_without_required_field(payload), status=status, dumps=dumps)
        if wrong.kind is Misanswer.READ_TIMEOUT:
            # Until the client gives up (aiohttp then cancels this handler) or the sandbox stops.
            await self._changed.wait_for(lambda: self._updates.closing)
            return web.json_response(payload, status=status, dumps=dumps)
        if wrong.kind is Misanswer.RESET:
            response = web.StreamResponse(status=status)
            response.content_type = "application/json"
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[:8])
            if request.transport is not None:
                request.transport.abort()
            return response
        await asyncio.sleep(wrong.delay)
        return web.json_response(payload, status=status, dumps=dumps)

    async def _answer(
        self, method: str, params: Params, uploads: dict[str, Upload], problems: list[str]
    ) -> tuple[int, dict[str, Any]]:
        resolved = load_spec().method_name(method)
        handler = self._methods.get(resolved) if resolved else None
        if handler is None:
            if resolved is not None:
                problems.append(f"{resolved} is a Bot API method the sandbox does not implement")
            return 404, ApiError(404, "Not Found").payload()
        for hold in [h for h in self._holds if h.method == resolved]:
            await hold.gate()
        self._holds = [h for h in self._holds if not h.released]
        try:
            self._faults.apply(method if resolved is None else resolved)
            result = await handler(params, uploads)
        except ApiError as error:
            return error.error_code, error.payload()
        return 200, {"ok": True, "result": result}

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
        stored = self.state.files_by_path.get(request.match_info["file_path"])
        self.stats["downloads"] += 1
        if not TOKEN_PATTERN.fullmatch(request.match_info["token"]) or stored is None:
            return web.json_response(ApiError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type or "application/octet-stream")


HTML_ERROR_PAGE = "<html><head><title>500 Internal Server Error</title></head><body>nginx</body></html>"


def _dates_in_milliseconds(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: item * 1000 if key == "date" and isinstance(item, int) else _dates_in_milliseconds(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_dates_in_milliseconds(item) for item in value]
    return value


def _without_required_field(payload: dict[str, Any]) -> dict[str, Any]:
    result = payload.get("result")
    if isinstance(result, dict):
        missing = next((key for key in ("first_name", "message_id") if key in result), None)
        result = {key: value for key, value in result.items() if key != missing}
    return {**payload, "result": result}


async def _read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """The call's parameters (query, JSON, form or multipart fields) and its file parts."""
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
