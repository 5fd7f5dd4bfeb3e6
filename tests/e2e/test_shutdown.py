"""SIGTERM in the middle of a broadcast: a clean, quick exit, nothing half-written, and a restart that
completes the broadcast without sending anything twice.

``valitupa run`` runs as a subprocess, exactly as an operator starts it, against the Bot API sandbox
in this test process, on a fresh SQLite file or PostgreSQL database.
"""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import select

from storage import migrate
from storage.db import Database
from storage.models import Delivery
from tests.support.instances import (
    FIRST_USER,
    Instance,
    broadcast_now,
    delivery_states,
    fresh_database,
    received,
    seed_participants,
    wait_received,
)

PARTICIPANTS = 60
# Slow enough that the broadcast is surely in progress when SIGTERM comes (about six seconds).
RATE = "10"


async def test_sigterm_during_a_broadcast_exits_cleanly_and_a_restart_completes_it_once(
    backend: str, sandbox, tmp_path: Path
) -> None:
    async with fresh_database(backend, tmp_path) as url:
        db = Database(url)
        try:
            await migrate.upgrade(db)
            process_id = await seed_participants(db, PARTICIPANTS)
            for index in range(PARTICIPANTS):
                sandbox.user(FIRST_USER + index, first_name=f"S{index}")
            bot = Instance("valitupa", sandbox=sandbox, database_url=url, cwd=tmp_path, BROADCAST_RATE=RATE)
            again = Instance("valitupa", sandbox=sandbox, database_url=url, cwd=tmp_path, BROADCAST_RATE=RATE)
            try:
                # given a broadcast going out
                await bot.start()
                await bot.running()
                prompt_id = await broadcast_now(db, process_id)
                await wait_received(sandbox, 15, timeout=30)

                # when the process is told to stop
                bot.signal(signal.SIGTERM)
                code = await bot.exit_code(timeout=15)

                # then it exits cleanly before the broadcast is through (at 10 a second it would need
                # six), with every sent message recorded and no claim held
                assert code == 0, bot.log()
                sent_before = received(sandbox)
                assert 15 <= sum(sent_before.values()) < PARTICIPANTS
                states = await delivery_states(db, prompt_id)
                assert states["sending"] == 0, states
                assert states["sent"] == sum(sent_before.values()), (states, sum(sent_before.values()))
                assert states["pending"] == PARTICIPANTS - states["sent"]
                async with db.session() as session:
                    recorded = {
                        (chat, message)
                        for chat, message in (
                            await session.execute(
                                select(Delivery.chat_id, Delivery.message_id).where(
                                    Delivery.prompt_id == prompt_id, Delivery.state == "sent"
                                )
                            )
                        ).all()
                    }
                accepted = {
                    (int(call.params["chat_id"]), int(call.result["message_id"]))
                    for call in sandbox.calls("sendMessage")
                    if call.ok and "Työpaja 2 siirtyy" in str(call.params.get("text", ""))
                }
                assert recorded == accepted

                # and after a restart the rest goes out, to each participant once
                await again.start()
                await again.running()
                await wait_received(sandbox, PARTICIPANTS, timeout=30)
                again.signal(signal.SIGTERM)
                assert await again.exit_code() == 0
                assert await delivery_states(db, prompt_id) == {"sent": PARTICIPANTS}
            finally:
                await bot.close()
                await again.close()
        finally:
            await db.dispose()

    counts = received(sandbox)
    assert len(counts) == PARTICIPANTS
    assert set(counts.values()) == {1}
    assert "stopping" in bot.log()
