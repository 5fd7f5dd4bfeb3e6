"""The programme engine: deliveries planned into the database, sent by a dispatcher tick.

The schedule is data. Every prompt × participant is one row in ``deliveries`` (the outbox) with its
due time and state::

    pending ──claim──▶ sending ──▶ sent ──▶ answered
       │                  │
       │                  ├──▶ failed      (Telegram refused it for good, or too many attempts)
       │                  └──▶ pending     (429, network trouble, shutting down: try again later)
       ├──▶ expired   (its answer window closed before it could go out)
       └──▶ cancelled (paused, unreachable, or the prompt was removed from the programme)

Planning (:func:`plan_member`, :func:`replan_process`, :func:`replace_programme`) turns the programme
into ``pending`` rows with :class:`bot.domain.planning.Planner`: quiet hours, weekends, the daily cap and late
joining are decided there, once, in pure code. Re-planning rewrites only rows that were not sent
(``pending``, ``expired``, ``cancelled``), with a conditional update, so a row a dispatcher has just
claimed, and anything sent or answered, is never touched.

The :class:`Dispatcher` tick (PTB's JobQueue, every two seconds; nothing kept in memory matters) does
(a) leader-only housekeeping — returning stale claims, expiring what closed, start-up catch-up —
only while this instance leads (``Services.is_leader``), and (b) claims
due rows atomically (``UPDATE … WHERE state='pending' … RETURNING``; ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), sends them paced as bulk traffic, and records each result as soon as Telegram answers.
(b) is safe on every instance at once.

Crash rule (what happens to a row left in ``sending``):

* A live instance never keeps a claim for long: it claims a batch it can send within seconds, and a
  row it has not handed to Telegram within :data:`BATCH_DEADLINE_S` (a long 429 pause), or when the
  process is asked to stop, goes back to ``pending`` at once.
* So a row still ``sending`` belongs to a process that died. It goes back to ``pending`` and is sent
  again: at start-up at once if this instance made the claim (same instance name) or if the database
  is SQLite (only one instance can run on a SQLite file, so any claim found at start-up is dead);
  otherwise, by the leader, once the claim is older than :data:`CLAIM_LEASE`.
* Each result is committed the moment Telegram answers (results arriving together share one
  commit), so the only message that can arrive twice is one whose request was on the wire, or whose
  answer was not yet committed, when the process died: at most one per chat being served, and
  :func:`in_flight_limit` chats are served at a time. Rows claimed but not yet handed to Telegram
  are sent exactly once. (Telegram offers no idempotency key or way to ask whether a message went
  out, so no rule can make the request on the wire exactly-once; this one makes it the only doubt.)
* ``attempts`` counts claims; a row that has been claimed :data:`MAX_ATTEMPTS` times without a
  result is marked ``failed`` rather than crash-looping.

Reminders are sent *at most once*: the claim sets ``reminded_at`` before sending, and a reminder
interrupted by a crash is not repeated (a missing nudge is better than a doubled one). A 429 or a
shutdown before the request frees the claim again.

Telegram's answers: ``RetryAfter`` (after the rate limiter's own retries) puts the row back to
``pending`` after the pause without counting an attempt — a 429 means nothing was sent, so nothing
is sent twice and nothing is marked failed. ``Forbidden`` (and "chat not found") marks the membership
unreachable, cancels its pending rows and is never retried. Any other ``BadRequest`` marks the row
``failed`` with ``last_error``. Network trouble retries with backoff up to :data:`MAX_ATTEMPTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Table, and_, bindparam, case, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError

from bot.domain.planning import DeliveryPolicy, PlanItem, Planner, next_allowed, plan_reminder
from bot.domain.process import phase_at
from bot.domain.programme import KINDS as PROGRAMME_KINDS
from bot.domain.programme import ProcessSpec
from bot.domain.timing import add_duration, parse_clock_time
from bot.infra.ratelimit import retry_seconds
from bot.render.prompt import (
    AD_HOC_KINDS,
    ANSWERABLE_KINDS,
    ProcessFacts,
    RenderedMessage,
    WorkshopFact,
    placeholder_values,
    prompt_message,
    reminder_message,
)
from bot.services.processes import apply_settings, prompt_row
from messages import LANGUAGES, Catalog
from storage.db import Database
from storage.models import Delivery, Membership, Organisation, Process, Prompt, User, Workshop

if TYPE_CHECKING:
    from telegram.ext import Application

    from bot.context import Ctx, Services

log = logging.getLogger(__name__)

__all__ = [
    "BATCH_DEADLINE_S",
    "CLAIM_LEASE",
    "MAX_ATTEMPTS",
    "TICK_INTERVAL_S",
    "Dispatcher",
    "MemberLine",
    "NudgeTarget",
    "Overview",
    "PlanChanges",
    "PlanInput",
    "PlanResult",
    "ProgrammeChange",
    "PromptRate",
    "Roster",
    "TickReport",
    "Upcoming",
    "broadcast",
    "claim_prompts",
    "claim_reminders",
    "eligible_count",
    "expire_closed",
    "in_flight_limit",
    "load_plan_input",
    "nudge",
    "nudge_targets",
    "on_pause_change",
    "overview",
    "plan_changes",
    "plan_member",
    "process_facts",
    "process_policy",
    "release_dead_claims",
    "replace_programme",
    "replan_process",
    "roster",
    "upcoming",
    "write_plan_changes",
]

TICK_INTERVAL_S = 2.0
CLAIM_LEASE = timedelta(minutes=10)
"""A claim older than this belongs to a dead instance: a live one hands each claimed row to Telegram
or gives it back within :data:`BATCH_DEADLINE_S` (plus, at worst, the rate limiter's 429 retries)."""
BATCH_DEADLINE_S = 60.0
"""A claimed row not handed to Telegram within this long (a long 429 pause) is given back."""
TICK_BUDGET_S = 30.0
"""One tick keeps claiming batches for at most this long, then lets the next tick carry on."""
MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(minutes=30)
ERROR_CHARS = 200

FIXED_STATES: tuple[str, ...] = ("sending", "sent", "answered", "failed")
"""Rows that re-planning never touches: on their way out, out, or given up."""
REPLANNABLE_STATES: tuple[str, ...] = ("pending", "expired", "cancelled")
COUNTED_STATES: tuple[str, ...] = ("sending", "sent", "answered")
"""Rows that count towards a participant's daily cap."""
UNREACHABLE_MARKERS = ("chat not found", "user not found", "bot was blocked", "user is deactivated")

_DELIVERIES = cast(Table, Delivery.__table__)


# --- process facts and policy -------------------------------------------------------------------


def process_policy(process: Process) -> DeliveryPolicy:
    """The process's quiet hours, weekend rule and daily cap as a :class:`DeliveryPolicy`."""
    start = parse_clock_time(process.quiet_start) if process.quiet_start else None
    end = parse_clock_time(process.quiet_end) if process.quiet_end else None
    if start is None or end is None or start == end:
        start = end = None
    return DeliveryPolicy(ZoneInfo(process.timezone), start, end, process.skip_weekends, process.daily_cap)


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
        )
        for pid, process in processes.items()
    }


