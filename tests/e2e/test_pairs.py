"""Pairs across organisations through the real bot: /pair, the rounds, the pair's talk, /forget."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.domain.states import DELIVERED_STATES
from bot.services.retention import purge_at
from storage.models import (
    Delivery,
    Membership,
    Pair,
    PairMember,
    PairMessage,
    PairOptIn,
    PairRound,
    Prompt,
    Submission,
)
from tests.support.factories import HIGHLIGHTS_PROMPT, process_yaml
from tests.support.programme import dispatcher, start_harness

HELSINKI = ZoneInfo("Europe/Helsinki")
# Workshop 1 is on Thursday 14 January 2027, workshop 2 on 4 February; every day is open.
AFTER_W1 = datetime(2027, 1, 16, 10, 0, tzinfo=HELSINKI)
AFTER_W2 = datetime(2027, 2, 6, 10, 0, tzinfo=HELSINKI)


@pytest.fixture
async def bot(sandbox, db, clock, settings):
    harness = await start_harness(sandbox, db, clock, settings)
    try:
        yield harness
    finally:
        await harness.stop()


@pytest.fixture
async def process(bot):
    return await bot.create_process(process_yaml(programme=None))


@pytest.fixture
async def process_with_highlights(bot):
    return await bot.create_process(process_yaml(programme=None, extra=HIGHLIGHTS_PROMPT))


async def person(bot, sandbox, process, user_id: int, name: str, organisation: int, role: str = "employee"):
    user = sandbox.user(user_id, first_name=name, last_name="Sukunimi", username=f"{name.lower()}_tg")
    await bot.join(user, process, organisation=organisation, role=role)
    await bot.command(user, "/pair")
    assert "Haluatko juttelupariksi" in user.messages[-1]["text"]
    assert f"<b>{name}</b>" in user.messages[-1]["text"] or name in user.messages[-1]["text"]
    await bot.press(user, "pq:y")
    assert "Hienoa!" in user.messages[-1]["text"]
    return user


async def round_at(bot, when: datetime) -> None:
    bot.clock.set(when)
    assert bot.services.duties is not None
    await bot.services.duties.run_all(bot.app.bot)
    await dispatcher(bot).tick()
    await bot.idle()


def intro(user) -> dict:
    [message] = [m for m in user.messages if "Juttelu" in (m.get("text") or "")][-1:]
    return message


async def partners(db, workshop: int) -> set[frozenset[int]]:
    async with db.session() as session:
        rows = (
            await session.execute(
                select(PairMember.pair_id, PairMember.membership_id)
                .join(Pair, Pair.id == PairMember.pair_id)
                .where(Pair.workshop == workshop)
            )
        ).all()
    groups: dict[int, set[int]] = {}
    for pair_id, membership_id in rows:
        groups.setdefault(pair_id, set()).add(membership_id)
    return {frozenset(g) for g in groups.values()}


async def test_a_pair_crosses_organisations_and_talks_without_telegram_profiles(
    bot, sandbox, process
) -> None:
    aino = await person(bot, sandbox, process, 1001, "Aino", 0)
    bertil = await person(bot, sandbox, process, 1002, "Bertil", 1, role="management")

    await round_at(bot, datetime(2027, 1, 15, 12, 0, tzinfo=HELSINKI))
    assert not [
        m for m in aino.messages if "Juttelupari" in (m.get("text") or "")
    ]  # one working day: not yet

    await round_at(bot, AFTER_W1)
    to_aino, to_bertil = intro(aino)["text"], intro(bertil)["text"]
    assert "Bertil" in to_aino and "Ilomantsin seurakunta" in to_aino and "Kertokaa toisillenne" in to_aino
    assert "Aino" in to_bertil and "Ilomantsin kunta" in to_bertil
    for text in (to_aino, to_bertil):
        assert "Sukunimi" not in text and "_tg" not in text

    # A restart (the duty again) never pairs twice.
    await round_at(bot, AFTER_W1)
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Pair)) == 1
        assert await session.scalar(select(func.count()).select_from(PairRound)) == 1

    await aino.send_text(
        "Hei <Bertil>! Meillä kotihoidossa on ollut kiireinen viikko.",
        reply_to_message_id=intro(aino)["message_id"],
    )
    await bot.idle()
    assert "Välitin viestisi parillesi" in aino.messages[-1]["text"]
    await dispatcher(bot).tick()
    await bot.idle()
    relayed = bertil.messages[-1]
    assert "Hei <Bertil>!" in relayed["text"]  # escaped on the way: the sandbox parsed it as text
    assert "Aino" in relayed["text"] and "Ilomantsin kunta" in relayed["text"]
    assert "Sukunimi" not in relayed["text"] and "aino_tg" not in relayed["text"]
    assert "forward_origin" not in relayed and "forward_from" not in relayed

    # A reply written at 22:00 waits for the quiet hours to end.
    bot.clock.set(datetime(2027, 1, 16, 22, 0, tzinfo=HELSINKI))
    await bertil.send_text("Kiitos, samoin meillä!", reply_to_message_id=relayed["message_id"])
    await bot.idle()
    assert "jonossa" in bertil.messages[-1]["text"]
    before = len(aino.messages)
    await dispatcher(bot).tick()
    await bot.idle()
    assert len(aino.messages) == before
    bot.clock.set(datetime(2027, 1, 17, 8, 1, tzinfo=HELSINKI))
    await dispatcher(bot).tick()
    await bot.idle()
    assert "Kiitos, samoin meillä!" in aino.messages[-1]["text"] and "Bertil" in aino.messages[-1]["text"]

    await bot.command(bertil, "/pair", "end")
    assert "lopetettu" in bertil.messages[-1]["text"]
    await dispatcher(bot).tick()
    await bot.idle()
    assert "Bertil lopetti parikeskustelun" in aino.messages[-1]["text"]
    await aino.send_text("Vielä yksi asia", reply_to_message_id=intro(aino)["message_id"])
    await bot.idle()
    assert "päättynyt" in aino.messages[-1]["text"]


async def test_odd_numbers_make_a_trio(bot, sandbox, process) -> None:
    names = ["Aino", "Bertil", "Cecilia"]
    people = [await person(bot, sandbox, process, 1001 + i, name, i) for i, name in enumerate(names)]
    await round_at(bot, AFTER_W1)
    assert len(await partners(bot.db, 1)) == 1
    for name, user in zip(names, people, strict=True):
        text = intro(user)["text"]
        assert "Juttelukolmikko" in text
        others = set(names) - {name}
        assert all(name in text for name in others)


async def test_the_second_round_gives_new_partners(bot, sandbox, process) -> None:
    for i, (name, org) in enumerate([("Aino", 0), ("Anna", 0), ("Bertil", 1), ("Bo", 1)]):
        await person(bot, sandbox, process, 1001 + i, name, org)
    await round_at(bot, AFTER_W1)
    first = await partners(bot.db, 1)
    await round_at(bot, AFTER_W2)
    second = await partners(bot.db, 2)
    assert len(first) == len(second) == 2
    assert not first & second
    async with bot.db.session() as session:
        # The first round's pairs ended when the second began.
        assert (
            await session.scalar(select(func.count()).select_from(Pair).where(Pair.ended_at.is_(None))) == 2
        )


async def test_a_single_organisation_is_told_why_once(bot, sandbox, process) -> None:
    aino = await person(bot, sandbox, process, 1001, "Aino", 0)
    anna = await person(bot, sandbox, process, 1002, "Anna", 0)
    await round_at(bot, AFTER_W1)
    for user in (aino, anna):
        assert "samasta organisaatiosta" in user.messages[-1]["text"]
    assert not await partners(bot.db, 1)
    before = len(aino.messages)
    await round_at(bot, AFTER_W2)
    assert len(aino.messages) == before


async def test_forget_leaves_nothing_of_the_pair(bot, sandbox, process) -> None:
    aino = await person(bot, sandbox, process, 1001, "Aino", 0)
    bertil = await person(bot, sandbox, process, 1002, "Bertil", 1)
    await round_at(bot, AFTER_W1)
    intro_id = intro(bertil)["message_id"]
    await aino.send_text("Hei!", reply_to_message_id=intro(aino)["message_id"])
    await bot.idle()
    await dispatcher(bot).tick()
    await bot.idle()
    copy_id = bertil.messages[-1]["message_id"]

    await bot.command(aino, "/mydata")
    await bot.command(aino, "/forget")
    await bot.press(aino, "fg:yes")
    async with bot.db.session() as session:
        for table in (Pair, PairMember, PairMessage):
            assert await session.scalar(select(func.count()).select_from(table)) == 0
        assert await session.scalar(select(func.count()).select_from(PairOptIn)) == 1  # Bertil's own
    assert bot.services.duties is not None
    await bot.services.duties.run_all(bot.app.bot)
    await bot.idle()
    removed = bertil.message(copy_id).get("text") or ""
    assert "Hei!" not in removed and "poistettu" in removed
    # The introduction that named her says so too.
    introduced = bertil.message(intro_id).get("text") or ""
    assert "Aino" not in introduced and "poistettu" in introduced

    # A reply to the removed copy is neither relayed nor filed for the facilitators: it is refused.
    async with bot.db.session() as session:
        before = await session.scalar(select(func.count()).select_from(Submission))
    await bertil.send_text("Hei Aino, kerro lisää!", reply_to_message_id=copy_id)
    await bot.idle()
    async with bot.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == before
        assert await session.scalar(select(func.count()).select_from(PairMessage)) == 0
    assert "ei voi enää vastata" in bertil.messages[-1]["text"]


async def test_retention_purges_the_pairs_with_the_process(bot, sandbox, process) -> None:
    aino = await person(bot, sandbox, process, 1001, "Aino", 0)
    await person(bot, sandbox, process, 1002, "Bertil", 1)
    await round_at(bot, AFTER_W1)
    await aino.send_text("Hei!", reply_to_message_id=intro(aino)["message_id"])
    await bot.idle()

    await round_at(bot, purge_at(process) + timedelta(days=1))
    async with bot.db.session() as session:
        for table in (Pair, PairMember, PairMessage, PairOptIn, PairRound):
            assert await session.scalar(select(func.count()).select_from(table)) == 0, table.__tablename__


HIGHLIGHTS_AT = datetime(2027, 1, 25, 14, 0, tzinfo=HELSINKI)  # W1 +11d 14:00


async def highlights_states(db) -> dict[int, str]:
    """User id → the state of their highlights delivery."""
    async with db.session() as session:
        rows = await session.execute(
            select(Membership.user_id, Delivery.state)
            .join(Delivery, Delivery.membership_id == Membership.id)
            .join(Prompt, Prompt.id == Delivery.prompt_id)
            .where(Prompt.kind == "highlights")
        )
        return {int(user_id): str(state) for user_id, state in rows.all()}


async def test_a_paired_participant_meets_the_others_through_the_pair_not_the_highlights(
    bot, sandbox, process_with_highlights
) -> None:
    process = process_with_highlights
    # Three of the municipality and one of the parish opt in: a trio, and one nobody was free for.
    aino = await person(bot, sandbox, process, 1001, "Aino", 0)
    bertil = await person(bot, sandbox, process, 1002, "Bertil", 1)
    anna = await person(bot, sandbox, process, 1003, "Anna", 0)
    annikki = await person(bot, sandbox, process, 1004, "Annikki", 0)
    cecilia = sandbox.user(1005, first_name="Cecilia")
    await bot.join(cecilia, process, organisation=1)  # not in the pairs

    await round_at(bot, AFTER_W1)
    for user in (aino, bertil, anna):
        text = intro(user)["text"]
        assert "Juttelukolmikko" in text and "/shared" in text
    assert "ei riittänyt sinulle paria" in annikki.messages[-1]["text"]

    await round_at(bot, HIGHLIGHTS_AT)

    def got_highlights(user) -> bool:
        return any("kurkistus siihen, mitä muut" in (m.get("text") or "") for m in user.messages)

    assert [u.id for u in (aino, bertil, anna, annikki, cecilia) if got_highlights(u)] == [1004, 1005]
    states = await highlights_states(bot.db)
    assert states == {1001: "skipped", 1002: "skipped", 1003: "skipped", 1004: "sent", 1005: "sent"}

    # Skipped is final: a restart's re-planning and later ticks neither send nor re-plan it.
    await dispatcher(bot).recover()
    await round_at(bot, HIGHLIGHTS_AT + timedelta(hours=2))
    assert await highlights_states(bot.db) == states
    assert not any(got_highlights(u) for u in (aino, bertil, anna))
    # Delivered (what answer rates count): the two sent, not the three skipped.
    async with bot.db.session() as session:
        sent = await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .join(Prompt, Prompt.id == Delivery.prompt_id)
            .where(Prompt.kind == "highlights", Delivery.state.in_(DELIVERED_STATES))
        )
    assert sent == 2


async def test_pair_off_ends_the_open_pair_tells_the_partner_and_opts_out(bot, sandbox, process) -> None:
    aino = await person(bot, sandbox, process, 1001, "Aino", 0)
    bertil = await person(bot, sandbox, process, 1002, "Bertil", 1)
    await round_at(bot, AFTER_W1)
    intro_id = intro(aino)["message_id"]

    await bot.command(aino, "/pair", "off")
    reply = aino.messages[-1]["text"]
    assert "lopetin parikeskustelun" in reply and "En enää yhdistä sinua pareihin" in reply
    await dispatcher(bot).tick()
    await bot.idle()
    assert "Aino lopetti parikeskustelun" in bertil.messages[-1]["text"]
    async with bot.db.session() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Pair).where(Pair.ended_at.is_(None))) == 0
        )
        assert await session.scalar(select(func.count()).select_from(PairOptIn)) == 1  # Bertil's
    await aino.send_text("Vielä yksi asia", reply_to_message_id=intro_id)
    await bot.idle()
    assert "päättynyt" in aino.messages[-1]["text"]

    # Again: nothing open, nothing to leave.
    await bot.command(aino, "/pair", "off")
    assert "Et ole mukana pareissa" in aino.messages[-1]["text"]
