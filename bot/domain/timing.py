"""Time arithmetic for the programme: durations, workshop-relative times, quiet hours, caps, digests.

Everything here is pure: no clock is read, every "now" is passed in, every instant that goes in or
comes out is timezone-aware UTC. Local wall times exist only inside the functions, through the
process's ``ZoneInfo``, so daylight saving time is the timezone database's business.

Two conventions hold throughout:

* A naive local time that does not exist (the spring-forward gap, e.g. 03:30 on the last Sunday of
  March in Helsinki) is moved forward by the length of the gap (03:30 → 04:30). A local time that
  exists twice (the autumn hour) means its first occurrence.
* Whole days move the *calendar date* in local time, so "one day after, at the same time" keeps the
  wall-clock time across a DST change; hours, minutes and seconds are elapsed time.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, TypeVar
from zoneinfo import ZoneInfo

__all__ = [
    "ANCHORS",
    "DEFAULT_DAY_START",
    "WEEKDAY_NAMES",
    "DeliveryPolicy",
    "DigestSpec",
    "PlanItem",
    "PlannedDelivery",
    "Planner",
    "When",
    "WhenError",
    "add_duration",
    "digest_due_after",
    "format_duration",
    "latest_due_digest",
    "local_date",
    "next_allowed",
    "next_digest_after",
    "parse_daily_cap",
    "parse_digest_spec",
    "parse_duration",
    "parse_quiet_hours",
    "parse_when",
    "plan_many",
    "plan_participant",
    "plan_reminder",
    "resolve_when",
    "to_utc",
]

ANCHORS: tuple[str, ...] = ("W1", "W2", "W3", "W4", "W5", "END")
"""The points a prompt can be timed from: the five workshops and the end of the process."""

DEFAULT_DAY_START = time(9, 0)
"""Where a day's sending starts when quiet hours are off (weekend skips, cap overflow)."""

_OFF_WORDS = frozenset({"none", "off", "no", "ei", "pois", "nej", "av"})

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s)?"
)
_TIME_RE = re.compile(r"(?P<h>\d{1,2})[:.](?P<m>\d{2})")


# --- helpers -----------------------------------------------------------------------------------


def _require_aware(instant: datetime, what: str = "instant") -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {instant.isoformat()}")
    return instant.astimezone(UTC)


def to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Interpret a naive wall-clock time in ``tz`` and return the aware UTC instant.

    Nonexistent times (spring-forward gap) move forward by the gap; ambiguous ones (autumn) take
    the first occurrence. Both follow from PEP 495's ``fold=0``.
    """
    if local.tzinfo is not None:
        raise ValueError("to_utc expects a naive local datetime")
    return local.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    return to_utc(datetime.combine(day, at.replace(tzinfo=None)), tz)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    """The calendar date of an instant in local time (what a daily cap counts by)."""
    return instant.astimezone(tz).date()


def parse_clock_time(text: str) -> time:
    """``"08:00"`` or ``"8.00"`` → ``time(8, 0)``; ``ValueError`` otherwise."""
    match = _TIME_RE.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time of day (expected HH:MM, e.g. 09:00)")
    hour, minute = int(match["h"]), int(match["m"])
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r} is not a time of day (hours 00–23, minutes 00–59)")
    return time(hour, minute)


def _format_clock(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


# --- durations ---------------------------------------------------------------------------------


def _parse_span(text: str) -> timedelta:
    compact = "".join(text.lower().split())
    match = _DURATION_RE.fullmatch(compact)
    if not compact or not match or not any(match.groupdict().values()):
        raise ValueError(
            f"{text!r} is not a duration: use a number with a unit, largest first, "
            "e.g. 90s, 30m, 2h, 1d, 1d12h, 2w (or none/off)"
        )
    seconds = sum(int(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value)
    return timedelta(seconds=seconds)


def parse_duration(text: str) -> timedelta | None:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1d12h``, ``2w`` → ``timedelta``; ``none``/``off`` → ``None``.

    Units are w, d, h, m, s, each at most once and largest first. Anything else raises ``ValueError``.
    """
    if text.strip().lower() in _OFF_WORDS:
        return None
    return _parse_span(text)


def add_duration(instant: datetime, duration: timedelta, tz: ZoneInfo) -> datetime:
    """``instant + duration`` the way people count: whole days move the local calendar date (the
    wall-clock time stays, across DST too), the rest is elapsed time."""
    instant = _require_aware(instant)
    days = duration.days
    rest = duration - timedelta(days=days)
    if days:
        local = instant.astimezone(tz)
        instant = _at_local(
            local.date() + timedelta(days=days), local.time().replace(tzinfo=None, fold=0), tz
        )
    return instant + rest