def _dialect(session: AsyncSession) -> str:
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


def _insert_ignoring_duplicates(session: AsyncSession) -> Any:
    """``INSERT … ON CONFLICT (prompt_id, membership_id) DO NOTHING`` for this backend: two plans of
    the same participant racing each other must not fail, and the first one wins."""
    if _dialect(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(_DELIVERIES).on_conflict_do_nothing(index_elements=["prompt_id", "membership_id"])
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(_DELIVERIES).on_conflict_do_nothing(index_elements=["prompt_id", "membership_id"])


def _eligible() -> ColumnElement[bool]:
    """Participants who receive prompts: joined completely, not paused, reachable."""
    return and_(
        Membership.is_facilitator.is_(False),
        Membership.complete.is_(True),
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )


def _is_eligible(membership: Membership) -> bool:
    return (
        not membership.is_facilitator
        and bool(membership.complete)
        and not membership.paused
        and not membership.unreachable
    )


async def eligible_count(session: AsyncSession, process_id: int) -> int:
    """How many participants a broadcast would reach now."""
    count = await session.scalar(
        select(func.count()).select_from(Membership).where(Membership.process_id == process_id, _eligible())
    )
    return int(count or 0)


# --- planning ----------------------------------------------------------------------------------


@dataclass
class PlanResult:
    """What a planning run changed."""

    inserted: int = 0
    moved: int = 0
    expired: int = 0
    cancelled: int = 0

    @property
    def planned(self) -> int:
        return self.inserted + self.moved

    def __iadd__(self, other: PlanResult) -> PlanResult:
        self.inserted += other.inserted
        self.moved += other.moved
        self.expired += other.expired
        self.cancelled += other.cancelled
        return self


@dataclass(frozen=True)
class _Existing:
    id: int
    state: str
    due_at: datetime


@dataclass
class PlanInput:
    """Everything :func:`plan_changes` needs, read from the database by :func:`load_plan_input`."""

    process_id: int
    policy: DeliveryPolicy
    items: list[PlanItem]
    """Active programme prompts (``prompt_id`` is the row id as text)."""
    members: list[int]
    fixed: dict[int, set[int]] = field(default_factory=dict)
    """Per member: prompts already on their way or out (never re-planned)."""
    counts: dict[int, Counter[date]] = field(default_factory=dict)
    """Per member: prompts sent (or being sent) per local day, for the daily cap."""
    existing: dict[tuple[int, int], _Existing] = field(default_factory=dict)
    """(member, prompt) → a row that may be re-planned."""


@dataclass
class PlanChanges:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    result: PlanResult = field(default_factory=PlanResult)


async def load_plan_input(
    session: AsyncSession, process: Process, member_ids: Sequence[int] | None = None
) -> PlanInput:
    """The programme, the policy and the existing rows of ``member_ids`` (default: every eligible
    participant of the process)."""
    policy = process_policy(process)
    prompts = list(
        await session.scalars(
            select(Prompt)
            .where(
                Prompt.process_id == process.id,
                Prompt.active.is_(True),
                Prompt.kind.in_(PROGRAMME_KINDS),
            )
            .order_by(Prompt.position, Prompt.id)
        )
    )
    items = [
        PlanItem(str(p.id), p.due_at, p.closes_at if p.closes_at is not None else process.end_at, p.position)
        for p in prompts
    ]
    member_filter: list[ColumnElement[bool]] = [Membership.process_id == process.id, _eligible()]
    if member_ids is not None:
        member_filter.append(Membership.id.in_(list(member_ids)))
    members = list(await session.scalars(select(Membership.id).where(*member_filter).order_by(Membership.id)))
    plan = PlanInput(process.id, policy, items, members)
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
        .where(Prompt.kind.in_(PROGRAMME_KINDS), *member_filter)
    )
    tz = policy.tz
    for delivery_id, prompt_id, member_id, state, due_at, sent_at, claimed_at in rows.all():
        if state in FIXED_STATES:
            plan.fixed.setdefault(member_id, set()).add(prompt_id)
            if state in COUNTED_STATES:
                instant = sent_at or claimed_at or due_at
                plan.counts.setdefault(member_id, Counter())[instant.astimezone(tz).date()] += 1
        else:
            plan.existing[(member_id, prompt_id)] = _Existing(delivery_id, state, due_at)
    return plan


