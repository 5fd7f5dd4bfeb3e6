"""Planning deliveries: quiet hours, weekends, late joiners, the daily cap, reminders; the delivery
policy of a process, who receives prompts, and the outbox rows a plan inserts, moves or expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.domain.planning import (
    DeliveryPolicy,
    ExistingDelivery,
    PlanInput,
    PlanItem,
    Planner,
    PlanResult,
    is_eligible,
    next_allowed,
    plan_changes,
    plan_reminder,
    process_policy,
)
from bot.domain.states import DeliveryState
from bot.domain.timing import to_utc

HELSINKI = ZoneInfo("Europe/Helsinki")
JOINED = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given as Helsinki wall time (first occurrence if ambiguous)."""
    return to_utc(datetime(year, month, day, hour, minute), HELSINKI)


def wall(instant: datetime) -> datetime:
    """The naive Helsinki wall time of an instant."""
    return instant.astimezone(HELSINKI).replace(tzinfo=None)


def policy(
    *,
    quiet_start: time | None = time(20, 0),
    quiet_end: time | None = time(8, 0),
    skip_weekends: bool = False,
    daily_cap: int | None = None,
) -> DeliveryPolicy:
    return DeliveryPolicy(HELSINKI, quiet_start, quiet_end, skip_weekends, daily_cap)


def test_quiet_hours_move_evening_prompt_to_next_morning() -> None:
    assert wall(next_allowed(local(2027, 2, 3, 21, 30), policy())) == datetime(2027, 2, 4, 8, 0)


def test_quiet_hours_move_early_morning_prompt_to_the_same_morning() -> None:
    assert wall(next_allowed(local(2027, 2, 3, 6, 0), policy())) == datetime(2027, 2, 3, 8, 0)


def test_quiet_hours_start_is_quiet_and_end_is_not() -> None:
    assert wall(next_allowed(local(2027, 2, 3, 20, 0), policy())) == datetime(2027, 2, 4, 8, 0)
    assert wall(next_allowed(local(2027, 2, 3, 8, 0), policy())) == datetime(2027, 2, 3, 8, 0)
    assert wall(next_allowed(local(2027, 2, 3, 19, 59), policy())) == datetime(2027, 2, 3, 19, 59)


def test_quiet_hours_within_one_day_move_to_their_end() -> None:
    lunch = policy(quiet_start=time(11, 30), quiet_end=time(12, 30))
    assert wall(next_allowed(local(2027, 2, 3, 12, 0), lunch)) == datetime(2027, 2, 3, 12, 30)
    assert wall(next_allowed(local(2027, 2, 3, 22, 0), lunch)) == datetime(2027, 2, 3, 22, 0)


def test_no_quiet_hours_send_at_any_time() -> None:
    always = policy(quiet_start=None, quiet_end=None)
    instant = local(2027, 2, 3, 3, 0)
    assert next_allowed(instant, always) == instant


def test_quiet_hours_end_is_local_morning_after_spring_dst() -> None:
    moved = next_allowed(local(2027, 3, 27, 22, 0), policy())
    assert wall(moved) == datetime(2027, 3, 28, 8, 0)
    assert moved == datetime(2027, 3, 28, 5, 0, tzinfo=UTC)


def test_quiet_hours_end_is_local_morning_after_autumn_dst() -> None:
    moved = next_allowed(local(2027, 10, 30, 22, 0), policy())
    assert moved == datetime(2027, 10, 31, 6, 0, tzinfo=UTC)


def test_weekend_prompt_moves_to_monday_morning() -> None:
    weekdays = policy(skip_weekends=True)
    saturday_noon = local(2027, 2, 6, 12, 0)
    assert wall(next_allowed(saturday_noon, weekdays)) == datetime(2027, 2, 8, 8, 0)


def test_friday_evening_prompt_skips_quiet_hours_and_weekend() -> None:
    weekdays = policy(skip_weekends=True)
    assert wall(next_allowed(local(2027, 2, 5, 21, 0), weekdays)) == datetime(2027, 2, 8, 8, 0)


