"""SIGKILL in the middle of a burst: every message is stored exactly once after the restart.

A real ``valitupa run`` process (webhook or long polling, SQLite or PostgreSQL) takes a burst of 300
participant messages from the Bot API sandbox and is killed with SIGKILL at a moment chosen by what
the sandbox has seen (the first replies, or half of them). A second life of the same instance then
handles whatever the first one stored but did not handle, and Telegram's redeliveries (the webhook
retries, the unconfirmed getUpdates batch) are recognised. Nothing is lost and nothing is filed twice.
"""

from __future__ import annotations

import signal
import socket
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sandbox.server import BotApiSandbox
from storage import migrate
from storage.db import Database
from storage.models import InboxUpdate, Submission
from tests.support.instances import FIRST_USER, Instance, fresh_database, seed_participants

PEOPLE = 100
EACH = 3
SECRET = "crash-test-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def replies(sandbox: BotApiSandbox) -> int:
    return sum(1 for call in sandbox.calls("sendMessage") if call.ok)


async def stored_texts(db: Database) -> Counter[str]:
    async with db.session() as session:
        return Counter(str(text) for text in await session.scalars(select(Submission.text)))


async def unhandled(db: Database) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(InboxUpdate).where(InboxUpdate.handled_at.is_(None))
        )
        return int(count or 0)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize("kill_after", [2, 150], ids=["first-replies", "half-way"])
async def test_sigkill_during_a_burst_loses_nothing_and_files_nothing_twice(
    backend: str, mode: str, kill_after: int, tmp_path: Path
) -> None:
    # Telegram retries a webhook for hours; the sandbox by default gives up after three tries.
    sandbox = BotApiSandbox(webhook_retries=14, webhook_backoff=0.02)
    await sandbox.start()
    try:
        async with fresh_database(backend, tmp_path) as url:
            db = Database(url)
            try:
                await migrate.upgrade(db)
                await seed_participants(db, PEOPLE)
                people = [sandbox.user(FIRST_USER + index, first_name=f"P{index}") for index in range(PEOPLE)]
                env: dict[str, str] = {}
                if mode == "webhook":
                    port = free_port()
                    env = {
                        "WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                        "WEBHOOK_SECRET": SECRET,
                        "LISTEN_PORT": str(port),
                    }
                first = Instance("crash", sandbox=sandbox, database_url=url, cwd=tmp_path, **env)
                second = Instance("crash", sandbox=sandbox, database_url=url, cwd=tmp_path, **env)
                try:
                    # given a running bot taking a burst of 300 messages
                    await first.start()
                    await first.running()
                    texts = [
                        f"Havainto {index}-{number}" for number in range(EACH) for index in range(PEOPLE)
                    ]
                    for number in range(EACH):
                        for index, person in enumerate(people):
                            await person.send_text(f"Havainto {index}-{number}")

                    # when it is killed the moment the sandbox has seen so many replies
                    await sandbox.wait_until(lambda: replies(sandbox) >= kill_after, timeout=120)
                    first.signal(signal.SIGKILL)
                    assert await first.exit_code() == -signal.SIGKILL
                    filed_before = sum((await stored_texts(db)).values())
                    assert filed_before < len(texts), "the burst was over before the kill"

                    # and started again
                    await second.start()
                    await second.running()

                    async def done() -> bool:
                        return (
                            sum((await stored_texts(db)).values()) >= len(texts) and await unhandled(db) == 0
                        )

                    await second.until(done, timeout=180)
                    await sandbox.wait_updates_consumed(timeout=60)

                    # then every message is filed exactly once
                    stored = await stored_texts(db)
                    assert stored == Counter(texts), {text: n for text, n in stored.items() if n != 1}
                    # and the inbox keeps no message text once handled
                    async with db.session() as session:
                        bodies = await session.scalar(
                            select(func.count()).select_from(InboxUpdate).where(InboxUpdate.body.is_not(None))
                        )
                    assert bodies == 0
                    assert "Traceback" not in second.log(), second.log()
                finally:
                    await first.close()
                    await second.close()
            finally:
                await db.dispose()
    finally:
        await sandbox.stop()
