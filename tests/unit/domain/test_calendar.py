"""The gentle calendar: closed days, pre-workshop reminders moved earlier, the reminder rule and the
message budget, rehearsed on the shipped default programme (no database, no event loop)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.calendar import ClosedDays, DateRange, parse_no_send_item
from bot.domain.planning import (
    DeliveryPolicy,
    earlier_allowed,
    next_allowed,
    open_time_between,
)
from bot.domain.programme import ProcessFileError, dump_process, parse_process
from bot.domain.rehearsal import (
    MAX_PER_WEEK,
    MAX_TOTAL,
    Persona,
    budget,
    budget_personas,
    rehearse,
    spec_kept_reminders,
)
from tests.support.factories import THURSDAYS, process_yaml

HELSINKI = ZoneInfo("Europe/Helsinki")
FRIDAYS = ("2026-02-20 09:00", "2026-03-20 09:00", "2026-04-10 09:00", "2026-04-24 09:00", "2026-05-15 09:00")
SILENT = Persona("hiljainen", "Kunta", "employee", answers=False)
ANSWERING = Persona("vastaaja", "Kunta", "employee")


def gentle(workshops: tuple[str, ...], extra: str = "") -> str:
    return process_yaml(workshops=workshops, calendar="", extra=extra)


def local(instant: datetime) -> datetime:
    return instant.astimezone(HELSINKI)


def test_finnish_public_holidays_are_closed_including_midsummer_and_christmas_eve() -> None:
    closed = ClosedDays(skip_weekends=True, holidays="fi")
    for day in (
        date(2026, 1, 6),  # loppiainen
        date(2026, 4, 3),  # pitkäperjantai
        date(2026, 4, 6),  # 2. pääsiäispäivä
        date(2026, 5, 1),  # vappu
        date(2026, 5, 14),  # helatorstai
        date(2026, 6, 19),  # juhannusaatto
        date(2026, 12, 24),  # jouluaatto
        date(2026, 12, 7),  # itsenäisyyspäivä falls on a Sunday in 2026: the Monday after is open
    ):
        expected = day != date(2026, 12, 7)
        assert closed.is_closed(day) is expected, day
    assert closed.reason(date(2026, 5, 1)) == "holiday"
    assert closed.reason(date(2026, 5, 2)) == "weekend"
    assert not ClosedDays(skip_weekends=False, holidays=None).is_closed(date(2026, 5, 1))


def test_no_send_dates_and_ranges_close_days() -> None:
    assert parse_no_send_item("2026-02-23..2026-02-27") == DateRange(date(2026, 2, 23), date(2026, 2, 27))
    assert parse_no_send_item("2026-03-02") == DateRange(date(2026, 3, 2), date(2026, 3, 2))
    with pytest.raises(ValueError):
        parse_no_send_item("2026-02-27..2026-02-23")
    closed = ClosedDays(no_send=(parse_no_send_item("2026-02-23..2026-02-27"),))
    assert closed.reason(date(2026, 2, 25)) == "no_send"
    assert closed.next_open(date(2026, 2, 23)) == date(2026, 3, 2)


def test_a_prompt_on_a_holiday_moves_to_the_next_open_morning() -> None:
    policy = DeliveryPolicy(HELSINKI, time(20), time(8), True, None, holidays="fi")
    good_friday = datetime(2026, 4, 3, 9, tzinfo=HELSINKI)
    assert local(next_allowed(good_friday, policy)) == datetime(2026, 4, 7, 8, tzinfo=HELSINKI)


def test_a_reminder_before_a_monday_workshop_moves_back_to_friday() -> None:
    policy = DeliveryPolicy(HELSINKI, time(20), time(8), True, None, holidays="fi")
    workshop = datetime(2026, 4, 13, 9, tzinfo=HELSINKI)  # the Monday after Easter week
    sunday = datetime(2026, 4, 12, 15, tzinfo=HELSINKI)
    moved = earlier_allowed(sunday, workshop, policy)
    assert local(moved) == datetime(2026, 4, 10, 15, tzinfo=HELSINKI)
    assert open_time_between(moved, workshop, policy) >= timedelta(hours=4)
    # Monday 08:00 would be open but leaves one hour: never chosen.
    assert local(earlier_allowed(datetime(2026, 4, 13, 8, tzinfo=HELSINKI), workshop, policy)) < sunday


@pytest.mark.parametrize("workshops", [THURSDAYS, FRIDAYS], ids=["thursday", "friday"])
def test_nothing_lands_on_a_weekend_a_holiday_or_in_quiet_hours(workshops: tuple[str, ...]) -> None:
    spec = parse_process(gentle(workshops, extra="no_send:\n  - 2026-02-23..2026-02-27\n"))
    closed = ClosedDays(True, "fi", spec.no_send)
    entries = rehearse(spec, [SILENT, ANSWERING])
    assert {e.kind for e in entries} == {"prompt", "reminder", "highlights"}
    # A week without sending can close a prompt's window (a reflection): most still go out.
    sent = [e for e in entries if e.kind in {"prompt", "highlights"} and e.persona == SILENT]
    assert len(sent) >= len(spec.prompts) - 3
    for entry in entries:
        at = local(entry.at)
        assert not closed.is_closed(at.date()), (entry.prompt_id, entry.kind, at)
        assert time(8) <= at.time() < time(20), (entry.prompt_id, entry.kind, at)
    workshops_at = [w.at_utc for w in spec.workshops] + [spec.end_at]
    policy = DeliveryPolicy(HELSINKI, time(20), time(8), True, None, holidays="fi", no_send=spec.no_send)
    for entry in entries:
        if entry.prompt_kind == "reminder" and entry.kind == "prompt":
            announced = min(
                anchor for anchor in workshops_at if anchor > spec.prompt(entry.prompt_id or "").due_at
            )
            assert entry.at < announced
            assert open_time_between(entry.at, announced, policy) >= timedelta(hours=4), entry.prompt_id


def test_the_helatorstai_reminder_goes_out_the_day_before_and_easter_moves_forward() -> None:
    spec = parse_process(gentle(FRIDAYS))
    at = {(e.prompt_id, e.kind): local(e.at) for e in rehearse(spec, [SILENT])}
    # W5 is Friday 15.5.2026; "W5 -1d 15:00" is helatorstai: the reminder goes on Wednesday.
    assert at[("p4-reminder", "prompt")] == datetime(2026, 5, 13, 15, tzinfo=HELSINKI)
    # W3 +8d 09:00 after the Friday before Easter week is... 18.4.2026 (Saturday): Monday 08:00.
    assert at[("p3-colleague", "prompt")] == datetime(2026, 4, 20, 8, tzinfo=HELSINKI)


@pytest.mark.parametrize("weekday", range(5))
def test_the_default_programme_keeps_the_message_budget_whatever_the_workshop_weekday(weekday: int) -> None:
    first = date(2027, 1, 11) + timedelta(days=weekday)
    workshops = tuple(f"{first + timedelta(weeks=3 * n)} 09:00" for n in range(5))
    spec = parse_process(gentle(workshops))
    result = budget(spec)
    assert result.total <= MAX_TOTAL
    assert max(result.per_week.values()) <= MAX_PER_WEEK, result.per_week
    assert result.heavy_weeks == []
    # Each who never answers on their own: the one not in the pairs, and the one paired every round.
    silent, paired, partner = budget_personas(spec)
    entries = rehearse(spec, [silent, paired, partner])
    for persona in (silent, paired):
        own = budget(spec, [e for e in entries if e.persona == persona])
        assert own.total <= MAX_TOTAL, (persona.label, own.total)
        assert max(own.per_week.values()) <= MAX_PER_WEEK, (persona.label, own.per_week)
    assert len([e for e in entries if e.persona == paired and e.kind == "pair"]) == 5


def test_one_reminder_a_week_at_most_and_none_for_prompts_that_ask_no_reply() -> None:
    spec = parse_process(gentle(THURSDAYS))
    reminders = [e for e in rehearse(spec, [SILENT]) if e.kind == "reminder"]
    weeks = [local(e.at).isocalendar()[:2] for e in reminders]
    assert len(weeks) == len(set(weeks))
    assert {e.prompt_kind for e in reminders} <= {
        "reflection",
        "observation",
        "idea",
        "experiment",
        "checkin",
    }
    assert {e.prompt_id for e in reminders} == spec_kept_reminders(spec)
    unlimited = parse_process(gentle(THURSDAYS, extra="reminders_per_week: off\n"))
    with_reminder = {p.id for p in unlimited.prompts if p.remind_after is not None}
    assert spec_kept_reminders(unlimited) == with_reminder


def test_an_answering_persona_gets_no_reminders() -> None:
    entries = rehearse(parse_process(gentle(THURSDAYS)), [ANSWERING])
    assert {e.kind for e in entries} == {"prompt", "highlights"}


def test_a_heavy_week_is_named_by_the_budget() -> None:
    extra = "prompts:\n" + "".join(
        f"  - id: x{n}\n    phase: 2\n    when: W2 +{n}d 10:00\n    kind: reflection\n"
        f"    text: {{fi: Pohdi {n}, sv: Fundera {n}, en: Think {n}}}\n    remind_after: none\n"
        for n in range(5, 10)
    )
    result = budget(parse_process(gentle(THURSDAYS, extra=extra)))
    assert [monday for monday, _count in result.heavy_weeks] == [date(2026, 3, 23)]


def test_calendar_keys_round_trip_and_bad_values_are_named() -> None:
    text = gentle(THURSDAYS, extra="holidays: off\nno_send: 2026-02-23..2026-02-27\nreminders_per_week: 2\n")
    spec = parse_process(text)
    assert (spec.holidays, spec.reminders_per_week) == (None, 2)
    assert spec.no_send == (DateRange(date(2026, 2, 23), date(2026, 2, 27)),)
    assert parse_process(dump_process(spec)) == spec
    with pytest.raises(ProcessFileError) as error:
        parse_process(gentle(THURSDAYS, extra="holidays: se\nno_send:\n  - 23.2.2026\n"))
    assert [p.code for p in error.value.problems] == ["bad_holidays", "bad_no_send"]


def test_facilitators_get_weekly_digests_and_a_loop_nudge_the_day_after_each_workshop() -> None:
    spec = parse_process(gentle(THURSDAYS))
    facilitator = Persona("fasilitaattori", None, None, facilitator=True)
    entries = rehearse(spec, [facilitator])
    digests = [e.at for e in entries if e.kind == "digest"]
    nudges = [e for e in entries if e.kind == "loop_nudge"]
    assert [e.prompt_id for e in nudges] == [f"loop-w{n}" for n in range(1, 6)]
    # The day after each workshop at 08:00, before the participants' reflection; vappu moves W4's.
    assert [local(e.at).date() for e in nudges][3] == date(2026, 5, 4)
    assert all(local(e.at).time() == time(8) for e in nudges)
    assert all(local(at).weekday() == 0 and local(at).time() == time(8) for at in digests)
    assert digests[-1] >= spec.end_at + timedelta(days=7) > digests[-2]
    assert digests[0] > spec.workshops[0].at_utc - timedelta(days=9)
    assert all(at.tzinfo == UTC or at.utcoffset() == timedelta(0) for at in digests)
