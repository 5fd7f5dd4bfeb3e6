"""How the bot talks HTTP to the Bot API: python-telegram-bot's request interface over aiohttp.

python-telegram-bot ships one transport, built on httpx. Under load most of the bot's CPU went into
it (httpx, httpcore, anyio and h11 together cost more per update than storing the observation), and
the bot already depends on aiohttp for its webhook server, whose client parses HTTP in C. This class
is a drop-in :class:`telegram.request.BaseRequest`; ``bench/updates.py`` measures both transports.

Timeouts keep PTB's meaning as closely as aiohttp allows:

* ``pool_timeout`` bounds waiting for one of the ``connection_pool_size`` slots (a semaphore of our
  own, so the request is known not to have been sent);
* ``connect_timeout`` bounds opening a TCP connection (aiohttp ``sock_connect``);
* ``read_timeout`` bounds each wait for response bytes (aiohttp ``sock_read``);
* aiohttp has no write timeout, so the exchange as a whole is bounded by the sum of the connect,
  write and read timeouts (aiohttp ``total``): a stalled upload ends instead of hanging.

Errors are PTB's: :class:`telegram.error.TimedOut` for timeouts and
:class:`telegram.error.NetworkError` for everything else on the wire, so PTB's retry and the
bot's own handling work unchanged.
"""

from __future__ import annotations

import asyncio
import logging
import re

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

# PTB's own defaults for HTTPXRequest, so switching transports changes nothing a user could notice.
DEFAULT_READ = 5.0
DEFAULT_WRITE = 5.0
DEFAULT_CONNECT = 5.0
DEFAULT_POOL = 1.0
DEFAULT_MEDIA_WRITE = 20.0

POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: every connection in the pool is busy; the request was not sent. "
    "Consider a larger pool or a longer pool timeout."
)
CONNECT_TIMEOUT_MESSAGE = "No connection to the Bot API in time; the request was not sent."


_TOKEN_IN_PATH = re.compile(r"/(file/)?bot[^/\s]+")


def _without_token(text: str) -> str:
    """aiohttp puts the URL in some errors, and a Bot API URL carries the token in its path."""
    return _TOKEN_IN_PATH.sub(lambda match: f"/{match.group(1) or ''}bot<redacted>", text)


def _chosen(value: object, default: float | None) -> float | None:
    """PTB passes ``DEFAULT_NONE`` when the caller did not choose a timeout."""
    if value is BaseRequest.DEFAULT_NONE:
        return default
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    raise TypeError(f"a timeout is seconds or None, not {type(value).__name__}")


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
        self._slots = asyncio.Semaphore(connection_pool_size)  # made anew in initialize()

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # New per start: an Application may be started again in another event loop.
            self._slots = asyncio.Semaphore(self._pool_size)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=self._pool_size),
                headers={"User-Agent": self.USER_AGENT},
                # Telegram answers with JSON in every case; never follow redirects or read cookies.
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=True,
                raise_for_status=False,
            )

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
        parts = (read, write, connect)
        timeout = aiohttp.ClientTimeout(
            total=None if None in parts else sum(p for p in parts if p is not None),
            sock_connect=connect,
            sock_read=read,
        )
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None:
            fields = request_data.json_parameters
            if files:
                form = aiohttp.FormData(quote_fields=False)
                for name, value in fields.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                data = form
            elif fields:
                data = fields
        try:
            async with asyncio.timeout(pool):
                await self._slots.acquire()
        except TimeoutError as error:
            raise TimedOut(POOL_TIMEOUT_MESSAGE) from error
        try:
            async with session.request(
                method, url, data=data, timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as error:
            raise TimedOut(CONNECT_TIMEOUT_MESSAGE) from error
        except TimeoutError as error:
            raise TimedOut from error
        except (aiohttp.ClientError, OSError) as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {_without_token(str(error))}") from error
        finally:
            self._slots.release()
