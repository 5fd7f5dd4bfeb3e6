"""The outbox service: the programme planned into deliveries, broadcasts and reminders on demand.

Every prompt × participant is one row in ``deliveries`` with its due time and state (the states, the
claims and the crash rule: :mod:`bot.jobs.claims`; sending: :mod:`bot.jobs.dispatcher`).

Planning (:func:`plan_member`, :func:`replan_process`, :func:`replace_programme`) loads a
:class:`~bot.domain.planning.PlanInput`, lets the pure :func:`~bot.domain.planning.plan_changes`
decide (quiet hours, weekends, the daily cap and late joining, once) and writes the result.
Re-planning rewrites only rows that were not sent (``pending``, ``expired``, ``cancelled``), with a
conditional update, so a row a dispatcher has just claimed, and anything sent or answered, is never
touched.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.loop_nudge import FACILITATOR_KINDS, loop_nudge_prompts
from bot.domain.planning import (
    PlanChanges,
    PlanInput,
    PlanResult,
    is_eligible,
    next_allowed,
    plan_changes,
    plan_item,
    process_policy,
)
from bot.domain.process import ProcessFacts, WorkshopFact, phase_at
from bot.domain.programme import KINDS as PROGRAMME_KINDS
from bot.domain.programme import ProcessSpec
from bot.domain.programme.spec import erasure_at
from bot.domain.rehearsal import spec_kept_reminders
from bot.domain.sharing import RELAY_KIND
from bot.domain.states import DELIVERED_STATES, REPLANNABLE_STATES, DeliveryState
from bot.domain.timing import add_duration
from bot.render.prompt import AD_HOC_KINDS, ANSWERABLE_KINDS
from bot.services.processes import apply_settings, prompt_row
from messages import LANGUAGES
from storage.dialects import insert_ignoring_conflicts
from storage.models import Delivery, Membership, Organisation, Process, Prompt, Workshop

__all__ = [
    "NudgeTarget",
    "ProgrammeChange",
    "broadcast",
    "eligible_count",
    "load_plan_input",
    "nudge",
    "nudge_targets",
    "on_pause_change",
    "plan_member",
    "process_facts",
    "replace_programme",
    "replan_process",
    "write_plan_changes",
]

_DELIVERIES = cast(Table, Delivery.__table__)
WRITE_CHUNK = 5000


async def process_facts(session: AsyncSession, process_ids: Iterable[int]) -> dict[int, ProcessFacts]:
    """Name, timezone, end and workshops of each process, for placeholders and headers."""
    ids = sorted(set(process_ids))
    if not ids:
        return {}
    processes = {p.id: p for p in await session.scalars(select(Process).where(Process.id.in_(ids)))}
    workshops: dict[int, list[WorkshopFact]] = defaultdict(list)
    for row in await session.scalars(
        select(Workshop).where(Workshop.process_id.in_(ids)).order_by(Workshop.process_id, Workshop.number)
    ):
        workshops[row.process_id].append(WorkshopFact(row.number, row.starts_at, row.place))
    return {
        pid: ProcessFacts(
            name=process.name,
            language=process.language,
            tz=ZoneInfo(process.timezone),
            end_at=process.end_at,
            workshops=tuple(workshops[pid]),
            erase_at=erasure_at(process.end_at, process.retention_days),
        )
        for pid, process in processes.items()
    }


def _eligible() -> ColumnElement[bool]:
    """:func:`bot.domain.planning.is_eligible` as SQL: joined completely, not paused, reachable."""
    return and_(
        Membership.is_facilitator.is_(False),
        Membership.complete.is_(True),
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )


def _facilitating() -> ColumnElement[bool]:
    """The facilitators who get facilitator prompts (the loop nudge): reachable, not paused."""
    return and_(
        Membership.is_facilitator.is_(True),
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )


def _audience(facilitators: bool) -> tuple[tuple[str, ...], ColumnElement[bool]]:
    """The prompt kinds and the members one planning run is for."""
    return (FACILITATOR_KINDS, _facilitating()) if facilitators else (PROGRAMME_KINDS, _eligible())


async def eligible_count(session: AsyncSession, process_id: int) -> int:
    """How many participants a broadcast would reach now."""
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.process_id == process_id, _eligible())
    )
    return int(count or 0)


async def load_plan_input(
    session: AsyncSession,
    process: Process,
    member_ids: Sequence[int] | None = None,
    *,
    facilitators: bool = False,
) -> PlanInput:
    """The programme, the policy and the existing rows of ``member_ids`` (default: every eligible
    participant of the process); with ``facilitators``, the facilitator prompts (the loop nudges)
    and the facilitators instead."""
    kinds, audience = _audience(facilitators)
    prompts = list(
        await session.scalars(
            select(Prompt)
            .where(
                Prompt.process_id == process.id,
                Prompt.active.is_(True),
                Prompt.kind.in_(kinds),
            )
            .order_by(Prompt.position, Prompt.id)
        )
    )
    anchors = [
        *await session.scalars(select(Workshop.starts_at).where(Workshop.process_id == process.id)),
        process.end_at,
    ]
    items = [
        plan_item(
            str(p.id),
            kind=p.kind,
            due_at=p.due_at,
            closes_at=p.closes_at if p.closes_at is not None else process.end_at,
            order=p.position,
            anchors=anchors,
        )
        for p in prompts
    ]
    member_filter: list[ColumnElement[bool]] = [Membership.process_id == process.id, audience]
    if member_ids is not None:
        member_filter.append(Membership.id.in_(list(member_ids)))
    members = list(await session.scalars(select(Membership.id).where(*member_filter).order_by(Membership.id)))
    plan = PlanInput(process.id, process_policy(process), items, members)
    if not members:
        return plan
    rows = await session.execute(
        select(
            Delivery.id,
            Delivery.prompt_id,
            Delivery.membership_id,
            Delivery.state,
            Delivery.due_at,
            Delivery.sent_at,
            Delivery.claimed_at,
        )
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(Prompt.kind.in_(kinds), *member_filter)
    )
    for delivery_id, prompt_id, member_id, state, due_at, sent_at, claimed_at in rows.all():
        plan.add_delivery(
            delivery_id=delivery_id,
            prompt_id=prompt_id,
            member_id=member_id,
            state=state,
            due_at=due_at,
            sent_at=sent_at,
            claimed_at=claimed_at,
        )
    return plan


_REPLAN_UPDATE = (
    _DELIVERIES.update()
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        # Spelled out: an IN list would be an "expanding" parameter, which executemany cannot take.
        or_(*(_DELIVERIES.c.state == literal(state.value) for state in REPLANNABLE_STATES)),
    )
    .values(state=bindparam("b_state"), due_at=bindparam("b_due"))
)


async def _insert_deliveries(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows; a (prompt, member) pair already there is left as it is, so two plans of
    the same participant racing each other do not fail, and the first one wins."""
    if not rows:
        return
    statement = insert_ignoring_conflicts(session, _DELIVERIES, ("prompt_id", "membership_id"))
    for start in range(0, len(rows), WRITE_CHUNK):
        await session.execute(statement, rows[start : start + WRITE_CHUNK])


