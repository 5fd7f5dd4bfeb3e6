"""The rehearsal: a whole process played on a virtual clock, before anyone has joined.

Nothing here is a second calculation. A process file's settings become a
:class:`~bot.domain.planning.DeliveryPolicy` through :func:`~bot.domain.planning.process_policy`
(the function the bot uses on a stored process), its prompts become
:class:`~bot.domain.planning.PlanItem` through :func:`~bot.domain.planning.plan_item`, the
:class:`~bot.domain.planning.Planner` decides when each persona gets each prompt, reminders are timed
by :func:`~bot.domain.planning.plan_reminder` from the minute the prompt goes out (as the dispatcher
does) for the prompts :func:`~bot.domain.reminders.kept_reminders` keeps, and the facilitators' weekly
digests follow :func:`~bot.domain.timing.weekly_digest_times` (as the digest job does).

Personas: one per organisation × role who answers each prompt the same day (so gets no
reminders), plus one who never answers (so every reminder shows), plus the facilitator. The
message budget (:func:`budget`) counts, per participant and local calendar week, what the bot sends
on its own initiative: prompts, reminders, and any kind in :data:`BUDGET_KINDS`. The facilitator
gets the weekly digests and the day-after-workshop nudges to send /loop
(:mod:`bot.domain.loop_nudge`), planned like any prompt.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.domain.loop_nudge import LOOP_NUDGE, loop_nudge_prompts
from bot.domain.planning import (
    DeliveryPolicy,
    PlanItem,
    Planner,
    plan_item,
    plan_reminder,
    process_policy,
)
from bot.domain.programme.spec import ANSWERABLE_KINDS, ProcessSpec
from bot.domain.reminders import MAX_PER_WEEK, MAX_TOTAL, TOTAL_WEEKS, kept_reminders
from bot.domain.timing import weekly_digest_times

__all__ = [
    "BUDGET_KINDS",
    "MAX_PER_WEEK",
    "MAX_TOTAL",
    "Budget",
    "Entry",
    "Persona",
    "budget",
    "default_personas",
    "rehearse",
    "spec_items",
    "spec_kept_reminders",
    "spec_policy",
    "start_of",
    "total_limit",
]

BUDGET_KINDS: frozenset[str] = frozenset({"prompt", "reminder", "highlights", "pair"})
"""What counts against the budget: what the bot sends a participant on its own initiative (not
acknowledgements, relayed responses or announcements). ``highlights`` and ``pair`` introductions
count as soon as a programme produces them."""
OWN_MESSAGE_KINDS: frozenset[str] = frozenset({"highlights"})
"""Programme kinds that are a message of their own in the timeline (``kind`` is the kind itself)."""


@dataclass(frozen=True, slots=True)
class _SpecSettings:
    """A process file's delivery settings under the names a stored ``Process`` has."""

    timezone: str
    quiet_start: str | None
    quiet_end: str | None
    skip_weekends: bool
    daily_cap: int | None
    holidays: str | None
    no_send: list[str]
    reminders_per_week: int | None


def spec_policy(spec: ProcessSpec) -> DeliveryPolicy:
    """The policy the bot will use for this process once it is stored (same function, same fields)."""
    quiet = spec.quiet_hours
    return process_policy(
        _SpecSettings(
            timezone=spec.timezone,
            quiet_start=quiet[0].strftime("%H:%M") if quiet else None,
            quiet_end=quiet[1].strftime("%H:%M") if quiet else None,
            skip_weekends=spec.skip_weekends,
            daily_cap=spec.daily_cap,
            holidays=spec.holidays,
            no_send=[str(item) for item in spec.no_send],
            reminders_per_week=spec.reminders_per_week,
        )
    )


def spec_items(spec: ProcessSpec) -> list[PlanItem]:
    """The programme as the planner sees it, keyed by prompt id."""
    anchors = [w.at_utc for w in spec.workshops] + [spec.end_at]
    return [
        plan_item(
            prompt.id,
            kind=prompt.kind,
            due_at=prompt.due_at,
            closes_at=prompt.closes_at,
            order=prompt.order,
            anchors=anchors,
            remind_after=prompt.remind_after if prompt.kind in ANSWERABLE_KINDS else None,
        )
        for prompt in spec.prompts
    ]


def total_limit(spec: ProcessSpec) -> int:
    """The budget's total for this process: 35 over 16 weeks, pro rata for a longer one."""
    weeks = math.ceil((spec.end_at - spec.workshops[0].at_utc) / timedelta(weeks=1))
    return max(MAX_TOTAL, math.ceil(MAX_TOTAL * weeks / TOTAL_WEEKS))


def spec_kept_reminders(spec: ProcessSpec) -> frozenset[str]:
    """Ids of the prompts whose automatic reminder is kept (:func:`bot.domain.reminders.kept_reminders`)."""
    return kept_reminders(spec_items(spec), spec_policy(spec), total_limit=total_limit(spec))


def start_of(spec: ProcessSpec) -> datetime:
    """When the rehearsal's process is created and its personas have joined: before anything."""
    first = min((prompt.due_at for prompt in spec.prompts), default=spec.workshops[0].at_utc)
    return min(first, spec.workshops[0].at_utc) - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Persona:
    label: str
    organisation: str | None
    role: str | None
    answers: bool = True
    facilitator: bool = False