def format_duration(value: timedelta | None) -> str:
    """The inverse of :func:`parse_duration`: ``timedelta(days=1, hours=12)`` → ``"1d12h"``."""
    if value is None:
        return "none"
    total = int(value.total_seconds())
    if total < 0 or value != timedelta(seconds=total):
        raise ValueError(f"cannot format {value!r} as a duration (whole non-negative seconds only)")
    if total == 0:
        return "0s"
    parts = []
    for unit in ("d", "h", "m", "s"):
        amount, total = divmod(total, _UNIT_SECONDS[unit])
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


# --- workshop-relative times -------------------------------------------------------------------


class WhenError(ValueError):
    """A ``when`` that cannot be read; ``code`` is ``syntax``, ``anchor`` or ``mixed``."""

    def __init__(self, code: Literal["syntax", "anchor", "mixed"], message: str, anchor: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.anchor = anchor


@dataclass(frozen=True, slots=True)
class When:
    """A time relative to a workshop or the end: ``"W2 +1d 09:00"``.

    ``days`` shift the local calendar date, ``time_of_day`` (if given) then sets the local wall time,
    and ``elapsed`` is real time added to the anchor instant (``"W1 +3h"``).
    """

    text: str
    anchor: str
    days: int = 0
    elapsed: timedelta = timedelta(0)
    time_of_day: time | None = None

    def __str__(self) -> str:
        return self.text


_WHEN_RE = re.compile(
    r"(?P<anchor>[^\s+-]+)(?:\s*(?P<sign>[+-])\s*(?P<offset>[0-9a-z]+))?(?:\s+(?P<clock>\d{1,2}[:.]\d{2}))?",
    re.IGNORECASE,
)


def parse_when(text: str) -> When:
    """Read facilitator-speak: ``"W2 +1d 09:00"``, ``"W3 -2d 15:00"``, ``"W1 +3h"``, ``"END -7d 10:00"``,
    ``"W1"``, ``"W4 +0d 16:30"``, ``"W2 +1d12h"``.

    Anchors are W1–W5 and END. An explicit HH:MM cannot be combined with hours or minutes in the
    offset (which would it mean?). Raises :class:`WhenError`, a ``ValueError``.
    """
    stripped = " ".join(text.split())
    match = _WHEN_RE.fullmatch(stripped)
    if not match:
        raise WhenError(
            "syntax",
            f"{text!r} is not a time: use an anchor (W1–W5 or END), optionally a signed offset and a time, "
            "e.g. 'W2 +1d 09:00', 'W3 -2d 15:00', 'W1 +3h'",
        )
    anchor = match["anchor"].upper()
    if anchor not in ANCHORS:
        raise WhenError(
            "anchor", f"{match['anchor']!r} is not a workshop: use W1, W2, W3, W4, W5 or END", match["anchor"]
        )
    days, elapsed = 0, timedelta(0)
    if match["offset"]:
        try:
            span = _parse_span(match["offset"])
        except ValueError as error:
            raise WhenError("syntax", f"in {text!r}: {error}") from None
        days = span.days
        elapsed = span - timedelta(days=span.days)
        if match["sign"] == "-":
            days, elapsed = -days, -elapsed
    time_of_day = None
    if match["clock"]:
        try:
            time_of_day = parse_clock_time(match["clock"])
        except ValueError as error:
            raise WhenError("syntax", f"in {text!r}: {error}") from None
        if elapsed:
            raise WhenError(
                "mixed",
                f"{text!r} has both hours/minutes and a time of day: use whole days with a time "
                "('W2 +1d 09:00') or elapsed time without one ('W2 +1d12h')",
            )
    return When(text=text.strip(), anchor=anchor, days=days, elapsed=elapsed, time_of_day=time_of_day)


def resolve_when(when: When, anchors: Mapping[str, datetime], tz: ZoneInfo) -> datetime:
    """The UTC instant of ``when`` for a process whose anchors (W1–W5, END) are aware UTC instants."""
    try:
        base = _require_aware(anchors[when.anchor], f"anchor {when.anchor}")
    except KeyError:
        raise WhenError("anchor", f"no anchor {when.anchor} in this process", when.anchor) from None
    if when.days or when.time_of_day is not None:
        local = base.astimezone(tz)
        wall = when.time_of_day or local.time().replace(tzinfo=None, fold=0)
        base = _at_local(local.date() + timedelta(days=when.days), wall, tz)
    return base + when.elapsed


# --- delivery policy ---------------------------------------------------------------------------


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

    def is_quiet(self, instant: datetime) -> bool:
        return self._quiet_exit(instant.astimezone(self.tz)) is not None

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
        return _at_local(day, end, self.tz)


def _later_wall_time(day: date, at: time, tz: ZoneInfo, after: datetime) -> datetime:
    """``day at`` in ``tz``, taking the second occurrence of an ambiguous time if the first is not
    after ``after`` (only matters inside the autumn DST hour)."""
    first = _at_local(day, at, tz)
    if first > after:
        return first
    second = datetime.combine(day, at.replace(tzinfo=None)).replace(tzinfo=tz, fold=1).astimezone(UTC)
    return max(second, first)


def next_allowed(instant: datetime, policy: DeliveryPolicy) -> datetime:
    """The first instant at or after ``instant`` outside quiet hours and, with ``skip_weekends``,
    not on a Saturday or Sunday (moved to Monday at the day start)."""
    candidate = _require_aware(instant)
    tz = policy.tz
    for _ in range(16):
        local = candidate.astimezone(tz)
        moved = policy._quiet_exit(local)
        if moved is None and policy.skip_weekends and local.weekday() >= 5:
            monday = local.date() + timedelta(days=7 - local.weekday())
            moved = _at_local(monday, policy.day_start, tz)
        if moved is None:
            return candidate
        if moved <= candidate:
            moved = _later_wall_time(local.date(), policy.day_start, tz, candidate)
            if moved <= candidate:
                moved = candidate + timedelta(minutes=1)
        candidate = moved
    return candidate


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"20:00-08:00"`` → ``(time(20), time(8))``; ``"off"``/``"none"`` → ``None``."""
    stripped = text.strip()
    if stripped.lower() in _OFF_WORDS:
        return None
    parts = re.split(r"\s*[-–—]\s*", stripped)
    if len(parts) != 2:
        raise ValueError(f"{text!r} is not a quiet-hours range: use e.g. 20:00-08:00, or off")
    start, end = parse_clock_time(parts[0]), parse_clock_time(parts[1])
    if start == end:
        raise ValueError(f"{text!r}: quiet hours cannot start and end at the same time")
    return start, end


def format_quiet_hours(value: tuple[time, time] | None) -> str:
    if value is None:
        return "off"
    return f"{_format_clock(value[0])}-{_format_clock(value[1])}"


def parse_daily_cap(text: str) -> int | None:
    """``"2"`` → 2, ``"off"``/``"none"`` → ``None``; less than 1 is a ``ValueError``."""
    stripped = text.strip()
    if stripped.lower() in _OFF_WORDS:
        return None
    if not stripped.isdigit():
        raise ValueError(f"{text!r} is not a daily cap: use a whole number of prompts per day, or off")
    cap = int(stripped)
    if cap < 1:
        raise ValueError("the daily cap must be at least 1 (or off)")
    return cap


# --- planning deliveries -----------------------------------------------------------------------


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


K = TypeVar("K", bound=Hashable)

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
        self.now = _require_aware(now, "now")
        self._items = sorted(items, key=lambda item: item.order)
        self._day_of: dict[datetime, date] = {}
        self._next_day_start: dict[date, datetime] = {}
        # Per item in programme order: its uncapped delivery (already "expired" if it cannot make it).
        self._base: list[PlannedDelivery] = []
        for item in self._items:
            due = _require_aware(item.due_at, f"due_at of {item.prompt_id}")
            closes = _require_aware(item.closes_at, f"closes_at of {item.prompt_id}")
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
            nominal = _at_local(day + timedelta(days=1), self.policy.day_start, self.policy.tz)
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


def plan_participant(
    items: Sequence[PlanItem],
    policy: DeliveryPolicy,
    *,
    now: datetime,
    counts_by_day: Mapping[date, int] | None = None,
) -> list[PlannedDelivery]:
    """Plan every prompt for one participant, in programme order.

    Each prompt goes out at its programme time, but never before ``now`` (a late joiner gets what is
    still open), never in quiet hours or (if skipped) on a weekend, and at most ``daily_cap`` per
    local day, counting ``counts_by_day`` (deliveries already sent or planned on those days): the
    excess moves to the next sending day's start, in programme order. A prompt that could only go
    out at or after its ``closes_at`` is returned with state ``"expired"`` instead of being sent late.
    """
    return list(_cached_planner(tuple(items), policy, _require_aware(now, "now")).plan(counts_by_day))


@lru_cache(maxsize=32)
def _cached_planner(items: tuple[PlanItem, ...], policy: DeliveryPolicy, now: datetime) -> Planner:
    """Planners are immutable apart from their plan cache, so calls for the same programme, policy
    and ``now`` (planning participant after participant) share one."""
    return Planner(items, policy, now=now)


def plan_many(
    items: Sequence[PlanItem],
    policy: DeliveryPolicy,
    *,
    now: datetime,
    participants: Iterable[K],
    counts: Mapping[K, Mapping[date, int]] | None = None,
) -> dict[K, tuple[PlannedDelivery, ...]]:
    """:func:`plan_participant` for many participants of one process; participants with equal
    counts (typically all of them) share one computed, immutable plan."""
    planner = Planner(items, policy, now=now)
    counts = counts or {}
    return {participant: planner.plan(counts.get(participant)) for participant in participants}


def plan_reminder(
    sent_at: datetime, remind_after: timedelta | None, closes_at: datetime, policy: DeliveryPolicy
) -> datetime | None:
    """When to remind someone who has not answered a prompt sent at ``sent_at``; ``None`` if the
    prompt has no reminder or the reminder could not go out before the prompt closes."""
    if remind_after is None:
        return None
    at = next_allowed(add_duration(sent_at, remind_after, policy.tz), policy)
    return at if at < _require_aware(closes_at) else None


# --- weekly digest -----------------------------------------------------------------------------

WEEKDAY_NAMES: Mapping[str, int] = {
    name: index
    for names in (
        ("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"),
        ("ma", "ti", "ke", "to", "pe", "la", "su"),
        ("maanantai", "tiistai", "keskiviikko", "torstai", "perjantai", "lauantai", "sunnuntai"),
        ("mån", "tis", "ons", "tor", "fre", "lör", "sön"),
        ("måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"),
    )
    for index, name in enumerate(names)
}
"""Weekday names accepted in a digest spec (en, fi, sv; short and long) → Monday = 0."""

_WEEKDAY_CODES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class DigestSpec:
    """The weekly digest's local weekday (Monday = 0) and time of day."""

    weekday: int = 0
    at: time = time(8, 0)

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError("weekday must be 0 (Monday) … 6 (Sunday)")

    def __str__(self) -> str:
        return f"{_WEEKDAY_CODES[self.weekday]} {_format_clock(self.at)}"


def parse_digest_spec(text: str) -> DigestSpec:
    """``"mon 08:00"``, ``"ma 8.00"``, ``"mån 08:00"``, ``"Monday 08:00"`` → ``DigestSpec``."""
    parts = text.strip().lower().rstrip(".").split()
    if len(parts) != 2 or parts[0].rstrip(".") not in WEEKDAY_NAMES:
        raise ValueError(f"{text!r} is not a digest time: use a weekday and a time, e.g. 'mon 08:00'")
    return DigestSpec(WEEKDAY_NAMES[parts[0].rstrip(".")], parse_clock_time(parts[1]))


def _occurrence_on_or_before(instant: datetime, spec: DigestSpec, tz: ZoneInfo) -> datetime:
    local = instant.astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - spec.weekday) % 7)
    occurrence = _at_local(day, spec.at, tz)
    if occurrence > instant:
        occurrence = _at_local(day - timedelta(days=7), spec.at, tz)
    return occurrence


