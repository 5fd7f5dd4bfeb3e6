"""The process file: parsing, validation with line numbers, dumping, the default programme, texts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml

import messages
from bot.domain.planning import DeliveryPolicy, PlanItem, Planner, process_policy
from bot.domain.process import ProcessFacts, WorkshopFact, phase_at, placeholder_values
from bot.domain.programme import (
    DEFAULT_PROGRAMME_PATH,
    ERROR_PARAMS,
    KINDS,
    FileProblem,
    ProcessFileError,
    ProcessSpec,
    PromptSpec,
    dump_process,
    parse_process,
    problem_text,
)
from bot.domain.text import localized
from bot.domain.timing import DigestSpec
from bot.render.prompt import fill_placeholders, quick_reply_buttons
from bot.services.processes import apply_settings
from messages import Catalog, default_catalog, missing_translations, placeholders
from storage.models import Process

HELSINKI = ZoneInfo("Europe/Helsinki")

EXAMPLE = """\
name: Hyvän tahdon Viitasaari 2027
language: fi            # fi | sv | en, default fi
timezone: Europe/Helsinki
organisations: [Viitasaaren kaupunki, Viitasaaren seurakunta, Kansalaisopisto]
workshops:              # exactly five, increasing, local times; a mapping form allows a place
  - 2027-01-14 09:00
  - {at: 2027-02-04 09:00, place: Kirkonkylän koulu}
  - 2027-02-25 12:30
  - 2027-03-18 09:00
  - 2027-04-08 09:00
end: 2027-05-06 16:00   # optional; default four weeks after workshop 5
quiet_hours: "20:00-08:00"   # or off
skip_weekends: true
daily_cap: 2
digest: "mon 08:00"
min_group: 3
retention_days: 180
programme: default      # the ship-with five phases
prompts:
  - id: w2-reflection
    phase: 2
    when: "W2 +1d 09:00"
    kind: reflection    # reflection | observation | idea | experiment | checkin | reminder
    text: {fi: "Mitä jäi mieleen?", sv: "Vad stannade kvar?", en: "What stayed with you?"}
    options: [{fi: "Paljon", sv: "Mycket", en: "A lot"}, "OK"]
    remind_after: 2d
    closes_after: 7d
"""

# Line numbers below refer to this file; keep it in step with the tests that replace its lines.
BASE = """\
name: Testiprosessi
language: fi
timezone: Europe/Helsinki
organisations: [Kunta, Seurakunta]
workshops:
  - 2027-01-14 09:00
  - 2027-02-04 09:00
  - 2027-02-25 12:30
  - 2027-03-18 09:00
  - 2027-04-08 09:00
end: 2027-05-06 16:00
quiet_hours: "20:00-08:00"
skip_weekends: true
daily_cap: 2
digest: "mon 08:00"
min_group: 3
retention_days: 180
prompts:
  - id: w2-reflection
    phase: 2
    when: "W2 +1d 09:00"
    kind: reflection
    text: {fi: "Mitä jäi mieleen?", sv: "Vad stannade kvar?", en: "What stayed with you?"}
    remind_after: 2d
    closes_after: 7d
"""


def with_line(line: int, replacement: str, text: str = BASE) -> str:
    """``text`` with its 1-based ``line`` replaced (by several lines, or none if empty)."""
    lines = text.splitlines()
    lines[line - 1 : line] = replacement.splitlines()
    return "\n".join(lines) + "\n"


def policy_of(spec: ProcessSpec) -> DeliveryPolicy:
    """The delivery policy the outbox applies to a process created from ``spec``."""
    process = Process()
    apply_settings(process, spec, "")
    return process_policy(process)


def sent_text(spec: ProcessSpec, prompt: PromptSpec, lang: str) -> str:
    """A prompt's text in ``lang`` with its placeholders filled as the outbox sends it (plain)."""
    facts = ProcessFacts(
        name=spec.name,
        language=spec.language,
        tz=ZoneInfo(spec.timezone),
        end_at=spec.end_at,
        workshops=tuple(WorkshopFact(w.number, w.at_utc, w.place) for w in spec.workshops),
    )
    values = placeholder_values(default_catalog(), lang, facts, prompt.due_at)
    return fill_placeholders(localized(prompt.texts, lang, spec.language), values)


def problems_of(text: str) -> list[FileProblem]:
    with pytest.raises(ProcessFileError) as caught:
        parse_process(text)
    return list(caught.value.problems)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture(scope="module")
