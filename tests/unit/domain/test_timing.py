"""Programme time arithmetic: durations, workshop-relative times, quiet hours, caps, digests."""

from __future__ import annotations

import time as perf
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.timing import (
    DeliveryPolicy,
    DigestSpec,
    PlanItem,
    When,
    WhenError,
    add_duration,
    digest_due_after,
    format_duration,
    latest_due_digest,
    next_allowed,
    parse_digest_spec,
    parse_duration,
    parse_quiet_hours,
    parse_when,
    plan_many,
    plan_participant,
    plan_reminder,
    resolve_when,
    to_utc,
)

HELSINKI = ZoneInfo("Europe/Helsinki")


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An instant given as Helsinki wall time (first occurrence if ambiguous)."""
    return to_utc(datetime(year, month, day, hour, minute), HELSINKI)


def wall(instant: datetime) -> datetime:
    return instant.astimezone(HELSINKI).replace(tzinfo=None)


def anchors_with(**overrides: datetime) -> dict[str, datetime]:
    anchors = {
        "W1": local(2027, 1, 14, 9, 0),
        "W2": local(2027, 2, 4, 9, 0),
        "W3": local(2027, 2, 25, 12, 30),
        "W4": local(2027, 3, 18, 9, 0),
        "W5": local(2027, 4, 8, 9, 0),
        "END": local(2027, 5, 6, 16, 0),
    }
    anchors.update(overrides)
    return anchors


# --- durations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        (" 1D 12H ", timedelta(days=1, hours=12)),
        ("0m", timedelta(0)),
    ],
)
def test_duration_text_reads_as_timedelta(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["none", "off", "None", "OFF"])
def test_duration_none_or_off_means_no_duration(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("text", ["", "5", "1h1d", "abc", "1x", "-1d", "1.5h", "d"])
def test_unreadable_duration_is_rejected_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match=r"e\.g\. 90s"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["90s", "30m", "2h", "1d", "1d12h", "14d", "1d2h3m4s"])
def test_duration_formats_back_to_the_same_length(text: str) -> None:
    value = parse_duration(text)
    assert parse_duration(format_duration(value)) == value
    assert format_duration(None) == "none"


# --- when: parsing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "anchor", "days", "elapsed", "time_of_day"),
    [
        ("W2 +1d 09:00", "W2", 1, timedelta(0), time(9, 0)),
        ("W3 -2d 15:00", "W3", -2, timedelta(0), time(15, 0)),
        ("W1 +3h", "W1", 0, timedelta(hours=3), None),
        ("END -7d 10:00", "END", -7, timedelta(0), time(10, 0)),
        ("W1", "W1", 0, timedelta(0), None),
        ("W4 +0d 16:30", "W4", 0, timedelta(0), time(16, 30)),
        ("W2 +1d12h", "W2", 1, timedelta(hours=12), None),
        ("W5 -1d12h", "W5", -1, timedelta(hours=-12), None),
        ("w2+1d 9:00", "W2", 1, timedelta(0), time(9, 0)),
        ("W3 +1w", "W3", 7, timedelta(0), None),
        ("W1 08:15", "W1", 0, timedelta(0), time(8, 15)),
    ],
)
def test_when_reads_facilitator_speak(
    text: str, anchor: str, days: int, elapsed: timedelta, time_of_day: time | None
) -> None:
    assert parse_when(text) == When(text.strip(), anchor, days, elapsed, time_of_day)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("W6 +1d 09:00", "anchor"),
        ("START +1d", "anchor"),
        ("W2 plus one day", "syntax"),
        ("W2 +1d 25:00", "syntax"),
        ("W2 +", "syntax"),
        ("W2 +1q", "syntax"),
        ("", "syntax"),
        ("W2 +1h 09:00", "mixed"),
    ],
)
def test_unreadable_when_says_what_is_wrong(text: str, code: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text)
    assert caught.value.code == code
    assert isinstance(caught.value, ValueError)


# --- when: resolving ---------------------------------------------------------------------------


def test_day_after_workshop_at_nine_is_nine_local_in_winter() -> None:
    due = resolve_when(parse_when("W2 +1d 09:00"), anchors_with(), HELSINKI)
    assert due == datetime(2027, 2, 5, 7, 0, tzinfo=UTC)


def test_day_after_workshop_stays_nine_local_across_spring_dst() -> None:
    # Workshop on Saturday 27 March 2027 (EET, +2); clocks go forward early on Sunday 28 March.
    anchors = anchors_with(W2=local(2027, 3, 27, 9, 0))
    due = resolve_when(parse_when("W2 +1d 09:00"), anchors, HELSINKI)
    assert wall(due) == datetime(2027, 3, 28, 9, 0)
    assert due == datetime(2027, 3, 28, 6, 0, tzinfo=UTC)


def test_day_after_workshop_stays_nine_local_across_autumn_dst() -> None:
    # Workshop on Saturday 30 October 2027 (EEST, +3); clocks go back early on Sunday 31 October.
    anchors = anchors_with(W2=local(2027, 10, 30, 9, 0))
    due = resolve_when(parse_when("W2 +1d 09:00"), anchors, HELSINKI)
    assert wall(due) == datetime(2027, 10, 31, 9, 0)
    assert due == datetime(2027, 10, 31, 7, 0, tzinfo=UTC)


def test_whole_days_without_a_time_keep_the_workshop_wall_time_across_dst() -> None:
    anchors = anchors_with(W3=local(2027, 3, 29, 12, 30))
    due = resolve_when(parse_when("W3 -2d"), anchors, HELSINKI)
    assert wall(due) == datetime(2027, 3, 27, 12, 30)


def test_hours_are_elapsed_time_across_dst() -> None:
    anchors = anchors_with(W1=local(2027, 3, 28, 0, 30))
    due = resolve_when(parse_when("W1 +3h"), anchors, HELSINKI)
    assert due - anchors["W1"] == timedelta(hours=3)
    assert wall(due) == datetime(2027, 3, 28, 4, 30)  # the clock skipped an hour


def test_mixed_offset_shifts_the_date_then_adds_elapsed_hours() -> None:
    anchors = anchors_with(W2=local(2027, 3, 27, 9, 0))
    due = resolve_when(parse_when("W2 +1d12h"), anchors, HELSINKI)
    assert due == local(2027, 3, 28, 9, 0) + timedelta(hours=12)
    assert wall(due) == datetime(2027, 3, 28, 21, 0)


def test_anchor_alone_and_end_relative_times_resolve() -> None:
    anchors = anchors_with()
    assert resolve_when(parse_when("W1"), anchors, HELSINKI) == anchors["W1"]
    assert wall(resolve_when(parse_when("END -7d 10:00"), anchors, HELSINKI)) == datetime(2027, 4, 29, 10, 0)
    assert wall(resolve_when(parse_when("W4 +0d 16:30"), anchors, HELSINKI)) == datetime(2027, 3, 18, 16, 30)
    assert wall(resolve_when(parse_when("W3 -2d 15:00"), anchors, HELSINKI)) == datetime(2027, 2, 23, 15, 0)


def test_nonexistent_local_time_moves_forward_past_the_gap() -> None:
    anchors = anchors_with(W1=local(2027, 3, 27, 9, 0))
    due = resolve_when(parse_when("W1 +1d 03:30"), anchors, HELSINKI)
    assert wall(due) == datetime(2027, 3, 28, 4, 30)
    assert due == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    anchors = anchors_with(W1=local(2027, 10, 30, 9, 0))
    due = resolve_when(parse_when("W1 +1d 03:30"), anchors, HELSINKI)
    assert due == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 03:30 EEST, not 03:30 EET


def test_days_added_to_an_instant_keep_its_wall_time() -> None:
    start = local(2027, 3, 25, 9, 0)
    assert wall(add_duration(start, timedelta(days=7), HELSINKI)) == datetime(2027, 4, 1, 9, 0)
    assert add_duration(start, timedelta(hours=2), HELSINKI) == start + timedelta(hours=2)


# --- quiet hours and weekends ------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20:00-08:00", (time(20, 0), time(8, 0))),
        ("21:30 – 7:00", (time(21, 30), time(7, 0))),
        ("22.00-07.00", (time(22, 0), time(7, 0))),
        ("off", None),
        ("none", None),
    ],
)
def test_quiet_hours_text_reads_as_a_window(text: str, expected: tuple[time, time] | None) -> None:
    assert parse_quiet_hours(text) == expected


@pytest.mark.parametrize("text", ["20:00", "20-08", "25:00-08:00", "08:00-08:00", "evening"])
def test_unreadable_quiet_hours_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_quiet_hours(text)


# --- planning ----------------------------------------------------------------------------------


def item(prompt_id: str, due: datetime, *, order: int, closes_in: timedelta = timedelta(days=7)) -> PlanItem:
    return PlanItem(prompt_id, due, due + closes_in, order)


def test_prompts_are_planned_at_their_programme_time() -> None:
    items = [item("a", local(2027, 2, 3, 9, 0), order=0), item("b", local(2027, 2, 4, 9, 0), order=1)]
    plan = plan_participant(items, policy(), now=local(2027, 2, 1, 12, 0))
    assert [(d.prompt_id, d.state, d.due_at) for d in plan] == [
        ("a", "planned", items[0].due_at),
        ("b", "planned", items[1].due_at),
    ]


def test_evening_prompt_is_planned_for_next_morning() -> None:
    items = [item("evening", local(2027, 2, 3, 21, 0), order=0)]
    (delivery,) = plan_participant(items, policy(), now=local(2027, 2, 1, 12, 0))
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
    plan = {d.prompt_id: d for d in plan_participant(items, policy(), now=now)}
    assert plan["closed"].state == "expired"
    assert plan["still-open"].state == "planned"
    assert plan["still-open"].due_at == now
    assert plan["future"].due_at == items[2].due_at
    assert all(d.due_at >= now for d in plan.values() if d.state == "planned")


def test_late_joiner_at_night_gets_open_prompt_next_morning() -> None:
    now = local(2027, 2, 10, 23, 0)
    items = [item("open", local(2027, 2, 8, 9, 0), order=0)]
    (delivery,) = plan_participant(items, policy(), now=now)
    assert wall(delivery.due_at) == datetime(2027, 2, 11, 8, 0)


def test_prompt_pushed_past_its_close_by_quiet_hours_expires_instead_of_going_late() -> None:
    items = [item("short", local(2027, 2, 3, 20, 30), order=0, closes_in=timedelta(hours=2))]
    (delivery,) = plan_participant(items, policy(), now=local(2027, 2, 1, 12, 0))
    assert delivery.state == "expired"
    assert delivery.due_at >= delivery.closes_at


def test_prompt_pushed_past_its_close_by_the_weekend_expires() -> None:
    saturday = local(2027, 2, 6, 10, 0)
    items = [item("weekend", saturday, order=0, closes_in=timedelta(days=1))]
    (delivery,) = plan_participant(items, policy(skip_weekends=True), now=local(2027, 2, 1, 12, 0))
    assert delivery.state == "expired"


def test_daily_cap_moves_the_excess_to_next_morning_in_programme_order() -> None:
    capped = policy(daily_cap=2)
    items = [
        item("third", local(2027, 2, 3, 9, 0), order=2),
        item("first", local(2027, 2, 3, 9, 0), order=0),
        item("second", local(2027, 2, 3, 9, 0), order=1),
    ]
    plan = plan_participant(items, capped, now=local(2027, 2, 1, 12, 0))
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
    plan = plan_participant(items, capped, now=local(2027, 2, 1, 12, 0), counts_by_day=counts)
    assert [wall(d.due_at) for d in plan] == [
        datetime(2027, 2, 3, 9, 0),  # one slot left on the 3rd
        datetime(2027, 2, 4, 8, 0),  # the 4th has one slot left
        datetime(2027, 2, 5, 8, 0),
    ]


def test_daily_cap_overflow_on_friday_moves_to_monday_when_weekends_are_skipped() -> None:
    capped = policy(daily_cap=1, skip_weekends=True)
    friday = local(2027, 2, 5, 10, 0)
    items = [item("a", friday, order=0), item("b", friday, order=1)]
    plan = plan_participant(items, capped, now=local(2027, 2, 1, 12, 0))
    assert wall(plan[1].due_at) == datetime(2027, 2, 8, 8, 0)


def test_daily_cap_overflow_that_would_miss_the_close_expires() -> None:
    capped = policy(daily_cap=1)
    due = local(2027, 2, 3, 10, 0)
    items = [item("a", due, order=0), item("b", due, order=1, closes_in=timedelta(hours=6))]
    plan = plan_participant(items, capped, now=local(2027, 2, 1, 12, 0))
    assert plan[0].state == "planned"
    assert plan[1].state == "expired"


def test_expired_prompt_does_not_use_a_daily_slot() -> None:
    capped = policy(daily_cap=1)
    now = local(2027, 2, 3, 10, 0)
    items = [
        item("gone", local(2027, 1, 20, 9, 0), order=0, closes_in=timedelta(days=1)),
        item("open", local(2027, 2, 3, 9, 0), order=1),
    ]
    plan = plan_participant(items, capped, now=now)
    assert [d.state for d in plan] == ["expired", "planned"]
    assert plan[1].due_at == now


def test_identical_participants_share_one_plan_and_different_counts_do_not() -> None:
    capped = policy(daily_cap=1)
    due = local(2027, 2, 3, 10, 0)
    items = [item("a", due, order=0), item("b", due, order=1)]
    plans = plan_many(
        items,
        capped,
        now=local(2027, 2, 1, 12, 0),
        participants=[1, 2, 3],
        counts={3: {date(2027, 2, 3): 1}},
    )
    assert plans[1] is plans[2]
    assert wall(plans[1][0].due_at) == datetime(2027, 2, 3, 10, 0)
    assert wall(plans[3][0].due_at) == datetime(2027, 2, 4, 8, 0)
    assert wall(plans[3][1].due_at) == datetime(2027, 2, 5, 8, 0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        plan_participant([], policy(), now=datetime(2027, 2, 1, 12, 0))


def test_planning_250k_deliveries_is_fast() -> None:
    capped = policy(daily_cap=2, skip_weekends=True)
    start = local(2027, 1, 14, 9, 0)
    items = [item(f"p{n}", start + timedelta(days=n * 3, hours=n % 5), order=n) for n in range(25)]
    now = local(2027, 1, 10, 12, 0)
    participants = range(10_000)
    counts = {p: {date(2027, 1, 15) + timedelta(days=p % 50): 1 + p % 2} for p in participants}
    began = perf.perf_counter()
    same = plan_many(items, capped, now=now, participants=participants)
    varied = plan_many(items, capped, now=now, participants=participants, counts=counts)
    elapsed = perf.perf_counter() - began
    assert sum(len(plan) for plan in same.values()) == 250_000
    assert sum(len(plan) for plan in varied.values()) == 250_000
    assert elapsed < 2.0


def test_reminder_goes_to_the_next_allowed_time_before_the_prompt_closes() -> None:
    sent = local(2027, 2, 3, 19, 0)
    reminder = plan_reminder(sent, timedelta(hours=2), sent + timedelta(days=3), policy())
    assert reminder is not None
    assert wall(reminder) == datetime(2027, 2, 4, 8, 0)
    assert plan_reminder(sent, timedelta(days=2), sent + timedelta(days=1), policy()) is None
    assert plan_reminder(sent, None, sent + timedelta(days=1), policy()) is None


# --- digest ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "weekday", "at"),
    [
        ("mon 08:00", 0, time(8, 0)),
        ("Monday 8:00", 0, time(8, 0)),
        ("ma 08:00", 0, time(8, 0)),
        ("ti 7.30", 1, time(7, 30)),
        ("to 12:00", 3, time(12, 0)),
        ("pe 15:00", 4, time(15, 0)),
        ("su 18:00", 6, time(18, 0)),
        ("mån 08:00", 0, time(8, 0)),
        ("tis 09:00", 1, time(9, 0)),
        ("tor 10:00", 3, time(10, 0)),
        ("lör 10:00", 5, time(10, 0)),
        ("sön 10:00", 6, time(10, 0)),
        ("FRI 16:45", 4, time(16, 45)),
    ],
)
def test_digest_spec_reads_weekday_names_in_three_languages(text: str, weekday: int, at: time) -> None:
    assert parse_digest_spec(text) == DigestSpec(weekday, at)


@pytest.mark.parametrize("text", ["", "mon", "08:00", "someday 08:00", "mon 24:00", "mon 08:00 extra"])
def test_unreadable_digest_spec_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_digest_spec(text)


def test_digest_spec_prints_as_it_is_written() -> None:
    assert str(DigestSpec(0, time(8, 0))) == "mon 08:00"
    assert parse_digest_spec(str(DigestSpec(4, time(16, 5)))) == DigestSpec(4, time(16, 5))


MONDAY_8 = DigestSpec(0, time(8, 0))


def test_no_digest_is_owed_before_the_next_monday_morning() -> None:
    last = local(2027, 2, 1, 8, 0)  # Monday
    assert latest_due_digest(last, MONDAY_8, HELSINKI, local(2027, 2, 8, 7, 59)) is None
    assert wall(digest_due_after(last, MONDAY_8, HELSINKI, local(2027, 2, 8, 7, 59))) == datetime(
        2027, 2, 8, 8, 0
    )


def test_digest_is_owed_from_monday_morning_on() -> None:
    last = local(2027, 2, 1, 8, 0)
    assert latest_due_digest(last, MONDAY_8, HELSINKI, local(2027, 2, 8, 8, 0)) == local(2027, 2, 8, 8, 0)


def test_downtime_over_several_weeks_owes_one_digest_not_one_per_week() -> None:
    last = local(2027, 1, 4, 8, 0)
    now = local(2027, 2, 3, 14, 0)  # a Wednesday, four Mondays later
    owed = latest_due_digest(last, MONDAY_8, HELSINKI, now)
    assert owed == local(2027, 2, 1, 8, 0)
    due = digest_due_after(last, MONDAY_8, HELSINKI, now)
    assert due == owed
    # Once that one is sent, the next is next week, not another missed one.
    assert latest_due_digest(due, MONDAY_8, HELSINKI, now) is None
    assert digest_due_after(due, MONDAY_8, HELSINKI, now) == local(2027, 2, 8, 8, 0)


def test_digest_with_nothing_covered_is_owed_for_the_latest_slot() -> None:
    now = local(2027, 2, 3, 14, 0)
    assert latest_due_digest(None, MONDAY_8, HELSINKI, now) == local(2027, 2, 1, 8, 0)


def test_digest_stays_at_eight_local_across_spring_dst() -> None:
    last = local(2027, 3, 22, 8, 0)
    due = digest_due_after(last, MONDAY_8, HELSINKI, local(2027, 3, 25, 12, 0))
    assert wall(due) == datetime(2027, 3, 29, 8, 0)
    assert due == datetime(2027, 3, 29, 5, 0, tzinfo=UTC)
