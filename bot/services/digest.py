"""Loading the facilitator digest: what a process produced during a period.

:func:`build_digest` reads one process for one period with a handful of bulk queries (aggregates in
SQL, the period's texts read once, as named rows) and hands them to the pure section builders of
:mod:`bot.domain.digest_sections`; the privacy rules are :mod:`bot.domain.privacy`. It takes the
:class:`~storage.db.Database`, not a session: it reads in short units of work of its own (the facts,
then the texts in keyset-paginated batches), so a large digest never keeps SQLite's only connection
from a participant's message. The aggregation (lemmatising every text above all) runs in a worker
thread, batch by batch, between those units. Rendering is :mod:`bot.render`.

The organisation, member and prompt queries here are shared with :mod:`bot.services.export`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.digest_model import (
    Digest,
    DigestFacts,
    HourCount,
    IdeaFacts,
    IdeaRow,
    PromptInfo,
    SentCount,
    WorkshopInfo,
)
from bot.domain.digest_sections import IDEAS_KEPT, OPEN_KINDS, Audience, TextSections, assemble, chart_window
from bot.domain.loop_nudge import FACILITATOR_KINDS
from bot.domain.privacy import Member
from bot.domain.states import DeliveryState
from bot.services import dialogue_data
from bot.services.people import ROLES
from storage.db import Database
from storage.models import (
    Delivery,
    DigestRun,
    Membership,
    Organisation,
    Process,
    Prompt,
    Submission,
    Support,
    User,
    Workshop,
)

__all__ = [
    "build_digest",
    "default_period_start",
    "load_digest_facts",
    "load_members",
    "organisation_names",
    "prompt_infos",
    "read_rows",
    "record_run",
    "text_batches",
]

BATCH = 2000
"""Rows per batch read from the database (one unit of work) and aggregated in one worker-thread hop."""


def default_period_start(process: Process) -> datetime:
    """Where a digest starts when nobody says: the last weekly digest, or the process's creation."""
    return process.last_digest_at or process.created_at


async def record_run(
    session: AsyncSession,
    *,
    process_id: int,
    trigger: str,
    start: datetime,
    end: datetime,
    now: datetime,
    due_at: datetime | None = None,
) -> DigestRun:
    """Record that a digest was made. A weekly run (``due_at`` set) also moves the process's
    ``last_digest_at``; the unique (process, due_at) makes a second run for the same week fail."""
    run = DigestRun(
        process_id=process_id,
        trigger=trigger,
        period_start=start,
        period_end=end,
        due_at=due_at,
        created_at=now,
    )
    session.add(run)
    if due_at is not None:
        process = await session.get(Process, process_id)
        if process is not None:
            process.last_digest_at = due_at
    await session.flush()
    return run


async def organisation_names(session: AsyncSession, process_id: int) -> tuple[str, ...]:
    """The process's organisations in the order its file lists them."""
    return tuple(
        await session.scalars(
            select(Organisation.name)
            .where(Organisation.process_id == process_id)
            .order_by(Organisation.position)
        )
    )


async def prompt_infos(session: AsyncSession, process_id: int) -> dict[int, PromptInfo]:
    """Every prompt of the process by id."""
    rows = await session.execute(
        select(Prompt.id, Prompt.key, Prompt.kind, Prompt.texts, Prompt.options).where(
            Prompt.process_id == process_id
        )
    )
    return {row.id: PromptInfo(row.id, row.key, row.kind, row.texts, row.options) for row in rows}


async def load_members(session: AsyncSession, process_id: int) -> list[Member]:
    """Every membership of the process (facilitators too), in one query."""
    rows = await session.execute(
        select(
            Membership.id,
            Organisation.name.label("organisation"),
            Membership.role,
            Membership.show_name,
            Membership.display_name,
            Membership.pseudonym,
            Membership.is_facilitator,
            Membership.complete,
            Membership.joined_at,
            User.language,
        )
        .join(User, User.id == Membership.user_id)
        .outerjoin(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.process_id == process_id)
        .order_by(Membership.id)
    )
    return [
        Member(
            id=row.id,
            organisation=row.organisation,
            role=row.role,
            name=(row.display_name or None) if row.show_name else None,
            pseudonym=row.pseudonym,
            facilitator=bool(row.is_facilitator),
            participant=bool(row.complete) and not row.is_facilitator,
            language=row.language or "fi",
            joined_at=row.joined_at,
        )
        for row in rows.all()
    ]


