"""The programme engine end to end: a whole process compressed in fake time, a crash mid-broadcast,
a 429 storm and a blocked participant, all against the Bot API sandbox on both databases."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.jobs.claims import CLAIM_LEASE
from bot.services.outbox import broadcast
from storage.models import Delivery, Membership, Prompt, Submission
from tests.support.config import make_settings
from tests.support.factories import process_yaml
from tests.support.programme import (
    Person,
    delivered,
    dispatcher,
    outbox,
    run_until,
    seed,
    sends_by_chat,
    start_harness,
    successful_sends,
)

HELSINKI = ZoneInfo("Europe/Helsinki")
PROMPT_ICONS = ("💭", "👀", "💡", "🧪", "📊", "🗓", "📣", "⏰", "✨")
ANNOUNCEMENT = "Muistakaa ilmoittautua kevään kokeiluihin!"


def local(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


def reflection(prompt_id: str, when: str, phase: int) -> str:
    return (
        f"  - id: {prompt_id}\n    phase: {phase}\n    when: {when}\n    kind: reflection\n"
        f"    text: {{fi: 'Pohdi {prompt_id}', sv: 'Fundera {prompt_id}', en: 'Think {prompt_id}'}}\n"
    )


EXTRA = (
    "daily_cap: 2\nprompts:\n"
    + reflection("x-evening", "W2 +2d 21:30", 2)
    + reflection("x-cap1", "W3 +2d 10:00", 3)
    + reflection("x-cap2", "W3 +2d 11:00", 3)
    + reflection("x-cap3", "W3 +2d 12:00", 3)
)

PEOPLE = [
    Person(
        1001 + n,
        f"Osallistuja{n + 1}",
        organisation=(0, 0, 1, 2)[n % 4] if n < 16 else n % 3,
        role=("employee", "management", "employee", "elected", "other")[n % 5],
        language="sv" if n in (6, 13, 17) else "en" if n in (9, 18) else "fi",
        show_name=n % 4 == 0,
    )
    for n in range(20)
]
ANSWERERS = (1001, 1002, 1003, 1004)
PAUSER = 1005
LATE = 1021
FACILITATOR = 9100


@pytest.fixture
def settings(sandbox):
    # Bulk pacing far above the sandbox's speed: these tests are about correctness, not pacing.
    return make_settings(sandbox, broadcast_rate=1000.0)


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


def prompt_texts(sandbox, chat_id: int) -> list[str]:
    return [
        m["text"] for m in successful_sends(sandbox, chat_id) if m.get("text", "").startswith(PROMPT_ICONS)
    ]


async def test_a_whole_compressed_process_delivers_every_prompt_once_on_schedule(bot, sandbox) -> None:
    # Given a five-workshop process with the default programme, quiet hours, a daily cap of two
    # and a few prompts of its own, twenty participants in three organisations and a facilitator
    process = await bot.create_process(process_yaml(extra=EXTRA))
    await seed(bot, process, PEOPLE)
    facilitator = sandbox.user(FACILITATOR, first_name="Fanni")
    await bot.join(facilitator, process, facilitator=True)

    # When the process runs: four answer the first reflection by replying to it …
    await run_until(bot, local(1, 15, 10))
    for user_id in ANSWERERS:
        prompt = (await outbox(bot, user_id))["p1-reflection"]
        await sandbox.user(user_id).send_text(
            "Jäi mieleen yhteinen kieli.", reply_to_message_id=prompt.message_id
        )
    await bot.idle()
    # … one pauses after workshop 2 and resumes two weeks later …
    await run_until(bot, local(2, 4, 12))
    await bot.command(sandbox.user(PAUSER), "/pause")
    await run_until(bot, local(2, 20, 10))
    await bot.command(sandbox.user(PAUSER), "/resume")
    # … someone joins late, after workshop 3 …
    await run_until(bot, local(2, 26, 10))
    late = sandbox.user(LATE, first_name="Myöhäinen", language_code="en")
    await bot.join(late, process, organisation=2, role="management")
    # … and the facilitator moves workshop 4 by a day, drops one check-in and adds a prompt.
    await run_until(bot, local(3, 1, 10))
    before_upload = {(key, user): (d.sent_at, d.message_id) for key, user, d in await delivered(bot)}
    await bot.command(facilitator, "/programme")
    document = facilitator.messages[-1]["document"]
    text = sandbox.file_content(document["file_id"]).decode()
    assert text.count("2027-03-18 09:00") == 1
    text = text.replace("2027-03-18 09:00", "2027-03-19 09:00")
    text = text[: text.index("- id: p4-checkin")] + text[text.index("- id: p4-log") :]
    text += (
        "\n- id: x-new\n  phase: 4\n  when: W4 +2d 10:00\n  kind: reflection\n"
        "  text: {fi: 'Uusi kysymys', sv: 'Ny fråga', en: 'New question'}\n"
    )
    await facilitator.send_document(text.encode(), "ohjelma.yaml", "application/x-yaml")
    await bot.idle()
    assert "Uusi ohjelma on käytössä" in facilitator.messages[-1]["text"]
    await run_until(bot, local(5, 7, 12))

    rows = await delivered(bot)
    by_user: dict[int, dict[str, Delivery]] = defaultdict(dict)
    for key, user_id, delivery in rows:
        by_user[user_id][key] = delivery
    async with bot.db.session() as session:
        programme = set(
            await session.scalars(
                select(Prompt.key).where(Prompt.active.is_(True), Prompt.kind != "loop_nudge")
            )
        )

    # Then nobody got anything twice, and every prompt message is a delivery on record.
    for user_id in [p.user_id for p in PEOPLE] + [LATE]:
        texts = prompt_texts(sandbox, user_id)
        assert [t for t, n in Counter(texts).items() if n > 1] == [], user_id
        reminders = [d for d in by_user[user_id].values() if d.reminder_message_id is not None]
        assert len(texts) == len(by_user[user_id]) + len(reminders), user_id

    # Everyone who took part throughout got the whole (edited) programme and nothing removed.
    steady = [p.user_id for p in PEOPLE if p.user_id != PAUSER]
    assert "p4-checkin" not in programme and "x-new" in programme
    assert not [key for key, _, _ in rows if key == "p4-checkin"]
    for user_id in steady:
        assert set(by_user[user_id]) == programme, user_id

    # Sent messages were not touched by the new programme.
    for (key, user_id), (sent_at, message_id) in before_upload.items():
        assert (by_user[user_id][key].sent_at, by_user[user_id][key].message_id) == (sent_at, message_id)
    assert {by_user[u]["x-new"].sent_at for u in steady} == {local(3, 21, 10)}
    assert {by_user[u]["p4-plan"].sent_at for u in steady} == {local(3, 20, 9)}

    # Quiet hours, the daily cap and daylight saving time.
    assert {by_user[u]["x-evening"].sent_at for u in steady} == {local(2, 7, 8)}
    assert {by_user[u]["x-cap3"].sent_at for u in steady} == {local(2, 28, 8)}
    assert {by_user[u]["p4-log"].sent_at for u in steady} == {datetime(2027, 3, 31, 6, 0, tzinfo=UTC)}
    sent_times = {(key, user_id): d.sent_at for key, user_id, d in rows if d.sent_at is not None}
    assert len(sent_times) == len(rows)
    for _, _, delivery in rows:
        for instant in (delivery.sent_at, delivery.reminded_at):
            assert instant is None or 8 <= instant.astimezone(HELSINKI).hour < 20
    per_day = Counter((user_id, at.astimezone(HELSINKI).date()) for (_, user_id), at in sent_times.items())
    assert max(per_day.values()) == 2

    # The pauser got nothing while paused, and on resuming what was still open.
    paused_sends = [
        at
        for (_, user_id), at in sent_times.items()
        if user_id == PAUSER and local(2, 4, 12) <= at < local(2, 20, 10)
    ]
    assert paused_sends == []
    # Three were still open; the cap lets two out now, in programme order, and the third next morning.
    assert by_user[PAUSER]["x-evening"].sent_at == local(2, 20, 10)
    assert by_user[PAUSER]["p2-diary"].sent_at == local(2, 20, 10)
    assert by_user[PAUSER]["p2-between"].sent_at == local(2, 21, 8)
    assert "p2-reflection" not in by_user[PAUSER] and "p2-checkin" not in by_user[PAUSER]

    # The late joiner got only what was still open when they joined.
    assert not [key for key in by_user[LATE] if key.startswith(("p1-", "p2-"))]
    assert by_user[LATE]["p3-reflection"].sent_at == local(2, 26, 10)
    assert {"x-cap1", "x-cap2", "x-cap3", "x-new", "p5-closing"} <= set(by_user[LATE])

    # Reminders went once, only to those who had not answered.
    for user_id in steady:
        reflection_delivery = by_user[user_id]["p1-reflection"]
        if user_id in ANSWERERS:
            assert reflection_delivery.state == "answered"
            assert reflection_delivery.reminder_message_id is None
        else:
            assert reflection_delivery.reminded_at == local(1, 17, 9)
            assert reflection_delivery.reminder_message_id is not None
    async with bot.db.session() as session:
        answers = await session.scalar(
            select(func.count()).select_from(Submission).where(Submission.kind == "answer")
        )
    assert answers == len(ANSWERERS)

    # Texts in each participant's language, with placeholders filled.
    swedish = next(p.user_id for p in PEOPLE if p.language == "sv")
    assert any("Tack för den första workshopen" in t for t in prompt_texts(sandbox, swedish))
    reminder_text = next(t for t in prompt_texts(sandbox, 1001) if "Työpaja 2 on" in t)
    assert "4.2." in reminder_text and "{" not in reminder_text


async def test_a_broadcast_killed_midway_is_completed_exactly_once_after_a_restart(
    sandbox, db, clock
) -> None:
    # Given thirty participants and an announcement going out at a slow pace
    slow = make_settings(sandbox, broadcast_rate=10.0)
    first = await start_harness(sandbox, db, clock, slow, instance="first")
    process = await first.create_process()
    people = [Person(2001 + n, f"P{n}", organisation=n % 3) for n in range(30)]
    await seed(first, process, people)
    await db.run(
        lambda s: broadcast(
            s, process_id=process.id, kind="announcement", texts={"fi": ANNOUNCEMENT}, now=clock.now()
        )
    )

    # When the process dies after ten messages went out, each of its workers with the next one on the
    # wire (a worker sends its next message only once the last one's result is recorded)
    on_the_wire = sandbox.hold("sendMessage", after=10)
    tick = asyncio.create_task(dispatcher(first).tick())
    await on_the_wire.wait_parked(dispatcher(first).in_flight, timeout=10)
    tick.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tick
    await on_the_wire.wait_parked(0)  # the dead process's requests ended unanswered
    on_the_wire.release()
    async with db.session() as session:
        left = await session.scalar(select(func.count()).where(Delivery.state == "sending"))
    assert left and left > 0  # claimed, never sent: what a crash leaves behind
    await first.stop()

    # And a new process (another instance name) starts on the same database after the lease
    clock.advance(CLAIM_LEASE + timedelta(seconds=1))
    second = await start_harness(
        sandbox, db, clock, make_settings(sandbox, broadcast_rate=1000.0), instance="second"
    )
    try:
        await dispatcher(second).tick()
        await dispatcher(second).tick()
    finally:
        await second.stop()

    # Then every participant got the announcement exactly once
    counts = sends_by_chat(sandbox, ANNOUNCEMENT)
    assert {person.user_id: counts[person.user_id] for person in people} == {p.user_id: 1 for p in people}
    async with db.session() as session:
        states = Counter(
            await session.scalars(select(Delivery.state).join(Prompt).where(Prompt.kind == "announcement"))
        )
    assert states == {"sent": 30}


async def announcement_rows(bot) -> list[Delivery]:
    async with bot.db.session() as session:
        return list(await session.scalars(select(Delivery).join(Prompt).where(Prompt.kind == "announcement")))


async def announce(bot, process_id: int) -> None:
    await bot.db.run(
        lambda s: broadcast(
            s, process_id=process_id, kind="announcement", texts={"fi": ANNOUNCEMENT}, now=bot.clock.now()
        )
    )


async def test_a_429_storm_is_waited_out_without_failing_or_doubling_a_delivery(bot, sandbox) -> None:
    # Given an announcement to four people and a Telegram that allows two messages a second
    process = await bot.create_process()
    people = [Person(3001 + n, f"P{n}") for n in range(4)]
    await seed(bot, process, people)
    await announce(bot, process.id)
    sandbox.set_rate_limit(per_second=2)

    report = await dispatcher(bot).tick()

    # Then the 429s were waited out: everyone got it once, nothing failed
    assert sandbox.stats["429"] >= 1
    assert (report.sent, report.failed) == (len(people), 0)
    counts = sends_by_chat(sandbox, ANNOUNCEMENT)
    assert {p.user_id: counts[p.user_id] for p in people} == {p.user_id: 1 for p in people}


async def test_a_429_outlasting_the_limiter_puts_the_delivery_back_without_counting_an_attempt(
    bot, sandbox
) -> None:
    process = await bot.create_process()
    await seed(bot, process, [Person(3101, "Aino")])
    await announce(bot, process.id)
    # Five 429s in a row: one more than the rate limiter retries by itself.
    sandbox.fail_next("sendMessage", error_code=429, retry_after=1, count=5)

    first = await dispatcher(bot).tick()
    [row] = await announcement_rows(bot)
    assert (first.retried, first.failed, first.sent) == (1, 0, 0)
    assert (row.state, row.attempts) == ("pending", 0)
    assert row.due_at == bot.clock.now() + timedelta(seconds=1)

    bot.clock.advance(timedelta(seconds=1))
    second = await dispatcher(bot).tick()

    assert second.sent == 1
    assert sends_by_chat(sandbox, ANNOUNCEMENT) == {3101: 1}
    [sent] = await announcement_rows(bot)
    assert (sent.state, sent.attempts) == ("sent", 1)


async def test_a_blocked_participant_becomes_unreachable_and_is_not_retried(bot, sandbox) -> None:
    process = await bot.create_process()
    people = [Person(4001, "Aino"), Person(4002, "Bertta", show_name=True), Person(4003, "Cecilia")]
    await seed(bot, process, people)
    sandbox.block_user(4002)

    await run_until(bot, local(1, 16, 12))  # the welcome and the first reflection
    await run_until(bot, local(1, 30, 12))

    blocked_calls = [c for c in sandbox.calls("sendMessage") if c.params.get("chat_id") == 4002]
    assert len(blocked_calls) == 1 and blocked_calls[0].status == 403
    async with bot.db.session() as session:
        membership = await session.scalar(select(Membership).where(Membership.user_id == 4002))
        assert membership is not None and membership.unreachable
        states = Counter(
            (
                await session.execute(select(Delivery.state).where(Delivery.membership_id == membership.id))
            ).scalars()
        )
    assert states["failed"] == 1 and states["pending"] == 0 and states["sent"] == 0
    assert len(prompt_texts(sandbox, 4001)) >= 3


async def test_overdue_prompts_go_out_at_start_up_and_closed_ones_expire(
    sandbox, db, clock, settings
) -> None:
    # Given participants planned while the bot ran, then a bot that was down for a week
    first = await start_harness(sandbox, db, clock, settings)
    process = await first.create_process()
    await seed(first, process, [Person(5001, "Aino"), Person(5002, "Bo")])
    await first.stop()
    clock.set(local(1, 23, 3))  # 03:00, inside quiet hours; p1-reflection closed on 22 January

    # When it starts again
    second = await start_harness(sandbox, db, clock, settings)
    try:
        await dispatcher(second).tick()
        at_night = [c for c in sandbox.calls("sendMessage") if c.params.get("chat_id") in (5001, 5002)]
        clock.set(local(1, 23, 8))
        await dispatcher(second).tick()
    finally:
        await second.stop()

    # Then what closed expired, and what is still open went out when the quiet hours ended, capped
    rows = await outbox(second, 5001)
    assert rows["p1-welcome"].state == "expired"
    assert rows["p1-reflection"].state == "expired"
    assert rows["p1-everyday"].state == "sent" and rows["p1-everyday"].sent_at == local(1, 23, 8)
    assert rows["p1-checkin"].state == "sent" and rows["p1-checkin"].sent_at == local(1, 23, 8)
    assert at_night == []
