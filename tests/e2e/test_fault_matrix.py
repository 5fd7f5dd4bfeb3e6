"""Every fault Telegram and the network produce, through a broadcast, a dialogue and a digest, on
both databases: nothing lost, nothing sent twice that the bot could know was sent, one clear log line.

The faults are the sandbox's: error answers (429 with ``retry_after``, 403) and wrong answers
(:class:`sandbox.Misanswer`: a gateway's HTML 500, a 200 cut short, a 200 with ``date`` in
milliseconds, a read timeout after the request was carried out, a reset mid-answer, a slow answer).
Each hits the first call of the method the scenario depends on. A send whose outcome the bot cannot
know (the request was carried out but no usable answer came) is sent once more, never more: those
are the only doubles, and each test says where it expects one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.infra.transport import AiohttpRequest
from bot.jobs.claims import AMBIGUOUS_PAUSE
from bot.jobs.digest_job import DIGEST_RETRY, run_due_digests
from bot.services.outbox import broadcast
from sandbox import BotApiSandbox, Misanswer
from storage.models import Delivery, DigestRun, Membership, Prompt
from tests.support.config import make_settings
from tests.support.programme import Person, dispatcher, seed, sends_by_chat, start_harness

ANNOUNCEMENT = "Kevään kokeiluihin voi nyt ilmoittautua!"
MONDAY_AFTER = datetime(2027, 1, 11, 6, 1, tzinfo=UTC)
"""Just after the first weekly digest of a process made on the clock's start (Mon 08:00 Helsinki)."""

Inject = Callable[[BotApiSandbox, str], None]


def _error(code: int) -> Inject:
    return lambda sandbox, method: sandbox.fail_next(method, error_code=code, retry_after=1)


def _wrong(kind: Misanswer) -> Inject:
    return lambda sandbox, method: sandbox.misanswer_next(method, kind, delay=0.3)


FAULTS: dict[str, Inject] = {
    "429": _error(429),
    "403": _error(403),
    "500-html": _wrong(Misanswer.HTML_500),
    "200-unparsable": _wrong(Misanswer.UNPARSABLE),
    "200-date-in-ms": _wrong(Misanswer.MS_DATE),
    "read-timeout": _wrong(Misanswer.READ_TIMEOUT),
    "reset": _wrong(Misanswer.RESET),
    "slow": _wrong(Misanswer.SLOW),
}
DOUBLED = {"200-unparsable", "read-timeout", "reset"}
"""Carried out, and the bot cannot know it: sent once more, so it arrives twice."""
LOGGED = {"500-html", "200-unparsable", "200-date-in-ms", "read-timeout", "reset"}
"""Faults the bot cannot take in its stride: exactly one warning says what happened."""


