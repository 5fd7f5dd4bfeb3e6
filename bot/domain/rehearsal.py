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
reminders), plus one who never answers (so every reminder shows), plus one who never answers and
has opted in to ``/pair`` with an answering persona of another organisation, plus the facilitator.
The pair rounds are played as the pair-rounds duty runs them: at
:func:`~bot.domain.pairing.round_times`, pairing with :func:`~bot.domain.pairing.pair_up`; someone
introduced to a pair in a phase's round is not sent that phase's highlights (the dispatcher skips
them the same way). The message budget (:func:`budget`) counts, per participant and local calendar
week, what the bot sends on its own initiative: prompts, reminders, and any kind in
:data:`BUDGET_KINDS`. The facilitator gets the weekly digests and the day-after-workshop nudges to
send /loop (:mod:`bot.domain.loop_nudge`), planned like any prompt.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.domain.loop_nudge import LOOP_NUDGE, loop_nudge_prompts
from bot.domain.pairing import Candidate, pair_up, replaces_highlights, round_times
from bot.domain.planning import (
    DeliveryPolicy,
    PlanItem,
    PlannedDelivery,
    Planner,
    next_allowed,
    plan_item,
    plan_reminder,
    process_policy,
)
from bot.domain.programme.spec import ANSWERABLE_KINDS, ProcessSpec
from bot.domain.reminders import MAX_PER_WEEK, MAX_TOTAL, TOTAL_WEEKS, PairIntroductions, kept_reminders
from bot.domain.timing import weekly_digest_times

