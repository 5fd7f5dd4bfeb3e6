"""Programme time arithmetic: durations, workshop-relative times, quiet-hours text, digest times."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.timing import (
    DigestSpec,
    When,
    WhenError,
    add_duration,
    format_duration,
    latest_due_digest,
    parse_digest_spec,
    parse_duration,
    parse_quiet_hours,
    parse_when,
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
    due = latest_due_digest(last, MONDAY_8, HELSINKI, local(2027, 2, 8, 8, 0))
    assert due is not None
    assert wall(due) == datetime(2027, 2, 8, 8, 0)


def test_digest_is_owed_from_monday_morning_on() -> None:
    last = local(2027, 2, 1, 8, 0)
    assert latest_due_digest(last, MONDAY_8, HELSINKI, local(2027, 2, 8, 8, 0)) == local(2027, 2, 8, 8, 0)


def test_downtime_over_several_weeks_owes_one_digest_not_one_per_week() -> None:
    last = local(2027, 1, 4, 8, 0)
    now = local(2027, 2, 3, 14, 0)  # a Wednesday, four Mondays later
    owed = latest_due_digest(last, MONDAY_8, HELSINKI, now)
    assert owed == local(2027, 2, 1, 8, 0)
    assert owed is not None
    # Once that one is sent, the next is next week, not another missed one.
    assert latest_due_digest(owed, MONDAY_8, HELSINKI, now) is None
    assert latest_due_digest(owed, MONDAY_8, HELSINKI, local(2027, 2, 8, 7, 59)) is None
    assert latest_due_digest(owed, MONDAY_8, HELSINKI, local(2027, 2, 8, 8, 0)) == local(2027, 2, 8, 8, 0)


def test_digest_with_nothing_covered_is_owed_for_the_latest_slot() -> None:
    now = local(2027, 2, 3, 14, 0)
    assert latest_due_digest(None, MONDAY_8, HELSINKI, now) == local(2027, 2, 1, 8, 0)


def test_digest_stays_at_eight_local_across_spring_dst() -> None:
    last = local(2027, 3, 22, 8, 0)
    assert latest_due_digest(last, MONDAY_8, HELSINKI, local(2027, 3, 25, 12, 0)) is None
    assert latest_due_digest(last, MONDAY_8, HELSINKI, datetime(2027, 3, 29, 4, 59, tzinfo=UTC)) is None
    due = latest_due_digest(last, MONDAY_8, HELSINKI, datetime(2027, 3, 29, 5, 0, tzinfo=UTC))
    assert due is not None
    assert wall(due) == datetime(2027, 3, 29, 8, 0)
    assert due == datetime(2027, 3, 29, 5, 0, tzinfo=UTC)
