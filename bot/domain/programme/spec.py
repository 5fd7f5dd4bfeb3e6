"""The process as a facilitator wrote it: workshops, settings and the programme, as frozen data.

A :class:`ProcessSpec` comes from :func:`bot.domain.programme.parse_process`; every problem found on
the way is a :class:`FileProblem` with its line, field path and a message code from
:data:`ERROR_PARAMS` (``programme.error.<code>`` in the catalogue).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.domain.calendar import DateRange
from bot.domain.timing import DigestSpec, When
from messages import Catalog, Html, default_catalog

__all__ = [
    "ANSWERABLE_KINDS",
    "ERROR_PARAMS",
    "INFORMING_KINDS",
    "KINDS",
    "MAX_RETENTION_DAYS",
    "WORKSHOP_COUNT",
    "FileProblem",
    "ProcessFileError",
    "ProcessSpec",
    "PromptSpec",
    "WorkshopSpec",
    "erasure_at",
    "problem_text",
]

KINDS: tuple[str, ...] = (
    "reflection",
    "observation",
    "idea",
    "experiment",
    "checkin",
    "reminder",
    "highlights",
)
ANSWERABLE_KINDS: frozenset[str] = frozenset(
    {"reflection", "observation", "idea", "experiment", "checkin", "loop"}
)
"""Kinds a participant answers (and is reminded of); reminders and announcements only inform."""
INFORMING_KINDS: tuple[str, ...] = ("reminder", "announcement", "loop_nudge")
"""Kinds that only inform: a reply to them is not an answer, and they are never "open"."""
WORKSHOP_COUNT = 5
MAX_RETENTION_DAYS = 3650


def erasure_at(end_at: datetime, retention_days: int) -> datetime:
    """When a process's data goes: ``retention_days`` after its end, a stored value beyond the bound
    counting as the bound, and a date past the calendar's end as never (it cannot raise)."""
    days = min(max(int(retention_days), 1), MAX_RETENTION_DAYS)
    try:
        return end_at + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=end_at.tzinfo)


"""Ten years: the longest a process file may keep its data after the end."""

ERROR_PARAMS: Mapping[str, tuple[str, ...]] = {
    "syntax": ("problem",),
    "too_large": ("limit",),
    "too_deep": ("limit",),
    "empty": (),
    "not_mapping": (),
    "not_list": (),
    "not_text": (),
    "not_integer": (),
    "not_boolean": (),
    "unknown_key": ("key", "allowed"),
    "duplicate_key": ("key",),
    "missing": ("key",),
    "unknown_language": ("value",),
    "unknown_timezone": ("value",),
    "workshop_count": ("count",),
    "workshop_order": ("number", "previous"),
    "bad_datetime": ("value",),
    "end_before_workshops": ("end", "workshop"),
    "bad_when": ("value",),
    "unknown_anchor": ("value", "anchor"),
    "when_mixed": ("value",),
    "before_start": ("value", "due", "start"),
    "after_end": ("value", "due", "end"),
    "closes_before_due": ("due", "closes"),
    "reminder_after_close": ("remind_after",),
    "missing_text": ("languages",),
    "duplicate_id": ("id", "first_line"),
    "bad_id": ("value",),
    "bad_phase": ("value",),
    "unknown_kind": ("value", "allowed"),
    "bad_duration": ("value",),
    "not_positive": ("value",),
    "too_small": ("value", "minimum"),
    "too_big": ("value", "maximum"),
    "too_far": ("value",),
    "year_out_of_range": ("value", "first", "last"),
    "invites_after_end": ("value", "end"),
    "too_long": ("length", "limit"),
    "too_many": ("count", "limit"),
    "duplicate_value": ("value",),
    "bad_quiet_hours": ("value",),
    "bad_digest": ("value",),
    "bad_holidays": ("value",),
    "bad_no_send": ("value",),
    "unknown_programme": ("value",),
    "unknown_placeholder": ("name", "allowed"),
    "bad_braces": ("example",),
}
"""Every problem code and the parameters its message uses (``programme.error.<code>``)."""


@dataclass(frozen=True)
class FileProblem:
    """One problem in a process file: 1-based ``line``, a field path (``prompts[3].when``), a code
    from :data:`ERROR_PARAMS` and the values its message needs."""

    line: int
    field: str
    code: str
    params: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)


class ProcessFileError(ValueError):
    """A process file that cannot be used; ``problems`` lists everything wrong with it."""

    def __init__(self, problems: Sequence[FileProblem], source: str = "<upload>") -> None:
        self.problems: tuple[FileProblem, ...] = tuple(sorted(problems, key=lambda p: p.line))
        self.source = source
        super().__init__(self.problems)

    def __str__(self) -> str:
        count = len(self.problems)
        heading = f"{self.source}: {count} problem{'s' if count != 1 else ''} in the process file"
        try:
            catalog = default_catalog()
            lines = [problem_text(catalog, "en", problem, plain=True) for problem in self.problems]
        except (KeyError, ValueError, OSError):
            lines = [f"line {p.line}, {p.field}: {p.code} {dict(p.params)}" for p in self.problems]
        return "\n".join([heading, *(f"  {line}" for line in lines)])


@dataclass(frozen=True)
class WorkshopSpec:
    number: int
    at_local: datetime
    """Naive wall-clock time in the process timezone, as written in the file."""
    at_utc: datetime
    place: str | None = None


@dataclass(frozen=True)
class PromptSpec:
    """One programme item. ``order`` is its position in the programme (chronological by ``due_at``);
    ``due_at`` and ``closes_at`` are aware UTC."""

    id: str
    phase: int
    when: When
    kind: str
    texts: dict[str, str] = dataclasses.field(hash=False)
    options: tuple[dict[str, str], ...] = dataclasses.field(hash=False)
    remind_after: timedelta | None
    closes_after: timedelta | None
    order: int
    due_at: datetime
    closes_at: datetime


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    language: str
    timezone: str
    organisations: tuple[str, ...]
    workshops: tuple[WorkshopSpec, ...]
    end_local: datetime
    end_at: datetime
    quiet_hours: tuple[time, time] | None
    skip_weekends: bool
    daily_cap: int | None
    digest: DigestSpec
    min_group: int
    retention_days: int
    prompts: tuple[PromptSpec, ...]
    omitted_defaults: tuple[str, ...] = dataclasses.field(default=(), compare=False)
    """Ids of default prompts left out because they fell outside this process's time window."""
    holidays: str | None = "fi"
    """The public-holiday calendar (``fi``) or ``None``."""
    no_send: tuple[DateRange, ...] = ()
    reminders_per_week: int | None = 1
    invites_local: datetime | None = None
    """``invites_until:`` as written (local time): the participant link stops working then, if it is
    before the end (the links always stop at the end)."""
    invites_until: datetime | None = None
    """The same in UTC."""

    def prompt(self, prompt_id: str) -> PromptSpec:
        for prompt in self.prompts:
            if prompt.id == prompt_id:
                return prompt
        raise KeyError(prompt_id)


def problem_text(catalog: Catalog, lang: str, problem: FileProblem, *, plain: bool = False) -> str:
    """One problem as a line for the facilitator: ``Rivi 12, kohta workshops[2]: …``.

    Telegram HTML with every value escaped, or with ``plain`` unescaped text (CLI, logs).
    """
    render = catalog.plain if plain else catalog.t
    message = render(lang, f"programme.error.{problem.code}", **dict(problem.params))
    if problem.field:
        return render(
            lang, "programme.error.line", line=problem.line, field=problem.field, problem=Html(message)
        )
    return render(lang, "programme.error.line_only", line=problem.line, problem=Html(message))