def example() -> ProcessSpec:
    return parse_process(EXAMPLE)


@pytest.fixture(scope="module")
def default_spec() -> ProcessSpec:
    return parse_process(with_line(18, "programme: default", "\n".join(BASE.splitlines()[:18]) + "\n"))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_example_file_parses_into_the_process(example: ProcessSpec) -> None:
    assert example.name == "Hyvän tahdon Viitasaari 2027"
    assert example.language == "fi"
    assert example.timezone == "Europe/Helsinki"
    assert example.organisations == ("Viitasaaren kaupunki", "Viitasaaren seurakunta", "Kansalaisopisto")
    assert [w.number for w in example.workshops] == [1, 2, 3, 4, 5]
    assert example.workshops[1].place == "Kirkonkylän koulu"
    assert example.workshops[0].place is None
    assert example.workshops[2].at_local == datetime(2027, 2, 25, 12, 30)
    assert example.workshops[2].at_utc == datetime(2027, 2, 25, 10, 30, tzinfo=UTC)
    assert example.workshops[4].at_utc == datetime(2027, 4, 8, 6, 0, tzinfo=UTC)  # summer time
    assert example.end_at == datetime(2027, 5, 6, 13, 0, tzinfo=UTC)
    assert example.quiet_hours == (time(20, 0), time(8, 0))
    assert example.skip_weekends is True
    assert example.daily_cap == 2
    assert example.digest == DigestSpec(0, time(8, 0))
    assert example.min_group == 3
    assert example.retention_days == 180


def test_example_prompt_is_added_to_the_default_programme(
    example: ProcessSpec, default_spec: ProcessSpec
) -> None:
    own = example.prompt("w2-reflection")
    assert own.kind == "reflection"
    assert own.phase == 2
    assert own.when.text == "W2 +1d 09:00"
    assert own.due_at == datetime(2027, 2, 5, 7, 0, tzinfo=UTC)
    assert own.closes_at == own.due_at + timedelta(days=7)
    assert own.remind_after == timedelta(days=2)
    assert own.texts == {"fi": "Mitä jäi mieleen?", "sv": "Vad stannade kvar?", "en": "What stayed with you?"}
    assert own.options == (
        {"fi": "Paljon", "sv": "Mycket", "en": "A lot"},
        {"fi": "OK", "sv": "OK", "en": "OK"},
    )
    assert [row[0][0] for row in quick_reply_buttons(own.options, "sv", 1)] == ["Mycket", "OK"]
    default_ids = {prompt.id for prompt in default_spec.prompts}
    assert {prompt.id for prompt in example.prompts} == default_ids | {"w2-reflection"}


def test_prompts_are_in_programme_order_by_due_time(example: ProcessSpec) -> None:
    assert [prompt.order for prompt in example.prompts] == list(range(len(example.prompts)))
    due = [prompt.due_at for prompt in example.prompts]
    assert due == sorted(due)


def test_end_defaults_to_four_weeks_after_the_last_workshop() -> None:
    spec = parse_process(with_line(11, ""))
    assert spec.end_local == datetime(2027, 5, 6, 9, 0)


def test_settings_have_sensible_defaults() -> None:
    minimal = "\n".join(BASE.splitlines()[0:1] + BASE.splitlines()[3:10]) + "\n"
    spec = parse_process(minimal)
    assert spec.language == "fi"
    assert spec.timezone == "Europe/Helsinki"
    assert spec.quiet_hours == (time(20, 0), time(8, 0))
    assert spec.skip_weekends is True
    assert spec.holidays == "fi"
    assert spec.no_send == ()
    assert spec.reminders_per_week == 1
    assert spec.daily_cap == 2
    assert spec.digest == DigestSpec(0, time(8, 0))
    assert (spec.min_group, spec.retention_days) == (3, 180)
    assert spec.prompts == ()


def test_unquoted_off_turns_quiet_hours_cap_and_reminder_off() -> None:
    text = with_line(12, "quiet_hours: off")
    text = with_line(14, "daily_cap: off", text)
    text = with_line(24, "    remind_after: off", text)
    spec = parse_process(text)
    assert spec.quiet_hours is None
    assert spec.daily_cap is None
    assert spec.prompts[0].remind_after is None
    assert policy_of(spec).quiet_start is None


