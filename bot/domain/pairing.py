"""Pairs across organisations: who is paired with whom in a round, and when a round is due.

Pure. A round pairs the opted-in participants of a process so that every pair crosses
organisations; among those it prefers people not paired together before, then pairs that mix
management and other roles. An odd one out joins a pair as a trio. Written here rather than with a
matching library: the groups are small (tens of people), the rules are few, and the result must be
the same on every run for the same input (ties go to the lower membership id).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.domain.planning import DeliveryPolicy
from bot.domain.timing import at_local

__all__ = ["Candidate", "Round", "RoundTime", "pair_up", "replaces_highlights", "round_due", "round_times"]

WORKING_DAYS_AFTER = 2
FRESH = 100
MIXED = 10


@dataclass(frozen=True, slots=True)
class Candidate:
    membership_id: int
    organisation_id: int | None
    role: str | None


@dataclass(frozen=True, slots=True)
class Round:
    groups: tuple[tuple[int, ...], ...]
    """Pairs (and at most one trio), membership ids in ascending order."""
    left: tuple[int, ...]
    """Nobody of another organisation was free for them."""
    single_organisation: bool
    """Everyone opted in belongs to one organisation (or none): nobody was paired."""


def round_due(workshop_starts: datetime, policy: DeliveryPolicy) -> datetime:
    """The start of the sending day on the second working (open) day after the workshop's day."""
    day: date = workshop_starts.astimezone(policy.tz).date()
    for _ in range(WORKING_DAYS_AFTER):
        day = policy.closed.next_open(day + timedelta(days=1))
    return at_local(day, policy.day_start, policy.tz)


@dataclass(frozen=True, slots=True)
class RoundTime:
    """When the round after workshop ``workshop`` is due, and until when it may still run."""

    workshop: int
    due: datetime
    until: datetime


def round_times(
    workshops: Iterable[tuple[int, datetime]], end: datetime, policy: DeliveryPolicy
) -> list[RoundTime]:
    """The rounds of a process (workshop number and start, in order; ``end`` of the process): each
    from :func:`round_due` until the next workshop (or the end), those whose window is not empty.
    The pair-rounds duty runs a round inside its window; the rehearsal plays it at ``due``."""
    ordered = sorted(workshops)
    times = []
    for index, (number, starts) in enumerate(ordered):
        until = ordered[index + 1][1] if index + 1 < len(ordered) else end
        due = round_due(starts, policy)
        if due < until:
            times.append(RoundTime(number, due, until))
    return times


def replaces_highlights(introduced_at: datetime | None, highlights_at: datetime) -> bool:
    """One cross-organisation message a phase: someone introduced to a pair in a phase's round
    (``introduced_at``; None: not paired in it) is not sent that phase's highlights, due at
    ``highlights_at``, after the introduction (they meet the others through the pair; ``/shared``
    still shows everything). The dispatcher asks whether the pair exists when the highlights are due."""
    return introduced_at is not None and introduced_at <= highlights_at


def _score(a: Candidate, b: Candidate, met: Collection[frozenset[int]]) -> int | None:
    if a.organisation_id is None or b.organisation_id is None or a.organisation_id == b.organisation_id:
        return None
    score = 0 if frozenset((a.membership_id, b.membership_id)) in met else FRESH
    if (a.role == "management") != (b.role == "management"):
        score += MIXED
    return score


def _best(
    person: Candidate, others: Sequence[Candidate], met: Collection[frozenset[int]]
) -> Candidate | None:
    scored = [(s, -o.membership_id, o) for o in others if (s := _score(person, o, met)) is not None]
    return max(scored, key=lambda item: (item[0], item[1]))[2] if scored else None


def pair_up(candidates: Sequence[Candidate], met: Collection[frozenset[int]]) -> Round:
    """The groups of one round; ``met`` holds every two people who were in a group before."""
    people = sorted(candidates, key=lambda c: c.membership_id)
    organisations = {c.organisation_id for c in people if c.organisation_id is not None}
    if len(organisations) < 2:
        return Round((), tuple(c.membership_id for c in people), single_organisation=True)
    free = list(people)
    groups: list[list[Candidate]] = []
    left: list[Candidate] = []
    while free:

        def options(person: Candidate) -> tuple[int, int, int]:
            scores = [s for o in free if o is not person and (s := _score(person, o, met)) is not None]
            fresh = sum(1 for s in scores if s >= FRESH)
            return (fresh, len(scores), person.membership_id)

        # The one with the fewest choices first, so nobody is left with only old partners needlessly.
        person = min(free, key=options)
        free.remove(person)
        partner = _best(person, free, met)
        if partner is None:
            left.append(person)
            continue
        free.remove(partner)
        groups.append([person, partner])
    if left and groups:
        # One odd one out joins the pair where they are new and cross most; the others wait.
        extra = left.pop(0)

        def fit(group: list[Candidate]) -> tuple[int, int]:
            scores = [_score(extra, member, met) for member in group]
            return (sum(s for s in scores if s is not None), sum(1 for s in scores if s is not None))

        max(groups, key=fit).append(extra)
    return Round(
        tuple(tuple(sorted(c.membership_id for c in group)) for group in groups),
        tuple(sorted(c.membership_id for c in left)),
        single_organisation=False,
    )
