"""Webhook mode on a real aiohttp server on loopback: the secret, duplicates, bad bodies, health, metrics.

The Bot API sandbox plays Telegram: ``setWebhook`` points it at Välitupa's server and it POSTs every
update there with the secret header, as Telegram does.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import delete, func, select

from bot.app import build_application
from bot.cli import main
from bot.infra.web import SECRET_HEADER, WebServer
from bot.runner import Runtime
from storage.db import Database
from storage.models import Delivery, InboxUpdate, Membership, Prompt
from tests.support.config import make_settings, services_for
from tests.support.harness import BotHarness

SECRET = "Hook_secret-0123456789abcdefXYZ"
PATH = "/telegram/3f9a"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WebhookBot(BotHarness):
    """The harness's people-like helpers over a real ``Runtime`` in webhook mode."""

    def __init__(self, *, sandbox: Any, db: Database, clock: Any, port: int) -> None:
        self.sandbox, self.db, self.clock, self.port = sandbox, db, clock, port
        self.settings = make_settings(
            sandbox,
            webhook_url=f"http://127.0.0.1:{port}{PATH}",
            webhook_secret=SECRET,
            listen_host="127.0.0.1",
            listen_port=port,
            instance_name="web-1",
        )
        self.runtime = Runtime(self.settings, db=db, clock=clock)

    async def start(self) -> None:
        await self.runtime.start()
        assert self.runtime.application is not None
        assert self.runtime.services is not None
        self.app = self.runtime.application
        self.services = self.runtime.services
        self.catalog = self.services.catalog

    async def stop(self) -> None:
        await self.idle()
        await self.runtime.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def hook(sandbox, db, clock) -> AsyncIterator[WebhookBot]:
    bot = WebhookBot(sandbox=sandbox, db=db, clock=clock, port=free_port())
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def update_body(user: Any, update_id: int, text: str = "/help") -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": 500 + update_id % 1000,
        "from": user.user,
        "chat": user.log.chat,
        "date": int(time.time()),
        "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": update_id, "message": message}


async def processed_ids(db: Database) -> list[int]:
    async with db.session() as session:
        return list(await session.scalars(select(InboxUpdate.update_id).order_by(InboxUpdate.update_id)))


async def test_start_registers_the_webhook_with_the_secret_and_handled_update_types(hook, sandbox) -> None:
    [call] = sandbox.calls("setWebhook")

    assert call.params["url"] == f"{hook.url}{PATH}"
    assert call.params["secret_token"] == SECRET
    assert sorted(call.params["allowed_updates"]) == ["callback_query", "edited_message", "message"]
    assert sandbox.calls("getUpdates") == []


async def test_a_participant_joins_and_is_answered_through_the_webhook(hook, sandbox) -> None:
    process = await hook.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")

    await hook.join(aino, process)
    await hook.say(aino, "Kirjastossa vanhus kysyi, miten ruokakassin saa tilattua.")

    assert "tallensin havainnon" in aino.messages[-1]["text"]
    assert sandbox.stats["webhook_deliveries"] >= 6
    assert sandbox.stats["webhook_errors"] == 0
    assert len(await processed_ids(hook.db)) == sandbox.stats["webhook_deliveries"]


@pytest.mark.parametrize("header", [None, "", "wrong-secret", SECRET[:-1], SECRET + "x"])
async def test_a_request_without_the_right_secret_is_forbidden(hook, sandbox, http, header) -> None:
    aino = sandbox.user(1001)
    headers = {} if header is None else {SECRET_HEADER: header}

    async with http.post(f"{hook.url}{PATH}", json=update_body(aino, 4242), headers=headers) as response:
        assert response.status == 403
    await hook.idle()

    assert aino.messages == []
    assert await processed_ids(hook.db) == []


async def test_an_update_delivered_twice_is_handled_once(hook, sandbox, http) -> None:
    aino = sandbox.user(1001)
    body = update_body(aino, 5150)

    statuses = []
    for _ in range(2):
        async with http.post(f"{hook.url}{PATH}", json=body, headers={SECRET_HEADER: SECRET}) as response:
            statuses.append(response.status)
    # and once more concurrently, as two proxies retrying at once would
    results = await asyncio.gather(
        *(http.post(f"{hook.url}{PATH}", json=body, headers={SECRET_HEADER: SECRET}) for _ in range(3))
    )
    statuses += [result.status for result in results]
    for result in results:
        result.release()
    await hook.idle()

    assert statuses == [200] * 5
    assert len(aino.messages) == 1
    assert len(sandbox.calls("sendMessage")) == 1
    assert await processed_ids(hook.db) == [5150]
    metrics = await (await http.get(f"{hook.url}/metrics")).text()
    assert 'valitupa_webhook_requests_total{outcome="accepted"} 1' in metrics
    assert 'valitupa_webhook_requests_total{outcome="duplicate"} 4' in metrics


