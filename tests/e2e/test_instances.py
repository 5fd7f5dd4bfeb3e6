"""Several instances: one leader by advisory lock on PostgreSQL, one instance at most on a SQLite file.

The subprocess tests run ``python -m bot.cli run`` exactly as an operator would, against the Bot API
sandbox started in this test process, each on a database of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.infra.leader import InstanceLock, Leader, application_name
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


async def test_a_second_instance_on_one_sqlite_file_refuses_to_start(sandbox, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'valitupa.db'}"
    first = Instance("first", sandbox=sandbox, database_url=url, cwd=tmp_path)
    second = Instance("second", sandbox=sandbox, database_url=url, cwd=tmp_path)
    try:
        await first.start()
        await first.running()
        await second.start()
        assert await second.exit_code() == 2
        assert first.process is not None and first.process.returncode is None
        [line] = [line for line in second.lines if line.startswith("valitupa:")]
        assert second.lines[-1] == line
        assert "Traceback" not in second.log()
        assert line.startswith("valitupa: another Välitupa (pid ")
        assert "only one instance" in line and "PostgreSQL" in line

        first.signal(signal.SIGTERM)
        assert await first.exit_code() == 0
    finally:
        await first.close()
        await second.close()
    # The lock went with the process: the file can be taken again.
    lock = InstanceLock(tmp_path / "valitupa.db")
    lock.acquire()
    lock.release()


def test_the_sqlite_lock_is_exclusive_within_one_process_too(tmp_path: Path) -> None:
    from bot.settings import SettingsError

    first, second = InstanceLock(tmp_path / "v.db"), InstanceLock(tmp_path / "v.db")
    first.acquire()
    with pytest.raises(SettingsError, match="only one instance may run"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


async def leader_backend_pids(db: Database, instance: str) -> list[int]:
    async with db.engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
            {"name": application_name(instance)},
        )
        return [int(pid) for (pid,) in rows.all()]


async def test_leadership_passes_to_another_instance_when_the_leader_dies(db: Database, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("leadership by advisory lock is a PostgreSQL matter; SQLite runs one instance")
    # Names unique to this test: pg_stat_activity is shared by every test run on the server.
    first = Leader(Database(db.url, schema=db.schema), instance=f"first-{db.schema}")
    second = Leader(Database(db.url, schema=db.schema), instance=f"second-{db.schema}")
    try:
        assert await first.is_leader() is True
        assert await second.is_leader() is False
        assert await first.is_leader() is True  # checked every tick, still leading

        # The leader's session dies as it does when its process is killed or its host vanishes.
        [pid] = await leader_backend_pids(db, first.instance)
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        assert await second.is_leader() is True
        assert await first.is_leader() is False
        assert first.leading is False

        await second.close()
        assert await first.is_leader() is True
    finally:
        await first.close()
        await second.close()
        await first.db.dispose()
        await second.db.dispose()


async def test_leadership_is_per_deployment(db: Database, backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    other_schema = Database(db.url, schema=f"{db.schema}_other")
    ours, theirs = Leader(db, instance="ours"), Leader(other_schema, instance="theirs")
    try:
        assert await ours.is_leader() is True
        assert await theirs.is_leader() is True
    finally:
        await ours.close()
        await theirs.close()
        await other_schema.dispose()


async def test_with_sqlite_the_only_instance_always_leads(db: Database, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite only")
    leader = Leader(db, instance="only")
    assert await leader.is_leader() is True
    await leader.close()
    assert await leader.is_leader() is False


# --- broadcasts across instances ------------------------------------------------------------------

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


async def wait_all_sent(db: Database, prompt_id: int, count: int, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (states := await delivery_states(db, prompt_id))["sent"] < count:
        if loop.time() > deadline:
            raise AssertionError(f"not all sent within {timeout} s: {dict(states)}")
        await asyncio.sleep(0.2)


async def test_two_instances_deliver_a_broadcast_to_500_participants_exactly_once(
    db: Database, backend: str, sandbox
) -> None:
    if backend != "postgresql":
        pytest.skip("several instances need PostgreSQL; SQLite refuses a second one")
    from sqlalchemy import select

    from bot.runner import Runtime
    from storage.models import Delivery
    from tests.support.config import make_settings

    process_id = await seed_participants(db, 500)
    for index in range(500):
        sandbox.user(FIRST_USER + index, first_name=f"O{index}")
    names = [f"one-{db.schema}", f"two-{db.schema}"]
    runtimes = [
        Runtime(
            make_settings(sandbox, listen_port=0, instance_name=name, broadcast_rate=50.0),
            db=Database(db.url, schema=db.schema),
        )
        for name in names
    ]
    try:
        for runtime in runtimes:
            await runtime.start()
        prompt_id = await broadcast_now(db, process_id)

        await sandbox.wait_until(lambda: sum(received(sandbox).values()) >= 500, timeout=60)
        await wait_all_sent(db, prompt_id, 500, timeout=10)
    finally:
        for runtime in runtimes:
            await runtime.stop()
            await runtime.db.dispose()

    counts = received(sandbox)
    assert len(counts) == 500
    assert set(counts.values()) == {1}
    async with db.session() as session:
        senders = Counter(
            await session.scalars(select(Delivery.claimed_by).where(Delivery.prompt_id == prompt_id))
        )
    assert set(senders) == set(names), senders  # both instances took part
    assert sum(senders.values()) == 500


@pytest.mark.slow
async def test_when_the_leader_is_killed_mid_broadcast_the_other_instance_finishes_it(
    sandbox, tmp_path: Path
) -> None:
    import aiohttp
    from sqlalchemy import func, select

    from bot.services.outbox import in_flight_limit
    from storage.models import Delivery

    async with fresh_database("postgresql", tmp_path) as url:
        db = Database(url)
        try:
            from storage import migrate

            await migrate.upgrade(db)
            process_id = await seed_participants(db, 300)
            for index in range(300):
                sandbox.user(FIRST_USER + index, first_name=f"K{index}")
            first = Instance("first", sandbox=sandbox, database_url=url, cwd=tmp_path, BROADCAST_RATE="60")
            second = Instance("second", sandbox=sandbox, database_url=url, cwd=tmp_path, BROADCAST_RATE="60")
            try:
                await first.start()
                await first.running()
                await second.start()
                await second.running()
                assert "leader" in next(line for line in first.lines if "is running" in line)
                assert "leader" not in next(line for line in second.lines if "is running" in line)
                prompt_id = await broadcast_now(db, process_id)

                await sandbox.wait_until(lambda: sum(received(sandbox).values()) >= 60, timeout=30)
                first.signal(signal.SIGKILL)
                assert await first.exit_code() == -signal.SIGKILL
                at_kill = sum(received(sandbox).values())
                assert at_kill < 300, "the broadcast ended before the leader could be killed"
                async with db.session() as session:
                    left_claimed = await session.scalar(
                        select(func.count())
                        .select_from(Delivery)
                        .where(Delivery.state == "sending", Delivery.claimed_by == "first")
                    )

                await wait_all_sent(db, prompt_id, 300, timeout=60)
                # The survivor also took over long polling: a participant is answered.
                aino = sandbox.user(FIRST_USER)
                aino.drain()
                await aino.send_command("help")
                assert "/observe" in (await aino.next_message(timeout=15))["text"]
                assert second.url is not None
                async with aiohttp.ClientSession() as http, http.get(f"{second.url}/healthz") as response:
                    health = await response.json()
                second.signal(signal.SIGTERM)
                assert await second.exit_code() == 0
            finally:
                await first.close()
                await second.close()
        finally:
            await db.dispose()

    assert health["leader"] is True
    counts = received(sandbox)
    assert len(counts) == 300  # everyone got it
    # Only what the killed instance had on the wire at that moment may have gone twice.
    twice = [chat for chat, n in counts.items() if n > 1]
    assert len(twice) <= in_flight_limit(60.0), twice
    assert max(counts.values()) <= 2
    # What the killed leader had claimed is released by the survivor, and the log says so.
    assert ("has gone" in second.log()) == bool(left_claimed)
