"""How the bot talks HTTP to the Bot API: python-telegram-bot's request interface over aiohttp.

python-telegram-bot ships one transport, built on httpx. Under load most of the bot's CPU went into
it (httpx, httpcore, anyio and h11 together cost more per update than storing the observation), and
the bot already depends on aiohttp for its webhook server, whose client parses HTTP in C. This class
is a drop-in :class:`telegram.request.BaseRequest`; ``bench/updates.py`` measures both transports.

Timeouts keep PTB's meaning as closely as aiohttp allows:

* ``pool_timeout`` bounds waiting for one of the ``connection_pool_size`` slots (a semaphore of our
  own, so the request is known not to have been sent);
* ``connect_timeout`` bounds opening a TCP connection (aiohttp ``sock_connect``);
* ``read_timeout`` bounds each wait for response bytes (aiohttp ``sock_read``), so a long download
  that keeps arriving is never cut;
* aiohttp has no write timeout. Ordinary requests fit in the socket buffer; an upload gets
  ``write_timeout`` per started megabyte on top of connect and read (aiohttp ``total``), so a stalled
  upload ends and a slow link still gets its file through.

A call without files goes as a JSON body (``application/json``, which the Bot API reads like a
form); one with files as ``multipart/form-data``, each other parameter a JSON-encoded field, as PTB
sends them.

Proxies come from ``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` and certificates from certifi (or
``SSL_CERT_FILE``) as with httpx. A file handle given as upload content is read from its start on
each attempt, so PTB's retries resend it whole.

Errors are PTB's: :class:`telegram.error.TimedOut` for timeouts and
:class:`telegram.error.NetworkError` for everything else on the wire, so PTB's retry and the
bot's own handling work unchanged.

What a failed send means is told apart by :func:`watch_wire`: inside it, every request notes in a
:class:`Wire` whether it may have reached Telegram and what came back, and :func:`fate` reads that:
``NOT_SENT`` only when the request provably never left (no pool slot, no connection, an error before
the request was made), ``REFUSED`` when Telegram answered with a JSON error (nothing was done),
``SENT`` when Telegram answered ``ok`` (even if PTB could not read the rest of the answer, e.g. a
``date`` in milliseconds), and ``AMBIGUOUS`` for everything else: a read timeout, a connection reset
after the request was written, an answer that is not JSON (a body cut short, a gateway's HTML 500 or
504 page; its 502 and 503 pages say the Bot API was not reached, so they count as ``REFUSED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import ssl
import urllib.request
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, Any
from urllib.parse import urlsplit

import aiohttp
import certifi
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

# PTB's own defaults for HTTPXRequest, so switching transports changes nothing a user could notice.
DEFAULT_READ = 5.0
DEFAULT_WRITE = 5.0
DEFAULT_CONNECT = 5.0
DEFAULT_POOL = 1.0
DEFAULT_MEDIA_WRITE = 20.0
MB = 1 << 20

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: every connection in the pool is busy; the request was not sent. "
    "Consider a larger pool or a longer pool timeout."
)
CONNECT_TIMEOUT_MESSAGE = "No connection to the Bot API in time; the request was not sent."


_JSON = {"Content-Type": "application/json"}
_TOKEN_IN_PATH = re.compile(r"/(file/)?bot[^/\s]+")


def _without_token(text: str) -> str:
    """aiohttp puts the URL in some errors, and a Bot API URL carries the token in its path."""
    return _TOKEN_IN_PATH.sub(lambda match: f"/{match.group(1) or ''}bot<redacted>", text)


class InDoubt:
    """Marks an error raised after the request was written: Telegram may have carried it out."""


class TimedOutInDoubt(TimedOut, InDoubt):
    """No answer in time after the request was written (a read timeout)."""


class NetworkErrorInDoubt(NetworkError, InDoubt):
    """The connection failed after the request was written (a reset, a cut answer)."""


class Fate(StrEnum):
    """What a failed request did, as far as the bot can know."""

    NOT_SENT = "not_sent"
    REFUSED = "refused"
    SENT = "sent"
    AMBIGUOUS = "ambiguous"


@dataclass
class Wire:
    """What the transport saw of the last request made inside :func:`watch_wire`."""

    left: bool = False
    """The request may have reached the server (a connection was made and writing began)."""
    status: int | None = None
    body: bytes | None = None

    def answer(self) -> dict[str, Any] | None:
        """The answer as a JSON object, or None if there was none or it was not JSON."""
        if self.body is None:
            return None
        try:
            answer = json.loads(self.body)
        except ValueError:
            return None
        return answer if isinstance(answer, dict) else None

    def message_id(self) -> int | None:
        """The ``message_id`` of an ``ok`` answer PTB may not have been able to read."""
        answer = self.answer()
        result = answer.get("result") if answer is not None else None
        value = result.get("message_id") if isinstance(result, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None


GATEWAY_REFUSALS = (502, 503)
"""A gateway's own page saying it could not reach the Bot API (Bad Gateway) or would not try (Service
Unavailable): nothing was carried out. Its 500 and 504 (Gateway Timeout) pages stay in doubt."""

_WIRE: ContextVar[Wire | None] = ContextVar("valitupa_wire", default=None)


@contextlib.contextmanager
def watch_wire() -> Iterator[Wire]:
    """Note what the requests made inside (in this task) did on the wire; read it with :func:`fate`."""
    wire = Wire()
    token = _WIRE.set(wire)
    try:
        yield wire
    finally:
        _WIRE.reset(token)


def fate(error: BaseException, wire: Wire) -> Fate:
    """What the request that ended in ``error`` did (see the module docstring)."""
    if isinstance(error, RetryAfter):
        return Fate.REFUSED
    if not wire.left:
        return Fate.NOT_SENT
    if wire.status is None:
        return Fate.AMBIGUOUS
    answer = wire.answer()
    if answer is None and wire.status in GATEWAY_REFUSALS:
        return Fate.REFUSED
    if answer is None or not isinstance(answer.get("ok"), bool):
        return Fate.AMBIGUOUS
    return Fate.SENT if answer["ok"] else Fate.REFUSED


def _tls_context() -> ssl.SSLContext:
    """Certificates as PTB's httpx transport trusts them: ``SSL_CERT_FILE`` if set, else certifi's."""
    return ssl.create_default_context(cafile=os.environ.get("SSL_CERT_FILE") or certifi.where())


def _describe(error: BaseException) -> str:
    return f"aiohttp.{type(error).__name__}: {_without_token(str(error))}"


def _content(content: bytes | IO[bytes]) -> bytes:
    """An upload's bytes; a file handle is read from its start on every attempt (PTB may retry)."""
    if isinstance(content, bytes):
        return content
    if content.seekable():
        content.seek(0)
    return content.read()


