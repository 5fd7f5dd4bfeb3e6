"""The aiohttp transport under python-telegram-bot: what reaches the server, and how failures surface.

A small aiohttp server stands in for the Bot API where the sandbox cannot misbehave on purpose
(hanging, refusing connections); the real PTB ``Bot`` drives the transport in every test, so the
errors are the ones PTB's callers see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import BodyPartReader, web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest

from bot.infra.transport import AiohttpRequest

TOKEN = "123:transport-test"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


ME = {"id": 1, "is_bot": True, "first_name": "Välitupa", "username": "valitupa_bot"}


def message(chat_id: int, text: str) -> dict[str, Any]:
    return {"message_id": 7, "date": 0, "chat": {"id": chat_id, "type": "private"}, "text": text}


class FakeApi:
    """Records what arrived; each test sets ``handler`` for the method it exercises."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, dict[str, Any]]] = []
        self.handler: Handler | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        fields: dict[str, Any] = {}
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for item in reader:
                assert isinstance(item, BodyPartReader)
                part = item
                body = await part.read()
                fields[part.name or ""] = (
                    {
                        "filename": part.filename,
                        "type": part.headers.get("Content-Type"),
                        "bytes": bytes(body),
                    }
                    if part.filename
                    else body.decode()
                )
        elif request.content_type == "application/json":
            fields = dict(await request.json())
        elif request.method == "POST":
            fields = dict(await request.post())
        self.received.append((method, request.headers.get("User-Agent", ""), fields))
        if method == "getMe":
            return ok(ME)
        assert self.handler is not None
        return await self.handler(request)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self.dispatch)
        app.router.add_get("/file/bot{token}/{path:.*}", self.file)
        self.runner = web.AppRunner(app, shutdown_timeout=0.2)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def file(self, request: web.Request) -> web.StreamResponse:
        return web.Response(body=b"\x00\x01photo-bytes")

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    server = FakeApi()
    await server.start()
    yield server
    await server.stop()


def make_bot(url: str, request: BaseRequest | None = None, updates: BaseRequest | None = None) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"{url}/bot",
        base_file_url=f"{url}/file/bot",
        request=request or AiohttpRequest(4),
        get_updates_request=updates or AiohttpRequest(1),
    )


async def test_a_call_without_files_goes_as_one_json_body(api: FakeApi) -> None:
    async def send(request: web.Request) -> web.Response:
        assert request.content_type == "application/json"
        return ok(message(42, "Kiitos <b>havainnosta</b> – äö"))

    api.handler = send
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Idea", callback_data="o:1:idea")]])
    async with make_bot(api.url) as bot:
        sent = await bot.send_message(
            42,
            "Kiitos <b>havainnosta</b> – äö",
            parse_mode="HTML",
            reply_markup=markup,
            disable_notification=True,
        )

    assert sent.message_id == 7 and sent.text == "Kiitos <b>havainnosta</b> – äö"
    method, agent, fields = api.received[-1]
    assert method == "sendMessage"
    assert agent.startswith("python-telegram-bot")
    # Values keep their JSON types, the markup is an object, and ä, – and < survive.
    assert fields["chat_id"] == 42
    assert fields["text"] == "Kiitos <b>havainnosta</b> – äö"
    assert fields["disable_notification"] is True
    assert fields["reply_markup"] == {"inline_keyboard": [[{"text": "Idea", "callback_data": "o:1:idea"}]]}


async def test_a_document_goes_out_as_multipart_with_name_and_type(api: FakeApi) -> None:
    async def send(request: web.Request) -> web.Response:
        return ok({**message(42, ""), "document": {"file_id": "d1", "file_unique_id": "u1"}})

    api.handler = send
    payload = json.dumps({"havainnot": ["jono kirjastossa"]}, ensure_ascii=False).encode()
    async with make_bot(api.url) as bot:
        await bot.send_document(42, InputFile(payload, filename="omat-tiedot.json"), caption="Tässä tietosi")

    method, _, fields = api.received[-1]
    assert method == "sendDocument"
    assert fields["caption"] == "Tässä tietosi"
    assert fields["chat_id"] == "42"
    attached = next(value for value in fields.values() if isinstance(value, dict))
    assert attached["filename"] == "omat-tiedot.json"
    assert attached["type"] == "application/json"
    assert attached["bytes"] == payload