def test_sunday_night_prompt_goes_out_monday_at_quiet_end() -> None:
    weekdays = policy(skip_weekends=True)
    assert wall(next_allowed(local(2027, 2, 7, 23, 30), weekdays)) == datetime(2027, 2, 8, 8, 0)


def test_weekend_prompt_without_quiet_hours_moves_to_monday_nine() -> None:
    weekdays = policy(quiet_start=None, quiet_end=None, skip_weekends=True)
    assert wall(next_allowed(local(2027, 2, 6, 12, 0), weekdays)) == datetime(2027, 2, 8, 9, 0)


def test_weekday_prompt_outside_quiet_hours_is_not_moved() -> None:
    instant = local(2027, 2, 3, 12, 0)
    assert next_allowed(instant, policy(skip_weekends=True)) == instant


def test_policy_rejects_half_quiet_hours_and_zero_cap() -> None:
    with pytest.raises(ValueError, match="both"):
        policy(quiet_start=time(20, 0), quiet_end=None)
    with pytest.raises(ValueError, match="daily_cap"):
        policy(daily_cap=0)
    with pytest.raises(ValueError, match="same time"):
        policy(quiet_start=time(8, 0), quiet_end=time(8, 0))


def item(prompt_id: str, due: datetime, *, order: int, closes_in: timedelta = timedelta(days=7)) -> PlanItem:
    return PlanItem(prompt_id, due, due + closes_in, order)


def test_prompts_are_planned_at_their_programme_time() -> None:
    items = [item("a", local(2027, 2, 3, 9, 0), order=0), item("b", local(2027, 2, 4, 9, 0), order=1)]
    plan = Planner(items, policy(), now=local(2027, 2, 1, 12, 0)).plan()
    assert [(d.prompt_id, d.state, d.due_at) for d in plan] == [
        ("a", "planned", items[0].due_at),
        ("b", "planned", items[1].due_at),
    ]


def test_evening_prompt_is_planned_for_next_morning() -> None:
    items = [item("evening", local(2027, 2, 3, 21, 0), order=0)]
    (delivery,) = Planner(items, policy(), now=local(2027, 2, 1, 12, 0)).plan()
    assert delivery.state == "planned"
    assert wall(delivery.due_at) == datetime(2027, 2, 4, 8, 0)
    assert delivery.nominal_due_at == items[0].due_at


def test_late_joiner_gets_open_prompts_now_and_closed_ones_expire() -> None:
    now = local(2027, 2, 10, 10, 0)
    items = [
        item("closed", local(2027, 2, 1, 9, 0), order=0, closes_in=timedelta(days=3)),
        item("still-open", local(2027, 2, 8, 9, 0), order=1, closes_in=timedelta(days=7)),
        item("future", local(2027, 2, 12, 9, 0), order=2),
    ]
    plan = {d.prompt_id: d for d in Planner(items, policy(), now=now).plan()}
    assert plan["closed"].state == "expired"
    assert plan["still-open"].state == "planned"
    assert plan["still-open"].due_at == now
    assert plan["future"].due_at == items[2].due_at
    assert all(d.due_at >= now for d in plan.values() if d.state == "planned")


def test_late_joiner_at_night_gets_open_prompt_next_morning() -> None:
    now = local(2027, 2, 10, 23, 0)
    items = [item("open", local(2027, 2, 8, 9, 0), order=0)]
    (delivery,) = Planner(items, policy(), now=now).plan()
    assert wall(delivery.due_at) == datetime(2027, 2, 11, 8, 0)


def test_prompt_pushed_past_its_close_by_quiet_hours_expires_instead_of_going_late() -> None:
    items = [item("short", local(2027, 2, 3, 20, 30), order=0, closes_in=timedelta(hours=2))]
    (delivery,) = Planner(items, policy(), now=local(2027, 2, 1, 12, 0)).plan()
    assert delivery.state == "expired"
    assert delivery.due_at >= delivery.closes_at


def test_prompt_pushed_past_its_close_by_the_weekend_expires() -> None:
    saturday = local(2027, 2, 6, 10, 0)
    items = [item("weekend", saturday, order=0, closes_in=timedelta(days=1))]
    (delivery,) = Planner(items, policy(skip_weekends=True), now=local(2027, 2, 1, 12, 0)).plan()
    assert delivery.state == "expired"