__all__ = [
    "BUDGET_KINDS",
    "MAX_PER_WEEK",
    "MAX_TOTAL",
    "PAIR",
    "Budget",
    "Entry",
    "Persona",
    "budget",
    "budget_personas",
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
PAIR = "pair"
"""The ``kind`` of a pair round's message: ``prompt_kind`` ``introduction`` (paired) or
``unpaired`` (nobody of another organisation; with a single organisation, told once), and
``prompt_id`` ``pair-w<N>`` for the round after workshop N."""


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


def _introduction_times(spec: ProcessSpec, policy: DeliveryPolicy) -> dict[int, datetime]:
    """Workshop number → when the introductions of the round after it go out (the pair-rounds
    duty queues them at the round's due time, sent as soon as quiet hours allow)."""
    workshops = [(w.number, w.at_utc) for w in spec.workshops]
    return {
        due.workshop: _minute(next_allowed(due.due, policy))
        for due in round_times(workshops, spec.end_at, policy)
    }


def spec_kept_reminders(spec: ProcessSpec) -> frozenset[str]:
    """Ids of the prompts whose automatic reminder is kept (:func:`bot.domain.reminders.kept_reminders`),
    also for a participant who never answers and is paired in every round."""
    policy = spec_policy(spec)
    pairs = PairIntroductions(
        _introduction_times(spec, policy),
        {prompt.id: prompt.phase for prompt in spec.prompts if prompt.kind == "highlights"},
    )
    return kept_reminders(spec_items(spec), policy, total_limit=total_limit(spec), pairs=pairs)


def start_of(spec: ProcessSpec) -> datetime:
    """When the rehearsal's process is created and its personas have joined: a day before anything,
    including a pre-workshop reminder moved earlier out of a weekend (as the reminder rule assumes)."""
    earliest = datetime(1970, 1, 1, tzinfo=UTC)
    planned = Planner(spec_items(spec), spec_policy(spec), now=earliest).plan()
    first = min(
        [*(d.due_at for d in planned if d.is_planned), *(prompt.due_at for prompt in spec.prompts)],
        default=spec.workshops[0].at_utc,
    )
    return min(first, spec.workshops[0].at_utc) - timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Persona:
    label: str
    organisation: str | None
    role: str | None
    answers: bool = True
    facilitator: bool = False
    pairs: bool = False
    """Opted in to ``/pair``."""


def default_personas(
    spec: ProcessSpec,
    roles: Sequence[tuple[str, str]],
    *,
    silent_label: str,
    facilitator_label: str,
    paired_label: str | None = None,
    count: int | None = None,
) -> list[Persona]:
    """One answering persona per organisation × role (``roles``: code and label), one who never
    answers, and one facilitator. With ``paired_label`` and two organisations or more, also one who
    never answers and opts in to ``/pair`` (of the last organisation), with the first answering
    persona (of the first) opted in too, so the two are paired. With ``count``, that many
    participants: the silent one first, the paired one second (from three on), then the
    organisation × role personas over and over (numbered from their second round)."""
    combos = [(org, code, label) for org in spec.organisations for code, label in roles]
    first_org, (first_code, _) = spec.organisations[0], roles[0]
    silent = Persona(silent_label, first_org, first_code, answers=False)
    can_pair = paired_label is not None and len(spec.organisations) > 1
    total = count if count is not None else len(combos) + 1 + can_pair
    people = [silent] if total > 0 else []
    pairing = can_pair and total > 2
    if pairing and paired_label is not None:
        people.append(Persona(paired_label, spec.organisations[-1], first_code, answers=False, pairs=True))
    for index in range(max(0, total - len(people))):
        org, code, label = combos[index % len(combos)]
        round_no = index // len(combos)
        name = f"{org} · {label}" + (f" {round_no + 1}" if round_no else "")
        people.append(Persona(name, org, code, pairs=pairing and index == 0))
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


@dataclass(frozen=True, slots=True)
class _Programme:
    """What every participant persona is planned from (the bot's planner, once per rehearsal)."""

    policy: DeliveryPolicy
    plan: tuple[PlannedDelivery, ...]
    kinds: dict[str, str]
    phases: dict[str, int]
    remind: dict[str, timedelta | None]
    kept: frozenset[str]


def _pair_rounds(
    spec: ProcessSpec, policy: DeliveryPolicy, personas: Sequence[Persona]
) -> list[tuple[int, Entry]]:
    """The pair-rounds duty, played: each round at its due time pairs the opted-in personas (ids
    in persona order, as joining order numbers memberships); each one paired gets an introduction,
    each one left out is told (with a single organisation, only the first time). With the number
    of the workshop the round follows."""
    opted = {index: p for index, p in enumerate(personas) if p.pairs and not p.facilitator}
    if not opted:
        return []
    organisations = {name: index for index, name in enumerate(spec.organisations)}
    candidates = [
        Candidate(index, organisations.get(p.organisation or ""), p.role) for index, p in opted.items()
    ]
    met: set[frozenset[int]] = set()
    told: set[int] = set()
    entries: list[tuple[int, Entry]] = []
    for workshop, at in sorted(_introduction_times(spec, policy).items()):
        key = f"{PAIR}-w{workshop}"
        made = pair_up(candidates, met)
        for group in made.groups:
            met.update(frozenset((a, b)) for a in group for b in group if a < b)
            entries.extend(
                (workshop, Entry(at, "participant", opted[m], PAIR, "introduction", key)) for m in group
            )
        for m in made.left:
            if not (made.single_organisation and m in told):
                entries.append((workshop, Entry(at, "participant", opted[m], PAIR, "unpaired", key)))
            told.add(m)
    return entries


def _participant(persona: Persona, programme: _Programme, paired: dict[int, datetime]) -> list[Entry]:
    """One participant's prompts, highlights and reminders; ``paired``: workshop → when the persona
    was introduced to a pair in the round after it (that phase's highlights are not sent)."""
    entries: list[Entry] = []
    policy = programme.policy
    for delivery in programme.plan:
        if not delivery.is_planned:
            continue
        kind = programme.kinds[delivery.prompt_id]
        sent = _minute(delivery.due_at)
        if kind == "highlights" and replaces_highlights(
            paired.get(programme.phases[delivery.prompt_id]), sent
        ):
            continue
        what = kind if kind in OWN_MESSAGE_KINDS else "prompt"
        entries.append(Entry(sent, "participant", persona, what, kind, delivery.prompt_id))
        remind_after = programme.remind[delivery.prompt_id]
        if persona.answers or remind_after is None or delivery.prompt_id not in programme.kept:
            continue
        at = plan_reminder(sent, remind_after, delivery.closes_at, policy)
        if at is not None:
            entries.append(Entry(_minute(at), "participant", persona, "reminder", kind, delivery.prompt_id))
    return entries


def _facilitator(spec: ProcessSpec, persona: Persona, policy: DeliveryPolicy, start: datetime) -> list[Entry]:
    """The weekly digests and the loop nudges, planned like prompts."""
    anchors = [w.at_utc for w in spec.workshops] + [spec.end_at]
    nudge_items = [
        plan_item(n.id, kind=n.kind, due_at=n.due_at, closes_at=n.closes_at, order=n.order, anchors=anchors)
        for n in loop_nudge_prompts(spec)
    ]
    entries = [
        Entry(_minute(at), "facilitator", persona, "digest", None, None)
        for at in weekly_digest_times(start, spec.end_at, spec.digest, policy.tz)
    ]
    entries.extend(
        Entry(_minute(d.due_at), "facilitator", persona, LOOP_NUDGE, None, d.prompt_id)
        for d in Planner(nudge_items, policy, now=start).plan()
        if d.is_planned
    )
    return entries


def rehearse(spec: ProcessSpec, personas: Sequence[Persona]) -> list[Entry]:
    """Every message each persona receives, sorted by time (then persona order, then programme)."""
    policy = spec_policy(spec)
    start = start_of(spec)
    items = spec_items(spec)
    programme = _Programme(
        policy,
        Planner(items, policy, now=start).plan(),
        {prompt.id: prompt.kind for prompt in spec.prompts},
        {prompt.id: prompt.phase for prompt in spec.prompts},
        {item.prompt_id: item.remind_after for item in items},
        spec_kept_reminders(spec),
    )
    rounds = _pair_rounds(spec, policy, personas)
    entries: list[Entry] = [entry for _, entry in rounds]
    for persona in personas:
        if persona.facilitator:
            entries.extend(_facilitator(spec, persona, policy, start))
            continue
        paired = {
            workshop: e.at
            for workshop, e in rounds
            if e.persona == persona and e.prompt_kind == "introduction"
        }
        entries.extend(_participant(persona, programme, paired))
    order = {persona: index for index, persona in enumerate(personas)}
    position = {prompt.id: prompt.order for prompt in (*spec.prompts, *loop_nudge_prompts(spec))}
    entries.sort(key=lambda e: (e.at, order[e.persona], position.get(e.prompt_id or "", -1), e.kind))
    return entries


@dataclass(frozen=True)
class Budget:
    """What a participant who never answers receives, per local week (its Monday) and in all: the
    most any of them gets (the one opted in to pairs and the one not)."""

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


def budget_personas(spec: ProcessSpec) -> list[Persona]:
    """Who the budget is rehearsed for: a participant who never answers, and one who never answers
    but has opted in to pairs (paired, with two organisations or more, with an answering one)."""
    first, last = spec.organisations[0], spec.organisations[-1]
    people = [
        Persona("silent", first, "employee", answers=False),
        Persona("silent, pairs", last, "employee", answers=False, pairs=True),
    ]
    if len(spec.organisations) > 1:
        people.append(Persona("answers, pairs", first, "employee", pairs=True))
    return people


def budget(spec: ProcessSpec, entries: Iterable[Entry] | None = None) -> Budget:
    """The message budget of the participants who never answer (rehearsed with
    :func:`budget_personas` if ``entries`` is None): each week and the total, the most any of them
    gets."""
    tz = spec_policy(spec).tz
    if entries is None:
        entries = rehearse(spec, budget_personas(spec))
    counts: dict[Persona, Counter[date]] = {}
    for entry in entries:
        if entry.to != "participant" or entry.persona.answers or entry.kind not in BUDGET_KINDS:
            continue
        local = entry.at.astimezone(tz).date()
        counts.setdefault(entry.persona, Counter())[local - timedelta(days=local.weekday())] += 1
    per_week: Counter[date] = Counter()
    for weeks in counts.values():
        per_week |= weeks
    total = max((sum(weeks.values()) for weeks in counts.values()), default=0)
    return Budget(dict(per_week), total, total_limit(spec))
