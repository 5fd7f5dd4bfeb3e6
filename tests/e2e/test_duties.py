"""Leader duties (weekly digests, retention, pruning, dead claims) run as jobs of their own: a long
one never pauses prompt delivery or replies, a failing one never stops the others."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.jobs.duties import Duty, LeaderDuties
from storage.models import Submission
from tests.support.factories import process_yaml
from tests.support.programme import Person, outbox, run_until, seed, start_harness

HELSINKI = ZoneInfo("Europe/Helsinki")
PROGRAMME = """prompts:
  - id: r1
    phase: 1
    when: W1 +1d 09:00
    kind: reflection
    text: {fi: 'Mikä jäi mieleen?', sv: 'Vad stannade kvar?', en: 'What stayed with you?'}
    closes_after: 3d
"""


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


def test_every_leader_duty_is_its_own_job_beside_the_dispatcher(bot) -> None:
    assert bot.services.duties is not None
    assert [duty.name for duty in bot.services.duties.duties] == [
        "departed-claims",
        "weekly-digests",
        "retention",
        "departed-inbox-claims",
        "prune-update-ids",
        "room-menu-buttons",
        "shared-upkeep",
        "pair-rounds",
        "notices",
    ]
    jobs = {job.name for job in bot.app.job_queue.jobs()}
    assert jobs == {
        "dispatcher",
        "duty:departed-claims",
        "duty:weekly-digests",
        "duty:retention",
        "duty:departed-inbox-claims",
        "duty:prune-update-ids",
        "duty:room-menu-buttons",
        "duty:shared-upkeep",
        "duty:pair-rounds",
        "duty:notices",
    }


async def test_prompts_and_replies_go_on_while_a_leader_duty_is_still_running(bot, sandbox) -> None:
    process = await bot.create_process(process_yaml(programme=None, extra=PROGRAMME))
    await seed(bot, process, [Person(1001, "Aino")])
    aino = sandbox.user(1001)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_duty(services: Any, telegram: Any, now: datetime) -> None:
        started.set()
        await release.wait()

    duties = LeaderDuties(bot.services, [Duty("slow", slow_duty, every=60.0)])
    running = asyncio.create_task(duties.run_all(bot.app.bot))
    await started.wait()
    try:
        # While the duty holds on, the prompt falls due and goes out, and Aino's reply is stored.
        await run_until(bot, datetime(2027, 1, 15, 9, 30, tzinfo=HELSINKI).astimezone(UTC))
        prompt = (await outbox(bot, 1001))["r1"]
        assert prompt.state == "sent"
        assert "Mikä jäi mieleen?" in aino.messages[-1]["text"]
        await aino.send_text("Yhteinen kieli löytyi.", reply_to_message_id=prompt.message_id)
        await bot.idle()
        async with bot.db.session() as session:
            [answer] = list(await session.scalars(select(Submission)))
        assert (answer.kind, answer.delivery_id) == ("answer", prompt.id)
        assert not running.done()
    finally:
        release.set()
        await running


async def test_a_failing_duty_is_logged_once_and_the_next_duty_still_runs(bot, caplog) -> None:
    ran: list[str] = []

    async def broken(services: Any, telegram: Any, now: datetime) -> None:
        raise RuntimeError("the database went away")

    async def fine(services: Any, telegram: Any, now: datetime) -> None:
        ran.append("fine")

    duties = LeaderDuties(bot.services, [Duty("broken", broken, every=60.0), Duty("fine", fine, every=60.0)])
    with caplog.at_level(logging.ERROR, logger="bot.jobs.duties"):
        await duties.run_all(bot.app.bot)

    assert ran == ["fine"]
    lines = [record.getMessage() for record in caplog.records if record.name == "bot.jobs.duties"]
    assert lines == ["leader duty broken failed: RuntimeError"]


async def test_no_duty_starts_once_the_process_is_asked_to_stop(bot) -> None:
    ran: list[str] = []

    async def duty(services: Any, telegram: Any, now: datetime) -> None:
        ran.append("ran")

    duties = LeaderDuties(bot.services, [Duty("any", duty, every=60.0)])
    bot.services.stopping.set()
    await duties.run_all(bot.app.bot)

    assert ran == []