def plan_changes(plan: PlanInput, now: datetime) -> PlanChanges:
    """Pure: the inserts and updates that make the outbox match the programme at ``now``.

    Members who already received the same prompts share one :class:`Planner` (and, with equal day
    counts, one computed plan), so a process of thousands plans in milliseconds.
    """
    changes = PlanChanges()
    open_items = [item for item in plan.items if item.closes_at > now]
    closed_ids = {int(item.prompt_id) for item in plan.items if item.closes_at <= now}
    planners: dict[frozenset[int], Planner] = {}
    for member in plan.members:
        fixed = frozenset(plan.fixed.get(member, ()))
        planner = planners.get(fixed)
        if planner is None:
            items = [item for item in open_items if int(item.prompt_id) not in fixed]
            planner = planners[fixed] = Planner(items, plan.policy, now=now)
        for planned in planner.plan(plan.counts.get(member)):
            prompt_id = int(planned.prompt_id)
            existing = plan.existing.get((member, prompt_id))
            if planned.is_planned:
                if existing is None:
                    changes.inserts.append(
                        {
                            "prompt_id": prompt_id,
                            "membership_id": member,
                            "state": "pending",
                            "due_at": planned.due_at,
                            "attempts": 0,
                        }
                    )
                    changes.result.inserted += 1
                elif existing.state != "pending" or existing.due_at != planned.due_at:
                    changes.updates.append(
                        {"b_id": existing.id, "b_state": "pending", "b_due": planned.due_at}
                    )
                    changes.result.moved += 1
            elif existing is not None and existing.state == "pending":
                changes.updates.append({"b_id": existing.id, "b_state": "expired", "b_due": existing.due_at})
                changes.result.expired += 1
        for prompt_id in closed_ids:
            existing = plan.existing.get((member, prompt_id))
            if existing is not None and existing.state == "pending":
                changes.updates.append({"b_id": existing.id, "b_state": "expired", "b_due": existing.due_at})
                changes.result.expired += 1
    return changes


_REPLAN_UPDATE = (
    _DELIVERIES.update()
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        # Spelled out: an IN list would be an "expanding" parameter, which executemany cannot take.
        or_(*(_DELIVERIES.c.state == literal(state) for state in REPLANNABLE_STATES)),
    )
    .values(state=bindparam("b_state"), due_at=bindparam("b_due"))
)
WRITE_CHUNK = 5000


async def write_plan_changes(session: AsyncSession, changes: PlanChanges) -> None:
    """Write a plan. Updates only touch rows still not sent (a dispatcher may have claimed one
    meanwhile); inserts skip a (prompt, member) pair that appeared meanwhile."""
    if changes.updates:
        for start in range(0, len(changes.updates), WRITE_CHUNK):
            await session.execute(_REPLAN_UPDATE, changes.updates[start : start + WRITE_CHUNK])
    if changes.inserts:
        statement = _insert_ignoring_duplicates(session)
        for start in range(0, len(changes.inserts), WRITE_CHUNK):
            await session.execute(statement, changes.inserts[start : start + WRITE_CHUNK])


async def _cancel_pending(session: AsyncSession, *conditions: ColumnElement[bool]) -> int:
    result: Any = await session.execute(
        update(Delivery)
        .where(Delivery.state == "pending", *conditions)
        .values(state="cancelled")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def _replan(
    session: AsyncSession, process: Process, member_ids: Sequence[int] | None, now: datetime
) -> PlanResult:
    await session.flush()
    plan = await load_plan_input(session, process, member_ids)
    changes = plan_changes(plan, now)
    await write_plan_changes(session, changes)
    return changes.result


async def plan_member(session: AsyncSession, membership: Membership, now: datetime) -> PlanResult:
    """(Re-)plan one participant: everything of the programme still open, shifted out of quiet hours
    and capped per day; a paused, unreachable or unfinished membership gets its pending rows
    cancelled instead. Called when joining completes."""
    if not _is_eligible(membership):
        return PlanResult(cancelled=await _cancel_pending(session, Delivery.membership_id == membership.id))
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
    ineligible = select(Membership.id).where(Membership.process_id == process.id, ~_eligible())
    result.cancelled += await _cancel_pending(session, Delivery.membership_id.in_(ineligible))
    result += await _replan(session, process, None, now)
    return result


# --- replacing the programme ---------------------------------------------------------------------


@dataclass(frozen=True)
class ProgrammeChange:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    plan: PlanResult


def _seconds(value: timedelta | None) -> int | None:
    return int(value.total_seconds()) if value is not None else None


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

    rows = list(
        await session.scalars(
            select(Prompt)
            .where(Prompt.process_id == process.id, Prompt.kind.in_(PROGRAMME_KINDS))
            .order_by(Prompt.active, Prompt.id)
        )
    )
    # The active row wins over an older inactive one with the same key (rows are in that order).
    by_key = {row.key: row for row in rows}
    added: list[str] = []
    changed: list[str] = []
    for prompt in spec.prompts:
        fresh = prompt_row(process.id, prompt, now)
        row = by_key.pop(prompt.id, None)
        if row is None:
            session.add(fresh)
            added.append(prompt.id)
            continue
        values = {
            "phase": fresh.phase,
            "kind": fresh.kind,
            "when_text": fresh.when_text,
            "texts": fresh.texts,
            "options": fresh.options,
            "remind_after_s": _seconds(prompt.remind_after),
            "closes_after_s": _seconds(prompt.closes_after),
            "due_at": fresh.due_at,
            "closes_at": fresh.closes_at,
            "active": True,
        }
        if any(getattr(row, name) != value for name, value in values.items()):
            changed.append(prompt.id)
            for name, value in values.items():
                setattr(row, name, value)
        row.position = fresh.position
    removed = [row.key for row in by_key.values() if row.active]
    for row in by_key.values():
        row.active = False
    await session.flush()
    plan = await replan_process(session, process, now)
    return ProgrammeChange(tuple(added), tuple(changed), tuple(removed), plan)


# --- ad-hoc broadcasts -----------------------------------------------------------------------------


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
        when_text="",
        texts={lang: texts.get(lang) or fallback for lang in LANGUAGES},
        options=[dict(option) for option in options or ()],
        remind_after_s=None,
        closes_after_s=_seconds(closes_after),
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
    rows = [
        {"prompt_id": prompt.id, "membership_id": member, "state": "pending", "due_at": due, "attempts": 0}
        for member in members
    ]
    if rows:
        statement = _insert_ignoring_duplicates(session)
        for start in range(0, len(rows), WRITE_CHUNK):
            await session.execute(statement, rows[start : start + WRITE_CHUNK])
    return prompt


# --- reminders on demand ----------------------------------------------------------------------------


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
        Delivery.state == "sent",
        Delivery.reminded_at.is_(None),
        Membership.paused.is_(False),
        Membership.unreachable.is_(False),
    )
    rows = await session.execute(
        select(
            Prompt,
            func.count(),
            func.sum(case((Delivery.state == "answered", 1), else_=0)),
            func.sum(case((remindable, 1), else_=0)),
            func.max(Delivery.sent_at),
        )
        .join(Delivery, Delivery.prompt_id == Prompt.id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(
            Prompt.process_id == process.id,
            Prompt.kind.in_(tuple(ANSWERABLE_KINDS)),
            or_(Prompt.closes_at.is_(None), Prompt.closes_at > now),
            Delivery.state.in_(("sent", "answered")),
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
            Delivery.state == "sent",
            Delivery.reminded_at.is_(None),
            Delivery.membership_id.in_(reachable),
        )
        .values(remind_at=at)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0), at


# --- facilitator views (plain data) ----------------------------------------------------------------


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
            func.sum(case((Delivery.state == "answered", 1), else_=0)),
            func.max(Delivery.sent_at),
        )
        .join(Delivery, Delivery.prompt_id == Prompt.id)
        .where(
            Prompt.process_id == process.id,
            Prompt.kind.in_(tuple(ANSWERABLE_KINDS)),
            Delivery.state.in_(("sent", "answered")),
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
                .where(Prompt.process_id == process.id, Delivery.state.in_(("pending", "sending")))
                .group_by(Delivery.prompt_id)
            )
        ).all()
    }
    prompts = await session.scalars(
        select(Prompt).where(
            Prompt.process_id == process.id,
            Prompt.active.is_(True),
            or_(Prompt.id.in_(list(pending)), and_(Prompt.due_at >= now, Prompt.kind.in_(PROGRAMME_KINDS))),
        )
    )
    items = []
    for prompt in prompts:
        first, count = pending.get(prompt.id, (prompt.due_at, 0))
        items.append(Upcoming(prompt, first, count))
    items.sort(key=lambda item: (item.at, item.prompt.position, item.prompt.id))
    return items