async def _workshops(session: AsyncSession, process_id: int) -> list[WorkshopInfo]:
    rows = await session.execute(
        select(Workshop.number, Workshop.starts_at, Workshop.place)
        .where(Workshop.process_id == process_id)
        .order_by(Workshop.number)
    )
    return [WorkshopInfo._make(row) for row in rows]


async def _per_member(session: AsyncSession, statement: Any) -> dict[int, int]:
    return {int(member_id): int(count) for member_id, count in await session.execute(statement)}


async def _activity(
    session: AsyncSession, process_id: int, start: datetime, end: datetime
) -> tuple[dict[int, int], list[SentCount]]:
    """Per member in the period: supports given; per prompt: deliveries sent and answered."""
    supports = await _per_member(
        session,
        select(Support.membership_id, func.count())
        .join(Submission, Submission.id == Support.idea_id)
        .where(Submission.process_id == process_id, Support.created_at >= start, Support.created_at < end)
        .group_by(Support.membership_id),
    )
    sent = await sent_counts(session, process_id, start, end)
    return supports, sent


async def sent_counts(
    session: AsyncSession, process_id: int, start: datetime | None = None, end: datetime | None = None
) -> list[SentCount]:
    """Per participants' prompt: deliveries sent (in ``start``..``end``, when given) and how many of
    those were answered. Facilitators' own prompts (the loop nudge) are not counted."""
    conditions = [Prompt.process_id == process_id, Prompt.kind.not_in(FACILITATOR_KINDS)]
    conditions.append(Delivery.sent_at.is_not(None) if start is None else Delivery.sent_at >= start)
    if end is not None:
        conditions.append(Delivery.sent_at < end)
    rows = await session.execute(
        select(
            Delivery.prompt_id,
            func.count(),
            func.sum(case((Delivery.state == DeliveryState.ANSWERED, 1), else_=0)),
        )
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .where(*conditions)
        .group_by(Delivery.prompt_id)
    )
    return [SentCount(int(prompt_id), int(count), int(answered or 0)) for prompt_id, count, answered in rows]


def _idea_parts(process_id: int, start: datetime, end: datetime) -> tuple[Any, tuple[Any, ...]]:
    """Each idea's supports (all up to ``end``, and those in the period), and which ideas count: the
    process's visible ideas up to ``end``."""
    support_totals = (
        select(
            Support.idea_id.label("idea_id"),
            func.count().label("total"),
            func.sum(case((and_(Support.created_at >= start, Support.created_at < end), 1), else_=0)).label(
                "recent"
            ),
        )
        .join(Submission, Submission.id == Support.idea_id)
        .where(Submission.process_id == process_id, Support.created_at < end)
        .group_by(Support.idea_id)
        .subquery()
    )
    base = (
        Submission.process_id == process_id,
        Submission.kind == "idea",
        Submission.hidden.is_(False),
        Submission.merged_into_id.is_(None),
        Submission.created_at < end,
    )
    return support_totals, base


async def _idea_counts(session: AsyncSession, process_id: int, start: datetime, end: datetime) -> IdeaFacts:
    """How many ideas there are, how many are new in the period, and the period's supports."""
    support_totals, base = _idea_parts(process_id, start, end)
    counts = (
        await session.execute(
            select(
                func.count().label("total"),
                func.sum(case((Submission.created_at >= start, 1), else_=0)).label("new"),
                func.coalesce(func.sum(support_totals.c.recent), 0).label("recent"),
            )
            .select_from(Submission)
            .outerjoin(support_totals, support_totals.c.idea_id == Submission.id)
            .where(*base)
        )
    ).one()
    return IdeaFacts(
        count=int(counts.total or 0),
        new_count=int(counts.new or 0),
        supports_in_period=int(counts.recent or 0),
        listed=[],
    )