async def test_a_file_download_uses_get_and_returns_the_bytes(api: FakeApi) -> None:
    async def get_file(request: web.Request) -> web.Response:
        return ok({"file_id": "p1", "file_unique_id": "u1", "file_path": "photos/p1.jpg"})

    api.handler = get_file
    async with make_bot(api.url) as bot:
        file = await bot.get_file("p1")
        content = await file.download_as_bytearray()

    assert bytes(content) == b"\x00\x01photo-bytes"


async def test_telegram_errors_keep_their_meaning(api: FakeApi) -> None:
    async def flood(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests",
                "parameters": {"retry_after": 3},
            },
            status=429,
        )

    api.handler = flood
    async with make_bot(api.url) as bot:
        with pytest.raises(RetryAfter) as raised:
            await bot.send_message(42, "hei")

    assert raised.value.retry_after == timedelta(seconds=3)


async def test_a_server_that_does_not_answer_times_out(api: FakeApi) -> None:
    released = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await released.wait()
        return ok(True)

    api.handler = hang
    try:
        async with make_bot(api.url, AiohttpRequest(2, read_timeout=0.2)) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(42, "hei")
        # A per-call timeout overrides the default one (here: none, so only the override can end it).
        async with make_bot(api.url, AiohttpRequest(2, read_timeout=None)) as bot:
            with pytest.raises(TimedOut):
                await bot.send_message(42, "hei", read_timeout=0.1)
    finally:
        released.set()
    assert [method for method, _, _ in api.received].count("sendMessage") == 2


async def test_a_busy_pool_times_out_without_sending(api: FakeApi) -> None:
    arrived = asyncio.Event()
    released = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await released.wait()
        return ok(message(42, "hei"))

    api.handler = slow
    async with make_bot(api.url, AiohttpRequest(1, pool_timeout=0.1, read_timeout=5)) as bot:
        first = asyncio.create_task(bot.send_message(42, "eka"))
        await arrived.wait()  # the only connection is taken until the server answers
        with pytest.raises(TimedOut, match="request was not sent"):
            await bot.send_message(42, "toka")
        released.set()
        await first

    assert [fields["text"] for method, _, fields in api.received if method == "sendMessage"] == ["eka"]


async def test_a_closed_port_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as raised:
            await request.post(f"http://127.0.0.1:{port}/bot{TOKEN}/getMe")
        assert not isinstance(raised.value, TimedOut)
        assert "aiohttp." in str(raised.value)
    finally:
        await request.shutdown()


async def test_errors_never_carry_the_token() -> None:
    """aiohttp names the URL in some errors; the token in its path must not reach a log or a chat."""
    request = AiohttpRequest(1)
    await request.initialize()
    secret = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
    try:
        for url in (f"http://127.0.0.1:99999/bot{secret}/getMe", f"htp://api/file/bot{secret}/photo.jpg"):
            with pytest.raises(NetworkError) as raised:
                await request.post(url)
            assert secret not in str(raised.value)
            assert "bot<redacted>" in str(raised.value)
    finally:
        await request.shutdown()


async def test_it_can_be_used_again_after_shutdown_and_refuses_before_initialize(api: FakeApi) -> None:
    request = AiohttpRequest(1)
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request(f"{api.url}/bot{TOKEN}/getMe", "POST")
    for _ in range(2):
        await request.initialize()
        status, body = await request.do_request(f"{api.url}/bot{TOKEN}/getMe", "POST")
        assert status == 200 and json.loads(body)["result"]["username"] == "valitupa_bot"
        await request.shutdown()
    await request.shutdown()  # twice is harmless
    assert request.read_timeout == 5.0
    with pytest.raises(ValueError):
        AiohttpRequest(0)


