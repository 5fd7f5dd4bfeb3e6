"""Bounds on every number a person or a file gives: a clear problem naming the line, never a traceback."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.bounds import MAX_ID, plain_number
from bot.domain.programme import parse_process
from bot.domain.programme.spec import ERROR_PARAMS, problem_text
from bot.domain.timing import SpanTooLong, parse_duration, parse_when
from handlers.callbacks import KINDS
from messages import default_catalog
from tests.unit.domain.test_programme import problems_of, with_line

HUGE = "9" * 60


@pytest.mark.parametrize(
    ("line", "replacement", "field", "code"),
    [
        (17, "retention_days: 3000000", "retention_days", "too_big"),
        (17, f"retention_days: {HUGE}", "retention_days", "too_big"),
        (16, f"min_group: {HUGE}", "min_group", "too_big"),
        (14, "daily_cap: 100000000000", "daily_cap", "too_big"),
        (20, '    phase: "²"', "prompts[1].phase", "not_integer"),
        (21, '    when: "W2 +99999999999w"', "prompts[1].when", "too_far"),
        (21, '    when: "W2 +999999999d 09:00"', "prompts[1].when", "too_far"),
        (24, "    remind_after: 99999999999w", "prompts[1].remind_after", "too_far"),
        (25, "    closes_after: 999999999d", "prompts[1].closes_after", "too_far"),
    ],
)
def test_an_oversized_number_in_the_process_file_is_a_problem_on_its_line(
    line: int, replacement: str, field: str, code: str
) -> None:
    problems = problems_of(with_line(line, replacement))
    assert [(p.line, p.field, p.code) for p in problems] == [(line, field, code)]
    assert set(problems[0].params) == set(ERROR_PARAMS[code])
    text = problem_text(default_catalog(), "fi", problems[0], plain=True)
    assert f"Rivi {line}" in text and ("liian" in text or code == "not_integer")


def test_the_longest_retention_is_accepted() -> None:
    assert parse_process(with_line(17, "retention_days: 3650")).retention_days == 3650


@pytest.mark.parametrize("text", ["10000000000000000000000d", "99999999999w", "3651d"])
def test_a_duration_beyond_ten_years_is_refused_as_a_value_error(text: str) -> None:
    with pytest.raises(SpanTooLong):
        parse_duration(text)
    assert parse_duration("3650d") == timedelta(days=3650)
    with pytest.raises(ValueError):
        parse_when(f"W1 +{text}")


@pytest.mark.parametrize("text", ["", " ", "-1", "1.5", "²", "١٢", "1e9", str(MAX_ID + 1), HUGE])
def test_plain_number_refuses_what_is_not_a_small_ascii_number(text: str) -> None:
    assert plain_number(text) is None


def test_plain_number_reads_a_number_up_to_the_largest_id() -> None:
    assert plain_number("0") == 0
    assert plain_number(f" {MAX_ID} ") == MAX_ID


@pytest.mark.parametrize(
    "data",
    [
        f"hd:u:{HUGE}",
        f"hd:h:{MAX_ID + 1}",
        "hd:u:²",
        f"aw:{HUGE}:1",
        "aw:1:²",
        f"dg:x:{HUGE}",
        f"ob:{HUGE}:idea",
        f"qr:{HUGE}:0",
    ],
)
def test_button_data_with_an_oversized_or_odd_number_is_stale(data: str) -> None:
    for kind in KINDS:
        assert kind.decode(data) is None


@pytest.mark.parametrize("depth", [51, 400, 1000, 20_000])
def test_nesting_past_the_limit_is_one_problem_not_a_recursion_error(depth: int) -> None:
    problems = problems_of(f"name: Syvä\nprompts: {'[' * depth}{']' * depth}\n")
    assert [(p.line, p.code) for p in problems] == [(2, "too_deep")]


def test_invites_until_before_the_end_is_kept_and_round_trips() -> None:
    from datetime import UTC, datetime

    from bot.domain.programme import dump_process

    spec = parse_process(with_line(11, "end: 2027-05-06 16:00\ninvites_until: 2027-02-04 09:00"))
    assert spec.invites_until == datetime(2027, 2, 4, 7, 0, tzinfo=UTC)
    assert parse_process(dump_process(spec)) == spec


def test_invites_until_after_the_end_is_a_problem() -> None:
    problems = problems_of(with_line(11, "end: 2027-05-06 16:00\ninvites_until: 2027-06-01 09:00"))
    assert [(p.line, p.field, p.code) for p in problems] == [(12, "invites_until", "invites_after_end")]


@pytest.mark.parametrize(
    ("line", "replacement", "at_line", "field", "code"),
    [
        (14, f"daily_cap: 2\nreminders_per_week: {HUGE}", 15, "reminders_per_week", "too_big"),
        (6, "  - 0001-01-01 00:00", 6, "workshops[1]", "year_out_of_range"),
        (11, "end: 9999-12-31 23:59", 11, "end", "year_out_of_range"),
    ],
)
def test_dates_at_the_edge_of_the_calendar_are_one_problem(
    line: int, replacement: str, at_line: int, field: str, code: str
) -> None:
    problems = problems_of(with_line(line, replacement))
    assert [(p.line, p.field, p.code) for p in problems] == [(at_line, field, code)]


def test_a_last_workshop_in_the_year_9999_is_a_problem_not_an_overflow() -> None:
    text = with_line(11, "").replace("2027-04-08 09:00", "9999-12-30 09:00")
    assert [(p.field, p.code) for p in problems_of(text)] == [("workshops[5]", "year_out_of_range")]
