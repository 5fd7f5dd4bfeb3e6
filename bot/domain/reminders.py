"""The reminder rule: which of a programme's automatic reminders are kept, under
``reminders_per_week``.

Used where the programme is stored (:mod:`bot.services.processes`, the outbox's programme
replacement), by the rehearsal and by the message budget, so all three see the same reminders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.domain.pairing import replaces_highlights
from bot.domain.planning import DeliveryPolicy, PlanItem, PlannedDelivery, Planner, plan_reminder

__all__ = ["MAX_PER_WEEK", "MAX_TOTAL", "TOTAL_WEEKS", "PairIntroductions", "kept_reminders"]

MAX_PER_WEEK = 4
MAX_TOTAL = 35
TOTAL_WEEKS = 16
"""The message budget: at most 35 messages per participant over a 16-week process (pro rata
beyond it) and 4 in any local calendar week, for someone who never answers."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PairIntroductions:
    """What someone opted in to ``/pair`` and paired in every round gets on top of the programme:
    an introduction per round (workshop number → when it goes out), each replacing the highlights
    of its phase due after it (``highlights``: highlights prompt id → phase)."""

    rounds: Mapping[int, datetime] = field(default_factory=dict)
    highlights: Mapping[str, int] = field(default_factory=dict)


def _week(instant: datetime, policy: DeliveryPolicy) -> tuple[int, int]:
    year, week, _ = instant.astimezone(policy.tz).isocalendar()
    return year, week


def _messages(
    plan: Sequence[PlannedDelivery], policy: DeliveryPolicy, pairs: PairIntroductions | None
) -> Counter[tuple[int, int]]:
    """Messages per local week before reminders: the programme, or with ``pairs`` what a paired
    participant gets (the introductions instead of the highlights they replace)."""
    messages: Counter[tuple[int, int]] = Counter()
    for delivery in plan:
        phase = pairs.highlights.get(delivery.prompt_id) if pairs is not None else None
        if not delivery.is_planned or (
            pairs is not None
            and phase is not None
            and replaces_highlights(pairs.rounds.get(phase), delivery.due_at)
        ):
            continue
        messages[_week(delivery.due_at, policy)] += 1
    for at in pairs.rounds.values() if pairs is not None else ():
        messages[_week(at, policy)] += 1
    return messages


def kept_reminders(
    items: Sequence[PlanItem],
    policy: DeliveryPolicy,
    *,
    total_limit: int = MAX_TOTAL,
    pairs: PairIntroductions | None = None,
) -> frozenset[str]:
    """The prompts whose automatic reminder stays, under ``reminders_per_week``.

    The programme is planned for someone who joined before it began and never answers; each
    reminder falls in the local calendar week (Monday–Sunday) it would go out in. In time order, a
    reminder is kept while its week has had fewer than ``reminders_per_week`` reminders and fewer
    than :data:`MAX_PER_WEEK` messages in all, and the process fewer than ``total_limit``: so the
    rule itself keeps a programme within the budget as far as reminders can (prompts are never
    dropped; too many of them is a warning). With ``pairs``, the same holds for someone who never
    answers and is paired in every round. ``reminders_per_week`` off keeps every reminder.
    One decision per process, so every participant, the rehearsal and the budget see the same.
    """
    planner = Planner(items, policy, now=_EPOCH)
    by_id = {item.prompt_id: item for item in items}
    plan = planner.plan()
    timed: list[tuple[datetime, int, str]] = []
    for delivery in plan:
        remind_after = by_id[delivery.prompt_id].remind_after
        if not delivery.is_planned or remind_after is None:
            continue
        at = plan_reminder(delivery.due_at, remind_after, delivery.closes_at, policy)
        if at is not None:
            timed.append((at, delivery.order, delivery.prompt_id))
    cap = policy.reminders_per_week
    if cap is None:
        return frozenset(prompt_id for *_, prompt_id in timed)
    profiles = [_messages(plan, policy, None)]
    if pairs is not None and pairs.rounds:
        profiles.append(_messages(plan, policy, pairs))
    totals = [sum(messages.values()) for messages in profiles]
    kept: set[str] = set()
    per_week: Counter[tuple[int, int]] = Counter()
    for at, _order, prompt_id in sorted(timed):
        week = _week(at, policy)
        fits = all(
            messages[week] < MAX_PER_WEEK and total < total_limit
            for messages, total in zip(profiles, totals, strict=True)
        )
        if per_week[week] < cap and fits:
            per_week[week] += 1
            for index, messages in enumerate(profiles):
                messages[week] += 1
                totals[index] += 1
            kept.add(prompt_id)
    return frozenset(kept)
