"""Planning deliveries: when each participant gets each prompt under a process's delivery policy.

Pure, like :mod:`bot.domain.timing`, and under the same DST conventions. The outbox loads the
programme and the existing deliveries, plans with :class:`Planner` and writes the differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from bot.domain.timing import add_duration, at_local, require_aware

__all__ = [
    "DEFAULT_DAY_START",
    "DeliveryPolicy",
    "PlanItem",
    "PlannedDelivery",
    "Planner",
    "next_allowed",
    "plan_reminder",
]

DEFAULT_DAY_START = time(9, 0)
"""Where a day's sending starts when quiet hours are off (weekend skips, cap overflow)."""


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """When a participant may be sent prompts. Quiet hours are local wall times and may wrap
    midnight (20:00–08:00); ``None`` for both turns them off."""

    tz: ZoneInfo
    quiet_start: time | None = time(20, 0)
    quiet_end: time | None = time(8, 0)
    skip_weekends: bool = False
    daily_cap: int | None = None

    def __post_init__(self) -> None:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both a start and an end, or neither")
        if self.quiet_start is not None and self.quiet_start == self.quiet_end:
            raise ValueError("quiet hours cannot start and end at the same time")
        if self.daily_cap is not None and self.daily_cap < 1:
            raise ValueError("daily_cap must be at least 1 (or None for no cap)")

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
    """The first instant at or after ``instant`` outside quiet hours and, with ``skip_weekends``,
    not on a Saturday or Sunday (moved to Monday at the day start)."""
    candidate = require_aware(instant)
    tz = policy.tz
    for _ in range(16):
        local = candidate.astimezone(tz)
        moved = policy._quiet_exit(local)
        if moved is None and policy.skip_weekends and local.weekday() >= 5:
            monday = local.date() + timedelta(days=7 - local.weekday())
            moved = at_local(monday, policy.day_start, tz)
        if moved is None:
            return candidate
        if moved <= candidate:
            moved = _later_wall_time(local.date(), policy.day_start, tz, candidate)
            if moved <= candidate:
                moved = candidate + timedelta(minutes=1)
        candidate = moved
    return candidate


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One programme prompt as the planner sees it (instants aware UTC)."""

    prompt_id: str
    due_at: datetime
    closes_at: datetime
    order: int


DeliveryState = Literal["planned", "expired"]


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
    state: DeliveryState

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
            planned = next_allowed(max(due, self.now), policy)
            state: DeliveryState = "planned" if planned < closes else "expired"
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