async def _idea_rows(session: AsyncSession, process_id: int, start: datetime, end: datetime) -> list[IdeaRow]:
    """The ideas listed in the digest, most supported first."""
    support_totals, base = _idea_parts(process_id, start, end)
    total = func.coalesce(support_totals.c.total, 0)
    rows = await session.execute(
        select(
            Submission.id,
            Submission.membership_id,
            Submission.title,
            Submission.need,
            Submission.partners,
            Submission.first_experiment,
            Submission.anonymous,
            Submission.created_at,
            total,
            func.coalesce(support_totals.c.recent, 0),
        )
        .outerjoin(support_totals, support_totals.c.idea_id == Submission.id)
        .where(*base)
        .order_by(total.desc(), Submission.created_at.desc(), Submission.id.desc())
        .limit(IDEAS_KEPT)
    )
    return [IdeaRow._make(row) for row in rows]


async def _contributions(
    session: AsyncSession, process_id: int, start: datetime, end: datetime, tz: ZoneInfo
) -> tuple[dict[int, int], list[HourCount]]:
    """Visible submissions per member: in the period, and per local week of the chart up to ``end``.

    One grouped query: each row is sorted into its chart week by comparing it with the weeks' first
    instants (local Mondays at midnight, so DST is right), then counted per member, week and
    whether it is in the period. A few thousand rows come back, however many submissions there are.
    """
    first_allowed, last_week = chart_window(end, tz)
    mondays = [first_allowed + timedelta(weeks=n) for n in range((last_week - first_allowed).days // 7 + 2)]
    bounds = [datetime.combine(monday, time.min, tzinfo=tz).astimezone(UTC) for monday in mondays]
    week = case(
        (Submission.created_at < bounds[0], -1),
        *((Submission.created_at < bound, index) for index, bound in enumerate(bounds[1:])),
        else_=len(bounds) - 1,
    ).label("week")
    in_period = case((Submission.created_at >= start, 1), else_=0).label("in_period")
    rows = await session.execute(
        select(Submission.membership_id, week, in_period, func.min(Submission.created_at), func.count())
        .where(
            Submission.process_id == process_id,
            Submission.hidden.is_(False),
            Submission.created_at >= min(start, bounds[0]),
            Submission.created_at < end,
        )
        .group_by(Submission.membership_id, week, in_period)
    )
    contributions: dict[int, int] = {}
    weekly: list[HourCount] = []
    for member_id, week_index, period, first_at, count in rows:
        if period:
            contributions[member_id] = contributions.get(member_id, 0) + int(count)
        if week_index >= 0:
            weekly.append(HourCount(int(member_id), first_at, int(count)))
    return contributions, weekly


async def _first_facts(
    session: AsyncSession, *, process_id: int, start: datetime, end: datetime, now: datetime
) -> DigestFacts | None:
    """The process and the quick aggregates; the slow ones (contributions, ideas) are left empty."""
    process = await session.get(Process, process_id)
    if process is None:
        return None
    supports, sent = await _activity(session, process_id, start, end)
    return DigestFacts(
        process_id=process.id,
        process_name=process.name,
        timezone=process.timezone,
        start=start,
        end=end,
        now=now,
        process_end=process.end_at,
        min_group=max(1, process.min_group or 1),
        organisations=await organisation_names(session, process_id),
        roles=ROLES,
        workshops=await _workshops(session, process_id),
        prompts=await prompt_infos(session, process_id),
        members=await load_members(session, process_id),
        contributions={},
        supports_given=supports,
        sent=sent,
        ideas=IdeaFacts(count=0, new_count=0, supports_in_period=0, listed=[]),
        hours=[],
        resonance=await dialogue_data.resonance_facts(session, process_id=process_id, start=start, end=end),
    )


async def load_digest_facts(
    db: Database, *, process_id: int, start: datetime, end: datetime, now: datetime
) -> DigestFacts | None:
    """Everything but the period's texts, or ``None`` for no such process: in a few short units of
    work, the slowest aggregates (a few hundred milliseconds each at 100,000 submissions) apart, so
    others get the connection in between."""
    facts = await db.run(
        lambda session: _first_facts(session, process_id=process_id, start=start, end=end, now=now)
    )
    if facts is None:
        return None
    tz = ZoneInfo(facts.timezone)
    contributions, weekly = await db.run(lambda session: _contributions(session, process_id, start, end, tz))
    ideas = await db.run(lambda session: _idea_counts(session, process_id, start, end))
    listed = await db.run(lambda session: _idea_rows(session, process_id, start, end))
    return replace(facts, contributions=contributions, hours=weekly, ideas=replace(ideas, listed=listed))


def _text_query(process_id: int, start: datetime, end: datetime) -> Any:
    """The period's visible observations, answers and experiments, newest first, in
    :class:`~bot.domain.digest_model.SubmissionRow`'s column order."""
    return (
        select(
            Submission.id,
            Submission.membership_id,
            Submission.kind,
            Submission.text,
            Submission.media_type,
            Submission.theme,
            Submission.anonymous,
            Submission.created_at,
            Submission.prompt_id,
            Submission.choice,
            Submission.title,
            Submission.happened,
            Submission.learned,
            Submission.obstacles,
        )
        .where(
            Submission.process_id == process_id,
            Submission.hidden.is_(False),
            Submission.created_at >= start,
            Submission.created_at < end,
            Submission.kind.in_(OPEN_KINDS),
        )
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(BATCH)
    )


async def read_rows(db: Database, statement: Any) -> Sequence[Any]:
    """The rows of one read-only statement, in a unit of work of their own. Core rows straight from
    the connection: the ORM layer would cost more than the query."""

    async def read(session: AsyncSession) -> Sequence[Any]:
        return (await (await session.connection()).execute(statement)).all()

    return await db.run(read)


async def text_batches(
    db: Database, *, process_id: int, start: datetime, end: datetime
) -> AsyncIterator[Sequence[Any]]:
    """The period's texts, newest first, in batches; each batch is one short unit of work of its own
    (keyset pagination on ``created_at, id``), so no connection is held between batches."""
    query = _text_query(process_id, start, end)
    after: tuple[datetime, int] | None = None
    while True:
        page = query
        if after is not None:
            # Written out rather than as a row value, so both databases narrow the index range.
            page = query.where(
                Submission.created_at <= after[0],
                or_(Submission.created_at < after[0], Submission.id < after[1]),
            )
        rows = await read_rows(db, page)
        if rows:
            yield rows
        if len(rows) < BATCH:
            return
        after = (rows[-1].created_at, rows[-1].id)


async def build_digest(
    db: Database, *, process_id: int, start: datetime, end: datetime, now: datetime
) -> Digest | None:
    """Everything the facilitator digest says about ``[start, end)``, or ``None`` for no such process.

    Reads in short units of work of its own, never holding a connection (SQLite's only one) while it
    computes: the facts in a few (:func:`load_digest_facts`), then the texts batch by batch
    (:func:`text_batches`), each aggregated in a worker thread while the next is read, holding no
    connection. On SQLite and PostgreSQL alike each unit is its own transaction, so the digest is not one
    snapshot. Messages filed meanwhile are not in it (``end`` is fixed and they come after it), but
    what changes while it is built can show in the units read after the change: a submission hidden
    (or erased with ``/forget``) meanwhile may still be counted in the facts, and quoted if its
    batch was already read; an idea merged meanwhile may be counted apart; a submission edited
    meanwhile is quoted as its batch read it. The next digest has each of them right.
    """
    facts = await load_digest_facts(db, process_id=process_id, start=start, end=end, now=now)
    if facts is None:
        return None
    audience = await asyncio.to_thread(Audience.of, facts)
    texts = TextSections(facts, audience)
    # While a worker thread aggregates one batch, the next is read: one batch at a time in each.
    adding: asyncio.Future[None] | None = None
    try:
        async for batch in text_batches(db, process_id=process_id, start=start, end=end):
            if adding is not None:
                await adding
            adding = asyncio.ensure_future(asyncio.to_thread(texts.add, batch))
    finally:
        if adding is not None:
            await asyncio.shield(adding)
    return await asyncio.to_thread(assemble, facts, audience, texts)