# --- the dispatcher ------------------------------------------------------------------------------------


def in_flight_limit(broadcast_rate: float) -> int:
    """How many chats are served at once: enough to keep the paced rate with real network latency,
    few enough that a crash leaves only a handful of requests in doubt."""
    return max(2, min(16, math.ceil(broadcast_rate / 5)))


def batch_size(broadcast_rate: float) -> int:
    """Rows claimed at a time: about two seconds' worth at the paced rate."""
    return max(20, min(500, int(broadcast_rate * 2)))


@dataclass
class TickReport:
    """What one tick (or the start-up recovery) did; tests and logs read it."""

    leader: bool = False
    sent: int = 0
    reminded: int = 0
    failed: int = 0
    unreachable: int = 0
    retried: int = 0
    released: int = 0
    recovered: int = 0
    expired: int = 0
    planned: int = 0


@dataclass
class _Outgoing:
    """One message to send, prepared in a unit of work and sent outside it."""

    kind: Literal["prompt", "reminder"]
    delivery_id: int
    membership_id: int
    chat_id: int
    message: RenderedMessage
    attempts: int
    policy: DeliveryPolicy
    remind_after: timedelta | None
    closes_at: datetime | None
    reminded_at: datetime | None = None
    claimed: float = 0.0
    """Monotonic time of the claim: not handed to Telegram within BATCH_DEADLINE_S, it is given back."""


Outcome = Literal["sent", "failed", "unreachable", "retry", "halt"]