def test_own_prompt_with_a_default_id_replaces_the_default() -> None:
    text = with_line(18, "programme: default\nprompts:")
    text = with_line(20, "  - id: p2-reflection", text)
    spec = parse_process(text)
    replaced = spec.prompt("p2-reflection")
    assert replaced.texts["fi"] == "Mitä jäi mieleen?"
    assert "w2-reflection" not in {prompt.id for prompt in spec.prompts}


def test_prompt_without_closes_after_is_open_until_its_phase_ends() -> None:
    spec = parse_process(with_line(25, ""))
    assert spec.prompts[0].closes_at == spec.workshops[2].at_utc


def test_answer_window_in_days_keeps_the_wall_time_across_dst() -> None:
    text = with_line(21, '    when: "W4 +5d 09:00"')
    text = with_line(20, "    phase: 4", text)
    text = with_line(25, "    closes_after: 10d", text)
    prompt = parse_process(text).prompts[0]
    assert prompt.due_at.astimezone(HELSINKI).hour == 9
    assert prompt.closes_at.astimezone(HELSINKI).replace(tzinfo=None) == datetime(2027, 4, 2, 9, 0)


def test_day_after_workshop_prompt_stays_nine_local_on_the_dst_weekends() -> None:
    spring = with_line(7, "  - 2027-03-27 09:00")
    for line, value in [(8, "2027-04-01 12:30"), (9, "2027-04-15 09:00"), (10, "2027-04-29 09:00")]:
        spring = with_line(line, f"  - {value}", spring)
    spring = with_line(11, "end: 2027-05-27 16:00", spring)
    due = parse_process(spring).prompts[0].due_at
    assert due == datetime(2027, 3, 28, 6, 0, tzinfo=UTC)

    autumn = with_line(6, "  - 2027-10-01 09:00")
    for line, value in [(7, "2027-10-30 09:00"), (8, "2027-11-10 12:30"), (9, "2027-11-20 09:00")]:
        autumn = with_line(line, f"  - {value}", autumn)
    autumn = with_line(10, "  - 2027-12-01 09:00", autumn)
    autumn = with_line(11, "end: 2027-12-20 16:00", autumn)
    due = parse_process(autumn).prompts[0].due_at
    assert due == datetime(2027, 10, 31, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("line", "replacement", "at_line", "field", "code"),
    [
        (17, "retention_days: 180\ncolour: blue", 18, "colour", "unknown_key"),
        (17, "retention_days: 180\nname: Toinen", 18, "name", "duplicate_key"),
        (2, "language: de", 2, "language", "unknown_language"),
        (3, "timezone: Europe/Viitasaari", 3, "timezone", "unknown_timezone"),
        (10, "", 5, "workshops", "workshop_count"),
        (10, "  - 2027-04-08 09:00\n  - 2027-04-29 09:00", 5, "workshops", "workshop_count"),
        (8, "  - 2027-02-04 09:00", 8, "workshops[3]", "workshop_order"),
        (9, "  - 2027-02-20 09:00", 9, "workshops[4]", "workshop_order"),
        (9, "  - 2027-02-30 09:00", 9, "workshops[4]", "bad_datetime"),
        (9, "  - next spring", 9, "workshops[4]", "bad_datetime"),
        (9, "  - {at: 2027-03-18 09:00, room: 5}", 9, "workshops[4].room", "unknown_key"),
        (9, "  - {place: Koulu}", 9, "workshops[4].at", "missing"),
        (11, "end: 2027-04-01 16:00", 11, "end", "end_before_workshops"),
        (4, "organisations: Kunta", 4, "organisations", "not_list"),
        (4, "organisations: [Kunta, Kunta]", 4, "organisations[2]", "duplicate_value"),
        (4, "organisations: []", 4, "organisations", "empty"),
        (12, "quiet_hours: 20-08", 12, "quiet_hours", "bad_quiet_hours"),
        (13, "skip_weekends: maybe", 13, "skip_weekends", "not_boolean"),
        (14, "daily_cap: 0", 14, "daily_cap", "too_small"),
        (14, "daily_cap: lots", 14, "daily_cap", "not_integer"),
        (15, "digest: someday 08:00", 15, "digest", "bad_digest"),
        (16, "min_group: 1", 16, "min_group", "too_small"),
        (17, "retention_days: 0", 17, "retention_days", "too_small"),
        (18, "programme: fancy\nprompts:", 18, "programme", "unknown_programme"),
        (19, "  - id: w2 reflection!", 19, "prompts[1].id", "bad_id"),
        (20, "    phase: 6", 20, "prompts[1].phase", "bad_phase"),
        (20, "    phase: two", 20, "prompts[1].phase", "not_integer"),
        (21, '    when: "W7 +1d 09:00"', 21, "prompts[1].when", "unknown_anchor"),
        (21, '    when: "W2 plus a day"', 21, "prompts[1].when", "bad_when"),
        (21, '    when: "W2 +1h 09:00"', 21, "prompts[1].when", "when_mixed"),
        (21, '    when: "W1 -15d 09:00"', 21, "prompts[1].when", "before_start"),
        (21, '    when: "END +1d"', 21, "prompts[1].when", "after_end"),
        (22, "    kind: poem", 22, "prompts[1].kind", "unknown_kind"),
        (23, '    text: {fi: "Hei", sv: "Hej"}', 23, "prompts[1].text", "missing_text"),
        (23, '    text: {fi: "Hei", sv: "Hej", en: ""}', 23, "prompts[1].text.en", "empty"),
        (
            23,
            '    text: {fi: "Hei", sv: "Hej", en: "Hi", de: "Hallo"}',
            23,
            "prompts[1].text.de",
            "unknown_key",
        ),
        (23, '    text: "Hei"', 23, "prompts[1].text", "not_mapping"),
        (
            23,
            '    text: {fi: "Hei {nimi}", sv: "Hej", en: "Hi"}',
            23,
            "prompts[1].text.fi",
            "unknown_placeholder",
        ),
        (23, '    text: {fi: "Hei {", sv: "Hej", en: "Hi"}', 23, "prompts[1].text.fi", "bad_braces"),
        (24, "    remind_after: soon", 24, "prompts[1].remind_after", "bad_duration"),
        (24, "    remind_after: 8d", 24, "prompts[1].remind_after", "reminder_after_close"),
        (25, "    closes_after: 0m", 25, "prompts[1].closes_after", "not_positive"),
        (25, "    closes_after: 7d\n    colour: red", 26, "prompts[1].colour", "unknown_key"),
        (22, "", 19, "prompts[1].kind", "missing"),
        (1, "", 1, "name", "missing"),
    ],
)
def test_problem_names_its_line_and_field(
    line: int, replacement: str, at_line: int, field: str, code: str
) -> None:
    problems = problems_of(with_line(line, replacement))
    assert [(p.line, p.field, p.code) for p in problems] == [(at_line, field, code)]
    assert set(problems[0].params) == set(ERROR_PARAMS[code])


