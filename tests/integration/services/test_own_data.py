"""/mydata lists every table that holds the person: the schema is read (every table with a reference
to a Telegram id or a membership) and compared with what bot.services.own_data lists, and for a
person with rows everywhere the JSON holds exactly as many items as the tables hold rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Table, func, or_, select, update

from bot.services.own_data import LISTED, NOT_LISTED, export_own_data
from storage.db import Database
from storage.models import (
    Base,
    Delivery,
    Membership,
    Notice,
    Pair,
    PairMember,
    PairMessage,
    PairOptIn,
    Process,
    Prompt,
    Recognition,
    Response,
    Share,
    SharedCopy,
    SharingPref,
    Submission,
    Support,
    User,
)
from tests.support.factories import seed_joined_participants

AINO, BERTIL = 1001, 1002
NOW = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)
PERSON_ID_NAMES = ("user_id", "created_by")
"""Columns that hold a Telegram user id without a foreign key (besides ``*chat_id``)."""


def person_columns(table: Table) -> tuple[list[Column[Any]], list[Column[Any]]]:
    """The columns of ``table`` holding a Telegram user id, and those holding a membership id."""
    by_user: list[Column[Any]] = []
    by_membership: list[Column[Any]] = []
    for column in table.columns:
        targets = {(fk.column.table.name, fk.column.name) for fk in column.foreign_keys}
        if ("memberships", "id") in targets:
            by_membership.append(column)
        elif (
            ("users", "id") in targets
            or (table.name == "users" and column.name == "id")
            or column.name in PERSON_ID_NAMES
            or column.name.endswith("chat_id")
        ):
            by_user.append(column)
    return by_user, by_membership


def tables_holding_a_person() -> set[str]:
    return {name for name, table in Base.metadata.tables.items() if any(person_columns(table))}


def test_every_table_that_holds_a_person_is_in_mydata_or_says_why_not() -> None:
    holding = tables_holding_a_person()
    assert not set(LISTED) & set(NOT_LISTED)
    missing = holding - set(LISTED) - set(NOT_LISTED)
    assert not missing, f"add these tables to /mydata (bot.services.own_data.LISTED): {sorted(missing)}"
    assert set(LISTED) | set(NOT_LISTED) <= holding
    assert {"users", "memberships", "submissions", "supports", "deliveries", "processes"} <= holding


def items_at(data: dict[str, Any], path: str) -> int:
    """How many items the /mydata JSON has at ``path`` (``processes[].submissions[]``)."""
    nodes: list[Any] = [data]
    for part in path.split("."):
        key, many = part.removesuffix("[]"), part.endswith("[]")
        values = [node.get(key) for node in nodes if isinstance(node, dict)]
        nodes = [item for value in values for item in (value or [])] if many else [v for v in values if v]
    return len(nodes)


async def rows_of_the_person(db: Database, table: Table, user_id: int) -> int:
    by_user, by_membership = person_columns(table)
    memberships = select(Membership.id).where(Membership.user_id == user_id)
    conditions = [column == user_id for column in by_user] + [
        column.in_(memberships) for column in by_membership
    ]
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(or_(*conditions))) or 0)


async def aino_everywhere(db: Database) -> None:
    """Aino (in two processes) with a row in every table that can hold her."""
    first = await seed_joined_participants(db, 2, first_user=AINO)
    await seed_joined_participants(db, 1, first_user=AINO + 100)

    async def work(session) -> None:
        aino = (await session.scalars(select(Membership).where(Membership.user_id == AINO))).one()
        bertil = (await session.scalars(select(Membership).where(Membership.user_id == BERTIL))).one()
        # Aino in the second process too, as a facilitator; she created the first process.
        second = await session.scalar(select(Process.id).where(Process.id != first))
        session.add(
            Membership(process_id=second, user_id=AINO, is_facilitator=True, pseudonym="F-1", joined_at=NOW)
        )
        await session.execute(update(Process).where(Process.id == first).values(created_by=AINO))
        prompt = Prompt(
            process_id=first,
            key="w1-kysymys",
            phase=1,
            kind="reflection",
            texts={"fi": "?"},
            due_at=NOW,
            created_at=NOW,
        )
        session.add(prompt)
        await session.flush()
        session.add(
            Delivery(
                prompt_id=prompt.id,
                membership_id=aino.id,
                state="answered",
                due_at=NOW,
                sent_at=NOW,
                chat_id=AINO,
                message_id=50,
                reminded_at=NOW + timedelta(days=2),
            )
        )
        idea = Submission(
            process_id=first, membership_id=bertil.id, kind="idea", title="Bertilin idea", created_at=NOW
        )
        session.add_all(
            [
                Submission(
                    process_id=first,
                    membership_id=aino.id,
                    kind="observation",
                    text="Havainto",
                    created_at=NOW,
                ),
                Submission(
                    process_id=first, membership_id=aino.id, kind="answer", text="Vastaus", created_at=NOW
                ),
                idea,
            ]
        )
        await session.flush()
        session.add(Support(idea_id=idea.id, membership_id=aino.id, created_at=NOW))
        await _dialogue_rows(session, first, aino, bertil)
        user = await session.get(User, AINO)
        assert user is not None
        user.state = {"flow": "idea", "step": "need", "data": {"title": "Keskeneräinen idea"}}

    await db.run(work)


async def _dialogue_rows(session, process_id: int, aino: Membership, bertil: Membership) -> None:
    """Aino shared an observation and saw Bertil's, recognised it, and they exchanged two responses."""
    own = (
        await session.scalars(
            select(Submission).where(Submission.membership_id == aino.id, Submission.kind == "observation")
        )
    ).one()
    his = Submission(
        process_id=process_id, membership_id=bertil.id, kind="observation", text="Jaettu", created_at=NOW
    )
    session.add(his)
    await session.flush()
    session.add_all(
        [
            Share(
                submission_id=own.id,
                membership_id=aino.id,
                process_id=process_id,
                level="org",
                ack_chat_id=AINO,
                ack_message_id=60,
                created_at=NOW,
            ),
            Share(
                submission_id=his.id,
                membership_id=bertil.id,
                process_id=process_id,
                level="anyone",
                ack_chat_id=BERTIL,
                ack_message_id=61,
                created_at=NOW,
            ),
            SharedCopy(
                submission_id=his.id, membership_id=aino.id, chat_id=AINO, message_id=62, created_at=NOW
            ),
            Recognition(submission_id=his.id, membership_id=aino.id, created_at=NOW),
            SharingPref(membership_id=aino.id, level="org", confirmed_at=NOW),
        ]
    )
    first = Response(
        process_id=process_id,
        submission_id=own.id,
        sender_id=bertil.id,
        recipient_id=aino.id,
        text="Sama täällä",
        level="anyone",
        created_at=NOW,
    )
    session.add(first)
    await session.flush()
    session.add(
        Response(
            process_id=process_id,
            submission_id=own.id,
            sender_id=aino.id,
            recipient_id=bertil.id,
            parent_id=first.id,
            text="Kiitos",
            level="org",
            created_at=NOW,
        )
    )
    # Aino and Bertil were paired once after workshop 1; she opted in again and wrote to the pair.
    pair = Pair(process_id=process_id, workshop=1, created_at=NOW)
    session.add_all(
        [PairOptIn(membership_id=aino.id, process_id=process_id, first_name="Aino", consented_at=NOW), pair]
    )
    await session.flush()
    session.add_all(
        [
            PairMember(pair_id=pair.id, membership_id=aino.id, first_name="Aino"),
            PairMember(pair_id=pair.id, membership_id=bertil.id, first_name="Bertil"),
            PairMessage(pair_id=pair.id, sender_id=aino.id, created_at=NOW),
            # A notice waiting to be sent (she was a facilitator of another process once).
            Notice(
                user_id=AINO,
                kind="facilitator_removed",
                language="fi",
                process_name="Toinen prosessi",
                created_at=NOW,
            ),
        ]
    )


async def test_mydata_holds_every_row_that_holds_the_person(db: Database) -> None:
    await aino_everywhere(db)
    data = await db.run(lambda session: export_own_data(session, user_id=AINO))

    for name, path in LISTED.items():
        rows = await rows_of_the_person(db, Base.metadata.tables[name], AINO)
        assert rows > 0, f"the test gives Aino no row in {name}: add one in aino_everywhere"
        assert items_at(data, path) == rows, f"{name}: {rows} rows, {items_at(data, path)} at {path}"
    assert data["unfinished_dialogue"]["data"]["title"] == "Keskeneräinen idea"
    [delivery] = [d for p in data["processes"] for d in p["deliveries"]]
    assert delivery["prompt"] == "w1-kysymys" and delivery["state"] == "answered"
    assert delivery["sent_at"].startswith("2027-02-01") and delivery["reminded_at"].startswith("2027-02-03")
    assert [p["process"] for p in data["processes_created"]] == ["Hyvän tahdon Ilomantsi 2027"]
    assert "Bertilin idea" in str(data) and "P-000001" not in str(data)
