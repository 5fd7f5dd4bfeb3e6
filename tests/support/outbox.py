"""Helpers for the outbox tests on the database (this module holds no tests): a process from a
process file, participants who completed joining, planning them, and reading their deliveries."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from bot.domain.planning import PlanResult
from bot.domain.programme import parse_process
from bot.services import outbox
from bot.services.processes import create_process
from storage.models import Delivery, Membership, Organisation, Prompt, User
from tests.support.factories import process_yaml

HELSINKI = ZoneInfo("Europe/Helsinki")
JOINED = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


def reflection(prompt_id: str, when: str, phase: int, **extra: str) -> str:
    lines = [
        f"  - id: {prompt_id}",
        f"    phase: {phase}",
        f"    when: {when}",
        "    kind: reflection",
        f"    text: {{fi: 'Mitä {prompt_id} herätti?', sv: 'Vad väckte {prompt_id}?', en: 'What did {prompt_id} raise?'}}",
    ]
    lines += [f"    {key}: {value}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


async def make_process(db, text: str | None = None) -> int:
    text = text or process_yaml()
    spec = parse_process(text)

    async def work(session):
        process = await create_process(session, spec=spec, source_yaml=text, created_by=None, now=JOINED)
        return process.id

    return await db.run(work)


async def add_member(
    db, process_id: int, user_id: int, *, organisation: int = 0, role: str = "employee"
) -> int:
    async def work(session):
        orgs = list(
            await session.scalars(
                select(Organisation.id)
                .where(Organisation.process_id == process_id)
                .order_by(Organisation.position)
            )
        )
        session.add(User(id=user_id, consent="given", consent_at=JOINED, language="fi", created_at=JOINED))
        membership = Membership(
            process_id=process_id,
            user_id=user_id,
            organisation_id=orgs[organisation],
            role=role,
            pseudonym=f"P-{user_id}",
            complete=True,
            joined_at=JOINED,
        )
        session.add(membership)
        await session.flush()
        return membership.id

    return await db.run(work)


async def plan(db, member_id: int, now: datetime) -> PlanResult:
    async def work(session):
        membership = await session.get(Membership, member_id)
        return await outbox.plan_member(session, membership, now)

    return await db.run(work)


async def deliveries(db, member_id: int) -> dict[str, tuple[str, datetime]]:
    """prompt key → (state, due_at) for one participant."""
    async with db.session() as session:
        rows = await session.execute(
            select(Prompt.key, Delivery.state, Delivery.due_at)
            .join(Prompt, Prompt.id == Delivery.prompt_id)
            .where(Delivery.membership_id == member_id)
        )
        return {key: (state, due) for key, state, due in rows.all()}


async def set_state(db, member_id: int, key: str, state: str, **values) -> None:
    async def work(session):
        prompt_id = select(Prompt.id).where(Prompt.key == key).scalar_subquery()
        await session.execute(
            update(Delivery)
            .where(Delivery.membership_id == member_id, Delivery.prompt_id == prompt_id)
            .values(state=state, **values)
        )

    await db.run(work)


async def due_rows(db, count: int, now: datetime) -> list[int]:
    process_id = await make_process(db)
    members = [await add_member(db, process_id, 2000 + n) for n in range(count)]

    async def work(session):
        prompt = await outbox.broadcast(
            session, process_id=process_id, kind="announcement", texts={"fi": "Hei kaikki!"}, now=now
        )
        return prompt.id

    await db.run(work)
    return members
