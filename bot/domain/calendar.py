"""The gentle calendar: which days the bot keeps quiet on, and how many open hours lie between two
instants.

Closed days are Saturdays and Sundays (``skip_weekends``), the public holidays of a country as the
maintained ``holidays`` library lists them (``holidays: fi`` — for Finland it includes juhannusaatto
and jouluaatto), and a process's own ``no_send`` dates and ``FROM..TO`` ranges (a region's winter
holiday week). Quiet hours are the policy's business (:mod:`bot.domain.planning`); this module only
knows days. Everything is pure; a holiday year is computed once per country and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import holidays as holiday_data

__all__ = [
    "HOLIDAY_CALENDARS",
    "ClosedDays",
    "DateRange",
    "format_no_send",
    "holiday_name",
    "parse_holidays",
    "parse_no_send_item",
]

HOLIDAY_CALENDARS: tuple[str, ...] = ("fi",)
"""Holiday calendars a process file may name (``holidays: fi | off``)."""

_OFF_WORDS = frozenset({"none", "off", "no", "ei", "pois", "nej", "av", "false"})
_RANGE_RE = re.compile(r"\s*(\d{4}-\d{2}-\d{2})\s*(?:\.\.\s*(\d{4}-\d{2}-\d{2})\s*)?")
_NAME_LANGUAGES = {"fi": "fi", "sv": "sv_FI", "en": "en_US"}


@dataclass(frozen=True, slots=True, order=True)
class DateRange:
    """Local dates ``first``..``last``, both included (one day when they are equal)."""

    first: date
    last: date

    def __str__(self) -> str:
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()}..{self.last.isoformat()}"


def parse_no_send_item(text: str) -> DateRange:
    """``"2027-02-22"`` or ``"2027-02-22..2027-02-26"`` → :class:`DateRange`; ``ValueError`` otherwise."""
    match = _RANGE_RE.fullmatch(text)
    if not match:
        raise ValueError(f"{text!r} is not a date or a range (use 2027-02-22 or 2027-02-22..2027-02-26)")
    first = date.fromisoformat(match[1])
    last = date.fromisoformat(match[2]) if match[2] else first
    if last < first:
        raise ValueError(f"{text!r}: the range ends before it starts")
    return DateRange(first, last)


def format_no_send(ranges: tuple[DateRange, ...]) -> list[str]:
    return [str(item) for item in ranges]


def parse_holidays(text: str) -> str | None:
    """``"fi"`` → ``"fi"``; ``"off"`` → ``None``; anything else is a ``ValueError``."""
    value = text.strip().lower()
    if value in _OFF_WORDS:
        return None
    if value not in HOLIDAY_CALENDARS:
        raise ValueError(f"{text!r} is not a holiday calendar (use fi or off)")
    return value


@cache
def _holiday_dates(country: str, year: int) -> frozenset[date]:
    return frozenset(holiday_data.country_holidays(country.upper(), years=year).keys())


def holiday_name(country: str | None, day: date, lang: str) -> str | None:
    """The holiday's name in ``lang`` (fi, sv, en), or ``None`` if ``day`` is not one."""
    if country is None or day not in _holiday_dates(country, day.year):
        return None
    names = holiday_data.country_holidays(
        country.upper(), years=day.year, language=_NAME_LANGUAGES.get(lang, "en_US")
    )
    return str(names.get(day)) if day in names else None


@dataclass(frozen=True, slots=True)
class ClosedDays:
    """The days nothing goes out on: weekends, a country's public holidays, the process's own dates."""

    skip_weekends: bool = True
    holidays: str | None = "fi"
    no_send: tuple[DateRange, ...] = ()

    @property
    def any(self) -> bool:
        return self.skip_weekends or self.holidays is not None or bool(self.no_send)

    def reason(self, day: date) -> str | None:
        """Why ``day`` is closed: ``"weekend"``, ``"holiday"``, ``"no_send"``, or ``None`` if open."""
        if self.skip_weekends and day.weekday() >= 5:
            return "weekend"
        if self.holidays is not None and day in _holiday_dates(self.holidays, day.year):
            return "holiday"
        for item in self.no_send:
            if item.first <= day <= item.last:
                return "no_send"
        return None

    def is_closed(self, day: date) -> bool:
        return self.reason(day) is not None

    def next_open(self, day: date) -> date:
        """``day`` itself if open, else the first open day after it."""
        for _ in range(3660):
            if not self.is_closed(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no open day within ten years")

    def previous_open(self, day: date) -> date:
        """``day`` itself if open, else the last open day before it."""
        for _ in range(3660):
            if not self.is_closed(day):
                return day
            day -= timedelta(days=1)
        raise ValueError("no open day within ten years")