def test_daily_cap_moves_the_excess_to_next_morning_in_programme_order() -> None:
    capped = policy(daily_cap=2)
    items = [
        item("third", local(2027, 2, 3, 9, 0), order=2),
        item("first", local(2027, 2, 3, 9, 0), order=0),
        item("second", local(2027, 2, 3, 9, 0), order=1),
    ]
    plan = Planner(items, capped, now=local(2027, 2, 1, 12, 0)).plan()
    assert [d.prompt_id for d in plan] == ["first", "second", "third"]  # programme order
    assert [wall(d.due_at) for d in plan] == [
        datetime(2027, 2, 3, 9, 0),
        datetime(2027, 2, 3, 9, 0),
        datetime(2027, 2, 4, 8, 0),
    ]
    assert all(d.state == "planned" for d in plan)


def test_daily_cap_counts_deliveries_already_on_that_day() -> None:
    capped = policy(daily_cap=2)
    items = [
        item("a", local(2027, 2, 3, 9, 0), order=0),
        item("b", local(2027, 2, 3, 10, 0), order=1),
        item("c", local(2027, 2, 3, 11, 0), order=2),
    ]
    counts = {date(2027, 2, 3): 1, date(2027, 2, 4): 1}
    plan = Planner(items, capped, now=local(2027, 2, 1, 12, 0)).plan(counts)
    assert [wall(d.due_at) for d in plan] == [
        datetime(2027, 2, 3, 9, 0),  # one slot left on the 3rd
        datetime(2027, 2, 4, 8, 0),  # the 4th has one slot left
        datetime(2027, 2, 5, 8, 0),
    ]


def test_daily_cap_overflow_on_friday_moves_to_monday_when_weekends_are_skipped() -> None:
    capped = policy(daily_cap=1, skip_weekends=True)
    friday = local(2027, 2, 5, 10, 0)
    items = [item("a", friday, order=0), item("b", friday, order=1)]
    plan = Planner(items, capped, now=local(2027, 2, 1, 12, 0)).plan()
    assert wall(plan[1].due_at) == datetime(2027, 2, 8, 8, 0)


def test_daily_cap_overflow_that_would_miss_the_close_expires() -> None:
    capped = policy(daily_cap=1)
    due = local(2027, 2, 3, 10, 0)
    items = [item("a", due, order=0), item("b", due, order=1, closes_in=timedelta(hours=6))]
    plan = Planner(items, capped, now=local(2027, 2, 1, 12, 0)).plan()
    assert plan[0].state == "planned"
    assert plan[1].state == "expired"


def test_expired_prompt_does_not_use_a_daily_slot() -> None:
    capped = policy(daily_cap=1)
    now = local(2027, 2, 3, 10, 0)
    items = [
        item("gone", local(2027, 1, 20, 9, 0), order=0, closes_in=timedelta(days=1)),
        item("open", local(2027, 2, 3, 9, 0), order=1),
    ]
    plan = Planner(items, capped, now=now).plan()
    assert [d.state for d in plan] == ["expired", "planned"]
    assert plan[1].due_at == now


