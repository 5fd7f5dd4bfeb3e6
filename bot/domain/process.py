"""A process as its prompts see it: the phase of a date and the values of the text placeholders.

These are the one definition of "which phase is running" and of what ``{workshop_time}`` and the
other placeholders mean; the programme file, the outbox, the prompt renderer and the digest all use
them. Values come from the process as the database holds it when a prompt is sent (workshops may
have moved since the programme was written).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from messages import LANGUAGES, Catalog

__all__ = [
    "PLACEHOLDERS",
    "ProcessFacts",
    "WorkshopFact",
    "format_local",
    "phase_at",
    "placeholder_values",
]

PLACEHOLDERS: frozenset[str] = frozenset(
    {"workshop_number", "workshop_time", "workshop_place", "end_date", "erase_date", "process_name"}
)
"""Placeholders a prompt text may use; :func:`placeholder_values` gives their values."""


def phase_at(workshop_starts: Iterable[datetime], when: datetime) -> int:
    """The phase running at ``when``: how many workshops have started by then, so 0 before
    workshop 1, 1 from workshop 1 until workshop 2, …, 5 from workshop 5 on (and after the end)."""
    return sum(1 for starts_at in workshop_starts if starts_at <= when)


@dataclass(frozen=True)
class WorkshopFact:
    number: int
    starts_at: datetime
    place: str | None


@dataclass(frozen=True)
class ProcessFacts:
    """What placeholders and headers need to know about a process, read once per batch."""

    name: str
    language: str
    tz: ZoneInfo
    end_at: datetime
    workshops: tuple[WorkshopFact, ...]
    erase_at: datetime | None = None
    """When the process's data is erased (its end plus the retention days); None: not known here."""

    @property
    def workshop_starts(self) -> tuple[datetime, ...]:
        return tuple(workshop.starts_at for workshop in self.workshops)

    def next_workshop(self, instant: datetime) -> WorkshopFact | None:
        return next((w for w in self.workshops if w.starts_at > instant), None)


def _locale(lang: str) -> str:
    return lang if lang in LANGUAGES else "fi"


def format_local(catalog: Catalog, lang: str, instant: datetime, tz: ZoneInfo, key: str) -> str:
    """An instant as local wall time in ``tz`` with the Babel pattern stored under ``key``."""
    locale = _locale(lang)
    local = instant.astimezone(tz).replace(tzinfo=None)
    return format_datetime(local, catalog.raw(locale, key), locale=locale)


def placeholder_values(catalog: Catalog, lang: str, facts: ProcessFacts, at: datetime) -> dict[str, str]:
    """Values of :data:`PLACEHOLDERS` in ``lang``: ``{workshop_*}`` describe the workshop after
    ``at`` (or workshop 5 when all are past), ``{end_date}`` is the local date the process ends,
    ``{erase_date}`` the local date its data is erased, ``{process_name}`` its name."""
    locale = _locale(lang)
    workshop = facts.next_workshop(at) or (facts.workshops[-1] if facts.workshops else None)
    date_format = catalog.raw(locale, "programme.format.end_date")
    values = {
        "process_name": facts.name,
        "end_date": format_date(facts.end_at.astimezone(facts.tz).date(), date_format, locale=locale),
        "erase_date": format_date(
            (facts.erase_at or facts.end_at).astimezone(facts.tz).date(), date_format, locale=locale
        ),
        "workshop_number": "",
        "workshop_time": "",
        "workshop_place": catalog.plain(locale, "programme.place.unknown"),
    }
    if workshop is not None:
        values["workshop_number"] = str(workshop.number)
        values["workshop_time"] = format_local(
            catalog, locale, workshop.starts_at, facts.tz, "programme.format.workshop_time"
        )
        values["workshop_place"] = workshop.place or values["workshop_place"]
    return values
