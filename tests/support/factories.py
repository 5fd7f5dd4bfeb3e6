"""Test data: process files and a seeded process, written the way a facilitator would write them."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.programme import parse_process
from bot.services.processes import create_process
from storage.db import Database
from storage.models import Membership, User

DEFAULT_ORGANISATIONS = ("Ilomantsin kunta", "Ilomantsin seurakunta", "Kyläyhdistys")
EVERY_DAY = "skip_weekends: false\nholidays: off\nreminders_per_week: off\n"
"""The calendar of the tests written before the gentle calendar: every day open, every reminder kept,
so their hand-computed times (some on a Saturday) still hold. The calendar's own tests pass
``calendar=""`` and get the shipped defaults."""


def process_yaml(
    *,
    name: str = "Hyvän tahdon Ilomantsi 2027",
    language: str = "fi",
    organisations: tuple[str, ...] = DEFAULT_ORGANISATIONS,
    workshops: tuple[str, ...] = (
        "2027-01-14 09:00",
        "2027-02-04 09:00",
        "2027-02-25 12:30",
        "2027-03-18 09:00",
        "2027-04-08 09:00",
    ),
    extra: str = "",
    programme: str | None = "default",
    calendar: str = EVERY_DAY,
) -> str:
    orgs = "\n".join(f"  - {org}" for org in organisations)
    shops = "\n".join(f"  - {when}" for when in workshops)
    text = f"name: {name}\nlanguage: {language}\ntimezone: Europe/Helsinki\norganisations:\n{orgs}\nworkshops:\n{shops}\n"
    if programme:
        text += f"programme: {programme}\n"
    extra = textwrap.dedent(extra)
    given = {line.split(":")[0] for line in extra.splitlines()}
    calendar = "".join(f"{line}\n" for line in calendar.splitlines() if line.split(":")[0] not in given)
    return text + calendar + extra


async def seed_joined_participants(
    db: Database, count: int, *, first_user: int, source_yaml: str | None = None
) -> int:
    """A process with ``count`` participants who completed joining (consent, organisation, role),
    written in bulk straight through the storage layer; returns the process id. For benchmarks and
    tests that need many people, where walking the join dialogue would only cost time."""
    source = source_yaml or process_yaml()
    spec = parse_process(source)
    now = datetime.now(UTC)

    async def work(session: AsyncSession) -> int:
        process = await create_process(session, spec=spec, source_yaml=source, created_by=None, now=now)
        organisations = [organisation.id for organisation in process.organisations]
        user_ids = [first_user + index for index in range(count)]
        await session.execute(
            insert(User),
            [
                {"id": uid, "consent": "given", "consent_at": now, "language": "fi", "created_at": now}
                for uid in user_ids
            ],
        )
        await session.execute(
            insert(Membership),
            [
                {
                    "process_id": process.id,
                    "user_id": uid,
                    "organisation_id": organisations[index % len(organisations)],
                    "role": "employee",
                    "pseudonym": f"P-{index:06d}",
                    "complete": True,
                    "joined_at": now,
                }
                for index, uid in enumerate(user_ids)
            ],
        )
        active = select(Membership.id).where(Membership.user_id == User.id).scalar_subquery()
        await session.execute(update(User).where(User.id.in_(user_ids)).values(active_membership_id=active))
        return process.id

    return await db.run(work)


# Workshops on Thursdays in spring 2026, across Easter, vappu and helatorstai: the calendar's hard cases.
THURSDAYS = (
    "2026-02-19 09:00",
    "2026-03-19 09:00",
    "2026-04-02 09:00",
    "2026-04-30 09:00",
    "2026-05-21 09:00",
)

# One highlights message in phase 1, to add to a test's process file (``process_yaml(extra=…)``).
HIGHLIGHTS_PROMPT = """
prompts:
  - id: p1-highlights
    phase: 1
    when: W1 +11d 14:00
    kind: highlights
    text:
      fi: Työpajojen välissä kurkistus siihen, mitä muut ovat huomanneet.
      sv: Mellan workshoparna en titt på vad de andra har lagt märke till.
      en: Between workshops, a look at what the others have noticed.
    remind_after: none
    closes_after: 3d
"""