def default_personas(
    spec: ProcessSpec,
    roles: Sequence[tuple[str, str]],
    *,
    silent_label: str,
    facilitator_label: str,
    count: int | None = None,
) -> list[Persona]:
    """One answering persona per organisation × role (``roles``: code and label), one who never
    answers, and one facilitator. With ``count``, that many participants: the silent one first,
    then the organisation × role pairs over and over (numbered from their second round)."""
    pairs = [(org, code, label) for org in spec.organisations for code, label in roles]
    first_org, (first_code, _) = spec.organisations[0], roles[0]
    silent = Persona(silent_label, first_org, first_code, answers=False)
    total = count if count is not None else len(pairs) + 1
    people = [silent] if total > 0 else []
    for index in range(max(0, total - 1)):
        org, code, label = pairs[index % len(pairs)]
        round_no = index // len(pairs)
        name = f"{org} · {label}" + (f" {round_no + 1}" if round_no else "")
        people.append(Persona(name, org, code))
    return [*people, Persona(facilitator_label, None, None, facilitator=True)]


@dataclass(frozen=True, slots=True)
class Entry:
    """One message in the rehearsal: ``at`` is the planned minute (aware UTC), ``kind`` what the
    message is (``prompt``, ``reminder``, ``digest``, …), ``prompt_kind`` the programme kind."""

    at: datetime
    to: str
    persona: Persona
    kind: str
    prompt_kind: str | None
    prompt_id: str | None


def _minute(instant: datetime) -> datetime:
    return instant.replace(second=0, microsecond=0)


def rehearse(spec: ProcessSpec, personas: Sequence[Persona]) -> list[Entry]:
    """Every message each persona receives, sorted by time (then persona order, then programme)."""
    policy = spec_policy(spec)
    start = start_of(spec)
    items = spec_items(spec)
    kinds = {prompt.id: prompt.kind for prompt in spec.prompts}
    remind = {item.prompt_id: item.remind_after for item in items}
    kept = kept_reminders(items, policy, total_limit=total_limit(spec))
    plan = Planner(items, policy, now=start).plan()
    order = {persona: index for index, persona in enumerate(personas)}
    nudges = loop_nudge_prompts(spec)
    anchors = [w.at_utc for w in spec.workshops] + [spec.end_at]
    nudge_items = [
        plan_item(n.id, kind=n.kind, due_at=n.due_at, closes_at=n.closes_at, order=n.order, anchors=anchors)
        for n in nudges
    ]
    nudge_plan = Planner(nudge_items, policy, now=start).plan()
    entries: list[Entry] = []
    for persona in personas:
        if persona.facilitator:
            entries.extend(
                Entry(_minute(at), "facilitator", persona, "digest", None, None)
                for at in weekly_digest_times(start, spec.end_at, spec.digest, policy.tz)
            )
            entries.extend(
                Entry(_minute(d.due_at), "facilitator", persona, LOOP_NUDGE, None, d.prompt_id)
                for d in nudge_plan
                if d.is_planned
            )
            continue
        for delivery in plan:
            if not delivery.is_planned:
                continue
            kind = kinds[delivery.prompt_id]
            sent = _minute(delivery.due_at)
            what = kind if kind in OWN_MESSAGE_KINDS else "prompt"
            entries.append(Entry(sent, "participant", persona, what, kind, delivery.prompt_id))
            remind_after = remind[delivery.prompt_id]
            if persona.answers or remind_after is None or delivery.prompt_id not in kept:
                continue
            at = plan_reminder(sent, remind_after, delivery.closes_at, policy)
            if at is not None:
                entries.append(
                    Entry(_minute(at), "participant", persona, "reminder", kind, delivery.prompt_id)
                )
    position = {prompt.id: prompt.order for prompt in (*spec.prompts, *nudges)}
    entries.sort(key=lambda e: (e.at, order[e.persona], position.get(e.prompt_id or "", -1), e.kind))
    return entries


@dataclass(frozen=True)
class Budget:
    """What one participant who never answers receives: per local week (its Monday) and in all."""

    per_week: dict[date, int]
    total: int
    total_limit: int
    week_limit: int = MAX_PER_WEEK

    @property
    def heavy_weeks(self) -> list[tuple[date, int]]:
        return [(monday, count) for monday, count in sorted(self.per_week.items()) if count > self.week_limit]

    @property
    def over_total(self) -> bool:
        return self.total > self.total_limit


def budget(spec: ProcessSpec, entries: Iterable[Entry] | None = None) -> Budget:
    """The message budget of the participant who never answers (rehearsed if ``entries`` is None)."""
    tz = spec_policy(spec).tz
    if entries is None:
        silent = Persona("silent", None, None, answers=False)
        entries = rehearse(spec, [silent])
    per_week: Counter[date] = Counter()
    for entry in entries:
        if entry.to != "participant" or entry.persona.answers or entry.kind not in BUDGET_KINDS:
            continue
        local = entry.at.astimezone(tz).date()
        per_week[local - timedelta(days=local.weekday())] += 1
    return Budget(dict(per_week), sum(per_week.values()), total_limit(spec))
