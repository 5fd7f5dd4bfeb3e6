"""A big export is built in the background: while the export of 100,000 submissions is being written,
prompts keep going out and participants keep getting replies (before the export has read its last
batch of rows: it holds no connection while it writes); the facilitator hears at once that it is on
its way and gets the files, marked ready, when they are."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.services.export import SHEETS
from storage.models import Membership, User
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
# The statements that read the submission sheets' rows (oldest first); each batch is one.
ROW_READS = ("FROM submissions", "ORDER BY submissions.created_at, submissions.id")


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
async def test_prompts_and_replies_go_on_while_a_100k_submission_export_is_built(bot, sandbox) -> None:
    bulk = await seed_bulk(bot.db, submissions=SUBMISSIONS)
    await add_facilitator(bot, bulk)
    other = await bot.create_process(process_yaml(name="Toinen prosessi", programme=None, extra=PROGRAMME))
    await seed(bot, other, [Person(1001, "Aino")])
    aino = sandbox.user(1001)
    fanni = sandbox.user(FACILITATOR, first_name="Fanni", language_code="fi")

    reads = StatementCount(bot.db, *ROW_READS)
    await fanni.send_command("/export")
    # Fanni hears at once that the export is on its way; asking again does not start a second one.
    await sandbox.wait_until(lambda: len(fanni.messages) >= 1, timeout=60)
    assert fanni.messages[0]["text"].startswith("📦 Kokoan vientiä.")
    await fanni.send_command("/export")
    await sandbox.wait_until(lambda: len(fanni.messages) >= 2, timeout=60)
    assert fanni.messages[1]["text"].startswith("📦 Vienti on jo tekeillä.")

    async with asyncio.timeout(120):
        await reads.started.wait()
    # While the export is being written, the prompt falls due and goes out …
    bot.clock.set(datetime(2027, 2, 3, 9, 30, tzinfo=HELSINKI).astimezone(UTC))
    await dispatcher(bot).tick()
    prompt = (await outbox(bot, 1001))["r1"]
    assert prompt.state == "sent"
    assert "Mikä jäi mieleen?" in aino.messages[-1]["text"]
    # … and Aino's answer is stored and acknowledged.
    await aino.send_text("Yhteinen kieli löytyi.", reply_to_message_id=prompt.message_id)
    await sandbox.wait_until(lambda: len(aino.messages) >= 2, timeout=60)
    read_by_then = reads.count
    # Then the files arrive, the workbook marked ready: one export, not two.
    await sandbox.wait_until(lambda: sum("document" in m for m in fanni.messages) >= 2, timeout=600)
    await bot.idle()
    reads.close()
    # The acknowledgement came while the export still had batches of rows to read.
    assert read_by_then < reads.count

    documents = [m for m in fanni.messages if "document" in m]
    assert [m["document"]["file_name"].rsplit(".", 1)[1] for m in documents] == ["xlsx", "zip"]
    assert documents[0]["caption"].startswith("✅ Vienti on valmis.")
    assert len(sandbox.calls("sendDocument")) == 2
    workbook = load_workbook(
        io.BytesIO(sandbox.file_content(documents[0]["document"]["file_id"])), read_only=True
    )
    assert workbook.sheetnames == list(SHEETS)
    workbook.close()
    # Both of Aino's messages (the prompt, then the acknowledgement) went out before the files.
    order = [(request.method, str(request.params.get("chat_id"))) for request in sandbox.requests]
    to_aino = [
        index for index, (method, chat) in enumerate(order) if method == "sendMessage" and chat == "1001"
    ]
    assert len(to_aino) == 2
    assert to_aino[-1] < order.index(("sendDocument", str(FACILITATOR)))
