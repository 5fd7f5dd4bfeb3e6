"""A big digest is built off the event loop and off the database's connection: while a facilitator's
digest of 100,000 submissions is being read, aggregated and rendered, prompts keep going out and
participants keep getting replies — before the digest has read its last batch of texts, even on
SQLite, whose one connection it must not hold while it works."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from storage.models import Membership, Submission, User
from tests.support.factories import process_yaml
from tests.support.programme import Person, dispatcher, outbox, seed, start_harness
from tests.support.reads import StatementCount
from tests.support.seed import PERIOD_END, seed_bulk

HELSINKI = ZoneInfo("Europe/Helsinki")
FACILITATOR = 7001
SUBMISSIONS = 100_000
PROGRAMME = """prompts:
  - id: r1
    phase: 1
    when: W2 -1d 09:00
    kind: reflection
    text: {fi: 'Mikä jäi mieleen?', sv: 'Vad stannade kvar?', en: 'What stayed with you?'}
    closes_after: 3d
"""
# The statements that read the digest's texts (newest first); each batch is one.
TEXT_READS = ("submissions.learned", "ORDER BY submissions.created_at DESC, submissions.id DESC")


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    clock.set(PERIOD_END)
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


async def add_facilitator(bot, process_id: int) -> None:
    now = bot.clock.now()

    async def work(session) -> None:
        user = User(id=FACILITATOR, consent="given", consent_at=now, language="fi", created_at=now)
        session.add(user)
        membership = Membership(
            process_id=process_id,
            user_id=FACILITATOR,
            is_facilitator=True,
            pseudonym="F-1",
            complete=True,
            joined_at=now - timedelta(weeks=13),
        )
        session.add(membership)
        await session.flush()
        user.active_membership_id = membership.id

    await bot.db.run(work)


@pytest.mark.slow
async def test_prompts_and_replies_go_on_while_a_100k_submission_digest_is_built(bot, sandbox) -> None:
    bulk = await seed_bulk(bot.db, submissions=SUBMISSIONS)
    await add_facilitator(bot, bulk)
    other = await bot.create_process(process_yaml(name="Toinen prosessi", programme=None, extra=PROGRAMME))
    await seed(bot, other, [Person(1001, "Aino")])
    aino = sandbox.user(1001)
    fanni = sandbox.user(FACILITATOR, first_name="Fanni", language_code="fi")

    reads = StatementCount(bot.db, *TEXT_READS)
    await fanni.send_command("/digest")
    await sandbox.wait_updates_consumed()
    async with asyncio.timeout(120):
        await reads.started.wait()

    # While the digest is reading its texts, the prompt falls due and goes out …
    bot.clock.set(datetime(2027, 2, 3, 9, 30, tzinfo=HELSINKI).astimezone(UTC))
    await dispatcher(bot).tick()
    prompt = (await outbox(bot, 1001))["r1"]
    assert prompt.state == "sent"
    assert "Mikä jäi mieleen?" in aino.messages[-1]["text"]
    # … and Aino's answer is stored and acknowledged.
    await aino.send_text("Yhteinen kieli löytyi.", reply_to_message_id=prompt.message_id)
    await sandbox.wait_until(lambda: len(aino.messages) >= 2, timeout=60)
    read_by_then = reads.count
    # Then the digest arrives: summary, chart and document.
    await sandbox.wait_until(lambda: any("document" in m for m in fanni.messages), timeout=600)
    reads.close()
    # The acknowledgement came while the digest still had batches of texts to read.
    assert read_by_then < reads.count

    assert fanni.messages[0]["text"].startswith("📋 Kooste – Hyvän tahdon Ilomantsi 2027")
    # Both of Aino's messages (the prompt, then the acknowledgement) went out before the summary.
    order = [call.params.get("chat_id") for call in sandbox.calls("sendMessage")]
    to_aino = [index for index, chat in enumerate(order) if chat == 1001]
    assert len(to_aino) == 2
    assert to_aino[-1] < order.index(FACILITATOR)
    async with bot.db.session() as session:
        [answer] = list(
            await session.scalars(select(Submission).where(Submission.text == "Yhteinen kieli löytyi."))
        )
    assert (answer.kind, answer.delivery_id) == ("answer", prompt.id)