@pytest.mark.parametrize(
    "body",
    [
        b"not json at all",
        b"[1, 2, 3]",
        b'{"hello": "world"}',
        b'{"update_id": "12", "message": {}}',
        b'{"update_id": 12}',
        b'{"update_id": 12, "message": {"text": "no chat, no sender, no date"}}',
        b'{"update_id": -1, "message": {}}',
        # Past a 64-bit column: once a 503 for ever, as Telegram kept redelivering it.
        b'{"update_id": 9223372036854775808, "message": {}}',
        b'{"update_id": 12, "message": {"message_id": 1, "date": Infinity, "chat": {"id": 1, "type": "private"}}}',
        b'{"update_id": 12, "message": {"message_id": 1, "date": NaN, "chat": {"id": 1, "type": "private"}}}',
        b'{"update_id": 12, "message": {"message_id": 1, "date": 1e400, "chat": {"id": 1, "type": "private"}}}',
        b'{"update_id": 12, "message": {"message_id": 99999999999999999999, "date": 1, '
        b'"chat": {"id": 1, "type": "private"}}}',
        b'{"update_id": 12, "message": {"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"update_id": 12, "message": {"x": ' + b"[" * 50 + b"]" * 50 + b"}}",
    ],
)
async def test_a_body_that_is_not_an_update_is_refused(hook, sandbox, http, body) -> None:
    async with http.post(
        f"{hook.url}{PATH}", data=body, headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    ) as response:
        assert response.status == 400

    assert await processed_ids(hook.db) == []


async def test_only_the_webhook_path_takes_updates(hook, sandbox, http) -> None:
    aino = sandbox.user(1001)
    async with http.post(
        f"{hook.url}/", json=update_body(aino, 1), headers={SECRET_HEADER: SECRET}
    ) as response:
        assert response.status in (404, 405)


async def test_healthz_reports_database_telegram_and_mode(hook, http) -> None:
    async with http.get(f"{hook.url}/healthz") as response:
        body = await response.json()
        assert response.status == 200

    assert body["status"] == "ok"
    assert body["mode"] == "webhook"
    assert body["instance"] == "web-1"
    assert body["leader"] is True
    assert body["database"]["ok"] is True
    assert body["telegram"]["ok"] is True
    assert body["telegram"]["last_ok_age_s"] < 60