class Dispatcher:
    """Claims due deliveries and reminders, sends them, records what Telegram said.

    ``await dispatcher.tick()`` runs one tick now (tests drive it with a fake clock); the JobQueue
    calls it every :data:`TICK_INTERVAL_S` while :attr:`auto` is true, skipping a run while one is in
    progress. ``last_tick`` (monotonic seconds) is what ``/healthz`` watches.
    """

    def __init__(self, application: Application, *, interval: float = TICK_INTERVAL_S) -> None:
        self.application = application
        self.services: Services = application.bot_data["services"]
        self.interval = interval
        self.auto = True
        self.closed = False
        self.last_tick: float | None = None
        self._lock = asyncio.Lock()
        self._was_running = False
        rate = self.services.settings.broadcast_rate
        self.in_flight = in_flight_limit(rate)
        self.batch = batch_size(rate)
        self._recorder = _Recorder(self.services.db)

    # -- wiring --

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    @property
    def instance(self) -> str:
        return self.services.instance

    async def start(self, application: Application) -> None:
        """Start hook: recover what a previous run left behind, then tick on the JobQueue."""
        try:
            report = await self.recover()
        except Exception as error:
            log.error("start-up recovery of the outbox failed: %s", type(error).__name__, exc_info=error)
        else:
            if report.recovered or report.expired or report.planned:
                log.info(
                    "outbox recovered: %d claims returned, %d expired, %d re-planned",
                    report.recovered,
                    report.expired,
                    report.planned,
                )
        job_queue = application.job_queue
        if job_queue is None:
            log.error("no JobQueue (install python-telegram-bot[job-queue]); prompts will not be sent")
            return
        job_queue.run_repeating(
            self._scheduled,
            interval=self.interval,
            first=min(1.0, self.interval),
            name="dispatcher",
            # A second instance of the job only finds the tick busy and returns; allowing it keeps
            # APScheduler from logging a skipped run every two seconds during a long broadcast.
            job_kwargs={"max_instances": 2, "coalesce": True},
        )

    async def stop(self, application: Application) -> None:
        """Stop hook: no tick claims anything after shutdown."""
        self.closed = True

    async def _scheduled(self, context: Ctx) -> None:
        if not self.auto or self.closed or self._lock.locked():
            return
        try:
            await self.tick()
        except Exception as error:
            log.error("dispatcher tick failed: %s", type(error).__name__, exc_info=error)

    def _stopping(self) -> bool:
        if self.services.stopping.is_set():
            return True
        return self.closed or (self._was_running and not self.application.running)

    async def _is_leader(self) -> bool:
        return await self.services.is_leader()

    # -- the tick --

    async def tick(self) -> TickReport:
        """(a) housekeeping if leading (stale claims, closed windows), (b) send due prompts and reminders.

        The leader's other duties (digests, retention…) are jobs of their own (:mod:`bot.jobs.duties`),
        so they never hold this lock."""
        async with self._lock:
            self.last_tick = time.monotonic()
            self._was_running = self.application.running
            report = TickReport()
            report.leader = await self._is_leader()
            if report.leader:
                await self._housekeeping(report)
            try:
                await self._send_due(report, "prompt")
                await self._send_due(report, "reminder")
            finally:
                self.last_tick = time.monotonic()
            return report

    async def recover(self) -> TickReport:
        """Start-up: return dead claims, expire what closed, re-plan running processes so overdue
        prompts whose window is still open go out now (capped and out of quiet hours)."""
        db, now = self.services.db, self.services.clock.now()
        report = TickReport()
        own = None if db.is_sqlite else self.instance
        report.recovered = await db.run(
            lambda s: release_dead_claims(s, now=now, instance=own, lease=CLAIM_LEASE)
        )
        report.leader = await self._is_leader()
        if not report.leader:
            return report
        report.expired = await db.run(lambda s: expire_closed(s, now=now))
        process_ids = await db.run(
            lambda s: _scalars(s, select(Process.id).where(Process.end_at > now).order_by(Process.id))
        )
        for process_id in process_ids:

            async def work(session: AsyncSession, process_id: int = process_id) -> PlanResult:
                process = await session.get(Process, process_id)
                return await replan_process(session, process, now) if process else PlanResult()

            result = await db.run(work)
            report.planned += result.moved
            report.expired += result.expired
        return report

    async def _housekeeping(self, report: TickReport) -> None:
        db, now = self.services.db, self.services.clock.now()
        report.recovered += await db.run(
            lambda s: release_dead_claims(s, now=now, instance=None, lease=CLAIM_LEASE, all_rows=False)
        )
        report.expired += await db.run(lambda s: expire_closed(s, now=now))
        if report.expired:
            self.services.metrics.deliveries.labels(state="expired").inc(report.expired)

    async def _send_due(self, report: TickReport, kind: Literal["prompt", "reminder"]) -> None:
        """Claim due rows a batch at a time and send them until none are due (or the tick's budget
        is spent, or sending must pause). The next batch is claimed while the last chats of the
        current one are still being served, so the paced rate has no gaps between batches."""
        run = _SendingRun(self, report, kind)
        await run.refill()
        if run.queue:
            await run.serve()

    async def _claim_batch(
        self, kind: Literal["prompt", "reminder"], now: datetime
    ) -> tuple[list[int], list[_Outgoing], list[tuple[int, str]]]:
        db = self.services.db
        claim = claim_prompts if kind == "prompt" else claim_reminders

        async def work(session: AsyncSession) -> tuple[list[int], list[_Outgoing], list[tuple[int, str]]]:
            ids = await claim(
                session, now=now, instance=self.instance, limit=self.batch, postgres=db.is_postgres
            )
            if not ids:
                return ids, [], []
            outgoing, broken = await self._prepare(session, ids, kind)
            if broken:
                await _record_broken(session, broken, kind)
            return ids, outgoing, broken

        return await db.run(work)

    async def _prepare(
        self, session: AsyncSession, ids: Sequence[int], kind: Literal["prompt", "reminder"]
    ) -> tuple[list[_Outgoing], list[tuple[int, str]]]:
        rows = (
            await session.execute(
                select(Delivery, Prompt, Membership.user_id, Membership.process_id, User.language)
                .join(Prompt, Prompt.id == Delivery.prompt_id)
                .join(Membership, Membership.id == Delivery.membership_id)
                .join(User, User.id == Membership.user_id)
                .where(Delivery.id.in_(list(ids)))
                .order_by(Delivery.due_at, Prompt.position, Delivery.id)
            )
        ).all()
        process_ids = {row[3] for row in rows}
        facts = await process_facts(session, process_ids)
        policies = {
            p.id: process_policy(p)
            for p in await session.scalars(select(Process).where(Process.id.in_(process_ids)))
        }
        outgoing: list[_Outgoing] = []
        broken: list[tuple[int, str]] = []
        values: dict[tuple[int, str], dict[str, str]] = {}
        render = prompt_message if kind == "prompt" else reminder_message
        for delivery, prompt, user_id, process_id, language in rows:
            lang = language or facts[process_id].language
            try:
                key = (prompt.id, lang)
                if key not in values:
                    values[key] = placeholder_values(self.catalog, lang, facts[process_id], prompt.due_at)
                message = render(
                    self.catalog, lang, prompt, facts[process_id], delivery_id=delivery.id, values=values[key]
                )
            except Exception as error:
                log.error(
                    "could not render delivery %d: %s", delivery.id, type(error).__name__, exc_info=error
                )
                broken.append((delivery.id, f"render: {type(error).__name__}"))
                continue
            outgoing.append(
                _Outgoing(
                    kind=kind,
                    delivery_id=delivery.id,
                    membership_id=delivery.membership_id,
                    chat_id=user_id,
                    message=message,
                    attempts=delivery.attempts,
                    policy=policies[process_id],
                    remind_after=timedelta(seconds=prompt.remind_after_s)
                    if prompt.remind_after_s and prompt.kind in ANSWERABLE_KINDS
                    else None,
                    closes_at=prompt.closes_at,
                    reminded_at=delivery.reminded_at,
                )
            )
        return outgoing, broken

    async def _send_one(self, item: _Outgoing, report: TickReport) -> Outcome:
        db, metrics = self.services.db, self.services.metrics
        markup = (
            InlineKeyboardMarkup(
                [
                    [InlineKeyboardButton(text, callback_data=data) for text, data in row]
                    for row in item.message.buttons
                ]
            )
            if item.message.buttons
            else None
        )
        try:
            sent = await self.application.bot.send_message(
                chat_id=item.chat_id,
                text=item.message.text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                rate_limit_args={"bulk": True},
            )
        except RetryAfter as error:
            seconds = retry_seconds(error)
            log.warning("Telegram asked to pause for %.0f s; delivery %d waits", seconds, item.delivery_id)
            due = self.services.clock.now() + timedelta(seconds=seconds)
            await db.run(lambda s: _record_retry(s, item, self.instance, due=due, counts=False))
            report.retried += 1
            metrics.deliveries.labels(state="retry_after").inc()
            return "halt"
        except Forbidden as error:
            return await self._unreachable(item, report, error)
        except BadRequest as error:
            if any(marker in error.message.lower() for marker in UNREACHABLE_MARKERS):
                return await self._unreachable(item, report, error)
            log.warning("Telegram refused delivery %d: %s", item.delivery_id, error.message[:120])
            reason = f"BadRequest: {error.message}"
            await db.run(lambda s: _record_failed(s, item, reason))
            report.failed += 1
            metrics.deliveries.labels(state="failed").inc()
            return "failed"
        except Exception as error:
            # Network trouble, Telegram's 5xx, or a fault of ours before the request: nothing is
            # known to have been sent, so try again later (and give up after MAX_ATTEMPTS).
            level = logging.WARNING if isinstance(error, TelegramError) else logging.ERROR
            log.log(level, "could not send delivery %d: %s", item.delivery_id, type(error).__name__)
            now = self.services.clock.now()
            backoff = min(RETRY_BASE * 2 ** max(0, item.attempts - 1), RETRY_MAX)
            await db.run(lambda s: _record_retry(s, item, self.instance, due=now + backoff, counts=True))
            report.retried += 1
            metrics.deliveries.labels(state="retry").inc()
            return "halt"
        now = self.services.clock.now()
        await self._recorder.record(item, sent.message_id, now)
        self.last_tick = time.monotonic()  # progress during a long broadcast is liveness too
        if item.kind == "prompt":
            report.sent += 1
            metrics.deliveries.labels(state="sent").inc()
        else:
            report.reminded += 1
            metrics.deliveries.labels(state="reminded").inc()
        return "sent"

    async def _unreachable(self, item: _Outgoing, report: TickReport, error: TelegramError) -> Outcome:
        log.info("membership %d is unreachable (%s)", item.membership_id, type(error).__name__)
        message = f"{type(error).__name__}: {error.message}"
        await self.services.db.run(lambda s: _record_unreachable(s, item, message, self.instance))
        report.unreachable += 1
        self.services.metrics.deliveries.labels(state="unreachable").inc()
        return "unreachable"


