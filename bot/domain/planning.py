"""Planning deliveries, pure: the delivery policy of a process, who receives prompts, when each
participant gets each prompt, and the rows that make the outbox match the programme.

Pure, like :mod:`bot.domain.timing`, and under the same DST conventions. The outbox service loads a
:class:`PlanInput` (the programme and the existing deliveries), :func:`plan_changes` decides with
:class:`Planner`, and the service writes the :class:`PlanChanges`. A process and a membership are
read through the few attributes named by :class:`DeliverySettings` and :class:`MembershipStatus`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from bot.domain.calendar import ClosedDays, DateRange, parse_no_send_item
from bot.domain.states import COUNTED_STATES, FIXED_STATES, DeliveryState
from bot.domain.timing import add_duration, at_local, parse_clock_time, require_aware

__all__ = [
    "DEFAULT_DAY_START",
    "MIN_OPEN_BEFORE",
    "DeliveryPolicy",
    "DeliverySettings",
    "ExistingDelivery",
    "MembershipStatus",
    "PlanChanges",
    "PlanInput",
    "PlanItem",
    "PlanResult",
    "PlannedDelivery",
    "Planner",
    "earlier_allowed",
    "is_eligible",
    "next_allowed",
    "open_time_between",
    "plan_changes",
    "plan_item",
    "plan_reminder",
    "process_policy",
]

DEFAULT_DAY_START = time(9, 0)
"""Where a day's sending starts when quiet hours are off (weekend skips, cap overflow)."""
MIN_OPEN_BEFORE = timedelta(hours=4)
"""A pre-workshop reminder leaves at least this much open time (not quiet, not a closed day) before
the workshop it announces."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """When a participant may be sent prompts. Quiet hours are local wall times and may wrap
    midnight (20:00–08:00); ``None`` for both turns them off. Closed days (weekends, ``holidays``,
    ``no_send``) are :class:`~bot.domain.calendar.ClosedDays`; ``reminders_per_week`` caps the
    programme's automatic reminders per local calendar week (``None``: no cap)."""

    tz: ZoneInfo
    quiet_start: time | None = time(20, 0)
    quiet_end: time | None = time(8, 0)
    skip_weekends: bool = False
    daily_cap: int | None = None
    holidays: str | None = None
    no_send: tuple[DateRange, ...] = ()
    reminders_per_week: int | None = None
    closed: ClosedDays = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both a start and an end, or neither")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValueError("quiet hours cannot start and end at the same time")
        if self.daily_cap is not None and self.daily_cap < 1:
            raise ValueError("daily_cap must be at least 1 (or None for no cap)")
        if self.reminders_per_week is not None and self.reminders_per_week < 0:
            raise ValueError("reminders_per_week must be 0 or more (or None for no cap)")
        object.__setattr__(self, "closed", ClosedDays(self.skip_weekends, self.holidays, self.no_send))

    @property
    def day_start(self) -> time:
        """Where a sending day begins: the end of quiet hours, or 09:00 when they are off."""
        return self.quiet_end if self.quiet_end is not None else DEFAULT_DAY_START

    def _quiet_exit(self, local: datetime) -> datetime | None:
        """If ``local`` is inside quiet hours, the UTC instant they end; otherwise ``None``."""
        start, end = self.quiet_start, self.quiet_end
        if start is None or end is None:
            return None
        wall = local.time().replace(tzinfo=None, fold=0)
        day = local.date()
        if start < end:
            if not start <= wall < end:
                return None
        elif wall >= start:
            day += timedelta(days=1)
        elif wall >= end:
            return None
        return at_local(day, end, self.tz)


def _later_wall_time(day: date, at: time, tz: ZoneInfo, after: datetime) -> datetime:
    """``day at`` in ``tz``, taking the second occurrence of an ambiguous time if the first is not
    after ``after`` (only matters inside the autumn DST hour)."""
    first = at_local(day, at, tz)
    if first > after:
        return first
    second = datetime.combine(day, at.replace(tzinfo=None)).replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(second, first)


def next_allowed(instant: datetime, policy: DeliveryPolicy) -> datetime:
    """The first instant at or after ``instant`` outside quiet hours and not on a closed day (a
    weekend with ``skip_weekends``, a holiday, a ``no_send`` date: moved to the next open day's
    start)."""
    candidate = require_aware(instant)
    tz = policy.tz
    closed = policy.closed
    for _ in range(16):
        local = candidate.astimezone(tz)
        moved = policy._quiet_exit(local)
        if moved is None and closed.any and closed.is_closed(local.date()):
            day = closed.next_open(local.date() + timedelta(days=1))
            moved = at_local(day, policy.day_start, tz)
        if moved is None:
            return candidate
        if moved <= candidate:
            moved = _later_wall_time(local.date(), policy.day_start, tz, candidate)
            if moved <= candidate:
                moved = candidate + timedelta(minutes=1)
        candidate = moved
    return candidate