async def write_plan_changes(session: AsyncSession, changes: PlanChanges) -> None:
    """Write a plan. Updates only touch rows still not sent (a dispatcher may have claimed one
    meanwhile); inserts skip a (prompt, member) pair that appeared meanwhile."""
    for start in range(0, len(changes.updates), WRITE_CHUNK):
        await session.execute(_REPLAN_UPDATE, changes.updates[start : start + WRITE_CHUNK])
    await _insert_deliveries(session, changes.inserts)


async def _cancel_pending(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    """Cancel pending rows, except relayed responses: those wait for the person (see RELAY_KIND)."""
    relays = select(Prompt.id).where(Prompt.kind == RELAY_KIND)
    result: Any = await session.execute(
        update(Delivery)
        .where(Delivery.state == DeliveryState.PENDING, Delivery.prompt_id.not_in(relays), *conditions)
        .values(state=DeliveryState.CANCELLED)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def _replan(
    session: AsyncSession, process: Process, member_ids: Sequence[int] | None, now: datetime
) -> PlanResult:
    await session.flush()
    result = PlanResult()
    for facilitators in (False, True):
        plan = await load_plan_input(session, process, member_ids, facilitators=facilitators)
        changes = plan_changes(plan, now)
        await write_plan_changes(session, changes)
        result += changes.result
    return result


async def plan_member(session: AsyncSession, membership: Membership, now: datetime) -> PlanResult:
    """(Re-)plan one participant: everything of the programme still open, shifted out of quiet hours
    and capped per day; a paused, unreachable or unfinished membership gets its pending rows
    cancelled instead. Called when joining completes. A facilitator gets the facilitator prompts
    (the loop nudges) instead, unless paused or unreachable."""
    facilitating = membership.is_facilitator and not membership.paused and not membership.unreachable
    if not is_eligible(membership) and not facilitating:
        return PlanResult(cancelled=await _cancel_pending(session, Delivery.membership_id == membership.id))
    if facilitating:
        participant_rows = select(Prompt.id).where(Prompt.kind.in_(PROGRAMME_KINDS))
        await _cancel_pending(
            session, Delivery.membership_id == membership.id, Delivery.prompt_id.in_(participant_rows)
        )
    process = await session.get(Process, membership.process_id)
    if process is None:
        return PlanResult()
    return await _replan(session, process, [membership.id], now)


async def on_pause_change(session: AsyncSession, membership: Membership, now: datetime) -> PlanResult:
    """After ``/pause`` (pending rows cancelled) or ``/resume`` (what is still open is planned again)."""
    return await plan_member(session, membership, now)


async def replan_process(session: AsyncSession, process: Process, now: datetime) -> PlanResult:
    """Re-plan every delivery of the process that was not sent; never touches what was sent or
    answered. Used after a programme or workshop change, and at start-up for catch-up."""
    await session.flush()
    result = PlanResult()
    inactive = select(Prompt.id).where(Prompt.process_id == process.id, Prompt.active.is_(False))
    result.cancelled += await _cancel_pending(session, Delivery.prompt_id.in_(inactive))
    for facilitators in (False, True):
        kinds, audience = _audience(facilitators)
        left_out = select(Membership.id).where(Membership.process_id == process.id, ~audience)
        of_kind = select(Prompt.id).where(Prompt.process_id == process.id, Prompt.kind.in_(kinds))
        result.cancelled += await _cancel_pending(
            session, Delivery.membership_id.in_(left_out), Delivery.prompt_id.in_(of_kind)
        )
    result += await _replan(session, process, None, now)
    return result


@dataclass(frozen=True)
class ProgrammeChange:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    plan: PlanResult


async def replace_programme(
    session: AsyncSession, process: Process, spec: ProcessSpec, source_yaml: str, now: datetime
) -> ProgrammeChange:
    """Make ``spec`` the process's settings, workshops and programme, then re-plan.

    A prompt keeps its identity (row, deliveries, answers) when the new programme has one with the
    same ``id``; prompts no longer in it are deactivated and their unsent deliveries cancelled, while
    what was sent or answered stays as it is. Organisations are matched by name: new ones are added,
    and one left out of the file is kept for the participants who chose it.
    """
    apply_settings(process, spec, source_yaml)
    await _replace_workshops(session, process, spec)
    await _replace_organisations(session, process, spec)
    added, changed, removed = await _replace_prompts(session, process, spec, now)
    await session.flush()
    plan = await replan_process(session, process, now)
    return ProgrammeChange(added, changed, removed, plan)


async def _replace_workshops(session: AsyncSession, process: Process, spec: ProcessSpec) -> None:
    workshops = {
        w.number: w for w in await session.scalars(select(Workshop).where(Workshop.process_id == process.id))
    }
    for spec_workshop in spec.workshops:
        workshop = workshops.get(spec_workshop.number)
        if workshop is None:
            session.add(
                Workshop(
                    process_id=process.id,
                    number=spec_workshop.number,
                    starts_at=spec_workshop.at_utc,
                    place=spec_workshop.place,
                )
            )
        else:
            workshop.starts_at, workshop.place = spec_workshop.at_utc, spec_workshop.place


async def _replace_organisations(session: AsyncSession, process: Process, spec: ProcessSpec) -> None:
    """The file's organisations in its order; those left out of it follow, in their old order."""
    organisations = list(
        await session.scalars(select(Organisation).where(Organisation.process_id == process.id))
    )
    by_name = {o.name: o for o in organisations}
    for position, name in enumerate(spec.organisations):
        if name in by_name:
            by_name[name].position = position
        else:
            session.add(Organisation(process_id=process.id, name=name, position=position))
    extra = len(spec.organisations)
    for organisation in sorted(organisations, key=lambda o: o.position):
        if organisation.name not in spec.organisations:
            organisation.position = extra
            extra += 1


async def _replace_prompts(
    session: AsyncSession, process: Process, spec: ProcessSpec, now: datetime
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Programme prompts matched by ``id``: (added, changed, removed) keys."""
    rows = list(
        await session.scalars(
            select(Prompt)
            .where(Prompt.process_id == process.id, Prompt.kind.in_((*PROGRAMME_KINDS, *FACILITATOR_KINDS)))
            .order_by(Prompt.active, Prompt.id)
        )
    )
    # The active row wins over an older inactive one with the same key (rows are in that order).
    by_key = {row.key: row for row in rows}
    added: list[str] = []
    changed: list[str] = []
    kept = spec_kept_reminders(spec)
    for prompt in (*spec.prompts, *loop_nudge_prompts(spec)):
        fresh = prompt_row(process.id, prompt, now, keep_reminder=prompt.id in kept)
        row = by_key.pop(prompt.id, None)
        if row is None:
            session.add(fresh)
            added.append(prompt.id)
            continue
        values = {
            name: getattr(fresh, name)
            for name in (
                "phase",
                "kind",
                "texts",
                "options",
                "remind_after_s",
                "due_at",
                "closes_at",
                "active",
            )
        }
        if any(getattr(row, name) != value for name, value in values.items()):
            changed.append(prompt.id)
            for name, value in values.items():
                setattr(row, name, value)
        row.position = fresh.position
    removed = [row.key for row in by_key.values() if row.active]
    for row in by_key.values():
        row.active = False
    return tuple(added), tuple(changed), tuple(removed)


async def broadcast(
    session: AsyncSession,
    *,
    process_id: int,
    kind: str,
    texts: Mapping[str, str],
    now: datetime,
    options: Sequence[Mapping[str, str]] | None = None,
    closes_after: timedelta | None = None,
) -> Prompt:
    """An ad-hoc prompt (``announcement`` or ``loop``) for every reachable, unpaused participant who
    has joined, in the current phase, with a pending delivery each.

    It goes out now, paced like any bulk send, or when quiet hours end if it is night in the
    process's timezone. ``texts`` may hold one language; the others fall back to the process
    language. With ``closes_after`` it can be answered (and stops being sent) until then.
    """
    if kind not in AD_HOC_KINDS:
        raise ValueError(f"broadcast kind must be one of {AD_HOC_KINDS}, not {kind!r}")
    process = await session.get(Process, process_id)
    if process is None:
        raise LookupError(f"no process {process_id}")
    facts = (await process_facts(session, [process_id]))[process_id]
    policy = process_policy(process)
    due = next_allowed(now, policy)
    fallback = texts.get(process.language) or next((t for t in texts.values() if t), "")
    prompt = Prompt(
        process_id=process_id,
        key=f"{kind}-{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}",
        # An announcement made before workshop 1 still belongs to phase 1.
        phase=max(1, phase_at(facts.workshop_starts, now)),
        kind=kind,
        texts={lang: texts.get(lang) or fallback for lang in LANGUAGES},
        options=[dict(option) for option in options or ()],
        remind_after_s=None,
        position=0,
        due_at=due,
        closes_at=add_duration(due, closes_after, policy.tz) if closes_after is not None else None,
        active=True,
        created_at=now,
    )
    session.add(prompt)
    await session.flush()
    members = list(
        await session.scalars(
            select(Membership.id)
            .where(Membership.process_id == process_id, _eligible())
            .order_by(Membership.id)
        )
    )
    await _insert_deliveries(
        session,
        [
            {
                "prompt_id": prompt.id,
                "membership_id": member,
                "state": DeliveryState.PENDING,
                "due_at": due,
                "attempts": 0,
            }
            for member in members
        ],
    )
    return prompt


@dataclass(frozen=True)
class NudgeTarget:
    prompt: Prompt
    sent: int
    answered: int
    remindable: int
    """Participants who have not answered and have not been reminded yet."""
    last_sent: datetime


async def nudge_targets(session: AsyncSession, process: Process, now: datetime) -> list[NudgeTarget]:
    """Open, answerable prompts that have gone out, the most recently sent first."""
    remindable = and_(
        Delivery.state == DeliveryState.SENT,
        Delivery.reminded_at.is_(None),
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )
    rows = await session.execute(
        select(
            Prompt,
            func.count(),
            func.sum(case((Delivery.state == DeliveryState.ANSWERED, 1), else_=0)),
            func.sum(case((remindable, 1), else_=0)),
            func.max(Delivery.sent_at),
        )
        .join(Delivery, Delivery.prompt_id == Prompt.id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(
            Prompt.process_id == process.id,
            Prompt.kind.in_(tuple(ANSWERABLE_KINDS)),
            or_(Prompt.closes_at.is_(None), Prompt.closes_at > now),
            Delivery.state.in_(DELIVERED_STATES),
        )
        .group_by(Prompt.id)
        .order_by(func.max(Delivery.sent_at).desc(), Prompt.id.desc())
    )
    return [
        NudgeTarget(prompt, int(sent), int(answered or 0), int(remindable_count or 0), last_sent)
        for prompt, sent, answered, remindable_count, last_sent in rows.all()
    ]


async def nudge(
    session: AsyncSession, *, process: Process, prompt_id: int, now: datetime
) -> tuple[int, datetime | None]:
    """Remind, now (or when quiet hours end), everyone who has not answered ``prompt_id`` and has not
    been reminded of it yet. Returns how many, and when; ``(0, None)`` if the prompt is closed or
    belongs to another process."""
    prompt = await session.get(Prompt, prompt_id)
    if prompt is None or prompt.process_id != process.id or prompt.kind not in ANSWERABLE_KINDS:
        return 0, None
    at = next_allowed(now, process_policy(process))
    if prompt.closes_at is not None and at >= prompt.closes_at:
        return 0, None
    reachable = select(Membership.id).where(
        Membership.process_id == process.id,
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )
    result: Any = await session.execute(
        update(Delivery)
        .where(
            Delivery.prompt_id == prompt_id,
            Delivery.state == DeliveryState.SENT,
            Delivery.reminded_at.is_(None),
            Delivery.membership_id.in_(reachable),
        )
        .values(remind_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0), at