def _header_safe(filename: str) -> str:
    """Escape a filename for the multipart header as httpx does (quotes, backslashes, controls)."""
    return filename.translate(_FILENAME_ESCAPES)


_FILENAME_ESCAPES = {0x22: "%22", 0x5C: "\\\\", **{c: f"%{c:02X}" for c in range(0x20) if c != 0x1B}}


def _chosen(value: object, default: float | None) -> float | None:
    """PTB passes ``DEFAULT_NONE`` when the caller did not choose a timeout."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    raise TypeError(f"a timeout is seconds or None, not {type(value).__name__}")


def _form(request_data: RequestData, files: dict[str, Any]) -> tuple[aiohttp.FormData, int]:
    """A call with files as multipart form data, and the files' size in bytes."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    size = 0
    for name, (filename, content, mimetype) in files.items():
        body = _content(content)
        size += len(body)
        # A file object, not raw bytes: aiohttp streams it in chunks (raw bytes over 1 MB are written
        # in one piece, and aiohttp warns that this can block the loop).
        form.add_field(name, io.BytesIO(body), filename=_header_safe(filename), content_type=mimetype)
    return form, size


def _never_left(wire: Wire | None) -> None:
    """No connection could be made: the request was certainly not sent."""
    if wire is not None:
        wire.left = False