class _SendingRun:
    """One tick's sending of prompts (or reminders): a queue of chats fed by claimed batches and
    served by :attr:`Dispatcher.in_flight` workers.

    A chat's messages are sent one after another in programme order, by one worker at a time; a row
    claimed in a later batch for a chat still being served joins that chat's list rather than
    racing it. Rows never handed to Telegram (a pause, stopping, the deadline) are given back.
    """

    def __init__(
        self, dispatcher: Dispatcher, report: TickReport, kind: Literal["prompt", "reminder"]
    ) -> None:
        self.dispatcher = dispatcher
        self.report = report
        self.kind = kind
        self.groups: dict[int, list[_Outgoing]] = {}
        self.queue: deque[int] = deque()
        self.leftovers: list[_Outgoing] = []
        self.halted = False
        self.exhausted = False
        self.deadline = time.monotonic() + TICK_BUDGET_S
        self._refilling: asyncio.Task[None] | None = None

    def _must_stop(self) -> bool:
        return self.halted or self.dispatcher._stopping()

    async def refill(self) -> None:
        if self.exhausted or self._must_stop() or time.monotonic() > self.deadline:
            self.exhausted = True
            return
        dispatcher = self.dispatcher
        ids, outgoing, broken = await dispatcher._claim_batch(self.kind, dispatcher.services.clock.now())
        self.report.failed += len(broken)
        if len(ids) < dispatcher.batch:
            self.exhausted = True
        claimed = time.monotonic()
        for item in outgoing:
            item.claimed = claimed
            group = self.groups.get(item.chat_id)
            if group is None:
                self.groups[item.chat_id] = [item]
                self.queue.append(item.chat_id)
            else:
                group.append(item)

    def _prefetch(self) -> None:
        """Claim the next batch in the background once fewer chats wait than there are workers."""
        if self.exhausted or len(self.queue) >= self.dispatcher.in_flight:
            return
        if self._refilling is None or self._refilling.done():
            self._refilling = asyncio.create_task(self.refill())

    async def _next_chat(self) -> int | None:
        if not self.queue:
            self._prefetch()
            if self._refilling is not None:
                await self._refilling
        return self.queue.popleft() if self.queue else None

    async def _worker(self) -> None:
        while (chat := await self._next_chat()) is not None:
            group = self.groups[chat]
            index = 0
            while index < len(group):
                item = group[index]
                if self._must_stop() or time.monotonic() - item.claimed > BATCH_DEADLINE_S:
                    self.leftovers.extend(group[index:])
                    break
                self._prefetch()
                outcome = await self.dispatcher._send_one(item, self.report)
                index += 1
                if outcome == "halt":
                    self.halted = True
                    self.leftovers.extend(group[index:])
                    break
                if outcome == "unreachable":
                    # The rest of this chat's claims were cancelled with the membership.
                    break
            del self.groups[chat]

    async def serve(self) -> None:
        workers = [asyncio.create_task(self._worker()) for _ in range(self.dispatcher.in_flight)]
        try:
            await asyncio.gather(*workers)
            if self._refilling is not None:
                await self._refilling
        except asyncio.CancelledError:
            # Killed, as far as the outbox knows: every claim stays for the crash rule.
            self._cancel(workers)
            raise
        except Exception:
            # The database or a bug stopped the run: give back what was surely not sent, then fail.
            self._cancel(workers)
            with contextlib.suppress(Exception):
                await self._release_unsent()
            raise
        await self._release_unsent()

    def _cancel(self, workers: list[asyncio.Task[None]]) -> None:
        for task in [*workers, self._refilling]:
            if task is not None:
                task.cancel()

    async def _release_unsent(self) -> None:
        for chat in self.queue:
            self.leftovers.extend(self.groups.pop(chat, []))
        self.queue.clear()
        if self.leftovers:
            leftovers, instance = self.leftovers, self.dispatcher.instance
            self.leftovers = []
            self.report.released += await self.dispatcher.services.db.run(
                lambda s: _release(s, leftovers, instance)
            )