@pytest.fixture(params=list(FAULTS))
def fault(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def bot(sandbox, db, clock, fault) -> AsyncIterator[Any]:
    harness = await start_harness(sandbox, db, clock, make_settings(sandbox, broadcast_rate=1000.0))
    if fault == "read-timeout":
        # The bot's own patience, shortened so the test does not wait PTB's five seconds.
        transport = harness.services.transports[0]
        assert isinstance(transport, AiohttpRequest)
        transport.read_timeout = 0.5
    try:
        yield harness
    finally:
        await harness.stop()


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    ours = [r for r in caplog.records if r.name.split(".")[0] in ("bot", "handlers")]
    assert [r.getMessage() for r in ours if r.exc_info] == []  # never a traceback
    return [r for r in ours if r.levelno >= logging.WARNING]


def assert_one_clear_line(caplog: pytest.LogCaptureFixture, fault: str) -> None:
    lines = [r.getMessage() for r in warnings(caplog)]
    assert len(lines) == (1 if fault in LOGGED else len(lines)) and len(lines) <= 1, lines
    assert all("\n" not in line for line in lines)


async def test_a_broadcast_through_the_fault(bot, sandbox, fault, caplog) -> None:
    process = await bot.create_process()
    people = [Person(5001, "Aino"), Person(5002, "Bertta"), Person(5003, "Cecilia")]
    await seed(bot, process, people)
    await bot.db.run(
        lambda s: broadcast(
            s, process_id=process.id, kind="announcement", texts={"fi": ANNOUNCEMENT}, now=bot.clock.now()
        )
    )
    FAULTS[fault](sandbox, "sendMessage")

    with caplog.at_level(logging.INFO):
        for _ in range(4):  # the fault, then past every pause it asks for
            await dispatcher(bot).tick()
            bot.clock.advance(AMBIGUOUS_PAUSE + timedelta(minutes=30))

    [hit] = [c for c in sandbox.calls("sendMessage") if c.status != 200 or c.misanswer][:1]
    victim = int(hit.params["chat_id"])
    counts = sends_by_chat(sandbox, ANNOUNCEMENT)
    expected = {p.user_id: 1 for p in people}
    expected[victim] = 0 if fault == "403" else 2 if fault in DOUBLED else 1
    assert {p.user_id: counts[p.user_id] for p in people} == expected
    async with bot.db.session() as session:
        states = dict(
            (
                await session.execute(
                    select(Membership.user_id, Delivery.state)
                    .join(Delivery, Delivery.membership_id == Membership.id)
                    .join(Prompt, Prompt.id == Delivery.prompt_id)
                    .where(Prompt.kind == "announcement")
                )
            ).all()
        )
        unreachable = await session.scalar(select(Membership.unreachable).where(Membership.user_id == victim))
    assert {user: state for user, state in states.items() if user != victim} == {
        p.user_id: "sent" for p in people if p.user_id != victim
    }
    assert states[victim] == ("failed" if fault == "403" else "sent")
    assert unreachable is (fault == "403")
    assert_one_clear_line(caplog, fault)


async def test_a_dialogue_through_the_fault(bot, sandbox, fault, caplog) -> None:
    process = await bot.create_process()
    aino = sandbox.user(6001, first_name="Aino", language_code="fi")
    # The first edit of the dialogue: the consent message turned into "thank you".
    FAULTS[fault](sandbox, "editMessageText")

    with caplog.at_level(logging.INFO):
        await bot.join(aino, process, role="management")

    asked = [str(c.params.get("text", "")) for c in sandbox.calls("sendMessage") if c.status == 200]
    for key in ("join.ask_language", "join.ask_organisation", "join.ask_role", "join.ask_name"):
        question = bot.t("fi", key).split("{")[0][:20]
        assert sum(text.startswith(question) for text in asked) == 1, (key, asked)
    assert "Tervetuloa mukaan prosessiin" in (aino.messages[-1].get("text") or "")
    async with bot.db.session() as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == aino.id))
    assert membership is not None and membership.complete and membership.role == "management"
    # A cosmetic edit that failed is not worth a warning: the dialogue went on. (A 429 is waited
    # out by the rate limiter, which says so once.)
    lines = [r.getMessage() for r in warnings(caplog)]
    assert lines == [] if fault != "429" else len(lines) == 1 and "asked to wait" in lines[0], lines


async def test_a_weekly_digest_through_the_fault(bot, sandbox, fault, caplog) -> None:
    process = await bot.create_process()
    fanni = sandbox.user(6101, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    await seed(bot, process, [Person(6102, "Aino"), Person(6103, "Bertta")])
    aino = sandbox.user(6102)
    await bot.say(aino, "Asukkaat kaipaavat yhteistä aamukahvia keittiössä.")
    bot.clock.set(MONDAY_AFTER)
    before = len(fanni.messages)
    FAULTS[fault](sandbox, "sendPhoto")  # the chart, between the summary and the document

    with caplog.at_level(logging.INFO):
        assert await run_due_digests(bot.services, bot.app.bot, bot.clock.now()) == 1
        for _ in range(2):  # the retry of what failed, then nothing more
            bot.clock.advance(DIGEST_RETRY + timedelta(minutes=1))
            assert await run_due_digests(bot.services, bot.app.bot, bot.clock.now()) == 0

    digest = fanni.messages[before:]
    summaries = [m for m in digest if (m.get("text") or "").startswith("📋 Viikkokooste")]
    charts = [m for m in digest if "photo" in m]
    files = [m for m in digest if "document" in m]
    assert len(summaries) == 1
    assert len(charts) == (0 if fault == "403" else 2 if fault in DOUBLED else 1)
    assert len(files) == (0 if fault == "403" else 1)  # 403: she blocked the bot; nothing more
    async with bot.db.session() as session:
        [run] = list(await session.scalars(select(DigestRun).where(DigestRun.trigger == "weekly")))
    assert run.unsent is None
    lines = [r.getMessage() for r in warnings(caplog)]
    if fault == "slow":
        assert lines == []
    elif fault == "429":
        assert len(lines) == 1 and "asked to wait" in lines[0], lines
    else:
        assert len(lines) == 1 and "chart" in lines[0] and "weekly digest" in lines[0], lines
