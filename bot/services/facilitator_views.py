"""What a facilitator sees of a process, as plain data: the roster, the overview, what is coming up."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.process import ProcessFacts, WorkshopFact, phase_at
from bot.domain.programme import KINDS as PROGRAMME_KINDS
from bot.domain.sharing import RELAY_KIND
from bot.domain.states import DELIVERED_STATES, DeliveryState
from bot.render.prompt import ANSWERABLE_KINDS
from bot.services.outbox import process_facts
from storage.models import Delivery, Membership, Organisation, Process, Prompt

__all__ = ["MemberLine", "Overview", "PromptRate", "Roster", "Upcoming", "overview", "roster", "upcoming"]


@dataclass(frozen=True)
class MemberLine:
    name: str | None
    """Only for participants who allowed their name to be shown."""
    organisation: str | None
    role: str | None


@dataclass(frozen=True)
class Roster:
    organisations: tuple[str, ...]
    groups: Mapping[tuple[str, str], int]
    """(organisation, role) → participants who completed joining."""
    participants: int
    incomplete: int
    paused: int
    unreachable: tuple[MemberLine, ...]
    named: Mapping[str, tuple[str, ...]]
    """Organisation → names of those who allowed their name to be shown."""


@dataclass(frozen=True)
class PromptRate:
    prompt: Prompt
    sent: int
    answered: int
    last_sent: datetime

    @property
    def percent(self) -> int:
        return round(100 * self.answered / self.sent) if self.sent else 0


@dataclass(frozen=True)
class Overview:
    facts: ProcessFacts
    phase: int
    next_workshop: WorkshopFact | None
    ended: bool
    roster: Roster
    rates: tuple[PromptRate, ...]


@dataclass(frozen=True)
class Upcoming:
    prompt: Prompt
    at: datetime
    """When it first goes out (planned), or its programme time when nobody is planned yet."""
    recipients: int


async def roster(session: AsyncSession, process: Process, *, no_organisation: str = "-") -> Roster:
    """Who takes part, by organisation and role; names only of those who allowed it."""
    organisations = list(
        await session.scalars(
            select(Organisation.name)
            .where(Organisation.process_id == process.id)
            .order_by(Organisation.position)
        )
    )
    rows = await session.execute(
        select(
            Membership.complete,
            Membership.paused,
            Membership.unreachable,
            Membership.role,
            Membership.show_name,
            Membership.display_name,
            Organisation.name,
        )
        .outerjoin(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.process_id == process.id, Membership.is_facilitator.is_(False))
        .order_by(Membership.joined_at, Membership.id)
    )
    groups: Counter[tuple[str, str]] = Counter()
    named: dict[str, list[str]] = defaultdict(list)
    unreachable: list[MemberLine] = []
    participants = incomplete = paused = 0
    for complete, is_paused, is_unreachable, role, show_name, display_name, organisation in rows.all():
        if not complete:
            incomplete += 1
            continue
        participants += 1
        org = organisation or no_organisation
        groups[(org, role or "other")] += 1
        name = display_name if show_name and display_name else None
        if name:
            named[org].append(name)
        if is_paused:
            paused += 1
        if is_unreachable:
            unreachable.append(MemberLine(name, organisation, role))
    return Roster(
        organisations=tuple(organisations),
        groups=dict(groups),
        participants=participants,
        incomplete=incomplete,
        paused=paused,
        unreachable=tuple(unreachable),
        named={org: tuple(names) for org, names in named.items()},
    )


async def overview(session: AsyncSession, process: Process, now: datetime, *, recent: int = 5) -> Overview:
    """The facilitator's ``/process`` view as data: phase, next workshop, roster, answer rates."""
    facts = (await process_facts(session, [process.id]))[process.id]
    rows = await session.execute(
        select(
            Prompt,
            func.count(),
            func.sum(case((Delivery.state == DeliveryState.ANSWERED, 1), else_=0)),
            func.max(Delivery.sent_at),
        )
        .join(Delivery, Delivery.prompt_id == Prompt.id)
        .where(
            Prompt.process_id == process.id,
            Prompt.kind.in_(tuple(ANSWERABLE_KINDS)),
            Delivery.state.in_(DELIVERED_STATES),
        )
        .group_by(Prompt.id)
        .order_by(func.max(Delivery.sent_at).desc(), Prompt.id.desc())
        .limit(recent)
    )
    rates = tuple(
        PromptRate(prompt, int(sent), int(answered or 0), last_sent)
        for prompt, sent, answered, last_sent in rows.all()
    )
    return Overview(
        facts=facts,
        # Before workshop 1 the overview shows phase 1, the phase being prepared for.
        phase=max(1, phase_at(facts.workshop_starts, now)),
        next_workshop=facts.next_workshop(now),
        ended=now >= facts.end_at,
        roster=await roster(session, process),
        rates=rates,
    )


async def upcoming(session: AsyncSession, process: Process, now: datetime) -> list[Upcoming]:
    """Prompts still to go out, soonest first: planned ones with their first send time and how many
    will receive them, and programme prompts nobody is planned for yet at their programme time."""
    pending = {
        prompt_id: (first, int(count))
        for prompt_id, first, count in (
            await session.execute(
                select(Delivery.prompt_id, func.min(Delivery.due_at), func.count())
                .join(Prompt, Prompt.id == Delivery.prompt_id)
                .where(
                    Prompt.process_id == process.id,
                    Delivery.state.in_((DeliveryState.PENDING, DeliveryState.SENDING)),
                )
                .group_by(Delivery.prompt_id)
            )
        ).all()
    }
    prompts = await session.scalars(
        select(Prompt).where(
            Prompt.process_id == process.id,
            Prompt.active.is_(True),
            Prompt.kind != RELAY_KIND,
            or_(Prompt.id.in_(list(pending)), and_(Prompt.due_at >= now, Prompt.kind.in_(PROGRAMME_KINDS))),
        )
    )
    items = []
    for prompt in prompts:
        first, count = pending.get(prompt.id, (prompt.due_at, 0))
        items.append(Upcoming(prompt, first, count))
    items.sort(key=lambda item: (item.at, item.prompt.position, item.prompt.id))
    return items