def _open_windows(day: date, policy: DeliveryPolicy) -> list[tuple[datetime, datetime]]:
    """The UTC spans of local ``day`` outside quiet hours (none if the day is closed)."""
    if policy.closed.any and policy.closed.is_closed(day):
        return []
    tz = policy.tz
    midnight, next_midnight = at_local(day, time(0), tz), at_local(day + timedelta(days=1), time(0), tz)
    start, end = policy.quiet_start, policy.quiet_end
    if start is None or end is None:
        return [(midnight, next_midnight)]
    if start > end:
        return [(at_local(day, end, tz), at_local(day, start, tz))]
    return [(midnight, at_local(day, start, tz)), (at_local(day, end, tz), next_midnight)]


def open_time_between(start: datetime, end: datetime, policy: DeliveryPolicy) -> timedelta:
    """How much of ``[start, end)`` lies outside quiet hours and closed days."""
    start, end = require_aware(start), require_aware(end)
    total = timedelta(0)
    day = start.astimezone(policy.tz).date()
    last = end.astimezone(policy.tz).date()
    while day <= last:
        for window_start, window_end in _open_windows(day, policy):
            overlap = min(end, window_end) - max(start, window_start)
            if overlap > timedelta(0):
                total += overlap
        day += timedelta(days=1)
    return total