def test_duplicate_prompt_id_names_the_first_line() -> None:
    second = BASE.splitlines()[18:]
    problems = problems_of(BASE + "\n".join(second) + "\n")
    assert [(p.line, p.field, p.code) for p in problems] == [(26, "prompts[2].id", "duplicate_id")]
    assert problems[0].params["first_line"] == "19"


def test_all_problems_are_reported_at_once() -> None:
    text = with_line(2, "language: de")
    text = with_line(8, "  - 2027-02-04 09:00", text)
    text = with_line(22, "    kind: poem", text)
    text = with_line(24, "    remind_after: soon", text)
    problems = problems_of(text)
    assert [(p.line, p.code) for p in problems] == [
        (2, "unknown_language"),
        (8, "workshop_order"),
        (22, "unknown_kind"),
        (24, "bad_duration"),
    ]


def test_yaml_syntax_error_reports_the_line_of_the_mistake() -> None:
    problems = problems_of(with_line(22, "    kind: reflection: nested"))
    assert [(p.line, p.code) for p in problems] == [(22, "syntax")]
    assert "mapping values" in problems[0].params["problem"]


def test_unclosed_bracket_is_a_syntax_problem_with_a_line() -> None:
    problems = problems_of(with_line(4, "organisations: [Kunta, Seurakunta"))
    assert len(problems) == 1
    assert problems[0].code == "syntax"
    assert 4 <= problems[0].line <= 6


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("# only a comment\n", "empty"),
        ("- a\n- list\n", "not_mapping"),
        ("just text\n", "not_mapping"),
    ],
)
def test_file_without_a_process_says_so(text: str, code: str) -> None:
    problems = problems_of(text)
    assert [(p.line, p.code) for p in problems] == [(1, code)]


