"""Time arithmetic for the programme: durations, workshop-relative times, quiet hours, digest times.

Everything here is pure: no clock is read, every "now" is passed in, every instant that goes in or
comes out is timezone-aware UTC. Local wall times exist only inside the functions, through the
process's ``ZoneInfo``, so daylight saving time is the timezone database's business.

Two conventions hold throughout (and in :mod:`bot.domain.planning`):

* A naive local time that does not exist (the spring-forward gap, e.g. 03:30 on the last Sunday of
  March in Helsinki) is moved forward by the length of the gap (03:30 → 04:30). A local time that
  exists twice (the autumn hour) means its first occurrence.
* Whole days move the *calendar date* in local time, so "one day after, at the same time" keeps the
  wall-clock time across a DST change; hours, minutes and seconds are elapsed time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "ANCHORS",
    "DIGEST_FOLLOW_UP",
    "MAX_SPAN",
    "WEEKDAY_NAMES",
    "DigestSpec",
    "SpanTooLong",
    "When",
    "WhenError",
    "add_duration",
    "at_local",
    "format_duration",
    "format_quiet_hours",
    "latest_due_digest",
    "parse_clock_time",
    "parse_digest_spec",
    "parse_duration",
    "parse_quiet_hours",
    "parse_when",
    "require_aware",
    "resolve_when",
    "to_utc",
    "weekly_digest_times",
]

ANCHORS: tuple[str, ...] = ("W1", "W2", "W3", "W4", "W5", "END")
"""The points a prompt can be timed from: the five workshops and the end of the process."""

_OFF_WORDS = frozenset({"none", "off", "no", "ei", "pois", "nej", "av"})

_UNIT_SECONDS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_SPAN = timedelta(days=3650)
"""The longest duration or offset anything is given (ten years); longer ones raise :class:`SpanTooLong`."""


class SpanTooLong(ValueError):
    """A duration beyond :data:`MAX_SPAN` (``99999999999w`` would not even fit a ``timedelta``)."""


_DURATION_RE = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?:in)?)?(?:(?P<s>\d+)s)?"
)
_TIME_RE = re.compile(r"(?P<h>\d{1,2})[:.](?P<m>\d{2})")


def require_aware(instant: datetime, what: str = "instant") -> datetime:
    """``instant`` in UTC; a naive datetime is a ``ValueError`` (every instant here is aware)."""
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


def at_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """``day`` at the wall time ``at`` in ``tz``, as UTC (see :func:`to_utc` for DST)."""
    return to_utc(datetime.combine(day, at.replace(tzinfo=None)), tz)


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


def _parse_span(text: str) -> timedelta:
    compact = "".join(text.lower().split())
    match = _DURATION_RE.fullmatch(compact)
    if not compact or not match or not any(match.groupdict().values()):
        raise ValueError(
            f"{text!r} is not a duration: use a number with a unit, largest first, "
            "e.g. 90s, 30m, 2h, 1d, 1d12h, 2w (or none/off)"
        )
    seconds = sum(int(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value)
    if seconds > MAX_SPAN.total_seconds():
        raise SpanTooLong(f"{text!r} is longer than {MAX_SPAN.days} days")
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
    instant = require_aware(instant)
    days = duration.days
    rest = duration - timedelta(days=days)
    if days:
        local = instant.astimezone(tz)
        instant = at_local(local.date() + timedelta(days=days), local.time().replace(tzinfo=None, fold=0), tz)
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


class WhenError(ValueError):
    """A ``when`` that cannot be read; ``code`` is ``syntax``, ``anchor``, ``mixed`` or ``too_far``."""

    def __init__(
        self, code: Literal["syntax", "anchor", "mixed", "too_far"], message: str, anchor: str = ""
    ) -> None:
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
        except SpanTooLong as error:
            raise WhenError("too_far", f"in {text!r}: {error}") from None
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
        base = require_aware(anchors[when.anchor], f"anchor {when.anchor}")
    except KeyError:
        raise WhenError("anchor", f"no anchor {when.anchor} in this process", when.anchor) from None
    if when.days or when.time_of_day is not None:
        local = base.astimezone(tz)
        wall = when.time_of_day or local.time().replace(tzinfo=None, fold=0)
        base = at_local(local.date() + timedelta(days=when.days), wall, tz)
    return base + when.elapsed


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
    occurrence = at_local(day, spec.at, tz)
    if occurrence > instant:
        occurrence = at_local(day - timedelta(days=7), spec.at, tz)
    return occurrence


def latest_due_digest(
    last_sent: datetime | None, spec: DigestSpec, tz: ZoneInfo, now: datetime
) -> datetime | None:
    """The most recent scheduled digest instant at or before ``now`` that ``last_sent`` does not
    cover, or ``None`` if nothing is owed.

    ``last_sent`` is the scheduled instant of the last weekly digest sent (or when the process
    started, if none has been sent); ``None`` means nothing is covered yet. However many weeks the
    bot was down, at most one digest is owed: the latest.
    """
    now = require_aware(now, "now")
    latest = _occurrence_on_or_before(now, spec, tz)
    if last_sent is not None and require_aware(last_sent, "last_sent") >= latest:
        return None
    return latest


DIGEST_FOLLOW_UP = timedelta(days=7)
"""Weekly digests go on until the week after the process ends, to cover its last days."""


def weekly_digest_times(
    created_at: datetime, end_at: datetime, spec: DigestSpec, tz: ZoneInfo
) -> list[datetime]:
    """Every weekly digest a process created at ``created_at`` gets while the bot runs throughout:
    each occurrence after its creation, until one at or after ``end_at`` + :data:`DIGEST_FOLLOW_UP`
    has covered the end (the digest job's rule, :func:`latest_due_digest` at every occurrence)."""
    created_at, end_at = require_aware(created_at, "created_at"), require_aware(end_at, "end_at")
    times: list[datetime] = []
    last = created_at
    while last < end_at + DIGEST_FOLLOW_UP:
        occurrence = _occurrence_on_or_before(last, spec, tz)
        last = at_local(occurrence.astimezone(tz).date() + timedelta(days=7), spec.at, tz)
        times.append(last)
    return times