async def test_a_slow_download_that_keeps_arriving_is_not_cut(api: FakeApi) -> None:
    """Only each wait for bytes is bounded (as with httpx), not the whole transfer.

    The download keeps arriving until a second request with the same read timeout, sent after the
    download began, has timed out: so the transfer surely lasted longer than the read timeout.
    """
    read_timeout = 0.5
    download_began = asyncio.Event()
    probe_arrived = asyncio.Event()
    probe_timed_out = asyncio.Event()
    chunks = 0

    async def trickle(request: web.Request) -> web.StreamResponse:
        nonlocal chunks
        if request.match_info["method"] == "probe":
            probe_arrived.set()
            await probe_timed_out.wait()
            return ok(True)
        response = web.StreamResponse()
        await response.prepare(request)
        download_began.set()
        while not probe_timed_out.is_set():
            await response.write(b"x" * 1024)
            chunks += 1
            # A pause well inside the read timeout between chunks, ended early by the probe's timeout.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(read_timeout / 10):
                    await probe_timed_out.wait()
        await response.write_eof()
        return response

    async def probe(request: AiohttpRequest) -> None:
        await download_began.wait()
        with pytest.raises(TimedOut):
            await request.do_request(f"{api.url}/bot{TOKEN}/probe", "POST")
        probe_timed_out.set()

    api.handler = trickle
    request = AiohttpRequest(1, read_timeout=read_timeout, connect_timeout=0.5, write_timeout=0.2)
    prober = AiohttpRequest(1, read_timeout=read_timeout)
    await request.initialize()
    await prober.initialize()
    try:
        probing = asyncio.create_task(probe(prober))
        status, body = await request.do_request(f"{api.url}/bot{TOKEN}/slow", "GET")
        await probing
    finally:
        probe_timed_out.set()
        await request.shutdown()
        await prober.shutdown()
    assert probe_arrived.is_set()
    assert status == 200 and len(body) == chunks * 1024


async def test_a_file_handle_is_sent_whole_again_on_a_retry(api: FakeApi, tmp_path: Path) -> None:
    async def send(request: web.Request) -> web.Response:
        return ok({**message(42, ""), "document": {"file_id": "d1", "file_unique_id": "u1"}})

    api.handler = send
    path = tmp_path / "vienti.csv"
    path.write_bytes(b"nimi;havainto\nAino;jono kirjastossa\n")
    async with make_bot(api.url) as bot:
        with path.open("rb") as handle:
            document = InputFile(handle, filename='vienti "2027"\r\n.csv', read_file_handle=False)
            for _ in range(2):  # what a rate limiter does after a RetryAfter: the same call again
                await bot.send_document(42, document)

    sent = [fields for method, _, fields in api.received if method == "sendDocument"]
    assert len(sent) == 2
    for fields in sent:
        attached = next(value for value in fields.values() if isinstance(value, dict))
        assert attached["bytes"] == path.read_bytes()
        # Quotes and line breaks in a name are escaped as httpx does, not a broken header.
        assert attached["filename"] == "vienti %222027%22%0D%0A.csv"


async def test_a_proxy_from_the_environment_is_used(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """HTTP(S)_PROXY is honoured as with PTB's stock transport: here the fake API is the proxy."""
    monkeypatch.setenv("HTTP_PROXY", api.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        status, body = await request.do_request(f"http://api.telegram.invalid/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    assert status == 200 and json.loads(body)["result"]["username"] == "valitupa_bot"
    assert api.received[-1][0] == "getMe"


async def test_no_proxy_is_honoured(api: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", api.url)
    monkeypatch.setenv("NO_PROXY", "api.telegram.invalid")
    request = AiohttpRequest(1, connect_timeout=2)
    await request.initialize()
    try:
        with pytest.raises(NetworkError):  # straight to a host that does not exist
            await request.do_request(f"http://api.telegram.invalid/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    assert api.received == []


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
async def tls_api(certificate: tuple[Path, Path]) -> AsyncIterator[tuple[str, Path]]:
    """The fake API over HTTPS with that certificate."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = FakeApi()
    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", server.dispatch)
    runner = web.AppRunner(app, shutdown_timeout=0.2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}", cert
    await runner.cleanup()


async def test_tls_certificates_are_checked(
    tls_api: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, cert = tls_api
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    request = AiohttpRequest(1)
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match=r"(?i)certificate"):
            await request.do_request(f"{url}/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()

    # An operator's own CA (a TLS-inspecting proxy, say) comes in through SSL_CERT_FILE, as with httpx.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    await request.initialize()
    try:
        status, body = await request.do_request(f"{url}/bot{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    assert status == 200 and json.loads(body)["result"]["username"] == "valitupa_bot"