def test_error_text_lists_problems_in_english_for_the_cli() -> None:
    with pytest.raises(ProcessFileError) as caught:
        parse_process(with_line(8, "  - 2027-02-04 09:00"), source="viitasaari.yaml")
    text = str(caught.value)
    assert text.splitlines()[0] == "viitasaari.yaml: 1 problem in the process file"
    assert "line 8, workshops[3]: workshop 3 does not come after the previous one (2027-02-04 09:00)" in text


def test_problem_reads_naturally_in_finnish_chat(catalog: Catalog) -> None:
    problem = FileProblem(
        12, "workshops[2]", "workshop_order", {"number": "2", "previous": "2027-02-04 09:00"}
    )
    assert problem_text(catalog, "fi", problem) == (
        "Rivi 12, kohta workshops[2]: Työpaja 2 ei ole edellisen (2027-02-04 09:00) jälkeen. "
        "Työpajat kulkevat aikajärjestyksessä eivätkä mene päällekkäin."
    )


def test_problem_values_are_escaped_for_telegram_html(catalog: Catalog) -> None:
    problem = FileProblem(
        3, "prompts[1].kind", "unknown_kind", {"value": "<b>x</b>", "allowed": ", ".join(KINDS)}
    )
    assert "&lt;b&gt;x&lt;/b&gt;" in problem_text(catalog, "sv", problem)
    assert "<b>x</b>" in problem_text(catalog, "en", problem, plain=True)


def test_syntax_problem_has_no_field_in_its_text(catalog: Catalog) -> None:
    problem = FileProblem(4, "", "syntax", {"problem": "mapping values are not allowed here"})
    assert problem_text(catalog, "en", problem, plain=True).startswith("line 4: the file cannot be read")


def test_dumped_process_parses_back_to_an_equal_spec(example: ProcessSpec) -> None:
    dumped = dump_process(example)
    assert parse_process(dumped) == example
    assert dump_process(parse_process(dumped)) == dumped


def test_dump_expands_the_programme_and_keeps_finnish_readable(example: ProcessSpec) -> None:
    dumped = dump_process(example)
    data = yaml.safe_load(dumped)
    assert "programme" not in data
    assert len(data["prompts"]) == len(example.prompts)
    assert "Kirkonkylän koulu" in dumped
    assert "\\u" not in dumped
    assert dumped.startswith("# Välitupa – prosessin tiedosto.")


def test_dump_heading_follows_the_process_language() -> None:
    spec = parse_process(with_line(2, "language: sv"))
    assert dump_process(spec).startswith("# Välitupa – processens fil.")


def test_dumped_process_without_a_place_or_prompts_round_trips() -> None:
    spec = parse_process(with_line(18, "prompts: []", "\n".join(BASE.splitlines()[:18]) + "\n"))
    assert spec.prompts == ()
    assert parse_process(dump_process(spec)) == spec


def test_default_programme_has_every_text_in_three_languages(default_spec: ProcessSpec) -> None:
    assert 20 <= len(default_spec.prompts) <= 30
    highlights = [prompt.when.text for prompt in default_spec.prompts if prompt.kind == "highlights"]
    assert highlights == [f"W{n} +11d 14:00" for n in range(1, 5)]  # mid-way between workshops
    assert default_spec.omitted_defaults == ()
    for prompt in default_spec.prompts:
        assert set(prompt.texts) == {"fi", "sv", "en"}, prompt.id
        assert all(text.strip() for text in prompt.texts.values()), prompt.id
        assert len({frozenset(placeholders(text)) for text in prompt.texts.values()}) == 1, prompt.id
        for option in prompt.options:
            assert set(option) == {"fi", "sv", "en"}, prompt.id


def test_every_phase_has_a_reflection_a_task_a_checkin_and_a_reminder(default_spec: ProcessSpec) -> None:
    for phase in range(1, 6):
        prompts = [prompt for prompt in default_spec.prompts if prompt.phase == phase]
        kinds = {prompt.kind for prompt in prompts}
        assert {"reflection", "checkin", "reminder"} <= kinds, (phase, kinds)
        assert kinds & {"observation", "idea", "experiment"}, (phase, kinds)
        first_reflection = next(prompt for prompt in prompts if prompt.kind == "reflection")
        assert first_reflection.when.text == f"W{phase} +1d 09:00"
    checkins = [prompt for prompt in default_spec.prompts if prompt.kind == "checkin"]
    # A 1–5 scale, plus "I am not part of an experiment" where the question assumes one.
    assert all(2 <= len(prompt.options) <= 6 for prompt in checkins)