# --- outbox statements ---------------------------------------------------------------------------------


async def _scalars(session: AsyncSession, statement: Any) -> list[Any]:
    return list(await session.scalars(statement))


def _returning_ids(result: Any) -> list[int]:
    return [int(row[0]) for row in result.all()]


async def claim_prompts(
    session: AsyncSession, *, now: datetime, instance: str, limit: int, postgres: bool
) -> list[int]:
    """Atomically move up to ``limit`` due, sendable rows from ``pending`` to ``sending``."""
    candidates = (
        select(Delivery.id)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(
            Delivery.state == "pending",
            Delivery.due_at <= now,
            Prompt.active.is_(True),
            or_(Prompt.closes_at.is_(None), Prompt.closes_at > now),
            Membership.paused.is_(False),
            Membership.unreachable.is_(False),
        )
        .order_by(Delivery.due_at, Prompt.position, Delivery.id)
        .limit(limit)
    )
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=Delivery)
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates), Delivery.state == "pending")
        .values(state="sending", claimed_by=instance, claimed_at=now, attempts=Delivery.attempts + 1)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return _returning_ids(result)


async def claim_reminders(
    session: AsyncSession, *, now: datetime, instance: str, limit: int, postgres: bool
) -> list[int]:
    """Atomically mark up to ``limit`` due reminders as taken (``reminded_at``): at most once."""
    candidates = (
        select(Delivery.id)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .join(Membership, Membership.id == Delivery.membership_id)
        .where(
            Delivery.state == "sent",
            Delivery.reminded_at.is_(None),
            Delivery.remind_at <= now,
            Prompt.active.is_(True),
            or_(Prompt.closes_at.is_(None), Prompt.closes_at > now),
            Membership.paused.is_(False),
            Membership.unreachable.is_(False),
        )
        .order_by(Delivery.remind_at, Delivery.id)
        .limit(limit)
    )
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=Delivery)
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id.in_(candidates), Delivery.state == "sent", Delivery.reminded_at.is_(None))
        .values(reminded_at=now)
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return _returning_ids(result)


async def release_dead_claims(
    session: AsyncSession, *, now: datetime, instance: str | None, lease: timedelta, all_rows: bool = True
) -> int:
    """Return claims of dead processes to ``pending`` (see the crash rule in the module docstring).

    ``instance=None`` with ``all_rows`` takes every ``sending`` row (SQLite at start-up); otherwise
    rows claimed by ``instance`` and rows whose claim is older than ``lease``. Rows claimed
    :data:`MAX_ATTEMPTS` times already are marked failed instead.
    """
    stale = Delivery.claimed_at < now - lease
    if instance is None:
        condition: ColumnElement[bool] = stale if not all_rows else Delivery.state == "sending"
    else:
        condition = or_(Delivery.claimed_by == instance, stale)
    failed: Any = await session.execute(
        update(Delivery)
        .where(Delivery.state == "sending", condition, Delivery.attempts >= MAX_ATTEMPTS)
        .values(state="failed", last_error="interrupted too many times")
        .execution_options(synchronize_session=False)
    )
    released: Any = await session.execute(
        update(Delivery)
        .where(Delivery.state == "sending", condition)
        .values(state="pending", claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )
    if failed.rowcount:
        log.warning("%d deliveries failed after %d interrupted attempts", failed.rowcount, MAX_ATTEMPTS)
    return int(released.rowcount or 0)


async def expire_closed(session: AsyncSession, *, now: datetime) -> int:
    """Pending rows whose prompt closed will never be sent: mark them expired."""
    closed = select(Prompt.id).where(Prompt.closes_at.is_not(None), Prompt.closes_at <= now)
    result: Any = await session.execute(
        update(Delivery)
        .where(Delivery.state == "pending", Delivery.due_at <= now, Delivery.prompt_id.in_(closed))
        .values(state="expired")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


async def _release(session: AsyncSession, items: Sequence[_Outgoing], instance: str) -> int:
    """Give back claims that were never handed to Telegram (stopping, 429 pause, deadline)."""
    prompts = [item.delivery_id for item in items if item.kind == "prompt"]
    reminders = [item for item in items if item.kind == "reminder"]
    released = 0
    if prompts:
        result: Any = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(prompts), Delivery.state == "sending", Delivery.claimed_by == instance)
            .values(state="pending", claimed_by=None, claimed_at=None, attempts=Delivery.attempts - 1)
            .execution_options(synchronize_session=False)
        )
        released += int(result.rowcount or 0)
    for item in reminders:
        result = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == item.delivery_id,
                Delivery.reminded_at == item.reminded_at,
                Delivery.reminder_message_id.is_(None),
            )
            .values(reminded_at=None)
            .execution_options(synchronize_session=False)
        )
        released += int(result.rowcount or 0)
    return released