async def test_metrics_count_updates_and_show_the_outbox_by_state(hook, sandbox, http) -> None:
    process = await hook.create_process()
    aino = sandbox.user(1001, first_name="Aino", language_code="fi")
    await hook.join(aino, process)
    await hook.say(aino, "Torilla oli hiljaista.")

    async def add_deliveries(session: Any) -> None:
        membership = await session.scalar(select(Membership).where(Membership.user_id == 1001))
        prompts = list(await session.scalars(select(Prompt).where(Prompt.process_id == process.id).limit(3)))
        await session.execute(delete(Delivery))
        for prompt, state in zip(prompts, ("pending", "pending", "sent"), strict=True):
            session.add(
                Delivery(
                    prompt_id=prompt.id, membership_id=membership.id, state=state, due_at=hook.clock.now()
                )
            )

    await hook.db.run(add_deliveries)

    async with http.get(f"{hook.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()

    assert 'valitupa_updates_total{type="message"}' in text
    assert 'valitupa_updates_total{type="callback_query"}' in text
    assert 'valitupa_deliveries{state="pending"} 2' in text
    assert 'valitupa_deliveries{state="sent"} 1' in text
    assert 'valitupa_deliveries{state="failed"} 0' in text
    assert "# TYPE valitupa_send_seconds histogram" in text
    assert "valitupa_send_seconds_count " in text
    assert "valitupa_retry_after_total" in text
    assert "valitupa_digest_runs_total" in text
    assert "valitupa_leader 1" in text
    assert "valitupa_processed_updates " in text
    counted = {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("valitupa_updates_total{")
    }
    async with hook.db.session() as session:
        assert sum(counted.values()) == await session.scalar(select(func.count()).select_from(InboxUpdate))


async def test_healthz_fails_when_the_database_does_not_answer(sandbox, clock, http) -> None:
    unreachable = Database("postgresql+asyncpg://postgres@127.0.0.1:9/none")
    services = services_for(make_settings(sandbox), unreachable, clock)
    server = WebServer(build_application(services), host="127.0.0.1", port=0)
    server.telegram.ok()
    await server.start()
    try:
        async with http.get(f"{server.url}/healthz") as response:
            body = await response.json()
            assert response.status == 503
    finally:
        await server.stop()
        await unreachable.dispose()

    assert body["status"] == "fail"
    assert body["database"]["ok"] is False
    assert body["mode"] == "polling"


async def test_healthz_fails_when_the_dispatcher_has_stopped_ticking(hook, http) -> None:
    assert hook.services.dispatcher is not None
    hook.services.dispatcher.auto = False
    hook.services.dispatcher.last_tick = time.monotonic() - 600
    async with http.get(f"{hook.url}/healthz") as response:
        body = await response.json()
        assert response.status == 503
    assert body["dispatcher"] == {"ok": False, "running": True, "last_tick_age_s": pytest.approx(600, abs=5)}

    await hook.services.dispatcher.tick()
    async with http.get(f"{hook.url}/healthz") as response:
        assert response.status == 200


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``valitupa`` configures the process's logging; put this test process's back afterwards."""
    import logging

    from bot.infra.logs import QUIET_LOGGERS

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def run_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, env: dict[str, str]) -> int:
    from sandbox.server import SANDBOX_TOKEN

    monkeypatch.chdir(tmp_path)
    for name in ("WEBHOOK_URL", "WEBHOOK_SECRET", "DATABASE_URL", "LISTEN_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_TOKEN", SANDBOX_TOKEN)
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return main(["run"])


@pytest.mark.parametrize("secret", ["has spaces", "ä-not-ascii", "x" * 257, "semi;colon"])
def test_a_malformed_webhook_secret_stops_start_up_with_one_line(
    monkeypatch, tmp_path, capsys, secret, restore_logging
) -> None:
    status = run_cli(
        monkeypatch, tmp_path, {"WEBHOOK_URL": "https://bot.example.fi/hook", "WEBHOOK_SECRET": secret}
    )

    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1
    assert err[0].startswith("valitupa: WEBHOOK_SECRET is malformed")
    assert "A-Z, a-z, 0-9, _ and -" in err[0]
    assert secret not in err[0]


def test_a_webhook_without_a_secret_is_refused_not_invented(
    monkeypatch, tmp_path, capsys, restore_logging
) -> None:
    status = run_cli(monkeypatch, tmp_path, {"WEBHOOK_URL": "https://bot.example.fi/hook"})

    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert len(err) == 1
    assert err[0].startswith("valitupa: WEBHOOK_SECRET is not set")
    assert not (tmp_path / "valitupa.db").exists()


async def test_the_leaders_duties_purge_ended_processes_and_forget_old_update_ids(hook, sandbox) -> None:
    from datetime import timedelta

    from storage.models import Process
    from tests.support.factories import process_yaml

    old = await hook.create_process(
        process_yaml(
            name="Päättynyt 2026",
            workshops=(
                "2026-03-02 09:00",
                "2026-03-23 09:00",
                "2026-04-13 09:00",
                "2026-05-04 09:00",
                "2026-05-25 09:00",
            ),
            extra="end: 2026-06-15 16:00\nretention_days: 30\n",
        )
    )
    running = await hook.create_process()
    now = hook.clock.now()

    async def remember(session: Any) -> None:
        # Handled two and a half days ago (forgotten), handled yesterday (kept), and one from three
        # days ago still waiting to be handled (never pruned: it is someone's message).
        session.add(InboxUpdate(update_id=1, received_at=now - timedelta(hours=60), handled_at=now))
        session.add(InboxUpdate(update_id=2, received_at=now - timedelta(days=1), handled_at=now))
        session.add(InboxUpdate(update_id=3, received_at=now - timedelta(days=3), user_id=-3, body="{}"))

    await hook.db.run(remember)

    assert hook.services.duties is not None
    await hook.services.duties.run_all(hook.app.bot)

    async with hook.db.session() as session:
        remaining = list(await session.scalars(select(Process.id).order_by(Process.id)))
    assert remaining == [running.id]
    assert old.id not in remaining
    assert await processed_ids(hook.db) == [2, 3]


def test_an_unreachable_bot_api_stops_start_up_with_one_line(
    monkeypatch, tmp_path, capsys, restore_logging
) -> None:
    status = run_cli(
        monkeypatch, tmp_path, {"DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}", "LISTEN_PORT": "0"}
    )

    err = [line for line in capsys.readouterr().err.strip().splitlines() if line.startswith("valitupa:")]
    assert status == 2
    assert err == [
        "valitupa: TELEGRAM_API_URL: the Bot API at http://127.0.0.1:9 does not answer (NetworkError); "
        "check the network, a proxy, or the URL."
    ]
