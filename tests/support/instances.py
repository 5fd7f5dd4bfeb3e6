"""Running ``valitupa run`` as an operator does, for the tests about several instances and shutdown:
fresh databases, instance processes read by their log, a seeded broadcast and what reached the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.infra.leader import application_name
from sandbox.server import SANDBOX_TOKEN
from storage.db import Database
from tests.support.config import POSTGRES_URL, REQUIRE_POSTGRES, postgres_available

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def fresh_database(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A DATABASE_URL no other test uses: a SQLite file, or a new PostgreSQL database dropped after."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'valitupa.db'}"
        return
    if not await postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required but does not answer at {POSTGRES_URL}")
        pytest.skip("PostgreSQL not available")
    name = f"valitupa_{secrets.token_hex(5)}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as connection:
            await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


class Instance:
    """One ``valitupa run`` process; its log is read as it comes."""

    def __init__(self, name: str, *, sandbox: Any, database_url: str, cwd: Path, **env: str) -> None:
        self.name = name
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "BOT_TOKEN": SANDBOX_TOKEN,
            "TELEGRAM_API_URL": sandbox.url,
            "DATABASE_URL": database_url,
            "LISTEN_HOST": "127.0.0.1",
            "LISTEN_PORT": "0",
            "INSTANCE_NAME": name,
            "LOG_LEVEL": "INFO",
            **env,
        }
        self.cwd = cwd
        self.lines: list[str] = []
        self.url: str | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._running = asyncio.Event()
        self._line = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process is not None
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            self._line.set()
            if found := re.search(r"web server listening on (http://\S+)", line):
                self.url = found.group(1)
            if "Välitupa is running" in line:
                self._running.set()

    async def running(self, timeout: float = 30.0) -> None:
        waiter = asyncio.create_task(self._running.wait())
        assert self.process is not None
        ended = asyncio.create_task(self.process.wait())
        await asyncio.wait({waiter, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        ended.cancel()
        if not self._running.is_set():
            raise AssertionError(f"{self.name} did not start:\n" + "\n".join(self.lines[-30:]))

    async def until(self, check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
        """Wait until ``check()`` holds, asking again each time the instance logs a line."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    self._line.clear()
                    if await check():
                        return
                    await self._line.wait()
        except TimeoutError:
            raise AssertionError(
                f"{self.name}: still not so after {timeout:g} s:\n" + "\n".join(self.lines[-20:])
            ) from None

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    async def exit_code(self, timeout: float = 15.0) -> int:
        assert self.process is not None
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        finally:
            if self._reader is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self._reader, 5)
        return code

    async def close(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    def log(self) -> str:
        return "\n".join(self.lines)


FIRST_USER = 700_000
BROADCAST = "Työpaja 2 siirtyy torstaille klo 9. Tervetuloa!"


async def seed_participants(db: Database, count: int) -> int:
    """A running process (no quiet hours, so a broadcast goes out at any hour) with ``count``
    participants who have joined; returns its id."""
    from tests.support.factories import process_yaml, seed_joined_participants

    return await seed_joined_participants(
        db, count, first_user=FIRST_USER, source_yaml=process_yaml(extra="quiet_hours: off\n")
    )


async def broadcast_now(db: Database, process_id: int) -> int:
    from bot.services.outbox import broadcast

    now = datetime.now(UTC)

    async def work(session: Any) -> int:
        prompt = await broadcast(
            session, process_id=process_id, kind="announcement", texts={"fi": BROADCAST}, now=now
        )
        return prompt.id

    return await db.run(work)


def received(sandbox: Any) -> Counter[int]:
    """How many times each chat got the broadcast, from what the sandbox accepted."""
    return Counter(
        int(call.params["chat_id"])
        for call in sandbox.calls("sendMessage")
        if call.ok and BROADCAST in str(call.params.get("text", ""))
    )


async def delivery_states(db: Database, prompt_id: int) -> Counter[str]:
    from sqlalchemy import select

    from storage.models import Delivery

    async with db.session() as session:
        return Counter(await session.scalars(select(Delivery.state).where(Delivery.prompt_id == prompt_id)))


async def terminate_backends(db: Database, instance: str) -> list[int]:
    """End the PostgreSQL sessions an instance left (its leadership session among them) and return
    their pids once the backends have exited.

    ``pg_terminate_backend`` with a timeout waits until the backend process is gone, so its advisory
    locks are released; without one it returns as soon as the signal is sent.
    """
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT pid, pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
                "WHERE application_name = :name AND datname = current_database()"
            ),
            {"name": application_name(instance)},
        )
        ended = [int(pid) for pid, _ in rows.all()]
    left = await backend_pids(db, instance)
    assert not set(ended) & set(left), f"backends {sorted(left)} of {instance} are still there"
    return ended


async def backend_pids(db: Database, instance: str) -> list[int]:
    """The pids of an instance's sessions in ``pg_stat_activity`` (read in a new transaction)."""
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name(instance)},
        )
        return [int(pid) for (pid,) in rows.all()]


async def wait_received(sandbox: Any, count: int, timeout: float) -> None:
    """Wait until the sandbox has accepted ``count`` copies of the broadcast in all."""
    await sandbox.wait_until(lambda: sum(received(sandbox).values()) >= count, timeout=timeout)