class AiohttpRequest(BaseRequest):
    """A :class:`~telegram.request.BaseRequest` on one :class:`aiohttp.ClientSession`.

    The session (and its connection pool) is created in :meth:`initialize`, inside the running
    event loop, and closed in :meth:`shutdown`; an instance can be initialised again after that,
    as PTB expects.
    """

    __slots__ = (
        "_connect",
        "_media_write",
        "_pool",
        "_pool_size",
        "_proxies",
        "_read",
        "_session",
        "_slots",
        "_write",
    )

    def __init__(
        self,
        connection_pool_size: int = 1,
        *,
        read_timeout: float | None = DEFAULT_READ,
        write_timeout: float | None = DEFAULT_WRITE,
        connect_timeout: float | None = DEFAULT_CONNECT,
        pool_timeout: float | None = DEFAULT_POOL,
        media_write_timeout: float | None = DEFAULT_MEDIA_WRITE,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read = read_timeout
        self._write = write_timeout
        self._connect = connect_timeout
        self._pool = pool_timeout
        self._media_write = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[tuple[str, str], str | None] = {}
        self._slots = asyncio.Semaphore(connection_pool_size)  # made anew in initialize()

    @property
    def read_timeout(self) -> float | None:
        return self._read

    @read_timeout.setter
    def read_timeout(self, seconds: float | None) -> None:
        self._read = seconds

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # New per start: an Application may be started again in another event loop.
            self._slots = asyncio.Semaphore(self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._pool_size, limit_per_host=self._pool_size, ssl=_tls_context()
                ),
                headers={"User-Agent": self.USER_AGENT},
                # Telegram answers with JSON in every case; never follow redirects or read cookies.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                raise_for_status=False,
                # Proxies from the environment are looked up once per host below: aiohttp's
                # trust_env looks them up on every request (a fifth of the bot's CPU under load).
                trust_env=False,
            )
            self._proxies = {}

    def _proxy_for(self, url: str) -> str | None:
        """HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY, as PTB's httpx transport honours them."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            found = urllib.request.getproxies_environment()
            bypass = bool(key[1]) and urllib.request.proxy_bypass(key[1])
            self._proxies[key] = None if bypass else (found.get(key[0]) or found.get("all"))
        return self._proxies[key]

    async def shutdown(self) -> None:
        if self._session is None or self._session.closed:
            log.debug("AiohttpRequest already shut down")
            return
        await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data is not None else None
        read = _chosen(read_timeout, self._read)
        write = _chosen(write_timeout, self._media_write if files else self._write)
        connect = _chosen(connect_timeout, self._connect)
        pool = _chosen(pool_timeout, self._pool)
        data: aiohttp.FormData | bytes | None = None
        headers: dict[str, str] | None = None
        total: float | None = None  # each read is bounded by sock_read, as httpx bounds each read
        if request_data is not None and files:
            data, size = _form(request_data, files)
            # aiohttp has no per-write timeout: give an upload the write timeout per started
            # megabyte (at least 50 kB/s), so a stalled upload ends and a slow link still works.
            if write is not None and connect is not None and read is not None:
                total = connect + write * max(1, -(-size // MB)) + read
        elif request_data is not None and (parameters := request_data.parameters):
            # A JSON body, nested values and all: one C-coded json.dumps instead of encoding each
            # value as JSON text and then the lot as a form (the markup of a message with buttons
            # made that the costliest step of sending it).
            data = json.dumps(parameters).encode()
            headers = _JSON
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=read)
        try:
            async with asyncio.timeout(pool):
                await self._slots.acquire()
        except TimeoutError as error:
            raise TimedOut(POOL_TIMEOUT_MESSAGE) from error
        wire = _WIRE.get()
        if wire is not None:
            wire.left, wire.status, wire.body = True, None, None
        try:
            async with session.request(
                method,
                url,
                data=data,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                proxy=self._proxy_for(url),
            ) as response:
                body = await response.read()
                if wire is not None:
                    wire.status, wire.body = response.status, body
                return response.status, body
        # ``from None``: some aiohttp errors hold the URL, and with it the token, and a chained cause
        # would print it wherever a traceback goes. The type and the redacted text are kept.
        except aiohttp.ConnectionTimeoutError:
            _never_left(wire)
            raise TimedOut(CONNECT_TIMEOUT_MESSAGE) from None
        except TimeoutError as error:
            raise TimedOutInDoubt(f"Timed out ({_describe(error)})") from None
        except aiohttp.ClientConnectorError as error:
            _never_left(wire)
            raise NetworkError(_describe(error)) from None
        except (aiohttp.ClientError, OSError) as error:
            raise NetworkErrorInDoubt(_describe(error)) from None
        finally:
            self._slots.release()
