"""The digest's "resonance across silos": what participants shared that people of *another*
organisation recognised or answered in the period, and how many responses crossed organisations.

Pure: the loader (:func:`bot.services.dialogue_data.resonance_facts`) reads the rows, the digest's
audience attributes the quotes exactly as every other quote (groups under ``min_group`` merged,
anonymous never attributed). Who recognised or answered is never shown, only counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from bot.domain.privacy import Attribution, Member
from bot.domain.text import shorten

__all__ = ["ReactionRow", "Resonance", "ResonanceFacts", "ResonantItem", "SharedRow", "resonance"]

QUOTE_CHARS = 280
ITEMS = 5


class SharedRow(NamedTuple):
    """A visible shared observation of the process."""

    id: int
    membership_id: int
    text: str | None
    media_type: str | None
    theme: str | None
    anonymous: bool
    created_at: datetime


class ReactionRow(NamedTuple):
    """A recognition (``"recognition"``) or a response (``"response"``) in the period, by
    ``membership_id``, about observation ``submission_id``; ``recipient_id`` for responses."""

    submission_id: int
    membership_id: int
    kind: str
    recipient_id: int | None = None


@dataclass(frozen=True)
class ResonanceFacts:
    shared: Sequence[SharedRow] = ()
    shared_in_period: int = 0
    reactions: Sequence[ReactionRow] = ()
    pairs_by_phase: Mapping[int, int] = field(default_factory=dict)
    """How many pairs the pairing rounds made, by phase (all rounds so far): counts, never who."""


@dataclass(frozen=True, slots=True)
class ResonantItem:
    ref: int
    text: str
    media_type: str | None
    theme: str | None
    attribution: Attribution
    recognitions: int
    responses: int
    truncated: bool = False


@dataclass(frozen=True)
class Resonance:
    items: tuple[ResonantItem, ...] = ()
    shared_in_period: int = 0
    recognitions: int = 0
    cross_recognitions: int = 0
    responses: int = 0
    cross_responses: int = 0
    pairs_by_phase: tuple[tuple[int, int], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.shared_in_period or self.recognitions or self.responses or self.pairs_by_phase)


def _crosses(members: Mapping[int, Member], one: int, other: int | None) -> bool:
    first = members.get(one)
    second = members.get(other) if other is not None else None
    if first is None or second is None:
        return False
    return (
        first.organisation is not None
        and second.organisation is not None
        and (first.organisation != second.organisation)
    )


def resonance(
    facts: ResonanceFacts, members: Mapping[int, Member], attribute: Callable[[int, bool], Attribution]
) -> Resonance:
    """Counts of the period and the observations that resonated most across organisations."""
    shared = {row.id: row for row in facts.shared}
    cross_recognised: Counter[int] = Counter()
    cross_answered: Counter[int] = Counter()
    recognitions = responses = cross_responses = 0
    for reaction in facts.reactions:
        row = shared.get(reaction.submission_id)
        if reaction.kind == "recognition":
            recognitions += 1
            if row is not None and _crosses(members, reaction.membership_id, row.membership_id):
                cross_recognised[row.id] += 1
        else:
            responses += 1
            if _crosses(members, reaction.membership_id, reaction.recipient_id):
                cross_responses += 1
                if row is not None and reaction.membership_id != row.membership_id:
                    cross_answered[row.id] += 1
    ranked = sorted(
        set(cross_recognised) | set(cross_answered),
        key=lambda ref: (-(cross_recognised[ref] + cross_answered[ref]), -shared[ref].created_at.timestamp()),
    )
    items = tuple(
        ResonantItem(
            ref=ref,
            text=shorten(shared[ref].text, QUOTE_CHARS),
            media_type=shared[ref].media_type,
            theme=shared[ref].theme,
            attribution=attribute(shared[ref].membership_id, shared[ref].anonymous),
            recognitions=cross_recognised[ref],
            responses=cross_answered[ref],
            truncated=len(shared[ref].text or "") > QUOTE_CHARS,
        )
        for ref in ranked[:ITEMS]
    )
    return Resonance(
        items=items,
        shared_in_period=facts.shared_in_period,
        recognitions=recognitions,
        cross_recognitions=sum(cross_recognised.values()),
        responses=responses,
        cross_responses=cross_responses,
        pairs_by_phase=tuple(sorted((p, n) for p, n in facts.pairs_by_phase.items() if n)),
    )