def test_default_reminders_say_when_and_where(default_spec: ProcessSpec) -> None:
    reminders = [prompt for prompt in default_spec.prompts if prompt.kind == "reminder"]
    closing = default_spec.prompt("p5-closing")
    for prompt in reminders:
        fields = placeholders(prompt.texts["fi"])
        if prompt is closing:
            assert "end_date" in fields
        else:
            assert {"workshop_time", "workshop_place"} <= fields, prompt.id


def test_reminder_text_names_the_next_workshop_in_each_language(example: ProcessSpec) -> None:
    reminder = example.prompt("p1-reminder")
    assert sent_text(example, reminder, "fi").startswith(
        "Työpaja 2 on torstaina 4.2. klo 9.00. Paikka: Kirkonkylän koulu."
    )
    assert sent_text(example, reminder, "sv").startswith("Workshop 2 hålls torsdag 4.2 kl. 9.00.")
    assert sent_text(example, reminder, "en").startswith(
        "Workshop 2 is on Thursday 4 February at 9:00. Place: Kirkonkylän koulu."
    )
    welcome = sent_text(example, example.prompt("p1-welcome"), "fi")
    assert "Paikka: tarkentuu myöhemmin." in welcome
    closing = sent_text(example, example.prompt("p5-closing"), "en")
    assert "6 May 2027" in closing
    # Without a process row the erasure date falls back to the end; the real one is below.
    assert "erased on" in closing


def test_reminder_closes_when_its_workshop_starts(example: ProcessSpec) -> None:
    assert example.prompt("p1-welcome").closes_at == example.workshops[0].at_utc
    assert example.prompt("p2-reminder").closes_at == example.workshops[2].at_utc


def test_default_prompts_outside_a_short_follow_up_are_left_out() -> None:
    text = with_line(11, "end: 2027-04-14 16:00", with_line(18, "programme: default\nprompts:"))
    spec = parse_process(text)
    assert set(spec.omitted_defaults) == {"p5-follow-up", "p5-practice", "p5-repeat"}
    assert "p5-closing" in {prompt.id for prompt in spec.prompts}


def test_default_programme_file_is_shipped_next_to_the_catalogues() -> None:
    assert DEFAULT_PROGRAMME_PATH.parent == messages.LOCALES_DIR.parent
    assert DEFAULT_PROGRAMME_PATH.is_file()


def test_spec_plans_deliveries_for_participants(example: ProcessSpec) -> None:
    now = local(2027, 1, 10, 12, 0)
    items = [PlanItem(p.id, p.due_at, p.closes_at, p.order) for p in example.prompts]
    plan = Planner(items, policy_of(example), now=now).plan()
    assert len(plan) == len(example.prompts)
    assert all(delivery.state == "planned" for delivery in plan)
    for delivery in plan:
        moment = delivery.due_at.astimezone(HELSINKI)
        assert moment.weekday() < 5
        assert time(8, 0) <= moment.time() < time(20, 0)
    per_day: dict[date, int] = {}
    for delivery in plan:
        day = delivery.due_at.astimezone(HELSINKI).date()
        per_day[day] = per_day.get(day, 0) + 1
    assert max(per_day.values()) <= 2


def test_phase_follows_the_workshops(example: ProcessSpec) -> None:
    starts = [workshop.at_utc for workshop in example.workshops]
    assert phase_at(starts, local(2027, 1, 1, 12, 0)) == 0
    assert phase_at(starts, example.workshops[1].at_utc) == 2
    assert phase_at(starts, local(2027, 4, 20, 12, 0)) == 5


def test_programme_texts_exist_in_all_languages_with_the_same_placeholders(catalog: Catalog) -> None:
    keys = catalog.keys("fi") | catalog.keys("sv") | catalog.keys("en")
    programme_keys = {key for key in keys if key.startswith("programme.")}
    assert programme_keys
    problems = [line for line in missing_translations(catalog) if "programme." in line]
    assert problems == []


@pytest.mark.parametrize("code", sorted(ERROR_PARAMS))
def test_every_problem_code_has_a_message_with_exactly_its_parameters(catalog: Catalog, code: str) -> None:
    for lang in ("fi", "sv", "en"):
        assert placeholders(catalog.raw(lang, f"programme.error.{code}")) == set(ERROR_PARAMS[code]), lang
