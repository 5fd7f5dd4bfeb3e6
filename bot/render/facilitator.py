"""What a facilitator reads: the process overview, the schedule, the roster, programme problems.

Pure functions of the message catalogue, a language and the read models of the facilitator views;
the handlers add buttons and send.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.process import ProcessFacts, format_local
from bot.domain.programme import ProcessFileError, problem_text
from bot.render.prompt import AD_HOC_KINDS, KIND_ICONS, prompt_snippet
from messages import Catalog, Html

if TYPE_CHECKING:
    # The read models only, for annotations: rendering never runs a query.
    from bot.services.facilitator_views import MemberLine, Overview, Roster, Upcoming
    from bot.services.outbox import NudgeTarget

SCHEDULE_PAGE = 8
RATE_SNIPPET = 48
LIST_LIMIT = 20
MAX_PROBLEMS = 25
NUDGE_CHOICES = 6
MESSAGE_BUDGET = 4000
"""Characters of HTML that safely fit in one Telegram message (4096 after parsing)."""
WHEN = "facilitator.format.when"
ROLE_ORDER = {"management": 0, "employee": 1, "elected": 2, "association": 3, "other": 4}


def role_label(catalog: Catalog, lang: str, role: str | None) -> str:
    return catalog.plain(lang, f"role.{role or 'other'}")


def render_roster_lines(catalog: Catalog, lang: str, roster: Roster) -> list[str]:
    lines: list[str] = []
    organisations = list(roster.organisations) + sorted(
        {org for org, _ in roster.groups} - set(roster.organisations)
    )
    for organisation in organisations:
        roles = [(role, count) for (org, role), count in roster.groups.items() if org == organisation]
        total = sum(count for _, count in roles)
        if not total:
            continue
        roles.sort(key=lambda pair: ROLE_ORDER.get(pair[0], 9))
        parts = ", ".join(
            catalog.plain(lang, "facilitator.role_count", role=role_label(catalog, lang, role), count=count)
            for role, count in roles
        )
        lines.append(
            catalog.t(lang, "facilitator.org_line", organisation=organisation, count=total, roles=parts)
        )
    return lines


def member_label(catalog: Catalog, lang: str, line: MemberLine) -> str:
    if line.name:
        return line.name
    return catalog.plain(
        lang,
        "facilitator.member_unnamed",
        organisation=line.organisation or "—",
        role=role_label(catalog, lang, line.role),
    )


def _phase_section(catalog: Catalog, lang: str, data: Overview) -> str:
    facts = data.facts
    phase_line = catalog.t(
        lang,
        "process.phase",
        phase=data.phase,
        phase_name=catalog.plain(lang, f"prompt.phase.{data.phase}"),
    )
    end = format_local(catalog, lang, facts.end_at, facts.tz, WHEN)
    if data.ended:
        return catalog.t(lang, "process.ended", end=end)
    if data.next_workshop is None:
        return phase_line + "\n" + catalog.t(lang, "process.no_more_workshops", end=end)
    workshop = data.next_workshop
    return (
        phase_line
        + "\n"
        + catalog.t(
            lang,
            "process.next_workshop",
            number=workshop.number,
            when=format_local(catalog, lang, workshop.starts_at, facts.tz, "programme.format.workshop_time"),
            place=workshop.place or catalog.plain(lang, "programme.place.unknown"),
        )
    )


def _people_section(catalog: Catalog, lang: str, roster: Roster) -> str:
    people = [catalog.tn(lang, "process.participants", roster.participants)]
    people += render_roster_lines(catalog, lang, roster)
    if roster.paused or roster.incomplete:
        people.append(
            catalog.t(lang, "process.paused_incomplete", paused=roster.paused, incomplete=roster.incomplete)
        )
    return "\n".join(people)


def _unreachable_section(catalog: Catalog, lang: str, roster: Roster) -> str:
    lines = [catalog.t(lang, "process.unreachable", count=len(roster.unreachable))]
    lines += [
        catalog.t(lang, "process.list_line", item=member_label(catalog, lang, line))
        for line in roster.unreachable[:LIST_LIMIT]
    ]
    if len(roster.unreachable) > LIST_LIMIT:
        lines.append(catalog.tn(lang, "facilitator.and_more", len(roster.unreachable) - LIST_LIMIT))
    return "\n".join(lines)


def _rates_section(catalog: Catalog, lang: str, data: Overview) -> str:
    if not data.rates:
        return catalog.t(lang, "process.rates_none")
    facts = data.facts
    lines = [catalog.t(lang, "process.rates")]
    for rate in data.rates:
        lines.append(
            catalog.t(
                lang,
                "process.rate_line",
                when=format_local(catalog, lang, rate.last_sent, facts.tz, WHEN),
                prompt=prompt_snippet(catalog, lang, rate.prompt, facts, RATE_SNIPPET),
                answered=rate.answered,
                sent=rate.sent,
                percent=rate.percent,
            )
        )
    return "\n".join(lines)


def render_overview(catalog: Catalog, lang: str, data: Overview) -> str:
    """/process: phase and next workshop, who takes part, who cannot be reached, answer rates."""
    parts = [
        catalog.t(lang, "process.title", process=data.facts.name),
        _phase_section(catalog, lang, data),
        _people_section(catalog, lang, data.roster),
    ]
    if data.roster.unreachable:
        parts.append(_unreachable_section(catalog, lang, data.roster))
    parts.append(_rates_section(catalog, lang, data))
    return "\n\n".join(parts)


@dataclass(frozen=True)
class SchedulePage:
    text: str
    rest: int
    """How many upcoming prompts come after this page."""
    next_offset: int


def render_schedule(
    catalog: Catalog, lang: str, facts: ProcessFacts, items: Sequence[Upcoming], offset: int
) -> SchedulePage:
    """/schedule: one page of what goes out next, from ``offset``."""
    page = items[offset : offset + SCHEDULE_PAGE]
    if not page:
        return SchedulePage(catalog.t(lang, "schedule.empty"), 0, offset)
    lines = [catalog.t(lang, "schedule.title", timezone=facts.tz.key)]
    for item in page:
        prompt = item.prompt
        kind = catalog.plain(lang, f"prompt.kind.{prompt.kind}")
        label = (
            kind
            if prompt.kind in AD_HOC_KINDS
            else catalog.plain(lang, "schedule.phase_kind", phase=prompt.phase, kind=kind)
        )
        lines.append(
            catalog.tn(
                lang,
                "schedule.line",
                item.recipients,
                when=format_local(catalog, lang, item.at, facts.tz, WHEN),
                icon=KIND_ICONS.get(prompt.kind, "📣"),
                label=label,
                prompt=prompt_snippet(catalog, lang, prompt, facts, 90),
            )
        )
    rest = len(items) - offset - len(page)
    return SchedulePage("\n\n".join(lines), max(rest, 0), offset + SCHEDULE_PAGE)


def render_participants(catalog: Catalog, lang: str, process_name: str, link: str, roster: Roster) -> str:
    """/participants: counts by organisation and role, and the names of those who allowed it."""
    if not roster.participants and not roster.incomplete:
        return catalog.t(lang, "participants.none", process=process_name, link=link)
    parts = [
        catalog.tn(
            lang,
            "participants.title",
            roster.participants,
            process=process_name,
            paused=roster.paused,
            unreachable=len(roster.unreachable),
            incomplete=roster.incomplete,
        ),
        "\n".join(render_roster_lines(catalog, lang, roster)),
    ]
    if roster.named:
        lines = [catalog.t(lang, "participants.named")]
        for organisation, names in roster.named.items():
            shown = ", ".join(names[:LIST_LIMIT])
            if len(names) > LIST_LIMIT:
                shown += " " + catalog.plain_n(lang, "facilitator.and_more", len(names) - LIST_LIMIT)
            lines.append(catalog.t(lang, "participants.named_line", organisation=organisation, names=shown))
        parts.append("\n".join(lines))
    parts.append(catalog.t(lang, "participants.privacy"))
    return "\n\n".join(part for part in parts if part)


def problems_text(catalog: Catalog, lang: str, error: ProcessFileError) -> str:
    """Every problem with its line and field, as many as fit in one message, then how many more."""
    rendered = [
        catalog.t(lang, "process.list_line", item=Html(problem_text(catalog, lang, p)))
        for p in error.problems
    ]
    shown = min(len(rendered), MAX_PROBLEMS)
    while True:
        lines = rendered[:shown]
        if shown < len(rendered):
            lines.append(catalog.tn(lang, "facilitator.and_more", len(rendered) - shown))
        text = catalog.t(lang, "programme_chat.invalid", problems=Html("\n".join(lines)))
        if len(text) <= MESSAGE_BUDGET or shown <= 1:
            return text
        shown //= 2


@dataclass(frozen=True)
class NudgeChoice:
    prompt_id: int
    label: str


@dataclass(frozen=True)
class NudgeList:
    text: str
    choices: tuple[NudgeChoice, ...]
    """One button per prompt someone can still be reminded of."""


def render_nudge_list(
    catalog: Catalog, lang: str, facts: ProcessFacts, targets: Sequence[NudgeTarget]
) -> NudgeList:
    """/nudge: the open prompts with their answer counts, and which of them can be reminded of."""
    lines = [catalog.t(lang, "nudge.title")]
    choices: list[NudgeChoice] = []
    for target in targets[:NUDGE_CHOICES]:
        lines.append(
            catalog.t(
                lang,
                "nudge.line",
                prompt=prompt_snippet(catalog, lang, target.prompt, facts, 70),
                answered=target.answered,
                sent=target.sent,
                remindable=target.remindable,
            )
        )
        if target.remindable:
            label = catalog.plain(
                lang,
                "nudge.button",
                prompt=prompt_snippet(catalog, lang, target.prompt, facts, 28),
                count=target.remindable,
            )
            choices.append(NudgeChoice(target.prompt.id, label))
    if not choices:
        lines.append(catalog.t(lang, "nudge.nobody"))
    return NudgeList("\n\n".join(lines), tuple(choices))
