"""The reminder rule: which of a programme's automatic reminders are kept, under
``reminders_per_week``.

Used where the programme is stored (:mod:`bot.services.processes`, the outbox's programme
replacement), by the rehearsal and by the message budget, so all three see the same reminders.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.domain.planning import DeliveryPolicy, PlanItem, Planner, plan_reminder

__all__ = ["MAX_PER_WEEK", "MAX_TOTAL", "TOTAL_WEEKS", "kept_reminders"]

MAX_PER_WEEK = 4
MAX_TOTAL = 35
TOTAL_WEEKS = 16
"""The message budget: at most 35 messages per participant over a 16-week process (pro rata
beyond it) and 4 in any local calendar week, for someone who never answers."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def kept_reminders(
    items: Sequence[PlanItem], policy: DeliveryPolicy, *, total_limit: int = MAX_TOTAL
) -> frozenset[str]:
    """The prompts whose automatic reminder stays, under ``reminders_per_week``.

    The programme is planned for someone who joined before it began and never answers; each
    reminder falls in the local calendar week (Monday–Sunday) it would go out in. In time order, a
    reminder is kept while its week has had fewer than ``reminders_per_week`` reminders and fewer
    than :data:`MAX_PER_WEEK` messages in all, and the process fewer than ``total_limit``: so the
    rule itself keeps a programme within the budget as far as reminders can (prompts are never
    dropped; too many of them is a warning). ``reminders_per_week`` off keeps every reminder.
    One decision per process, so every participant, the rehearsal and the budget see the same.
    """
    planner = Planner(items, policy, now=_EPOCH)
    by_id = {item.prompt_id: item for item in items}
    timed: list[tuple[datetime, int, str]] = []
    messages: Counter[tuple[int, int]] = Counter()
    for delivery in planner.plan():
        if delivery.is_planned:
            messages[delivery.due_at.astimezone(policy.tz).isocalendar()[:2]] += 1
        remind_after = by_id[delivery.prompt_id].remind_after
        if not delivery.is_planned or remind_after is None:
            continue
        at = plan_reminder(delivery.due_at, remind_after, delivery.closes_at, policy)
        if at is not None:
            timed.append((at, delivery.order, delivery.prompt_id))
    cap = policy.reminders_per_week
    if cap is None:
        return frozenset(prompt_id for *_, prompt_id in timed)
    kept: set[str] = set()
    per_week: Counter[tuple[int, int]] = Counter()
    total = sum(messages.values())
    for at, _order, prompt_id in sorted(timed):
        week = at.astimezone(policy.tz).isocalendar()[:2]
        if per_week[week] < cap and messages[week] < MAX_PER_WEEK and total < total_limit:
            per_week[week] += 1
            messages[week] += 1
            total += 1
            kept.add(prompt_id)
    return frozenset(kept)
