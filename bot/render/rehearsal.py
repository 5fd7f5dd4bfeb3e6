"""The rehearsal as a facilitator reads it: a JSON timeline, a week-by-week calendar in text, the same
calendar as a printable HTML page (Jinja2, autoescape), and the budget warning of an upload.

Pure functions of the catalogue, a language, the process file and the rehearsal's entries
(:mod:`bot.domain.rehearsal`); nothing here decides when anything goes out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from jinja2 import Environment, PackageLoader, StrictUndefined, Template, select_autoescape

from bot.domain.calendar import holiday_name
from bot.domain.process import format_local
from bot.domain.programme.spec import ProcessSpec
from bot.domain.rehearsal import PAIR, Budget, Entry, Persona, budget, rehearse, spec_policy
from messages import Catalog, escape

__all__ = [
    "CalendarView",
    "budget_warning",
    "calendar_html",
    "calendar_text",
    "calendar_view",
    "coming_weeks",
    "persona_labels",
    "timeline_json",
]


def persona_labels(catalog: Catalog, lang: str, organisation: str, role_code: str) -> tuple[str, str]:
    """The label of the silent persona and of the facilitator persona."""
    role = catalog.plain(lang, f"role.{role_code}").lower()
    silent = catalog.plain(lang, "rehearsal.persona.silent", organisation=organisation, role=role)
    return silent, catalog.plain(lang, "rehearsal.persona.facilitator")


def timeline_json(entries: Sequence[Entry], tz: ZoneInfo) -> list[dict[str, Any]]:
    """One object per message, sorted by ``at`` (local time with its offset, to the minute)."""
    return [
        {
            "at": entry.at.astimezone(tz).replace(second=0, microsecond=0).isoformat(timespec="seconds"),
            "to": entry.to,
            "participant": entry.persona.label,
            "organisation": entry.persona.organisation,
            "role": "facilitator" if entry.persona.facilitator else entry.persona.role,
            "kind": entry.kind,
            "prompt_kind": entry.prompt_kind,
            "prompt_id": entry.prompt_id,
        }
        for entry in entries
    ]


def _day(catalog: Catalog, lang: str, day: date, tz: ZoneInfo) -> str:
    return format_local(catalog, lang, datetime.combine(day, time(12), tzinfo=tz), tz, "rehearsal.format.day")


def budget_warning(
    catalog: Catalog, lang: str, spec: ProcessSpec, *, plain: bool = False, chat: bool = False
) -> str | None:
    """The warning (not a refusal) an upload, ``/newprocess`` or ``process create`` shows when the
    programme breaks the message budget, naming each heavy week; ``None`` when it fits. ``chat``
    points to ``/schedule`` rather than the command line."""
    result = budget(spec)
    if not result.heavy_weeks and not result.over_total:
        return None
    render = catalog.plain if plain else catalog.t
    tz = spec_policy(spec).tz
    lines = [render(lang, "budget.title")]
    for monday, count in result.heavy_weeks:
        lines.append(
            render(
                lang,
                "budget.week",
                week=monday.isocalendar()[1],
                first=_day(catalog, lang, monday, tz),
                last=_day(catalog, lang, monday + timedelta(days=6), tz),
                count=count,
                limit=result.week_limit,
            )
        )
    if result.over_total:
        lines.append(render(lang, "budget.total", count=result.total, limit=result.total_limit))
    lines.append(render(lang, "budget.hint_chat" if chat else "budget.hint"))
    return "\n".join(lines)


@dataclass(frozen=True)
class CalendarLine:
    when: str
    what: str
    whom: str


@dataclass(frozen=True)
class CalendarWeek:
    heading: str
    heavy: bool
    closed: str | None
    lines: list[CalendarLine]


@dataclass(frozen=True)
class CalendarView:
    title: str
    intro: str
    weeks: list[CalendarWeek]
    summary: str


def _what(catalog: Catalog, lang: str, entry: Entry) -> str:
    if entry.kind == "prompt":
        kind = catalog.plain(lang, f"prompt.kind.{entry.prompt_kind}")
        return catalog.plain(lang, "rehearsal.kind.prompt", kind=kind, prompt_id=entry.prompt_id)
    if entry.kind == "reminder":
        return catalog.plain(lang, "rehearsal.kind.reminder", prompt_id=entry.prompt_id)
    if entry.kind == PAIR:
        return catalog.plain(lang, f"rehearsal.kind.pair.{entry.prompt_kind}")
    return catalog.plain(lang, f"rehearsal.kind.{entry.kind}")


def _intro(catalog: Catalog, lang: str, tz: ZoneInfo, participants: Sequence[Persona]) -> str:
    silent = next((p for p in participants if not p.answers and not p.pairs), None)
    intro = catalog.plain(
        lang,
        "rehearsal.intro",
        timezone=tz.key,
        count=len(participants),
        silent=silent.label if silent else "—",
    )
    paired = next((p for p in participants if not p.answers and p.pairs), None)
    partners = [p.label for p in participants if p.pairs and p is not paired]
    if paired is None or not partners:
        return intro
    more = catalog.plain(lang, "rehearsal.intro_pairs", paired=paired.label, partner=", ".join(partners))
    return f"{intro} {more}"


def _closed_days(catalog: Catalog, lang: str, spec: ProcessSpec, monday: date, tz: ZoneInfo) -> str | None:
    closed = spec_policy(spec).closed
    names: list[str] = []
    for offset in range(5):
        day = monday + timedelta(days=offset)
        reason = closed.reason(day)
        if reason == "holiday":
            names.append(
                f"{_day(catalog, lang, day, tz)} {holiday_name(spec.holidays, day, lang) or ''}".strip()
            )
        elif reason == "no_send":
            names.append(f"{_day(catalog, lang, day, tz)} {catalog.plain(lang, 'rehearsal.closed.no_send')}")
    return catalog.plain(lang, "rehearsal.closed", days=", ".join(names)) if names else None


def _week_of(entry: Entry, tz: ZoneInfo) -> date:
    local = entry.at.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def calendar_view(
    catalog: Catalog, lang: str, spec: ProcessSpec, entries: Sequence[Entry], personas: Sequence[Persona]
) -> CalendarView:
    """The rehearsal week by week: each message once with who gets it, heavy weeks flagged."""
    tz = spec_policy(spec).tz
    participants = [p for p in personas if not p.facilitator]
    result: Budget = budget(spec, entries)
    grouped: dict[tuple[datetime, str, str | None, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        grouped[(entry.at, entry.kind, entry.prompt_id, entry.to)].append(entry)
    weeks: dict[date, list[CalendarLine]] = defaultdict(list)
    for (at, _kind, _prompt_id, to), same in grouped.items():
        first, who = same[0], [e.persona for e in same]
        if to == "facilitator":
            whom = catalog.plain(lang, "rehearsal.to.facilitators")
        elif len(who) == len(participants):
            whom = catalog.plain(lang, "rehearsal.to.participants")
        else:
            whom = ", ".join(p.label for p in who)
        when = format_local(catalog, lang, at, tz, "rehearsal.format.when")
        weeks[_week_of(first, tz)].append(CalendarLine(when, _what(catalog, lang, first), whom))
    views = []
    for monday in sorted(weeks):
        count = result.per_week.get(monday, 0)
        heavy = count > result.week_limit
        heading = catalog.plain(
            lang,
            "rehearsal.week_heavy" if heavy else "rehearsal.week",
            week=monday.isocalendar()[1],
            first=_day(catalog, lang, monday, tz),
            last=format_date(monday + timedelta(days=6), "d.M.yyyy", locale=lang),
            count=count,
        )
        views.append(
            CalendarWeek(heading, heavy, _closed_days(catalog, lang, spec, monday, tz), weeks[monday])
        )
    answering = next((p for p in participants if p.answers), None)
    answered = sum(1 for e in entries if e.persona == answering and e.to == "participant")
    return CalendarView(
        title=catalog.plain(lang, "rehearsal.title", process=spec.name),
        intro=_intro(catalog, lang, tz, participants),
        weeks=views,
        summary=catalog.plain(
            lang, "rehearsal.summary", total=result.total, limit=result.total_limit, answering=answered
        ),
    )


def calendar_text(view: CalendarView) -> str:
    """The calendar as plain text for a terminal or a file."""
    out = [view.title, "=" * len(view.title), "", view.intro, ""]
    for week in view.weeks:
        out.append(week.heading)
        if week.closed:
            out.append(f"  {week.closed}")
        out.extend(f"  {line.when}  {line.what} → {line.whom}" for line in week.lines)
        out.append("")
    out.append(view.summary)
    return "\n".join(out) + "\n"


@cache
def _template() -> Template:
    environment = Environment(
        loader=PackageLoader("bot.render", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    return environment.get_template("rehearsal.html.j2")


def calendar_html(view: CalendarView, lang: str) -> str:
    """The calendar as one printable HTML page; every value is escaped by the template."""
    return _template().render(view=view, lang=lang)


def coming_weeks(catalog: Catalog, lang: str, spec: ProcessSpec, now: datetime, weeks: int = 3) -> str | None:
    """``/schedule``'s calendar: the rehearsal's weeks from this one on, ``weeks`` of them, as
    Telegram HTML (every value escaped); ``None`` when nothing is left."""
    silent, facilitator = persona_labels(catalog, lang, spec.organisations[0], "employee")
    personas = [
        Persona(silent, spec.organisations[0], "employee", answers=False),
        Persona(spec.organisations[0], spec.organisations[0], "employee"),
        Persona(facilitator, None, None, facilitator=True),
    ]
    tz = spec_policy(spec).tz
    today = now.astimezone(tz).date()
    first = today - timedelta(days=today.weekday())
    last = first + timedelta(weeks=weeks)
    entries = [e for e in rehearse(spec, personas) if e.at >= now and _week_of(e, tz) < last]
    if not entries:
        return None
    view = calendar_view(catalog, lang, spec, entries, personas)
    lines = [catalog.t(lang, "schedule.weeks_title", timezone=tz.key)]
    for week in view.weeks:
        lines.append(f"\n<b>{escape(week.heading)}</b>")
        if week.closed:
            lines.append(f"<i>{escape(week.closed)}</i>")
        lines.extend(
            f"{escape(line.when)} · {escape(line.what)} → {escape(line.whom)}" for line in week.lines
        )
    return "\n".join(lines)
