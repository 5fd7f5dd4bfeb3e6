"""Several instances: one leader by advisory lock on PostgreSQL, one instance at most on a SQLite file.

The subprocess tests run ``python -m bot.cli run`` exactly as an operator would, against the Bot API
sandbox started in this test process, each on a database of its own.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from bot.infra.leader import InstanceLock, Leader
from storage.db import Database
from tests.support.instances import (
    FIRST_USER,
    Instance,
    backend_pids,
    broadcast_now,
    delivery_states,
    fresh_database,
    received,
    seed_participants,
    terminate_backends,
    wait_received,
)


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
        [pid] = await backend_pids(db, first.instance)
        assert await terminate_backends(db, first.instance) == [pid]
        assert pid not in await backend_pids(db, first.instance)

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

        await wait_received(sandbox, 500, timeout=60)
    finally:
        for runtime in runtimes:
            await runtime.stop()
            await runtime.db.dispose()

    # A stopped instance has recorded every message Telegram accepted from it.
    assert await delivery_states(db, prompt_id) == {"sent": 500}

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
    from sqlalchemy import select

    from bot.jobs.dispatcher import in_flight_limit
    from storage.models import Delivery, Membership

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

                await wait_received(sandbox, 60, timeout=30)
                first.signal(signal.SIGKILL)
                assert await first.exit_code() == -signal.SIGKILL
                # Gone means its sessions too: PostgreSQL ends them when it notices, this waits for it.
                await terminate_backends(db, "first")
                at_kill = received(sandbox)
                assert sum(at_kill.values()) < 300, "the broadcast ended before the leader could be killed"
                async with db.session() as session:
                    left = list(
                        await session.scalars(
                            select(Membership.user_id)
                            .join(Delivery, Delivery.membership_id == Membership.id)
                            .where(Delivery.state == "sending", Delivery.claimed_by == "first")
                        )
                    )
                left_claimed = len(left)

                # The crash rule sends a claimed row again; one Telegram had already accepted goes twice.
                accepted_twice = sum(1 for chat in left if at_kill[chat])
                await wait_received(sandbox, 300 + accepted_twice, timeout=60)
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
                assert await delivery_states(db, prompt_id) == {"sent": 300}
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