# The per-message statements are built once: compiling an ORM UPDATE costs more than running it,
# and they run once for every message sent.
_RECORD_SENT = (
    _DELIVERIES.update()
    .where(
        _DELIVERIES.c.id == bindparam("b_id"),
        _DELIVERIES.c.state != literal("sent"),
        _DELIVERIES.c.state != literal("answered"),
    )
    .values(
        state=literal("sent"),
        sent_at=bindparam("b_at"),
        chat_id=bindparam("b_chat"),
        message_id=bindparam("b_message"),
        remind_at=bindparam("b_remind"),
        last_error=None,
    )
)
_RECORD_REMINDER = (
    _DELIVERIES.update()
    .where(_DELIVERIES.c.id == bindparam("b_id"))
    .values(reminder_message_id=bindparam("b_message"))
)


def _sent_values(item: _Outgoing, message_id: int, now: datetime) -> dict[str, Any]:
    remind_at = None
    if item.remind_after is not None and item.closes_at is not None:
        remind_at = plan_reminder(now, item.remind_after, item.closes_at, item.policy)
    return {
        "b_id": item.delivery_id,
        "b_at": now,
        "b_chat": item.chat_id,
        "b_message": message_id,
        "b_remind": remind_at,
    }


class _Recorder:
    """Writes "sent" results the moment Telegram answers, sharing one commit among the results that
    arrive while the previous commit is in progress (group commit): no result waits for a timer,
    and a busy broadcast does not pay one transaction per message."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[_Outgoing, int, datetime, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: _Outgoing, message_id: int, now: datetime) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, message_id, now, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        # Shielded: a worker cancelled mid-wait must not cancel the commit of everyone's results.
        await asyncio.shield(future)

    async def _write(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            sent = [
                _sent_values(item, message_id, now)
                for item, message_id, now, _ in batch
                if item.kind == "prompt"
            ]
            reminded = [
                {"b_id": item.delivery_id, "b_message": message_id}
                for item, message_id, _, _ in batch
                if item.kind == "reminder"
            ]

            async def work(
                session: AsyncSession,
                sent: list[dict[str, Any]] = sent,
                reminded: list[dict[str, Any]] = reminded,
            ) -> None:
                # Whatever happened to a row meanwhile (a pause, a re-plan), the message did go out.
                if sent:
                    await session.execute(_RECORD_SENT, sent)
                if reminded:
                    await session.execute(_RECORD_REMINDER, reminded)

            try:
                await self.db.run(work)
            except Exception as error:
                for *_, future in batch:
                    if not future.done():
                        future.set_exception(error)
            else:
                for *_, future in batch:
                    if not future.done():
                        future.set_result(None)


async def _record_failed(session: AsyncSession, item: _Outgoing, error: str) -> None:
    values: dict[str, Any] = {"last_error": error[:ERROR_CHARS]}
    if item.kind == "prompt":
        values["state"] = "failed"
    await session.execute(
        update(Delivery)
        .where(Delivery.id == item.delivery_id, Delivery.state.in_(("sending", "sent")))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def _record_broken(
    session: AsyncSession, broken: Sequence[tuple[int, str]], kind: Literal["prompt", "reminder"]
) -> None:
    for delivery_id, error in broken:
        values: dict[str, Any] = {"last_error": error[:ERROR_CHARS]}
        if kind == "prompt":
            values["state"] = "failed"
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )


async def _record_unreachable(session: AsyncSession, item: _Outgoing, error: str, instance: str) -> None:
    """The participant blocked the bot (or is gone): stop trying, tell the facilitator via /process.
    Their other pending rows, and those this instance claimed with this one, are cancelled; planning
    brings them back if they become reachable again."""
    await session.execute(
        update(Membership)
        .where(Membership.id == item.membership_id)
        .values(unreachable=True)
        .execution_options(synchronize_session=False)
    )
    if item.kind == "prompt":
        await session.execute(
            update(Delivery)
            .where(Delivery.id == item.delivery_id, Delivery.state == "sending")
            .values(state="failed", last_error=error[:ERROR_CHARS])
            .execution_options(synchronize_session=False)
        )
    else:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == item.delivery_id)
            .values(last_error=error[:ERROR_CHARS])
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(Delivery)
        .where(
            Delivery.membership_id == item.membership_id,
            or_(
                Delivery.state == "pending",
                and_(Delivery.state == "sending", Delivery.claimed_by == instance),
            ),
        )
        .values(state="cancelled", claimed_by=None, claimed_at=None)
        .execution_options(synchronize_session=False)
    )


async def _record_retry(
    session: AsyncSession, item: _Outgoing, instance: str, *, due: datetime, counts: bool
) -> None:
    """Back to ``pending`` at ``due``. A 429 does not count as an attempt (nothing was sent); other
    failures do, and after :data:`MAX_ATTEMPTS` the row fails. A reminder is retried only after 429."""
    if item.kind == "reminder":
        if not counts:
            await _release(session, [item], instance)
        return
    if counts and item.attempts >= MAX_ATTEMPTS:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == item.delivery_id, Delivery.state == "sending")
            .values(state="failed", last_error=f"no answer from Telegram after {item.attempts} attempts")
            .execution_options(synchronize_session=False)
        )
        return
    await session.execute(
        update(Delivery)
        .where(Delivery.id == item.delivery_id, Delivery.state == "sending", Delivery.claimed_by == instance)
        .values(
            state="pending",
            due_at=due,
            claimed_by=None,
            claimed_at=None,
            attempts=Delivery.attempts if counts else Delivery.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )
