"""Honest sends beyond the fault matrix: a doubt is resolved by one more send, never a loop; the
error handler copes with anything; a cosmetic call never stops real work."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import generate_latest
from sqlalchemy import select
from telegram.ext import CommandHandler

from bot.infra.transport import AiohttpRequest
from bot.jobs import claims
from bot.services.outbox import broadcast
from sandbox import Misanswer
from storage.models import Delivery, Membership, Prompt, Submission
from tests.support.config import make_settings
from tests.support.outbox import JOINED, due_rows
from tests.support.programme import (
    Person,
    dispatcher,
    next_event,
    run_until,
    seed,
    sends_by_chat,
    start_harness,
)

NEWS = "Työpajan paikka vaihtui: tervetuloa seurakuntasaliin!"


@pytest.fixture
def settings(sandbox):
    return make_settings(sandbox, broadcast_rate=1000.0)


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


async def announcement(bot) -> Delivery:
    async with bot.db.session() as session:
        [row] = list(
            await session.scalars(select(Delivery).join(Prompt).where(Prompt.kind == "announcement"))
        )
        return row


async def test_a_send_in_doubt_twice_ends_ambiguous_and_is_never_sent_a_third_time(
    bot, sandbox, caplog
) -> None:
    process = await bot.create_process()
    await seed(bot, process, [Person(7001, "Aino")])
    await bot.db.run(
        lambda s: broadcast(
            s, process_id=process.id, kind="announcement", texts={"fi": NEWS}, now=bot.clock.now()
        )
    )
    sandbox.misanswer_next("sendMessage", Misanswer.RESET, count=2)

    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            await dispatcher(bot).tick()
            bot.clock.advance(claims.AMBIGUOUS_PAUSE + timedelta(minutes=1))

    assert sends_by_chat(sandbox, NEWS) == {7001: 2}
    row = await announcement(bot)
    assert (row.state, row.attempts) == ("ambiguous", 2)
    assert row.doubted_at is not None and (row.last_error or "").startswith("outcome unknown")
    lines = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot.")
    ]
    assert len(lines) == 2
    assert "sending it once more" in lines[0] and "not sent again" in lines[1]
    exposed = generate_latest(bot.services.metrics.registry).decode()
    assert 'valitupa_ambiguous_sends_total{what="prompt"} 2.0' in exposed
    assert 'valitupa_deliveries_total{state="ambiguous"} 1.0' in exposed


async def test_a_send_that_never_left_waits_without_counting_an_attempt(bot, sandbox) -> None:
    process = await bot.create_process()
    await seed(bot, process, [Person(7002, "Bertta")])
    await bot.db.run(
        lambda s: broadcast(
            s, process_id=process.id, kind="announcement", texts={"fi": NEWS}, now=bot.clock.now()
        )
    )
    await sandbox.stop()  # Telegram out of reach: no connection, so certainly not sent
    try:
        report = await dispatcher(bot).tick()
    finally:
        await sandbox.start()
    row = await announcement(bot)
    assert (report.retried, report.failed, row.state, row.attempts) == (1, 0, "pending", 0)


async def test_a_crash_loop_never_marks_an_unsent_delivery_failed(db) -> None:
    await due_rows(db, 3, JOINED)
    for _ in range(claims.MAX_ATTEMPTS + 2):  # claimed, then the process dies before sending
        claimed = await db.run(
            lambda s: claims.claim_prompts(s, now=JOINED, instance="old", limit=10, postgres=db.is_postgres)
        )
        assert len(claimed) == 3
        released = await db.run(
            lambda s: claims.release_dead_claims(s, now=JOINED, instance="old", lease=claims.CLAIM_LEASE)
        )
        assert released == 3
    async with db.session() as session:
        rows = list(await session.execute(select(Delivery.state, Delivery.attempts)))
    assert {(state, attempts) for state, attempts in rows} == {("pending", 0)}


async def _boom(update: Any, context: Any) -> None:
    raise ValueError("a bug of ours")


@pytest.mark.parametrize("operator", [None, -100777])
async def test_the_error_handler_copes_with_any_error_and_names_operators_only_if_there_are_some(
    sandbox, db, clock, operator, caplog
) -> None:
    harness = await start_harness(sandbox, db, clock, make_settings(sandbox, operator_chat_id=operator))
    harness.app.add_handler(CommandHandler("boom", _boom), group=-5)
    aino = sandbox.user(7101, first_name="Aino", language_code="fi")
    if operator is not None:
        sandbox.group(operator, "Ylläpito")
    try:
        with caplog.at_level(logging.WARNING):
            await harness.command(aino, "/boom")
            sandbox.fail_next("sendMessage", error_code=500)  # the apology itself fails
            await harness.command(aino, "/boom")
    finally:
        await harness.stop()

    [apology] = [m["text"] for m in aino.messages if m["text"].startswith("Pahoittelut")]
    assert apology.startswith("Pahoittelut, jokin meni vikaan.")
    assert ("Ylläpito on saanut tiedon" in apology) is (operator is not None)
    if operator is not None:
        assert any("ValueError" in (m.get("text") or "") for m in sandbox.chat(operator).messages)
    messages = [r.getMessage() for r in caplog.records]
    assert not any("while handling the error" in m for m in messages)
    assert sum("could not send the apology" in m for m in messages) == 1


async def test_a_failing_chat_action_does_not_stop_the_digest(bot, sandbox) -> None:
    process = await bot.create_process()
    fanni = sandbox.user(7201, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    await seed(bot, process, [Person(7202, "Aino")])
    await bot.say(sandbox.user(7202), "Kahvihetki toi naapurit yhteen.")
    sandbox.fail_next("sendChatAction", error_code=500)

    before = len(fanni.messages)
    await bot.command(fanni, "/digest")

    shown = fanni.messages[before:]
    assert (shown[0].get("text") or "").startswith("📋 Kooste")
    assert any("document" in m for m in shown)
    assert sandbox.stats["500"] == 1


async def test_a_digest_whose_file_did_not_go_out_says_so_and_is_not_called_sent(
    bot, sandbox, caplog
) -> None:
    process = await bot.create_process()
    fanni = sandbox.user(7301, first_name="Fanni", language_code="fi")
    await bot.join(fanni, process, facilitator=True)
    await seed(bot, process, [Person(7302, "Aino")])
    await bot.say(sandbox.user(7302), "Pihan penkit kaipaavat korjausta.")
    sandbox.fail_next("sendDocument", error_code=500)

    before = len(fanni.messages)
    with caplog.at_level(logging.WARNING):
        await bot.command(fanni, "/digest")

    shown = fanni.messages[before:]
    assert (shown[0].get("text") or "").startswith("📋 Kooste")
    assert not any("document" in m for m in shown)
    assert shown[-1].get("text") == bot.t("fi", "sends.digest_partly_sent")
    lines = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("bot.", "handlers."))
    ]
    assert len(lines) == 1 and "incomplete" in lines[0] and "document refused" in lines[0], lines


async def test_a_reminder_in_doubt_is_not_repeated(bot, sandbox, caplog) -> None:
    process = await bot.create_process()
    await seed(bot, process, [Person(7401, "Aino")])
    # Up to the moment the first reminder is due, then its send is reset after it was carried out.
    while True:
        async with bot.db.session() as session:
            remind_at = await session.scalar(
                select(Delivery.remind_at)
                .where(
                    Delivery.state == "sent", Delivery.reminded_at.is_(None), Delivery.remind_at.is_not(None)
                )
                .order_by(Delivery.remind_at)
                .limit(1)
            )
        if remind_at is not None:
            break
        event = await next_event(bot)
        assert event is not None
        await run_until(bot, event)
    await run_until(bot, remind_at - timedelta(seconds=1))
    sent_before = len(sandbox.calls("sendMessage"))
    sandbox.misanswer_next("sendMessage", Misanswer.RESET)

    with caplog.at_level(logging.WARNING):
        await run_until(bot, remind_at + timedelta(days=1))

    [hit] = [c for c in sandbox.calls("sendMessage")[sent_before:] if c.misanswer]
    async with bot.db.session() as session:
        reminded = await session.scalar(select(Delivery).where(Delivery.remind_at == remind_at))
    assert reminded is not None and reminded.reminded_at is not None
    assert reminded.reminder_message_id is None and reminded.state == "sent"
    text = str(hit.params["text"])
    assert sum(str(c.params.get("text")) == text for c in sandbox.calls("sendMessage")) == 1
    lines = [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("bot.")
    ]
    assert len(lines) == 1 and lines[0].startswith("reminder") and "not sent again" in lines[0], lines


async def test_a_reply_in_doubt_gets_no_apology_that_would_make_her_send_it_again(sandbox, db, clock) -> None:
    harness = await start_harness(sandbox, db, clock, make_settings(sandbox))
    transport = harness.services.transports[0]
    assert isinstance(transport, AiohttpRequest)
    transport.read_timeout = 0.5
    try:
        process = await harness.create_process()
        aino = sandbox.user(7501, first_name="Aino", language_code="fi")
        await harness.join(aino, process)
        before = len(aino.messages)
        sandbox.misanswer_next("sendMessage", Misanswer.READ_TIMEOUT)  # the acknowledgement
        await harness.say(aino, "Asukkaat toivoivat yhteislaulua perjantaisin.")
        async with db.session() as session:
            stored = list(
                await session.scalars(
                    select(Submission.kind)
                    .join(Membership, Membership.id == Submission.membership_id)
                    .where(Membership.user_id == aino.id)
                )
            )
    finally:
        await harness.stop()

    shown = [m.get("text") or "" for m in aino.messages[before:]]
    assert len(shown) == 1 and not shown[0].startswith("Pahoittelut"), shown
    assert stored == ["observation"]
