"""What a facilitator reads, rendered from read models without a database or a bot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.process import ProcessFacts, WorkshopFact
from bot.domain.programme import FileProblem, ProcessFileError
from bot.render.facilitator import (
    LIST_LIMIT,
    MESSAGE_BUDGET,
    SCHEDULE_PAGE,
    member_label,
    problems_text,
    render_nudge_list,
    render_overview,
    render_participants,
    render_roster_lines,
    render_schedule,
)
from bot.services.facilitator_views import MemberLine, Overview, Roster, Upcoming
from bot.services.outbox import NudgeTarget
from messages import default_catalog
from storage.models import Prompt

CATALOG = default_catalog()
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FACTS = ProcessFacts(
    name="Kevät",
    language="fi",
    tz=ZoneInfo("Europe/Helsinki"),
    end_at=NOW + timedelta(days=60),
    workshops=(WorkshopFact(1, NOW + timedelta(days=7), "Sali A"),),
)


def roster(**changes: object) -> Roster:
    values: dict[str, object] = {
        "organisations": ("Kunta", "Liitto"),
        "groups": {("Kunta", "employee"): 3, ("Kunta", "management"): 1, ("Liitto", "elected"): 2},
        "participants": 6,
        "incomplete": 0,
        "paused": 0,
        "unreachable": (),
        "named": {},
    }
    values.update(changes)
    return Roster(**values)  # type: ignore[arg-type]


def prompt(number: int, kind: str = "reflection") -> Prompt:
    return Prompt(
        id=number,
        kind=kind,
        phase=1,
        due_at=NOW,
        texts={"fi": f"Kysymys {number}", "en": f"Question {number}"},
    )


def test_roster_lines_list_organisations_in_order_with_roles_management_first() -> None:
    lines = render_roster_lines(CATALOG, "en", roster())
    assert len(lines) == 2
    assert lines[0].startswith("Kunta") or "Kunta" in lines[0]
    kunta = lines[0]
    assert kunta.index(CATALOG.plain("en", "role.management")) < kunta.index(
        CATALOG.plain("en", "role.employee")
    )
    assert "Liitto" in lines[1]


def test_member_label_names_only_those_who_allowed_it() -> None:
    assert member_label(CATALOG, "en", MemberLine("Aino", "Kunta", "employee")) == "Aino"
    unnamed = member_label(CATALOG, "en", MemberLine(None, "Kunta", "employee"))
    assert "Kunta" in unnamed and "Aino" not in unnamed


def test_overview_shows_next_workshop_people_unreachable_and_no_rates() -> None:
    unreachable = tuple(MemberLine(None, "Kunta", "employee") for _ in range(LIST_LIMIT + 2))
    data = Overview(
        facts=FACTS,
        phase=1,
        next_workshop=FACTS.workshops[0],
        ended=False,
        roster=roster(unreachable=unreachable),
        rates=(),
    )
    text = render_overview(CATALOG, "en", data)
    assert "Kevät" in text
    assert "Sali A" in text
    assert CATALOG.t("en", "process.rates_none") in text
    assert CATALOG.tn("en", "facilitator.and_more", 2) in text


def test_overview_of_an_ended_process_says_so() -> None:
    data = Overview(facts=FACTS, phase=3, next_workshop=None, ended=True, roster=roster(), rates=())
    text = render_overview(CATALOG, "en", data)
    assert "Sali A" not in text


def test_schedule_pages_and_says_how_many_are_left() -> None:
    items = [Upcoming(prompt(n), NOW + timedelta(hours=n), 5) for n in range(1, SCHEDULE_PAGE + 4)]
    first = render_schedule(CATALOG, "en", FACTS, items, 0)
    assert "Question 1" in first.text and f"Question {SCHEDULE_PAGE + 1}" not in first.text
    assert first.rest == 3 and first.next_offset == SCHEDULE_PAGE
    last = render_schedule(CATALOG, "en", FACTS, items, first.next_offset)
    assert f"Question {SCHEDULE_PAGE + 3}" in last.text and last.rest == 0
    assert render_schedule(CATALOG, "en", FACTS, [], 0).text == CATALOG.t("en", "schedule.empty")


def test_participants_without_anyone_give_the_invite_link() -> None:
    text = render_participants(
        CATALOG, "en", "Kevät", "https://t.me/b?start=x", roster(participants=0, groups={})
    )
    assert "https://t.me/b?start=x" in text


def test_participants_show_names_only_from_the_named_list() -> None:
    text = render_participants(CATALOG, "en", "Kevät", "link", roster(named={"Kunta": ("Aino",)}))
    assert "Aino" in text and "link" not in text


def test_problems_fit_in_one_message_with_a_count_of_the_rest() -> None:
    problems = [FileProblem(line, "prompts[0].when", "not_text") for line in range(1, 400)]
    text = problems_text(CATALOG, "en", ProcessFileError(problems))
    assert len(text) <= MESSAGE_BUDGET
    shown = text.count("prompts[0].when")
    assert 1 <= shown < len(problems)
    assert CATALOG.tn("en", "facilitator.and_more", len(problems) - shown) in text


def test_nudge_list_offers_a_button_only_where_someone_can_be_reminded() -> None:
    targets = [
        NudgeTarget(prompt(1), sent=5, answered=2, remindable=3, last_sent=NOW),
        NudgeTarget(prompt(2), sent=5, answered=5, remindable=0, last_sent=NOW),
    ]
    listing = render_nudge_list(CATALOG, "en", FACTS, targets)
    assert [choice.prompt_id for choice in listing.choices] == [1]
    nobody = render_nudge_list(CATALOG, "en", FACTS, targets[1:])
    assert nobody.choices == () and CATALOG.t("en", "nudge.nobody") in nobody.text