def test_identical_participants_share_one_plan_and_different_counts_do_not() -> None:
    capped = policy(daily_cap=1)
    due = local(2027, 2, 3, 10, 0)
    items = [item("a", due, order=0), item("b", due, order=1)]
    planner = Planner(items, capped, now=local(2027, 2, 1, 12, 0))
    counts = {3: {date(2027, 2, 3): 1}}
    plans = {participant: planner.plan(counts.get(participant)) for participant in (1, 2, 3)}
    assert plans[1] is plans[2]
    assert wall(plans[1][0].due_at) == datetime(2027, 2, 3, 10, 0)
    assert wall(plans[3][0].due_at) == datetime(2027, 2, 4, 8, 0)
    assert wall(plans[3][1].due_at) == datetime(2027, 2, 5, 8, 0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        Planner([], policy(), now=datetime(2027, 2, 1, 12, 0))


def test_planning_250k_deliveries_computes_one_plan_per_distinct_count() -> None:
    capped = policy(daily_cap=2, skip_weekends=True)
    start = local(2027, 1, 14, 9, 0)
    items = [item(f"p{n}", start + timedelta(days=n * 3, hours=n % 5), order=n) for n in range(25)]
    now = local(2027, 1, 10, 12, 0)
    participants = range(10_000)
    counts = {p: {date(2027, 1, 15) + timedelta(days=p % 50): 1 + p % 2} for p in participants}
    planner = Planner(items, capped, now=now)
    same = {p: planner.plan() for p in participants}
    varied = {p: planner.plan(counts[p]) for p in participants}
    assert sum(len(plan) for plan in same.values()) == 250_000
    assert sum(len(plan) for plan in varied.values()) == 250_000
    # Planning stays cheap because equal participants share one computed plan.
    assert len({id(plan) for plan in same.values()}) == 1
    assert len({id(plan) for plan in varied.values()}) == len({tuple(c.items()) for c in counts.values()})


def test_reminder_goes_to_the_next_allowed_time_before_the_prompt_closes() -> None:
    sent = local(2027, 2, 3, 19, 0)
    reminder = plan_reminder(sent, timedelta(hours=2), sent + timedelta(days=3), policy())
    assert reminder is not None
    assert wall(reminder) == datetime(2027, 2, 4, 8, 0)
    assert plan_reminder(sent, timedelta(days=2), sent + timedelta(days=1), policy()) is None
    assert plan_reminder(sent, None, sent + timedelta(days=1), policy()) is None


def test_participants_with_the_same_history_share_one_plan() -> None:
    items = [PlanItem(str(n), local(2027, 2, 1 + n, 9), local(2027, 2, 10 + n, 9), n) for n in range(1, 6)]
    capped = DeliveryPolicy(HELSINKI, None, None, False, 2)
    plan_input = PlanInput(1, capped, items, list(range(1, 1001)))

    changes = plan_changes(plan_input, JOINED)

    assert changes.result.inserted == 5000
    assert {row["membership_id"] for row in changes.inserts} == set(range(1, 1001))


@dataclass
class Settings:
    timezone: str = "Europe/Helsinki"
    quiet_start: str | None = "20:00"
    quiet_end: str | None = "08:00"
    skip_weekends: bool = False
    daily_cap: int | None = None
    holidays: str | None = None
    no_send: list[Any] | None = None
    reminders_per_week: int | None = None


@dataclass
class Status:
    is_facilitator: bool = False
    complete: bool = True
    paused: bool = False
    unreachable: bool = False


def one_prompt(due: datetime, closes: datetime) -> list[PlanItem]:
    return [PlanItem("7", due, closes, 1)]


def test_the_policy_of_a_process_has_its_quiet_hours_weekends_and_cap() -> None:
    policy = process_policy(Settings(skip_weekends=True, daily_cap=2))

    assert policy.tz == HELSINKI
    assert (policy.quiet_start, policy.quiet_end) == (time(20, 0), time(8, 0))
    assert policy.skip_weekends is True
    assert policy.daily_cap == 2


def test_quiet_hours_that_start_and_end_together_or_half_given_are_no_quiet_hours() -> None:
    for quiet in (("22:00", "22:00"), ("22:00", None), (None, "07:00")):
        policy = process_policy(Settings(quiet_start=quiet[0], quiet_end=quiet[1]))
        assert (policy.quiet_start, policy.quiet_end) == (None, None)


def test_only_complete_reachable_unpaused_participants_receive_prompts() -> None:
    assert is_eligible(Status())
    assert not is_eligible(Status(is_facilitator=True))
    assert not is_eligible(Status(complete=False))
    assert not is_eligible(Status(paused=True))
    assert not is_eligible(Status(unreachable=True))


def test_rows_on_their_way_or_out_are_fixed_and_count_towards_their_local_day() -> None:
    plan_input = PlanInput(1, process_policy(Settings()), [], [5])
    evening = datetime(2027, 2, 1, 22, 30, tzinfo=UTC)  # 00:30 on 2 February in Helsinki

    plan_input.add_delivery(
        delivery_id=1,
        prompt_id=10,
        member_id=5,
        state="sent",
        due_at=JOINED,
        sent_at=evening,
        claimed_at=None,
    )
    plan_input.add_delivery(
        delivery_id=2, prompt_id=11, member_id=5, state="failed", due_at=JOINED, sent_at=None, claimed_at=None
    )
    plan_input.add_delivery(
        delivery_id=3,
        prompt_id=12,
        member_id=5,
        state="cancelled",
        due_at=JOINED,
        sent_at=None,
        claimed_at=None,
    )

    assert plan_input.fixed == {5: {10, 11}}
    assert plan_input.counts[5] == {date(2027, 2, 2): 1}
    assert plan_input.existing == {(5, 12): ExistingDelivery(3, "cancelled", JOINED)}


def test_a_cancelled_row_is_planned_again_and_a_pending_one_moves_to_its_new_time() -> None:
    due = local(2027, 2, 3, 9)
    plan_input = PlanInput(1, process_policy(Settings()), one_prompt(due, local(2027, 2, 10, 9)), [5, 6])
    plan_input.existing[(5, 7)] = ExistingDelivery(1, DeliveryState.CANCELLED, due)
    plan_input.existing[(6, 7)] = ExistingDelivery(2, DeliveryState.PENDING, local(2027, 2, 2, 9))

    changes = plan_changes(plan_input, JOINED)

    assert changes.inserts == []
    assert changes.updates == [
        {"b_id": 1, "b_state": "pending", "b_due": due},
        {"b_id": 2, "b_state": "pending", "b_due": due},
    ]
    assert (changes.result.moved, changes.result.planned) == (2, 2)


def test_a_row_already_planned_for_its_time_is_left_alone() -> None:
    due = local(2027, 2, 3, 9)
    plan_input = PlanInput(1, process_policy(Settings()), one_prompt(due, local(2027, 2, 10, 9)), [5])
    plan_input.existing[(5, 7)] = ExistingDelivery(1, DeliveryState.PENDING, due)

    changes = plan_changes(plan_input, JOINED)

    assert (changes.inserts, changes.updates, changes.result) == ([], [], PlanResult())


def test_a_pending_row_whose_prompt_closed_expires_and_other_rows_stay() -> None:
    closed = one_prompt(local(2027, 1, 1, 9), local(2027, 1, 5, 9))
    plan_input = PlanInput(1, process_policy(Settings()), closed, [5, 6])
    plan_input.existing[(5, 7)] = ExistingDelivery(1, DeliveryState.PENDING, local(2027, 1, 1, 9))
    plan_input.existing[(6, 7)] = ExistingDelivery(2, DeliveryState.CANCELLED, local(2027, 1, 1, 9))

    changes = plan_changes(plan_input, JOINED)

    assert changes.updates == [{"b_id": 1, "b_state": "expired", "b_due": local(2027, 1, 1, 9)}]
    assert changes.result.expired == 1
    assert changes.inserts == []


def test_a_prompt_that_cannot_go_out_before_it_closes_is_not_inserted() -> None:
    # Due at 21:00 and closing at 23:00: quiet hours hold it until after it has closed.
    late = one_prompt(local(2027, 2, 3, 21), local(2027, 2, 3, 23))
    plan_input = PlanInput(1, process_policy(Settings()), late, [5])

    changes = plan_changes(plan_input, JOINED)

    assert (changes.inserts, changes.updates) == ([], [])


def test_a_fixed_prompt_is_never_planned_again() -> None:
    due = local(2027, 2, 3, 9)
    plan_input = PlanInput(1, process_policy(Settings()), one_prompt(due, local(2027, 2, 10, 9)), [5, 6])
    plan_input.fixed[5] = {7}

    changes = plan_changes(plan_input, JOINED)

    assert [row["membership_id"] for row in changes.inserts] == [6]
    assert changes.inserts[0]["state"] == "pending"
    assert changes.inserts[0]["due_at"] == due