def earlier_allowed(
    due: datetime, before: datetime, policy: DeliveryPolicy, min_open: timedelta = MIN_OPEN_BEFORE
) -> datetime:
    """Where a reminder of what happens at ``before`` (a workshop, the end) goes: ``due`` if it is
    open and leaves ``min_open`` of open time before ``before``; otherwise *earlier*, at the same
    wall time on the nearest open day that does (or that day's opening, if the wall time is quiet).
    Falls back to :func:`next_allowed` when no such day is found within 60 days."""
    due, before = require_aware(due), require_aware(before)
    local = due.astimezone(policy.tz)
    wall = local.time().replace(tzinfo=None, fold=0)
    day = local.date()
    for _ in range(60):
        candidate = None
        for window_start, window_end in _open_windows(day, policy):
            at = at_local(day, wall, policy.tz)
            if window_start <= at < window_end:
                candidate = at
            elif window_start < at:
                candidate = window_start
        if (
            candidate is not None
            and candidate <= due
            and candidate < before
            and open_time_between(candidate, before, policy) >= min_open
        ):
            return candidate
        day -= timedelta(days=1)
    return next_allowed(due, policy)


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One programme prompt as the planner sees it (instants aware UTC).

    ``before`` is the workshop (or the end) a pre-workshop reminder announces: such an item moves
    *earlier* out of closed days and quiet hours (:func:`earlier_allowed`), everything else later.
    ``remind_after`` is the automatic reminder of a prompt that asks for a reply (else ``None``)."""

    prompt_id: str
    due_at: datetime
    closes_at: datetime
    order: int
    before: datetime | None = None
    remind_after: timedelta | None = None


PRE_ANCHOR_KINDS = frozenset({"reminder"})
"""Kinds that announce what comes next (a workshop, the end): moved earlier, never later."""


def plan_item(
    prompt_id: str,
    *,
    kind: str,
    due_at: datetime,
    closes_at: datetime,
    order: int,
    anchors: Sequence[datetime],
    remind_after: timedelta | None = None,
) -> PlanItem:
    """A :class:`PlanItem` for one programme prompt; ``anchors`` are the workshops and the end.

    A prompt of a kind in :data:`PRE_ANCHOR_KINDS` is tied to the first anchor after it."""
    before = None
    if kind in PRE_ANCHOR_KINDS:
        before = min((anchor for anchor in anchors if anchor > due_at), default=None)
    return PlanItem(prompt_id, due_at, closes_at, order, before, remind_after)


PlannedState = Literal["planned", "expired"]
"""What the planner decides for one prompt (not a :class:`~bot.domain.states.DeliveryState`)."""


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """When one participant gets one prompt.

    ``state`` is ``"planned"`` (send at ``due_at``) or ``"expired"`` (do not send: its window closed
    before it could be sent; ``due_at`` is then the time it would have gone out, at or after
    ``closes_at``). ``nominal_due_at`` is the programme's own time, for display.
    """

    prompt_id: str
    order: int
    due_at: datetime
    closes_at: datetime
    nominal_due_at: datetime
    state: PlannedState

    @property
    def is_planned(self) -> bool:
        return self.state == "planned"


_MAX_CAP_DAYS = 3660
_MAX_CACHED_PLANS = 4096


class Planner:
    """Plans one programme for many participants under one policy at one ``now``.

    Everything that does not depend on a participant (quiet hours, weekends, late joining) is
    computed once in the constructor; :meth:`plan` then only applies the daily cap against the
    participant's existing counts, and caches the result per distinct set of counts, so identical
    participants share one (immutable) plan.
    """

    def __init__(self, items: Sequence[PlanItem], policy: DeliveryPolicy, *, now: datetime) -> None:
        self.policy = policy
        self.now = require_aware(now, "now")
        self._items = sorted(items, key=lambda item: item.order)
        self._day_of: dict[datetime, date] = {}
        self._next_day_start: dict[date, datetime] = {}
        # Per item in programme order: its uncapped delivery (already "expired" if it cannot make it).
        self._base: list[PlannedDelivery] = []
        for item in self._items:
            due = require_aware(item.due_at, f"due_at of {item.prompt_id}")
            closes = require_aware(item.closes_at, f"closes_at of {item.prompt_id}")
            if item.before is not None:
                planned = earlier_allowed(due, item.before, policy)
                if planned < self.now:
                    planned = next_allowed(self.now, policy)
            else:
                planned = next_allowed(max(due, self.now), policy)
            state: PlannedState = "planned" if planned < closes else "expired"
            self._base.append(PlannedDelivery(item.prompt_id, item.order, planned, closes, due, state))
        # The cap hands out a day's slots in time order, ties in programme order.
        self._cap_order = sorted(
            (index for index, delivery in enumerate(self._base) if delivery.state == "planned"),
            key=lambda index: (self._base[index].due_at, self._base[index].order),
        )
        self._uncapped = tuple(self._base)
        self._cache: dict[tuple[tuple[date, int], ...], tuple[PlannedDelivery, ...]] = {}

    def _day(self, instant: datetime) -> date:
        day = self._day_of.get(instant)
        if day is None:
            day = self._day_of[instant] = instant.astimezone(self.policy.tz).date()
        return day

    def _start_after(self, day: date) -> datetime:
        """The first allowed instant of the sending day after ``day``."""
        start = self._next_day_start.get(day)
        if start is None:
            nominal = at_local(day + timedelta(days=1), self.policy.day_start, self.policy.tz)
            start = self._next_day_start[day] = next_allowed(nominal, self.policy)
        return start

    def plan(self, counts_by_day: Mapping[date, int] | None = None) -> tuple[PlannedDelivery, ...]:
        """The plan for one participant who already has ``counts_by_day`` deliveries on those local
        days. Returned in programme order; shared between equal ``counts_by_day``: do not mutate."""
        cap = self.policy.daily_cap
        if cap is None:
            return self._uncapped
        key = tuple(sorted((day, count) for day, count in (counts_by_day or {}).items() if count))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        used: dict[date, int] = dict(key)
        result = list(self._base)
        for index in self._cap_order:
            delivery = result[index]
            at = delivery.due_at
            day = self._day(at)
            for _ in range(_MAX_CAP_DAYS):
                if used.get(day, 0) < cap or at >= delivery.closes_at:
                    break
                at = self._start_after(day)
                day = self._day(at)
            if at >= delivery.closes_at:
                result[index] = PlannedDelivery(
                    delivery.prompt_id,
                    delivery.order,
                    at,
                    delivery.closes_at,
                    delivery.nominal_due_at,
                    "expired",
                )
                continue
            used[day] = used.get(day, 0) + 1
            if at != delivery.due_at:
                result[index] = PlannedDelivery(
                    delivery.prompt_id,
                    delivery.order,
                    at,
                    delivery.closes_at,
                    delivery.nominal_due_at,
                    "planned",
                )
        plan = tuple(result)
        if len(self._cache) < _MAX_CACHED_PLANS:
            self._cache[key] = plan
        return plan


def plan_reminder(
    sent_at: datetime, remind_after: timedelta | None, closes_at: datetime, policy: DeliveryPolicy
) -> datetime | None:
    """When to remind someone who has not answered a prompt sent at ``sent_at``; ``None`` if the
    prompt has no reminder or the reminder could not go out before the prompt closes."""
    if remind_after is None:
        return None
    at = next_allowed(add_duration(sent_at, remind_after, policy.tz), policy)
    return at if at < require_aware(closes_at) else None


# Read once: looking up an Enum member costs more than the rest of planning one delivery (Python 3.11).
_PENDING = DeliveryState.PENDING
_EXPIRED = DeliveryState.EXPIRED


class DeliverySettings(Protocol):
    """What a process says about when prompts may go out (a ``Process`` row has these)."""

    @property
    def timezone(self) -> str: ...
    @property
    def quiet_start(self) -> str | None: ...
    @property
    def quiet_end(self) -> str | None: ...
    @property
    def skip_weekends(self) -> bool: ...
    @property
    def daily_cap(self) -> int | None: ...
    @property
    def holidays(self) -> str | None: ...
    @property
    def no_send(self) -> list[Any] | None: ...
    @property
    def reminders_per_week(self) -> int | None: ...


class MembershipStatus(Protocol):
    """What decides whether a member receives prompts (a ``Membership`` row has these)."""

    @property
    def is_facilitator(self) -> bool: ...
    @property
    def complete(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def unreachable(self) -> bool: ...


def process_policy(process: DeliverySettings) -> DeliveryPolicy:
    """The process's quiet hours, closed days, daily cap and reminder cap as a :class:`DeliveryPolicy`
    (the bot, the rehearsal and the budget all go through here)."""
    start = parse_clock_time(process.quiet_start) if process.quiet_start else None
    end = parse_clock_time(process.quiet_end) if process.quiet_end else None
    if start is None or end is None or start == end:
        start = end = None
    return DeliveryPolicy(
        ZoneInfo(process.timezone),
        start,
        end,
        process.skip_weekends,
        process.daily_cap,
        holidays=process.holidays or None,
        no_send=tuple(parse_no_send_item(str(item)) for item in process.no_send or ()),
        reminders_per_week=process.reminders_per_week,
    )


def is_eligible(membership: MembershipStatus) -> bool:
    """Participants who receive prompts: joined completely, not paused, reachable.

    The outbox service states the same rule as SQL for bulk queries."""
    return (
        not membership.is_facilitator
        and bool(membership.complete)
        and not membership.paused
        and not membership.unreachable
    )


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
class ExistingDelivery:
    """A row of the outbox that may be re-planned."""

    id: int
    state: str
    due_at: datetime


@dataclass
class PlanInput:
    """Everything :func:`plan_changes` needs, read from the database by the outbox service."""

    process_id: int
    policy: DeliveryPolicy
    items: list[PlanItem]
    """Active programme prompts (``prompt_id`` is the row id as text)."""
    members: list[int]
    fixed: dict[int, set[int]] = field(default_factory=dict)
    """Per member: prompts already on their way or out (never re-planned)."""
    counts: dict[int, Counter[date]] = field(default_factory=dict)
    """Per member: prompts sent (or being sent) per local day, for the daily cap."""
    existing: dict[tuple[int, int], ExistingDelivery] = field(default_factory=dict)
    """(member, prompt) → a row that may be re-planned."""

    def add_delivery(
        self,
        *,
        delivery_id: int,
        prompt_id: int,
        member_id: int,
        state: str,
        due_at: datetime,
        sent_at: datetime | None,
        claimed_at: datetime | None,
    ) -> None:
        """File one existing row: fixed (and counted towards its day's cap) or re-plannable."""
        if state in FIXED_STATES:
            self.fixed.setdefault(member_id, set()).add(prompt_id)
            if state in COUNTED_STATES:
                instant = sent_at or claimed_at or due_at
                self.counts.setdefault(member_id, Counter())[instant.astimezone(self.policy.tz).date()] += 1
        else:
            self.existing[(member_id, prompt_id)] = ExistingDelivery(delivery_id, state, due_at)


@dataclass
class PlanChanges:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    """New ``deliveries`` rows (column → value)."""
    updates: list[dict[str, Any]] = field(default_factory=list)
    """Re-planned rows: ``b_id``, ``b_state`` and ``b_due``, the outbox's bound parameter names."""
    result: PlanResult = field(default_factory=PlanResult)

    def move(self, existing: ExistingDelivery, due_at: datetime) -> None:
        self.updates.append({"b_id": existing.id, "b_state": _PENDING, "b_due": due_at})
        self.result.moved += 1

    def expire(self, existing: ExistingDelivery | None) -> None:
        """A row still waiting whose prompt can no longer go out: it expires (anything else stays)."""
        if existing is None or existing.state != _PENDING:
            return
        self.updates.append({"b_id": existing.id, "b_state": _EXPIRED, "b_due": existing.due_at})
        self.result.expired += 1


def plan_changes(plan: PlanInput, now: datetime) -> PlanChanges:
    """The inserts and updates that make the outbox match the programme at ``now``.

    Members who already received the same prompts share one :class:`Planner` (and, with equal day
    counts, one computed plan), so a process of thousands plans in milliseconds.
    """
    changes = PlanChanges()
    # New rows are the hot path (thousands of participants × the programme): appended inline.
    inserts = changes.inserts
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
            if not planned.is_planned:
                changes.expire(existing)
            elif existing is None:
                inserts.append(
                    {
                        "prompt_id": prompt_id,
                        "membership_id": member,
                        "state": _PENDING,
                        "due_at": planned.due_at,
                        "attempts": 0,
                    }
                )
            elif existing.state != _PENDING or existing.due_at != planned.due_at:
                changes.move(existing, planned.due_at)
        for prompt_id in closed_ids:
            changes.expire(plan.existing.get((member, prompt_id)))
    changes.result.inserted = len(inserts)
    return changes