def next_digest_after(instant: datetime, spec: DigestSpec, tz: ZoneInfo) -> datetime:
    """The first scheduled digest instant strictly after ``instant``."""
    instant = _require_aware(instant)
    latest = _occurrence_on_or_before(instant, spec, tz)
    return _at_local(latest.astimezone(tz).date() + timedelta(days=7), spec.at, tz)


def latest_due_digest(
    last_sent: datetime | None, spec: DigestSpec, tz: ZoneInfo, now: datetime
) -> datetime | None:
    """The most recent scheduled digest instant at or before ``now`` that ``last_sent`` does not
    cover, or ``None`` if nothing is owed.

    ``last_sent`` is the scheduled instant of the last weekly digest sent (or when the process
    started, if none has been sent); ``None`` means nothing is covered yet. However many weeks the
    bot was down, at most one digest is owed: the latest.
    """
    now = _require_aware(now, "now")
    latest = _occurrence_on_or_before(now, spec, tz)
    if last_sent is not None and _require_aware(last_sent, "last_sent") >= latest:
        return None
    return latest


def digest_due_after(last: datetime | None, spec: DigestSpec, tz: ZoneInfo, now: datetime) -> datetime:
    """When the next weekly digest is due.

    If one is owed (see :func:`latest_due_digest`) that instant is returned, at or before ``now``:
    send it now and record it as ``last``; the next call then gives the following week's instant,
    so a downtime of several weeks yields one digest, not one per missed week.
    """
    owed = latest_due_digest(last, spec, tz, now)
    if owed is not None:
        return owed
    return next_digest_after(_require_aware(now, "now"), spec, tz)
