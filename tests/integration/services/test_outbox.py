"""The outbox service on the database (both backends), without a bot: planning participants,
re-planning, replacing the programme and broadcasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from bot.domain.process import placeholder_values
from bot.domain.programme import dump_process, parse_process
from bot.services import outbox
from messages import default_catalog
from storage.models import Delivery, Membership, Process, Prompt, Submission
from tests.support.factories import process_yaml
from tests.support.outbox import (
    HELSINKI,
    JOINED,
    add_member,
    deliveries,
    local,
    make_process,
    plan,
    reflection,
    set_state,
)


async def test_a_new_participant_gets_every_prompt_of_the_programme_once(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)

    await plan(db, member, JOINED)
    await plan(db, member, JOINED)  # planning twice changes nothing

    planned = await deliveries(db, member)
    spec = parse_process(process_yaml())
    assert set(planned) == {prompt.id for prompt in spec.prompts}
    assert all(state == "pending" for state, _ in planned.values())
    for prompt in spec.prompts:
        due = planned[prompt.id][1]
        assert prompt.due_at <= due < prompt.closes_at
        assert 8 <= due.astimezone(HELSINKI).hour < 20


async def test_late_joiner_gets_only_prompts_whose_window_is_still_open(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)
    joined = local(2027, 2, 6, 10)  # two days after workshop 2

    await plan(db, member, joined)

    planned = await deliveries(db, member)
    assert not [key for key in planned if key.startswith("p1-")]
    # The phase 2 reflection (W2 +1d, open a week) is still open: it goes out now.
    assert planned["p2-reflection"] == ("pending", joined)
    assert planned["p2-diary"][1] == local(2027, 2, 8, 9)


async def test_quiet_hours_move_an_evening_prompt_to_the_morning(db) -> None:
    extra = "prompts:\n" + reflection("x-evening", "W2 +2d 21:30", 2)
    process_id = await make_process(db, process_yaml(extra=extra))
    member = await add_member(db, process_id, 1001)

    await plan(db, member, JOINED)

    assert (await deliveries(db, member))["x-evening"][1] == local(2027, 2, 7, 8)


async def test_daily_cap_moves_the_excess_to_the_next_morning_in_programme_order(db) -> None:
    extra = "daily_cap: 2\nprompts:\n" + "".join(
        reflection(f"x-cap{n}", f"W3 +2d {hour}:00", 3) for n, hour in ((1, 10), (2, 11), (3, 12))
    )
    process_id = await make_process(db, process_yaml(extra=extra))
    member = await add_member(db, process_id, 1001)

    await plan(db, member, JOINED)

    planned = await deliveries(db, member)
    assert planned["x-cap1"][1] == local(2027, 2, 27, 10)
    assert planned["x-cap2"][1] == local(2027, 2, 27, 11)
    assert planned["x-cap3"][1] == local(2027, 2, 28, 8)


async def test_a_prompt_after_the_dst_change_keeps_its_local_time(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)

    await plan(db, member, JOINED)

    planned = await deliveries(db, member)
    # W4 is 18 March (UTC+2); "W4 +12d 09:00" is 30 March, after the change to summer time (UTC+3).
    assert planned["p4-log"][1] == datetime(2027, 3, 30, 6, 0, tzinfo=UTC)
    assert planned["p4-started"][1] == datetime(2027, 3, 23, 7, 0, tzinfo=UTC)


async def test_weekends_are_skipped_when_the_process_says_so(db) -> None:
    extra = "skip_weekends: true\nprompts:\n" + reflection("x-saturday", "W3 +2d 10:00", 3)
    process_id = await make_process(db, process_yaml(extra=extra))
    member = await add_member(db, process_id, 1001)

    await plan(db, member, JOINED)

    # 27 February 2027 is a Saturday: Monday 1 March at the end of quiet hours.
    assert (await deliveries(db, member))["x-saturday"][1] == local(2027, 3, 1, 8)


async def test_pause_cancels_what_is_pending_and_resume_brings_back_what_is_still_open(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)
    await plan(db, member, JOINED)

    async def flip(paused: bool, now: datetime) -> None:
        async def work(session):
            membership = await session.get(Membership, member)
            membership.paused = paused
            await outbox.on_pause_change(session, membership, now)

        await db.run(work)

    await flip(True, JOINED)
    assert {state for state, _ in (await deliveries(db, member)).values()} == {"cancelled"}

    resumed = local(2027, 2, 6, 10)
    await flip(False, resumed)
    planned = await deliveries(db, member)
    assert planned["p2-reflection"] == ("pending", resumed)
    assert planned["p1-reflection"][0] == "cancelled"  # closed while paused: never sent
    assert planned["p5-closing"][0] == "pending"


async def test_replanning_never_touches_what_was_sent_or_answered(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)
    await plan(db, member, JOINED)
    sent_at = local(2027, 1, 15, 9)
    await set_state(db, member, "p1-reflection", "answered", sent_at=sent_at, message_id=55)
    await set_state(db, member, "p1-everyday", "sent", sent_at=local(2027, 1, 18, 9), message_id=56)
    before = await deliveries(db, member)

    async def replan(session):
        process = await session.get(Process, process_id)
        return await outbox.replan_process(session, process, local(2027, 1, 19, 10))

    await db.run(replan)

    after = await deliveries(db, member)
    assert after["p1-reflection"] == before["p1-reflection"]
    assert after["p1-everyday"] == before["p1-everyday"]
    async with db.session() as session:
        kept = await session.scalar(
            select(Delivery.message_id).join(Prompt).where(Prompt.key == "p1-reflection")
        )
    assert kept == 55


async def test_sent_prompts_count_towards_the_daily_cap(db) -> None:
    extra = (
        "daily_cap: 1\nprompts:\n"
        + reflection("x-one", "W3 +2d 10:00", 3)
        + reflection("x-two", "W3 +2d 12:00", 3)
    )
    process_id = await make_process(db, process_yaml(extra=extra, programme=None))
    member = await add_member(db, process_id, 1001)
    await plan(db, member, JOINED)
    await set_state(db, member, "x-one", "sent", sent_at=local(2027, 2, 27, 10))

    await plan(db, member, local(2027, 2, 27, 10, 5))

    assert (await deliveries(db, member))["x-two"][1] == local(2027, 2, 28, 8)


async def test_replacing_the_programme_keeps_identity_deactivates_removed_and_re_plans(db) -> None:
    process_id = await make_process(db)
    member = await add_member(db, process_id, 1001)
    await plan(db, member, JOINED)
    await set_state(db, member, "p1-reflection", "answered", sent_at=local(2027, 1, 15, 9))
    async with db.session() as session:
        old_ids = dict((await session.execute(select(Prompt.key, Prompt.id))).all())
    moved_w4 = process_yaml(
        workshops=(
            "2027-01-14 09:00",
            "2027-02-04 09:00",
            "2027-02-25 12:30",
            "2027-03-19 09:00",
            "2027-04-08 09:00",
        ),
        extra="prompts:\n" + reflection("x-new", "W4 +2d 10:00", 4),
    )
    # The facilitator downloads the expanded programme, moves W4 a day, adds one, removes p4-checkin.
    text = dump_process(parse_process(moved_w4))
    start = text.index("- id: p4-checkin")
    end = text.index("- id:", start + 1)
    text = text[:start] + text[end:]
    new_spec = parse_process(text)
    now = local(2027, 1, 20, 10)

    async def replace(session):
        process = await session.get(Process, process_id)
        return await outbox.replace_programme(session, process, new_spec, text, now)

    change = await db.run(replace)

    assert change.added == ("x-new",)
    assert change.removed == ("p4-checkin",)
    assert "p4-plan" in change.changed  # its time moved with workshop 4
    async with db.session() as session:
        prompts = {p.key: p for p in await session.scalars(select(Prompt))}
    assert prompts["p1-reflection"].id == old_ids["p1-reflection"]
    assert prompts["p4-checkin"].active is False
    planned = await deliveries(db, member)
    assert planned["p1-reflection"][0] == "answered"
    assert planned["p4-checkin"][0] == "cancelled"
    assert planned["p4-plan"][1] == local(2027, 3, 20, 9)
    assert planned["x-new"] == ("pending", local(2027, 3, 21, 10))


async def test_broadcast_reaches_every_reachable_unpaused_participant_who_has_joined(db) -> None:
    process_id = await make_process(db)
    members = [await add_member(db, process_id, 3000 + n) for n in range(5)]

    async def tweak(session):
        await session.execute(update(Membership).where(Membership.id == members[0]).values(paused=True))
        await session.execute(update(Membership).where(Membership.id == members[1]).values(unreachable=True))
        await session.execute(update(Membership).where(Membership.id == members[2]).values(complete=False))

    await db.run(tweak)

    async def send(session):
        prompt = await outbox.broadcast(
            session,
            process_id=process_id,
            kind="loop",
            texts={"fi": "Sanoitte, keskustelimme, seuraavaksi kokeillaan."},
            now=JOINED,
            closes_after=timedelta(days=3),
        )
        return prompt.id, prompt.phase, prompt.closes_at, prompt.texts

    prompt_id, phase, closes_at, texts = await db.run(send)

    async with db.session() as session:
        recipients = set(
            await session.scalars(select(Delivery.membership_id).where(Delivery.prompt_id == prompt_id))
        )
    assert recipients == set(members[3:])
    assert phase == 1
    assert closes_at == JOINED + timedelta(days=3)
    assert texts["sv"] == texts["fi"]
    async with db.session() as session:
        assert await session.scalar(select(Submission.id)) is None


async def test_the_closing_message_names_the_day_the_data_is_erased(db) -> None:
    process_id = await make_process(db)
    async with db.session() as session:
        process = await session.get(Process, process_id)
        assert process is not None
        process.retention_days = 30
        await session.commit()
        facts = (await outbox.process_facts(session, [process_id]))[process_id]
    assert facts.erase_at == facts.end_at + timedelta(days=30)
    values = placeholder_values(default_catalog(), "fi", facts, facts.end_at - timedelta(days=3))
    end = facts.end_at.astimezone(HELSINKI).date()
    erased = (facts.end_at + timedelta(days=30)).astimezone(HELSINKI).date()
    assert values["erase_date"] == f"{erased.day}.{erased.month}.{erased.year}"
    assert values["erase_date"] != values["end_date"] == f"{end.day}.{end.month}.{end.year}"
